"""The bare notation of unlabeled trees: `( ( The dog ) barked )` for the paper's
`( ( ( The ) ( dog ) ) ( barked ) )`, which pretrained students may write instead
(`leaves=bare`): about half the tokens, one to one with the unlabeled notation, and the tree
constraint allows exactly the same trees in both."""

import json
import random

import pytest

from mckd.errors import MckdError
from mckd.teacher.constraint import BARE, TreeConstraint, TreeGrammar, VocabIndex
from mckd.student.tokenizer import _join, bare_units, tree_units, wrap_bare
from mckd.trees import delinearize


def _bare(tree: str) -> str:
    return _join(bare_units(tree_units(tree)))


def _unlabeled(bare: str) -> str:
    return " ".join(wrap_bare(tree_units(bare)))


@pytest.fixture(scope="module")
def craft_trees(craft_dir, tmp_path_factory):
    from mckd.data import import_treebank

    out = tmp_path_factory.mktemp("bare") / "craft"
    import_treebank(str(craft_dir / "1[12]*.tree"), out, seed=0)
    recs = [json.loads(x) for x in (out / "train.jsonl").read_text().splitlines()]
    return [(r["words"], r["targets"]["unlabeled"]) for r in recs]


def test_round_trip_and_length(craft_trees):
    units = bare = 0
    for words, tree in craft_trees:
        b = _bare(tree)
        # a one-word tree reads back in the constraint's form, with the root above the word's own
        back = f"( {tree} )" if len(words) == 1 else tree
        assert _unlabeled(b) == " ".join(tree_units(back)), tree
        assert [u for u in tree_units(b) if u not in "()"] == words  # every word, in order
        units += len(tree_units(tree))
        bare += len(tree_units(b))
    assert bare < 0.6 * units  # the words' own brackets were most of the units


def _accepts(fmt: str, words: list[str], text: str) -> bool:
    """Whether the constraint lets a byte-by-byte spelling of `text` through to a finished tree."""
    ix = VocabIndex([bytes([b]) for b in range(256)])
    c = TreeConstraint(TreeGrammar.from_targets(fmt, []), ix, words)
    for b in text.encode("utf-8"):
        allowed = c.allowed()
        t = ix.exact[bytes([b])][0]
        if t not in allowed:
            return False
        c.advance(t, allowed)
    return c.done


def test_constraint_allows_the_same_trees_in_both_notations(craft_trees):
    rng = random.Random(3)
    short = [(w, t) for w, t in craft_trees if 2 <= len(w) <= 14][:60]
    assert short
    for words, tree in short:
        assert _accepts("unlabeled", words, " ".join(tree_units(tree)))
        bare = _bare(tree)
        variants = [bare]
        for _ in range(4):  # other bare strings over the same words, most of them not trees
            u = tree_units(bare)
            i, j = sorted(rng.sample(range(len(u)), 2))
            u[i], u[j] = u[j], u[i]
            variants.append(_join(u))
        for v in variants:
            assert _accepts(BARE, words, v) == _accepts("unlabeled", words, _unlabeled(v)), v
        assert _accepts(BARE, words, bare)


def test_random_walks_give_a_tree_over_the_words():
    ix = VocabIndex([bytes([b]) for b in range(256)] + [b" (", b" )", b" ))", b" the", b" dog"])
    g = TreeGrammar.from_targets(BARE, [])
    rng = random.Random(5)
    pool = "the dog barked at the α-actin -LRB- n = 3 -RRB- mice".split()
    for _ in range(150):
        words = pool[:rng.randint(1, len(pool))]
        c = TreeConstraint(g, ix, words, heal=" ")
        limit = rng.choice([3, 30, 10_000])
        while not c.done and c.tokens < limit:
            allowed = c.allowed()
            assert allowed
            c.advance(rng.choice(sorted(allowed)), allowed)
        c.complete()
        r = delinearize(_unlabeled(c.output()), words, "unlabeled")
        assert r.ok and not r.repaired, (c.output(), r.problems)


def test_bare_is_for_pretrained_unlabeled_students():
    pytest.importorskip("torch")
    from mckd.student.config import TrainConfig

    assert TrainConfig(init="x", leaves="bare").resolved().leaves == "bare"
    with pytest.raises(MckdError, match="leaves=bare is for pretrained"):
        TrainConfig(leaves="bare").resolved()
    with pytest.raises(MckdError, match="leaves=bare is for pretrained"):
        TrainConfig(init="x", leaves="bare", format="labeled").resolved()
    with pytest.raises(MckdError, match="leaves='leafy'"):
        TrainConfig(init="x", leaves="leafy").resolved()


def test_causal_student_writes_bare_and_reports_unlabeled(tmp_path):
    """A tiny causal student trained with leaves=bare: shorter targets, exported and relabelled
    (constrained and free) into the unlabeled notation, every constrained output a tree over
    the input. (Free outputs of a model this small are mostly wrong; only their notation is
    checked.)"""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("ctranslate2")
    from test_causal_student import causal_cfg, synthetic, tiny_causal_folder

    from mckd.student.export import export_student
    from mckd.student.relabel import relabel
    from mckd.student.causal import load_tokenizer
    from mckd.student.train import train_student

    recs = synthetic(120, seed=1)
    init = tiny_causal_folder(tmp_path / "init", recs)
    words_tok = load_tokenizer(str(init), "unlabeled")
    bare_tok = load_tokenizer(str(init), "unlabeled", "bare")
    t = recs[0]["target"]
    assert len(bare_tok.encode_target(t)) < len(words_tok.encode_target(t))
    assert bare_tok.decode_ids(bare_tok.encode_target(t)[:-1], recs[0]["words"]) == t

    s = train_student(recs, tmp_path / "s", causal_cfg(init, epochs=25, leaves="bare"))
    assert json.loads((s / "mckd_student.json").read_text())["leaves"] == "bare"
    m = tmp_path / "m"
    export_student(s, m, quantization="int8")
    inp = synthetic(12, seed=4)
    for mode in ("constrained", "free"):
        out = tmp_path / f"{mode}.jsonl"
        relabel(m, inp, out, threads=1, progress=False, decoding=mode)
        rows = [json.loads(x) for x in out.read_text().splitlines()]
        for r, x in zip(rows, inp):
            u = tree_units(r["output"])  # the unlabeled notation: every word in its own bracket
            assert all(u[k - 1] == "(" and u[k + 1] == ")" for k, w in enumerate(u)
                       if w not in ("(", ")")), r["output"]
            if mode == "constrained":
                assert r["valid"] and delinearize(r["output"], x["words"], "unlabeled").ok
