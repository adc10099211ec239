// The paper's metric, step for step as the authors' code computes it (see paper.hpp). Where a
// step looks odd (a prediction with missing trailing punctuation still scores, "...))" keeps its
// extra brackets), it is because their code does it; the strict variant is the honest sibling.
#include "paper.hpp"

#include <algorithm>
#include <iterator>

#include "tree.hpp"

namespace mckd {

const std::vector<std::string> &paper_word_tags() {
    static const std::vector<std::string> tags = {
        "CC",  "CD",  "DT",  "EX",  "FW",  "IN",  "JJ",   "JJR", "JJS", "LS",  "MD",  "NN",
        "NNS", "NNP", "NNPS", "PDT", "POS", "PRP", "PRP$", "RB",  "RBR", "RBS", "RP",  "SYM",
        "TO",  "UH",  "VB",  "VBD", "VBG", "VBN", "VBP",  "VBZ", "WDT", "WP",  "WP$", "WRB"};
    return tags;
}

bool is_paper_word_tag(std::string_view tag) {
    const auto &tags = paper_word_tags();
    return std::find(tags.begin(), tags.end(), tag) != tags.end();
}

namespace {

bool is_space_at(std::string_view s, std::size_t i, std::size_t *len) {
    const CharInfo c = classify_char(s, i);
    *len = c.len;
    return c.kind == CharKind::Space;
}

// Python's str.split(): runs of (Unicode) whitespace separate tokens.
std::vector<std::string_view> py_split(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t i = 0, start = std::string_view::npos, len = 1;
    while (i < s.size()) {
        if (is_space_at(s, i, &len)) {
            if (start != std::string_view::npos) out.push_back(s.substr(start, i - start));
            start = std::string_view::npos;
        } else if (start == std::string_view::npos) {
            start = i;
        }
        i += len;
    }
    if (start != std::string_view::npos) out.push_back(s.substr(start));
    return out;
}

template <class Seq>
std::string join(const Seq &parts, std::string_view sep) {
    std::string out;
    bool first = true;
    for (const auto &p : parts) {
        if (!first) out += sep;
        out += p;
        first = false;
    }
    return out;
}

bool contains(std::string_view hay, std::string_view needle) {
    return hay.find(needle) != std::string_view::npos;
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Python's tok.split(sep) for a one-character separator: empty pieces are kept.
std::vector<std::string_view> split_on(std::string_view tok, char sep) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= tok.size(); ++i) {
        if (i == tok.size() || tok[i] == sep) {
            out.push_back(tok.substr(start, i - start));
            start = i + 1;
        }
    }
    return out;
}

// "and/or" -> "( and ) ( / ) ( or )" when "and / or" is in the source; same for '-'.
std::string split_merged(std::string_view s, std::string_view source, char sep) {
    const std::string glue = std::string(" ") + sep + " ";
    const std::string wrapped_sep = std::string("( ") + sep + " )";
    std::vector<std::string> out;
    for (std::string_view tok : py_split(s)) {
        if (tok.size() > 1 && tok.find(sep) != std::string_view::npos) {
            const auto parts = split_on(tok, sep);
            if (contains(source, join(parts, glue))) {
                for (std::size_t i = 0; i < parts.size(); ++i) {
                    if (i > 0) out.push_back(wrapped_sep);
                    out.push_back("( " + std::string(parts[i]) + " )");
                }
                continue;
            }
        }
        out.emplace_back(tok);
    }
    return join(out, " ");
}

std::string split_contractions(std::string_view s, std::string_view source) {
    std::vector<std::string> out;
    for (std::string_view tok : py_split(s)) {
        if (tok == "won't" && contains(source, "wo n't")) {
            out.emplace_back("( wo n't )");
        } else if (tok == "don't" && contains(source, "do n't")) {
            out.emplace_back("( do n't )");
        } else if (tok == "can't" && contains(source, "ca n't")) {
            out.emplace_back("( ca n't )");
        } else if (ends_with(tok, "'s") && !contains(source, tok)) {
            out.push_back("( " + std::string(tok.substr(0, tok.size() - 2)) + " 's )");
        } else {
            out.emplace_back(tok);
        }
    }
    return join(out, " ");
}

// Kept-word coordinates of every bracket with >= 2 kept leaves, as a sorted set of
// (start, size) over the first `n_leaves` positions of `keep`.
std::vector<std::pair<int32_t, int32_t>> kept_spans(const NltkTree &t, const std::vector<char> &keep) {
    std::vector<int32_t> before(t.leaves.size() + 1, 0);
    for (std::size_t i = 0; i < t.leaves.size(); ++i) before[i + 1] = before[i] + (keep[i] ? 1 : 0);
    std::vector<std::pair<int32_t, int32_t>> spans;
    spans.reserve(t.brackets.size());
    for (const auto &[start, end] : t.brackets) {
        const int32_t s = before[static_cast<std::size_t>(start)];
        const int32_t size = before[static_cast<std::size_t>(end)] - s;
        if (size >= 2) spans.emplace_back(s, size);
    }
    std::sort(spans.begin(), spans.end());
    spans.erase(std::unique(spans.begin(), spans.end()), spans.end());
    return spans;
}

void score_spans(const NltkTree &g, const NltkTree &p, const std::vector<char> &keep,
                 PaperSentence *out) {
    const auto gs = kept_spans(g, keep);
    const auto ps = kept_spans(p, keep);
    std::vector<std::pair<int32_t, int32_t>> common;
    std::set_intersection(gs.begin(), gs.end(), ps.begin(), ps.end(), std::back_inserter(common));
    out->n_gold = static_cast<int32_t>(gs.size());
    out->n_pred = static_cast<int32_t>(ps.size());
    out->n_correct = static_cast<int32_t>(common.size());
    if (out->n_correct == 0) return;
    // the same operations in the same order as the authors' parsing_f1, so the floats agree
    const double prec = static_cast<double>(out->n_correct) / out->n_pred;
    const double recall = static_cast<double>(out->n_correct) / out->n_gold;
    out->f1 = 2 * (prec * recall) / (prec + recall);
}

}  // namespace

