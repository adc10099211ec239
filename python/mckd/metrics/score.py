"""Score a model's predictions against gold records, with the metrics that fit the format.

Every metric reads what the model wrote: a prediction's raw `output` when the record has one
(label files of the teacher, relabel and `mckd parse`), else its `target` (external prediction
files, reference structures). The repaired tree in `target` is for training, never for scores.

Trees get the paper's metric (`mckd.metrics.paper.paper_f1`, the authors' algorithm on the raw text,
and its strict variant) and EVALB. A raw output that is not a well-formed tree over exactly the
record's words is an EVALB error: left out of EVALB's totals, as EVALB does, and counted with
0 matched brackets in the errors-as-zero column. For the unlabeled format EVALB runs unlabeled
(LABELED 0) in the unlabeled linearization's space: gold and prediction are both linearized
unlabeled (one-word and unary brackets dropped, as the format cannot express them) and get the
gold POS tags back on their words, so the gold's own linearization scores 100. Generic text
tasks get exact match, token F1 and conlleval chunk F1.
"""

from __future__ import annotations

import re

from .. import formats
from ..errors import MckdError
from ..versions import SCORER_VERSION


def _gold_by_id(gold_records: list[dict]) -> dict[str, dict]:
    return {r["id"]: r for r in gold_records}


def _tokens(s: str) -> list[str]:
    return s.replace("(", " ( ").replace(")", " ) ").split()


def with_gold_tags(unlabeled_tree: str, tags: list[str]) -> str | None:
    """`( ( The ) ( dog ) )` + [DT, NN] -> `(X (DT The) (NN dog))`; None if the leaves don't fit."""
    toks = _tokens(unlabeled_tree)
    out: list[str] = []
    i = k = 0
    while i < len(toks):
        t = toks[i]
        if t == "(" and i + 2 < len(toks) and toks[i + 1] not in "()" and toks[i + 2] == ")":
            if k >= len(tags):
                return None
            out.append(f"({tags[k]} {toks[i + 1]})")
            k += 1
            i += 3
            continue
        out.append("(X" if t == "(" else t)
        i += 1
    if k != len(tags):
        return None
    return " ".join(out).replace("(X (", "(X (")


def raw_output(pred: dict) -> str:
    """What the model wrote: `output` when the record has it, else `target`."""
    text = pred["output"] if "output" in pred else pred.get("target")
    return text if isinstance(text, str) else ""


def strict_tree(text: str, words: list[str]):
    """The raw text read strictly (no repair) as a tree over exactly `words`, or None."""
    from ..trees import parse_tree

    try:
        t = parse_tree(text)
    except MckdError:
        return None
    return t if list(t.words) == list(words) else None


def score(gold_records: list[dict], predictions: list[dict], fmt: str,
          per_sentence: bool = False) -> dict:
    """Metrics for predictions (records with id and output/target) against gold records (by id).

    per_sentence: trees also get "paper_f1_per_sentence", one value a gold record in its order
    (None where the paper's metric leaves the sentence out), for paired comparisons.
    """
    gold = _gold_by_id(gold_records)
    pred = {p["id"]: p for p in predictions}
    missing = [i for i in gold if i not in pred]
    if missing:
        raise MckdError(f"{len(missing)} test records have no prediction (first: {missing[0]})")
    ids = [r["id"] for r in gold_records]
    kind = formats.get(fmt)
    if kind.tags:
        from .text import tag_scores

        from ..chunks import gold_target

        res = tag_scores([gold_target(gold[i], fmt) for i in ids],
                         [raw_output(pred[i]) for i in ids],
                         [gold[i].get("words") or gold[i]["source"].split() for i in ids])
        if not per_sentence:
            res.pop("chunk_f1_per_sentence")
        return {**res, "scorer_version": SCORER_VERSION}
    if fmt == "text":
        from .text import chunk_f1, exact_match, token_f1

        g = [gold[i].get("target") or gold[i]["targets"]["text"] for i in ids]
        p = [" ".join(raw_output(pred[i]).split()) for i in ids]
        return {"n": len(ids), "exact_match": exact_match(g, p), "token_f1": token_f1(g, p),
                "chunk_f1": chunk_f1(g, p), "scorer_version": SCORER_VERSION}
    return _score_trees([gold[i] for i in ids], [raw_output(pred[i]) for i in ids], fmt,
                        per_sentence)


