"""EVALB-exact scoring (cpp/evalb_*.cpp via mckd.metrics.evalb).

Every expected number below was worked out by hand from evalb.c's rules (the comments show the
working). Set MCKD_EVALB_BIN to a real evalb binary to also check each hand case's report byte for
byte against it (skipped where EVALB would not finish).
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mckd import _core
from mckd.errors import MckdError
from mckd.metrics.evalb import evalb_score, evaluate, load_params, read_tree_file

EVALB_BIN = os.environ.get("MCKD_EVALB_BIN")


def params(text: str = ""):
    """evalb.c's defaults plus the given .prm lines (no file needed)."""
    return _core.EvalbParams.parse(text, "test.prm")


def run(gold, test, prm: str = "", tmp_path=None):
    res = evaluate(list(gold), list(test), params(prm))
    if EVALB_BIN and tmp_path is not None and res.evalb_stop_sentence is None:
        g, t, p = tmp_path / "g", tmp_path / "t", tmp_path / "p"
        g.write_text("".join(x + "\n" for x in gold))
        t.write_text("".join(x + "\n" for x in test))
        p.write_text(prm + "\n")
        out = subprocess.run([EVALB_BIN, "-p", str(p), str(g), str(t)], capture_output=True)
        assert out.stdout == res.report_bytes
        assert out.stderr.decode().splitlines() == res.evalb_messages()
    return res


def row(res, i=0):
    return res.per_sentence()[i]


def line_of(res, sentence: int) -> str:
    return res.report.splitlines()[2 + sentence]


def summary_line(res, name: str, block: int = 0) -> str:
    lines = [x for x in res.report.splitlines() if x.startswith(name)]
    return lines[block]


G3 = "(S (NP (DT a) (NN b)) (VP (VB c)))"  # brackets S[0,3] NP[0,2] VP[2,3]


# ---------------------------------------------------------------- the EVALB sample


def test_sample_reproduced_byte_for_byte(shared_data):
    d = shared_data / "evalb" / "sample"
    res = evaluate(d / "sample.gld", d / "sample.tst", d / "sample.prm")
    assert res.report_bytes == (d / "sample.current.rsl").read_bytes()
    assert res.evalb_messages() == [
        "12 : Words unmatch (is|was)", "13 : Length unmatch (4|5)",
        "16 : Length unmatch (4|5)", "17 : Length unmatch (4|6)",
        "20 : Words unmatch (this|That)"]
    assert res.evalb_stop_sentence is None and res.notes() == []
    s = res.summary()["all"]
    assert (s["sentences"], s["error_sentences"], s["skip_sentences"]) == (24, 5, 2)
    assert (s["matched"], s["gold_brackets"], s["test_brackets"]) == (86, 98, 95)


def test_shipped_prm_files_parse(shared_data):
    d = shared_data / "evalb"
    collins = load_params(d / "COLLINS.prm")
    built_in = _core.EvalbParams.collins()
    for f in ("debug", "max_error", "cutoff_len", "labeled", "delete_label",
              "delete_label_for_length", "quote_label", "eq_label", "eq_word"):
        assert getattr(collins, f) == getattr(built_in, f), f
    nk = load_params(d / "nk.prm")
    assert nk.max_error == 10000 and "POS" in nk.quote_label and "S1" in nk.delete_label
    assert load_params(d / "new.prm").quote_label == ["``", "''", "POS", "NN", "CD", "VBZ", ":"]
    sample = load_params(d / "sample" / "sample.prm")
    assert sample.eq_word == [("This", "this")] and sample.eq_label == [("T", "TT")]


# ---------------------------------------------------------------- one test per keyword


def test_labeled(tmp_path):
    test = "(S (X (DT a) (NN b)) (VP (VB c)))"  # NP[0,2] relabelled X
    lab = run([G3], [test], "LABELED 1", tmp_path)
    assert (row(lab)["matched"], row(lab)["gold_brackets"], row(lab)["test_brackets"]) == (2, 3, 3)
    assert line_of(lab, 1) == "   1    3    0   66.67  66.67     2      3    3      0      3     3   100.00"
    unl = run([G3], [test], "LABELED 0", tmp_path)
    assert row(unl)["matched"] == 3
    assert summary_line(unl, "Bracketing FMeasure") == "Bracketing FMeasure       = 100.00"


