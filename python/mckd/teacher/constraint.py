"""Cheap constrained decoding: the teacher can only write a well-formed tree over the input words.

Why not a GBNF grammar: llama.cpp checks every vocabulary entry against the grammar at every
step, which with a 49k-262k vocabulary costs far more than the forward pass of a small model
(2-5 tok/s instead of 44 for Gemma 3 270M). Here the tree language is a small state machine over
*symbols* (open bracket, close bracket, label, next input word), each rendered as a fixed byte
string in the format's canonical spacing. The allowed tokens at a step are found by walking that
machine and the vocabulary together: the vocabulary is one sorted list of token byte strings, so
"which tokens start with these bytes" is a bisection, and only byte paths the machine allows are
ever looked at (a few dozen lookups per step, independent of vocabulary size).

Every byte-level tokenization of a valid continuation is allowed, so merged tokens the model saw
in its demonstrations (`))`, ` (-`, `:(`) stay available; a word may be spelled with any tokens
but only the next input word, in order. Budgets on brackets keep the output finite, and the
machine can never reach a state with no way to finish (see `_next`), so `complete()` can always
close a tree deterministically when the token budget runs out.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field

from .. import formats
from ..chunks import bio_ok
from ..errors import MckdError
from ..formats import TREE_FORMATS

# The unlabeled tree with bare words as leaves, `( ( More recent ) work )` for the unlabeled
# `( ( ( More ) ( recent ) ) ( work ) )`: a notation students may write instead, one to one with
# it and allowed exactly the same trees (mckd.student.tokenizer.bare_units); not a format of its own,
# so no member of TREE_FORMATS.
BARE = "bare"

# what the last symbol was (field 3 of a state)
START, OPEN, LAB_P, LAB_T, LAB_B, WORD, CLOSE, LEAF, FINAL = range(9)
# completion preference per symbol kind: consume a word > open a bracket > label > close
_RANK = {"word": 0, "leaf": 0, "open": 1, "lab_t": 2, "lab_b": 2, "lab_p": 3, "close": 4}


class VocabIndex:
    """A model's token byte strings, sorted for prefix queries; built once per model."""

    def __init__(self, pieces: list[bytes]):
        pairs = sorted((b, i) for i, b in enumerate(pieces) if b)
        self.keys: list[bytes] = [b for b, _ in pairs]
        self.exact: dict[bytes, list[int]] = {}
        for b, i in pairs:
            self.exact.setdefault(b, []).append(i)
        self.pieces = pieces

    def prefix_range(self, p: bytes, lo: int, hi: int) -> tuple[int, int]:
        """Index range of the tokens in keys[lo:hi] that start with p."""
        lo2 = bisect_left(self.keys, p, lo, hi)
        up = p.rstrip(b"\xff")
        if not up:
            return lo2, hi
        up = up[:-1] + bytes([up[-1] + 1])
        return lo2, bisect_left(self.keys, up, lo2, hi)


_LABEL_RE = re.compile(r"\(\s*([^\s()]+)")
_PRETERM_RE = re.compile(r"\(\s*([^\s()]+)\s+[^\s()]+\s*\)")
_LEAF_RE = re.compile(r"(?<=[\s])([^\s()]+)")


