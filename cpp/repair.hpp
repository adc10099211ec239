// Turning a model's predicted linearization back into a tree over the known input words.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "transform.hpp"
#include "tree.hpp"

namespace mckd {

struct Delinearized {
    Tree tree;                          // always over exactly the input words
    std::string text;                   // unlabeled bracketing for Format::Unlabeled, PTB otherwise
    bool ok = true;                     // false: nothing usable, `tree` is the flat fallback
    bool repaired = false;              // anything at all was changed
    std::vector<std::string> problems;  // what was changed, in a fixed order
};

// Inverse of linearize(): reads `pred` leniently and repairs it so that the result is a tree
// over exactly `words` (deterministically):
//   * invalid UTF-8 / control characters are dropped; missing ')' are appended at the end; a
//     ')' with nothing open is dropped; text outside every bracket is dropped;
//   * several top-level trees are joined under a new unlabeled root;
//   * leaves are aligned to `words` by position: the i-th leaf's token is replaced by words[i],
//     surplus leaves are dropped (with constituents left empty), missing words are attached at
//     the end of the root;
//   * labeled: a bracket holding a lone token ("(dog)") is a word with an empty tag, a
//     preterminal with several words is split, a bare word among constituents gets tag XX;
//     skeleton: bare tokens are the POS placeholders, "(DT)" is read as the placeholder DT;
//   * a constituent without a label keeps an empty label; invented POS tags are "XX";
//   * an empty prediction, or one without any bracketed word, gives a flat tree with ok=false.
// Throws TreeError only for bad `words` (empty list, or a word that no tree can hold).
Delinearized delinearize(std::string_view pred, const std::vector<std::string> &words, Format f);

// A flat tree over `words`: one root over all words (no root for a single word).
Tree flat_tree(const std::vector<std::string> &words, Format f);

}  // namespace mckd
