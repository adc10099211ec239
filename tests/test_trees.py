"""The strict tree reader, the cleaning transforms and the three linearizations (mckd.trees)."""

from __future__ import annotations

import pytest

from mckd import trees as T
from mckd.errors import MckdError

SENT = "(S (NP-SBJ (DT The) (NN dog)) (VP (VBD barked)) (. .))"


def err(fn, *args) -> str:
    with pytest.raises(MckdError) as e:
        fn(*args)
    return str(e.value)


# ---------------------------------------------------------------- reading


def test_reads_labels_words_tags_and_spans():
    t = T.parse_tree(SENT)
    assert t.words == ["The", "dog", "barked", "."]
    assert t.tags == ["DT", "NN", "VBD", "."]
    assert t.spans() == [("S", 0, 4), ("NP-SBJ", 0, 2), ("VP", 2, 3)]
    assert t.parents() == [-1, 0, 0]
    assert t.n_words == 4 and t.n_nodes == 3
    assert t.to_string() == SENT
    t.check()


def test_to_string_reads_back_identically():
    for s in [SENT, "( (S (NN a)))", "( ( The) ( dog))", "(NN Abstract)"]:
        t = T.parse_tree(s)
        assert T.parse_tree(t.to_string()) == t


def test_root_wrapper_is_an_unlabeled_root():
    t = T.parse_tree("( (S (NP (NN Dogs)) (VP (VBP bark))) )")
    assert t.spans() == [("", 0, 2), ("S", 0, 2), ("NP", 0, 1), ("VP", 1, 2)]


def test_unlabeled_paper_notation():
    t = T.parse_tree("( ( The ) ( dog ) )")
    assert t.words == ["The", "dog"]
    assert t.tags == ["", ""]  # "( The )" is a leaf wrapper, not a constituent
    assert t.spans() == [("", 0, 2)]
    deep = T.parse_tree("( ( ( The ) ( dog ) ) ( ( chased ) ( ( a ) ( ball ) ) ) )")
    assert deep.spans() == [("", 0, 5), ("", 0, 2), ("", 2, 5), ("", 3, 5)]


def test_unlabeled_bracket_of_several_words_is_a_constituent():
    assert T.parse_tree("( The dog )").spans() == [("", 0, 2)]


def test_lone_preterminal_tree():
    t = T.parse_tree("(NN Abstract)")
    assert (t.words, t.tags, t.n_nodes) == (["Abstract"], ["NN"], 0)


def test_craft_two_token_preterminal_splits_per_token():
    # CRAFT joins such tokens with U+200A (a space to str.split()).
    t = T.parse_tree("(NP (NN Xpd\u200aTTD) (NN protein))")
    assert t.words == ["Xpd", "TTD", "protein"]
    assert t.tags == ["NN", "NN", "NN"]
    assert " ".join(t.words).split() == t.words


def test_unicode_whitespace_separates_tokens():
    assert T.parse_tree("(S\u00a0(NN a)\u3000(NN b))").words == ["a", "b"]


def test_treebank_one_tree_per_line():
    data = "(S (NN a))\n(S (NN b) (NN c))\n\n(S (NN d))\n"
    trees = T.parse_treebank_text(data, "x.txt")
    assert [t.words for t in trees] == [["a"], ["b", "c"], ["d"]]


def test_treebank_multi_line_trees():
    data = b"( (S (NP-SBJ (DT The)\n      (NN dog))\n  (VP (VBD ran))) )\n\n(S\n (NN x))\n"
    trees = T.parse_treebank_text(data, "x.mrg")
    assert [t.to_string() for t in trees] == [
        "( (S (NP-SBJ (DT The) (NN dog)) (VP (VBD ran))))", "(S (NN x))"]


def test_read_trees_from_file(tmp_path):
    p = tmp_path / "a.mrg"
    p.write_text("(S (NN a))\n(S\n  (NN b))\n", encoding="utf-8")
    assert [t.words for t in T.read_trees(p)] == [["a"], ["b"]]


def test_empty_treebank_has_no_trees():
    assert T.parse_treebank_text(b"", "e.txt") == []
    assert T.parse_treebank_text(" \n\n\t\n", "e.txt") == []


# ---------------------------------------------------------------- errors name file, line, tree


@pytest.mark.parametrize("text, what", [
    ("", "the text is empty"),
    ("   \t ", "the text is empty"),
    ("(S (NN a)", "')' missing"),
    ("(S (NN a)))", "text after the end of the tree"),
    ("(S (NN a)) stray", "text after the end of the tree: 'stray'"),
    ("(S (NN a)) (S (NN b))", "text after the end of the tree"),
    ("stray (S (NN a))", "expected '(' at the start of a tree"),
    ("(S (NP a) b)", "words and constituents cannot be mixed"),
    ("(S ())", "empty brackets"),
    ("(S (NN a\x01))", "control character U+0001"),
    ("(S (NN a\x7f))", "control character U+007F"),
    ("(S (NN a\x9f))", "control character U+009F"),
])
def test_parse_tree_errors(text, what):
    msg = err(T.parse_tree, text, "pred.txt")
    assert msg.startswith("pred.txt: line 1, column ")
    assert what in msg


