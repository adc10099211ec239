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


def _chunk_counts(gold_tags: list[str], pred_tags: list[str]) -> tuple[int, int, int]:
    g, p = chunks(gold_tags), chunks(pred_tags)
    return len(g & p), len(g), len(p)


def _f1(tp: int, n_gold: int, n_pred: int) -> float:
    """conlleval's F1 (×100); 0 when nothing was found right (as conlleval and the authors)."""
    if tp == 0:
        return 0.0
    prec, rec = tp / n_pred, tp / n_gold
    return 100.0 * 2 * prec * rec / (prec + rec)


def read_tags(output: str, n: int) -> list[str]:
    """The tags a `w1 t1 w2 t2 ...` output gives the n words: every second token by position (the
    authors' reading), cut at n; words it does not reach get O (no chunk predicted there)."""
    from ..chunks import tags_of

    got = tags_of(output)[:n]
    return got + ["O"] * (n - len(got))


def tag_valid(output: str, words: list[str]) -> bool:
    """The output is the words in order, each followed by one tag of the form O, B-X or I-X."""
    from ..chunks import is_tag

    toks = output.split()
    return (len(toks) == 2 * len(words) and toks[0::2] == list(words)
            and all(is_tag(t) for t in toks[1::2]))


def tag_scores(gold_targets: list[str], outputs: list[str], words: list[list[str]]) -> dict:
    """The tagging formats' metrics for raw outputs against interleaved gold targets:
    chunk_f1: conlleval's corpus-level chunk F1 (micro over all chunks of all sentences);
    chunk_f1_mean: per-sentence conlleval F1 averaged over sentences (the paper's way,
      `computeF1Arr`; a sentence with no chunk right scores 0, as in their code);
    tag_accuracy: per-word tag accuracy (conlleval's "accuracy"); exact_match;
    invalid: outputs that are not the words each followed by one BIO-form tag; they are still
      scored, by position (`read_tags`).
    Per-sentence values are returned too (`chunk_f1_per_sentence`) for paired comparisons."""
    tp = n_gold = n_pred = 0
    right = total = exact = invalid = 0
    per = []
    for g, out, w in zip(gold_targets, outputs, words):
        n = len(w)
        gt = read_tags(g, n)
        pt = read_tags(out, n)
        invalid += not tag_valid(out, w)
        c = _chunk_counts(gt, pt)
        tp, n_gold, n_pred = tp + c[0], n_gold + c[1], n_pred + c[2]
        per.append(round(_f1(*c), 4))
        right += sum(a == b for a, b in zip(gt, pt))
        total += n
        exact += gt == pt
    m = len(gold_targets)
    return {"n": m, "chunk_f1": _f1(tp, n_gold, n_pred),
            "chunk_f1_mean": sum(per) / m if m else 0.0,
            "tag_accuracy": 100.0 * right / total if total else 0.0,
            "exact_match": 100.0 * exact / m if m else 0.0,
            "invalid": invalid, "chunk_f1_per_sentence": per}


def chunk_types(gold_targets: list[str], outputs: list[str], words: list[list[str]]) -> dict:
    """conlleval's per-type table: {type: {"precision", "recall", "f1", "gold", "predicted"}},
    over all sentences, outputs read by position as `tag_scores` reads them."""
    from collections import Counter

    tp, ng, npred = Counter(), Counter(), Counter()
    for g, out, w in zip(gold_targets, outputs, words):
        gc, pc = chunks(read_tags(g, len(w))), chunks(read_tags(out, len(w)))
        ng.update(c[2] for c in gc)
        npred.update(c[2] for c in pc)
        tp.update(c[2] for c in gc & pc)
    return {t: {"precision": 100.0 * tp[t] / npred[t] if npred[t] else 0.0,
                "recall": 100.0 * tp[t] / ng[t] if ng[t] else 0.0,
                "f1": _f1(tp[t], ng[t], npred[t]), "gold": ng[t], "predicted": npred[t]}
            for t in sorted(set(ng) | set(npred))}
