"""Per-input GBNF grammars for teachers behind a server (llama.cpp `grammar`, vLLM grammars).

The in-process teacher constrains decoding with `constraint.TreeConstraint`; a server only takes
a grammar. This one admits exactly the bracketed trees over the input's words, in order, in the
format's canonical spacing (the same text the in-process constraint produces), preceded by the
healed `:` of the prompt. It is a right-linear grammar over (words used, bracket depth), so it
stays small: about 3 rules per (word, depth) pair, depth capped at words + 2.

What it does not forbid, unlike the in-process constraint: a bracket whose only child is another
phrase (unary chains) and more than 8 brackets opened in a row. Both need a stack of child
counts, which no regular grammar holds; such trees are still valid trees over the words.
"""

from __future__ import annotations

from ..chunks import bio_ok
from ..errors import MckdError

GRAMMAR_FORMATS = ("unlabeled", "labeled")


def _lit(s: str) -> str:
    """A GBNF string literal."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def tree_gbnf(words: list[str], grammar, heal: str = ":") -> str:
    """GBNF admitting `heal` + every tree over `words` in `grammar.fmt` (a TreeGrammar)."""
    fmt = grammar.fmt
    if fmt not in GRAMMAR_FORMATS:
        raise MckdError(f"format {fmt!r} has no server grammar (supported: "
                        f"{', '.join(GRAMMAR_FORMATS)}); use teacher.grammar=none")
    n = len(words)
    if n == 0:
        raise MckdError("cannot write a grammar for zero words")
    cap = n + 2
    close = " )" if fmt == "unlabeled" else ")"
    rules = [f"root ::= {_lit(heal)} \"(\" a-0-1"]
    if fmt == "labeled":
        if grammar.phrase_labels:
            rules.append("pl ::= " + " | ".join(_lit(x) for x in grammar.phrase_labels))
        if grammar.pos_labels:
            rules.append("tl ::= " + " | ".join(_lit(x) for x in grammar.pos_labels))
    seen: set[tuple[str, int, int]] = set()
    todo = [("a", 0, 1)]
    while todo:
        kind, i, d = state = todo.pop()
        if state in seen:
            continue
        seen.add(state)
        alts: list[tuple[str, tuple | None]] = []  # (text, next state or None = end)
        if kind == "a":  # just opened a bracket at depth d; words i.. are left
            if i < n:
                word = _lit(" " + words[i])
                # a word closes its own bracket; at depth 1 that bracket was the root
                after = ("c", i + 1, d - 1) if d >= 2 else None
                if fmt == "unlabeled":
                    if d >= 2:  # the root is never a word's own bracket
                        alts.append((f"{word} {_lit(close)}", after))
                elif grammar.pos_labels and (d >= 2 or n == 1):
                    alts.append((f"tl {word} {_lit(close)}", after))
                if d < cap and (fmt == "unlabeled" or grammar.phrase_labels):
                    alts.append(((_lit(" (") if fmt == "unlabeled" else f"pl {_lit(' (')}"),
                                 ("a", i, d + 1)))
        else:  # "c": just closed a child; depth d >= 1
            if i < n and d < cap:
                alts.append((_lit(" ("), ("a", i, d + 1)))
            if d >= 2:
                alts.append((_lit(close), ("c", i, d - 1)))
            elif i == n:
                alts.append((_lit(close), None))
        if not alts:
            raise MckdError(f"grammar state {state} has no way on (grammar bug)")
        body = []
        for text, nxt in alts:
            if nxt is None:
                body.append(text)
            else:
                body.append(f"{text} {nxt[0]}-{nxt[1]}-{nxt[2]}")
                todo.append(nxt)
        rules.append(f"{kind}-{i}-{d} ::= " + " | ".join(body))
    return "\n".join(rules) + "\n"


def tag_gbnf(words: list[str], grammar, heal: str = ":") -> str:
    """GBNF admitting `heal` + `w1 t1 w2 t2 ...`: the words in order, each followed by one tag of
    `grammar.tags`, BIO-valid. One rule per (word, previous chunk type): exactly the in-process
    TagConstraint's language."""
    n = len(words)
    if n == 0:
        raise MckdError("cannot write a grammar for zero words")
    types = [None] + sorted({t[2:] for t in grammar.tags if t != "O"})
    name = {t: f"t{j}" for j, t in enumerate(types)}
    rules = [f"root ::= {_lit(heal + words[0])} s-0-t0"]
    for i in range(n):
        for prev in types:
            alts = []
            for tag in grammar.tags:
                if not bio_ok(prev, tag):
                    continue
                nxt = tag[2:] if tag != "O" else None
                rest = f" {_lit(' ' + words[i + 1])} s-{i + 1}-{name[nxt]}" if i + 1 < n else ""
                alts.append(_lit(" " + tag) + rest)
            rules.append(f"s-{i}-{name[prev]} ::= " + " | ".join(alts))
    return "\n".join(rules) + "\n"