def test_parse_tree_error_reports_line_and_column():
    msg = err(T.parse_tree, "(S\n  (NP (NN a)) b)", "f.txt")
    assert msg.startswith("f.txt: line 2, column 15: word 'b'"), msg


def test_lone_surrogate_is_rejected_in_a_tree():
    assert "lone surrogate" in err(T.parse_tree, "(S (NN a\udc80))", "f.txt")


@pytest.mark.parametrize("data, expect", [
    (b"(S (NN a))\n(S (NN b)\n(S (NN c))\n", "bank.mrg:2: tree 2: 1 ')' missing"),
    (b"(S (NN a))\n(S (NN b)))\n", "bank.mrg:2: after tree 2, column 11: unbalanced ')'"),
    (b"(S (NN a))\nfoo\n", "bank.mrg:2: after tree 1, column 1: stray text 'foo'"),
    (b"(S (NN a))\n\n(S (NN \xff))\n", "bank.mrg:3: tree 2: invalid UTF-8 byte 0xFF"),
    (b"(S (NN \xc3))\n", "bank.mrg:1: tree 1: invalid UTF-8 byte 0xC3"),
    (b"(S (NN a))\n(S (NN \x07b))\n", "bank.mrg:2: tree 2: control character U+0007"),
    (b"(S (NN a))\n(S ())\n", "bank.mrg:2: tree 2: "),
])
def test_treebank_errors_name_file_line_and_tree(data, expect):
    assert err(T.parse_treebank_text, data, "bank.mrg").startswith(expect)


def test_read_trees_error_names_the_path(tmp_path):
    p = tmp_path / "bad.tree"
    p.write_bytes(b"(S (NN a))\n(S (NN b)\n")
    assert err(T.read_trees, p).startswith(f"{p}:2: tree 2: ")
    missing = tmp_path / "nope.tree"
    assert err(T.read_trees, missing).startswith(f"{missing}: cannot read")


def test_reader_errors_are_not_crashes_on_odd_input():
    for s in ["(", ")", "((", "))", "()", "( )", "(S", "(S (", "(S )", "(()())", "\x00"]:
        with pytest.raises(MckdError):
            T.parse_tree(s, "x")


# ---------------------------------------------------------------- adversarial depth


def test_deep_nesting_does_not_overflow_the_stack():
    n = 200_000
    # "(x" is a label, so the innermost bracket has no word: an error, not a crash.
    assert "has no words" in err(T.parse_tree, "(" * n + "x" + ")" * n, "deep")
    t = T.parse_tree("(A " * n + "(B x)" + ")" * n)
    assert t.n_nodes == n and t.words == ["x"]
    assert T.parse_tree(t.to_string()) == t
    assert T.linearize(t, "unlabeled") == "( x )"
    assert T.clean(t).n_nodes == n
    for fmt in ("labeled", "skeleton"):
        r = T.delinearize(T.linearize(t, fmt), ["x"], fmt)
        assert r.ok and not r.repaired and r.as_tree() == t


def test_deep_unbalanced_nesting_is_an_error():
    n = 200_000
    assert "200000 ')' missing" in err(T.parse_tree, "(" * n + "(X x)", "deep")
    assert "text after the end" in err(T.parse_tree, "(A " * n + "(B x)" + ")" * (n + 5), "deep")
    assert "expected '('" in err(T.parse_tree, "x" + ")" * n, "deep")
    bank = ("(A " * n + "(B x)" + ")" * (n - 1) + "\n").encode()
    with pytest.raises(MckdError):
        T.parse_treebank_text(bank, "deep.mrg")


# ---------------------------------------------------------------- transforms


def test_strip_function_tags():
    t = T.parse_tree("(S-TPC-2 (NP-SBJ-1 (PRP$ his) (NN-HL dog))"
                     " (VP=3 (-LRB- -LRB-) (-NONE- *-1)))")
    s = T.strip_function_tags(t)
    assert [x[0] for x in s.spans()] == ["S", "NP", "VP"]
    assert s.tags == ["PRP$", "NN", "-LRB-", "-NONE-"]
    assert s.words == t.words


def test_delete_none_removes_emptied_constituents():
    t = T.parse_tree("(S (NP-SBJ (-NONE- *)) (VP (VBD ran) (NP (-NONE- *T*-1)) (ADVP (RB fast))))")
    d = T.delete_none(t)
    assert d.to_string() == "(S (VP (VBD ran) (ADVP (RB fast))))"
    d.check()


def test_delete_none_of_only_traces_leaves_an_empty_tree():
    d = T.delete_none(T.parse_tree("(S (NP (-NONE- *)))"))
    assert (d.n_words, d.n_nodes) == (0, 0)


