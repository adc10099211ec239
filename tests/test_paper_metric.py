"""The MCKD paper's metric (mckd.metrics.paper.paper_f1): every expected value is worked out by hand."""

from __future__ import annotations

import pytest

from mckd import _core
from mckd import trees as T
from mckd.errors import MckdError
from mckd.metrics.paper import PAPER_WORD_TAGS, paper_f1

# Gold spans over the words a b c: S[0,3] NP[0,2] (VP[2,3] has one word: not a span).
G3 = "(S (NP (DT a) (NN b)) (VP (VBD c)))"
# Gold spans over a b c d e: S[0,5] NP[0,2] VP[2,5] NP[3,5].
G5 = "(S (NP (DT a) (NN b)) (VP (VBD c) (NP (DT d) (NN e))))"


def one(gold: str, pred: str) -> tuple[float, str]:
    r = paper_f1([gold], [pred])
    assert r["n"] == 1 and r["f1"] == pytest.approx(r["per_sentence"][0])
    return r["per_sentence"][0], r["status"][0]


def test_identical_prediction_scores_100():
    assert one(G3, "( ( ( a ) ( b ) ) ( c ) )") == (100.0, "ok")
    assert one(G5, "( ( ( a ) ( b ) ) ( ( c ) ( ( d ) ( e ) ) ) )") == (100.0, "ok")
    assert one(G5, "( ( ( a ) ( b ) ) ( ( c ) ( ( d ) ( e ) ) ) )") == (100.0, "ok")


def test_labels_of_the_prediction_are_read_as_words():
    # The authors read predictions with every "(" unlabeled (has_tags=False): a labeled tree
    # has too many words and scores 0. The metric is for the paper's unlabeled format.
    assert one(G5, G5) == (0.0, "length_mismatch")
    assert one(G3, "(X (Y (NN a) (NN b)) (Z (NN c)))") == (0.0, "length_mismatch")


def test_partial_match_f1():
    # Predicted spans [0,5] [0,3] [3,5]; gold [0,5] [0,2] [2,5] [3,5]; correct [0,5] [3,5].
    # P = 2/3, R = 2/4, F1 = 2PR/(P+R) = 4/7.
    f1, status = one(G5, "( ( ( a ) ( b ) ( c ) ) ( ( d ) ( e ) ) )")
    assert status == "ok" and f1 == pytest.approx(100 * 4 / 7)


def test_whole_sentence_span_counts():
    # A flat prediction has only the whole-sentence span [0,3]: P = 1/1, R = 1/2, F1 = 2/3.
    assert one(G3, "( ( a ) ( b ) ( c ) )")[0] == pytest.approx(100 * 2 / 3)
    # A two-word sentence has exactly one span, the whole sentence.
    assert one("(S (NN a) (VBD b))", "( ( a ) ( b ) )") == (100.0, "ok")


def test_spans_are_a_set():
    # The unary chain repeats [0,2]; as a set the prediction is {[0,3], [0,2]}, equal to gold.
    assert one(G3, "( ( ( ( ( a ) ( b ) ) ) ) ( c ) )")[0] == 100.0
    assert one("(S (NP (NP (DT a) (NN b))) (VP (VBD c)))", "( ( ( a ) ( b ) ) ( c ) )")[0] == 100.0


def test_single_word_spans_are_not_counted():
    # Predicted [0,3] [1,3] plus the one-word [0,1] bracket; gold [0,3] [0,2].
    # Correct: [0,3]. P = 1/2, R = 1/2, F1 = 1/2.
    assert one(G3, "( ( ( a ) ) ( ( b ) ( c ) ) )")[0] == pytest.approx(50.0)


def test_sentence_without_spans_scores_zero():
    # One word: no span on either side; the paper's code scores it 0.
    assert one("(S (NN a))", "( a )") == (0.0, "ok")
    # Two words of which one is punctuation: again a single kept word.
    assert one("(S (NN a) (. .))", "( ( a ) ( . ) )") == (0.0, "ok")


