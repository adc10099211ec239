"""Unlabeled span F1 between two trees in the same notation, with no gold tags to lean on.

Used where both sides are model outputs or pseudolabels (a student's training fidelity against
its own labels). Against gold trees use `mckd.metrics.score` (the paper's metric, EVALB), which
also removes punctuation by the gold POS tags.
"""

from __future__ import annotations

from ..trees import tree_units
from .text import token_f1


def spans(tree: str) -> set[tuple[int, int]] | None:
    """Constituent spans (start, end) covering >= 2 leaves; None if the brackets don't balance."""
    stack, out, pos = [], set(), 0
    for u in tree_units(tree):
        if u.startswith("("):
            stack.append(pos)
        elif u == ")":
            if not stack:
                return None
            s = stack.pop()
            if pos - s >= 2:
                out.add((s, pos))
        else:
            pos += 1
    return out if not stack else None


def span_f1(preds: list[str], labels: list[str]) -> float:
    """Sentence-averaged unlabeled span F1 (0-100); an unbalanced tree on either side scores 0,
    two trees without a span of >= 2 leaves score 100."""
    tot = 0.0
    for p, g in zip(preds, labels):
        ps, gs = spans(p), spans(g)
        if ps is None or gs is None:
            continue
        if not ps and not gs:
            tot += 1.0
            continue
        c = len(ps & gs)
        tot += 2 * c / (len(ps) + len(gs)) if c else 0.0
    return 100.0 * tot / max(1, len(preds))


def fidelity_f1(preds: list[str], labels: list[str], fmt: str) -> float:
    """F1 (0-100) of predictions against the student's own training labels: unlabeled span F1
    for trees, chunk F1 (sentence mean) for tags, token F1 for text."""
    from .. import formats

    kind = formats.get(fmt)
    if kind.tags:
        from .text import tag_scores

        return tag_scores(labels, preds, [g.split()[0::2] for g in labels])["chunk_f1_mean"]
    return span_f1(preds, labels) if kind.tree else token_f1(labels, preds)
