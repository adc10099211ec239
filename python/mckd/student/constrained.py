"""Constrained greedy decoding for decoder-only students: every output is a tree over the input.

A fine-tuned causal LM copies words and counts brackets; on 500 CRAFT test sentences of 20-30
words a SmolLM2-135M student wrote 398 outputs that were not a tree over the sentence (mostly
one bracket too many or too few). The teacher never does, because it decodes under
`mckd.teacher.constraint`; this module gives students the same constraint, in CTranslate2 and
without torch, so `mckd parse` deployments get it too.

CTranslate2 has no per-step logits hook: `Generator.generate_batch` takes a callback that sees
each chosen token and may stop that sequence, but cannot change the choice. Greedy decoding
under a mask equals free greedy decoding up to the first token the mask forbids, so:

    decode every sentence freely, checking each token in the callback against the constraint;
    stop a sentence at its first forbidden token;
    for those, read one step's full logits at that position (return_logits_vocab) and append
    the best allowed token; resume free decoding from the longer prefix; repeat.

The result is exactly token-level masked greedy decoding. Each correction costs one prefill of
prompt + prefix and one resumed decode; the sentence's log-probability is the sum over the
tokens kept (EOS included), as in the unconstrained path.

Sampling (temperature > 0) works the same way and is exactly masked sampling: a token drawn
freely is kept if allowed; where it is forbidden, the next token is drawn from the allowed ones
alone, renormalised (P(t) + P(forbidden) * P(t) / P(allowed) = P(t) / P(allowed)). CTranslate2
draws the free tokens, `rng` the corrected ones.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from ..errors import MckdError
from .. import formats
from ..formats import TREE_FORMATS
from ..teacher.constraint import BARE, TagGrammar, TreeConstraint, TreeGrammar, VocabIndex
from .tokenizer import PTB_PHRASES, PTB_TAGS


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet, inverted: the printable character that stands for each byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def token_bytes(tok) -> list[bytes]:
    """The bytes each id of a `tokenizers.Tokenizer` stands for (b"" for special tokens).

    Byte-level BPE (GPT-2, SmolLM2, Qwen) maps bytes to printable characters; SentencePiece-style
    vocabularies (Gemma, Llama 2) write a space as U+2581 and raw bytes as <0xNN>.
    """
    spec = json.loads(tok.to_str())
    special = {a["id"] for a in spec.get("added_tokens", []) if a.get("special")}
    dec = spec.get("decoder") or {}
    kinds = {dec.get("type")} | {d.get("type") for d in dec.get("decoders", []) or []}
    n = tok.get_vocab_size(with_added_tokens=True)
    out: list[bytes] = []
    if "ByteLevel" in kinds:
        table = _byte_decoder()
        for i in range(n):
            t = tok.id_to_token(i)
            if t is None or i in special:
                out.append(b"")
                continue
            try:
                out.append(bytes(table[c] for c in t))
            except KeyError:  # an added (non-byte-level) token: its text as written
                out.append(t.encode("utf-8"))
        return out
    for i in range(n):
        t = tok.id_to_token(i)
        if t is None or i in special:
            out.append(b"")
        elif len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
            out.append(bytes([int(t[3:5], 16)]))
        else:
            out.append(t.replace("\u2581", " ").encode("utf-8"))
    return out


def grammar_for(fmt: str, leaves: str = "words", tags: list[str] | None = None):
    """The language a student of this format may write: trees (PTB label sets for labeled ones;
    the bare notation for unlabeled students with leaves=bare) or, for tag formats, `tags` (its
    training targets' tag set, kept with its tokenizer) one per word, BIO-valid."""
    if formats.get(fmt).tags:
        if not tags:
            raise MckdError(f"format {fmt!r}: this student keeps no tag set (mckd_tokenizer.json "
                            "'tags'); retrain it with this version to decode it constrained")
        return TagGrammar(fmt, list(tags))
    if fmt not in TREE_FORMATS:
        raise MckdError(f"format {fmt!r}: constrained decoding needs a tree or tag format "
                        f"({', '.join(TREE_FORMATS + formats.TAG_FORMATS)})")
    if fmt == "unlabeled":
        return TreeGrammar(BARE if leaves == "bare" else fmt)
    return TreeGrammar(fmt, phrase_labels=list(PTB_PHRASES), pos_labels=list(PTB_TAGS))


@dataclass
class Decoded:
    """One sentence's constrained output: its text, tokens generated (no EOS), summed log-prob;
    `cut` when the token limit ran out and the tree was closed without the model."""
    text: str
    tokens: int
    logprob: float
    cut: bool
    corrections: int


class _Sentence:
    def __init__(self, prompt: list[str], constraint: TreeConstraint, limit: int):
        self.prompt, self.c, self.limit = prompt, constraint, limit
        self.ids: list[int] = []
        self.logprob = 0.0
        self.corrections = 0
        self.finished = False   # EOS taken (or forced) after a complete tree
        self.cut = False
        self.blocked = False    # stopped at a forbidden token this round


def sampling_options(temperature: float) -> dict:
    """CTranslate2's decoding options: greedy (temperature 0), or the whole distribution (topk 0)
    at that temperature."""
    if temperature > 0:
        return {"sampling_topk": 0, "sampling_temperature": temperature}
    return {"sampling_topk": 1}


def _log_softmax_at(logits, idx: list[int], temperature: float = 0.0, rng=None):
    """The best of the token ids `idx` (temperature 0), or one drawn from them alone at that
    temperature; with its log-prob under the whole (tempered) distribution."""
    import numpy as np

    x = np.asarray(logits, dtype=np.float64).reshape(-1)
    if temperature > 0:
        x = x / temperature
    m = float(x.max())
    lse = m + math.log(float(np.exp(x - m).sum()))
    sub = x[idx]
    if temperature > 0:
        p = np.exp(sub - sub.max())
        j = int(rng.choice(len(idx), p=p / p.sum()))
    else:
        j = int(sub.argmax())
    return idx[j], float(sub[j]) - lse


def decode(generator, tok, fmt: str, prompts: list[list[str]], words_list: list[list[str]],
           limits: list[int], index: VocabIndex, *, max_batch_tokens: int = 4096,
           temperature: float = 0.0, rng=None) -> list[Decoded]:
    """Masked greedy decoding of causal-student `prompts` (token strings) with a ctranslate2
    Generator; `tok` is the student's StudentTokenizer, `index` the VocabIndex of its vocabulary.
    temperature > 0: masked sampling instead (`rng`, a numpy Generator, draws the corrections;
    log-probs are then those of the tempered distribution)."""
    if temperature > 0 and rng is None:
        raise ValueError("sampling (temperature > 0) needs an rng")
    grammar = grammar_for(fmt, tok.leaves, tok.tags)
    eos = tok.eos_id
    eos_tok = tok.ids_to_tokens([eos])[0]
    # The target follows the prompt after a space (StudentTokenizer.encode_target): heal it.
    sents = [_Sentence(p, grammar.constraint(index, w, heal=" "), lim)
             for p, w, lim in zip(prompts, words_list, limits)]
    live = [s for s in sents if s.limit > 0]
    for s in sents:
        if s.limit <= 0:
            s.c.complete()
            s.finished, s.cut = True, True

    while live:
        batch = live
        for s in batch:
            s.blocked = False

        def on_token(step, batch=batch) -> bool:
            s = batch[step.batch_id]
            t = int(step.token_id)
            if len(s.ids) >= s.limit:
                return True
            if s.c.done:  # only EOS may follow a complete tree
                if t == eos:
                    s.logprob += float(step.log_prob)
                    s.finished = True
                    return False
                s.blocked = True
                return True
            allowed = s.c.allowed()
            if t not in allowed:
                s.blocked = True
                return True
            s.c.advance(t, allowed)
            s.ids.append(t)
            s.logprob += float(step.log_prob)
            return False

        total = sum(len(s.prompt) + len(s.ids) for s in batch)
        per_batch = max(max(len(s.prompt) + len(s.ids) for s in batch),
                        min(max_batch_tokens, total))
        room = max(1, max(s.limit - len(s.ids) for s in batch))
        generator.generate_batch(
            [s.prompt + tok.ids_to_tokens(s.ids) for s in batch],
            max_batch_size=per_batch, batch_type="tokens", beam_size=1,
            **sampling_options(temperature),
            max_length=room, include_prompt_in_result=False, end_token=eos_tok,
            return_scores=True, length_penalty=0.0,  # fills step.log_prob
            callback=on_token)

        fix = []
        for s in batch:
            if s.finished:
                continue
            if len(s.ids) >= s.limit:  # no room left: close the tree without the model
                s.c.complete()
                s.finished, s.cut = True, True
            else:  # stopped at a forbidden token (an early EOS is one) or at the call's limit
                fix.append(s)
        _correct(generator, tok, fix, eos, temperature, rng)
        live = [s for s in live if not s.finished]

    # in the format's notation (bare words get their brackets back: one to one, not a repair)
    return [Decoded(text=tok.from_notation(s.c.output(), w), tokens=len(s.ids), logprob=s.logprob,
                    cut=s.cut, corrections=s.corrections) for s, w in zip(sents, words_list)]


def _correct(generator, tok, fix: list[_Sentence], eos: int, temperature: float = 0.0,
             rng=None) -> None:
    """Append the best allowed token (or one sampled from the allowed ones) to each sentence in
    `fix`, from one step's logits.

    Prompts of equal length are batched together: with unequal lengths CTranslate2 feeds the
    longer prompts' tails inside its decoding loop, and the logits it returns are not those of
    the next position.
    """
    by_len: dict[int, list[_Sentence]] = {}
    for s in fix:
        by_len.setdefault(len(s.prompt) + len(s.ids), []).append(s)
    for group in by_len.values():
        res = generator.generate_batch(
            [s.prompt + tok.ids_to_tokens(s.ids) for s in group], beam_size=1,
            max_length=1, include_prompt_in_result=False, return_logits_vocab=True)
        for s, r in zip(group, res):
            s.corrections += 1
            if s.c.done:
                _, lp = _log_softmax_at(r.logits[0], [eos], temperature, rng)
                s.logprob += lp
                s.finished = True
                continue
            allowed = s.c.allowed()
            t, lp = _log_softmax_at(r.logits[0], sorted(allowed), temperature, rng)
            s.c.advance(t, allowed)
            s.ids.append(t)
            s.logprob += lp