def test_punctuation_removed_by_gold_pos():
    gold = "(S (NP (DT a) (NN b)) (, ,) (VP (VBD c)) (. .))"  # words: a b , c .
    # Raw predicted spans [0,5] [0,3] [3,5]. Keeping only a b c: [0,5]->[0,3], [0,3]->[0,2],
    # [3,5]->[2,3] (one word, dropped). {[0,3], [0,2]} equals gold's {[0,3], [0,2]}.
    assert one(gold, "( ( ( a ) ( b ) ( , ) ) ( ( c ) ( . ) ) )") == (100.0, "ok")
    # What the prediction calls a word does not matter: the gold tag at each position decides.
    assert one(gold, "( ( ( a ) ( b ) ( x ) ) ( ( c ) ( y ) ) )") == (100.0, "ok")


def test_non_word_tags_are_removed():
    assert "NN" in PAPER_WORD_TAGS and "PRP$" in PAPER_WORD_TAGS
    for tag in [",", ".", ":", "``", "''", "-LRB-", "-RRB-", "$", "#", "-NONE-", "HYPH", "AFX"]:
        assert tag not in PAPER_WORD_TAGS
    # "$" and "#" are removed: the gold spans over a b c are [0,3] and [1,3] only.
    gold = "(S (NN a) (NP ($ $) (CD b) (# #) (CD c)))"
    assert one(gold, "( ( a ) ( ( $ ) ( b ) ( # ) ( c ) ) )") == (100.0, "ok")
    # Grouping "$ b" and "# c" leaves one-word spans once $ and # are gone:
    # predicted [0,5] [1,3] [3,5] -> [0,3] [1,2] (dropped) [2,3] (dropped); gold [0,3] [1,3].
    assert one(gold, "( ( a ) ( ( $ ) ( b ) ) ( ( # ) ( c ) ) )")[0] == pytest.approx(100 * 2 / 3)


def test_missing_close_bracket_is_appended():
    assert one(G3, "( ( ( a ) ( b ) ) ( c )") == (100.0, "ok")
    assert one(G3, "( ( ( a ) ( b ) ) ( c") == (100.0, "ok")
    assert _core.paper_fixup("a b", "( ( a ) ( b )") == "( ( a ) ( b ) )"


def test_extra_trailing_close_brackets_are_removed():
    assert one(G3, "( ( ( a ) ( b ) ) ( c ) ) ) )") == (100.0, "ok")
    # only an exact trailing " )" is dropped: trailing spaces or "))" stop the repair
    assert _core.paper_fixup("a", "( a ) ) )") == "( a )"
    assert _core.paper_fixup("a", "( a ) ) )  ") == "( a ) ) )"
    assert _core.paper_fixup("a", "( a )))") == "( a )))"
    assert one(G3, "( ( ( a ) ( b ) ) ( c ) ))") == (0.0, "unparseable")


def test_no_other_repair():
    # The extra ')' is in the middle: fixing the end leaves "( ( a ) ) ( b ) ( c )", which
    # still has text after the first tree.
    assert one(G3, "( ( a ) ) ( b ) ( c ) )") == (0.0, "unparseable")
    # Empty brackets are read (nltk takes "( )" as an empty subtree) and hold no word.
    assert one(G3, "( ( ( a ) ( b ) ) ( c ) ( ) )") == (100.0, "ok")


@pytest.mark.parametrize("pred", ["", "   ", "no tree here", ")(", "( a ) ( b ) ( c )"])
def test_unparseable_scores_zero(pred):
    assert one(G3, pred) == (0.0, "unparseable")


