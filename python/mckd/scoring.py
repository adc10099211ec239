"""Scoring predicted trees against gold trees.

* `paper_f1`: the metric of the MCKD paper (C++, cpp/paper.cpp).
* `evalb_score`: EVALB-exact bracket scoring (added below by the EVALB module).
"""

from __future__ import annotations

from . import _core
from .errors import MckdError

# Gold POS tags whose words are scored by paper_f1; every other token (punctuation, $, #,
# -NONE-, HYPH, AFX, ...) is removed first. Defined once, in cpp/paper.cpp.
PAPER_WORD_TAGS: tuple[str, ...] = tuple(_core.PAPER_WORD_TAGS)

_STATUS = {0: "ok", 1: "unparseable", 2: "length_mismatch"}


def paper_f1(gold: list[str], pred: list[str]) -> dict:
    """The paper's metric: unlabeled span F1 per sentence, averaged over sentences.

    gold: gold trees (PTB notation with POS tags, e.g. the records' "gold" field).
    pred: predicted trees in unlabeled or labeled notation (labels are ignored).

    Words whose gold tag is not in PAPER_WORD_TAGS are removed from both trees; spans are the
    distinct constituents covering >= 2 remaining words (the whole sentence included). Before
    scoring, a prediction gets only the paper's repair (missing ')' appended, extra trailing ')'
    removed); one that still fails to parse, or has a different word count, scores 0 and stays
    in the average. As in the paper's code, a sentence without any gold or predicted span also
    scores 0.

    Returns {"f1": mean in 0..100 (EVALB's scale), "per_sentence": [0..100, ...], "n",
    "n_failed", "n_unparseable", "n_length_mismatch", "status": ["ok" | "unparseable" |
    "length_mismatch", ...]}.
    """
    gold, pred = list(gold), list(pred)
    if len(gold) != len(pred):
        raise MckdError(f"paper_f1: {len(gold)} gold trees but {len(pred)} predictions")
    try:
        rows = _core.paper_scores(gold, pred)
    except ValueError as e:
        raise MckdError(str(e)) from None
    per = [100.0 * r[0] for r in rows]
    status = [_STATUS[r[1]] for r in rows]
    n_unparseable = status.count("unparseable")
    n_mismatch = status.count("length_mismatch")
    return {
        "f1": sum(per) / len(per) if per else 0.0,
        "per_sentence": per,
        "n": len(per),
        "n_failed": n_unparseable + n_mismatch,
        "n_unparseable": n_unparseable,
        "n_length_mismatch": n_mismatch,
        "status": status,
    }


# ---- EVALB-exact scoring (evalb_score) goes below this line; owned by the EVALB module ----
