"""Self-consistency for trees: several sampled trees of one sentence vote on its spans, and a
small CKY rebuilds the tree that keeps the best-supported set of spans that can coexist.

    tree = consensus_tree([sample_1, ..., sample_k], words, threshold=0.5)

A span (of >= 2 words) is worth `votes / k - threshold`; the result is the non-crossing set of
spans with the largest total worth, so only spans above the threshold are ever kept. Spans
that more than half the samples share can never cross (two crossing spans never sit in one
tree), so at 0.5 the answer is simply the majority spans; below 0.5 spans can conflict and the
CKY decides. Samples that are not a tree over exactly these words abstain but still count in k,
so a sentence the model keeps botching gets a flatter tree, not a confident one.

Works on the unlabeled notation (`( ( w1 ) ( w2 ) ) ...`), the teacher's default.
"""

from __future__ import annotations

from ..errors import MckdError
from ..metrics.spans import spans as tree_spans
from ..trees import tree_units


def span_votes(trees: list[str], words: list[str]) -> tuple[dict[tuple[int, int], int], int]:
    """(votes per span, number of samples that were trees over exactly `words`, in order)."""
    votes: dict[tuple[int, int], int] = {}
    usable = 0
    for t in trees:
        s = tree_spans(t) if t else None
        # a sample that dropped, added or changed a word abstains: its spans index other words
        if s is None or [u for u in tree_units(t) if not u.startswith("(") and u != ")"] \
                != list(words):
            continue
        usable += 1
        for sp in s:
            votes[sp] = votes.get(sp, 0) + 1
    return votes, usable


def best_spans(votes: dict[tuple[int, int], int], n_words: int, k: int,
               threshold: float = 0.5) -> set[tuple[int, int]]:
    """The non-crossing set of spans with the largest total `votes/k - threshold` (CKY)."""
    if k <= 0:
        raise MckdError("best_spans needs at least one sample (k >= 1)")
    import numpy as np

    n = n_words
    w = {sp: v / k - threshold for sp, v in votes.items() if v / k > threshold}
    if threshold >= 0.5:  # spans in more than half the samples never cross: all are kept
        return set(w)
    # f[i, j]: best worth of spans inside [i, j); a laminar set that does not contain [i, j)
    # itself always splits at some point no kept span crosses
    f = np.zeros((n + 1, n + 1))
    cut = np.zeros((n + 1, n + 1), dtype=np.int64)
    for length in range(2, n + 1):
        for i in range(0, n - length + 1):
            j = i + length
            inner = f[i, i + 1:j] + f[i + 1:j, j]
            m = int(inner.argmax())
            if inner[m] > 0:
                cut[i, j] = i + 1 + m
            f[i, j] = max(inner[m], 0.0) + w.get((i, j), 0.0)
    out: set[tuple[int, int]] = set()
    todo = [(0, n)]
    while todo:  # iterative: no recursion depth to exhaust on long inputs
        i, j = todo.pop()
        if j - i < 2:
            continue
        if (i, j) in w:
            out.add((i, j))
        m = int(cut[i, j])
        if m:
            todo += [(i, m), (m, j)]
    return out


def render_unlabeled(words: list[str], spans: set[tuple[int, int]]) -> str:
    """The unlabeled-notation tree of `words` with these (non-crossing) spans and a root."""
    n = len(words)
    if n == 0:
        raise MckdError("render_unlabeled: no words")
    if n == 1:  # the root is the word's own bracket, as the linearizer writes it
        return f"( {words[0]} )"
    all_spans = set(spans) | {(0, n)}
    opens: dict[int, list[int]] = {}
    closes: dict[int, int] = {}
    for i, j in all_spans:
        opens.setdefault(i, []).append(j)
        closes[j] = closes.get(j, 0) + 1
    parts: list[str] = []
    for p, word in enumerate(words):
        parts += ["("] * len(opens.get(p, []))
        parts += ["(", word, ")"]
        parts += [")"] * closes.get(p + 1, 0)
    return " ".join(parts)


def consensus_tree(trees: list[str], words: list[str], threshold: float = 0.5) -> str:
    """The consensus of sampled unlabeled trees over `words` (see the module docstring)."""
    votes, _ = span_votes(trees, words)
    return render_unlabeled(words, best_spans(votes, len(words), len(trees), threshold))


def consensus(trees: list[str], words: list[str], threshold: float = 0.5) -> tuple[str | None, int]:
    """(consensus tree, how many trees were usable); the tree is None when none was: every
    caller then keeps what its first voter wrote, never a tree no voter wrote."""
    votes, usable = span_votes(trees, words)
    if not usable:
        return None, 0
    return render_unlabeled(words, best_spans(votes, len(words), len(trees), threshold)), usable


def consensus_tags(outputs: list[str], words: list[str],
                   threshold: float = 0.5) -> tuple[str | None, int]:
    """(consensus tagging, how many outputs were usable) of `w1 t1 w2 t2 ...` outputs: each word
    takes the tag most outputs gave it if its share of all k outputs is above `threshold`, else
    O; a tie goes to the earlier output (the pipeline puts the shipped student first). The result
    is made BIO-valid as `mckd.chunks.repair_tags` does (an I-X after no X chunk opens one).
    Outputs that are not the words each followed by one BIO tag abstain but count in k, as
    unusable trees do; with none usable the result is None."""
    from ..chunks import repair_tags, tags_of
    from ..metrics.text import tag_valid

    k = len(outputs)
    usable = [tags_of(o) for o in outputs if tag_valid(o, words)]
    if not usable:
        return None, 0
    tags = []
    for j in range(len(words)):
        count: dict[str, int] = {}
        for u in usable:
            count[u[j]] = count.get(u[j], 0) + 1
        best = max(count, key=lambda t: count[t])  # dicts keep first-seen order: ties go early
        tags.append(best if count[best] / k > threshold else "O")
    return repair_tags(" ".join(f"{w} {t}" for w, t in zip(words, tags)), words)[0], len(usable)


def vote(fmt: str, outputs: list[str], words: list[str], threshold: float) -> tuple[str | None, int]:
    """(consensus, usable outputs) of format `fmt`'s outputs: `consensus` for unlabeled trees,
    `consensus_tags` for the tag formats; other formats cannot vote."""
    from .. import formats

    kind = formats.get(fmt)
    if not kind.votes:
        raise MckdError(f"format {fmt!r}: outputs cannot vote (unlabeled trees and tag formats "
                        "can)")
    return (consensus_tags if kind.tags else consensus)(outputs, words, threshold)