def test_length_mismatch_scores_zero():
    assert one(G3, "( ( a ) ( b ) )") == (0.0, "length_mismatch")
    assert one(G3, "( ( a ) ( b ) ( c ) ( d ) )") == (0.0, "length_mismatch")
    # Their quirk: words are removed by *position* with the gold mask, so a prediction that
    # only lacks the trailing punctuation has the right count and scores; the strict variant
    # does not accept it.
    assert one("(S (NN a) (VBD b) (. .))", "( ( a ) ( b ) )") == (100.0, "ok")
    assert paper_f1(["(S (NN a) (VBD b) (. .))"], ["( ( a ) ( b ) )"], strict=True)["status"] \
        == ["length_mismatch"]


def test_only_the_word_count_is_compared():
    # Like the paper's script, words are not matched, only counted.
    assert one(G3, "( ( ( x ) ( y ) ) ( z ) )") == (100.0, "ok")


def test_average_over_sentences_keeps_failures():
    gold = [G3, G5, G3, G3]
    pred = ["( ( ( a ) ( b ) ) ( c ) )",                     # 100
            "( ( ( a ) ( b ) ( c ) ) ( ( d ) ( e ) ) )",     # 400/7
            "( ( ( a ) ( b ) ) ( c )",                        # fixed up: 100
            "( ( a ) ( b ) )"]                                # length mismatch: 0
    r = paper_f1(gold, pred)
    assert r["per_sentence"] == pytest.approx([100.0, 400 / 7, 100.0, 0.0])
    # Per-sentence average, not the corpus-level (micro) F1.
    assert r["f1"] == pytest.approx((200 + 400 / 7) / 4)
    assert r["status"] == ["ok", "ok", "ok", "length_mismatch"]
    assert (r["n"], r["n_failed"], r["n_unparseable"], r["n_length_mismatch"]) == (4, 1, 0, 1)


def test_empty_input_and_errors():
    assert paper_f1([], [])["f1"] == 0.0
    with pytest.raises(MckdError, match="2 gold trees, 1 predictions"):
        paper_f1([G3, G3], [G3])
    with pytest.raises(MckdError, match="gold tree 2"):
        paper_f1([G3, "(S (NN a)"], [G3, G3])


def test_gold_linearized_scores_100_on_craft(craft_dir):
    gold = []
    for p in sorted(craft_dir.glob("*.tree"))[:10]:
        gold.extend(T.clean(t) for t in T.read_trees(p))
    r = paper_f1([t.to_string() for t in gold], T.linearize_many(gold, "unlabeled"))
    assert r["n_failed"] == 0
    for t, f1 in zip(gold, r["per_sentence"]):
        kept = sum(tag in PAPER_WORD_TAGS for tag in t.tags)
        # no scored word: their code raises, the sentence is left out; one word: no span, 0
        assert f1 == (100.0 if kept >= 2 else 0.0 if kept == 1 else None)
    strict = paper_f1([t.to_string() for t in gold], T.linearize_many(gold, "unlabeled"), strict=True)
    assert strict["n_failed"] == 0 and strict["n_excluded"] == 0


def test_reference_structures_by_hand():
    from mckd.metrics.score import reference_scores, reference_tree

    w = ["a", "b", "c", "d", "e"]
    assert reference_tree(w, "right-branching") == \
        "( ( a ) ( ( b ) ( ( c ) ( ( d ) ( e ) ) ) ) )"
    assert reference_tree(w, "left-branching") == \
        "( ( ( ( ( a ) ( b ) ) ( c ) ) ( d ) ) ( e ) )"
    assert reference_tree(w, "flat") == "( ( a ) ( b ) ( c ) ( d ) ( e ) )"
    assert reference_tree(["a"], "right-branching") == "( ( a ) )"
    with pytest.raises(MckdError, match="unknown reference structure"):
        reference_tree(w, "middle-out")
    # G5 spans [0,5] [0,2] [2,5] [3,5]; right-branching gives [0,5] [1,5] [2,5] [3,5]:
    # 3 of 4 right both ways -> 75.  Flat gives [0,5] only: P 1, R 1/4 -> F1 40.
    gold = [{"id": "x", "words": w, "gold": G5}]
    s = reference_scores(gold)
    assert s["right-branching"]["paper_f1"] == pytest.approx(75.0)
    assert s["flat"]["paper_f1"] == pytest.approx(40.0)
    # left-branching: [0,5] [0,4] [0,3] [0,2] -> 2 of 4 -> 50
    assert s["left-branching"]["paper_f1"] == pytest.approx(50.0)


