// The paper's evaluation metric (MCKD, ACL 2024): unlabeled span F1 per sentence, averaged.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tree.hpp"

namespace mckd {

// The one place that says which gold POS tags are scored. Like the paper's evaluation code,
// only word tags are kept; every other token is removed before spans are compared: punctuation
// (, . : `` '' -LRB- -RRB- HYPH NFP), $, #, -NONE-, and tags outside this list such as CRAFT's
// AFX.
const std::vector<std::string> &paper_word_tags();
bool is_paper_word_tag(std::string_view tag);

// The paper's limited repair: a missing ')' is appended at the end, extra trailing ')' are
// removed. Nothing else.
std::string paper_fixup(std::string_view pred);

// Distinct spans [start, end) over the kept words (keep[i] for every word) that cover >= 2 kept
// words, sorted; the whole sentence is among them when it has >= 2 kept words.
std::vector<std::pair<int32_t, int32_t>> paper_spans(const Tree &t, const std::vector<char> &keep);

enum class PaperStatus : int { Ok = 0, Unparseable = 1, LengthMismatch = 2 };

struct PaperSentence {
    double f1 = 0.0;  // 0..1
    PaperStatus status = PaperStatus::Ok;
    int32_t n_gold = 0, n_pred = 0, n_correct = 0;  // span counts (0 when not Ok)
};

// One sentence. `gold` is a parsed gold tree (labeled, with POS tags); `pred` is a predicted tree
// in unlabeled or labeled notation (labels are ignored). A prediction that still fails to parse
// after paper_fixup, or has a different number of words, scores 0. As in the paper's code, a
// sentence with no gold or no predicted span (fewer than two kept words) scores 0 as well.
PaperSentence paper_sentence(const Tree &gold, std::string_view pred);

// Every sentence; a gold tree that cannot be read is a TreeError naming its index.
std::vector<PaperSentence> paper_scores(const std::vector<std::string> &gold,
                                        const std::vector<std::string> &pred);

}  // namespace mckd
