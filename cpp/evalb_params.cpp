// EVALB parameter files (.prm): evalb.c's keywords, COLLINS.prm's settings.
#include "evalb.hpp"
#include "evalb_scorer.hpp"  // is_space: the reader's C-locale whitespace

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <string_view>

namespace mckd::evalb {

Params Params::collins() {
    Params p;
    p.debug = 0;
    p.max_error = 10;
    p.cutoff_len = 40;
    p.labeled = 1;
    p.delete_label = {"TOP", "-NONE-", ",", ":", "``", "''", "."};
    p.delete_label_for_length = {"-NONE-"};
    p.eq_label = {{"ADVP", "PRT"}};
    return p;
}

namespace {

using detail::is_space;

std::vector<std::string> split_ws(std::string_view s) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && is_space(s[i])) ++i;
        size_t b = i;
        while (i < s.size() && !is_space(s[i])) ++i;
        if (i > b) out.emplace_back(s.substr(b, i - b));
    }
    return out;
}

}  // namespace

Params parse_params(const std::string &text, const std::string &filename) {
    Params P = Params::evalb_defaults();
    size_t pos = 0;
    int lineno = 0;
    while (pos <= text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string::npos) nl = text.size();
        std::string_view raw(text.data() + pos, nl - pos);
        pos = nl + 1;
        ++lineno;
        auto where = [&]() { return filename + ":" + std::to_string(lineno) + ": "; };
        if (raw.find('\0') != std::string_view::npos)
            throw ParamError(where() + "NUL byte in parameter file");
        std::vector<std::string> tok = split_ws(raw);
        // evalb.c skips comment lines ('#' first) and lines shorter than 3 characters.
        if (tok.empty() || tok[0][0] == '#') continue;
        size_t len = 0;
        for (const auto &t : tok) len += t.size();
        if (tok.size() == 1 && len < 3) continue;
        const std::string &key = tok[0];
        const size_t nval = tok.size() - 1;
        auto need = [&](size_t k, const char *what) {
            if (nval == 0) throw ParamError(where() + key + " has no value");
            if (nval != k)
                throw ParamError(where() + key + " takes " + what + ", got " +
                                 std::to_string(nval) + " values (comments must be on their own line)");
        };
        auto integer = [&]() {
            need(1, "one integer");
            const std::string &v = tok[1];
            errno = 0;
            char *end = nullptr;
            long x = std::strtol(v.c_str(), &end, 10);
            if (end == v.c_str() || *end != '\0' || errno == ERANGE || x < INT_MIN || x > INT_MAX)
                throw ParamError(where() + key + " needs an integer value, got '" + v + "'");
            return static_cast<int>(x);
        };
        if (key == "DEBUG") {
            P.debug = integer();
        } else if (key == "MAX_ERROR") {
            P.max_error = integer();
        } else if (key == "CUTOFF_LEN") {
            P.cutoff_len = integer();
        } else if (key == "LABELED") {
            P.labeled = integer();
        } else if (key == "DELETE_LABEL") {
            need(1, "one label");
            P.delete_label.push_back(tok[1]);
        } else if (key == "DELETE_LABEL_FOR_LENGTH") {
            need(1, "one label");
            P.delete_label_for_length.push_back(tok[1]);
        } else if (key == "QUOTE_LABEL") {
            need(1, "one label");
            P.quote_label.push_back(tok[1]);
        } else if (key == "EQ_LABEL") {
            need(2, "two labels");
            P.eq_label.emplace_back(tok[1], tok[2]);
        } else if (key == "EQ_WORD") {
            need(2, "two words");
            P.eq_word.emplace_back(tok[1], tok[2]);
        } else {
            throw ParamError(where() + "unknown keyword '" + key +
                             "' (known: DEBUG, MAX_ERROR, CUTOFF_LEN, LABELED, DELETE_LABEL, "
                             "DELETE_LABEL_FOR_LENGTH, QUOTE_LABEL, EQ_LABEL, EQ_WORD)");
        }
        if (nl == text.size()) break;
    }
    return P;
}

}  // namespace mckd::evalb
