// The paper's metric. Spans are compared as sets of (start, end) over the words that remain
// after removing every token whose *gold* tag is not a word tag.
#include "paper.hpp"

#include <algorithm>
#include <iterator>

namespace mckd {

const std::vector<std::string> &paper_word_tags() {
    // The Penn Treebank word tags, as listed in the paper's evaluation script.
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

std::string paper_fixup(std::string_view pred) {
    std::size_t opens = 0, closes = 0;
    for (const char c : pred) {
        opens += c == '(';
        closes += c == ')';
    }
    std::string out(pred);
    for (; opens > closes; ++closes) out += " )";
    while (closes > opens) {
        std::size_t k = out.find_last_not_of(" \t\n\r\f\v");
        if (k == std::string::npos || out[k] != ')') break;  // extra ')' not at the end: no repair
        out.erase(k);
        --closes;
    }
    return out;
}

std::vector<std::pair<int32_t, int32_t>> paper_spans(const Tree &t, const std::vector<char> &keep) {
    std::vector<int32_t> kept_before(t.words.size() + 1, 0);
    for (std::size_t i = 0; i < t.words.size(); ++i)
        kept_before[i + 1] = kept_before[i] + (keep[i] ? 1 : 0);
    std::vector<std::pair<int32_t, int32_t>> spans;
    spans.reserve(t.nodes.size());
    for (const Node &x : t.nodes) {
        const int32_t s = kept_before[static_cast<std::size_t>(x.start)];
        const int32_t e = kept_before[static_cast<std::size_t>(x.end)];
        if (e - s >= 2) spans.emplace_back(s, e);
    }
    std::sort(spans.begin(), spans.end());
    spans.erase(std::unique(spans.begin(), spans.end()), spans.end());
    return spans;
}

PaperSentence paper_sentence(const Tree &gold, std::string_view pred) {
    PaperSentence out;
    Tree p;
    try {
        p = parse_tree(paper_fixup(pred));
    } catch (const TreeError &) {
        out.status = PaperStatus::Unparseable;
        return out;
    }
    if (p.words.size() != gold.words.size()) {
        out.status = PaperStatus::LengthMismatch;
        return out;
    }
    std::vector<char> keep(gold.words.size());
    for (std::size_t i = 0; i < keep.size(); ++i) keep[i] = is_paper_word_tag(gold.tags[i]);
    const auto g = paper_spans(gold, keep);
    const auto q = paper_spans(p, keep);
    std::vector<std::pair<int32_t, int32_t>> common;
    std::set_intersection(g.begin(), g.end(), q.begin(), q.end(), std::back_inserter(common));
    out.n_gold = static_cast<int32_t>(g.size());
    out.n_pred = static_cast<int32_t>(q.size());
    out.n_correct = static_cast<int32_t>(common.size());
    if (out.n_correct > 0) {
        const double prec = static_cast<double>(out.n_correct) / out.n_pred;
        const double rec = static_cast<double>(out.n_correct) / out.n_gold;
        out.f1 = 2 * prec * rec / (prec + rec);
    }
    return out;
}

std::vector<PaperSentence> paper_scores(const std::vector<std::string> &gold,
                                        const std::vector<std::string> &pred) {
    if (gold.size() != pred.size())
        throw TreeError("paper_f1: " + std::to_string(gold.size()) + " gold trees but " +
                        std::to_string(pred.size()) + " predictions");
    std::vector<PaperSentence> out;
    out.reserve(gold.size());
    for (std::size_t i = 0; i < gold.size(); ++i) {
        Tree g;
        try {
            g = parse_tree(gold[i]);
        } catch (const TreeError &e) {
            throw TreeError("paper_f1: gold tree " + std::to_string(i) + ": " + e.what());
        }
        out.push_back(paper_sentence(g, pred[i]));
    }
    return out;
}

}  // namespace mckd