@dataclass
class TreeGrammar:
    """The format and label sets shared by every sentence of a run."""
    fmt: str
    phrase_labels: list[str] = field(default_factory=list)  # most frequent first
    pos_labels: list[str] = field(default_factory=list)

    @classmethod
    def from_targets(cls, fmt: str, targets: list[str]) -> TreeGrammar:
        """Label sets as seen in the gold demonstrations (labeled / skeleton formats)."""
        if fmt not in TREE_FORMATS + (BARE,):
            raise MckdError(f"format {fmt!r} has no tree grammar (expected one of {TREE_FORMATS})")
        phrase: Counter = Counter()
        pos: Counter = Counter()
        for t in targets:
            if fmt == "labeled":
                pre = _PRETERM_RE.findall(t)
                pos.update(pre)
                allc = Counter(_LABEL_RE.findall(t))
                allc.subtract(Counter(pre))
                phrase.update({k: v for k, v in allc.items() if v > 0})
            elif fmt == "skeleton":
                phrase.update(_LABEL_RE.findall(t))
                pos.update(_LEAF_RE.findall(t))
        if fmt not in ("unlabeled", BARE):  # never leave a set empty: the machine must move on
            if not phrase:
                phrase["X"] = 0
            if not pos:
                pos["X"] = 0
        order = lambda c: [k for k, _ in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))]
        return cls(fmt, order(phrase), order(pos))

    # What a format's grammar offers its users (teacher engine, server, students); TagGrammar
    # offers the same three.
    def constraint(self, index: VocabIndex | None, words: list[str], heal: str = "",
                   **kw) -> TreeConstraint:
        return TreeConstraint(self, index, words, heal=heal, **kw)

    def gbnf(self, words: list[str], heal: str) -> str:
        from .gbnf import tree_gbnf

        return tree_gbnf(words, self, heal)

    def check(self, raw: str, words: list[str]) -> dict:
        """An unconstrained output read as this format: the repaired target and whether the
        model's own text was already valid."""
        from ..trees import delinearize

        r = delinearize(raw, words, self.fmt)
        out = {"target": r.tree, "output": raw, "valid": bool(r.ok and not r.repaired),
               "repaired": bool(r.repaired)}
        if r.repaired:
            out["raw"] = raw
            out["problems"] = list(r.problems)
        return out


_UNLABELED = TreeGrammar("unlabeled")

# Child summary of an open bracket (one entry per open bracket on the stack, root first).
EMPTY, ONE_LEAF, ONE_PHRASE, MANY, FILLED = range(5)  # FILLED: a preterminal holding its word
_AFTER_CHILD = {(EMPTY, False): ONE_LEAF, (EMPTY, True): ONE_PHRASE}  # else -> MANY


