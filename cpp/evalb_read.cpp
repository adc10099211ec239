// EVALB scorer, reading: one bracketed line into words, tags and brackets, as evalb.c's
// read_line does, and what stock evalb.c's fixed buffers would have had to hold.
#include "evalb_scorer.hpp"

namespace mckd::evalb::detail {

// Read one bracketed line the way evalb.c's read_line does. Departures (documented in the
// header): no limits; the end of the string terminates a label or word; stray words are read as
// terminals instead of looping; an unmatched ')' is reported and ignored.
void Scorer::read_side(sv buf, Side &s, const char *side, bool quiet) {
    s.clear();
    const char *d = buf.data();
    size_t n = buf.size();
    if (const void *nul = std::memchr(d, '\0', n))  // evalb.c's strings end at the first NUL
        n = static_cast<size_t>(static_cast<const char *>(nul) - d);
    std::vector<int> &stack = stack_;
    stack.clear();
    bool stray_reported = false;
    const bool dbg = report_on && !quiet && P.debug > 1;
    auto say = [&](const std::string &text) {
        if (!quiet) error(side, text);
    };
    auto add_word = [&](sv word, int label) {
        s.max_word = std::max(s.max_word, word.size());
        if (!L[label].del_len) s.len++;
        if (!L[label].del) {
            s.terms.push_back({word, label, 9});
            s.wn++;
            s.terminal_writes++;
        }
    };
    size_t p = 0;
    while (p < n) {
        const char c = d[p];
        if (is_space(c)) {
            ++p;
        } else if (c == '(') {
            const size_t ls = ++p;
            while (p < n && !is_terminator(d[p])) ++p;
            const sv label_text(d + ls, p - ls);
            s.max_label = std::max(s.max_label, label_text.size());
            const int label = L.intern(label_text);
            bool stray = false;
            if (p < n && is_space(d[p])) {
                size_t q = p + 1;
                while (q < n && is_space(d[q])) ++q;
                const size_t ws = q;
                while (q < n && !is_terminator(d[q])) ++q;
                const sv word(d + ws, q - ws);
                s.max_word = std::max(s.max_word, word.size());
                const bool closes = q < n && d[q] == ')';
                const LabelTable::Info &li = L[label];
                if (closes && !li.del_len) s.len++;
                if (dbg)
                    appendf(out(), "label=%s, word=%s, wid=%d\n", std::string(label_text).c_str(),
                            std::string(word).c_str(), s.wn);
                if (closes && li.quote && is_quote_word(word))
                    s.quotes.push_back({Terminal{word, label, 9}, s.wn,
                                        static_cast<int>(s.brackets.size()), stack});
                if (closes) {
                    if (!li.del) {
                        s.terms.push_back({word, label, 9});
                        s.wn++;
                        s.terminal_writes++;
                    }
                    p = q + 1;
                    continue;
                }
                if (q < n && d[q] != '(') {
                    // "(NN Xpd TTD)": evalb.c reports this, then loops on "Reading sentence".
                    say("More than two elements in a bracket");
                    if (!quiet)
                        stop_here("evalb.c cannot read this sentence (\"(" +
                                  std::string(label_text) + " " + std::string(word) +
                                  " ...\"): it repeats \"Reading sentence\" until MAX_ERROR "
                                  "stops it without a summary");
                    stray = true;
                }
            }
            Bracket b;
            b.start = s.wn;
            b.buf_start = p;
            b.label = label;
            b.stray = stray;
            stack.push_back(static_cast<int>(s.brackets.size()));
            s.brackets.push_back(b);
        } else if (c == ')') {
            if (stack.empty()) {
                say("Bracketing unbalance (too many close bracket)");
            } else {
                Bracket &b = s.brackets[static_cast<size_t>(stack.back())];
                stack.pop_back();
                b.end = s.wn;
                b.buf_end = p;
            }
            ++p;
        } else {
            // A word outside any "(label word)": inside a stray multi-word preterminal it is
            // one of its words; anywhere else evalb.c cannot read the line at all.
            const size_t ws = p;
            while (p < n && !is_terminator(d[p])) ++p;
            const sv word(d + ws, p - ws);
            if (!stack.empty() && s.brackets[static_cast<size_t>(stack.back())].stray) {
                add_word(word, s.brackets[static_cast<size_t>(stack.back())].label);
            } else {
                if (!stray_reported) {
                    say("Reading sentence");
                    if (!quiet)
                        stop_here("evalb.c cannot read this sentence (a word outside brackets: \"" +
                                  std::string(word) + "\"): it repeats \"Reading sentence\" until "
                                  "MAX_ERROR stops it without a summary");
                    stray_reported = true;
                }
                add_word(word, 0);
            }
        }
    }
    if (!stack.empty()) say("Bracketing is unbalanced (too many open bracket)");
}

std::string Scorer::limit_reasons(sv buf, const Side &s) const {
    std::string why;
    auto add = [&](const std::string &w) { why += (why.empty() ? "" : ", ") + w; };
    if (buf.size() > kEvalbMaxLine) add(std::to_string(buf.size()) + " bytes > 4998");
    if (s.terminal_writes > kEvalbMaxWords)
        add(std::to_string(s.terminal_writes) + " words > 200");
    if (s.brackets.size() > static_cast<size_t>(kEvalbMaxBrackets))
        add(std::to_string(s.brackets.size()) + " brackets > 200");
    if (s.max_label > kEvalbMaxLabel) add("a label of " + std::to_string(s.max_label) + " bytes > 29");
    if (s.max_word > kEvalbMaxWord) add("a word of " + std::to_string(s.max_word) + " bytes > 99");
    if (s.quotes.size() > static_cast<size_t>(kEvalbMaxQuote))
        add(std::to_string(s.quotes.size()) + " quote terms > 20");
    return why;
}

void Scorer::check_limits(sv gbuf, const Side &g, sv tbuf, const Side &t, SentenceResult &sr) {
    const std::string gw = limit_reasons(gbuf, g), tw = limit_reasons(tbuf, t);
    if (gw.empty() && tw.empty()) return;
    std::string why;
    if (!gw.empty()) why = "gold: " + gw;
    if (!tw.empty()) why += (why.empty() ? "test: " : "; test: ") + tw;
    sr.beyond_evalb_limits = true;
    R.limit_notes.emplace_back(line, "beyond stock EVALB's fixed buffers (" + why +
                                         "); evalb.c would overflow here and may crash");
}

std::string Scorer::slice(sv buf, const Bracket &b) const {
    // Text between a bracket's label and its ')'; evalb.c reads a stale offset for an unclosed
    // bracket, we take the rest of the line.
    if (b.buf_start > buf.size()) return std::string();
    size_t e = b.buf_end == std::string::npos ? buf.size() : std::min(b.buf_end, buf.size());
    if (e < b.buf_start) return std::string();
    std::string s(buf.substr(b.buf_start, e - b.buf_start));
    size_t nul = s.find('\0');
    if (nul != std::string::npos) s.resize(nul);
    return s;
}

}  // namespace mckd::evalb::detail
