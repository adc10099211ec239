"""Score a model's predictions against gold records, with the metrics that fit the format.

Trees get both the paper's metric and EVALB. For the unlabeled format EVALB runs unlabeled
(LABELED 0) with the gold POS tags put on the predicted preterminals, which is how unlabeled
bracketings are usually scored with EVALB. Generic text tasks get exact match, token F1 and
conlleval chunk F1.
"""

from __future__ import annotations

from .errors import MckdError


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


def score(gold_records: list[dict], predictions: list[dict], fmt: str) -> dict:
    """Metrics for predictions (records with id and target) against gold records (by id)."""
    gold = _gold_by_id(gold_records)
    pred = {p["id"]: p for p in predictions}
    missing = [i for i in gold if i not in pred]
    if missing:
        raise MckdError(f"{len(missing)} test records have no prediction (first: {missing[0]})")
    ids = [r["id"] for r in gold_records]
    if fmt == "text":
        from .textmetrics import chunk_f1, exact_match, token_f1

        g = [gold[i].get("target") or gold[i]["targets"]["text"] for i in ids]
        p = [pred[i].get("target", "") for i in ids]
        return {"n": len(ids), "exact_match": exact_match(g, p), "token_f1": token_f1(g, p),
                "chunk_f1": chunk_f1(g, p)}

    from .evalb import evalb_score
    from .scoring import paper_f1
    from .trees import delinearize, parse_tree

    gold_trees = [gold[i]["gold"] for i in ids]
    pred_trees, n_repaired, n_invalid = [], 0, 0
    for i in ids:
        r = delinearize(pred[i].get("target", ""), gold[i]["words"], fmt)
        n_repaired += bool(r.repaired)
        n_invalid += not r.ok
        pred_trees.append(r.tree)
    paper = paper_f1(gold_trees, pred_trees)
    if fmt == "unlabeled":
        tagged = []
        for i, t in zip(ids, pred_trees):
            tags = list(parse_tree(gold[i]["gold"]).tags)
            tagged.append(with_gold_tags(t, tags) or "")
        ev = evalb_score(gold_trees, tagged, labeled=False)
    else:
        ev = evalb_score(gold_trees, pred_trees)
    return {
        "n": len(ids),
        "paper_f1": paper["f1"],
        "evalb_f1": ev["all"]["f1"],
        "evalb_f1_errors_as_zero": ev["all"].get("f1_errors_as_zero"),
        "evalb_labeled": fmt != "unlabeled",
        "repaired": n_repaired,
        "invalid": n_invalid,
    }


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


def reference_scores(gold_records: list[dict]) -> dict:
    """Metrics of each trivial reference structure on gold records (tree formats only)."""
    out = {}
    for kind in REFERENCE_KINDS:
        preds = [{"id": r["id"], "target": reference_tree(r["words"], kind)} for r in gold_records]
        out[kind] = score(gold_records, preds, "unlabeled")
    return out

