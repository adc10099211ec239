"""A run directory's manifest.json: what made the run, for people and for reproducing it."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path

from .. import __version__
from ..jsonio import read_json, write_json_atomic
from ..versions import code_versions


def write_manifest(root: Path, cfg, status: str, teacher: tuple[str, str], *, started: str,
                   seeds: dict, data_dir: Path, data_checksums: dict) -> None:
    """RUN_DIR/manifest.json: the resolved config, every seed, package and code versions, the
    data's checksums, the teacher's identity, and each invocation that worked on the run
    (`started`: this one's start, to the microsecond)."""
    import platform

    versions = {"mckd": __version__, "python": platform.python_version()}
    for mod in ("torch", "transformers", "ctranslate2", "tokenizers", "llama_cpp"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - a missing optional package is recorded as absent
            versions[mod] = None
    # a run is often made by several invocations (`--only` parts, on several machines):
    # each one's command is kept, so the manifest says how every step came to be
    path = root / "manifest.json"
    old = read_json(path) if path.is_file() else {}
    history = old.get("invocations", []) if isinstance(old, dict) else []
    if not isinstance(history, list):
        history = []
    this = {"started": started, "command": sys.argv, "status": status}
    if history and history[-1].get("started") == started:
        history[-1] = this
    else:
        history.append(this)
    write_json_atomic(path, {
        "status": status,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "command": sys.argv,
        "invocations": history,
        "config": asdict(cfg),
        "teacher": {"model": cfg.teacher.model, "path": teacher[0],
                    "sha256": teacher[1]},
        "code_versions": code_versions(),
        "seeds": seeds,
        "data_dir": str(Path(data_dir).resolve()),
        "data_checksums": data_checksums,
        "versions": versions,
    })
