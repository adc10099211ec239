"""paper_f1 against a transcription of the authors' evaluation code (tests/paper_oracle.py).

Thousands of predictions, broken and unbroken, are generated from real gold trees (CRAFT and
the WSJ sample, read from ../shared/data) and from small hand-made ones: exact copies, random
trees, brackets added or dropped at the end or in the middle, "...))" endings, dropped and
duplicated words, missing trailing punctuation, tokens merged by "/" and "-", merged
contractions and possessives, glued brackets, Unicode spaces, empty brackets, two trees, text
outside the tree, labels, garbage. Every per-sentence score must equal the oracle's, and the
sentences the oracle cannot score (their code raises) must be the ones left out.
"""

from __future__ import annotations

import random

import pytest

from mckd.metrics.paper import paper_f1

nltk = pytest.importorskip("nltk")
import paper_oracle as oracle  # noqa: E402  (tests/ is on sys.path under pytest)

HAND_MADE = [
    # (gold, source)
    ("(S (NP (DT The) (NN dog)) (VP (VBD barked)) (. .))", "The dog barked ."),
    ("(S (NP (NNP John) (POS 's)) (NP (NN dog)) (VP (MD wo) (RB n't) (VB bark)))",
     "John 's dog wo n't bark"),
    ("(S (NP (NN and) (SYM /) (NN or)) (VP (VBZ is) (ADJP (JJ well) (HYPH -) (VBN known))))",
     "and / or is well - known"),
    ("(S (NP (PRP I)) (VP (VBP do) (RB n't) (VP (VB know))) (. .))", "I do n't know ."),
    ("(S (NP (PRP We)) (VP (MD ca) (RB n't)) (. !))", "We ca n't !"),
    ("(S (NN a))", "a"),
    ("(S (NN a) (. .))", "a ."),
    ("(S (, ,) (. .))", ", ."),
    ("( (S (NP (NN a) (NN b)) (VP (VBZ c) (NP (DT d) (NN e)))) )", "a b c d e"),
]


def unlabeled(gold: str) -> str:
    """The paper's target format for a gold tree: every word wrapped, no labels, unaries kept
    once (an independent little writer, so the test does not lean on mckd's linearizer)."""
    tree = nltk.Tree.fromstring(gold)

    def walk(t):
        if isinstance(t, str):
            return f"( {t} )"
        if len(t) == 1 and isinstance(t[0], str):
            return f"( {t[0]} )"
        parts = [walk(x) for x in t]
        return parts[0] if len(parts) == 1 else "( " + " ".join(parts) + " )"

    return walk(tree)


def random_tree(rng: random.Random, words: list[str]) -> str:
    leaves = [f"( {w} )" for w in words]
    while len(leaves) > 1:
        i = rng.randrange(len(leaves) - 1)
        k = rng.choice((2, 2, 2, 3)) if i + 3 <= len(leaves) else 2
        leaves[i:i + k] = ["( " + " ".join(leaves[i:i + k]) + " )"]
    return leaves[0]


def merge_adjacent(tree: str, words: list[str], sep: str) -> str | None:
    """'( a ) ( - ) ( b )' -> '( a-b )' where the source has 'a - b'."""
    for i in range(1, len(words) - 1):
        if words[i] == sep:
            pat = f"( {words[i - 1]} ) ( {sep} ) ( {words[i + 1]} )"
            if pat in tree:
                return tree.replace(pat, f"( {words[i - 1]}{sep}{words[i + 1]} )", 1)
    return None