class TreeConstraint:
    """The state of one sentence's constrained generation.

    `allowed()` maps each allowed token id to its successor configurations; `advance(tok)`
    commits a token; `done` is set once the root bracket closed over every word. A
    configuration is (state, rest): `rest` = bytes of the current symbol still to be written,
    `state` = (bracket stack, words used, consecutive opens, last symbol) once they are.

    Structural rules, beyond "brackets balance and the words come in order":
    - no empty bracket, and no bracket whose only child is another phrase (a unary chain that
      repeats a span) except at the root: small models otherwise open dozens of brackets that
      all close at the end;
    - at most `max_run` brackets opened in a row (gold CRAFT trees: <= 8);
    - a move is allowed only if the words left can still satisfy every open bracket (`_need`),
      so the machine can never reach a state with no way to finish.
    """

    def __init__(self, grammar: TreeGrammar, index: VocabIndex | None, words: list[str],
                 heal: str = "", max_run: int = 8):
        self.g, self.index = grammar, index
        self.words = [(" " + w).encode("utf-8") for w in words]
        self.n = len(words)
        if self.n == 0:
            raise MckdError("cannot constrain a tree over zero words")
        self.max_run = max(2, max_run)
        pset, tset = set(grammar.phrase_labels), set(grammar.pos_labels)
        self._labels = [(l.encode(), l in pset, l in tset)
                        for l in dict.fromkeys(grammar.pos_labels + grammar.phrase_labels)]
        self._p = [l.encode() for l in grammar.phrase_labels]
        self._leaves = [(" " + l).encode() for l in grammar.pos_labels]
        self._memo: dict[tuple, list] = {}
        self._memo_u: dict[tuple, list] = {}  # the unlabeled moves the bare notation is made of
        self.heal = heal.encode("utf-8")
        self.configs: list[tuple] = [(((), 0, 0, START), self.heal)]
        self.text = b""
        self.tokens = 0
        self.done = False

    # ---------------------------------------------------------------- the symbol machine
    @staticmethod
    def _need(stack: tuple) -> int:
        """Fewest words still needed to close every open bracket legally."""
        if not stack:
            return 0
        need = sum(1 for j, c in enumerate(stack[:-1]) if c == EMPTY and j > 0)
        top, root = stack[-1], len(stack) == 1
        return need + (top == EMPTY) + (top == ONE_PHRASE and not root)

    def _ok(self, stack: tuple, i: int) -> bool:
        return self._need(stack) <= self.n - i

    @staticmethod
    def _child(stack: tuple, phrase: bool) -> tuple:
        top = stack[-1]
        return stack[:-1] + (_AFTER_CHILD.get((top, phrase), MANY),)

    def _closing(self, stack: tuple, i: int):
        """State after closing the top bracket, or None when it may not close now."""
        top = stack[-1]
        if len(stack) == 1:  # the root: needs every word, and any child but none
            return ((), i, 0, FINAL) if i == self.n and top != EMPTY else None
        if top not in (ONE_LEAF, MANY, FILLED):
            return None
        rest = self._child(stack[:-1], phrase=top != FILLED)
        return (rest, i, 0, CLOSE) if self._ok(rest, i) else None

    def _next(self, s: tuple) -> list[tuple[bytes, tuple, str]]:
        """(bytes, next state, kind) for every symbol allowed after state s."""
        r = self._memo.get(s)
        if r is not None:
            return r
        stack, i, run, last = s
        n, fmt = self.n, self.g.fmt
        out: list[tuple[bytes, tuple, str]] = []
        d = len(stack)
        pushed = stack + (EMPTY,)
        can_open = i < n and run < self.max_run and self._ok(pushed, i)
        opened = (pushed, i, run + 1, OPEN)
        if last == START:
            out.append((b"(", (((EMPTY,)), i, 1, OPEN), "open"))
        elif last == FINAL:
            pass
        elif fmt == "unlabeled":
            if last == OPEN and d >= 2:  # the root is never a word's own bracket
                out.append((self.words[i], (stack[:-1] + (FILLED,), i + 1, 0, WORD), "word"))
            if last != WORD and can_open:
                out.append((b" (", opened, "open"))
            if last in (WORD, CLOSE):
                c = self._closing(stack, i)
                if c is not None:
                    out.append((b" )", c, "close"))
        elif fmt == BARE:  # ( ( More recent ) work ): the words themselves are the leaves
            # The unlabeled machine's own moves, a bare word standing for its three: ` (`,
            # ` w`, ` )`. So both notations allow exactly the same trees, by construction.
            # A bare ` (` opens a phrase, so it needs an open to follow in the unlabeled machine.
            for sym, s2, kind in self._unlabeled_moves(s):
                if kind == "close":
                    out.append((sym, s2, kind))
                if kind != "open":
                    continue
                after = self._unlabeled_moves(s2)
                for wsym, s3, wkind in after:
                    if wkind == "word":
                        out.extend((wsym, s4, "word") for _, s4, k in self._unlabeled_moves(s3)
                                   if k == "close")
                if any(k == "open" for _, _, k in after):
                    out.append((sym, s2, kind))
        elif fmt == "labeled":
            if last == OPEN:
                pos_ok = d >= 2 or n == 1  # the root is a preterminal only over a single word
                phrase_ok = can_open  # a phrase label must be followed by an open bracket
                for lab, in_p, in_t in self._labels:
                    p_ok, t_ok = in_p and phrase_ok, in_t and pos_ok
                    if p_ok and t_ok:
                        out.append((lab, (stack, i, run, LAB_B), "lab_b"))
                    elif p_ok:
                        out.append((lab, (stack, i, run, LAB_P), "lab_p"))
                    elif t_ok:
                        out.append((lab, (stack, i, run, LAB_T), "lab_t"))
            elif last in (LAB_P, LAB_B, LAB_T):
                if last != LAB_P and stack[-1] == EMPTY:
                    out.append((self.words[i], (stack[:-1] + (FILLED,), i + 1, 0, WORD), "word"))
                if last != LAB_T and can_open:
                    out.append((b" (", opened, "open"))
            elif last in (WORD, CLOSE):
                c = self._closing(stack, i)
                if c is not None:
                    out.append((b")", c, "close"))
                if last == CLOSE and can_open:
                    out.append((b" (", opened, "open"))
        else:  # skeleton: (S (NP DT NN) (VP VBD)) -- leaves are POS tags, one per input word
            if last == OPEN:
                out.extend((lab, (stack, i, run, LAB_P), "lab_p") for lab in self._p)
            elif last in (LAB_P, LEAF, CLOSE):
                leaf = self._child(stack, phrase=False)
                if i < n and self._ok(leaf, i + 1):
                    out.extend((lf, (leaf, i + 1, 0, LEAF), "leaf") for lf in self._leaves)
                if can_open:
                    out.append((b" (", opened, "open"))
                if last != LAB_P:
                    c = self._closing(stack, i)
                    if c is not None:
                        out.append((b")", c, "close"))
        self._memo[s] = out
        return out

    def _unlabeled_moves(self, s: tuple) -> list[tuple[bytes, tuple, str]]:
        if self.g.fmt == "unlabeled":
            return self._next(s)
        r = self._memo_u.get(s)
        if r is None:
            g, self.g = self.g, _UNLABELED
            try:
                memo, self._memo = self._memo, self._memo_u
                r = self._next(s)
            finally:
                self.g, self._memo = g, memo
        return r

    # ---------------------------------------------------------------- token level
    def _walk(self, s, rest: bytes, prefix: bytes, lo: int, hi: int, out: dict) -> None:
        ix = self.index
        if not rest:
            for sym, s2, _ in self._next(s):
                self._walk(s2, sym, prefix, lo, hi, out)
            return
        exact = ix.exact
        for k in range(1, len(rest) + 1):  # tokens ending inside (or exactly at the end of) rest
            ids = exact.get(prefix + rest[:k])
            if ids:
                cfg = (s, rest[k:])
                for t in ids:
                    out.setdefault(t, []).append(cfg)
        if s[3] == FINAL:
            return  # nothing may follow the root's closing bracket
        p = prefix + rest
        lo2, hi2 = ix.prefix_range(p, lo, hi)
        keys = ix.keys
        while lo2 < hi2 and keys[lo2] == p:  # already counted above
            lo2 += 1
        if lo2 < hi2:  # some tokens run on into the next symbol
            for sym, s2, _ in self._next(s):
                self._walk(s2, sym, p, lo2, hi2, out)

    def allowed(self) -> dict[int, list[tuple]]:
        """Token id -> configurations after it, for every token allowed now."""
        out: dict[int, list[tuple]] = {}
        hi = len(self.index.keys)
        for s, rest in self.configs:
            self._walk(s, rest, b"", 0, hi, out)
        fixed = self._fixed_bytes()
        if fixed and len(out) > 1:
            # While the next bytes are determined (one configuration, one way on), spell them
            # longest-match first, as BPE would: drop tokens that stop short when one covers
            # them. This keeps word spellings canonical and usually leaves a single token,
            # which the engine then feeds without asking the model (jump-forward).
            pieces = self.index.pieces
            cover = [t for t in out if len(pieces[t]) >= len(fixed)]
            if not cover:
                longest = max(len(pieces[t]) for t in out)
                cover = [t for t in out if len(pieces[t]) == longest]
            out = {t: out[t] for t in cover}
        return out

    def _fixed_bytes(self) -> bytes:
        """The bytes that must come next whatever the model does (b'' when there is a choice)."""
        if len(self.configs) != 1:
            return b""
        s, fixed = self.configs[0]
        while s[3] != FINAL:
            opts = self._next(s)
            if len(opts) != 1:
                break
            fixed += opts[0][0]
            s = opts[0][1]
        return fixed

    def advance(self, token: int, allowed: dict[int, list[tuple]] | None = None) -> None:
        """Commit `token` (which must be allowed)."""
        if allowed is None:
            allowed = self.allowed()
        cfgs = allowed.get(token)
        if not cfgs:
            raise MckdError(f"token {token} is not allowed here (constraint bug)")
        self.configs = list(dict.fromkeys(cfgs))
        self.text += self.index.pieces[token]
        self.tokens += 1
        self.done = any(s[3] == FINAL and not rest for s, rest in self.configs)

    def complete(self) -> None:
        """Finish the tree without the model: remaining words as flat preterminals, then close."""
        if self.done:
            return
        s, rest = self.configs[0]
        text = self.text + rest
        guard = 0
        while s[3] != FINAL:
            opts = self._next(s)
            sym, s, _ = min(opts, key=lambda o: _RANK[o[2]])  # stable: first of equal rank
            text += sym
            guard += 1
            if guard > 20 * self.n + 20:
                raise MckdError("tree completion did not terminate (constraint bug)")
        self.text, self.configs, self.done = text, [(s, b"")], True

    def output(self) -> str:
        """The generated tree, without the healed prompt suffix."""
        b = self.text
        if self.heal and b.startswith(self.heal):
            b = b[len(self.heal):]
        return b.decode("utf-8", "replace")


