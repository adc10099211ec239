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
    from .decode import inference
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
    from .decode import inference
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

    grammar, index = grammar_for(fmt, tok.leaves), VocabIndex(token_bytes(tok.tok))
    out = []
    with inference(model):
        for w in words_list:
            prompt = tok.encode_source(w)
            c = TreeConstraint(grammar, index, w, heal=" ")  # the target follows a space
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


def _logprobs(model, prompt: list[int], out_ids: list[int], eos: int | None):
    """Teacher-forced log-prob of out_ids (+ EOS unless eos is None) after the prompt, and
    whether each token was the argmax (within 1e-4)."""
    import torch

    y = out_ids + ([eos] if eos is not None else [])
    if not y:
        return 0.0, []
    x = torch.tensor([prompt + y])
    with torch.no_grad():
        logits = model(input_ids=x, attention_mask=torch.ones_like(x)).logits[0].float()
    lp = torch.log_softmax(logits[len(prompt) - 1:len(prompt) - 1 + len(y)], -1)
    picked = lp[torch.arange(len(y)), torch.tensor(y)]
    is_max = (picked >= lp.max(-1).values - 1e-4).tolist()
    return float(picked.sum()), is_max


# ----------------------------------------------------------------------------- export parity
def generate_options(tok, limit: int, min_new: int = 0) -> dict:
    """ctranslate2.Generator.generate_batch options shared by the parity check and relabel:
    greedy, the prompt fed at once and left out of the result, the score = the plain sum of the
    generated tokens' log-probs (EOS included when produced)."""
    return dict(beam_size=1, sampling_topk=1, max_length=limit, min_length=min_new,
                include_prompt_in_result=False, return_scores=True, length_penalty=0.0,
                end_token=tok.ids_to_tokens([tok.eos_id])[0])


def parity_check(student_dir: Path, ct2_dir: Path, meta: dict, inputs: list[list[str]]) -> dict:
    """CTranslate2 Generator float32 vs PyTorch greedy on `inputs` (see export.parity_check)."""
    import ctranslate2
    import torch
    from transformers import AutoModelForCausalLM

    from .export import compare_probe, parity_summary
    from .tokenizer import StudentTokenizer, max_decoding_length

    tok = StudentTokenizer.load(student_dir)
    model = AutoModelForCausalLM.from_pretrained(student_dir, local_files_only=True).float().eval()
    min_new = int(meta.get("min_new_tokens", 0))
    bound = meta["length_bound"]
    gen = ctranslate2.Generator(str(ct2_dir), device="cpu", compute_type="float32")
    cases, failures, ties = [], [], 0
    for k, w in enumerate(inputs):
        p = tok.encode_source(w)
        limit = max_decoding_length(bound, len(w), len(p))
        res = gen.generate_batch([tok.ids_to_tokens(p)], **generate_options(tok, limit, min_new))[0]
        c2 = list(res.sequences_ids[0])
        with torch.no_grad():
            hf = _greedy_one(model, p, limit, tok.eos_id, min_new)
        case, tie = compare_probe(f"input {k} ({len(w)} words)", hf, c2, float(res.scores[0]),
                                  limit, tok.eos_id,
                                  lambda ids, eos: _logprobs(model, p, ids, eos), failures)
        cases.append(dict(case, words=len(w)))
        ties += tie
    return parity_summary(student_dir, cases, ties, failures, generator=True)
