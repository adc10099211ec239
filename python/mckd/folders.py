"""What kind of folder a path is: a data import or a distill run directory.

Both `mckd data import` and `mckd distill` refuse an --out that holds the other's output, so the
two checks live here, below both (data.py and pipeline/ import this, never each other).
"""

from __future__ import annotations

from pathlib import Path

from .errors import MckdError
from .jsonio import read_json

IMPORT_FILES = ("train.jsonl", "test.jsonl")  # what `mckd data import` writes beside its manifest


def _manifest(root: Path) -> dict | None:
    """manifest.json as a dict, or None when absent or unreadable."""
    f = root / "manifest.json"
    if not f.is_file():
        return None
    try:
        m = read_json(f)
    except MckdError:
        return None
    return m if isinstance(m, dict) else None


def is_import_dir(root: Path) -> bool:
    """Whether `root` holds the output of `mckd data import`."""
    m = _manifest(root)
    if m is not None and "outputs" in m and "config" not in m:
        return True
    return m is None and all((root / f).exists() for f in IMPORT_FILES)


def is_run_dir(root: Path) -> bool:
    """Whether `root` is an mckd run directory (steps/ or a run's manifest.json)."""
    m = _manifest(root)
    return (root / "steps").is_dir() or (m is not None and "config" in m)
