// Flat bracketed-tree representation and the strict reader.
//
// A Tree is three flat arrays: the words, one POS tag per word (the label of the word's
// preterminal; empty for an unlabeled leaf wrapper such as "( The )"), and the phrase-level
// constituents in pre-order (a parent precedes its children, siblings are in word order), each
// with its label, parent index and half-open word span [start, end). There are no per-node heap
// objects and no recursion anywhere: every traversal is a loop over these arrays, so adversarial
// nesting depth only costs memory.
//
// Tree invariants (kept by the reader, the transforms and the repair):
//   * every node covers at least one word; a child's span lies inside its parent's;
//   * if there are nodes, node 0 is the root and spans all words; otherwise the tree has at
//     most one word (a lone preterminal such as "(NN Abstract)") or none (everything deleted).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mckd {

// Bad input (unreadable tree, unknown format, invalid word). Bound to Python as TreeError, a
// subclass of ValueError; the message always says where and what.
struct TreeError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Node {
    std::string label;
    int32_t parent;  // -1 for the root
    int32_t start;   // first word
    int32_t end;     // one past the last word
    bool operator==(const Node &o) const {
        return parent == o.parent && start == o.start && end == o.end && label == o.label;
    }
};

struct Tree {
    std::vector<std::string> words;
    std::vector<std::string> tags;  // same length as words
    std::vector<Node> nodes;        // pre-order

    std::size_t n_words() const { return words.size(); }
    bool operator==(const Tree &o) const {
        return words == o.words && tags == o.tags && nodes == o.nodes;
    }
    // One-line PTB notation: "(S (NP (DT The) (NN dog)) (VP (VBD barked)))". Empty labels and
    // tags print as "( (NP ...))" and "( word)", which the reader reads back identically.
    std::string to_string() const;
    // Number of direct children (child nodes + words not under a child node) of every node.
    std::vector<int32_t> child_counts() const;
    // Throws TreeError naming the first broken invariant (used by tests and after repairs).
    void check() const;
};

// ---- lexical rules shared by the strict reader and the repair --------------------------------
// Whitespace is exactly what Python's str.split() splits on (ASCII and Unicode spaces such as
// U+00A0 and U+200A), so " ".join(tree.words).split() == tree.words always holds. Brackets are
// ASCII '(' and ')'. Any other valid UTF-8 character is part of a token, except control
// characters (C0 other than whitespace, DEL, C1 other than U+0085), which are rejected.
enum class CharKind { Space, Open, Close, Token, Control, BadUtf8 };

struct CharInfo {
    CharKind kind;
    std::size_t len;  // bytes consumed (1 for a bad byte)
    uint32_t cp;      // code point (the raw byte for BadUtf8)
};

CharInfo classify_multibyte(std::string_view s, std::size_t i);  // s[i] >= 0x80
inline CharInfo classify_char(std::string_view s, std::size_t i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) return classify_multibyte(s, i);
    if (c > ' ' && c != '(' && c != ')' && c != 0x7f) return {CharKind::Token, 1, c};  // fast path
    if (c == '(') return {CharKind::Open, 1, c};
    if (c == ')') return {CharKind::Close, 1, c};
    // Python's str.isspace() set within ASCII: \t \n \v \f \r, the separators 0x1c-0x1f, ' '.
    if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f))
        return {CharKind::Space, 1, c};
    return {CharKind::Control, 1, c};
}
// True if `w` is usable as a word: non-empty, valid UTF-8, no whitespace, bracket or control
// character. On failure, *why says what is wrong.
bool valid_word(std::string_view w, std::string *why);
// 1-based line and column (in characters) of byte offset `pos`, for error messages.
void locate(std::string_view s, std::size_t pos, std::size_t *line, std::size_t *col);
// Printable excerpt of `s` starting at byte `pos` (at most ~30 characters, quoted).
std::string excerpt(std::string_view s, std::size_t pos);

// ---- strict reader ----------------------------------------------------------------------------
// Reading rules:
//   * "(" immediately followed by a token (no space) makes that token the label: "(NP", "(NN".
//     "(" followed by space or "(" has an empty label: the paper's "( ( The ) ( dog ) )".
//   * A bracket holding only words is a preterminal. With one word: "(NN dog)" or the unlabeled
//     leaf wrapper "( The )". With several words and a label (CRAFT's "(NN Xpd TTD)", where the
//     words are separated by U+200A): one preterminal per word, all with that tag. With several
//     words and no label ("( The dog )"), or at the root: a constituent over those words.
//   * Words mixed with bracketed constituents inside one bracket, empty brackets, unbalanced
//     brackets, stray text, control characters and invalid UTF-8 are errors.

// Exactly one tree in `text` (surrounding whitespace allowed). Errors read
// "line L, column C: what".
Tree parse_tree(std::string_view text);

// One top-level piece of a treebank file: bytes [begin, end), starting on `line` (1-based).
struct TreeChunk {
    std::size_t begin, end, line;
    bool cut;  // still open where the next tree starts
};

// The one treebank splitter (the strict reader, `mckd data import` and EVALB's multi-line mode
// all read through it). A chunk is a bracketed tree, one tree per line (EVALB style) or spread
// over many lines (.mrg, .tree), ending where its brackets balance; a "(" in column 1 while a
// tree is still open starts the next tree, so a tree with a missing ")" is cut at its own end
// instead of swallowing the rest of the file. A stray ")" and a run of text outside any tree
// are chunks of their own, so they are reported, never dropped.
std::vector<TreeChunk> split_treebank(std::string_view data);

// Every tree of a treebank file's bytes (the chunks of split_treebank), failing on the first bad
// one. Errors read "SOURCE:LINE: tree N: what" or "SOURCE:LINE: after tree N, column C: what".
std::vector<Tree> parse_treebank(std::string_view data, const std::string &source);

}  // namespace mckd
