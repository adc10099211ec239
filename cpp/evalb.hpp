// EVALB-exact bracket scoring (Sekine & Collins' evalb.c, today's version), reimplemented.
//
// The semantics follow evalb.c: how a line is read (labels, words, preterminals deleted by
// DELETE_LABEL, length by DELETE_LABEL_FOR_LENGTH, QUOTE_LABEL re-insertion), how a sentence is
// classified (0 valid, 1 error, 2 skip), multiset bracket matching, crossing brackets, tagging
// accuracy, and the exact text of its standard output (header, per-sentence table, DEBUG 1/2
// blocks, both summaries). What differs is everything evalb.c cannot survive:
//   * no fixed limits (evalb.c: 200 words, 200 brackets, 5,000 bytes per line, 30-byte labels,
//     100-byte words, 20 quote terms): everything here is a std::vector / std::string;
//   * no recursion; the scoring loops are O((n + m) log m) outside DEBUG 2;
//   * where evalb.c loops on "Reading sentence" until MAX_ERROR kills it (a bare word, or a
//     preterminal with two words such as CRAFT's "(NN Xpd TTD)"), the sentence is reported once,
//     read anyway (each stray word becomes a terminal), and marked as an error sentence;
//   * where evalb.c has undefined behaviour (a ')' with nothing open) the ')' is reported and
//     ignored;
//   * past MAX_ERROR errors evalb.c exits without a summary; here every sentence is still scored
//     and Result::evalb_stop_sentence says where evalb.c would have stopped.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mckd::evalb {

// A bad .prm file; the message names file and line.
struct ParamError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The settings of a .prm file (the keywords evalb.c reads).
struct Params {
    int debug = 0;        // DEBUG: 1 = per-sentence dump, 2 = also bracket-level detail
    int max_error = 10;   // MAX_ERROR: evalb.c exits after more than this many errors
    int cutoff_len = 40;  // CUTOFF_LEN: the second summary covers sentences this short
    int labeled = 1;      // LABELED: 0 = brackets match on span only
    std::vector<std::string> delete_label;             // DELETE_LABEL
    std::vector<std::string> delete_label_for_length;  // DELETE_LABEL_FOR_LENGTH
    std::vector<std::string> quote_label;              // QUOTE_LABEL
    std::vector<std::pair<std::string, std::string>> eq_label;  // EQ_LABEL a b
    std::vector<std::pair<std::string, std::string>> eq_word;   // EQ_WORD a b

    // evalb.c's compiled-in defaults (what it uses without -p).
    static Params evalb_defaults() { return Params{}; }
    // The settings of EVALB's COLLINS.prm, the standard for PTB parsing.
    static Params collins();
};

// Parse the text of a .prm file. Stricter than evalb.c, which only warns: an unknown keyword, a
// missing or non-integer value, or a label list with the wrong number of items is a ParamError
// naming `filename` and the line.
Params parse_params(const std::string &text, const std::string &filename);

// One message evalb.c would print on stderr as "<sentence> : <text>".
struct Message {
    int sentence;      // 1-based sentence (line) number
    std::string side;  // "gold", "test", or "" when it concerns the pair
    std::string text;  // without the trailing newline
};

// Per-sentence figures as evalb.c prints them, plus the errors-as-zero bracket counts.
struct SentenceResult {
    int id = 0;          // 1-based sentence number
    int length = 0;      // evalb's length (gold words not in DELETE_LABEL_FOR_LENGTH)
    int status = 0;      // 0 valid, 1 error, 2 skip, 3 missing (no test line; not in evalb's totals)
    int matched = 0;
    int gold_brackets = 0;  // counted brackets (0 for error/skip, as evalb prints)
    int test_brackets = 0;
    int crossing = 0;
    int words = 0;
    int correct_tags = 0;
    // Bracket counts for the errors-as-zero score: for a valid sentence the same as above; for
    // an error, skip or missing sentence, what each side has on its own (after the same deletions).
    int gold_brackets_all = 0;
    int test_brackets_all = 0;
    bool beyond_evalb_limits = false;  // stock evalb.c would overflow a buffer on this sentence
};

// Corpus totals for one summary block ("All" or "len<=CUTOFF").
struct Totals {
    int64_t sentences = 0, error_sentences = 0, skip_sentences = 0, missing_sentences = 0;
    int64_t gold_brackets = 0, test_brackets = 0, matched = 0;
    int64_t complete = 0, words = 0, crossing = 0, no_crossing = 0, two_or_less = 0;
    int64_t correct_tags = 0;
    int64_t gold_brackets_all = 0, test_brackets_all = 0;  // errors-as-zero denominators
    int64_t valid() const { return sentences - error_sentences - skip_sentences; }
};

struct Result {
    std::vector<SentenceResult> sentences;  // scored sentences, then any missing ones
    Totals all, cut;
    int cutoff_len = 40;
    std::vector<Message> messages;
    std::string report;  // evalb.c's standard output, byte for byte (when requested)
    int error_count = 0; // evalb.c's error counter (Error() calls it would make)
    // First sentence at which evalb.c would exit without a summary (0: it finishes), and why.
    int evalb_stop_sentence = 0;
    std::string evalb_stop_reason;
    // Sentences on which stock evalb.c's fixed buffers would overflow (it may crash there).
    std::vector<std::pair<int, std::string>> limit_notes;
};

// Score `test` against `gold`, one tree per string (as evalb.c reads one tree per line).
// With want_report the standard-output text is built too. The views are read in place and must
// stay valid for the call; the Result refers to none of them.
Result evaluate(const std::vector<std::string_view> &gold,
                const std::vector<std::string_view> &test, const Params &params,
                bool want_report);
Result evaluate(const std::vector<std::string> &gold, const std::vector<std::string> &test,
                const Params &params, bool want_report);

}  // namespace mckd::evalb