def test_function_tags_and_indices_are_stripped(tmp_path):
    # modify_label cuts at the first '-' or '=': NP-SBJ-1 -> NP, VP=2 -> VP.
    res = run(["(S (NP-SBJ-1 (DT a) (NN b)) (VP=2 (VB c)))"], [G3], "", tmp_path)
    assert row(res)["matched"] == 3
    # ... but POS tags are compared as written: (NN-HL b) is a wrong tag.
    res = run([G3], ["(S (NP (DT a) (NN-HL b)) (VP (VB c)))"], "", tmp_path)
    assert (row(res)["matched"], row(res)["correct_tags"]) == (3, 2)


def test_delete_label_preterminal_removes_the_word(tmp_path):
    gold = "(TOP (S (NP (NN a)) (, ,) (VP (VB b))))"
    test = "(TOP (S (NP (NN a)) (VP (VB b))))"
    # Without deletion: 3 words against 2.
    res = run([gold], [test], "", tmp_path)
    assert res.evalb_messages() == ["1 : Length unmatch (3|2)"]
    assert row(res)["status"] == 1
    # DELETE_LABEL ',' drops the comma word; DELETE_LABEL TOP drops the TOP bracket. The
    # length column still counts the comma (only DELETE_LABEL_FOR_LENGTH changes it).
    res = run([gold], [test], "DELETE_LABEL TOP\nDELETE_LABEL ,", tmp_path)
    r = row(res)
    assert (r["status"], r["length"], r["words"], r["gold_brackets"], r["matched"]) == (0, 3, 2, 3, 3)


def test_delete_label_nonterminal_keeps_children(tmp_path):
    gold, test = "(S (X (NN a) (NN b)) (VB c))", "(S (NN a) (NN b) (VB c))"
    res = run([gold], [test], "", tmp_path)
    assert (row(res)["matched"], row(res)["gold_brackets"]) == (1, 2)
    res = run([gold], [test], "DELETE_LABEL X", tmp_path)
    r = row(res)
    assert (r["matched"], r["gold_brackets"], r["test_brackets"], r["words"]) == (1, 1, 1, 3)


def test_delete_label_for_length_and_cutoff_len(tmp_path):
    gold = ["(S (NP (-NONE- *)) (VP (VB go)) (NP (NN home)))",  # 2 words without the trace
            "(S (NP (NN dogs)) (VP (VB go)) (NP (NN home)))"]   # 3 words
    test = ["(S (VP (VB go)) (NP (NN home)))", gold[1]]
    prm = "DELETE_LABEL -NONE-\nCUTOFF_LEN 2"
    res = run(gold, test, prm + "\nDELETE_LABEL_FOR_LENGTH -NONE-", tmp_path)
    # The emptied NP is zero-width, so not a bracket: 3 against 3 in sentence 1.
    assert [(r["length"], r["matched"], r["gold_brackets"]) for r in res.per_sentence()] == \
        [(2, 3, 3), (3, 4, 4)]
    s = res.summary()
    assert (s["all"]["sentences"], s["cutoff"]["sentences"], s["cutoff"]["matched"]) == (2, 1, 3)
    assert "\n-- len<=2 --\n" in res.report
    # Without DELETE_LABEL_FOR_LENGTH the trace counts: length 3, nothing is <= 2.
    res = run(gold, test, prm, tmp_path)
    assert row(res)["length"] == 3 and res.summary()["cutoff"]["sentences"] == 0


def test_eq_label(tmp_path):
    gold = "(S (ADVP (RB up)) (VP (VB go)))"
    test = "(S (PRT (RB up)) (VP (VB go)))"
    assert row(run([gold], [test], "", tmp_path))["matched"] == 2
    assert row(run([gold], [test], "EQ_LABEL ADVP PRT", tmp_path))["matched"] == 3
    assert row(run([gold], [test], "EQ_LABEL PRT ADVP", tmp_path))["matched"] == 3  # either order
    # Deletion compares with the equivalences too: DELETE_LABEL ADVP also deletes PRT.
    r = row(run([gold], [test], "EQ_LABEL ADVP PRT\nDELETE_LABEL ADVP", tmp_path))
    assert (r["gold_brackets"], r["test_brackets"], r["matched"]) == (2, 2, 2)
    # Tags are compared with EQ_LABEL as well.
    r = row(run(["(S (NN dogs))"], ["(S (NNS dogs))"], "EQ_LABEL NN NNS", tmp_path))
    assert r["correct_tags"] == 1