def paired_gain(a: list[float | None], b: list[float | None]) -> dict:
    """Mean of a - b over the sentences both score, with its standard error (two systems'
    per-sentence scores of the same sentences, e.g. score(..., per_sentence=True))."""
    import statistics

    if len(a) != len(b):
        raise MckdError(f"paired_gain: {len(a)} scores against {len(b)}")
    d = [x - y for x, y in zip(a, b) if x is not None and y is not None]
    if len(d) < 2:
        raise MckdError(f"paired_gain: {len(d)} sentences scored by both; need 2 or more")
    return {"mean": round(statistics.mean(d), 2),
            "se": round(statistics.stdev(d) / len(d) ** 0.5, 2), "n": len(d)}


def _score_trees(gold_recs: list[dict], raws: list[str], fmt: str,
                 per_sentence: bool = False) -> dict:
    from ..trees import delinearize
    from .paper import paper_f1

    gold_trees = [g["gold"] for g in gold_recs]
    scored, n_repaired, n_invalid = [], 0, 0
    for g, raw in zip(gold_recs, raws):
        words = list(g["words"])
        rep = delinearize(raw, words, fmt)
        n_repaired += bool(rep.repaired)
        tree = _valid_tree(raw, words, fmt, rep)
        n_invalid += tree is None
        scored.append(tree)
    paper_in = [_paper_text(raw, t, fmt) for t, raw in zip(scored, raws)]
    sources = [" ".join(g["words"]) for g in gold_recs]
    paper = paper_f1(gold_trees, paper_in, sources=sources)
    strict = paper_f1(gold_trees, paper_in, sources=sources, strict=True)
    ev = evalb_raw(gold_recs, scored, raws, fmt)
    extra = {"paper_f1_per_sentence": paper["per_sentence"]} if per_sentence else {}
    return {
        "n": len(gold_recs),
        "paper_f1": paper["f1"],
        "paper_f1_strict": strict["f1"],
        "paper_failed": paper.get("n_failed"),
        "evalb_f1": ev["f1"],
        "evalb_f1_errors_as_zero": ev["f1_errors_as_zero"],
        "evalb_errors": ev["errors"],
        "evalb_labeled": formats.get(fmt).labeled,
        "repaired": n_repaired,
        "invalid": n_invalid,
        "scorer_version": SCORER_VERSION,
        **extra,
    }


_LABEL = re.compile(r"\(([^\s()]+)")


def _paper_text(raw: str, valid_tree: str | None, fmt: str) -> str:
    """What the paper metric reads: the raw text in the paper's unlabeled notation.

    The authors read every "(" as unlabeled, so a label would count as a word. For the labeled
    formats the labels are dropped (a change of notation, not a repair); a skeleton's leaves are
    tags, so its valid tree (words put back in place of the tags) is used.
    """
    if fmt == "unlabeled":
        return raw
    text = valid_tree if fmt == "skeleton" and valid_tree is not None else raw
    return _LABEL.sub("( ", text)


def _valid_tree(raw: str, words: list[str], fmt: str, rep) -> str | None:
    """The raw output as a tree string over `words` if it is one without any repair, else None."""
    if fmt == "skeleton":  # leaves are POS tags: valid when repair only put the words back
        return rep.tree if rep.ok and not rep.repaired else None
    return raw if strict_tree(raw, words) is not None else None


def _unlabeled_space(tree: str, tags: list[str]) -> str | None:
    """A tree in the unlabeled linearization with the given POS tags on its words."""
    from ..trees import linearize, parse_tree

    try:
        return with_gold_tags(linearize(parse_tree(tree), "unlabeled"), tags)
    except MckdError:
        return None


def evalb_raw(gold_recs: list[dict], scored: list[str | None], raws: list[str], fmt: str) -> dict:
    """EVALB F1 and errors-as-zero F1, where `scored[i]` None marks an invalid raw output.

    Invalid outputs are EVALB errors whatever EVALB's own reader makes of them: they leave
    EVALB's totals and enter the errors-as-zero ones with 0 matched brackets.
    """
    from ..trees import parse_tree
    from .evalb import evaluate

    gold_side, pred_side, bad = [], [], []
    for g, t, raw in zip(gold_recs, scored, raws):
        if fmt == "unlabeled":
            tags = list(parse_tree(g["gold"]).tags)
            gold_u = (g.get("targets") or {}).get("unlabeled") or g["gold"]
            gold_side.append(_unlabeled_space(gold_u, tags) or g["gold"])
            p = _unlabeled_space(t, tags) if t is not None else None
            pred_side.append(p if p is not None else (with_gold_tags(raw, tags) or raw))
        else:
            gold_side.append(g["gold"])
            pred_side.append(t if t is not None else raw)
        bad.append(t is None or (fmt == "unlabeled" and p is None))
    rows = evaluate(gold_side, pred_side, labeled=formats.get(fmt).labeled,
                    report=False).per_sentence()
    return _evalb_totals(rows, bad)


