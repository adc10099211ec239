// Internals of the EVALB scorer shared by its parts (not installed, not part of the API):
// evalb_read.cpp reads a tree line, evalb_score.cpp scores a sentence pair, evalb_report.cpp
// runs the sentences and writes evalb.c's report, evalb_params.cpp reads .prm files.
//
// Speed: the trees are read in place (std::string_view into the caller's buffers), labels are
// interned once per distinct string with their .prm predicates precomputed, every per-sentence
// buffer is reused, and matching / crossing use sorted packed keys and sweeps instead of
// std::set, so a sentence costs no heap allocation once the buffers have grown.
#pragma once

#include "evalb.hpp"

#include <algorithm>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace mckd::evalb::detail {


using sv = std::string_view;

// evalb.c calls isspace() in the C locale; bytes >= 0x80 are never space.
constexpr bool c_isspace(unsigned c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
// Byte classes for the reader: bit 1 space, bit 2 space or bracket (ends a label or word).
struct CharClass {
    unsigned char v[256] = {};
    constexpr CharClass() {
        for (unsigned c = 0; c < 256; ++c)
            v[c] = static_cast<unsigned char>((c_isspace(c) ? 3 : 0) | (c == '(' || c == ')' ? 2 : 0));
    }
};
inline constexpr CharClass kClass{};
inline bool is_space(char c) { return kClass.v[static_cast<unsigned char>(c)] & 1; }
inline bool is_terminator(char c) { return kClass.v[static_cast<unsigned char>(c)] & 2; }

// Equality of short strings without a call into memcmp.
inline bool same(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    const char *x = a.data(), *y = b.data();
    size_t n = a.size();
    for (; n >= 8; n -= 8, x += 8, y += 8) {
        uint64_t u, w;
        std::memcpy(&u, x, 8);
        std::memcpy(&w, y, 8);
        if (u != w) return false;
    }
    for (; n > 0; --n)
        if (*x++ != *y++) return false;
    return true;
}

// Stock evalb.c's buffer sizes: beyond these it overflows (we only report it).
constexpr int kEvalbMaxWords = 200, kEvalbMaxBrackets = 200, kEvalbMaxQuote = 20;
constexpr size_t kEvalbMaxLine = 4998, kEvalbMaxLabel = 29, kEvalbMaxWord = 99;

inline void appendf(std::string &out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
inline void appendf(std::string &out, const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (static_cast<size_t>(n) < sizeof buf) {
        out.append(buf, static_cast<size_t>(n));
        return;
    }
    std::string big(static_cast<size_t>(n) + 1, '\0');
    va_start(ap, fmt);
    std::vsnprintf(&big[0], big.size(), fmt, ap);
    va_end(ap);
    out.append(big.data(), static_cast<size_t>(n));
}

inline std::string format(const char *fmt, int a, int b) {
    std::string s;
    appendf(s, fmt, a, b);
    return s;
}

// evalb.c's exact-string predicates, on views.
inline bool in(const std::vector<std::string> &v, sv s) {
    for (const auto &x : v)
        if (sv(x) == s) return true;
    return false;
}
inline bool eq_pair(const std::vector<std::pair<std::string, std::string>> &eq, sv a, sv b) {
    if (a == b) return true;
    for (const auto &e : eq)
        if ((a == sv(e.first) && b == sv(e.second)) || (a == sv(e.second) && b == sv(e.first)))
            return true;
    return false;
}

// Every distinct label gets an id, with the .prm predicates evalb.c would evaluate by string
// comparison computed once. Ids are equal exactly when the strings are, so label_comp is an id
// comparison unless EQ_LABEL names both labels. Keys view the caller's buffers, which outlive
// the table (one evaluate() call).
class LabelTable {
public:
    struct Info {
        sv text;
        int mod = 0;           // id of evalb.c's modify_label(text): cut at the first '-' or '='
        bool del = false;      // in DELETE_LABEL
        bool del_len = false;  // in DELETE_LABEL_FOR_LENGTH
        bool quote = false;    // in QUOTE_LABEL
        bool in_eq = false;    // named by some EQ_LABEL
        bool deletes = false;  // as a modified bracket label: label_comp-equal to a DELETE_LABEL
    };

    explicit LabelTable(const Params &p) : P(p) {
        slots_.assign(64, -1);
        intern(sv());  // id 0: the empty label (also what padding terminals carry)
    }

    int intern(sv s) {
        const uint64_t h = hash(s);
        int id = find(s, h);
        if (id >= 0) return id;
        const size_t cut = s.find_first_of("-=");
        if (cut == sv::npos) return insert(s, h, -1);
        const sv prefix = s.substr(0, cut);  // has no '-' or '=': its own modified label
        const uint64_t ph = hash(prefix);
        int mod = find(prefix, ph);
        if (mod < 0) mod = insert(prefix, ph, -1);
        return insert(s, h, mod);
    }
    const Info &operator[](int id) const { return info_[static_cast<size_t>(id)]; }
    bool comp(int a, int b) const {
        if (a == b) return true;
        if (!info_[static_cast<size_t>(a)].in_eq || !info_[static_cast<size_t>(b)].in_eq)
            return false;
        return eq_pair(P.eq_label, info_[static_cast<size_t>(a)].text,
                       info_[static_cast<size_t>(b)].text);
    }
    std::string str(int id) const { return std::string(info_[static_cast<size_t>(id)].text); }

private:
    const Params &P;
    std::vector<int> slots_;  // open addressing, -1 empty
    std::vector<uint64_t> hashes_;
    std::vector<Info> info_;

    static uint64_t hash(sv s) {
        uint64_t h = 1469598103934665603ull;
        for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
        return h ^ (h >> 29);
    }
    int find(sv s, uint64_t h) const {
        const size_t mask = slots_.size() - 1;
        for (size_t i = h & mask;; i = (i + 1) & mask) {
            const int id = slots_[i];
            if (id < 0) return -1;
            if (hashes_[static_cast<size_t>(id)] == h && same(info_[static_cast<size_t>(id)].text, s))
                return id;
        }
    }
    void place(int id) {
        const size_t mask = slots_.size() - 1;
        size_t i = hashes_[static_cast<size_t>(id)] & mask;
        while (slots_[i] >= 0) i = (i + 1) & mask;
        slots_[i] = id;
    }
    int insert(sv s, uint64_t h, int mod) {
        const int id = static_cast<int>(info_.size());
        Info in_;
        in_.text = s;
        in_.mod = mod < 0 ? id : mod;
        in_.del = in(P.delete_label, s);
        in_.del_len = in(P.delete_label_for_length, s);
        in_.quote = in(P.quote_label, s);
        for (const auto &e : P.eq_label)
            if (s == sv(e.first) || s == sv(e.second)) in_.in_eq = true;
        for (const auto &d : P.delete_label)
            if (eq_pair(P.eq_label, s, d)) in_.deletes = true;
        info_.push_back(in_);
        hashes_.push_back(h);
        if (2 * info_.size() > slots_.size()) {
            slots_.assign(slots_.size() * 2, -1);
            for (int k = 0; k < static_cast<int>(info_.size()); ++k) place(k);
        } else {
            place(id);
        }
        return id;
    }
};

struct Terminal {
    sv word;
    int label = 0;   // LabelTable id
    int result = 9;  // evalb.c: 0 unmatched tag, 1 matched, 9 not compared
};

struct Bracket {
    int start = -1, end = -1;  // word span [start, end); end stays -1 if never closed
    size_t buf_start = 0;
    size_t buf_end = std::string::npos;  // npos: never closed
    int label = 0;   // LabelTable id (the modified label once massaged)
    int result = 9;  // evalb.c: 0 unmatched, 1 matched, 5 deleted, 9 not massaged
    bool stray = false;  // opened by an unreadable "(NN w1 w2)"; never counted
};

// A QUOTE_LABEL preterminal, remembered with where it sat so it can be re-inserted.
struct QuoteTerm {
    Terminal term;
    int index;               // word position it had (or would have had, if deleted)
    int bracket;             // brackets opened before it
    std::vector<int> ends;   // brackets open around it
};

struct Side {
    std::vector<Terminal> terms;  // may be longer than wn after a quote re-insertion
    int wn = 0;                   // evalb.c's word count
    std::vector<QuoteTerm> quotes;
    std::vector<Bracket> brackets;
    int len = 0;  // words not in DELETE_LABEL_FOR_LENGTH
    // What stock evalb.c's buffers would have to hold.
    size_t max_label = 0, max_word = 0;
    int terminal_writes = 0;

    // Reset for the next sentence, keeping the capacity.
    void clear() {
        terms.clear();
        quotes.clear();
        brackets.clear();
        wn = len = terminal_writes = 0;
        max_label = max_word = 0;
    }
};

inline const Terminal &term_at(const Side &s, int i) {
    static const Terminal empty{};
    return (i >= 0 && static_cast<size_t>(i) < s.terms.size()) ? s.terms[static_cast<size_t>(i)]
                                                               : empty;
}

// Keys come nearly sorted (brackets are read in text order, so starts do not decrease): an
// insertion sort is about linear there; std::sort bounds the worst case of long sentences.
inline void sort_keys(std::vector<std::pair<uint64_t, int>> &v) {
    if (v.size() > 64) {
        std::sort(v.begin(), v.end());
        return;
    }
    for (size_t i = 1; i < v.size(); ++i) {
        const auto x = v[i];
        size_t j = i;
        for (; j > 0 && x < v[j - 1]; --j) v[j] = v[j - 1];
        v[j] = x;
    }
}

// int -> unsigned with the same order, for packing into sort keys.
inline uint64_t ord(int x) { return static_cast<uint32_t>(x) ^ 0x80000000u; }

class Scorer {
public:
    Scorer(const Params &p, bool want_report, Result &r)
        : P(p), report_on(want_report), R(r), L(p) {}

    void run(const std::vector<sv> &gold, const std::vector<sv> &test);

private:
    const Params &P;
    bool report_on;
    Result &R;
    LabelTable L;
    std::string &out() { return R.report; }
    int line = 0;
    int status = 0;
    // Buffers reused across sentences.
    Side g_, t_;
    std::vector<int> stack_;
    std::vector<std::pair<uint64_t, int>> keys_;
    std::vector<int> next_free_, pos_count_, order_, best_, link_;

    bool word_comp(sv a, sv b) const {
        if (same(a, b)) return true;
        return !P.eq_word.empty() && eq_pair(P.eq_word, a, b);
    }
    static bool is_quote_word(sv w) { return w == "'" || w == "\"" || w == "/"; }
    bool deleted_bracket(const Bracket &b, int mod_label) const {
        return b.stray || L[mod_label].deletes;
    }
    // Brackets a side counts on its own (for the errors-as-zero totals), without touching it.
    int countable_brackets(const Side &s) const {
        int n = 0;
        for (const auto &b : s.brackets)
            if (b.start != b.end && !deleted_bracket(b, L[b.label].mod)) ++n;
        return n;
    }

    // ---- messages ----
    void error(const char *side, const std::string &text) {
        status = 1;
        R.messages.push_back({line, side, text});
        if (R.error_count++ > P.max_error) {
            stop_here("evalb.c would exit here without a summary: more than MAX_ERROR (" +
                      std::to_string(P.max_error) + ") errors");
        }
    }
    void stop_here(const std::string &why) {
        if (R.evalb_stop_sentence == 0) {
            R.evalb_stop_sentence = line;
            R.evalb_stop_reason = why;
        }
    }

    void read_side(sv buf, Side &s, const char *side, bool quiet);
    void calc_result(Side &g, Side &t, sv gbuf, sv tbuf, SentenceResult &sr);
    void fix_quote(Side &g, Side &t);
    void reinsert_term(const QuoteTerm &q, Side &s);
    int massage(Side &s);
    int match_brackets(Side &g, Side &t);
    int count_crossing(const Side &g, const Side &t);
    void individual_result(const Side &g, int wn1, int bn1, int bn2, int r_bn1, int r_bn2,
                           int match, int crossing, int correct_tag, SentenceResult &sr);
    void dsp_info(const Side &g, const Side &t);
    void print_total();
    void print_block(const Totals &T);
    std::string limit_reasons(sv buf, const Side &s) const;
    void check_limits(sv gbuf, const Side &g, sv tbuf, const Side &t, SentenceResult &sr);
    std::string slice(sv buf, const Bracket &b) const;
};

}  // namespace mckd::evalb::detail
