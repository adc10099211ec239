"""Export a trained student to CTranslate2, and prove the export decodes like PyTorch.

    student (HF folder) → [BART: config patched with normalize_before=false]
    → TransformersConverter, loaded once: float32 and the requested quantization
    → parity check of the float32 model against PyTorch greedy on probe inputs
    → the requested quantization → MODEL_DIR (atomic rename)

Decoder-only students ("student_kind": "causal" in mckd_student.json, mckd.student.causal)
convert the same way to a CTranslate2 Generator model; their parity check decodes with
ctranslate2.Generator.

MODEL_DIR holds everything inference needs: model.bin + vocabulary, tokenizer.json,
mckd_tokenizer.json, mckd_model.json (format, leaves, output-length bound) and manifest.json
(versions, checksums of the source checkpoint, parity results).

Known conversion bugs this guards against (measured with ctranslate2 4.8.5): with transformers 5, T5Config always
says tie_word_embeddings=True and keeps the real choice in `scale_decoder_outputs`, so the
converter scales the decoder output of untied (v1.1) T5 models that do not scale — we hand it the
real flag. BART's config has no `normalize_before`; we add `false` (BART is post-norm).
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from pathlib import Path

from ..config import QUANTIZATIONS
from ..errors import MckdError
from ..jsonio import read_json, sha256_file, write_json_atomic

_STUDENT_FILES = ("config.json", "model.safetensors", "tokenizer.json", "mckd_tokenizer.json",
                  "mckd_student.json")


def _converter_class():
    import ctranslate2

    class _Converter(ctranslate2.converters.TransformersConverter):
        def load_model(self, model_class, model_name_or_path, **kwargs):
            model = super().load_model(model_class, model_name_or_path, **kwargs)
            cfg = model.config
            if cfg.model_type == "t5" and hasattr(cfg, "scale_decoder_outputs"):
                cfg.tie_word_embeddings = bool(cfg.scale_decoder_outputs)
            return model

    return _Converter


def _check_student(student_dir: Path) -> dict:
    if not student_dir.is_dir():
        raise MckdError(f"{student_dir}: student folder not found")
    missing = [f for f in _STUDENT_FILES if not (student_dir / f).is_file()]
    if missing:
        hint = " (training unfinished? re-run `mckd train` to resume)" \
            if (student_dir / "checkpoint.pt").exists() else ""
        raise MckdError(f"{student_dir}: not a complete trained student, missing "
                        f"{', '.join(missing)}{hint}")
    return read_json(student_dir / "mckd_student.json")


def _convert(src: Path, outs: dict[str, Path]) -> None:
    """Convert `src` once per {quantization: folder}, loading the checkpoint only once: the
    load is most of a conversion's time, and each copy of the loaded spec quantizes on its own
    (the files are byte for byte those of separate conversions)."""
    import copy

    try:
        spec = _converter_class()(str(src))._load()
        spec.validate()
        for i, (quantization, out) in enumerate(outs.items()):
            one = spec if i == len(outs) - 1 else copy.deepcopy(spec)
            one.optimize(quantization=quantization)
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            one.save(str(out))
    except Exception as e:
        raise MckdError(f"{src}: CTranslate2 conversion failed ({type(e).__name__}: {e})") from None


def _hf_logprobs(model, src_ids: list[int], out_ids: list[int], eos: int | None) -> tuple[float, list[bool]]:
    """Teacher-forced log-prob of out_ids (+ EOS unless eos is None), and whether each token
    was the argmax (within 1e-4, so exact ties do not count as disagreements)."""
    import torch

    y_ids = out_ids + ([eos] if eos is not None else [])
    if not y_ids:
        return 0.0, []
    x = torch.tensor([src_ids])
    y = torch.tensor([y_ids])
    with torch.no_grad():
        logits = model(input_ids=x, attention_mask=torch.ones_like(x), labels=y).logits[0].float()
    lp = torch.log_softmax(logits, -1)
    picked = lp[torch.arange(len(y[0])), y[0]]
    is_max = (picked >= lp.max(-1).values - 1e-4).tolist()
    return float(picked.sum()), is_max


def compare_probe(where: str, hf: list[int], c2: list[int], ct_score: float, limit: int,
                  eos_id: int, logprobs, failures: list[str]) -> tuple[dict, bool]:
    """One parity probe: PyTorch's greedy ids `hf` against CT2's `c2` and its score.

    `logprobs(ids, eos)` gives PyTorch's teacher-forced (log-prob sum, argmax-agreement list)
    of `ids` (+ `eos`). Problems are appended to `failures`; returns (case record, was a tie).
    """
    cut = len(c2) >= limit  # no EOS was generated: the score has no EOS term
    lp_ct, argmax_ok = logprobs(c2, None if cut else eos_id)
    same, tie = hf == c2, False
    if not same:
        n = min(len(hf), len(c2))
        lp_hf_n, _ = logprobs(hf[:n], None)
        lp_ct_n, _ = logprobs(c2[:n], None)
        tie = all(argmax_ok[:n]) and abs(lp_hf_n - lp_ct_n) <= 1e-3 * (1 + n)
        if not tie:
            failures.append(f"{where}: CT2 and PyTorch greedy outputs differ (PyTorch log-prob "
                            f"of the first {n} tokens: {lp_hf_n:.4f} for its own output vs "
                            f"{lp_ct_n:.4f} for CT2's)")
    err = abs(ct_score - lp_ct)
    if not math.isfinite(ct_score) or err > 1e-2 + 1e-3 * len(c2):
        failures.append(f"{where}: CT2 score {ct_score:.4f} but PyTorch gives {lp_ct:.4f} for "
                        "the same tokens (conversion is wrong)")
    return {"tokens": len(c2), "identical": same, "cut": cut, "score_abs_err": round(err, 6)}, tie


def parity_summary(student_dir, cases: list[dict], ties: int, failures: list[str],
                   **extra) -> dict:
    """The parity result over every probe; MckdError listing the first failures, if any."""
    if failures:
        raise MckdError(f"{student_dir}: export parity check failed — CTranslate2 float32 does "
                        f"not reproduce the PyTorch model:\n  " + "\n  ".join(failures[:5]))
    return {"inputs": len(cases), "identical": sum(c["identical"] for c in cases), "ties": ties,
            "max_score_abs_err": max(c["score_abs_err"] for c in cases), "cases": cases,
            **extra}


def parity_check(student_dir: Path, ct2_dir: Path, meta: dict, inputs: list[list[str]]) -> dict:
    """Greedy outputs of CTranslate2 float32 vs PyTorch on `inputs`; MckdError when they differ.

    Each input is decoded with its own length limit (the one `mckd relabel` would use), so a
    runaway output is cut at the same place by both. Token sequences must agree; a divergence
    is accepted only where PyTorch itself scores both continuations equally (a numerical tie).
    CT2's sequence scores must match PyTorch's teacher-forced log-probs of the same tokens.
    """
    import ctranslate2
    from transformers import AutoModelForSeq2SeqLM

    from .decode import greedy_decode
    from .tokenizer import StudentTokenizer, max_decoding_length

    tok = StudentTokenizer.load(student_dir)
    model = AutoModelForSeq2SeqLM.from_pretrained(student_dir, local_files_only=True).eval()
    min_new = int(meta.get("min_new_tokens", 0))
    bound = meta["length_bound"]
    tr = ctranslate2.Translator(str(ct2_dir), device="cpu", compute_type="float32")
    cases, failures, ties = [], [], 0
    for k, w in enumerate(inputs):
        s = tok.encode_source(w)
        limit = max_decoding_length(bound, len(w), len(s))
        # length_penalty=0: the score is the plain sum of token log-probs (EOS included)
        res = tr.translate_batch([tok.ids_to_tokens(s)], beam_size=1, max_decoding_length=limit,
                                 return_scores=True, min_decoding_length=min_new,
                                 length_penalty=0.0)[0]
        hf = greedy_decode(model, tok, [w], bound, "cpu", min_new_tokens=min_new)[0]
        c2 = tok.tokens_to_ids(res.hypotheses[0])
        case, tie = compare_probe(f"input {k} ({len(w)} words)", hf, c2, float(res.scores[0]),
                                  limit, tok.eos_id,
                                  lambda ids, eos, s=s: _hf_logprobs(model, s, ids, eos), failures)
        cases.append(dict(case, words=len(w)))
        ties += tie
    return parity_summary(student_dir, cases, ties, failures)


def export_student(student_dir: str | Path, out_dir: str | Path, quantization: str = "int8",
                   check: bool = True, check_inputs: list[list[str]] | None = None,
                   progress: bool = True) -> dict:
    """Convert a trained student folder to a CTranslate2 MODEL_DIR; returns the manifest.
    `progress`: a bar over the export's phases when stderr is a terminal."""
    import ctranslate2
    import transformers

    from .. import __version__

    src = Path(student_dir)
    out = Path(out_dir)
    if quantization not in QUANTIZATIONS:
        raise MckdError(f"quantization {quantization!r}: expected one of {', '.join(QUANTIZATIONS)}")
    meta = _check_student(src)
    if out.exists() and any(out.iterdir()) and not (out / "mckd_model.json").exists():
        raise MckdError(f"{out}: exists and is not an mckd model folder; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    # private to this process: two exports beside each other never share or delete a work folder
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
    t0 = time.time()
    from ..progress import bar

    pbar = bar(5, f"export {src.name}", "phase", progress)

    def phase(what: str) -> None:
        if pbar is not None:
            pbar.set_postfix_str(what, refresh=False)
            pbar.update(1)
    try:
        # 1. a private copy of the checkpoint, patched where the converter needs it
        hf = work / "hf"
        hf.mkdir()
        for f in src.iterdir():
            if f.is_file() and f.name != "checkpoint.pt":
                shutil.copy2(f, hf / f.name)
        cfg = read_json(hf / "config.json")
        if cfg.get("model_type") in ("bart", "mbart") and "normalize_before" not in cfg:
            cfg["normalize_before"] = cfg.get("model_type") == "mbart"
            write_json_atomic(hf / "config.json", cfg)
        # 2. float32 (for the parity check) and the requested quantization, from one load
        f32 = work / "ct2-float32"
        final = f32 if quantization == "float32" else work / f"ct2-{quantization}"
        phase("converting")
        _convert(hf, {"float32": f32, quantization: final})
        phase("parity check")
        parity = None
        inputs = (check_inputs or []) + list(meta.get("probes") or [])
        causal = meta.get("student_kind") == "causal"
        ref = None
        if check:
            if not inputs:
                raise MckdError(f"{src}/mckd_student.json: no probe inputs for the parity check")
            if causal:  # one PyTorch pass per probe serves the CTranslate2 and GGUF checks
                from .causal import ForcedReference

                ref = ForcedReference(hf, inputs)
                parity = ref.check_ct2(f32)
            else:
                parity = parity_check(hf, f32, meta, inputs)
        for name in ("tokenizer.json", "mckd_tokenizer.json"):
            shutil.copy2(hf / name, final / name)
        phase("GGUF" if causal else "manifest")
        gguf = _export_gguf(hf, final, quantization, ref) if causal else None
        phase("manifest")
        model_meta = {
            "format": meta["format"], "leaves": meta["leaves"],
            "tokenizer_kind": meta.get("tokenizer_kind"), "model_type": cfg.get("model_type"),
            "length_bound": meta["length_bound"], "min_new_tokens": meta.get("min_new_tokens", 0),
            "quantization": quantization,
        }
        if meta.get("student_kind") == "causal":  # relabel decodes it with a Generator
            model_meta["student_kind"] = "causal"
        write_json_atomic(final / "mckd_model.json", model_meta)
        ck = {n: sha256_file(src / n) for n in ("config.json", "model.safetensors", "tokenizer.json")}
        manifest = {
            "mckd": __version__, "ctranslate2": ctranslate2.__version__,
            "transformers": transformers.__version__, "tokenizers": __import__("tokenizers").__version__,
            "torch": __import__("torch").__version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "source_checkpoint": str(src.resolve()),
            "source_checkpoint_sha256": _combined(ck), "source_files_sha256": ck,
            "format": meta["format"], "quantization": quantization,
            "student": {k: meta.get(k) for k in ("arch", "init", "model_type", "params", "records",
                                                 "epochs_run", "stopped_by", "seeds")},
            "parity_check": parity, **({"gguf": gguf} if gguf else {}),
            "export_seconds": round(time.time() - t0, 2),
        }
        write_json_atomic(final / "manifest.json", manifest)
        # 4. swap into place: the old folder (if any) is replaced only once the new one is whole
        old = work / "replaced"
        if out.exists():
            out.rename(old)
        final.rename(out)
        shutil.rmtree(old, ignore_errors=True)
        phase("done")
    finally:
        if pbar is not None:
            pbar.close()
        shutil.rmtree(work, ignore_errors=True)
    return manifest


def _export_gguf(hf: Path, final: Path, quantization: str, ref) -> dict:
    """A decoder-only student also as `model.gguf`, for constrained decoding with llama.cpp
    (mckd.student.llama_decode), parity-checked in float32 first like the CTranslate2 model
    (`ref`: the PyTorch reference; None = no check).
    Where it cannot be written (another architecture, no gguf or llama-cpp-python installed)
    the folder decodes with CTranslate2 only; the manifest says why."""
    from .gguf_export import GGUF_TYPES, gguf_support, write_gguf
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


def _combined(hashes: dict) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()
