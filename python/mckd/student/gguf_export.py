"""Write a decoder-only student as a GGUF file, for llama.cpp's batched constrained decoding.

    student folder (config.json + model.safetensors + tokenizer.json)
    → hyperparameters and tokenizer as GGUF metadata
    → tensors renamed to llama.cpp's names (gguf-py's own map), Llama's q/k rows permuted back
      to llama.cpp's rotary layout (transformers un-permutes them when it reads a GGUF)
    → F32 for vectors; F32, F16 or Q8_0 for matrices → one .gguf, written atomically

Why: CTranslate2 cannot mask logits, so constrained decoding there stops and re-prefills at
every forbidden token (`mckd.student.constrained`); llama.cpp hands us the logits of every step,
keeps the KV cache and takes forced tokens without a step of their own (`mckd.teacher.engine`).

Supported: the `llama` (SmolLM2) and `qwen2` (Qwen2.5) architectures with a byte-level BPE
tokenizer, which is what the packaged students are. Anything else gets `GgufUnsupported` and
the student keeps the CTranslate2 engine. Reads safetensors with numpy: no torch needed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..errors import MckdError

# CTranslate2 quantization name → GGUF tensor type of the matrices
GGUF_TYPES = {"float32": "F32", "float16": "F16", "bfloat16": "F16", "int8": "Q8_0",
              "int8_float16": "Q8_0", "int8_float32": "Q8_0", "int8_bfloat16": "Q8_0"}
_ARCHS = {"llama": "LLAMA", "qwen2": "QWEN2"}  # HF model_type → gguf.MODEL_ARCH member


class GgufUnsupported(MckdError):
    """This student cannot be written as GGUF (its architecture or tokenizer); not an error of
    the student: it decodes with CTranslate2 instead."""


def gguf_support(student_dir: str | os.PathLike) -> str | None:
    """None when `write_gguf` can write this student, else why not (one line)."""
    d = Path(student_dir)
    try:
        cfg = json.loads((d / "config.json").read_text(encoding="utf-8"))
        tj = json.loads((d / "tokenizer.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return f"cannot read its config or tokenizer ({e})"
    if cfg.get("model_type") not in _ARCHS:
        return f"model_type {cfg.get('model_type')!r} (GGUF export knows {', '.join(_ARCHS)})"
    model = tj.get("model") or {}
    if model.get("type") != "BPE" or not _byte_level(tj):
        return "its tokenizer is not a byte-level BPE"
    rope = cfg.get("rope_parameters") or {}
    if cfg.get("rope_scaling") or rope.get("rope_type", "default") != "default":
        return "rope scaling is not written to GGUF"
    return None


def _rope_theta(cfg: dict) -> float:
    """transformers 5 keeps it in rope_parameters, older configs at the top level."""
    rope = cfg.get("rope_parameters") or {}
    return float(rope.get("rope_theta") or cfg.get("rope_theta") or 10000.0)


def _byte_level(tj: dict) -> bool:
    dec = tj.get("decoder") or {}
    kinds = {dec.get("type")} | {x.get("type") for x in dec.get("decoders", []) or []}
    return "ByteLevel" in kinds


def _permute(w, n_head: int):
    """HF's rotate-half q/k rows → llama.cpp's interleaved layout (the inverse of what
    transformers' GGUF loader does when it reads them)."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
             .swapaxes(1, 2).reshape(w.shape))


