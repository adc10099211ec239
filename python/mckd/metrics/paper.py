"""The MCKD paper's metric, exactly as the authors' evaluation code computes it (C++, cpp/paper.cpp).

"Paper F1" is the mean per-sentence unlabeled span F1 of the authors' `run_eval`
(src/parserlib.py of andotalao24/Multistage-Collaborative-Knowledge-Distillation), averaged as
their training script averages it, quirks included:

* the prediction is the model's raw text, given only their fix-ups (`_core.paper_fixup`): " )"
  appended while "(" outnumber ")"; a trailing " )" dropped while ")" outnumber "(" (so "...))"
  keeps its extra brackets and fails); tokens merged by "/" or "-" split when the split form is
  in the source sentence; won't/don't/can't and X's split;
* words are removed by their position's *gold* POS tag (PAPER_WORD_TAGS are kept), so only the
  number of words is checked, never their identity: a prediction with too many words scores 0,
  one with a different number of words after the removal scores 0, and one that only lacks
  trailing punctuation still scores;
* spans are the distinct brackets covering >= 2 kept words; a sentence with no common span
  scores 0;
* a sentence for which their code raises an uncaught error (a gold tree with no scored word, a
  prediction whose scored words are all removed) is left out of the mean, as their script drops
  its -1 entries.

`strict=True` is the honest sibling: no fix-up, the prediction must be one tree whose words are
exactly the gold words, every failure scores 0 and no sentence is left out.
"""

from __future__ import annotations

from .. import _core
from ..errors import MckdError

# Gold POS tags whose words are scored by paper_f1; every other token (punctuation, $, #,
# -NONE-, HYPH, AFX, ...) is removed first. Defined once, in cpp/paper.cpp.
PAPER_WORD_TAGS: tuple[str, ...] = tuple(_core.PAPER_WORD_TAGS)

STATUSES = ("ok", "unparseable", "length_mismatch", "excluded")


def _utf8(texts, what: str) -> list:
    """Strings as the core takes them; lone surrogates (possible in JSON) pass as bytes."""
    out = []
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise MckdError(f"paper_f1: {what} {i + 1} is {type(t).__name__}, not a string")
        try:
            t.encode("utf-8")
            out.append(t)
        except UnicodeEncodeError:
            out.append(t.encode("utf-8", "surrogatepass"))
    return out


def paper_f1(gold: list[str], pred: list[str], sources: list[str] | None = None, *,
             strict: bool = False) -> dict:
    """The paper's metric over sentences (see the module docstring).

    gold: gold trees with POS tags (the records' "gold"). pred: the models' raw outputs.
    sources: the input sentences, space-joined (the records' "source"; their fix-ups look words
    up in it); default: the gold words.

    Returns {"f1": mean over scored sentences, 0..100, "per_sentence": [0..100 or None when
    excluded], "status": ["ok" | "unparseable" | "length_mismatch" | "excluded"], "n",
    "n_scored", "n_failed", "n_unparseable", "n_length_mismatch", "n_excluded"}. "f1" is 0.0
    when no sentence is scored.
    """
    gold, pred = list(gold), list(pred)
    src = [] if sources is None else list(sources)
    if len(gold) != len(pred) or (sources is not None and len(src) != len(gold)):
        raise MckdError(f"paper_f1: {len(gold)} gold trees, {len(pred)} predictions"
                        + ("" if sources is None else f", {len(src)} sources"))
    try:
        rows = _core.paper_scores(_utf8(gold, "gold tree"), _utf8(pred, "prediction"),
                                  _utf8(src, "source"), strict)
    except ValueError as e:
        raise MckdError(str(e)) from None
    status = [STATUSES[r[1]] for r in rows]
    per = [None if s == "excluded" else 100.0 * r[0] for r, s in zip(rows, status)]
    scored = [p for p in per if p is not None]
    n_unparseable = status.count("unparseable")
    n_mismatch = status.count("length_mismatch")
    return {
        "f1": sum(scored) / len(scored) if scored else 0.0,
        "per_sentence": per,
        "status": status,
        "n": len(per),
        "n_scored": len(scored),
        "n_failed": n_unparseable + n_mismatch,
        "n_unparseable": n_unparseable,
        "n_length_mismatch": n_mismatch,
        "n_excluded": status.count("excluded"),
    }
