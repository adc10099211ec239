"""Decoder-only (causal LM) students: a pretrained GGUF or HF causal-LM fine-tuned as a student.

    --init smollm2 | PATH.gguf | HF_CAUSAL_DIR
    → transformers model (a GGUF is dequantized to float32 and rebuilt as a plain model, so it
      saves like any checkpoint) + the model's own tokenizer (tokenizer.json in the student)
    → example = prompt ("w1 w2 ... wn =>") + " " + target + EOS; labels -100 on the prompt
    → export: TransformersConverter → ctranslate2.Generator, parity-checked against PyTorch

Seq2seq (T5/BART) students are untouched (mckd.student.models); this module is chosen only when `init`
names a GGUF or a causal-LM folder. The student's kind is recorded as "student_kind": "causal"
in mckd_student.json and mckd_model.json; relabeling (mckd.student.relabel) needs no torch for either.
Importing this module imports neither torch nor transformers.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from ..errors import MckdError

KIND = "causal"
PROMPT_SUFFIX = " =>"
# resolve_model's own aliases for the two single-package teachers (teacher/models.py)
_GGUF_ALIASES = ("smollm2", "smollm2-135m", "smollm2-135m-instruct",
                 "gemma3-270m", "gemma-3-270m", "gemma3")


# ----------------------------------------------------------------------------- what init names
def is_short_name(spec: str) -> bool:
    """A packaged GGUF short name (without resolving it: no package is read or assembled)."""
    from ..teacher.models import SHORT_NAMES, _find_packaged

    s = str(spec).strip().lower()
    return s in _GGUF_ALIASES or s in SHORT_NAMES or _find_packaged(s) is not None


def _looks_like_path(s: str) -> bool:
    return s.lower().endswith(".gguf") or os.sep in s or "/" in s or s.startswith((".", "~"))


def _config_is_causal(cfg: dict) -> bool:
    from .models import SUPPORTED_MODEL_TYPES

    if cfg.get("is_encoder_decoder") or cfg.get("model_type") in SUPPORTED_MODEL_TYPES:
        return False  # seq2seq (BART also has a ForCausalLM class: not what a folder means)
    archs = cfg.get("architectures") or []
    if any(str(a).endswith("ForCausalLM") for a in archs):
        return True
    if archs:
        return False
    try:  # no architectures recorded: ask transformers whether the type is a causal LM
        from transformers.models.auto.modeling_auto import (
            MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        )
    except ImportError:
        return False
    return cfg.get("model_type") in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES


def init_kind(spec: str) -> str:
    """"gguf", "causal" (an HF causal-LM folder) or "seq2seq" (everything else: the seq2seq
    loader reports what is wrong with it, as before)."""
    s = str(spec)
    p = Path(s).expanduser()
    if p.is_file() and s.lower().endswith(".gguf"):
        return "gguf"
    if p.is_dir():
        cj = p / "config.json"
        if cj.is_file():
            try:
                cfg = json.loads(cj.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                return "seq2seq"
            if isinstance(cfg, dict) and _config_is_causal(cfg):
                return "causal"
        return "seq2seq"
    if s.lower().endswith(".gguf"):
        raise MckdError(f"init {s!r}: no such .gguf file")
    if not _looks_like_path(s) and is_short_name(s):
        return "gguf"
    return "seq2seq"


def check_init_spec(spec: str, what: str = "student.init") -> None:
    """Cheap validation for configs: an existing folder, an existing .gguf file, or a known
    packaged short name (its package is checked when training starts)."""
    s = str(spec)
    p = Path(s).expanduser()
    if p.is_dir() or (p.is_file() and s.lower().endswith(".gguf")):
        return
    if not _looks_like_path(s) and is_short_name(s):
        return
    raise MckdError(f"{what}={s!r}: no such folder, .gguf file or packaged model (expected a "
                    "local HF seq2seq or causal-LM checkpoint folder, a .gguf file, or a short "
                    "name such as smollm2)")


def is_causal_init(spec: str) -> bool:
    return bool(spec) and init_kind(spec) in ("gguf", "causal")


def _source(spec: str) -> tuple[str, dict]:
    """(folder, from_pretrained keyword arguments) for a causal init."""
    kind = init_kind(spec)
    if kind == "gguf":
        p = Path(spec).expanduser()
        if not p.is_file():
            from ..teacher.models import resolve_model

            try:
                p = resolve_model(spec)
            except MckdError as e:
                raise MckdError(f"init {spec!r}: {e}") from None
        return str(p.parent), {"gguf_file": p.name}
    if kind == "causal":
        return str(Path(spec).expanduser()), {"local_files_only": True}
    raise MckdError(f"init {spec!r}: not a GGUF file, packaged model name or causal-LM folder")


# ----------------------------------------------------------------------------- loading
def load_tokenizer(spec: str, fmt: str, leaves: str = "words"):
    """The init model's own tokenizer as a causal StudentTokenizer (kind "hf"; leaves "words",
    or "bare" for unlabeled trees without the words' own brackets)."""
    from transformers import AutoTokenizer

    from .tokenizer import StudentTokenizer

    d, kw = _source(spec)
    try:
        hf = AutoTokenizer.from_pretrained(d, **kw)
    except Exception as e:  # noqa: BLE001 - transformers raises many kinds
        raise MckdError(f"init {spec!r}: cannot load its tokenizer ({e})") from None
    backend = getattr(hf, "backend_tokenizer", None)
    if backend is None:
        raise MckdError(f"init {spec!r}: no fast (tokenizers) tokenizer")
    eos = hf.eos_token
    if eos is None:
        raise MckdError(f"init {spec!r}: its tokenizer names no EOS token")
    bos = None
    if getattr(hf, "add_bos_token", False) and hf.bos_token:
        b = backend.token_to_id(hf.bos_token)
        if b is not None and backend.encode("a").ids[:1] != [b]:
            bos = hf.bos_token  # the HF wrapper adds it, the backend does not: add it ourselves
    causal = {"prompt_suffix": PROMPT_SUFFIX, "eos": eos, "pad": hf.pad_token or eos,
              "unk": hf.unk_token or eos, "bos": bos}
    return StudentTokenizer(tok=backend, kind="hf", format=fmt, leaves=leaves, causal=causal)