def write_gguf(student_dir: str | os.PathLike, out_path: str | os.PathLike,
               quantization: str = "float32") -> Path:
    """Write the student as GGUF at `out_path` (atomically); GgufUnsupported when it cannot."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    d, out = Path(student_dir), Path(out_path)
    why = gguf_support(d)
    if why:
        raise GgufUnsupported(f"{d}: no GGUF export: {why}")
    if quantization not in GGUF_TYPES:
        raise MckdError(f"quantization {quantization!r}: no GGUF type for it "
                        f"(one of {', '.join(GGUF_TYPES)})")
    qtype = getattr(gguf.GGMLQuantizationType, GGUF_TYPES[quantization])
    cfg = json.loads((d / "config.json").read_text(encoding="utf-8"))
    tj = json.loads((d / "tokenizer.json").read_text(encoding="utf-8"))
    tmeta = json.loads((d / "mckd_tokenizer.json").read_text(encoding="utf-8"))
    arch = getattr(gguf.MODEL_ARCH, _ARCHS[cfg["model_type"]])
    n_layer, n_head = int(cfg["num_hidden_layers"]), int(cfg["num_attention_heads"])
    n_kv = int(cfg.get("num_key_value_heads") or n_head)
    n_embd = int(cfg["hidden_size"])
    head_dim = int(cfg.get("head_dim") or n_embd // n_head)

    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    w = gguf.GGUFWriter(str(tmp), gguf.MODEL_ARCH_NAMES[arch])
    w.add_name(f"mckd student ({cfg['model_type']})")
    w.add_context_length(int(cfg.get("max_position_embeddings") or 2048))
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(int(cfg["intermediate_size"]))
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_rope_dimension_count(head_dim)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_layer_norm_rms_eps(float(cfg.get("rms_norm_eps", 1e-6)))
    w.add_rope_freq_base(_rope_theta(cfg))
    w.add_file_type({"F32": gguf.LlamaFileType.ALL_F32, "F16": gguf.LlamaFileType.MOSTLY_F16,
                     "Q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[GGUF_TYPES[quantization]])
    _add_tokenizer(w, tj, tmeta, int(cfg["vocab_size"]))

    tensors = load_file(str(d / "model.safetensors"))
    names = gguf.get_tensor_name_map(arch, n_layer)
    tied = bool(cfg.get("tie_word_embeddings", True))
    for hf_name in sorted(tensors, key=_order):
        if tied and hf_name == "lm_head.weight":
            continue  # llama.cpp uses token_embd when there is no `output` tensor
        base, _, suffix = hf_name.rpartition(".")
        gname = names.get_name(base)
        if gname is None:
            raise GgufUnsupported(f"{d}: tensor {hf_name} has no GGUF name for {cfg['model_type']}")
        x = np.ascontiguousarray(tensors[hf_name].astype(np.float32))
        if arch == gguf.MODEL_ARCH.LLAMA and gname.endswith((".attn_q", ".attn_k")):
            x = _permute(x, n_head if gname.endswith(".attn_q") else n_kv)
        t = qtype if x.ndim == 2 else gguf.GGMLQuantizationType.F32
        if t == gguf.GGMLQuantizationType.Q8_0 and x.shape[-1] % 32:
            t = gguf.GGMLQuantizationType.F16  # Q8_0 packs rows in blocks of 32
        if t == gguf.GGMLQuantizationType.F32:
            w.add_tensor(f"{gname}.{suffix}", x)
        elif t == gguf.GGMLQuantizationType.F16:
            w.add_tensor(f"{gname}.{suffix}", x.astype(np.float16))
        else:
            w.add_tensor(f"{gname}.{suffix}", gguf.quants.quantize(x, t), raw_dtype=t)
    try:
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _order(name: str):
    """Embeddings first, then the blocks in order, then the output norm (llama.cpp does not
    care; a file in this order reads like the original ones)."""
    if "embed_tokens" in name:
        return (0, 0, name)
    if ".layers." in name:
        return (1, int(name.split(".layers.")[1].split(".")[0]), name)
    return (2, 0, name)


def _add_tokenizer(w, tj: dict, tmeta: dict, vocab_size: int) -> None:
    """GPT-2-style BPE metadata from tokenizer.json. mckd feeds llama.cpp token ids it encoded
    itself, so llama.cpp's own tokenizer only has to load, and name EOS/BOS."""
    import gguf

    vocab: dict[str, int] = dict(tj["model"]["vocab"])
    special = set()
    for a in tj.get("added_tokens", []):
        vocab[a["content"]] = a["id"]
        if a.get("special"):
            special.add(a["id"])
    toks = [f"[PAD{i}]" for i in range(vocab_size)]
    types = [gguf.TokenType.UNUSED] * vocab_size
    for t, i in vocab.items():
        if i < vocab_size:
            toks[i] = t
            types[i] = gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL
    merges = tj["model"].get("merges") or []
    merges = [m if isinstance(m, str) else " ".join(m) for m in merges]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(toks)
    w.add_token_types(types)
    w.add_token_merges(merges)
    causal = tmeta.get("causal") or {}
    for key, add in (("eos", w.add_eos_token_id), ("bos", w.add_bos_token_id),
                     ("pad", w.add_pad_token_id)):
        name = causal.get(key)
        if name and name in vocab:
            add(vocab[name])
    w.add_add_bos_token(False)  # mckd's own prompt ids carry whatever BOS the model wants


def export_gguf(hf: Path, final: Path, quantization: str, ref) -> dict:
    """A decoder-only student also as `model.gguf`, for constrained decoding with llama.cpp
    (mckd.student.llama_decode), parity-checked in float32 first like the CTranslate2 model
    (`ref`: the PyTorch reference; None = no check).
    Where it cannot be written (another architecture, no gguf or llama-cpp-python installed)
    the folder decodes with CTranslate2 only; the manifest says why."""
    from .llama_decode import GGUF_FILE, llama_available

    why = gguf_support(hf)
    try:
        import gguf  # noqa: F401
    except ImportError:
        why = why or "the gguf package is not installed"
    if not why and not llama_available():
        why = "llama-cpp-python is not installed"
    if why:
        return {"written": False, "why": why}
    t0 = time.time()
    f32 = final / f".{GGUF_FILE}.f32"
    write_gguf(hf, f32, "float32")
    try:
        parity = ref.check_gguf(f32) if ref is not None else None
        if GGUF_TYPES[quantization] == "F32":
            f32.rename(final / GGUF_FILE)
        else:
            write_gguf(hf, final / GGUF_FILE, quantization)
    finally:
        f32.unlink(missing_ok=True)
    return {"written": True, "file": GGUF_FILE, "type": GGUF_TYPES[quantization],
            "parity_check": parity, "seconds": round(time.time() - t0, 2)}
