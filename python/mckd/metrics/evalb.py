"""EVALB-exact bracket scoring: the C++ scorer in ``mckd._core`` behind a file/list façade.

``evaluate(gold, pred)`` scores exactly as Sekine & Collins' ``evalb.c`` (today's version, with its
F-measure line) and can give its standard output byte for byte. Inputs are paths (one tree per
line, like EVALB; ``treebank=True`` also accepts trees spread over several lines, counted as
trees) or lists of tree strings. The default parameters are EVALB's ``COLLINS.prm``.

Where ``evalb.c`` cannot finish, this one does, and says so:

* its fixed buffers (200 words, 200 brackets, 5,000 bytes per line, ...) do not exist here; a
  sentence beyond them is scored and listed in ``limit_notes`` (stock EVALB would overflow there);
* a line it cannot read (a word outside brackets, or a preterminal with two words such as
  CRAFT's ``(NN Xpd TTD)``) makes ``evalb.c`` repeat "Reading sentence" until it exits; here the
  sentence is reported once, counted as an error sentence, and the run goes on;
* past ``MAX_ERROR`` errors ``evalb.c`` exits without a summary; here every sentence is scored
  and ``evalb_stop_sentence`` / the ``evalb_would_stop_at`` field say where it would have stopped;
* an unmatched ``)`` (undefined behaviour in ``evalb.c``) is reported and ignored.

Errors-as-zero score (``*_errors_as_zero`` in :meth:`EvalbResult.summary`). EVALB leaves error
and skipped sentences out of its totals, so a parser that emits malformed trees scores *higher*.
The errors-as-zero figures keep every sentence: ``matched`` is EVALB's, but the denominators are

* gold brackets: EVALB's gold count for valid sentences plus, for every error, skipped or missing
  (no test line) sentence, the brackets its gold tree counts on its own (same deletions as EVALB:
  zero-width brackets and ``DELETE_LABEL`` labels removed);
* test brackets: EVALB's test count for valid sentences plus the brackets each error sentence's
  prediction counts on its own (a skipped sentence has an empty prediction: 0).

``recall = matched / gold``, ``precision = matched / test``, ``f1`` their harmonic mean. With no
error, skip or missing sentence they equal EVALB's figures.

All percentages are on EVALB's 0-100 scale. Where EVALB prints ``-nan`` (no bracket matched, so
precision + recall = 0) the JSON ``f1`` is ``0.0``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union
from collections.abc import Sequence

from ..errors import MckdError

TreesInput = Union[str, "os.PathLike[str]", Sequence[str], Sequence[bytes]]

__all__ = ["load_params", "read_tree_file", "evaluate", "evalb_score", "EvalbResult"]

STATUS_NAMES = {0: "valid", 1: "error", 2: "skip", 3: "missing"}


def _core():
    from .. import _core

    return _core


def load_params(path: str | os.PathLike | None = None, *, labeled: bool | None = None,
                cutoff_len: int | None = None, max_error: int | None = None,
                debug: int | None = None):
    """EVALB parameters: a .prm file, or COLLINS.prm's settings when ``path`` is None.

    Keyword overrides apply after the file (like evalb's -c / -e / -d after -p). A bad file
    raises MckdError naming file and line.
    """
    core = _core()
    if path is None:
        params = core.EvalbParams.collins()
    else:
        try:
            text = Path(path).read_bytes()
        except OSError as e:
            raise MckdError(f"{path}: cannot read parameter file: {e.strerror}") from None
        try:
            params = core.EvalbParams.parse(text, str(path))
        except ValueError as e:
            raise MckdError(str(e)) from None
    if labeled is not None:
        params.labeled = int(bool(labeled))
    if cutoff_len is not None:
        params.cutoff_len = int(cutoff_len)
    if max_error is not None:
        params.max_error = int(max_error)
    if debug is not None:
        params.debug = int(debug)
    return params


def _split_lines(data: bytes) -> list[bytes]:
    """Lines as evalb.c's fgets sees them: a last line without a newline still counts."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def read_tree_file(path: str | os.PathLike, *, treebank: bool = False
                   ) -> tuple[list[bytes], list[int]]:
    """Trees of a file and the 1-based line each starts on.

    Default: one tree per line, every line a sentence (as EVALB reads). ``treebank=True``: a tree
    may span lines (PTB .mrg style), read by `mckd.trees.split_treebank` (the reader of every
    treebank) and joined onto one line; blank lines between trees are not sentences.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise MckdError(f"{path}: cannot read: {e.strerror}") from None
    if not treebank:
        lines = _split_lines(data)
        return lines, list(range(1, len(lines) + 1))
    from ..trees import (
        split_treebank,  # the one treebank splitter; a bad piece is scored as an error
    )

    chunks = split_treebank(data)
    return ([b" ".join(x.strip() for x in c.splitlines() if x.strip()) for _, c in chunks],
            [line for line, _ in chunks])


@dataclass
class _Source:
    name: str
    trees: list
    lines: list[int] | None  # 1-based file line of each tree, None for in-memory lists

    def where(self, sentence: int) -> str:
        if self.lines is None:
            return f"{self.name}[{sentence - 1}]"
        if 1 <= sentence <= len(self.lines):
            return f"{self.name}:{self.lines[sentence - 1]}"
        return f"{self.name}: (no tree {sentence}; the file has {len(self.lines)})"


def _source(x: TreesInput, what: str, treebank: bool) -> _Source:
    if isinstance(x, (str, os.PathLike)):
        trees, lines = read_tree_file(x, treebank=treebank)
        return _Source(str(x), trees, lines)
    try:
        trees = list(x)
    except TypeError:
        raise MckdError(f"{what}: expected a path or a list of tree strings, "
                        f"got {type(x).__name__}") from None
    # The type set is built at C speed; only an odd type (or a str/bytes subclass) takes the
    # per-item loop that finds and names the offending index.
    if not set(map(type, trees)) <= {str, bytes}:
        for i, t in enumerate(trees):
            if not isinstance(t, (str, bytes)):
                raise MckdError(f"{what}[{i}]: expected a tree string, got {type(t).__name__}")
    return _Source(what, trees, None)


def _pct(num: int, den: int) -> float:
    return 100.0 * num / den if den > 0 else 0.0


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def _block(t) -> dict[str, Any]:
    valid = t.valid_sentences
    r, p = _pct(t.matched, t.gold_brackets), _pct(t.matched, t.test_brackets)
    rz, pz = _pct(t.matched, t.gold_brackets_all), _pct(t.matched, t.test_brackets_all)
    return {
        "sentences": t.sentences,
        "error_sentences": t.error_sentences,
        "skip_sentences": t.skip_sentences,
        "valid_sentences": valid,
        "missing_sentences": t.missing_sentences,
        "matched": t.matched,
        "gold_brackets": t.gold_brackets,
        "test_brackets": t.test_brackets,
        "recall": r,
        "precision": p,
        "f1": _f1(p, r),
        "complete_match": _pct(t.complete, valid),
        "average_crossing": t.crossing / valid if valid > 0 else 0.0,
        "no_crossing": _pct(t.no_crossing, valid),
        "two_or_less_crossing": _pct(t.two_or_less, valid),
        "words": t.words,
        "correct_tags": t.correct_tags,
        "tagging_accuracy": _pct(t.correct_tags, t.words),
        "gold_brackets_errors_as_zero": t.gold_brackets_all,
        "test_brackets_errors_as_zero": t.test_brackets_all,
        "recall_errors_as_zero": rz,
        "precision_errors_as_zero": pz,
        "f1_errors_as_zero": _f1(pz, rz),
    }


def _dec(b: bytes) -> str:
    return b.decode("utf-8", errors="surrogateescape")


class EvalbResult:
    """The outcome of :func:`evaluate`: EVALB's report, its messages, and the figures."""

    def __init__(self, core_result, gold: _Source, test: _Source, params):
        self._r = core_result
        self._gold, self._test = gold, test
        self.params = params

    @property
    def report_bytes(self) -> bytes:
        """evalb.c's standard output, byte for byte (empty if report=False)."""
        return self._r.report

    @property
    def report(self) -> str:
        return _dec(self._r.report)

    @property
    def evalb_stop_sentence(self) -> int | None:
        """Sentence at which evalb.c would have exited without a summary, or None."""
        return self._r.evalb_stop_sentence or None

    @property
    def evalb_stop_reason(self) -> str | None:
        return self._r.evalb_stop_reason or None

    @property
    def limit_notes(self) -> list[tuple[int, str]]:
        """(sentence, note) for sentences beyond stock EVALB's fixed buffers."""
        return list(self._r.limit_notes)

    def problems(self) -> list[dict[str, Any]]:
        """Every message evalb.c would print, with where the offending tree is."""
        out = []
        for sent, side, text in self._r.messages():
            p: dict[str, Any] = {"sentence": sent, "side": side or "both", "message": _dec(text)}
            if side in ("gold", ""):
                p["gold"] = self._gold.where(sent)
            if side in ("test", ""):
                p["test"] = self._test.where(sent)
            out.append(p)
        return out

    def evalb_messages(self) -> list[str]:
        """The stderr lines evalb.c prints ("<sentence> : <message>")."""
        return [f"{s} : {_dec(t)}" for s, _, t in self._r.messages()]

    def notes(self) -> list[str]:
        """mckd's own remarks: where stock evalb.c would crash or stop (empty if it finishes)."""
        out = [f"sentence {s}: {n}" for s, n in self._r.limit_notes]
        if self._r.evalb_stop_sentence:
            out.append(f"sentence {self._r.evalb_stop_sentence}: {self._r.evalb_stop_reason}; "
                       "mckd scored every sentence and printed the full summary")
        return out

    def per_sentence(self) -> list[dict[str, Any]]:
        keys = ("sentence", "length", "status", "matched", "gold_brackets", "test_brackets",
                "crossing", "words", "correct_tags", "gold_brackets_errors_as_zero",
                "test_brackets_errors_as_zero", "beyond_evalb_limits")
        rows = []
        for t in self._r.per_sentence():
            d = dict(zip(keys, t))
            d["status_name"] = STATUS_NAMES[d["status"]]
            rows.append(d)
        return rows

    def summary(self) -> dict[str, Any]:
        """All figures as one JSON-ready dict (see the module docstring for the definitions)."""
        p = self.params
        return {
            "metric": "evalb",
            "gold": self._gold.name,
            "pred": self._test.name,
            "params": {"labeled": p.labeled, "cutoff_len": p.cutoff_len,
                       "max_error": p.max_error, "delete_label": list(p.delete_label),
                       "delete_label_for_length": list(p.delete_label_for_length),
                       "quote_label": list(p.quote_label),
                       "eq_label": [list(x) for x in p.eq_label],
                       "eq_word": [list(x) for x in p.eq_word]},
            "cutoff_len": self._r.cutoff_len,
            "all": _block(self._r.all),
            "cutoff": _block(self._r.cut),
            "problems": self.problems(),
            "evalb_would_stop_at": self.evalb_stop_sentence,
            "evalb_stop_reason": self.evalb_stop_reason,
            "beyond_evalb_limits": [{"sentence": s, "note": n} for s, n in self._r.limit_notes],
        }


