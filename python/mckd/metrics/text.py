"""Metrics for generic (non-tree) sequence tasks: exact match, token F1, conlleval chunk F1.

Slot outputs are written `tok1 TAG1 tok2 TAG2 …` (the MCKD paper's slot-tagging notation); chunk F1 follows conlleval:
a chunk starts at B-X (or at I-X after a different type / O) and spans the following I-X tags.
"""

from __future__ import annotations

from collections import Counter


def exact_match(gold: list[str], pred: list[str]) -> float:
    """Percentage of predictions equal to gold after whitespace normalisation."""
    if not gold:
        return 0.0
    return 100.0 * sum(" ".join(g.split()) == " ".join(p.split()) for g, p in zip(gold, pred)) / len(gold)


def token_f1(gold: list[str], pred: list[str]) -> float:
    """Mean per-example bag-of-tokens F1 (×100); an empty pair counts as a match."""
    if not gold:
        return 0.0
    total = 0.0
    for g, p in zip(gold, pred):
        gc, pc = Counter(g.split()), Counter(p.split())
        if not gc and not pc:
            total += 1.0
            continue
        common = sum((gc & pc).values())
        if common == 0:
            continue
        prec, rec = common / sum(pc.values()), common / sum(gc.values())
        total += 2 * prec * rec / (prec + rec)
    return 100.0 * total / len(gold)


def _tags(seq: str) -> list[str] | None:
    toks = seq.split()
    if len(toks) % 2:
        return None
    return toks[1::2]


def chunks(tags: list[str]) -> set[tuple[int, int, str]]:
    """conlleval chunks (start, end, type) of a BIO tag sequence."""
    out: set[tuple[int, int, str]] = set()
    start, typ = None, None
    for i, tag in enumerate(tags + ["O"]):
        prefix, _, t = tag.partition("-")
        if not t:
            prefix, t = tag, ""
        begins = prefix == "B" or (prefix == "I" and t != typ) or prefix not in ("B", "I")
        if typ is not None and (begins or prefix == "O" or tag == "O"):
            out.add((start, i, typ))
            start, typ = None, None
        if prefix in ("B", "I") and t and typ is None:
            start, typ = i, t
    return out


def chunk_f1(gold: list[str], pred: list[str]) -> float:
    """Corpus-level conlleval chunk F1 (×100) over `tok TAG` sequences; malformed preds score 0."""
    tp = n_gold = n_pred = 0
    for g, p in zip(gold, pred):
        gt = _tags(g) or []
        pt = _tags(p)
        gc = chunks(gt)
        n_gold += len(gc)
        if pt is None or len(pt) != len(gt):
            continue
        pc = chunks(pt)
        n_pred += len(pc)
        tp += len(gc & pc)
    if tp == 0:
        return 0.0
    prec, rec = tp / n_pred, tp / n_gold
    return 100.0 * 2 * prec * rec / (prec + rec)
