"""delinearize(): repairing predicted linearizations into a tree over exactly the input words."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mckd import trees as T
from mckd.errors import MckdError

W = ["The", "dog", "barked"]
GOOD = {
    "unlabeled": "( ( ( The ) ( dog ) ) ( barked ) )",
    "labeled": "(S (NP (DT The) (NN dog)) (VP (VBD barked)))",
    "skeleton": "(S (NP DT NN) (VP VBD))",
}
PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fix(pred: str, fmt: str = "unlabeled", words=W):
    r = T.delinearize(pred, words, fmt)
    t = r.as_tree()
    t.check()
    assert t.words == list(words)  # the one promise delinearize always keeps
    return r, t


def spans(t):
    return [(a, b) for _, a, b in t.spans()]


# ---------------------------------------------------------------- well-formed input


@pytest.mark.parametrize("fmt", T.FORMATS)
def test_correct_prediction_is_not_repaired(fmt):
    r, t = fix(GOOD[fmt], fmt)
    assert r.ok and not r.repaired and r.problems == []
    assert spans(t) == [(0, 3), (0, 2)] if fmt == "unlabeled" else [(0, 3), (0, 2), (2, 3)]
    if fmt != "unlabeled":
        assert t.to_string() == GOOD["labeled"]
        assert r.tree == GOOD["labeled"]
    else:
        assert r.tree == GOOD["unlabeled"]


def test_many_equals_one_by_one():
    preds = [GOOD["unlabeled"], "( ( The ) ( dog )", "", "junk"]
    many = T.delinearize_many(preds, [W] * 4, "unlabeled")
    for p, m in zip(preds, many):
        one = T.delinearize(p, W, "unlabeled")
        assert (m.tree, m.ok, m.repaired, m.problems) == \
            (one.tree, one.ok, one.repaired, one.problems)


# ---------------------------------------------------------------- brackets


def test_missing_close_brackets_are_appended():
    r, t = fix("( ( ( The ) ( dog ) ( barked )")
    assert r.ok and r.repaired
    assert r.problems == ["added 2 missing ')'"]
    assert spans(t) == [(0, 3), (0, 3)]  # both unclosed brackets span everything


def test_extra_close_brackets_are_dropped():
    r, t = fix("(S (NP (DT The) (NN dog)) (VP (VBD barked))))))", "labeled")
    assert r.ok and r.repaired
    assert r.problems == ["removed 3 extra ')'"]
    assert t.to_string() == GOOD["labeled"]


def test_early_close_splits_into_trees_joined_under_a_new_root():
    r, t = fix("( ( The ) ( dog ) ) ) ( barked ) )")
    assert r.ok
    assert r.problems == ["removed 2 extra ')'", "joined 2 top-level trees under a new root"]
    assert spans(t) == [(0, 3), (0, 2)]


def test_text_outside_brackets_is_dropped():
    r, t = fix("Output: ( ( ( The ) ( dog ) ) ( barked ) ) done", "unlabeled")
    assert r.ok and "dropped 2 tokens outside the brackets" in r.problems
    assert spans(t) == [(0, 3), (0, 2)]


def test_empty_brackets_are_removed():
    r, t = fix("( ( ) ( ( The ) ( dog ) ) ( barked ) )")
    assert r.ok and "removed 1 empty constituent" in r.problems
    assert spans(t) == [(0, 3), (0, 2)]


# ---------------------------------------------------------------- words


def test_wrong_word_is_replaced_by_position():
    r, t = fix("( ( ( The ) ( cat ) ) ( barked ) )")
    assert r.ok and r.repaired
    assert r.problems == ["1 word differs from the input, replaced by position "
                          "(first: leaf 2 'cat' -> 'dog')"]
    assert spans(t) == [(0, 3), (0, 2)]


def test_surplus_leaves_are_dropped():
    r, t = fix("( ( ( The ) ( dog ) ) ( barked ) ( loudly ) ( now ) )")
    assert r.ok and r.problems == ["dropped 2 surplus leaves (prediction has 5, input has 3)"]
    assert spans(t) == [(0, 3), (0, 2)]


def test_missing_words_are_attached_to_the_root():
    r, t = fix("( ( The ) ( dog ) )")
    assert r.ok and r.problems == ["attached 1 missing word at the end of the root"]
    assert spans(t) == [(0, 3)]
    assert t.tags == ["", "", ""]
    _, lab = fix("(S (NP (DT The) (NN dog)))", "labeled")
    assert lab.to_string() == "(S (NP (DT The) (NN dog)) (XX barked))"


def test_skeleton_with_too_many_placeholders():
    r, t = fix("(S (NP DT NN) (VP VBD (NP DT NN)))", "skeleton")
    assert r.ok and r.problems == ["removed 1 empty constituent",
                                   "dropped 2 surplus leaves (prediction has 5, input has 3)"]
    # The emptied NP disappears; the first three placeholders become the tags.
    assert t.to_string() == GOOD["labeled"]


def test_skeleton_with_too_few_placeholders():
    r, t = fix("(S (NP DT) (VP VBD))", "skeleton")
    assert r.ok and r.problems == ["attached 1 missing word at the end of the root"]
    assert t.to_string() == "(S (NP (DT The)) (VP (VBD dog)) (XX barked))"


def test_skeleton_bracketed_placeholders():
    r, t = fix("(S (NP (DT) (NN)) (VP VBD))", "skeleton")
    assert r.ok and r.problems == ["read 2 bracketed placeholders"]
    assert t.to_string() == GOOD["labeled"]


def test_skeleton_single_word_without_brackets():
    r, t = fix("NN", "skeleton", ["dog"])
    assert r.ok and not r.repaired and t.to_string() == "(NN dog)"


def test_labeled_bare_word_and_multiword_preterminal():
    r, t = fix("(S (NP (DT The) dog) (VP (VBD barked)))", "labeled")
    assert r.problems == ["1 bare word wrapped as a leaf"] and t.tags == ["DT", "XX", "VBD"]
    r, t = fix("(S (NP The dog) (VP (VBD barked)))", "labeled")
    assert r.problems == ["split 1 multi-word preterminal"] and t.tags == ["NP", "NP", "VBD"]


# ---------------------------------------------------------------- unusable predictions


@pytest.mark.parametrize("fmt", T.FORMATS)
@pytest.mark.parametrize("pred, problem", [
    ("", "empty prediction; using a flat tree"),
    ("  \n\t", "empty prediction; using a flat tree"),
    ("I cannot parse this sentence.", "no brackets in the prediction; using a flat tree"),
    ("))))((((", "no words in the prediction; using a flat tree"),
    ("( ( ) ( ) )", "no words in the prediction; using a flat tree"),
])
def test_unusable_prediction_gives_flat_tree(pred, problem, fmt):
    r, t = fix(pred, fmt)
    assert not r.ok and r.repaired
    assert r.problems[-1] == problem
    assert spans(t) == [(0, 3)]
    assert t.tags == (["", "", ""] if fmt == "unlabeled" else ["XX", "XX", "XX"])


def test_garbage_characters_are_dropped():
    r, t = fix("( ( ( The\x00 ) ( dog\x07 ) ) ( barked\udc80 ) )")
    assert r.ok and r.problems[0] == "dropped 2 invalid or control characters"
    assert spans(t)[0] == (0, 3)


def test_deep_garbage_does_not_crash():
    r, t = fix("(" * 100_000 + " The dog barked", "unlabeled")
    assert r.ok and r.problems[0] == "added 100000 missing ')'"
    r, _ = fix(")" * 100_000 + "(" * 100_000, "labeled")
    assert not r.ok


def test_bad_words_are_errors():
    with pytest.raises(MckdError, match="no words"):
        T.delinearize("( a )", [], "unlabeled")
    with pytest.raises(MckdError, match="input word 2 'b c' contains whitespace"):
        T.delinearize("( a )", ["a", "b c"], "unlabeled")
    with pytest.raises(MckdError, match="unknown tree format"):
        T.delinearize("( a )", ["a"], "dependency")


# ---------------------------------------------------------------- properties

TOKENS = ["The", "dog", "é", "x1", "-LRB-", "NN", "XX", "ü漢", "a.b", "''", "10,000"]
WORDS = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12)
PIECES = st.sampled_from(["(", ")", " ", "  ", "( ", " )", "(NP ", "(S", "NN", "\x01", "\t", "\n",
                          "\u00a0", "()", "(DT)", "\udc80", "é"] + TOKENS)
PRED = st.lists(PIECES, max_size=40).map("".join)


@PROPS
@given(pred=PRED, words=WORDS, fmt=st.sampled_from(T.FORMATS))
def test_property_delinearize_always_gives_a_tree_over_the_words(pred, words, fmt):
    r, t = fix(pred, fmt, words)
    assert r.repaired == bool(r.problems)
    assert r.ok or r.repaired
    # The text form reads back (strictly) as a tree over the same words.
    assert T.parse_tree(r.tree).words == words


@PROPS
@given(text=PRED)
def test_property_strict_reader_returns_a_valid_tree_or_a_clear_error(text):
    try:
        t = T.parse_tree(text, "prop")
    except MckdError as e:
        assert str(e).startswith("prop: ")
        return
    t.check()
    assert T.parse_tree(t.to_string()) == t
    assert " ".join(t.words).split() == t.words


def trees(max_leaves: int = 12):
    """Random labeled trees in PTB notation (every word has a POS tag)."""
    leaf = st.tuples(st.sampled_from(["DT", "NN", "VBD", "-LRB-", "PRP$", "."]),
                     st.sampled_from(TOKENS)).map(lambda p: f"({p[0]} {p[1]})")
    return st.recursive(
        leaf,
        lambda kids: st.tuples(st.sampled_from(["S", "NP", "VP", "PP", "SBAR"]),
                               st.lists(kids, min_size=1, max_size=4))
        .map(lambda p: f"({p[0]} {' '.join(p[1])})"),
        max_leaves=max_leaves)


@PROPS
@given(src=trees(), fmt=st.sampled_from(T.FORMATS))
def test_property_linearize_then_delinearize_is_identity(src, fmt):
    t = T.parse_tree(src)
    lin = T.linearize(t, fmt)
    r, back = fix(lin, fmt, t.words)
    assert r.ok and not r.repaired, r.problems
    if fmt == "unlabeled":
        assert back == T.parse_tree(lin)
        assert {(a, b) for a, b in spans(back)} == {(a, b) for a, b in spans(t) if b - a >= 2}
    else:
        assert back == t


def mutate(s: str, ops) -> str:
    for kind, pos, piece in ops:
        i = pos % (len(s) + 1)
        if kind == "insert":
            s = s[:i] + piece + s[i:]
        elif kind == "delete":
            s = s[:i] + s[i + 1:]
        else:  # cut the tail, as a length-limited decoder would
            s = s[:i]
    return s


MUTATIONS = st.lists(st.tuples(st.sampled_from(["insert", "delete", "truncate"]),
                               st.integers(0, 10_000),
                               st.sampled_from(["(", ")", " ", "(NP ", "NN", "zz", "( x )"])),
                     min_size=1, max_size=6)


@PROPS
@given(src=trees(), fmt=st.sampled_from(T.FORMATS), ops=MUTATIONS)
def test_property_mutated_linearization_keeps_the_words(src, fmt, ops):
    t = T.parse_tree(src)
    pred = mutate(T.linearize(t, fmt), ops)
    r, back = fix(pred, fmt, t.words)
    assert r.repaired == bool(r.problems)
    if r.ok:
        assert back.n_nodes >= 1 or back.n_words == 1