std::string paper_fixup(std::string_view source, std::string_view pred) {
    std::size_t opens = 0, closes = 0;
    for (const char c : pred) {
        opens += c == '(';
        closes += c == ')';
    }
    std::string s(pred);
    for (; opens > closes; ++closes) s += " )";
    for (; closes > opens && ends_with(s, " )"); --closes) s.resize(s.size() - 2);
    // Each pass only changes tokens holding its trigger; without one it would only normalise
    // whitespace, which the last step does anyway, so it is skipped (most predictions).
    if (contains(s, "/")) s = split_merged(s, source, '/');
    if (contains(s, "-")) s = split_merged(s, source, '-');
    if (contains(s, "'s") || contains(s, "n't")) s = split_contractions(s, source);
    std::string spaced;
    spaced.reserve(s.size() + s.size() / 4);
    for (const char c : s) {
        spaced += c;
        if (c == '(') spaced += ' ';
    }
    return join(py_split(spaced), " ");
}

bool read_nltk_tree(std::string_view s, bool labels, NltkTree *out) {
    *out = NltkTree{};
    struct Open {
        int32_t first_leaf;
        std::string_view label;
    };
    std::vector<Open> stack;
    bool have_tree = false;
    std::size_t i = 0, len = 1;
    const auto token_end = [&](std::size_t j) {
        while (j < s.size() && s[j] != '(' && s[j] != ')' && !is_space_at(s, j, &len)) j += len;
        return j;
    };
    while (i < s.size()) {
        if (is_space_at(s, i, &len)) {
            i += len;
        } else if (s[i] == '(') {
            if (stack.empty() && have_tree) return false;  // a second tree
            ++i;
            std::string_view label;
            if (labels) {  // nltk: "(" then optional whitespace then an optional label
                while (i < s.size() && is_space_at(s, i, &len)) i += len;
                const std::size_t j = token_end(i);
                label = s.substr(i, j - i);
                i = j;
            }
            stack.push_back({static_cast<int32_t>(out->leaves.size()), label});
        } else if (s[i] == ')') {
            if (stack.empty()) return false;
            out->brackets.emplace_back(stack.back().first_leaf, static_cast<int32_t>(out->leaves.size()));
            stack.pop_back();
            have_tree = have_tree || stack.empty();
            ++i;
        } else {
            if (stack.empty()) return false;  // text outside the tree
            const std::size_t j = token_end(i);
            out->leaves.push_back(s.substr(i, j - i));
            out->leaf_labels.push_back(stack.back().label);
            i = j;
        }
    }
    return stack.empty() && have_tree;
}

