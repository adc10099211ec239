"""The output formats, defined once; every module that accepts a format checks it against these.

A format is what a model writes for one input and how it is read back and scored:
- tree formats are bracketed trees (see `mckd.trees` for each notation), constrained by
  `teacher.constraint.TreeGrammar`, scored by the paper's F1 and EVALB;
- tag formats are one BIO tag per word written `w1 t1 w2 t2 ...` (the paper's slot-tagging
  notation), constrained by `teacher.constraint.TagGrammar`, scored by chunk F1
  (`mckd.metrics.text`); on treebank data their targets are chunks derived from the gold tree
  (`mckd.chunks`), on imported tag data the record's own tags;
- "text" is any token sequence, unconstrained, scored by exact match, token and chunk F1.

`get(name)` gives a format's facts. What a format does lives with the code of its concern, each
dispatching on these facts: its targets (`mckd.chunks.gold_target`), its grammar
(`mckd.teacher.constraint.grammar_for_format`), its vote (`mckd.teacher.vote.vote`), its metrics
(`mckd.metrics.score`). A new format is one entry in `_REGISTRY` plus those. Importing this
imports nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

TREE_FORMATS = ("unlabeled", "labeled", "skeleton")
TAG_FORMATS = ("chunks", "basenp")
FORMATS = TREE_FORMATS + TAG_FORMATS + ("text",)


@dataclass(frozen=True)
class Format:
    name: str
    kind: str  # "tree" | "tags" | "text"
    help: str
    metric: str  # the headline metric's key in score() results
    metric_label: str

    @property
    def tree(self) -> bool:
        return self.kind == "tree"

    @property
    def tags(self) -> bool:
        return self.kind == "tags"

    @property
    def constrained(self) -> bool:
        """Whether decoding can be held to the format's language (a grammar exists)."""
        return self.kind in ("tree", "tags")

    @property
    def labeled(self) -> bool:
        """Whether its trees carry constituent labels (EVALB scores them; "unlabeled" is scored
        on unlabeled brackets)."""
        return self.tree and self.name != "unlabeled"

    @property
    def columns(self) -> tuple[tuple[str, str], ...]:
        """The report's columns: (key in score() results, header)."""
        if self.tags:
            return (("chunk_f1", "chunk F1"), ("chunk_f1_mean", "chunk F1, sentence mean"),
                    ("tag_accuracy", "tag accuracy"), ("exact_match", "exact match"),
                    ("invalid", "invalid"))
        if not self.tree:
            return (("exact_match", "exact match"), ("token_f1", "token F1"),
                    ("chunk_f1", "chunk F1"))
        return (("paper_f1", "paper F1"),
                ("evalb_f1", "EVALB F1" if self.labeled else "EVALB F1 (unlabeled)"),
                ("evalb_f1_errors_as_zero", "EVALB F1, errors = 0"),
                ("paper_f1_strict", "paper F1, strict"), ("repaired", "repaired"),
                ("invalid", "invalid"))

    @property
    def votes(self) -> bool:
        """Whether several outputs of one input can vote (mckd.teacher.vote): unlabeled trees by
        their spans, tags word by word; labels of labeled trees have no consensus rule."""
        return self.name == "unlabeled" or self.tags


_TREE_METRIC = ("paper_f1", "paper F1")
_REGISTRY = {f.name: f for f in (
    Format("unlabeled", "tree", "the paper's unlabeled trees: ( ( The ) ( dog ) )", *_TREE_METRIC),
    Format("labeled", "tree", "PTB trees with labels and POS tags", *_TREE_METRIC),
    Format("skeleton", "tree", "labeled trees with POS tags for words", *_TREE_METRIC),
    Format("chunks", "tags", "BIO chunk tags, w1 t1 w2 t2 ... (CoNLL-2000 style on trees)",
           "chunk_f1", "chunk F1"),
    Format("basenp", "tags", "BIO base-NP tags, w1 t1 w2 t2 ... (Ramshaw & Marcus on trees)",
           "chunk_f1", "chunk F1"),
    Format("text", "text", "any token sequence, unconstrained", "chunk_f1", "chunk F1"),
)}
assert tuple(_REGISTRY) == FORMATS


def get(name: str) -> Format:
    from .errors import MckdError

    try:
        return _REGISTRY[name]
    except KeyError:
        raise MckdError(f"unknown format {name!r} (expected one of {', '.join(FORMATS)})") from None