def evaluate(gold: TreesInput, pred: TreesInput, params=None, *, labeled: bool | None = None,
             report: bool = True, treebank: bool = False) -> EvalbResult:
    """Score ``pred`` against ``gold`` as evalb.c does (scoring loop in C++, GIL released).

    ``gold``/``pred``: a path or a list of tree strings. ``params``: an EvalbParams, a .prm path,
    or None for COLLINS.prm. ``labeled=False`` scores spans only. ``report`` builds the
    byte-exact EVALB output too.
    """
    if params is None or isinstance(params, (str, os.PathLike)):
        params = load_params(params)
    elif labeled is not None:
        params = _core().EvalbParams(params)  # don't change the caller's object
    if labeled is not None:
        params.labeled = int(bool(labeled))
    g = _source(gold, "gold", treebank)
    t = _source(pred, "pred", treebank)
    core = _core()
    try:
        res = core.evalb_evaluate(g.trees, t.trees, params, report)
    except (TypeError, ValueError) as e:  # a tree the core cannot view, e.g. a lone surrogate
        msg = str(e)
        for side, src in (("gold[", g), ("test[", t)):
            if msg.startswith(side):
                msg = f"{src.name}[{msg[len(side):]}"
        raise MckdError(msg) from None
    return EvalbResult(res, g, t, params)


def evalb_score(gold: TreesInput, pred: TreesInput, params=None, *,
                labeled: bool | None = None) -> dict[str, Any]:
    """EVALB figures as a dict: ``["all"]["f1"]``, ``["all"]["f1_errors_as_zero"]``, ...

    Same inputs as :func:`evaluate`; no report text is built.
    """
    return evaluate(gold, pred, params, labeled=labeled, report=False).summary()