def variants(rng: random.Random, gold: str, words: list[str]) -> list[str]:
    exact = unlabeled(gold)
    toks = exact.split()
    out = [exact, random_tree(rng, words), "( " + " ".join(f"( {w} )" for w in words) + " )"]
    out += [exact + " )", exact + ")", exact[:-1] + "))", exact + " ) )", exact[:-2],
            exact[: max(1, len(exact) // 2)], "( " + exact, exact.replace(" ", ""),
            exact.replace("( ", "("), exact.replace(" )", ")"), exact + " ( x )",
            "x " + exact, "", "   ", "()", "( )", "(((", ")))", "garbage words only",
            exact.replace(" ", "\u00a0", 3), exact.replace(" ", "\t"), "( ( ) " + exact[1:]]
    # one bracket dropped or added somewhere in the middle
    for _ in range(3):
        t = list(toks)
        j = rng.randrange(len(t))
        if t[j] in "()":
            del t[j]
        else:
            t.insert(j, rng.choice("()"))
        out.append(" ".join(t))
    # words dropped, duplicated, replaced; trailing punctuation dropped
    for _ in range(2):
        w = list(words)
        op = rng.randrange(3)
        j = rng.randrange(len(w))
        if op == 0 and len(w) > 1:
            del w[j]
        elif op == 1:
            w.insert(j, w[j])
        else:
            w[j] = "zzz"
        out.append(random_tree(rng, w))
    if len(words) > 1:
        out.append(random_tree(rng, words[:-1]))
        out.append(" ".join(exact.split()[:-4]) + " )" if len(toks) > 4 else exact)
    for sep in "/-":
        m = merge_adjacent(exact, words, sep)
        if m:
            out.append(m)
    for a, b in (("wo", "n't"), ("do", "n't"), ("ca", "n't")):
        pat = f"( {a} ) ( {b} )"
        if pat in exact:
            out.append(exact.replace(pat, "( " + {"wo": "won't", "do": "don't", "ca": "can't"}[a] + " )", 1))
    for i in range(len(words) - 1):
        if words[i + 1] == "'s":
            out.append(exact.replace(f"( {words[i]} ) ( 's )", f"( {words[i]}'s )", 1))
            break
    # labeled notation, as a labeled model would write it
    out.append(gold)
    return out


def load_golds(shared_data, n_files: int) -> list[tuple[str, str]]:
    from mckd.data import read_treebank

    craft = sorted((shared_data / "craft").glob("*.tree"))[:n_files]
    ptb = sorted((shared_data / "ptb-sample").glob("wsj_*.mrg"))[: n_files * 4]
    recs, _ = read_treebank(craft + ptb)
    # keep the oracle's recursion shallow: skip the few very deep trees
    return [(r["gold"], r["source"]) for r in recs if r["gold"].count("(") < 300]


def check(golds: list[str], sources: list[str], preds: list[str]) -> int:
    want = oracle.per_sentence(golds, sources, preds)
    got = paper_f1(golds, preds, sources)
    for i, (w, g) in enumerate(zip(want, got["per_sentence"])):
        if w is None:
            assert g is None and got["status"][i] == "excluded", (golds[i], preds[i], g)
        else:
            assert g is not None and g == pytest.approx(100.0 * w, abs=1e-9), \
                (golds[i], sources[i], preds[i], g, w)
    scored = [100.0 * w for w in want if w is not None]
    assert got["f1"] == pytest.approx(sum(scored) / len(scored) if scored else 0.0, abs=1e-9)
    return len(preds)


def test_hand_made_quirks_match_the_authors_code():
    rng = random.Random(0)
    golds, sources, preds = [], [], []
    for gold, src in HAND_MADE:
        words = src.split()
        for p in variants(rng, gold, words):
            golds.append(gold)
            sources.append(src)
            preds.append(p)
    assert check(golds, sources, preds) > 200


def test_thousands_of_real_predictions_match_the_authors_code(shared_data):
    rng = random.Random(1)
    golds, sources, preds = [], [], []
    for gold, src in load_golds(shared_data, n_files=3):
        for p in variants(rng, gold, src.split()):
            golds.append(gold)
            sources.append(src)
            preds.append(p)
    assert check(golds, sources, preds) >= 5000


def test_documented_quirks():
    g = "(S (NP (DT a) (NN b)) (VP (VBD c)) (. .))"
    s = "a b c ."
    exact = "( ( ( a ) ( b ) ) ( ( c ) ( . ) ) )"
    one = lambda p: paper_f1([g], [p], [s])  # noqa: E731
    assert one(exact)["f1"] == 100.0
    # an extra " )" at the end is dropped, an extra ")" glued to another is not
    assert one(exact + " )")["f1"] == 100.0
    assert one(exact[:-1] + "))")["status"] == ["unparseable"]
    # missing trailing punctuation: the word count after removal still matches, so it scores
    assert one("( ( ( a ) ( b ) ) ( c ) )")["f1"] == 100.0
    # ... but a strict reading says the words differ
    assert paper_f1([g], ["( ( ( a ) ( b ) ) ( c ) )"], [s], strict=True)["status"] == ["length_mismatch"]
    # wrong words with the right count still score: only counts are checked
    assert one("( ( ( x ) ( y ) ) ( ( z ) ( . ) ) )")["f1"] == 100.0
    assert paper_f1([g], ["( ( ( x ) ( y ) ) ( ( z ) ( . ) ) )"], [s], strict=True)["f1"] == 0.0
    # too many words: 0 (their IndexError)
    assert one("( ( ( a ) ( b ) ) ( ( c ) ( . ) ( d ) ) )")["status"] == ["length_mismatch"]
    # a gold tree without any scored word is left out of the mean
    r = paper_f1(["(S (, ,) (. .))", g], ["( ( , ) ( . ) )", exact], [", .", s])
    assert r["status"][0] == "excluded" and r["per_sentence"][0] is None
    assert r["n_excluded"] == 1 and r["f1"] == 100.0