PaperSentence paper_sentence(std::string_view gold, std::string_view source, std::string_view pred,
                             bool strict) {
    NltkTree g;
    if (!read_nltk_tree(gold, true, &g)) throw TreeError("cannot read the gold tree");
    std::string joined;
    if (source.empty()) {
        joined = join(g.leaves, " ");
        source = joined;
    }
    const std::size_t m = g.leaves.size();
    std::vector<char> keep(m);
    for (std::size_t i = 0; i < m; ++i) keep[i] = is_paper_word_tag(g.leaf_labels[i]);

    PaperSentence out;
    NltkTree p;
    if (strict) {
        if (!read_nltk_tree(pred, false, &p)) {
            out.status = PaperStatus::Unparseable;
        } else if (p.leaves != g.leaves) {
            out.status = PaperStatus::LengthMismatch;
        } else {
            score_spans(g, p, keep, &out);
        }
        return out;
    }

    // Their word-count checks compare against the source tokens kept by the gold mask, and
    // count a tree whose words were all removed as one (flatten_tree(None) == [None]).
    const std::size_t n_tokens = py_split(source).size();
    const auto kept_in = [&](std::size_t n) {
        return static_cast<std::size_t>(std::count(keep.begin(), keep.begin() + static_cast<long>(n), 1));
    };
    const std::size_t new_tokens = kept_in(std::min(n_tokens, m));
    const std::size_t gold_kept = kept_in(m);
    if (new_tokens != std::max<std::size_t>(gold_kept, 1)) {
        out.status = PaperStatus::Excluded;  // their gold preprocessing raises
        return out;
    }
    if (!read_nltk_tree(paper_fixup(source, pred), false, &p)) {
        out.status = PaperStatus::Unparseable;
        return out;
    }
    if (p.leaves.size() > m) {  // IndexError in their mask walk
        out.status = PaperStatus::LengthMismatch;
        return out;
    }
    const std::size_t pred_kept = kept_in(p.leaves.size());
    if (new_tokens != std::max<std::size_t>(pred_kept, 1)) {
        out.status = PaperStatus::LengthMismatch;
        return out;
    }
    if (pred_kept == 0) {  // their span walk of an empty tree raises TypeError
        out.status = PaperStatus::Excluded;
        return out;
    }
    score_spans(g, p, keep, &out);
    return out;
}

std::vector<PaperSentence> paper_scores(const std::vector<std::string> &gold,
                                        const std::vector<std::string> &source,
                                        const std::vector<std::string> &pred, bool strict) {
    if (gold.size() != pred.size() || (!source.empty() && source.size() != gold.size()))
        throw TreeError("paper_f1: " + std::to_string(gold.size()) + " gold trees, " +
                        std::to_string(pred.size()) + " predictions and " +
                        std::to_string(source.size()) + " sources");
    std::vector<PaperSentence> out;
    out.reserve(gold.size());
    for (std::size_t i = 0; i < gold.size(); ++i) {
        try {
            out.push_back(paper_sentence(gold[i], source.empty() ? std::string_view() : source[i],
                                         pred[i], strict));
        } catch (const TreeError &e) {
            throw TreeError("paper_f1: gold tree " + std::to_string(i + 1) + ": " + e.what());
        }
    }
    return out;
}

}  // namespace mckd
