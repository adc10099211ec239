"""Content hashes of model files, computed once per (path, size, mtime) and cached.

Fingerprints must hold what a model file *is*, not where it lies: replacing a GGUF or a
checkpoint at the same path has to re-run the steps that read it. Hashing a 1 GB GGUF takes
seconds, so each hash is kept in a small JSON cache keyed by the file's identity.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .jsonio import sha256_file, write_json_atomic


def default_cache() -> Path:
    """$MCKD_CACHE_DIR/file_hashes.json (default ~/.cache/mckd)."""
    root = os.environ.get("MCKD_CACHE_DIR") or Path.home() / ".cache" / "mckd"
    return Path(root) / "file_hashes.json"


def _load(cache: Path) -> dict:
    try:
        doc = json.loads(cache.read_text(encoding="utf-8"))
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):  # absent or torn: it is only a cache
        return {}


def file_sha256(path: str | os.PathLike, cache: str | os.PathLike | None = None) -> str:
    """sha256 of a file's content; reused while its resolved path, size and mtime are unchanged."""
    p = Path(path).resolve()
    st = p.stat()
    key = f"{p}|{st.st_size}|{st.st_mtime_ns}"
    cache = Path(cache) if cache else default_cache()
    known = _load(cache)
    if key in known:
        return known[key]
    sha = sha256_file(p)
    known = {k: v for k, v in _load(cache).items() if not k.startswith(f"{p}|")}
    known[key] = sha
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(cache, known)
    except OSError:  # a read-only cache location costs speed, never correctness
        pass
    return sha


def tree_sha256(path: str | os.PathLike, cache: str | os.PathLike | None = None) -> str:
    """A file's sha256, or for a folder (a checkpoint) one hash over every file's path and hash."""
    import hashlib

    p = Path(path)
    if not p.is_dir():
        return file_sha256(p, cache)
    h = hashlib.sha256()
    for f in sorted(x for x in p.rglob("*") if x.is_file()):
        h.update(f"{f.relative_to(p).as_posix()}\0{file_sha256(f, cache)}\n".encode())
    return h.hexdigest()
