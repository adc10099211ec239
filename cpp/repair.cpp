// Lenient reading + repair of predicted linearizations (see repair.hpp for the rules).
//
// The prediction is read into a flat pre-order array of raw items (brackets and bare tokens)
// with parent links; then one forward pass gives every item its role (constituent, leaf,
// dissolved bracket, dropped), one pass aligns the leaves with the input words, and one reverse
// pass counts words per constituent and removes the empty ones. No recursion.
#include "repair.hpp"

#include <climits>

namespace mckd {
namespace {

enum class TokKind : uint8_t { Open, Close, Atom };
struct Tok {
    TokKind kind;
    std::string_view text;
};

// Invalid UTF-8 and control characters act as separators and are counted as dropped.
std::vector<Tok> lenient_tokens(std::string_view s, std::size_t *dropped) {
    std::vector<Tok> toks;
    std::size_t i = 0, atom_start = std::string_view::npos;
    auto end_atom = [&](std::size_t at) {
        if (atom_start != std::string_view::npos) {
            toks.push_back({TokKind::Atom, s.substr(atom_start, at - atom_start)});
            atom_start = std::string_view::npos;
        }
    };
    while (i < s.size()) {
        const CharInfo c = classify_char(s, i);
        switch (c.kind) {
            case CharKind::Token:
                if (atom_start == std::string_view::npos) atom_start = i;
                break;
            case CharKind::Open:
                end_atom(i);
                toks.push_back({TokKind::Open, s.substr(i, 1)});
                break;
            case CharKind::Close:
                end_atom(i);
                toks.push_back({TokKind::Close, s.substr(i, 1)});
                break;
            case CharKind::Space:
                end_atom(i);
                break;
            case CharKind::Control:
            case CharKind::BadUtf8:
                end_atom(i);
                ++*dropped;
                break;
        }
        i += c.len;
    }
    end_atom(s.size());
    return toks;
}

enum class Role : uint8_t { Phrase, Leaf, Dissolve, Gone };

struct Raw {
    int32_t parent = -1;  // raw index of the enclosing bracket, -1 at top level
    bool is_atom = false;
    bool has_label = false;
    std::string_view text;  // the token of an atom, the label of a bracket
    int32_t n_atoms = 0;    // direct bare tokens (brackets only)
    int32_t n_brackets = 0;  // direct brackets (brackets only)
    Role role = Role::Gone;
    int32_t eff_parent = -1;  // nearest enclosing item that is kept as a constituent
    std::string_view token;   // leaves: the predicted word (placeholder in skeleton)
    std::string_view tag;     // leaves: the POS tag
    int32_t count = 0;        // phrases: words below; leaves: position among leaves
};

constexpr std::string_view kUnknownTag = "XX";

std::string plural(std::size_t n, const char *one, const char *many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string quote(std::string_view s) {
    std::string out = "'";
    if (s.size() > 40) {
        // cut at a character boundary
        std::size_t k = 0;
        while (k < s.size() && k < 40) k += classify_char(s, k).len;
        out.append(s.substr(0, k));
        out += "...";
    } else {
        out.append(s);
    }
    return out + "'";
}

void check_words(const std::vector<std::string> &words) {
    if (words.empty()) throw TreeError("delinearize: the input has no words to build a tree over");
    if (words.size() >= static_cast<std::size_t>(INT32_MAX))
        throw TreeError("delinearize: too many words");
    std::string why;
    for (std::size_t i = 0; i < words.size(); ++i)
        if (!valid_word(words[i], &why))
            throw TreeError("delinearize: input word " + std::to_string(i + 1) + " " +
                            quote(words[i]) + " " + why);
}

}  // namespace

Tree flat_tree(const std::vector<std::string> &words, Format f) {
    Tree t;
    t.words = words;
    t.tags.assign(words.size(), f == Format::Unlabeled ? std::string() : std::string(kUnknownTag));
    if (words.size() >= 2)
        t.nodes.push_back(Node{std::string(), -1, 0, static_cast<int32_t>(words.size())});
    return t;
}

static void finish(Delinearized &r, Format f) {
    r.text = f == Format::Unlabeled ? unlabeled_string(r.tree, false) : r.tree.to_string();
    r.repaired = !r.problems.empty();
}

Delinearized delinearize(std::string_view pred, const std::vector<std::string> &words, Format f) {
    check_words(words);
    Delinearized r;
    if (pred.size() >= static_cast<std::size_t>(INT32_MAX / 2))
        throw TreeError("delinearize: prediction longer than 1 GiB");
    const std::size_t n = words.size();

    std::size_t dropped_chars = 0;
    const std::vector<Tok> toks = lenient_tokens(pred, &dropped_chars);
    if (dropped_chars)
        r.problems.push_back("dropped " +
                             plural(dropped_chars, "invalid or control character",
                                    "invalid or control characters"));

    // ---- lenient bracket structure --------------------------------------------------------
    std::vector<Raw> raw;
    raw.reserve(toks.size());
    std::vector<int32_t> stack;
    std::size_t extra_close = 0, n_top_atoms = 0;
    bool any_bracket = false, prev_open = false;
    for (const Tok &t : toks) {
        const int32_t top = stack.empty() ? -1 : stack.back();
        switch (t.kind) {
            case TokKind::Open: {
                any_bracket = true;
                Raw b;
                b.parent = top;
                if (top >= 0) ++raw[static_cast<std::size_t>(top)].n_brackets;
                stack.push_back(static_cast<int32_t>(raw.size()));
                raw.push_back(b);
                break;
            }
            case TokKind::Atom:
                if (prev_open && f != Format::Unlabeled) {
                    // In labeled and skeleton notation the token after '(' is the label.
                    Raw &b = raw[static_cast<std::size_t>(top)];
                    b.has_label = true;
                    b.text = t.text;
                } else {
                    Raw a;
                    a.parent = top;
                    a.is_atom = true;
                    a.text = t.text;
                    if (top >= 0)
                        ++raw[static_cast<std::size_t>(top)].n_atoms;
                    else
                        ++n_top_atoms;
                    raw.push_back(a);
                }
                break;
            case TokKind::Close:
                if (stack.empty())
                    ++extra_close;
                else
                    stack.pop_back();
                break;
        }
        prev_open = t.kind == TokKind::Open;
    }
    const std::size_t missing_close = stack.size();

    // A prediction without brackets has no structure to keep, except the skeleton of a
    // one-word tree, which is a lone POS placeholder ("NN").
    if (!any_bracket) {
        if (f == Format::Skeleton && n == 1 && n_top_atoms == 1) {
            r.tree.words = words;
            r.tree.tags = {std::string(raw[0].text)};
            finish(r, f);
            return r;
        }
        r.problems.push_back(toks.empty() ? "empty prediction; using a flat tree"
                                          : "no brackets in the prediction; using a flat tree");
        r.ok = false;
        r.tree = flat_tree(words, f);
        finish(r, f);
        return r;
    }
    if (extra_close) r.problems.push_back("removed " + plural(extra_close, "extra ')'", "extra ')'"));
    if (missing_close)
        r.problems.push_back("added " + plural(missing_close, "missing ')'", "missing ')'"));

    // ---- roles --------------------------------------------------------------------------------
    std::size_t stray = 0, split = 0, bare = 0, placeholders = 0, empty = 0;
    for (std::size_t i = 0; i < raw.size(); ++i) {
        Raw &x = raw[i];
        if (x.is_atom) {
            if (x.parent < 0) {
                x.role = Role::Gone;  // text outside every bracket
                ++stray;
                continue;
            }
            const Raw &p = raw[static_cast<std::size_t>(x.parent)];
            if (p.role == Role::Leaf || p.role == Role::Gone) {
                x.role = Role::Gone;  // absorbed into its preterminal
            } else if (p.role == Role::Dissolve) {
                x.role = Role::Leaf;
                x.eff_parent = p.eff_parent;
                x.token = x.text;
                x.tag = p.text;
            } else {
                x.role = Role::Leaf;
                x.eff_parent = x.parent;
                x.token = x.text;
                if (f == Format::Skeleton) {
                    x.tag = x.text;
                } else {
                    x.tag = f == Format::Unlabeled ? std::string_view() : kUnknownTag;
                    ++bare;
                }
            }
            continue;
        }
        x.eff_parent = x.parent;  // a bracket's parent is a kept constituent (or top level)
        const bool only_atoms = x.n_brackets == 0;
        switch (f) {
            case Format::Unlabeled:
                if (only_atoms && x.n_atoms == 0) {
                    x.role = Role::Gone;
                    ++empty;
                } else if (only_atoms && x.n_atoms == 1) {
                    x.role = Role::Leaf;  // "( The )"
                    x.token = raw[i + 1].text;
                } else {
                    x.role = Role::Phrase;
                }
                break;
            case Format::Labeled:
                if (only_atoms && x.n_atoms == 0) {
                    if (x.has_label) {
                        x.role = Role::Leaf;  // "(dog)" or "( dog)": a word with an empty tag
                        x.token = x.text;
                    } else {
                        x.role = Role::Gone;
                        ++empty;
                    }
                } else if (only_atoms && x.n_atoms == 1) {
                    x.role = Role::Leaf;  // "(NN dog)"
                    x.token = raw[i + 1].text;
                    x.tag = x.text;
                } else if (only_atoms && x.parent >= 0) {
                    x.role = Role::Dissolve;  // "(NN Xpd TTD)" inside a tree: one tag per word
                    ++split;
                } else {
                    x.role = Role::Phrase;
                }
                break;
            case Format::Skeleton:
                if (only_atoms && x.n_atoms == 0) {
                    if (x.has_label) {
                        x.role = Role::Leaf;  // "(DT)": the placeholder DT
                        x.token = x.text;
                        x.tag = x.text;
                        ++placeholders;
                    } else {
                        x.role = Role::Gone;
                        ++empty;
                    }
                } else {
                    x.role = Role::Phrase;
                }
                break;
        }
    }

    // ---- align leaves with the input words -------------------------------------------------
    std::size_t n_leaves = 0, mismatched = 0, first_mismatch = 0;
    for (std::size_t i = 0; i < raw.size(); ++i) {
        Raw &x = raw[i];
        if (x.role != Role::Leaf) continue;
        if (n_leaves >= n) {
            x.role = Role::Gone;
        } else {
            if (f != Format::Skeleton && x.token != words[n_leaves]) {
                if (mismatched == 0) first_mismatch = n_leaves;
                ++mismatched;
            }
            x.count = static_cast<int32_t>(n_leaves);
        }
        ++n_leaves;
    }
    // Leaf tokens are no longer needed; remember the first mismatch for the message.
    std::string mismatch_example;
    if (mismatched) {
        for (const Raw &x : raw)
            if (x.role == Role::Leaf && static_cast<std::size_t>(x.count) == first_mismatch) {
                mismatch_example = "leaf " + std::to_string(first_mismatch + 1) + " " +
                                   quote(x.token) + " -> " + quote(words[first_mismatch]);
                break;
            }
    }

    // ---- words per constituent; drop the empty ones --------------------------------------------
    for (std::size_t i = raw.size(); i-- > 0;) {
        Raw &x = raw[i];
        if (x.role == Role::Phrase) {
            if (x.count == 0) {
                x.role = Role::Gone;
                ++empty;
                continue;
            }
            if (x.eff_parent >= 0) raw[static_cast<std::size_t>(x.eff_parent)].count += x.count;
        } else if (x.role == Role::Leaf) {
            x.count = 0;  // reused below as nothing; phrases count words
            if (x.eff_parent >= 0) raw[static_cast<std::size_t>(x.eff_parent)].count += 1;
        }
    }

    if (stray) r.problems.push_back("dropped " + plural(stray, "token", "tokens") + " outside the brackets");
    if (split) r.problems.push_back("split " + plural(split, "multi-word preterminal", "multi-word preterminals"));
    if (bare)
        r.problems.push_back(plural(bare, "bare word wrapped as a leaf", "bare words wrapped as leaves"));
    if (placeholders)
        r.problems.push_back("read " + plural(placeholders, "bracketed placeholder", "bracketed placeholders"));
    if (empty) r.problems.push_back("removed " + plural(empty, "empty constituent", "empty constituents"));

    const std::size_t kept = std::min(n_leaves, n);
    if (kept == 0) {
        r.problems.push_back("no words in the prediction; using a flat tree");
        r.ok = false;
        r.tree = flat_tree(words, f);
        finish(r, f);
        return r;
    }

    // ---- assemble the tree ---------------------------------------------------------------------
    std::size_t n_top = 0;
    bool top_is_phrase = false;
    for (const Raw &x : raw)
        if ((x.role == Role::Phrase || x.role == Role::Leaf) && x.eff_parent < 0) {
            ++n_top;
            top_is_phrase = x.role == Role::Phrase;
        }
    if (n_top > 1) r.problems.push_back("joined " + std::to_string(n_top) + " top-level trees under a new root");
    const bool new_root = n_top > 1 || (!top_is_phrase && n > 1);

    Tree &t = r.tree;
    t.words.reserve(n);
    t.tags.reserve(n);
    if (new_root) t.nodes.push_back(Node{std::string(), -1, 0, 0});
    const int32_t top_parent = new_root ? 0 : -1;
    std::vector<int32_t> final_index(raw.size(), -1);
    for (std::size_t i = 0; i < raw.size(); ++i) {
        const Raw &x = raw[i];
        const int32_t p = x.eff_parent < 0 ? top_parent : final_index[static_cast<std::size_t>(x.eff_parent)];
        if (x.role == Role::Phrase) {
            const auto start = static_cast<int32_t>(t.words.size());
            final_index[i] = static_cast<int32_t>(t.nodes.size());
            t.nodes.push_back(Node{std::string(x.has_label ? x.text : std::string_view()), p, start,
                                   start + x.count});
        } else if (x.role == Role::Leaf) {
            t.tags.emplace_back(x.tag);
            t.words.push_back(words[t.words.size()]);
        }
    }
    if (mismatched)
        r.problems.push_back(plural(mismatched, "word differs", "words differ") +
                             " from the input, replaced by position (first: " + mismatch_example + ")");
    if (n_leaves > n)
        r.problems.push_back("dropped " + plural(n_leaves - n, "surplus leaf", "surplus leaves") +
                             " (prediction has " + std::to_string(n_leaves) + ", input has " +
                             std::to_string(n) + ")");
    if (kept < n) {
        r.problems.push_back("attached " + plural(n - kept, "missing word", "missing words") +
                             " at the end of the root");
        const std::string_view tag = f == Format::Unlabeled ? std::string_view() : kUnknownTag;
        for (std::size_t i = kept; i < n; ++i) {
            t.words.push_back(words[i]);
            t.tags.emplace_back(tag);
        }
    }
    if (!t.nodes.empty()) t.nodes[0].end = static_cast<int32_t>(n);
    finish(r, f);
    return r;
}

}  // namespace mckd