def test_eq_word(tmp_path):
    gold, test = "(S (DT This) (VB is))", "(S (DT this) (VB is))"
    res = run([gold], [test], "", tmp_path)
    assert res.evalb_messages() == ["1 : Words unmatch (This|this)"] and row(res)["status"] == 1
    for prm in ("EQ_WORD This this", "EQ_WORD this This"):
        r = row(run([gold], [test], prm, tmp_path))
        assert (r["status"], r["matched"]) == (0, 1)


def test_quote_label_reinserts_a_deleted_quote(tmp_path):
    # The possessive ' is POS in gold and '' (deleted) in test: 4 words against 3.
    gold = "(S (NP (NP (NNS dogs) (POS ')) (NN food)) (VP (VBZ smells)))"
    test = "(S (NP (NP (NNS dogs) ('' ')) (NN food)) (VP (VBZ smells)))"
    prm = "DELETE_LABEL ''"
    assert run([gold], [test], prm, tmp_path).evalb_messages() == ["1 : Length unmatch (4|3)"]
    # With QUOTE_LABEL both labels, fix_quote puts the test quote back at word 1 and widens the
    # brackets open around it: S[0,4] NP[0,3] NP[0,2] VP[3,4] on both sides; the tag differs.
    res = run([gold], [test], prm + "\nQUOTE_LABEL ''\nQUOTE_LABEL POS", tmp_path)
    assert res.evalb_messages() == []
    assert line_of(res, 1) == "   1    4    0  100.00 100.00     4      4    4      0      4     3    75.00"


def test_debug_1_prints_the_sentence_dump(tmp_path):
    test = "(S (NP (DT a)) (VP (NN b) (VB c)))"  # NP[0,1] VP[1,3]: VP crosses gold NP[0,2]
    res = run([G3], [test], "DEBUG 1", tmp_path)
    lines = res.report.splitlines()
    assert lines[3] == "   1    3    0   33.33  33.33     1      3    3      1      3     3   100.00"
    t = [f"{i:3d} : 1 : {tag:<6}  {w:<16}" for i, (tag, w) in enumerate(
        [("DT", "a"), ("NN", "b"), ("VB", "c")])]
    # results after massaging: 1 matched, 0 unmatched
    b1 = [(1, 0, 3, "S"), (0, 0, 2, "NP"), (0, 2, 3, "VP")]
    b2 = [(1, 0, 3, "S"), (0, 0, 1, "NP"), (0, 1, 3, "VP")]
    assert lines[4:14] == [
        "-<1>---(wn1=  3, bn1=  3)-           -<2>---(wn2=  3, bn2=  3)-",
        *(x + "      " + x for x in t),
        "",
        *(f"{i:3d} : {a[0]} : {a[1]:3d}  {a[2]:3d}  {a[3]:<6}      "
          f"{i:3d} : {b[0]} : {b[1]:3d}  {b[2]:3d}  {b[3]:<6}" for i, (a, b) in enumerate(zip(b1, b2))),
        "",
        "========",
    ]


def test_debug_2_reports_brackets(tmp_path):
    test = "(S (X (DT a) (NN b)) (VP (NN c)))"
    res = run([G3], [test], "DEBUG 2", tmp_path)
    lines = res.report.splitlines()
    assert "label=S, word=, wid=0" in lines and "label=DT, word=a, wid=0" in lines
    # gold NP[0,2] meets test X[0,2]: a label mismatch, shown with the gold text after the label
    assert "  LABEL[0-1]:  (DT a) (NN b)" in lines
    assert "  EXTRA" not in res.report and "  BRACKET" not in res.report
    assert "1.res=0, 2.res=0, 1.start=0, 2.start=0, 1.end=3, 2.end=3" in lines


def test_max_error_scores_everything_and_says_where_evalb_stops(tmp_path):
    gold = [G3] * 4
    test = ["(S (NP (DT x) (NN b)) (VP (VB c)))"] * 3 + [G3]
    res = run(gold, test, "MAX_ERROR 1", tmp_path)
    # evalb.c exits on the error that finds its counter already above MAX_ERROR: the 3rd.
    assert res.evalb_stop_sentence == 3
    assert "MAX_ERROR (1)" in res.evalb_stop_reason
    assert len(res.evalb_messages()) == 3
    s = res.summary()["all"]
    assert (s["sentences"], s["error_sentences"], s["valid_sentences"], s["f1"]) == (4, 3, 1, 100.0)
    assert "=== Summary ===" in res.report
    assert run(gold, test, "MAX_ERROR 2", tmp_path).evalb_stop_sentence is None


