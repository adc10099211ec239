// The paper's evaluation metric (MCKD, ACL 2024): unlabeled span F1 per sentence, averaged.
//
// "Paper F1" is whatever the authors' evaluation code computes (src/parserlib.py of
// andotalao24/Multistage-Collaborative-Knowledge-Distillation: fixup_prediction, run_eval,
// preprocess_punctuation, averaged as train_eval.py averages getF1), quirks included. This file
// re-implements that algorithm without recursion; tests/test_paper_oracle.py checks it against
// a line-by-line transcription that uses nltk, on thousands of broken and unbroken predictions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mckd {

// The one place that says which gold POS tags are scored: the Penn Treebank word tags, as in the
// authors' code. Every other token (punctuation, $, #, -NONE-, CRAFT's HYPH, AFX, ...) is removed
// before spans are compared.
const std::vector<std::string> &paper_word_tags();
bool is_paper_word_tag(std::string_view tag);

// The authors' fixup_prediction: append " )" while '(' outnumber ')'; drop a trailing " )"
// (exactly those two characters) while ')' outnumber '('; split tokens merged by '/' or '-' when
// the split form occurs in `source`; split won't/don't/can't and X's; put a space after every '('.
std::string paper_fixup(std::string_view source, std::string_view pred);

// A bracketed tree as nltk.Tree.fromstring reads it: leaves in order, the label of each leaf's
// bracket, and the leaf range [start, end) of every bracket.
struct NltkTree {
    std::vector<std::string_view> leaves;
    std::vector<std::string_view> leaf_labels;
    std::vector<std::pair<int32_t, int32_t>> brackets;
};

// Reads `s` with nltk's rules. `labels`: text right after '(' is the bracket's label (gold
// trees); otherwise every bracket is unlabeled (the authors' has_tags=False). False where nltk
// raises ValueError: unbalanced brackets, text outside the tree, more than one tree, no tree.
bool read_nltk_tree(std::string_view s, bool labels, NltkTree *out);

enum class PaperStatus : int {
    Ok = 0,
    Unparseable = 1,     // nltk cannot read the fixed-up prediction (scores 0)
    LengthMismatch = 2,  // too many words, or a different number of words once punctuation
                         // is removed (scores 0)
    Excluded = 3,        // the authors' code raises an uncaught error for this sentence (e.g.
                         // fewer than one scored gold word): left out of the average
};

struct PaperSentence {
    double f1 = 0.0;  // 0..1
    PaperStatus status = PaperStatus::Ok;
    int32_t n_gold = 0, n_pred = 0, n_correct = 0;  // span counts (0 unless Ok)
};

// One sentence. `gold`: the gold tree with POS tags. `source`: the space-separated input
// sentence ("unparsed"; when empty, the gold leaves joined by spaces). `pred`: the raw model
// output. With `strict`, no fix-up is applied and the prediction must be one tree whose leaves
// are exactly the gold leaves; anything else scores 0, and no sentence is excluded.
// Throws TreeError if the gold tree cannot be read.
PaperSentence paper_sentence(std::string_view gold, std::string_view source, std::string_view pred,
                             bool strict);

// Every sentence (`source` may be empty: then every source comes from its gold tree). A gold tree
// that cannot be read is a TreeError naming its index.
std::vector<PaperSentence> paper_scores(const std::vector<std::string> &gold,
                                        const std::vector<std::string> &source,
                                        const std::vector<std::string> &pred, bool strict);

}  // namespace mckd