# ------------------------------------------------------------------ tag sequences
@dataclass
class TagGrammar:
    """The tag set of a tagging format (chunks, basenp): the tags of the gold demonstrations,
    O first (the tag `complete()` falls back on), then by frequency."""
    fmt: str
    tags: list[str] = field(default_factory=list)

    @classmethod
    def from_targets(cls, fmt: str, targets: list[str]) -> TagGrammar:
        from ..chunks import tags_of

        seen: Counter = Counter()
        for t in targets:
            seen.update(tags_of(t))
        bad = sorted(t for t in seen if t != "O" and not (t[:2] in ("B-", "I-") and t[2:]))
        if bad:
            raise MckdError(f"format {fmt!r}: demonstration tags {bad[:5]} are not BIO tags "
                            "(O, B-TYPE, I-TYPE)")
        # every type's B- is allowed once the type is seen: an I- alone never starts a chunk
        for t in list(seen):
            if t.startswith("I-"):
                seen.setdefault("B-" + t[2:], 0)
        seen.pop("O", None)
        return cls(fmt, ["O"] + [k for k, _ in sorted(seen.items(), key=lambda kv: (-kv[1], kv[0]))])

    def constraint(self, index: VocabIndex | None, words: list[str], heal: str = "") -> TagConstraint:
        return TagConstraint(self, index, words, heal)

    def gbnf(self, words: list[str], heal: str) -> str:
        from .gbnf import tag_gbnf

        return tag_gbnf(words, self, heal)

    def check(self, raw: str, words: list[str]) -> dict:
        """An unconstrained output read as tags: the model's tags by position (every second
        token, as the authors read them), a missing, unknown or BIO-invalid one made O."""
        from ..chunks import repair_tags

        target, ok = repair_tags(raw, words, set(self.tags))
        out = {"target": target, "output": raw, "valid": ok, "repaired": not ok}
        if not ok:
            out["raw"] = raw
            out["problems"] = ["not the input words each followed by one BIO tag of the set"]
        return out

    def valid(self, words: list[str], output: str) -> bool:
        """Whether `output` is exactly the words, in order, each followed by one BIO-valid tag of
        this set: what the constraint admits."""
        from ..chunks import repair_tags

        return repair_tags(output, words, set(self.tags))[1]