# ---------------------------------------------------------------- matching rules


def test_duplicate_brackets_are_a_multiset(tmp_path):
    gold = "(S (NP (NP (NN a)) (PP (IN b) (NN c))))"        # S NP[0,3] NP[0,1] PP
    test = "(S (NP (NP (NP (NN a)) (PP (IN b) (NN c)))))"   # NP[0,3] twice
    res = run([gold], [test], "", tmp_path)
    r = row(res)
    assert (r["matched"], r["gold_brackets"], r["test_brackets"]) == (4, 4, 5)
    assert summary_line(res, "Bracketing Precision") == "Bracketing Precision      =  80.00"
    assert summary_line(res, "Complete match") == "Complete match            =   0.00"
    # and the other way round: only one of two gold copies can be matched
    r = row(run([test], [gold], "", tmp_path))
    assert (r["matched"], r["gold_brackets"], r["test_brackets"]) == (4, 5, 4)


def test_crossing_counts_test_brackets(tmp_path):
    gold = "(S (A (P a) (Q b)) (B (R c) (T d)))"      # A[0,2] B[2,4]
    test = "(S (P a) (X (Q b) (R c)) (T d))"           # X[1,3] crosses both, counts once
    res = run([gold], [test], "", tmp_path)
    assert row(res)["crossing"] == 1
    test2 = "(S (Y (P a) (Q b) (R c)) (T d))"           # Y[0,3] crosses B only
    test3 = "(S (P a) (Z (Q b) (R c) (T d)))"           # Z[1,4] crosses A only
    test4 = "(S (W (P a) (Q b) (R c) (T d)))"           # W[0,4] = S span: no crossing
    res = run([gold] * 4, [test, test2, test3, test4], "", tmp_path)
    assert [r["crossing"] for r in res.per_sentence()] == [1, 1, 1, 0]
    assert summary_line(res, "Average crossing") == "Average crossing          =   0.75"
    assert summary_line(res, "No crossing") == "No crossing               =  25.00"
    assert summary_line(res, "2 or less crossing") == "2 or less crossing        = 100.00"


def test_unary_chain_over_one_word_and_root_wrapper(tmp_path):
    # "( (S ...) )": the unlabeled root is a bracket with label "" like any other.
    res = run(["( (S (NN a) (VB b)) )"], ["( (S (NN a) (VB b)) )"], "", tmp_path)
    assert row(res)["gold_brackets"] == 2 and row(res)["matched"] == 2


# ---------------------------------------------------------------- errors, skips, errors-as-zero


def test_skip_error_missing_and_errors_as_zero(tmp_path):
    gold = [G3] * 5
    test = [G3,                                    # 1 valid 3/3
            "",                                    # 2 skip (empty prediction)
            "(S (NP (DT a)) (VP (VB c)))",         # 3 error: Length unmatch (3|2)
            "(S (X (DT a) (NN b)) (VP (VB c)))"]   # 4 valid 2/3 ; 5 has no test line
    res = run(gold, test, "", tmp_path)
    assert res.evalb_messages() == [
        "3 : Length unmatch (3|2)",
        "5 : Number of lines unmatch (too many lines in gold file)"]
    assert [r["status_name"] for r in res.per_sentence()] == ["valid", "skip", "error", "valid",
                                                              "missing"]
    assert line_of(res, 2) == "   2    3    2    0.00   0.00     0      0    0      0      0     0     0.00"
    a = res.summary()["all"]
    assert (a["sentences"], a["valid_sentences"], a["error_sentences"], a["skip_sentences"],
            a["missing_sentences"]) == (4, 2, 1, 1, 1)
    # EVALB: matched 5 of 6 gold, 6 test
    assert (a["matched"], a["gold_brackets"], a["test_brackets"]) == (5, 6, 6)
    assert a["f1"] == pytest.approx(500 / 6)
    # errors as zero: gold 3+3+3+3+3 = 15, test 3 + 0 (skip) + 3 (its own brackets) + 3 + 0 = 9
    assert (a["gold_brackets_errors_as_zero"], a["test_brackets_errors_as_zero"]) == (15, 9)
    assert a["recall_errors_as_zero"] == pytest.approx(100 * 5 / 15)
    assert a["precision_errors_as_zero"] == pytest.approx(100 * 5 / 9)
    assert a["f1_errors_as_zero"] == pytest.approx(100 * 10 / 24)


