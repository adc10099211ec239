"""Bracketed trees: reading, cleaning, linearizing and repairing predictions.

A thin layer over the C++ core (`mckd._core`, sources in cpp/tree.*, transform.*, repair.*),
whose errors are `mckd.errors.TreeError`, a MckdError: most functions here are the core's own.
Trees are opaque `Tree` objects stored as flat arrays (words, one POS tag per word, constituents
in pre-order with word spans); nothing here recurses, so arbitrarily deep input is safe.

Reading rules (strict reader, `parse_tree` / `read_trees`):
  * "(" glued to a token makes it the label: "(NP", "(NN dog)". "(" followed by a space or "("
    has an empty label, so the paper's unlabeled "( ( The ) ( dog ) )" reads too; a bracket
    holding a single word is then a leaf wrapper.
  * Whitespace is whatever Python's str.split() splits on, Unicode spaces included. CRAFT's four
    "two-token preterminals" are words joined by U+200A (e.g. "(NN Xpd\\u200aTTD)"): they are read
    as one preterminal per token with the same tag ("(NN Xpd) (NN TTD)"), so every CRAFT tree
    loads and " ".join(t.words).split() == t.words holds for every tree.
  * Unbalanced brackets, stray text, words mixed with constituents in one bracket, empty
    brackets, control characters and invalid UTF-8 are errors (MckdError) naming the file, line
    and tree number.

Formats (`FORMATS`): "unlabeled" is the paper's target notation: no labels, every word wrapped
as "( w )", and, as in the paper's preprocessing, a constituent with a single child is not
bracketed a second time. "labeled" is the cleaned PTB tree with POS tags. "skeleton" is the
labeled tree with each word replaced by its POS tag: "(S (NP DT NN) (VP VBD))".

`delinearize(pred, words, fmt)` always returns a tree over exactly `words`: see
`DelinearizeResult` (`.tree`, `.ok`, `.repaired`, `.problems`) and cpp/repair.hpp for the rules.
Invented POS tags are "XX"; invented constituents (a root joining several trees, or holding
attached missing words) have an empty label.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from . import _core
from ._core import DelinearizeResult, Tree  # noqa: F401  (re-exported)
from .errors import MckdError, TreeError
from .formats import TREE_FORMATS as FORMATS  # this module knows only the tree formats

__all__ = [
    "FORMATS", "Tree", "TreeError", "DelinearizeResult", "parse_tree", "read_trees",
    "split_treebank",
    "parse_treebank_text", "strip_function_tags", "delete_none", "drop_root_wrapper", "clean",
    "linearize", "linearize_many", "delinearize", "delinearize_many", "flat_tree",
    "record_target", "record_words", "tree_units",
]

_UNIT_RE = re.compile(r"\(\S*?(?=[\s()]|$)|\)|[^\s()]+")


def tree_units(tree: str) -> list[str]:
    """Split a bracketed tree into units: ``(`` or ``(LABEL`` openers, ``)``, and leaves."""
    return _UNIT_RE.findall(tree)


def parse_tree(text: str, source: str | None = None) -> Tree:
    """Read exactly one tree from `text`; MckdError (prefixed by `source`) if it is malformed."""
    if source is None:
        return _core.parse_tree(_valid_str(text, "tree"))
    try:
        return _core.parse_tree(_valid_str(text, source))
    except TreeError as e:
        raise TreeError(f"{source}: {e}") from None


def read_trees(path: str | os.PathLike) -> list[Tree]:
    """Every tree of a treebank file: one per line (EVALB style) or multi-line (.mrg, .tree)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise MckdError(f"{p}: cannot read: {e.strerror or e}") from None
    return _core.parse_treebank(data, str(p))


def split_treebank(data: bytes) -> list[tuple[int, bytes]]:
    """(line, bytes) of every top-level piece of a treebank file: the one splitter of every
    treebank reader (see `_core.split_treebank`): a tree, or a stray ')' or text outside any tree
    (reported by the readers, never dropped); a tree still open where a line starts with '(' is
    cut there, so it cannot swallow the trees after it."""
    return _core.split_treebank(data)


def parse_treebank_text(data: bytes | str, source: str = "<text>") -> list[Tree]:
    """Every tree in an in-memory treebank (bytes or str); errors name `source`."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")  # lone surrogates become invalid UTF-8
    return _core.parse_treebank(data, source)


def strip_function_tags(t: Tree) -> Tree:
    """NP-SBJ-1 -> NP, PP-LOC=2 -> PP on every label and tag; -NONE-, -LRB-, -RRB- stay."""
    return _core.strip_function_tags(t)


def delete_none(t: Tree) -> Tree:
    """Delete -NONE- words and every constituent they leave empty."""
    return _core.delete_none(t)


def drop_root_wrapper(t: Tree) -> Tree:
    """Drop the unlabeled root wrapper "( (S ...) )" -> "(S ...)"."""
    return _core.drop_root_wrapper(t)


def clean(t: Tree) -> Tree:
    """Strip function tags, delete -NONE- (and emptied constituents), drop the root wrapper."""
    return _core.clean(t)


def linearize(t: Tree, fmt: str) -> str:
    """The tree in one of FORMATS (see the module docstring)."""
    return _core.linearize(t, _check_fmt(fmt))  # TreeError: e.g. the skeleton of an untagged tree


def linearize_many(trees: list[Tree], fmt: str) -> list[str]:
    """linearize() for many trees in one native call (no GIL held)."""
    return _core.linearize_many(trees, _check_fmt(fmt))


def delinearize(pred: str, words: list[str], fmt: str) -> DelinearizeResult:
    """Repair `pred` into a tree over exactly `words` (never fails on a bad prediction)."""
    return _core.delinearize(_valid_str(pred, None), list(words), _check_fmt(fmt))


def delinearize_many(preds: list[str], words: list[list[str]], fmt: str) -> list[DelinearizeResult]:
    """delinearize() for many predictions in one native call (no GIL held)."""
    return _core.delinearize_many([_valid_str(p, None) for p in preds],
                                  [list(w) for w in words], _check_fmt(fmt))


def flat_tree(words: list[str], fmt: str) -> Tree:
    """A root over all the words (the fallback for unusable predictions)."""
    return _core.flat_tree(list(words), _check_fmt(fmt))


def record_target(rec: dict, fmt: str) -> str:
    """A record's target linearization: rec["target"] if present, else rec["targets"][fmt]."""
    if "target" in rec:
        return rec["target"]
    try:
        return rec["targets"][fmt]
    except (KeyError, TypeError):
        raise MckdError(f"record {rec.get('id', '?')}: no 'target' and no targets[{fmt!r}]") from None


def record_words(rec: dict) -> list[str]:
    """A record's words: rec["words"] if present, else rec["source"].split()."""
    return list(rec.get("words") or rec.get("source", "").split())


def _check_fmt(fmt: str) -> str:
    if fmt not in FORMATS:
        raise MckdError(f"unknown tree format {fmt!r} (expected one of {', '.join(FORMATS)})")
    return fmt


def _valid_str(s: str, source: str | None) -> str:
    """Strings with lone surrogates cannot cross into C++: replace them (predictions) or fail."""
    if not isinstance(s, str):
        raise MckdError(f"{source or 'prediction'}: expected a string, got {type(s).__name__}")
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError as e:
        if source is None:
            return s.encode("utf-8", "replace").decode("utf-8")
        raise MckdError(f"{source}: character {e.start + 1} is a lone surrogate, not text") from None
