"""The EVALB scorer's fast bracket matcher and crossing count against evalb.c's literal loops.

cpp/evalb_score.cpp scores with an indexed matcher; with DEBUG 2 it runs evalb.c's literal O(n*m)
loops instead (they print the bracket-level report). Both must give the same matched, crossing
and bracket counts on every sentence: on CRAFT's gold trees against perturbed copies of them,
and on generated trees with random labels.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mckd import _core
from mckd.metrics.evalb import evaluate, read_tree_file

PRMS = ["", "LABELED 0", "EQ_LABEL ADVP PRT\nDELETE_LABEL TOP\nDELETE_LABEL -NONE-\n"
        "DELETE_LABEL ,\nDELETE_LABEL :\nDELETE_LABEL ``\nDELETE_LABEL ''\nDELETE_LABEL .\n"
        "QUOTE_LABEL X"]
KEYS = ("status", "matched", "gold_brackets", "test_brackets", "crossing", "correct_tags")


def _rows(gold, test, prm, debug):
    params = _core.EvalbParams.parse((prm + f"\nDEBUG {debug}\n").encode(), "test.prm")
    res = evaluate(gold, test, params, report=True)  # DEBUG 2 takes the literal path only with a report
    return [tuple(r[k] for k in KEYS) for r in res.per_sentence()], res.summary()["all"]


def _assert_same(gold, test):
    for prm in PRMS:
        fast, fast_all = _rows(gold, test, prm, 0)
        literal, literal_all = _rows(gold, test, prm, 2)
        for i, (a, b) in enumerate(zip(fast, literal)):
            assert a == b, f"prm {prm!r}, sentence {i + 1}: fast {a} literal {b}\n{gold[i]}\n{test[i]}"
        assert fast_all == literal_all


def _preterminals(tree: str) -> list[str]:
    """The `(TAG word)` leaves of a one-line tree, in order."""
    out, i = [], 0
    while (i := tree.find("(", i)) != -1:
        j = tree.find(")", i)
        inner = tree[i + 1:j]
        if "(" not in inner and len(inner.split()) == 2:
            out.append(tree[i:j + 1])
        i += 1
    return out


def _random_tree(leaves: list[str], labels: list[str], rng: random.Random) -> str:
    """A random tree over `leaves` (iterative: no recursion on long sentences)."""
    nodes = list(leaves)
    while len(nodes) > 1:  # merge a random run of adjacent nodes under a random label
        i = rng.randrange(len(nodes))
        j = min(len(nodes), i + rng.randint(2, 4))
        nodes[i:j] = [f"({rng.choice(labels)} {' '.join(nodes[i:j])})"]
    return nodes[0] if nodes[0].count("(") > len(leaves) else f"(S {nodes[0]})"


def _drop_brackets(tree: str, rng: random.Random, p: float) -> str:
    """Remove each phrase bracket (not a preterminal) with probability p, relabel some others."""
    toks = tree.replace("(", " ( ").replace(")", " ) ").split()
    out, stack, i = [], [], 0
    while i < len(toks):
        t = toks[i]
        if t == "(":
            unlabeled = toks[i + 1] in ("(", ")")  # CRAFT's root wrapper "( (S ...) )"
            label = "" if unlabeled else toks[i + 1]
            pre = not unlabeled and i + 3 < len(toks) and toks[i + 3] == ")" and toks[i + 2] != "("
            drop = not pre and not unlabeled and rng.random() < p
            stack.append(drop)
            if not drop:
                if not pre and not unlabeled and rng.random() < 0.1:
                    label = rng.choice(["NP", "VP", "PP", "ADVP", "PRT"])
                out.append("(" + label)
            i += 1 if unlabeled else 2
            continue
        if t == ")":
            if not stack.pop():
                out.append(")")
        else:
            out.append(t)
        i += 1
    return " ".join(out).replace(" )", ")")


def test_matchers_agree_on_craft(craft_dir):
    files = sorted(craft_dir.glob("*.tree"))[:6]
    gold = [t.decode() for f in files for t in read_tree_file(f, treebank=True)[0]][:1500]
    if len(gold) < 100:
        pytest.skip("too few CRAFT trees")
    rng = random.Random(0)
    labels = ["NP", "VP", "PP", "S", "SBAR", "ADJP", "ADVP", "PRT"]
    test = []
    for k, g in enumerate(gold):
        leaves = _preterminals(g)
        if k % 3 == 0 and leaves:
            test.append(_random_tree(leaves, labels, rng))   # many crossing brackets
        elif k % 3 == 1:
            test.append(_drop_brackets(g, rng, 0.3))          # misses and relabels
        else:
            test.append(g)                                    # exact
    _assert_same(gold, test)


_label = st.sampled_from(["NP", "VP", "PP", "ADVP", "PRT", "X", "S"])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30), st.integers(0, 2**31 - 1))
def test_matchers_agree_on_generated_trees(n_words, seed):
    rng = random.Random(seed)
    tags = ["NN", "DT", "VB", ",", "X"]
    leaves = [f"({rng.choice(tags)} w{i})" for i in range(n_words)]
    labels = ["NP", "VP", "PP", "ADVP", "PRT", "X", "S", "S"]  # duplicates: equal-span brackets
    gold = [_random_tree(leaves, labels, rng) for _ in range(8)]
    test = [_random_tree(leaves, labels, rng) if i % 2 else _drop_brackets(g, rng, 0.4)
            for i, g in enumerate(gold)]
    _assert_same(gold, test)