def test_eval_command_paper_json_per_sentence(tmp_path, capsys):
    import json

    from mckd.cli import main

    g, p = tmp_path / "gold.txt", tmp_path / "pred.txt"
    g.write_text(f"{G3}\n(S (NN a) (VBD b) (. .))\n")
    p.write_text("( ( ( a ) ( b ) ) ( c ) )\n( ( a ) ( b ) )\n")
    assert main(["eval", "--metric", "paper", "--json", str(g), str(p)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["per_sentence"] == [100.0, 100.0] and out["status"] == ["ok", "ok"]
    assert main(["eval", "--metric", "paper", "--strict", "--json", str(g), str(p)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metric"] == "paper-strict" and out["per_sentence"] == [100.0, 0.0]


@pytest.mark.parametrize("metric", ["evalb", "paper"])
def test_eval_command_bad_files_get_one_clear_line(tmp_path, capsys, metric):
    from mckd.cli import main

    empty, binary, good = tmp_path / "empty", tmp_path / "binary", tmp_path / "good"
    empty.write_bytes(b"")
    binary.write_bytes(b"\x7fELF\x02\x01\x00\x00\xff\xfe(\x00\x00)")
    good.write_text(G3 + "\n")
    assert main(["eval", "--metric", metric, str(empty), str(empty)]) == 2
    assert "empty" in capsys.readouterr().err
    # a binary file: no traceback, whatever the metric says of it
    rc = main(["eval", "--metric", metric, str(binary), str(good)])
    err = capsys.readouterr().err
    assert "Traceback" not in err and (rc == 0 or "binary" in err or "tree 1" in err)


def test_score_per_sentence_is_each_sentences_own_paper_f1_and_pairs_them():
    from mckd.metrics import paired_gain, score

    def rec(i, words, gold):
        return {"id": i, "words": words, "source": " ".join(words), "gold": gold,
                "targets": {"unlabeled": ""}}

    gold = [rec("a", ["a", "b", "c"], "(S (NP (DT a) (NN b)) (VP (VBD c)))"),
            rec("b", ["d", "e", "f"], "(S (NP (DT d) (NN e)) (VP (VBD f)))")]
    right = ["( ( ( a ) ( b ) ) ( c ) )", "( ( ( d ) ( e ) ) ( f ) )"]
    rb = ["( ( a ) ( ( b ) ( c ) ) )", "( ( d ) ( ( e ) ( f ) ) )"]
    mixed = [{"id": "a", "output": right[0]}, {"id": "b", "output": rb[1]}]
    res = score(gold, mixed, "unlabeled", per_sentence=True)
    alone = [score([g], [p], "unlabeled")["paper_f1"] for g, p in zip(gold, mixed)]
    assert res["paper_f1_per_sentence"] == pytest.approx(alone) and alone[0] == 100.0
    assert res["paper_f1"] == pytest.approx(sum(alone) / 2)
    assert "paper_f1_per_sentence" not in score(gold, mixed, "unlabeled")  # only when asked
    base = score(gold, [{"id": g["id"], "output": t} for g, t in zip(gold, rb)], "unlabeled",
                 per_sentence=True)["paper_f1_per_sentence"]
    gain = paired_gain(res["paper_f1_per_sentence"], base)
    assert gain["n"] == 2 and gain["mean"] == pytest.approx((alone[0] - base[0]) / 2, abs=0.01)
    # a sentence one side leaves out is left out of the pair
    assert paired_gain([100.0, None, 50.0], [0.0, 10.0, 50.0])["n"] == 2
    with pytest.raises(MckdError, match="3 scores against 2"):
        paired_gain([1.0, 2.0, 3.0], [1.0, 2.0])