def load_model(spec: str):
    """A trainable float32 AutoModelForCausalLM from a GGUF (dequantized, then rebuilt without
    its quantization_config so it saves as a plain checkpoint) or an HF causal-LM folder."""
    from transformers import AutoModelForCausalLM

    d, kw = _source(spec)
    try:
        model = AutoModelForCausalLM.from_pretrained(d, **kw)
    except Exception as e:  # noqa: BLE001
        raise MckdError(f"init {spec!r}: cannot load the model ({type(e).__name__}: {e})") from None
    if "gguf_file" in kw:  # dequantized already; save_pretrained refuses while it says "gguf"
        cfg = model.config
        if hasattr(cfg, "quantization_config"):
            del cfg.quantization_config
        plain = AutoModelForCausalLM.from_config(cfg)
        plain.load_state_dict(model.state_dict())
        model = plain
    elif getattr(model.config, "quantization_config", None) is not None:
        raise MckdError(f"init {spec!r}: a quantized checkpoint cannot be fine-tuned as a student "
                        "(give its GGUF file or an unquantized folder)")
    model.config.use_cache = False  # training; set back to True when saved
    return model.float()  # float32 whatever the checkpoint's dtype (the export checks float32)


# ----------------------------------------------------------------------------- training batches
def make_batch(srcs: list[list[int]], tgts: list[list[int]], pad_id: int, torch):
    """(input_ids, labels, attention_mask), right-padded: input = prompt + target, labels -100
    on the prompt and the padding (the model shifts them: the loss is on the target only)."""
    seqs = [s + t for s, t in zip(srcs, tgts)]
    n = max(len(x) for x in seqs)
    x = torch.full((len(seqs), n), pad_id, dtype=torch.long)
    y = torch.full((len(seqs), n), -100, dtype=torch.long)
    am = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, (s, t) in enumerate(zip(srcs, tgts)):
        x[i, :len(s) + len(t)] = torch.tensor(s + t, dtype=torch.long)
        y[i, len(s):len(s) + len(t)] = torch.tensor(t, dtype=torch.long)
        am[i, :len(s) + len(t)] = 1
    return x, y, am


# ----------------------------------------------------------------------------- PyTorch decoding
def _greedy_one(model, prompt: list[int], limit: int, eos: int, min_new: int = 0,
                device="cpu") -> list[int]:
    import torch

    x = torch.tensor([prompt], device=device)
    gen = model.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=limit,
                         min_new_tokens=min_new, num_beams=1, do_sample=False,
                         eos_token_id=eos, pad_token_id=eos)
    out = []
    for t in gen[0, len(prompt):].tolist():
        if t == eos:
            break
        out.append(t)
    return out


def greedy_decode(model, tok, words_list: list[list[str]], bound: dict, device,
                  min_new_tokens: int = 0) -> list[list[int]]:
    """PyTorch greedy decoding (one prompt at a time: no padding), the same per-input length
    limit as `mckd relabel`; generated ids without the EOS."""
    from .batches import inference
    from .tokenizer import max_decoding_length

    out = []
    with inference(model):
        for w in words_list:
            p = tok.encode_source(w)
            limit = max_decoding_length(bound, len(w), len(p))
            out.append(_greedy_one(model, p, limit, tok.eos_id, min_new_tokens, device))
    return out