class TagConstraint(TreeConstraint):
    """One sentence's constrained generation of `w1 t1 w2 t2 ...`: the input words in order,
    each followed by one tag of the grammar's set, BIO-valid (an I-X only inside an X chunk).

    The token-level walk, jump-forward over forced bytes and completion are TreeConstraint's;
    only the symbol machine differs. A state is (previous chunk type or None, words tagged,
    0, last symbol); the words are forced, so the model chooses the tags only."""

    def __init__(self, grammar: TagGrammar, index: VocabIndex | None, words: list[str],
                 heal: str = ""):
        self.g, self.index = grammar, index
        self.words = [(" " + w).encode("utf-8") for w in words]
        self.n = len(words)
        if self.n == 0:
            raise MckdError("cannot constrain a tag sequence over zero words")
        self._tags = [(t, (" " + t).encode(), t[2:] if t != "O" else None) for t in grammar.tags]
        self._memo: dict[tuple, list] = {}
        self.heal = heal.encode("utf-8")
        self.configs = [((None, 0, 0, START), self.heal)]
        self.text = b""
        self.tokens = 0
        self.done = False

    def _next(self, s: tuple) -> list[tuple[bytes, tuple, str]]:
        r = self._memo.get(s)
        if r is not None:
            return r
        prev, i, _, last = s
        if last == START:
            out = [(self.words[0][1:], (None, 0, 0, WORD), "word")]
        elif last == LEAF:
            out = [(self.words[i], (prev, i, 0, WORD), "word")]
        elif last == WORD:
            end = FINAL if i + 1 == self.n else LEAF
            out = [(b, (typ, i + 1, 0, end), "leaf") for t, b, typ in self._tags if bio_ok(prev, t)]
        else:
            out = []
        self._memo[s] = out
        return out


def grammar_for_format(fmt: str, targets: list[str]):
    """The constrained-decoding grammar of format `fmt` with the labels of the gold `targets`
    (the teacher's demonstrations), or None for a format without one (text)."""
    kind = formats.get(fmt)
    if kind.tree:
        return TreeGrammar.from_targets(fmt, targets)
    if kind.tags:
        return TagGrammar.from_targets(fmt, targets)
    return None
