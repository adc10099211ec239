// The strict bracketed-tree reader and the PTB writer. Everything is iterative: the reader keeps
// an explicit stack of open brackets, the writer an explicit stack of open nodes.
#include "tree.hpp"

#include <algorithm>
#include <climits>
#include <cstdio>

namespace mckd {

// ---- characters -------------------------------------------------------------------------------

CharInfo classify_multibyte(std::string_view s, std::size_t i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07u;
    } else {
        return {CharKind::BadUtf8, 1, c};
    }
    if (i + len > s.size()) return {CharKind::BadUtf8, 1, c};
    for (std::size_t k = 1; k < len; ++k) {
        const unsigned char d = static_cast<unsigned char>(s[i + k]);
        if ((d & 0xC0u) != 0x80u) return {CharKind::BadUtf8, 1, c};
        cp = (cp << 6) | (d & 0x3Fu);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return {CharKind::BadUtf8, 1, c};
    if (cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
        cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000)
        return {CharKind::Space, len, cp};
    if (cp <= 0x9F) return {CharKind::Control, len, cp};  // C1 controls
    return {CharKind::Token, len, cp};
}

static std::string describe_char(const CharInfo &c) {
    char buf[64];
    if (c.kind == CharKind::BadUtf8) {
        std::snprintf(buf, sizeof buf, "invalid UTF-8 byte 0x%02X", static_cast<unsigned>(c.cp));
    } else if (c.cp == 0) {
        std::snprintf(buf, sizeof buf, "NUL byte");
    } else {
        std::snprintf(buf, sizeof buf, "control character U+%04X", static_cast<unsigned>(c.cp));
    }
    return buf;
}

bool valid_word(std::string_view w, std::string *why) {
    if (w.empty()) {
        if (why) *why = "is empty";
        return false;
    }
    for (std::size_t i = 0; i < w.size();) {
        const CharInfo c = classify_char(w, i);
        switch (c.kind) {
            case CharKind::Token:
                i += c.len;
                continue;
            case CharKind::Space:
                if (why) *why = "contains whitespace";
                return false;
            case CharKind::Open:
            case CharKind::Close:
                if (why) *why = "contains a bracket (write brackets in words as -LRB- / -RRB-)";
                return false;
            default:
                if (why) *why = "contains " + describe_char(c);
                return false;
        }
    }
    return true;
}

void locate(std::string_view s, std::size_t pos, std::size_t *line, std::size_t *col) {
    pos = std::min(pos, s.size());
    std::size_t ln = 1, line_start = 0;
    for (std::size_t i = 0; i < pos; ++i)
        if (s[i] == '\n') {
            ++ln;
            line_start = i + 1;
        }
    std::size_t c = 1;
    for (std::size_t i = line_start; i < pos;) {
        const CharInfo ci = classify_char(s, i);
        i += ci.len;
        ++c;
    }
    *line = ln;
    *col = c;
}

std::string excerpt(std::string_view s, std::size_t pos) {
    std::string out = "'";
    std::size_t shown = 0, i = pos;
    while (i < s.size() && s[i] != '\n' && shown < 30) {
        const CharInfo c = classify_char(s, i);
        if (c.kind == CharKind::BadUtf8 || c.kind == CharKind::Control) {
            char buf[16];
            if (c.kind == CharKind::BadUtf8 || c.cp < 0x100)
                std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c.cp));
            else
                std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c.cp));
            out += buf;
        } else {
            out.append(s.substr(i, c.len));
        }
        i += c.len;
        ++shown;
    }
    out += "'";
    if (i < s.size() && s[i] != '\n') out += "...";
    return out;
}

