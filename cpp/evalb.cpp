// EVALB-exact scoring; see evalb.hpp for what is reproduced and where it departs from evalb.c.
//
// Speed: the trees are read in place (std::string_view into the caller's buffers), labels are
// interned once per distinct string with their .prm predicates precomputed, every per-sentence
// buffer is reused, and matching / crossing use sorted packed keys and sweeps instead of
// std::set, so a sentence costs no heap allocation once the buffers have grown.
#include "evalb.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
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
constexpr CharClass kClass{};
inline bool is_space(char c) { return kClass.v[static_cast<unsigned char>(c)] & 1; }
inline bool is_terminator(char c) { return kClass.v[static_cast<unsigned char>(c)] & 2; }

// The value of 8 bytes read with memcpy, as if read little-endian (byte i in bits 8i..8i+7).
inline uint64_t little_endian(uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return __builtin_bswap64(v);
#else
    return v;
#endif
}

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

void appendf(std::string &out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void appendf(std::string &out, const char *fmt, ...) {
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

std::string format(const char *fmt, int a, int b) {
    std::string s;
    appendf(s, fmt, a, b);
    return s;
}

// evalb.c's exact-string predicates, on views.
bool in(const std::vector<std::string> &v, sv s) {
    for (const auto &x : v)
        if (sv(x) == s) return true;
    return false;
}
bool eq_pair(const std::vector<std::pair<std::string, std::string>> &eq, sv a, sv b) {
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
    // intern() for a label of at most 8 bytes, given those bytes packed little-endian into
    // `packed` (labels hold no NUL, so the packed value identifies the label): one multiply and
    // an integer compare on the common path.
    int intern_packed(uint64_t packed, sv s) {
        const size_t mask = pslots_.size() - 1;
        size_t i = static_cast<size_t>((packed * 0x9E3779B97F4A7C15ull) >> 40) & mask;
        for (;; i = (i + 1) & mask) {
            const int id = pslots_[i].second;
            if (id < 0) break;
            if (pslots_[i].first == packed) return id;
        }
        const int id = intern(s);
        pslots_[i] = {packed, id};
        if (2 * ++packed_count_ > pslots_.size()) {
            std::vector<std::pair<uint64_t, int>> old(pslots_.size() * 2, {0, -1});
            old.swap(pslots_);
            const size_t m2 = pslots_.size() - 1;
            for (const auto &e : old) {
                if (e.second < 0) continue;
                size_t k = static_cast<size_t>((e.first * 0x9E3779B97F4A7C15ull) >> 40) & m2;
                while (pslots_[k].second >= 0) k = (k + 1) & m2;
                pslots_[k] = e;
            }
        }
        return id;
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
    std::vector<std::pair<uint64_t, int>> pslots_ = std::vector<std::pair<uint64_t, int>>(64, {0, -1});
    size_t packed_count_ = 0;

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

const Terminal &term_at(const Side &s, int i) {
    static const Terminal empty{};
    return (i >= 0 && static_cast<size_t>(i) < s.terms.size()) ? s.terms[static_cast<size_t>(i)]
                                                               : empty;
}

// Keys come nearly sorted (brackets are read in text order, so starts do not decrease): an
// insertion sort is about linear there; std::sort bounds the worst case of long sentences.
void sort_keys(std::vector<std::pair<uint64_t, int>> &v) {
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
            int label;
            if (label_text.size() <= 8 && ls + 8 <= n) {
                uint64_t packed;  // the label's bytes, little-endian, the rest zeroed
                std::memcpy(&packed, d + ls, 8);
                if (label_text.size() < 8) {
                    const uint64_t keep = (uint64_t{1} << (8 * label_text.size())) - 1;
                    packed = little_endian(packed) & keep;
                } else {
                    packed = little_endian(packed);
                }
                label = L.intern_packed(packed, label_text);
            } else {
                label = L.intern(label_text);
            }
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

void Scorer::reinsert_term(const QuoteTerm &q, Side &s) {
    const int ind = q.index, bra = q.bracket;
    if (static_cast<size_t>(ind) > s.terms.size()) s.terms.resize(static_cast<size_t>(ind));
    s.terms.insert(s.terms.begin() + ind, Terminal{q.term.word, q.term.label, 9});
    s.wn++;
    const bool dbg = report_on && P.debug > 1;
    if (dbg) appendf(out(), "bra=%d, ind=%d\n", bra, ind);
    for (size_t k = 0; k < s.brackets.size(); ++k) {
        Bracket &b = s.brackets[k];
        if (b.start == -1) break;
        if (dbg) appendf(out(), "bracket[%d]={%d,%d}\n", static_cast<int>(k), b.start, b.end);
        if (static_cast<int>(k) >= bra) {
            b.start++;
            b.end++;
        }
    }
    if (dbg) appendf(out(), "endslen=%d\n", static_cast<int>(q.ends.size()));
    for (int k : q.ends) s.brackets[static_cast<size_t>(k)].end++;
}

// evalb.c's fix_quote: when the sides disagree on the length because a quote-like word was
// deleted on one side only, put it back there.
void Scorer::fix_quote(Side &g, Side &t) {
    if (report_on && P.debug > 1) {
        const size_t n = std::max(g.quotes.size(), t.quotes.size());
        for (size_t i = 0; i < n; ++i) {
            if (i < g.quotes.size())
                appendf(out(), "%d: %s - %s\n", g.quotes[i].index,
                        L.str(g.quotes[i].term.label).c_str(),
                        std::string(g.quotes[i].term.word).c_str());
            if (i < t.quotes.size())
                appendf(out(), "%d: %s - %s\n", t.quotes[i].index,
                        L.str(t.quotes[i].term.label).c_str(),
                        std::string(t.quotes[i].term.word).c_str());
        }
    }
    for (size_t i = 0; i < t.quotes.size(); ++i) {
        const int ind = t.quotes[i].index;
        for (size_t j = 0; j < g.quotes.size(); ++j) {
            if (g.quotes[j].index != ind || g.quotes[j].term.label == t.quotes[i].term.label)
                continue;
            const bool gdel = L[g.quotes[j].term.label].del;
            const bool tdel = L[t.quotes[i].term.label].del;
            if (gdel && !tdel) {
                reinsert_term(g.quotes[j], g);
                for (size_t k = j; k < g.quotes.size(); ++k) g.quotes[k].index++;
            } else if (tdel && !gdel) {
                reinsert_term(t.quotes[i], t);
                for (size_t k = i; k < t.quotes.size(); ++k) t.quotes[k].index++;
            }
        }
    }
}

// evalb.c's massage_data for one side: mark zero-width and deleted brackets (result 5),
// strip function tags; returns the number of counted brackets.
int Scorer::massage(Side &s) {
    int n = 0;
    for (auto &b : s.brackets) {
        b.result = 0;
        if (b.start == b.end) {
            b.result = 5;
            continue;
        }
        b.label = L[b.label].mod;
        if (deleted_bracket(b, b.label)) b.result = 5;
        if (b.result != 5) ++n;
    }
    return n;
}

// Each gold bracket, in order, takes the first still-unmatched test bracket (in order) with the
// same span and an equal label: evalb.c's multiset matching. Test brackets are sorted by packed
// (start, end, index); next_free_ skips taken ones, so runs of equal spans stay linear.
int Scorer::match_brackets(Side &g, Side &t) {
    auto &keys = keys_;
    keys.clear();
    const int bn2 = static_cast<int>(t.brackets.size());
    for (int j = 0; j < bn2; ++j) {
        const Bracket &b = t.brackets[static_cast<size_t>(j)];
        if (b.result == 0) keys.emplace_back(ord(b.start) << 32 | ord(b.end), j);
    }
    if (keys.empty()) return 0;
    sort_keys(keys);
    const int nk = static_cast<int>(keys.size());
    next_free_.resize(static_cast<size_t>(nk) + 1);
    std::iota(next_free_.begin(), next_free_.end(), 0);
    auto find_free = [&](int k) {  // first untaken index >= k (path halving, no recursion)
        while (next_free_[static_cast<size_t>(k)] != k) {
            next_free_[static_cast<size_t>(k)] =
                next_free_[static_cast<size_t>(next_free_[static_cast<size_t>(k)])];
            k = next_free_[static_cast<size_t>(k)];
        }
        return k;
    };
    int match = 0;
    for (auto &gb : g.brackets) {
        if (gb.result == 5) continue;
        const uint64_t span = ord(gb.start) << 32 | ord(gb.end);
        int k = static_cast<int>(
            std::lower_bound(keys.begin(), keys.end(), std::make_pair(span, INT_MIN)) -
            keys.begin());
        for (k = find_free(k); k < nk && keys[static_cast<size_t>(k)].first == span;
             k = find_free(k + 1)) {
            Bracket &tb = t.brackets[static_cast<size_t>(keys[static_cast<size_t>(k)].second)];
            if (P.labeled == 0 || L.comp(gb.label, tb.label)) {
                gb.result = tb.result = 1;
                next_free_[static_cast<size_t>(k)] = k + 1;
                ++match;
                break;
            }
        }
    }
    return match;
}

// Test brackets (counted) that some counted gold bracket crosses:
//   (a) gold.start < test.start < gold.end < test.end, i.e. min_end(test.start) < test.end
//       where min_end(x) = min{gold.end : gold.start < x < gold.end};
//   (b) test.start < gold.start < test.end < gold.end, i.e. max_start(test.end) > test.start
//       where max_start(x) = max{gold.start : gold.start < x < gold.end}.
// Both tables cost O(n + m + width) (times the inverse Ackermann function), width being the
// span of positions (at most the words plus re-inserted quotes, plus 2).
int Scorer::count_crossing(const Side &g, const Side &t) {
    int lo = INT_MAX, hi = INT_MIN;
    auto &golds = order_;
    golds.clear();
    for (int i = 0; i < static_cast<int>(g.brackets.size()); ++i) {
        const Bracket &b = g.brackets[static_cast<size_t>(i)];
        // Only spans with an inside position can cross anything.
        if (b.result == 5 || static_cast<int64_t>(b.end) - b.start < 2) continue;
        golds.push_back(i);
        lo = std::min(lo, b.start);
        hi = std::max(hi, b.end);
    }
    if (golds.empty()) return 0;
    const size_t width = static_cast<size_t>(static_cast<int64_t>(hi) - lo + 1);
    auto &best = best_;  // [0, width): min_end; [width, 2 width): max_start
    best.resize(2 * width);
    // Golds bucketed by start and by end (linked lists over positions), so neither sweep sorts.
    auto &head = pos_count_;  // [0, width): by start; [width, 2 width): by end
    head.assign(2 * width, -1);
    auto &link = link_;  // [0, n): next by start; [n, 2 n): next by end
    const size_t ng = golds.size();
    link.resize(2 * ng);
    for (size_t q = ng; q-- > 0;) {
        const Bracket &b = g.brackets[static_cast<size_t>(golds[q])];
        int &hs = head[static_cast<size_t>(b.start - lo)];
        link[q] = hs;
        hs = static_cast<int>(q);
        int &he = head[width + static_cast<size_t>(b.end - lo)];
        link[ng + q] = he;
        he = static_cast<int>(q);
    }
    // Paint each table: golds in order of end (min_end) or of start, latest first (max_start),
    // each fills the positions inside it that are still unset; `skip` (path-halving union-find)
    // jumps over set positions, so each position is written once.
    auto &skip = next_free_;
    auto find = [&](int k) {
        while (skip[static_cast<size_t>(k)] != k) {
            skip[static_cast<size_t>(k)] = skip[static_cast<size_t>(skip[static_cast<size_t>(k)])];
            k = skip[static_cast<size_t>(k)];
        }
        return k;
    };
    auto paint = [&](size_t base, int from, int to, int value) {  // relative positions [from, to)
        for (int x = find(from); x < to; x = find(x + 1)) {
            best[base + static_cast<size_t>(x)] = value;
            skip[static_cast<size_t>(x)] = x + 1;
        }
    };
    skip.resize(width + 1);
    std::iota(skip.begin(), skip.end(), 0);
    std::fill(best.begin(), best.begin() + static_cast<std::ptrdiff_t>(width), INT_MAX);
    for (size_t e = 0; e < width; ++e)
        for (int q = head[width + e]; q >= 0; q = link[ng + static_cast<size_t>(q)]) {
            const Bracket &b = g.brackets[static_cast<size_t>(golds[static_cast<size_t>(q)])];
            paint(0, b.start + 1 - lo, b.end - lo, b.end);
        }
    std::iota(skip.begin(), skip.end(), 0);
    std::fill(best.begin() + static_cast<std::ptrdiff_t>(width), best.end(), INT_MIN);
    for (size_t st = width; st-- > 0;)
        for (int q = head[st]; q >= 0; q = link[static_cast<size_t>(q)]) {
            const Bracket &b = g.brackets[static_cast<size_t>(golds[static_cast<size_t>(q)])];
            paint(width, b.start + 1 - lo, b.end - lo, b.start);
        }
    int crossing = 0;
    for (const auto &b : t.brackets) {
        if (b.result == 5 || static_cast<int64_t>(b.end) - b.start < 2) continue;
        const bool a = b.start >= lo && b.start <= hi && best[static_cast<size_t>(b.start - lo)] < b.end;
        const bool c = b.end >= lo && b.end <= hi && best[width + static_cast<size_t>(b.end - lo)] > b.start;
        crossing += (a || c);
    }
    return crossing;
}

void Scorer::calc_result(Side &g, Side &t, sv gbuf, sv tbuf, SentenceResult &sr) {
    const bool dbg = report_on && P.debug > 1;
    if (dbg) out() += "\n";
    auto not_scored = [&]() {
        sr.gold_brackets_all = countable_brackets(g);
        sr.test_brackets_all = countable_brackets(t);
        individual_result(g, 0, 0, 0, 0, 0, 0, 0, 0, sr);
    };
    if (t.wn == 0) {
        status = 2;
        not_scored();
        return;
    }
    if (g.wn != t.wn) {
        fix_quote(g, t);
        if (g.wn != t.wn) {
            error("", format("Length unmatch (%d|%d)", g.wn, t.wn));
            not_scored();
            return;
        }
    }
    const int wn = g.wn;
    for (int i = 0; i < wn; ++i) {
        if (!word_comp(term_at(g, i).word, term_at(t, i).word)) {
            error("", "Words unmatch (" + std::string(term_at(g, i).word) + "|" +
                          std::string(term_at(t, i).word) + ")");
            not_scored();
            return;
        }
    }
    const int r_bn1 = massage(g), r_bn2 = massage(t);
    const int bn1 = static_cast<int>(g.brackets.size()), bn2 = static_cast<int>(t.brackets.size());
    int match = 0, crossing = 0;

    if (dbg) {
        // evalb.c's literal loops, with its bracket-level report.
        std::vector<char> match_j(static_cast<size_t>(bn2), 0);
        for (int i = 0; i < bn1; ++i) {
            Bracket &gb = g.brackets[static_cast<size_t>(i)];
            bool found = false;
            for (int j = 0; j < bn2; ++j) {
                Bracket &tb = t.brackets[static_cast<size_t>(j)];
                appendf(out(), "1.res=%d, 2.res=%d, 1.start=%d, 2.start=%d, 1.end=%d, 2.end=%d\n",
                        gb.result, tb.result, gb.start, tb.start, gb.end, tb.end);
                if (gb.result != 5 && tb.result == 0 && gb.start == tb.start && gb.end == tb.end) {
                    if (P.labeled == 0 || L.comp(gb.label, tb.label)) {
                        gb.result = tb.result = 1;
                        ++match;
                        found = true;
                        break;
                    }
                    appendf(out(), "  LABEL[%d-%d]: %s\n", gb.start, gb.end - 1, slice(gbuf, gb).c_str());
                    found = true;
                    match_j[static_cast<size_t>(j)] = 1;
                }
            }
            if (!found && gb.result != 5)
                appendf(out(), "  BRACKET[%d-%d]: %s\n", gb.start, gb.end - 1, slice(gbuf, gb).c_str());
        }
        for (int j = 0; j < bn2; ++j) {
            const Bracket &tb = t.brackets[static_cast<size_t>(j)];
            if (tb.result == 0 && !match_j[static_cast<size_t>(j)])
                appendf(out(), "  EXTRA[%d-%d]: %s\n", tb.start, tb.end - 1, slice(tbuf, tb).c_str());
        }
        int last_i = -1;
        for (int j = 0; j < bn2; ++j) {
            const Bracket &tb = t.brackets[static_cast<size_t>(j)];
            for (int i = 0; i < bn1; ++i) {
                const Bracket &gb = g.brackets[static_cast<size_t>(i)];
                if (gb.result != 5 && tb.result != 5 &&
                    ((gb.start < tb.start && gb.end > tb.start && gb.end < tb.end) ||
                     (gb.start > tb.start && gb.start < tb.end && gb.end > tb.end))) {
                    if (i != last_i) {
                        appendf(out(), "  CROSSING[%d-%d]: %s\n", gb.start, gb.end - 1,
                                slice(gbuf, gb).c_str());
                        last_i = i;
                    }
                    ++crossing;
                    break;
                }
            }
        }
    } else {
        match = match_brackets(g, t);
        crossing = count_crossing(g, t);
    }

    int correct_tag = 0;
    for (int i = 0; i < wn; ++i) {
        Terminal &a = g.terms[static_cast<size_t>(i)];
        Terminal &b = t.terms[static_cast<size_t>(i)];
        const int ok = L.comp(a.label, b.label) ? 1 : 0;
        a.result = b.result = ok;
        correct_tag += ok;
    }
    sr.gold_brackets_all = r_bn1;
    sr.test_brackets_all = r_bn2;
    individual_result(g, wn, r_bn1, r_bn2, r_bn1, r_bn2, match, crossing, correct_tag, sr);
}
void Scorer::individual_result(const Side &g, int wn1, int bn1, int bn2, int r_bn1, int r_bn2,
                               int match, int crossing, int correct_tag, SentenceResult &sr) {
    auto add = [&](Totals &T) {
        T.sentences++;
        T.gold_brackets_all += sr.gold_brackets_all;
        T.test_brackets_all += sr.test_brackets_all;
        if (status == 1) {
            T.error_sentences++;
        } else if (status == 2) {
            T.skip_sentences++;
        } else {
            T.gold_brackets += bn1;
            T.test_brackets += bn2;
            T.matched += match;
            if (bn1 == bn2 && bn2 == match) T.complete++;
            T.words += wn1;
            T.crossing += crossing;
            if (crossing == 0) T.no_crossing++;
            if (crossing <= 2) T.two_or_less++;
            T.correct_tags += correct_tag;
        }
    };
    add(R.all);
    if (g.len <= P.cutoff_len) add(R.cut);

    sr.id = line;
    sr.length = g.len;
    sr.status = status;
    sr.matched = match;
    sr.gold_brackets = r_bn1;
    sr.test_brackets = r_bn2;
    sr.crossing = crossing;
    sr.words = wn1;
    sr.correct_tags = correct_tag;

    if (!report_on) return;
    // The same expressions as evalb.c, so that the doubles (and their rounding) are identical.
    appendf(out(), "%4d  %3d    %d  ", line, g.len, status);
    appendf(out(), "%6.2f %6.2f   %3d    %3d  %3d    %3d",
            (r_bn1 == 0 ? 0.0 : 100.0 * match / r_bn1), (r_bn2 == 0 ? 0.0 : 100.0 * match / r_bn2),
            match, r_bn1, r_bn2, crossing);
    appendf(out(), "   %4d  %4d   %6.2f\n", wn1, correct_tag,
            (wn1 == 0 ? 0.0 : 100.0 * correct_tag / wn1));
}

void Scorer::dsp_info(const Side &g, const Side &t) {
    const int bn1 = static_cast<int>(g.brackets.size()), bn2 = static_cast<int>(t.brackets.size());
    appendf(out(), "-<1>---(wn1=%3d, bn1=%3d)-           ", g.wn, bn1);
    appendf(out(), "-<2>---(wn2=%3d, bn2=%3d)-\n", t.wn, bn2);
    int n = std::max(g.wn, t.wn);
    for (int i = 0; i < n; ++i) {
        const Terminal &a = term_at(g, i), &b = term_at(t, i);
        if (!a.word.empty())
            appendf(out(), "%3d : %d : %-6s  %-16s      ", i, a.result, L.str(a.label).c_str(),
                    std::string(a.word).c_str());
        else
            out() += "                                        ";
        if (!b.word.empty())
            appendf(out(), "%3d : %d : %-6s  %-16s\n", i, b.result, L.str(b.label).c_str(),
                    std::string(b.word).c_str());
        else
            out() += "\n";
    }
    out() += "\n";
    n = std::max(bn1, bn2);
    for (int i = 0; i < n; ++i) {
        if (i < bn1 && g.brackets[static_cast<size_t>(i)].start != -1) {
            const Bracket &b = g.brackets[static_cast<size_t>(i)];
            appendf(out(), "%3d : %d : %3d  %3d  %-6s      ", i, b.result, b.start, b.end,
                    L.str(b.label).c_str());
        } else {
            out() += "                                ";
        }
        if (i < bn2 && t.brackets[static_cast<size_t>(i)].start != -1) {
            const Bracket &b = t.brackets[static_cast<size_t>(i)];
            appendf(out(), "%3d : %d : %3d  %3d  %-6s\n", i, b.result, b.start, b.end,
                    L.str(b.label).c_str());
        } else {
            out() += "\n";
        }
    }
    out() += "\n";
    out() += "========\n";
}

void Scorer::print_block(const Totals &T) {
    // evalb.c prints these with int counters; int64 keeps huge corpora exact.
    const long long sentn = T.valid();
    appendf(out(), "Number of sentence        = %6lld\n", static_cast<long long>(T.sentences));
    appendf(out(), "Number of Error sentence  = %6lld\n", static_cast<long long>(T.error_sentences));
    appendf(out(), "Number of Skip  sentence  = %6lld\n", static_cast<long long>(T.skip_sentences));
    appendf(out(), "Number of Valid sentence  = %6lld\n", sentn);
    const double r = T.gold_brackets > 0 ? 100.0 * T.matched / T.gold_brackets : 0.0;
    appendf(out(), "Bracketing Recall         = %6.2f\n", r);
    const double p = T.test_brackets > 0 ? 100.0 * T.matched / T.test_brackets : 0.0;
    appendf(out(), "Bracketing Precision      = %6.2f\n", p);
    // Same expression as evalb.c: 0/0 prints as evalb.c prints it on this platform ("-nan").
    const double f = 2 * p * r / (p + r);
    appendf(out(), "Bracketing FMeasure       = %6.2f\n", f);
    appendf(out(), "Complete match            = %6.2f\n", (sentn > 0 ? 100.0 * T.complete / sentn : 0.0));
    appendf(out(), "Average crossing          = %6.2f\n", (sentn > 0 ? 1.0 * T.crossing / sentn : 0.0));
    appendf(out(), "No crossing               = %6.2f\n", (sentn > 0 ? 100.0 * T.no_crossing / sentn : 0.0));
    appendf(out(), "2 or less crossing        = %6.2f\n", (sentn > 0 ? 100.0 * T.two_or_less / sentn : 0.0));
    appendf(out(), "Tagging accuracy          = %6.2f\n",
            (T.words > 0 ? 100.0 * T.correct_tags / T.words : 0.0));
}

void Scorer::print_total() {
    const Totals &A = R.all;
    out() += "============================================================================\n";
    if (A.gold_brackets > 0 && A.test_brackets > 0) {
        appendf(out(), "                %6.2f %6.2f %6lld %5lld %5lld  %5lld",
                100.0 * A.matched / A.gold_brackets, 100.0 * A.matched / A.test_brackets,
                static_cast<long long>(A.matched), static_cast<long long>(A.gold_brackets),
                static_cast<long long>(A.test_brackets), static_cast<long long>(A.crossing));
    }
    appendf(out(), "  %5lld %5lld   %6.2f", static_cast<long long>(A.words),
            static_cast<long long>(A.correct_tags),
            (A.words > 0 ? 100.0 * A.correct_tags / A.words : 0.0));
    out() += "\n";
    out() += "=== Summary ===\n";
    out() += "\n-- All --\n";
    print_block(R.all);
    appendf(out(), "\n-- len<=%d --\n", P.cutoff_len);
    print_block(R.cut);
}

void Scorer::run(const std::vector<sv> &gold, const std::vector<sv> &test) {
    R.cutoff_len = P.cutoff_len;
    if (report_on) {
        out() += "  Sent.                        Matched  Bracket   Cross        Correct Tag\n";
        out() += " ID  Len.  Stat. Recal  Prec.  Bracket gold test Bracket Words  Tags Accracy\n";
        out() += "============================================================================\n";
    }
    R.sentences.reserve(gold.size());
    Side &g = g_, &t = t_;
    size_t i = 0;
    for (; i < gold.size(); ++i) {
        line = static_cast<int>(i) + 1;
        status = 0;
        SentenceResult sr;
        read_side(gold[i], g, "gold", false);
        if (i >= test.size()) {
            error("", "Number of lines unmatch (too many lines in gold file)");
            break;
        }
        read_side(test[i], t, "test", false);
        check_limits(gold[i], g, test[i], t, sr);
        calc_result(g, t, gold[i], test[i], sr);
        R.sentences.push_back(sr);
        if (report_on && P.debug >= 1) dsp_info(g, t);
    }
    // Gold sentences with no test line: not in evalb's totals, but zeros in errors-as-zero.
    for (; i < gold.size(); ++i) {
        read_side(gold[i], g, "gold", true);
        SentenceResult sr;
        sr.id = static_cast<int>(i) + 1;
        sr.length = g.len;
        sr.status = 3;
        sr.gold_brackets_all = countable_brackets(g);
        R.sentences.push_back(sr);
        for (Totals *T : {&R.all, &R.cut}) {
            if (T == &R.cut && g.len > P.cutoff_len) continue;
            T->missing_sentences++;
            T->gold_brackets_all += sr.gold_brackets_all;
        }
    }
    if (test.size() > gold.size()) {
        line = static_cast<int>(gold.size()) + 1;
        error("", "Number of lines unmatch (too many lines in test file)");
    }
    if (report_on) print_total();
}

// ---- parameter files ----

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

Result evaluate(const std::vector<std::string_view> &gold,
                const std::vector<std::string_view> &test, const Params &params,
                bool want_report) {
    Result r;
    Scorer(params, want_report, r).run(gold, test);
    return r;
}

Result evaluate(const std::vector<std::string> &gold, const std::vector<std::string> &test,
                const Params &params, bool want_report) {
    const std::vector<std::string_view> g(gold.begin(), gold.end()), t(test.begin(), test.end());
    return evaluate(g, t, params, want_report);
}

}  // namespace mckd::evalb