def test_errors_as_zero_equals_evalb_when_all_valid(tmp_path):
    res = run([G3, G3], [G3, "(S (X (DT a) (NN b)) (VP (VB c)))"], "", tmp_path)
    a = res.summary()["all"]
    assert a["f1_errors_as_zero"] == a["f1"] and a["recall_errors_as_zero"] == a["recall"]


def test_too_many_test_lines(tmp_path):
    res = run([G3], [G3, G3], "", tmp_path)
    assert res.evalb_messages() == ["2 : Number of lines unmatch (too many lines in test file)"]
    assert res.summary()["all"]["f1"] == 100.0


def test_unbalanced_brackets_are_errors(tmp_path):
    res = run([G3, G3], ["(S (NP (DT a) (NN b)) (VP (VB c))", G3], "", tmp_path)
    assert res.evalb_messages() == ["1 : Bracketing is unbalanced (too many open bracket)"]
    assert row(res)["status"] == 1 and res.summary()["all"]["valid_sentences"] == 1
    # An unmatched ')' is undefined behaviour in evalb.c: reported and ignored here.
    res = evaluate([G3], [G3 + ")"], params())
    assert res.evalb_messages() == ["1 : Bracketing unbalance (too many close bracket)"]
    assert row(res)["status"] == 1 and row(res)["matched"] == 3


def test_unreadable_two_word_preterminal_is_scored_not_fatal():
    # CRAFT-style "(NN Xpd TTD)": evalb.c reports it, then loops until MAX_ERROR kills the run.
    tree = "(S (NP (NN Xpd TTD)) (VP (VB go)))"
    res = evaluate([tree, G3], [tree, G3], params())
    assert res.evalb_messages() == ["1 : More than two elements in a bracket"] * 2
    r = row(res)
    # both words are read (as NN); the two-word "preterminal" is not counted as a constituent
    assert (r["status"], r["words"], r["gold_brackets"], r["matched"]) == (1, 3, 3, 3)
    assert res.evalb_stop_sentence == 1 and "Reading sentence" in res.evalb_stop_reason
    assert res.summary()["all"]["valid_sentences"] == 1
    assert any("mckd scored every sentence" in n for n in res.notes())


def test_words_outside_brackets():
    res = evaluate([G3], ["a b c"], params())
    assert res.evalb_messages() == ["1 : Reading sentence", "1 : Words unmatch (a|a)"] or \
        res.evalb_messages()[0] == "1 : Reading sentence"
    assert row(res)["status"] == 1 and res.evalb_stop_sentence == 1


def test_nothing_matched_prints_nan_like_evalb(tmp_path):
    res = run(["(X (P a))"], ["(Y (P a))"], "", tmp_path)
    assert summary_line(res, "Bracketing FMeasure").endswith("nan")
    assert res.summary()["all"]["f1"] == 0.0


def test_empty_inputs(tmp_path):
    res = run([], [], "", tmp_path)
    assert res.summary()["all"]["sentences"] == 0
    assert res.report.splitlines()[3:5] == ["=" * 76, "      0     0     0.00"]


def test_no_fixed_limits(tmp_path):
    # 500 words and 500 brackets in one line (stock evalb: 200 and 200).
    words = [f"w{i}" for i in range(500)]
    tree = "(S " + " ".join(f"(NP (NN {w}))" for w in words) + ")"
    res = run([tree], [tree], "", tmp_path)
    r = row(res)
    assert (r["words"], r["gold_brackets"], r["matched"]) == (500, 501, 501)
    assert r["beyond_evalb_limits"] and "500 words > 200" in res.limit_notes[0][1]


def test_deep_nesting_no_recursion():
    depth = 100_000
    tree = "(X " * depth + "(NN a)" + ")" * depth
    res = evaluate([tree], [tree], params(), report=False)
    assert row(res)["matched"] == depth


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="() \tabXY-=\u00e9'\"/", max_size=40), min_size=0, max_size=6),
       st.lists(st.text(alphabet="() \tabXY-=\u00e9'\"/", max_size=40), min_size=0, max_size=6),
       st.sampled_from(["", "DEBUG 2", "DELETE_LABEL X\nQUOTE_LABEL X\nDEBUG 1", "LABELED 0"]))
def test_garbage_never_crashes(gold, test, prm):
    gold = [g.replace("\n", " ") for g in gold]
    test = [t.replace("\n", " ") for t in test]
    res = evaluate(gold, test, params(prm))
    assert res.report.rstrip("\n").splitlines()[-1].startswith("Tagging accuracy")
    rows = res.per_sentence()
    assert len(rows) == len(gold)
    s = res.summary()["all"]
    assert s["sentences"] == min(len(gold), len(test))
    assert s["missing_sentences"] == max(0, len(gold) - len(test))


