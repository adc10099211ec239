"""Few-shot prompts in the paper's form and the choice of demonstrations.

A prompt is `Input:{x}\nOutput:{y}` per demonstration (blank line between them), then
`Input:{test}\nOutput`, optionally after an instruction paragraph (issue 9's lever). The final `:` is not part of the prompt: BPE vocabularies merge `:(` into
one token, so a prompt ending in `:` puts the model on a token boundary it never saw in the
demonstrations. The `:` is instead the first thing the teacher must write ("token healing"),
so it is free to pick the same `:(` token the demonstrations used.
"""

from __future__ import annotations

import math
import random
from collections import Counter

from ..errors import MckdError

TEMPLATE = "Input:{x}\nOutput:{y}"
DEMO_SEP = "\n\n"
HEAL = ":"
SELECTIONS = ("random", "fixed", "similar")


def demo_block(source: str, target: str) -> str:
    """One demonstration, with its separator."""
    return TEMPLATE.format(x=source, y=target) + DEMO_SEP


def demos_text(demos: list[dict], idx: list[int], instruction: str = "") -> str:
    """Everything before the query: an optional instruction, then the demonstrations."""
    head = instruction.strip() + DEMO_SEP if instruction.strip() else ""
    return head + "".join(demo_block(demos[i]["source"], demos[i]["target"]) for i in idx)


def query_text(source: str) -> str:
    """The test part of the prompt, ending just before the healed ':'."""
    return TEMPLATE.format(x=source, y="")[: -len(HEAL)]


def _seeded(seed: int, key: str) -> random.Random:
    # str seeds are hashed with SHA-512 by `random`, so this is stable across runs and platforms
    return random.Random(f"mckd-teacher:{seed}:{key}")


class DemoSelector:
    """Picks the k demonstrations (indices into `demos`) shown for each input."""

    def __init__(self, demos: list[dict], k: int, how: str, seed: int):
        if how not in SELECTIONS:
            raise MckdError(f"unknown demo selection {how!r} (expected one of {SELECTIONS})")
        if k < 0:
            raise MckdError(f"shots must be >= 0, got {k}")
        self.demos, self.k, self.how, self.seed = demos, k, how, seed
        self._fixed: list[int] | None = None
        if how == "fixed":
            n = min(k, len(demos))
            self._fixed = sorted(_seeded(seed, "fixed").sample(range(len(demos)), n))
        if how == "similar":
            self._build_tfidf()

    def select(self, rec_id: str, words: list[str]) -> list[int]:
        """Demo indices in prompt order (for `similar`: most similar last, next to the query)."""
        pool = [i for i, d in enumerate(self.demos) if d["id"] != rec_id]  # never its own gold
        k = min(self.k, len(pool))
        if self.how == "fixed":
            fixed = [i for i in self._fixed if self.demos[i]["id"] != rec_id]
            return fixed
        if self.how == "random":  # the paper: k sampled per input, deterministic per input id
            return _seeded(self.seed, rec_id).sample(pool, k)
        scores = self._similarity(words)
        best = sorted(pool, key=lambda i: (-scores[i], i))[:k]
        return best[::-1]

    # TF-IDF cosine over lower-cased words: cheap, no downloads, good enough to surface demos
    # sharing the domain vocabulary of the input.
    def _build_tfidf(self) -> None:
        df: Counter = Counter()
        bags = []
        for d in self.demos:
            bag = Counter(w.lower() for w in d["words"])
            bags.append(bag)
            df.update(bag.keys())
        n = len(self.demos)
        self._idf = {w: math.log((1 + n) / (1 + c)) + 1.0 for w, c in df.items()}
        self._vecs = []
        for bag in bags:
            v = {w: c * self._idf[w] for w, c in bag.items()}
            norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
            self._vecs.append({w: x / norm for w, x in v.items()})

    def _similarity(self, words: list[str]) -> list[float]:
        bag = Counter(w.lower() for w in words)
        q = {w: c * self._idf[w] for w, c in bag.items() if w in self._idf}
        norm = math.sqrt(sum(x * x for x in q.values())) or 1.0
        return [sum(x * v.get(w, 0.0) for w, x in q.items()) / norm for v in self._vecs]