def test_drop_root_wrapper():
    wrapped = T.parse_tree("( ( (S (NN a) (NN b)) ) )")
    assert T.drop_root_wrapper(wrapped).to_string() == "(S (NN a) (NN b))"
    # Several trees under the wrapper: nothing to drop.
    two = "( (S (NN a)) (S (NN b)))"
    assert T.drop_root_wrapper(T.parse_tree(two)).to_string() == two
    assert T.drop_root_wrapper(T.parse_tree(SENT)).to_string() == SENT


def test_clean_combines_all_three():
    raw = "( (S (NP-SBJ-1 (DT The) (NN dog)) (VP (VBD barked) (NP (-NONE- *T*-1))) (. .)) )"
    assert T.clean(T.parse_tree(raw)).to_string() == \
        "(S (NP (DT The) (NN dog)) (VP (VBD barked)) (. .))"


# ---------------------------------------------------------------- linearizations

LIN_TREE = "(S (NP (DT The) (NN dog)) (VP (VBD chased) (NP (DT a) (NN ball))) (. .))"


def test_linearizations():
    t = T.parse_tree(LIN_TREE)
    assert T.linearize(t, "unlabeled") == \
        "( ( ( The ) ( dog ) ) ( ( chased ) ( ( a ) ( ball ) ) ) ( . ) )"
    assert T.linearize(t, "labeled") == LIN_TREE
    assert T.linearize(t, "skeleton") == "(S (NP DT NN) (VP VBD (NP DT NN)) .)"
    assert T.linearize_many([t, t], "skeleton") == [T.linearize(t, "skeleton")] * 2


def test_unlabeled_collapses_unary_chains():
    t = T.parse_tree("(S (NP (NP (NN x))) (VP (VP (VBD y) (NN z))))")
    assert T.linearize(t, "unlabeled") == "( ( x ) ( ( y ) ( z ) ) )"
    assert T.linearize(T.parse_tree("(NN x)"), "unlabeled") == "( x )"
    assert T.linearize(T.parse_tree("(NN x)"), "skeleton") == "NN"


def test_skeleton_needs_pos_tags():
    t = T.parse_tree("( ( The ) ( dog ) )")
    with pytest.raises(MckdError, match="needs a POS tag"):
        T.linearize(t, "skeleton")
    with pytest.raises(MckdError, match="needs a POS tag"):
        T.linearize_many([t], "skeleton")


def test_unknown_format_is_a_clear_error():
    msg = err(T.linearize, T.parse_tree(SENT), "bogus")
    assert "unknown tree format 'bogus'" in msg and "unlabeled" in msg


def test_flat_tree():
    assert T.flat_tree(["a", "b"], "labeled").to_string() == "( (XX a) (XX b))"
    assert T.linearize(T.flat_tree(["a", "b"], "unlabeled"), "unlabeled") == "( ( a ) ( b ) )"


# ---------------------------------------------------------------- all of CRAFT round-trips


@pytest.fixture(scope="module")
def craft_clean(craft_dir):
    trees = []
    for p in sorted(craft_dir.glob("*.tree")):
        trees.extend(T.read_trees(p))
    return [T.clean(t) for t in trees]


def test_craft_reads_and_cleans(craft_clean):
    assert len(craft_clean) == 30830
    for t in craft_clean[:2000]:
        t.check()
    # Cleaning removes every trace, function tag and root wrapper.
    assert not any("-NONE-" in t.tags for t in craft_clean)
    assert all(t.n_nodes == 0 or t.spans()[0][0] != "" for t in craft_clean)
    assert all(" ".join(t.words).split() == t.words for t in craft_clean)


@pytest.mark.parametrize("fmt", ["labeled", "skeleton"])
def test_craft_round_trip_labeled_formats(craft_clean, fmt):
    lin = T.linearize_many(craft_clean, fmt)
    res = T.delinearize_many(lin, [t.words for t in craft_clean], fmt)
    bad = [i for i, (t, r) in enumerate(zip(craft_clean, res))
           if not r.ok or r.repaired or r.as_tree() != t]
    assert not bad, f"{len(bad)} trees differ, first: {lin[bad[0]]!r} -> {res[bad[0]].tree!r}"


def test_craft_round_trip_unlabeled(craft_clean):
    lin = T.linearize_many(craft_clean, "unlabeled")
    res = T.delinearize_many(lin, [t.words for t in craft_clean], "unlabeled")
    bad = []
    for i, (t, r, s) in enumerate(zip(craft_clean, res, lin)):
        back = r.as_tree()
        # Unlabeled keeps exactly the distinct multi-word spans of the cleaned tree.
        want = sorted({(a, b) for _, a, b in t.spans() if b - a >= 2})
        if (not r.ok or r.repaired or back.words != t.words or back != T.parse_tree(s)
                or sorted((a, b) for _, a, b in back.spans()) != want):
            bad.append(i)
    assert not bad, f"{len(bad)} trees differ, first: {lin[bad[0]]!r} -> {res[bad[0]].tree!r}"
