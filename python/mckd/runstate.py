"""A run directory made of fingerprinted steps that resume, skip, or re-run as settings change.

Each step owns `RUN_DIR/steps/NAME/`. Its fingerprint hashes the settings it uses and the
results (checksums) of the steps it reads, so changing a setting re-runs exactly the steps that
depend on it. `done.json` is written last and atomically: a step without it is unfinished and
is resumed (the teacher, trainer and relabeler keep their own kill-safe progress inside the
step folder), a step whose fingerprint differs is wiped and re-run, and says so.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

from .errors import MckdError
from .jsonio import read_json, write_json_atomic, write_text_atomic


def fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


class RunDir:
    """Steps of one run; `log` receives one line per step."""

    def __init__(self, root: str | Path, log: Callable[[str], None] | None = None):
        self.root = Path(root)
        self.steps = self.root / "steps"
        self.log = log or (lambda s: print(s, file=sys.stderr, flush=True))
        self.ran: list[str] = []      # steps executed (not skipped) in this invocation
        self.skipped: list[str] = []
        if self.root.exists() and any(self.root.iterdir()) and not (self.root / "manifest.json").exists() \
                and not self.steps.exists():
            raise MckdError(f"{self.root}: exists, is not empty and is not an mckd run directory; "
                            "choose another --out")
        self.steps.mkdir(parents=True, exist_ok=True)

    def step_dir(self, name: str) -> Path:
        return self.steps / name

    def result(self, name: str) -> dict | None:
        """The recorded result of a finished step, or None."""
        done = self.step_dir(name) / "done.json"
        if not done.exists():
            return None
        return read_json(done)["result"]

    def run(self, name: str, inputs: dict, fn: Callable[[Path], dict], title: str = "") -> dict:
        """Run step `name` unless it finished with the same inputs; returns its result dict."""
        d = self.step_dir(name)
        fp = fingerprint(inputs)
        label = title or name
        done = d / "done.json"
        if done.exists():
            info = read_json(done)
            if info.get("fingerprint") == fp:
                self.log(f"  [done] {label}")
                self.skipped.append(name)
                return info["result"]
            self.log(f"  [redo] {label}: its settings or inputs changed, re-running")
            shutil.rmtree(d)
        elif d.exists():
            fp_file = d / "fingerprint"
            if fp_file.exists() and fp_file.read_text().strip() != fp:
                self.log(f"  [redo] {label}: unfinished work was for other settings, starting over")
                shutil.rmtree(d)
            elif fp_file.exists():
                self.log(f"  [resume] {label}")
        d.mkdir(parents=True, exist_ok=True)
        write_text_atomic(d / "fingerprint", fp + "\n")
        write_json_atomic(d / "inputs.json", inputs)
        if not (d / "done.json").exists():
            self.log(f"  [run] {label}")
        t0 = time.time()
        result = fn(d)
        result = dict(result, seconds=round(time.time() - t0, 2))
        write_json_atomic(done, {"fingerprint": fp, "result": result,
                                 "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
        self.ran.append(name)
        return result