def constrained_greedy(model, tok, words_list: list[list[str]], bound: dict, device,
                       fmt: str) -> list[str]:
    """PyTorch masked greedy decoding: at each step the best token the tree constraint allows
    (`mckd.student.constrained` does the same in CTranslate2, which `mckd relabel` runs). Texts
    in the format's notation, each a tree over its words; a tree the length limit cuts is
    closed without the model, as there."""
    import torch
    from transformers import LogitsProcessor, LogitsProcessorList

    from ..teacher.constraint import TreeConstraint, VocabIndex
    from .constrained import grammar_for, token_bytes
    from .batches import inference
    from .tokenizer import max_decoding_length

    class TreeMask(LogitsProcessor):
        """Advances the constraint by the token last chosen, then allows only what it allows
        (only EOS once the tree is complete)."""

        def __init__(self, c: TreeConstraint, start: int):
            self.c, self.start, self.allowed = c, start, None

        def take(self, ids) -> None:
            """Advance by the last of `ids` (prompt + generated) unless taken already."""
            if len(ids) > self.start and not self.c.done and int(ids[-1]) != tok.eos_id:
                self.c.advance(int(ids[-1]), self.allowed)
            self.start = max(self.start, len(ids))

        def __call__(self, input_ids, scores):
            self.take(input_ids[0])
            self.allowed = {tok.eos_id} if self.c.done else self.c.allowed()
            keep = torch.tensor(sorted(self.allowed), device=scores.device)
            masked = torch.full_like(scores, float("-inf"))
            masked[:, keep] = scores[:, keep]
            return masked

    grammar, index = grammar_for(fmt, tok.leaves, tok.tags), VocabIndex(token_bytes(tok.tok))
    out = []
    with inference(model):
        for w in words_list:
            prompt = tok.encode_source(w)
            c = grammar.constraint(index, w, heal=" ")  # the target follows a space
            x, mask = torch.tensor([prompt], device=device), TreeMask(c, len(prompt))
            limit = max_decoding_length(bound, len(w), len(prompt))
            if limit > 0:
                seq = model.generate(input_ids=x, attention_mask=torch.ones_like(x),
                                     do_sample=False, num_beams=1, max_new_tokens=limit,
                                     logits_processor=LogitsProcessorList([mask]),
                                     eos_token_id=tok.eos_id, pad_token_id=tok.eos_id)
                mask.take(seq[0])  # the limit's last token, which no later step consumed
            if not c.done:
                c.complete()
            out.append(tok.from_notation(c.output(), w))
    return out


# ----------------------------------------------------------------------------- export parity
class ForcedReference:
    """PyTorch's log-probabilities along probe sequences (each probe's prompt, then its words
    again and EOS), one forward pass each: what an export of the student must reproduce.

    A teacher-forced check compares every position's whole distribution, in seconds; the check
    it replaces decoded each probe greedily in PyTorch (up to ~200 steps of `generate`: 188 of
    an export's 223 s for a 135M student) and compared only the tokens."""

    # a wrong conversion shows as errors of whole nats (3.03 for a GGUF with the wrong rope
    # base); float32 engines agree to ~1e-5, llama.cpp's float16 KV cache to ~1e-2
    TOLERANCE = 5e-2

    def __init__(self, student_dir: Path, inputs: list[list[str]]):
        import torch
        from transformers import AutoModelForCausalLM

        from .tokenizer import StudentTokenizer

        self.student_dir = student_dir
        tok = StudentTokenizer.load(student_dir)
        model = AutoModelForCausalLM.from_pretrained(student_dir,
                                                     local_files_only=True).float().eval()
        self.seqs, self.starts, self.rows = [], [], []
        with torch.no_grad():
            for w in inputs:
                p = tok.encode_source(w)
                seq = p + tok.tok.encode(" " + " ".join(w), add_special_tokens=False).ids \
                    + [tok.eos_id]
                lp = torch.log_softmax(model(input_ids=torch.tensor([seq])).logits[0].double(), -1)
                self.seqs.append(seq)
                self.starts.append(len(p))
                self.rows.append(lp[len(p) - 1:len(seq) - 1].numpy())

    def compare(self, engine: str, got: list) -> dict:
        """`got`: the engine's log-prob rows for the same positions; MckdError where they
        differ by more than TOLERANCE or pick another clear (margin > TOLERANCE) best token."""
        import numpy as np

        worst, flips, n = 0.0, 0, 0
        for seq, start, ref, lg in zip(self.seqs, self.starts, self.rows, got):
            nxt = np.array(seq[start:])
            at = np.arange(len(nxt))
            worst = max(worst, float(np.abs(ref[at, nxt] - lg[at, nxt]).max()))
            top2 = np.sort(ref, -1)[:, -2:]
            clear = top2[:, 1] - top2[:, 0] > self.TOLERANCE
            flips += int(((ref.argmax(-1) != lg.argmax(-1)) & clear).sum())
            n += len(nxt)
        if worst > self.TOLERANCE or flips:
            raise MckdError(f"{self.student_dir}: export parity check failed: {engine}'s "
                            f"log-probabilities differ from PyTorch's by up to {worst:.4f} nats, "
                            f"{flips} of {n} predicted tokens differ (the conversion is wrong)")
        return {"method": "teacher-forced", "inputs": len(self.seqs), "positions": n,
                "max_logprob_abs_err": round(worst, 6), "argmax_differs": flips}

    def check_ct2(self, ct2_dir: Path) -> dict:
        """The CTranslate2 Generator (float32) against PyTorch."""
        import ctranslate2
        import numpy as np

        gen = ctranslate2.Generator(str(ct2_dir), device="cpu", compute_type="float32")
        got = []
        for seq, start in zip(self.seqs, self.starts):
            lp = np.asarray(gen.forward_batch([seq], return_log_probs=True))[0]
            got.append(lp[start - 1:len(seq) - 1].astype(np.float64))
        return dict(self.compare("CTranslate2", got), generator=True)

    def check_gguf(self, gguf_path: Path) -> dict:
        """The GGUF (float32 weights) in llama.cpp against PyTorch."""
        from .llama_decode import forced_logprobs

        return self.compare("llama.cpp", forced_logprobs(gguf_path, self.seqs, self.starts,
                                                         threads=1))


