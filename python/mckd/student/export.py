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
import shutil
import tempfile
import time
from pathlib import Path

from ..config import QUANTIZATIONS
from ..errors import MckdError
from ..jsonio import read_json, sha256_file, write_json_atomic
from .kinds import of_meta

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
        kind = of_meta(meta)
        ref = None
        if check:
            if not inputs:
                raise MckdError(f"{src}/mckd_student.json: no probe inputs for the parity check")
            parity, ref = kind.check_parity(hf, f32, meta, inputs)
        for name in ("tokenizer.json", "mckd_tokenizer.json"):
            shutil.copy2(hf / name, final / name)
        phase("files beside the model")
        extra = kind.extra_files(hf, final, quantization, ref)
        phase("manifest")
        model_meta = {
            "format": meta["format"], "leaves": meta["leaves"],
            "tokenizer_kind": meta.get("tokenizer_kind"), "model_type": cfg.get("model_type"),
            "length_bound": meta["length_bound"], "min_new_tokens": meta.get("min_new_tokens", 0),
            "quantization": quantization,
        }
        model_meta.update(kind.meta())  # relabel decodes it with the kind's CTranslate2 class
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
            "parity_check": parity, **extra,
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


def _combined(hashes: dict) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()