def _evalb_totals(rows: list[dict], bad: list[bool]) -> dict:
    """EVALB's corpus F1 over valid sentences, and the errors-as-zero F1 over all of them."""
    matched = gold = test = gold_all = test_all = errors = 0
    for r, b in zip(rows, bad):
        gold_all += r["gold_brackets_errors_as_zero"]
        test_all += r["test_brackets_errors_as_zero"]
        if b or r["status"] != 0:  # an error (or skip) sentence: out of EVALB's totals
            errors += 1
            continue
        matched += r["matched"]
        gold += r["gold_brackets"]
        test += r["test_brackets"]
    return {"f1": _f1(matched, gold, test), "f1_errors_as_zero": _f1(matched, gold_all, test_all),
            "errors": errors}


def _f1(matched: int, gold: int, test: int) -> float:
    r = 100.0 * matched / gold if gold else 0.0
    p = 100.0 * matched / test if test else 0.0
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


REFERENCE_KINDS = ("right-branching", "left-branching", "flat")


def reference_tree(words: list[str], kind: str) -> str:
    """A structure any parser must beat, in the unlabeled format: binary right- or
    left-branching over the words, or flat (only the sentence span)."""
    leaves = [f"( {w} )" for w in words]
    if kind == "flat" or len(leaves) < 2:
        return "( " + " ".join(leaves) + " )"
    if kind == "right-branching":
        t = leaves[-1]
        for leaf in reversed(leaves[:-1]):
            t = f"( {leaf} {t} )"
        return t
    if kind == "left-branching":
        t = leaves[0]
        for leaf in leaves[1:]:
            t = f"( {t} {leaf} )"
        return t
    raise MckdError(f"unknown reference structure {kind!r} (known: {', '.join(REFERENCE_KINDS)})")


TAG_REFERENCE_KINDS = ("most frequent tag", "all O")


def most_frequent_tags(demos: list[dict], fmt: str) -> dict[str, str]:
    """Each word's most frequent tag in the gold demonstrations (ties: the first tag by name)."""
    from collections import Counter

    from ..chunks import gold_target

    seen: dict[str, Counter] = {}
    for d in demos:
        toks = gold_target(d, fmt).split()
        for w, t in zip(toks[0::2], toks[1::2]):
            seen.setdefault(w, Counter())[t] += 1
    return {w: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for w, c in seen.items()}


def reference_tags(words: list[str], kind: str, lookup: dict[str, str]) -> str:
    """A tagging any tagger must beat: every word O, or each word's tag in `lookup`
    (`most_frequent_tags` of the gold demonstrations; O for a word they do not hold)."""
    from ..chunks import interleave

    if kind == "all O":
        return interleave(words, ["O"] * len(words))
    if kind != "most frequent tag":
        raise MckdError(f"unknown tag reference {kind!r} (known: {', '.join(TAG_REFERENCE_KINDS)})")
    return interleave(words, [lookup.get(w, "O") for w in words])


def reference_scores(gold_records: list[dict], fmt: str = "unlabeled",
                     demos: list[dict] = ()) -> dict:
    """Metrics of each trivial reference on gold records: structures for tree formats (scored
    unlabeled), `TAG_REFERENCE_KINDS` from the `demos` for tag formats."""
    if formats.get(fmt).tags:
        lookup = most_frequent_tags(demos, fmt)  # once, not once a record
        return {kind: score(gold_records, [{"id": r["id"], "target": reference_tags(
            r.get("words") or r["source"].split(), kind, lookup)} for r in gold_records], fmt)
            for kind in TAG_REFERENCE_KINDS}
    out = {}
    for kind in REFERENCE_KINDS:
        preds = [{"id": r["id"], "target": reference_tree(r["words"], kind)} for r in gold_records]
        out[kind] = score(gold_records, preds, "unlabeled")
    return out

