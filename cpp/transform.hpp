// Tree transforms (cleaning) and the three linearizations used as seq2seq targets.
#pragma once

#include <string>
#include <string_view>

#include "tree.hpp"

namespace mckd {

// Target notations. Unlabeled: the paper's, "( ( ( The ) ( dog ) ) ( ( barked ) ) )" with no
// labels and every word wrapped. Labeled: the PTB tree with POS tags. Skeleton: the labeled
// tree with every word replaced by its POS tag as a bare leaf, "(S (NP DT NN) (VP VBD))".
enum class Format { Unlabeled, Labeled, Skeleton };

// "unlabeled" / "labeled" / "skeleton"; anything else is a TreeError listing the valid names.
Format parse_format(std::string_view name);
const char *format_name(Format f);

// "NP-SBJ-1" -> "NP", "PP-LOC=2" -> "PP"; labels that start with '-' ("-NONE-", "-LRB-",
// "-RRB-") keep their dashed core.
std::string strip_label(std::string_view label);
// Strips function tags and indices from every constituent label and POS tag.
Tree strip_function_tags(const Tree &t);
// Deletes words tagged -NONE- and every constituent left without words.
Tree delete_none(const Tree &t);
// Drops the unlabeled root wrapper of treebank files: "( (S ...) )" -> "(S ...)" (repeatedly).
Tree drop_root_wrapper(const Tree &t);
// strip_function_tags + delete_none + drop_root_wrapper.
Tree clean(const Tree &t);

// Unlabeled bracketing. With collapse_unary (the paper's linearization), a constituent with a
// single child is not bracketed again: its span equals the child's and carries no information
// once labels are gone. Without it, every constituent is written (used to echo repairs).
std::string unlabeled_string(const Tree &t, bool collapse_unary);
// Skeleton notation; every word needs a POS tag (TreeError otherwise).
std::string skeleton_string(const Tree &t);
std::string linearize(const Tree &t, Format f);

}  // namespace mckd