// ---- strict reader ----------------------------------------------------------------------------
namespace {

// An error at a byte offset; the public entry points turn it into a TreeError with a location.
struct Fail {
    std::size_t pos;
    std::string msg;
};

struct Frame {
    std::size_t open_pos;
    std::string_view label;
    int32_t node = -1;     // index in Tree::nodes once this bracket is known to be a constituent
    int32_t first_word = 0;
    int32_t n_bare = 0;    // words directly inside this bracket
    bool has_bracket = false;
};

std::string where(std::string_view s, std::size_t pos) {
    std::size_t line, col;
    locate(s, pos, &line, &col);
    return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

std::string bracket_name(const Frame &f) {
    return f.label.empty() ? std::string("'('") : "'(" + std::string(f.label) + "'";
}

// End of the token starting at `i` (a Token character).
std::size_t token_end(std::string_view s, std::size_t i) {
    while (i < s.size()) {
        const CharInfo c = classify_char(s, i);
        if (c.kind == CharKind::Token) {
            i += c.len;
        } else if (c.kind == CharKind::Control || c.kind == CharKind::BadUtf8) {
            throw Fail{i, describe_char(c)};
        } else {
            break;
        }
    }
    return i;
}

std::size_t skip_space(std::string_view s, std::size_t i) {
    while (i < s.size()) {
        const CharInfo c = classify_char(s, i);
        if (c.kind == CharKind::Space) {
            i += c.len;
        } else if (c.kind == CharKind::Control || c.kind == CharKind::BadUtf8) {
            throw Fail{i, describe_char(c)};
        } else {
            break;
        }
    }
    return i;
}

int32_t checked_index(std::size_t n, std::size_t pos) {
    if (n >= static_cast<std::size_t>(INT32_MAX))
        throw Fail{pos, "tree too large (2^31 words or constituents)"};
    return static_cast<int32_t>(n);
}

// Parses the tree whose opening bracket is at s[start]; returns the offset after its last ')'.
// `s` ends where the caller's tree must end; `end_what` says what is there ("at the end of the
// text", or where the next tree of a treebank starts).
std::size_t parse_one(std::string_view s, std::size_t start, const std::string &end_what, Tree &t) {
    std::vector<Frame> stack;
    std::size_t i = start;
    for (;;) {
        if (i >= s.size()) {
            const Frame &inner = stack.back();
            throw Fail{start, std::to_string(stack.size()) + " ')' missing " + end_what +
                                  " (innermost open bracket " + bracket_name(inner) + " at " +
                                  where(s, inner.open_pos) + ")"};
        }
        const CharInfo c = classify_char(s, i);
        switch (c.kind) {
            case CharKind::Space:
                i += c.len;
                break;
            case CharKind::Control:
            case CharKind::BadUtf8:
                throw Fail{i, describe_char(c)};
            case CharKind::Open: {
                if (!stack.empty()) {
                    Frame &p = stack.back();
                    if (p.n_bare > 0)
                        throw Fail{i, "bracket after the word '" + t.words.back() + "' inside " +
                                          bracket_name(p) + " (opened at " +
                                          where(s, p.open_pos) +
                                          "): words and constituents cannot be mixed"};
                    if (p.node < 0) {
                        const int32_t parent =
                            stack.size() >= 2 ? stack[stack.size() - 2].node : -1;
                        p.node = checked_index(t.nodes.size(), i);
                        t.nodes.push_back(Node{std::string(p.label), parent, p.first_word, -1});
                    }
                    p.has_bracket = true;
                }
                Frame f;
                f.open_pos = i;
                f.first_word = checked_index(t.words.size(), i);
                ++i;
                if (i < s.size() && classify_char(s, i).kind == CharKind::Token) {
                    const std::size_t e = token_end(s, i);
                    f.label = s.substr(i, e - i);
                    i = e;
                }
                stack.push_back(f);
                break;
            }
            case CharKind::Close: {
                const Frame f = stack.back();
                stack.pop_back();
                const int32_t n_now = checked_index(t.words.size(), i);
                if (f.has_bracket) {
                    t.nodes[static_cast<std::size_t>(f.node)].end = n_now;
                } else if (f.n_bare == 0) {
                    throw Fail{f.open_pos, f.label.empty()
                                               ? std::string("empty brackets '()'")
                                               : "constituent " + bracket_name(f) + " has no words"};
                } else if (f.n_bare == 1 || (!f.label.empty() && !stack.empty())) {
                    // Preterminal(s): CRAFT's "(NN Xpd TTD)" becomes one "(NN w)" per word.
                    for (int32_t w = f.first_word; w < n_now; ++w)
                        t.tags[static_cast<std::size_t>(w)] = std::string(f.label);
                } else {
                    // "( The dog )" or a root holding bare words: a constituent over leaf wrappers.
                    const int32_t parent = stack.empty() ? -1 : stack.back().node;
                    checked_index(t.nodes.size(), i);
                    t.nodes.push_back(Node{std::string(f.label), parent, f.first_word, n_now});
                }
                ++i;
                if (stack.empty()) return i;
                break;
            }
            case CharKind::Token: {
                const std::size_t e = token_end(s, i);
                Frame &p = stack.back();
                if (p.has_bracket)
                    throw Fail{i, "word " + excerpt(s.substr(0, e), i) + " after a bracketed "
                                  "constituent inside " + bracket_name(p) + " (opened at " +
                                  where(s, p.open_pos) + "): words and constituents cannot be mixed"};
                checked_index(t.words.size(), i);
                t.words.emplace_back(s.substr(i, e - i));
                t.tags.emplace_back();
                ++p.n_bare;
                i = e;
                break;
            }
        }
    }
}

}  // namespace

Tree parse_tree(std::string_view text) {
    Tree t;
    try {
        std::size_t i = skip_space(text, 0);
        if (i >= text.size()) throw Fail{i, "no tree: the text is empty"};
        const CharInfo c = classify_char(text, i);
        if (c.kind != CharKind::Open)
            throw Fail{i, "expected '(' at the start of a tree, found " + excerpt(text, i)};
        i = parse_one(text, i, "at the end of the text", t);
        const std::size_t rest = skip_space(text, i);
        if (rest < text.size())
            throw Fail{rest, "text after the end of the tree: " + excerpt(text, rest)};
    } catch (const Fail &f) {
        throw TreeError(where(text, f.pos) + ": " + f.msg);
    }
    return t;
}

std::vector<TreeChunk> split_treebank(std::string_view data) {
    std::vector<TreeChunk> out;
    const std::size_t n = data.size();
    std::size_t i = 0, line = 1;
    while (i < n) {
        const CharInfo c = classify_char(data, i);
        if (c.kind == CharKind::Space) {  // between trees
            line += data[i] == '\n';
            i += c.len;
            continue;
        }
        TreeChunk ch{i, i, line, false};
        if (c.kind != CharKind::Open) {  // a stray ')' or a run of text outside any tree
            std::size_t e = i + c.len;
            if (c.kind != CharKind::Close)
                while (e < n) {
                    const CharInfo d = classify_char(data, e);
                    if (d.kind == CharKind::Space || d.kind == CharKind::Open ||
                        d.kind == CharKind::Close)
                        break;
                    e += d.len;
                }
            ch.end = i = e;
            out.push_back(ch);
            continue;
        }
        std::size_t depth = 0;
        for (; i < n; ++i) {  // parentheses and newlines are single bytes in UTF-8
            const char b = data[i];
            if (b == '(') {
                ++depth;
            } else if (b == ')') {
                if (--depth == 0) {
                    ++i;
                    break;
                }
            } else if (b == '\n') {
                ++line;
                if (i + 1 < n && data[i + 1] == '(') {  // still open: a new tree starts here
                    ch.cut = true;
                    ++i;
                    break;
                }
            }
        }
        ch.end = i;
        out.push_back(ch);
    }
    return out;
}

std::vector<Tree> parse_treebank(std::string_view data, const std::string &source) {
    std::vector<Tree> trees;
    std::size_t line, col;
    for (const TreeChunk &ch : split_treebank(data)) {
        const std::string_view view = data.substr(0, ch.end);
        const CharInfo c = classify_char(data, ch.begin);
        if (c.kind == CharKind::Open) {
            Tree t;
            try {
                parse_one(view, ch.begin,
                          ch.cut ? "where a new tree starts at " + where(data, ch.end)
                                 : std::string("at the end of the text"),
                          t);
            } catch (const Fail &f) {
                locate(data, f.pos, &line, &col);
                throw TreeError(source + ":" + std::to_string(line) + ": tree " +
                                std::to_string(trees.size() + 1) + ": " + f.msg);
            }
            trees.push_back(std::move(t));
            continue;
        }
        const std::string what =
            c.kind == CharKind::Close ? std::string("unbalanced ')' outside any tree")
            : (c.kind == CharKind::Control || c.kind == CharKind::BadUtf8)
                ? describe_char(c)
                : "stray text " + excerpt(view, ch.begin) + " outside any tree";
        locate(data, ch.begin, &line, &col);
        const std::string which = trees.empty() ? std::string("before the first tree")
                                                : "after tree " + std::to_string(trees.size());
        throw TreeError(source + ":" + std::to_string(line) + ": " + which + ", column " +
                        std::to_string(col) + ": " + what);
    }
    return trees;
}

// ---- writer and invariants ----------------------------------------------------------------------

std::string Tree::to_string() const {
    std::string out;
    std::size_t approx = nodes.size() * 6;
    for (std::size_t w = 0; w < words.size(); ++w) approx += words[w].size() + tags[w].size() + 4;
    out.reserve(approx);
    std::vector<int32_t> open;
    std::size_t w = 0;
    bool need_space = false;
    auto emit_words_until = [&](std::size_t upto) {
        for (; w < upto; ++w) {
            if (need_space) out += ' ';
            out += '(';
            out += tags[w];
            out += ' ';
            out += words[w];
            out += ')';
            need_space = true;
        }
    };
    auto close_top = [&]() {
        emit_words_until(static_cast<std::size_t>(nodes[static_cast<std::size_t>(open.back())].end));
        out += ')';
        open.pop_back();
    };
    for (std::size_t j = 0; j < nodes.size(); ++j) {
        while (!open.empty() && open.back() != nodes[j].parent) close_top();
        emit_words_until(static_cast<std::size_t>(nodes[j].start));
        if (need_space) out += ' ';
        out += '(';
        out += nodes[j].label;
        need_space = true;
        open.push_back(static_cast<int32_t>(j));
    }
    while (!open.empty()) close_top();
    emit_words_until(words.size());
    return out;
}

std::vector<int32_t> Tree::child_counts() const {
    // direct children = child nodes + words not covered by a child node
    std::vector<int32_t> counts(nodes.size());
    for (std::size_t j = 0; j < nodes.size(); ++j) counts[j] = nodes[j].end - nodes[j].start;
    for (std::size_t j = 0; j < nodes.size(); ++j) {
        const int32_t p = nodes[j].parent;
        if (p >= 0) counts[static_cast<std::size_t>(p)] -= (nodes[j].end - nodes[j].start) - 1;
    }
    return counts;
}

void Tree::check() const {
    auto bad = [](const std::string &m) { throw TreeError("invalid tree: " + m); };
    if (tags.size() != words.size()) bad("tags and words differ in length");
    const auto n = static_cast<int32_t>(words.size());
    if (nodes.empty()) {
        if (n > 1) bad("several words but no root constituent");
        return;
    }
    if (nodes[0].parent != -1 || nodes[0].start != 0 || nodes[0].end != n)
        bad("node 0 is not a root spanning all words");
    // Walk in pre-order with a stack of (node, end of its last child seen so far).
    std::vector<std::pair<int32_t, int32_t>> open{{0, 0}};
    for (std::size_t j = 1; j < nodes.size(); ++j) {
        const Node &x = nodes[j];
        if (x.parent < 0 || static_cast<std::size_t>(x.parent) >= j)
            bad("node " + std::to_string(j) + " has parent " + std::to_string(x.parent));
        while (!open.empty() && open.back().first != x.parent) open.pop_back();
        if (open.empty()) bad("node " + std::to_string(j) + " is not in pre-order");
        const Node &p = nodes[static_cast<std::size_t>(x.parent)];
        if (x.start >= x.end || x.start < p.start || x.end > p.end || x.start < open.back().second)
            bad("node " + std::to_string(j) + " span [" + std::to_string(x.start) + ", " +
                std::to_string(x.end) + ") does not nest");
        open.back().second = x.end;
        open.emplace_back(static_cast<int32_t>(j), x.start);
    }
}

}  // namespace mckd