# ---------------------------------------------------------------- parameter files


@pytest.mark.parametrize("text,line,what", [
    ("DEBUG 0\n\n# comment\nLABELLED 1\n", 4, "unknown keyword 'LABELLED'"),
    ("LABELED yes\n", 1, "LABELED needs an integer value, got 'yes'"),
    ("MAX_ERROR 10x\n", 1, "needs an integer"),
    ("EQ_LABEL ADVP\n", 1, "EQ_LABEL takes two labels, got 1"),
    ("DELETE_LABEL TOP # the root\n", 1, "DELETE_LABEL takes one label, got 4"),
    ("CUTOFF_LEN\n", 1, "CUTOFF_LEN has no value"),
    ("EQ_WORD a b c\n", 1, "EQ_WORD takes two words"),
])
def test_bad_prm_names_file_and_line(tmp_path, text, line, what):
    p = tmp_path / "bad.prm"
    p.write_text(text)
    with pytest.raises(MckdError) as e:
        load_params(p)
    assert f"bad.prm:{line}: " in str(e.value) and what in str(e.value)


def test_prm_comments_blank_and_short_lines(tmp_path):
    p = tmp_path / "ok.prm"
    p.write_text("# c\n\n   \nDEBUG 1\nxx\n  LABELED 0  \nEQ_WORD\tA a\n")
    prm = load_params(p)
    assert (prm.debug, prm.labeled, prm.eq_word) == (1, 0, [("A", "a")])


def test_missing_prm_file(tmp_path):
    with pytest.raises(MckdError, match="nope.prm: cannot read parameter file"):
        load_params(tmp_path / "nope.prm")


# ---------------------------------------------------------------- façade and real data


def test_evalb_score_unlabeled_does_not_touch_callers_params():
    prm = params("LABELED 1")
    ev = evalb_score([G3], ["(S (X (DT a) (NN b)) (VP (VB c)))"], prm, labeled=False)
    assert ev["all"]["f1"] == 100.0 and prm.labeled == 1
    assert evalb_score([G3], ["(S (X (DT a) (NN b)) (VP (VB c)))"])["all"]["matched"] == 2


def test_bytes_and_non_utf8_words():
    gold = [b"(S (NN caf\xe9) (VB x))"]
    res = evaluate(gold, [b"(S (NN caf\xe9) (VB y))"], params())
    assert res.evalb_messages() == ["1 : Words unmatch (x|y)"]
    res = evaluate(gold, [b"(S (NN cafe) (VB x))"], params())
    assert res.problems()[0]["message"] == "Words unmatch (caf\udce9|cafe)"


def test_treebank_reader(shared_data, tmp_path):
    trees, starts = read_tree_file(shared_data / "ptb-sample" / "wsj_0001.mrg", treebank=True)
    assert len(trees) == 2 and starts == [2, 17]  # line 1 is blank
    assert trees[1].startswith(b"( (S (NP-SBJ (NNP Mr.) (NNP Vinken) )")
    res = evaluate(shared_data / "ptb-sample" / "wsj_0001.mrg",
                   shared_data / "ptb-sample" / "wsj_0001.mrg", treebank=True)
    assert res.summary()["all"]["sentences"] == 2 and res.summary()["all"]["f1"] == 100.0


def test_craft_gold_against_itself(craft_dir):
    trees: list[bytes] = []
    for f in sorted(craft_dir.glob("*.tree")):
        trees += [t for t in read_tree_file(f)[0] if t.strip()]
    assert len(trees) == 30830
    t0 = time.perf_counter()
    res = evaluate(trees, trees)  # COLLINS.prm settings
    elapsed = time.perf_counter() - t0
    a = res.summary()["all"]
    assert (a["sentences"], a["valid_sentences"], a["error_sentences"]) == (30830, 30830, 0)
    assert a["f1"] == a["tagging_accuracy"] == a["complete_match"] == 100.0
    assert a["f1_errors_as_zero"] == 100.0
    assert res.evalb_messages() == []
    # the trees that crash stock EVALB are scored and named
    assert len(res.limit_notes) >= 1 and all("evalb.c would overflow" in n for _, n in res.limit_notes)
    print(f"CRAFT vs itself: {len(trees)} trees in {elapsed:.3f} s")
