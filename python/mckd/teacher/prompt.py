"""Few-shot prompts and the choice of demonstrations.

The plain prompt (the paper's form) is `Input:{x}\nOutput:{y}` per demonstration (blank line
between them), then `Input:{test}\nOutput`, optionally after an instruction paragraph (`teacher.instruction`).
The final `:` is not part of the prompt: BPE vocabularies merge `:(` into one token, so a
prompt ending in `:` puts the model on a token boundary it never saw in the demonstrations. The
`:` is instead the first thing the teacher must write ("token healing"), so it is free to pick
the same `:(` token the demonstrations used.

The chat prompt renders the same demonstrations as user/assistant turns with the model's own
chat template (the GGUF's `tokenizer.chat_template`), the instruction as the system message.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass

from ..errors import MckdError

TEMPLATE = "Input:{x}\nOutput:{y}"
DEMO_SEP = "\n\n"
HEAL = ":"
SELECTIONS = ("random", "fixed", "similar")
PROMPT_FORMATS = ("plain", "chat")


@dataclass(frozen=True)
class PromptFormat:
    """Where a few-shot prompt's pieces go: `head`, then `pre + x + mid + y + post` for each
    demonstration, then `pre + x + end` for the query; the model's output starts with `heal`.
    `special`: the markup holds special tokens (chat templates), so prompts are tokenized with
    special-token parsing, and inputs must not spell one."""
    head: str = ""
    pre: str = ""
    mid: str = ""
    post: str = ""
    end: str = ""
    heal: str = ""
    special: bool = False

    def demo(self, source: str, target: str) -> str:
        return self.pre + source + self.mid + target + self.post

    def demos(self, demos: list[dict], idx: list[int]) -> str:
        """Everything before the query."""
        return self.head + "".join(self.demo(demos[i]["source"], demos[i]["target"]) for i in idx)

    def query(self, source: str) -> str:
        return self.pre + source + self.end


def plain_format(instruction: str = "") -> PromptFormat:
    """The paper's prompt (TEMPLATE), after an optional instruction paragraph."""
    pre, rest = TEMPLATE.split("{x}")
    mid = rest.split("{y}")[0]
    return PromptFormat(head=instruction.strip() + DEMO_SEP if instruction.strip() else "",
                        pre=pre, mid=mid, post=DEMO_SEP, end=mid[:-len(HEAL)], heal=HEAL)


# Sentinels stand for the contents while a template is rendered; the text between them is the
# template's own markup. NUL never occurs in a template's markup or in a tokenizer's specials.
_S = "\x00{}\x00"


def chat_format(template: str, instruction: str = "", bos_token: str = "",
                eos_token: str = "", strip_bos: bool = False) -> PromptFormat:
    """A PromptFormat from a chat template (Jinja, as in a GGUF's `tokenizer.chat_template`):
    demonstrations are user/assistant turns, the query a user turn followed by the template's
    generation prompt, the instruction (if any) the system message. `strip_bos`: the template
    writes `bos_token` itself and the tokenizer adds one too, so the rendered one is dropped.

    Raises MckdError where the template does not render demonstrations as a repeated unit
    (then a shared prefix and per-demonstration token counts would not hold)."""
    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(msg):
        raise TemplateError(msg)

    try:
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = raise_exception
        tpl = env.from_string(template)
    except TemplateError as e:
        raise MckdError(f"chat template does not parse: {e}") from None
    system = [{"role": "system", "content": instruction.strip()}] if instruction.strip() else []

    def render(n_demos: int) -> str:
        msgs = list(system)
        for j in range(n_demos):
            msgs += [{"role": "user", "content": _S.format(f"U{j}")},
                     {"role": "assistant", "content": _S.format(f"A{j}")}]
        msgs.append({"role": "user", "content": _S.format("Q")})
        try:
            text = tpl.render(messages=msgs, add_generation_prompt=True, bos_token=bos_token,
                              eos_token=eos_token)
        except TemplateError as e:
            raise MckdError(f"chat template does not render few-shot turns: {e}") from None
        if strip_bos and bos_token and text.startswith(bos_token):
            text = text[len(bos_token):]
        return text

    def cut(text: str, *marks: str) -> list[str]:
        parts = []
        for m in marks:
            a, sep, text = text.partition(_S.format(m))
            if not sep:
                raise MckdError(f"chat template dropped a message's content ({m})")
            parts.append(a)
        return parts + [text]

    s0, m0, p0, m1, p1, end = cut(render(2), "U0", "A0", "U1", "A1", "Q")
    if m0 != m1 or p0 != p1:
        raise MckdError("chat template renders each demonstration differently; use "
                        "--prompt-format plain")
    # p0 closes one demonstration and opens the next user turn; s0 ends with the same opening:
    # the longest common suffix is that opening (`pre`)
    k = 0
    while k < min(len(s0), len(p0)) and s0[-1 - k] == p0[-1 - k]:
        k += 1
    pre = p0[len(p0) - k:]
    fmt = PromptFormat(head=s0[:len(s0) - k], pre=pre, mid=m0, post=p0[:len(p0) - k], end=end,
                       heal="", special=True)
    for n in (0, 1):  # the unit holds with no demonstration and with one
        want = render(n)
        got = fmt.head + "".join(fmt.demo(_S.format(f"U{j}"), _S.format(f"A{j}"))
                                 for j in range(n)) + fmt.query(_S.format("Q"))
        if got != want:
            raise MckdError("chat template renders the first turn unlike the others; use "
                            "--prompt-format plain")
    return fmt


def demo_block(source: str, target: str) -> str:
    """One demonstration of the plain prompt, with its separator."""
    return plain_format().demo(source, target)


def demos_text(demos: list[dict], idx: list[int], instruction: str = "") -> str:
    """Everything before the plain prompt's query: an optional instruction, the demonstrations."""
    return plain_format(instruction).demos(demos, idx)


def query_text(source: str) -> str:
    """The test part of the plain prompt, ending just before the healed ':'."""
    return plain_format().query(source)


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
