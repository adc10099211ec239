import itertools
import random

import pytest

from mckd.errors import MckdError
from mckd.metrics.spans import spans
from mckd.teacher.vote import best_spans, consensus_tree, render_unlabeled, span_votes

WORDS = ["the", "big", "dog", "barked", "."]
# ( ( the big dog ) ( barked ) ( . ) ) and two variants
A = "( ( ( the ) ( big ) ( dog ) ) ( barked ) ( . ) )"
B = "( ( ( the ) ( ( big ) ( dog ) ) ) ( barked ) ( . ) )"
C = "( ( the ) ( ( big ) ( ( dog ) ( barked ) ) ) ( . ) )"


def test_majority_spans_are_kept_and_minority_ones_dropped():
    out = consensus_tree([A, B, A], WORDS)
    assert out == A  # (big dog) is in 1 of 3 samples
    assert spans(consensus_tree([B, B, A], WORDS)) == spans(B)
    # every sample different: (the big dog) is in A and B, (big dog) in B only, C has neither
    assert spans(consensus_tree([A, B, C], WORDS)) == {(0, 5), (0, 3)}


def test_samples_that_are_not_trees_over_the_words_abstain_but_count():
    votes, usable = span_votes([A, "( ( the ) ( big )", "( ( the ) ( dog ) )", ""], WORDS)
    assert usable == 1 and votes[(0, 3)] == 1
    # the right number of words, but not these words in this order: abstains too
    swapped = "( ( ( the ) ( dog ) ( big ) ) ( barked ) ( . ) )"
    assert span_votes([swapped, A], WORDS) == ({(0, 3): 1, (0, 5): 1}, 1)
    # one good sample of four: nothing passes a majority, so the tree is flat (root only)
    assert consensus_tree([A, "( broken", "", "( ( the ) )"], WORDS) == \
        "( ( the ) ( big ) ( dog ) ( barked ) ( . ) )"


def test_cky_resolves_crossing_spans_below_a_majority():
    votes = {(0, 2): 2, (1, 3): 3, (2, 4): 2, (0, 4): 5}
    # at threshold 0.3 of k=5: (1,3) is worth 0.3, (0,2) and (2,4) 0.1 each: (1,3) wins
    assert best_spans(votes, 4, 5, 0.3) == {(1, 3), (0, 4)}
    # lower, the two compatible ones together outweigh it: 0.3 + 0.3 > 0.4
    assert best_spans(votes, 4, 5, 0.1) == {(0, 2), (2, 4), (0, 4)}


def _brute(votes, n, k, t):
    cands = [sp for sp, v in votes.items() if v / k > t]
    best = -1.0
    for r in range(len(cands) + 1):
        for sub in itertools.combinations(cands, r):
            if any(a[0] < b[0] < a[1] < b[1] or b[0] < a[0] < b[1] < a[1]
                   for a, b in itertools.combinations(sub, 2)):
                continue
            s = sum(votes[sp] / k - t for sp in sub)
            if s > best + 1e-12:
                best = s
    return best


@pytest.mark.parametrize("seed", range(40))
def test_cky_finds_the_best_non_crossing_set(seed):
    rng = random.Random(seed)
    n, k = rng.randint(3, 7), rng.randint(2, 6)
    all_spans = [(i, j) for i in range(n) for j in range(i + 2, n + 1)]
    votes = {sp: rng.randint(1, k) for sp in rng.sample(all_spans, min(len(all_spans), 7))}
    t = rng.choice([0.0, 0.2, 0.35, 0.49])
    got = best_spans(votes, n, k, t)
    assert not any(a[0] < b[0] < a[1] < b[1] for a in got for b in got)
    assert sum(votes[sp] / k - t for sp in got) == pytest.approx(_brute(votes, n, k, t))


def test_a_long_flat_input_is_quick_and_iterative():
    words = [f"w{i}" for i in range(300)]
    flat = render_unlabeled(words, set())
    deep = render_unlabeled(words, {(i, 300) for i in range(299)})  # right-branching, 299 deep
    assert consensus_tree([deep, deep, flat], words, threshold=0.2) == deep


def test_render_rejects_no_words_and_keeps_one_word_as_the_linearizer_does():
    with pytest.raises(MckdError):
        render_unlabeled([], set())
    assert render_unlabeled(["Abstract"], set()) == "( Abstract )"
    with pytest.raises(MckdError):
        best_spans({}, 3, 0)


def test_gold_trees_come_back_unchanged(craft_dir, tmp_path):
    from mckd.data import import_treebank, load_split

    import_treebank(str(craft_dir / "1[12]*.tree"), tmp_path, seed=0)
    recs = [r for s in ("train", "dev") for r in load_split(tmp_path, s)][:300]
    assert len(recs) >= 100
    for r in recs:
        g = r["targets"]["unlabeled"]
        assert consensus_tree([g, g, g], r["words"]) == g, r["id"]
        assert consensus_tree([g, g, g], r["words"], threshold=0.1) == g, r["id"]