# ----------------------------------------------------------------------------- lean loss
# Model types whose logits are plain `lm_head(hidden)` (no soft-capping or scaling), so the
# loss can be taken from the hidden states directly (`target_loss`).
PLAIN_HEAD_TYPES = ("llama", "qwen2")


def target_loss(model, x, y, am, chunk: int = 1024):
    """The causal-LM loss of `model(input_ids=x, attention_mask=am, labels=y).loss` (mean
    cross-entropy over the positions that have a label), without its [batch, length, vocab]
    logits: the output layer runs on the target positions only (a 49k vocabulary over every
    prompt and padding position was most of a SmolLM2 student's memory), a chunk of positions
    at a time, its gradients taken in the same pass (`_LinearCE`). Same loss, up to float
    rounding; models without a plain output layer go the usual way."""
    head = model.get_output_embeddings()
    if model.config.model_type not in PLAIN_HEAD_TYPES or getattr(head, "bias", None) is not None:
        return model(input_ids=x, attention_mask=am, labels=y).loss
    h = model.base_model(input_ids=x, attention_mask=am).last_hidden_state[:, :-1]
    t = y[:, 1:]
    keep = t != -100
    return _linear_ce()(h[keep], head.weight, t[keep], chunk)


@functools.cache
def _linear_ce():
    """Mean cross-entropy of softmax(h @ W.T) against targets, a chunk of rows at a time: the
    forward pass also computes the gradients of h and W (softmax - one-hot, projected), so no
    chunk's logits outlive it. Costs the same three matmuls as the plain path."""
    import torch

    class _LinearCE(torch.autograd.Function):
        @staticmethod
        def forward(ctx, h, w, t, chunk):
            n = h.shape[0]
            total = torch.zeros((), dtype=torch.float64)
            gh = torch.empty_like(h)
            gw = torch.zeros_like(w) if ctx.needs_input_grad[1] else None
            for s in range(0, n, chunk):
                hc, tc = h[s:s + chunk], t[s:s + chunk]
                z = hc @ w.t()
                lse = torch.logsumexp(z, -1)
                total += (lse - z.gather(1, tc[:, None])[:, 0]).double().sum()
                z.sub_(lse[:, None]).exp_()  # softmax, in place
                z[torch.arange(len(tc)), tc] -= 1.0
                z.div_(n)
                gh[s:s + chunk] = z @ w
                if gw is not None:
                    gw.addmm_(z.t(), hc)
            ctx.save_for_backward(gh, gw if gw is not None else torch.empty(0))
            ctx.has_gw = gw is not None
            return (total / max(1, n)).to(h.dtype)

        @staticmethod
        def backward(ctx, g):
            gh, gw = ctx.saved_tensors
            return gh * g, (gw * g if ctx.has_gw else None), None, None

    return _LinearCE.apply
