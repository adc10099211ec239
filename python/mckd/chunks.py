"""Chunk tags derived from treebank trees: the offline stand-in for a slot-tagging corpus.

Two derivations, both BIO-encoded, one tag per word of the cleaned tree:

- `"chunks"`, typed chunks in the style of CoNLL-2000 (which was derived from WSJ trees by rule):
  a chunk holds the words whose lowest phrase is the same node, up to and including its head,
  and no other phrase. Concretely:
  1. each word belongs to its lowest phrase (the deepest bracket above its POS tag);
  2. a premodifier phrase inside a noun phrase (ADJP, QP, NML, NX, NAC, UCP directly under NP, no
     phrase of its own inside) belongs to that NP: "[NP a very large amount]";
  3. a verb cluster is one chunk: a word whose lowest phrase is a VP nested in the previous
     word's VP continues that chunk: "[VP will be joined]";
  4. a chunk's type is its phrase's label when that is one of `CHUNK_TYPES`, otherwise the word
     is O (words directly under S, FRAG, ...); punctuation (`PUNCT_TAGS`) is always O, and so is
     a conjunction (CC) that joins phrases (its phrase has a phrase child other than an absorbed
     premodifier): "[NP cats] and [NP dogs]", but "[NP cats and dogs]";
  5. consecutive words of one phrase form one chunk; a phrase interrupted by another phrase
     starts a new chunk after it ("[NP the cat 's] [NP tail]", as CoNLL-2000 writes possessives).
- `"basenp"`, base noun phrases (Ramshaw & Marcus 1995): every NP that contains no other NP is
  one B-NP I-NP ... chunk over its whole span; every other word is O.

Targets are written as the authors' T5 targets were: each word followed by its tag,
`w1 t1 w2 t2 ...` (their `processAnsInterLeave`).
"""

from __future__ import annotations

from .errors import MckdError

CHUNK_TYPES = ("NP", "VP", "PP", "ADJP", "ADVP", "SBAR", "PRT", "CONJP", "INTJ", "LST", "UCP")
# O whatever phrase they sit in: CoNLL-2000 leaves punctuation outside chunks. Hyphens (HYPH)
# and slashes stay inside: CRAFT splits "neuron-packing" into three tokens.
PUNCT_TAGS = frozenset({",", ".", ":", "``", "''", "-LRB-", "-RRB-", "-NONE-"})
_PREMODIFIERS = frozenset({"ADJP", "QP", "NML", "NX", "NAC", "UCP"})
DERIVATIONS = ("chunks", "basenp")


def _lowest(spans: list[tuple[str, int, int]], n: int) -> list[int]:
    """Index (in pre-order) of the deepest phrase over each word: in pre-order a descendant
    comes after its ancestor and siblings do not overlap, so the last span holding a word is
    its lowest."""
    low = [-1] * n
    for k, (_, s, e) in enumerate(spans):
        for i in range(s, e):
            low[i] = k
    return low


def chunk_tags(tree, derivation: str = "chunks") -> list[str]:
    """BIO tags, one per word of `tree` (a mckd Tree), by `derivation` (see the module doc)."""
    if derivation not in DERIVATIONS:
        raise MckdError(f"unknown chunk derivation {derivation!r} (expected one of {DERIVATIONS})")
    spans, parents, tags = tree.spans(), tree.parents(), tree.tags
    n = tree.n_words
    if derivation == "basenp":
        return _base_np(spans, n)
    has_phrase_child = [False] * len(spans)
    for p in parents:
        if p >= 0:
            has_phrase_child[p] = True
    absorbed = [lab in _PREMODIFIERS and not has_phrase_child[k] and parents[k] >= 0
                and spans[parents[k]][0] == "NP" for k, (lab, _, _) in enumerate(spans)]
    joins = [False] * len(spans)  # has a phrase child of its own (so a CC in it coordinates)
    for k, p in enumerate(parents):
        if p >= 0 and not absorbed[k]:
            joins[p] = True
    owner = []
    for k in _lowest(spans, n):
        while k >= 0 and absorbed[k]:
            k = parents[k]
        owner.append(k)
    out: list[str] = []
    prev_owner, prev_type = None, "O"
    for i in range(n):
        k = owner[i]
        label = spans[k][0] if k >= 0 else ""
        typ = label if label in CHUNK_TYPES and tags[i] not in PUNCT_TAGS else "O"
        if tags[i] == "CC" and k >= 0 and joins[k]:
            typ = "O"
        if typ == "O":
            out.append("O")
        elif prev_type == typ and (k == prev_owner or
                                   (typ == "VP" and _inside(k, prev_owner, parents))):
            out.append("I-" + typ)
        else:
            out.append("B-" + typ)
        prev_owner, prev_type = k, typ
    return out


def _inside(k: int, anc: int | None, parents: list[int]) -> bool:
    """Whether node k lies inside node anc (k itself included)."""
    while k >= 0:
        if k == anc:
            return True
        k = parents[k]
    return False


def _base_np(spans: list[tuple[str, int, int]], n: int) -> list[str]:
    nps = [(s, e) for lab, s, e in spans if lab == "NP"]
    base = [(s, e) for s, e in nps
            if not any((s2, e2) != (s, e) and s <= s2 and e2 <= e for s2, e2 in nps)]
    out = ["O"] * n
    for s, e in base:
        out[s] = "B-NP"
        for i in range(s + 1, e):
            out[i] = "I-NP"
    return out


def bio_ok(prev: str | None, tag: str) -> bool:
    """Whether `tag` may follow a word tagged with chunk type `prev` (None: O or the start):
    I-X continues a chunk of type X only."""
    return not tag.startswith("I-") or tag[2:] == prev


def gold_target(rec: dict, fmt: str) -> str | None:
    """A gold record's target in format `fmt`, or None where it has none: `targets[fmt]`; for a
    tag format on a treebank record, the chunks of its gold tree (derived on reading, so imported
    data stays as it was); else the record's `target`."""
    from . import formats

    if fmt in rec.get("targets", {}):
        return rec["targets"][fmt]
    if formats.get(fmt).tags and rec.get("gold"):
        return chunk_target(rec["gold"], fmt)
    return rec.get("target")


def interleave(words: list[str], tags: list[str]) -> str:
    """`w1 t1 w2 t2 ...`, the target notation of the tagging formats."""
    if len(words) != len(tags):
        raise MckdError(f"{len(words)} words but {len(tags)} tags")
    return " ".join(f"{w} {t}" for w, t in zip(words, tags))


def tags_of(output: str) -> list[str]:
    """The tags of an interleaved output: every second token (the authors' `t5_interleave2sent`);
    an output with an odd number of tokens loses its last, unpaired one."""
    toks = output.split()
    return toks[1::2]


def chunk_target(gold_tree: str, derivation: str) -> str:
    """The interleaved chunk target of a record's gold tree string."""
    from .trees import parse_tree

    t = parse_tree(gold_tree)
    return interleave(list(t.words), chunk_tags(t, derivation))


def is_tag(t: str) -> bool:
    return t == "O" or (t[:2] in ("B-", "I-") and len(t) > 2)


def repair_tags(output: str, words: list[str], known=None) -> tuple[str, bool]:
    """(target, ok): the output's tags by position (`tags_of`) interleaved with `words`: an I-X
    outside an X chunk becomes B-X (where conlleval reads a chunk start anyway), a tag that is
    missing, not a BIO tag or not in `known` (when given) becomes O; ok when nothing had to
    change and the output's words are `words`."""
    got = tags_of(output)
    fixed, prev = [], None
    for j in range(len(words)):
        tag = got[j] if j < len(got) else "O"
        if tag.startswith("I-") and tag[2:] != prev:
            tag = "B-" + tag[2:]
        if not is_tag(tag) or (known is not None and tag not in known):
            tag = "O"
        fixed.append(tag)
        prev = tag[2:] if tag != "O" else None
    toks = output.split()
    ok = toks[0::2] == list(words) and len(toks) == 2 * len(words) and fixed == toks[1::2]
    return interleave(list(words), fixed), ok
