"""A run directory made of fingerprinted steps that resume, skip, or re-run as settings change.

Each step owns `RUN_DIR/steps/NAME/`. Its fingerprint hashes the settings it uses and the
results (checksums) of the steps it reads, so changing a setting re-runs exactly the steps that
depend on it. `done.json` is written last and atomically: a step without it is unfinished and
is resumed (the teacher, trainer and relabeler keep their own kill-safe progress inside the
step folder), a step whose fingerprint differs is wiped and re-run, and says so.

Only one process writes a run directory at a time: `RunDir.acquire()` (called by the first
`run()` at the latest) takes an exclusive lock on RUN_DIR/.lock, and a second writer fails at
once with a message naming the holder (see `mckd.locks`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
import weakref
from pathlib import Path
from typing import Any
from collections.abc import Callable

from .. import locks
from ..errors import MckdError
from ..folders import is_import_dir, is_run_dir
from ..jsonio import read_json, read_jsonl, write_json_atomic, write_text_atomic


def fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


class RunDir:
    """Steps of one run; `log` receives one line per step.

    With `lock=True` the run-directory lock is taken at once; otherwise the first `run()`
    takes it, so that a read-only user (`mckd report`) never blocks a running pipeline.
    """

    def __init__(self, root: str | Path, log: Callable[[str], None] | None = None, *,
                 lock: bool = False, data_dir: str | Path | None = None):
        self.root = Path(root)
        self.steps = self.root / "steps"
        self.log = log or (lambda s: print(s, file=sys.stderr, flush=True))
        self.ran: list[str] = []      # steps executed (not skipped) in this invocation
        self.skipped: list[str] = []
        self._lock: locks.Lock | None = None
        # the one check of --out (a file, the data folder, a data import, a foreign folder)
        check_run_dir(self.root, data_dir=data_dir)
        if lock:  # before anything is written
            self.acquire()
        self.steps.mkdir(parents=True, exist_ok=True)

    def acquire(self) -> None:
        """Take the run-directory lock (idempotent); raises naming the holder if taken."""
        if self._lock is None:
            self._lock = locks.acquire(locks.run_dir_lock(self.root), "run directory", self.root)
            # a RunDir dropped without release() (an exception, a notebook) still frees it
            weakref.finalize(self, self._lock.release)

    def release(self) -> None:
        """Give the lock back (process exit does so too)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> RunDir:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def step_dir(self, name: str) -> Path:
        return self.steps / name

    def result(self, name: str) -> dict | None:
        """The recorded result of a finished step, or None."""
        done = self.step_dir(name) / "done.json"
        if not done.exists():
            return None
        return read_json(done)["result"]

    def labels(self, step: str) -> list[dict]:
        """The records of a label step (its labels.jsonl)."""
        return read_jsonl(self.step_dir(step) / "labels.jsonl")

    def selected(self, name: str) -> list[dict]:
        """What the select step drew: "demos", "pool" or "test" (its NAME.jsonl)."""
        return read_jsonl(self.step_dir("select") / f"{name}.jsonl")

    def current(self, name: str, inputs: dict) -> dict | None:
        """The result of a step done with exactly these inputs, else None (nothing is run)."""
        done = self.step_dir(name) / "done.json"
        if not done.exists():
            return None
        info = read_json(done)
        return info["result"] if info.get("fingerprint") == fingerprint(inputs) else None

    def why_not_current(self, name: str, inputs: dict) -> str:
        """Why step `name` is not current under `inputs`: never run, unfinished, or which of
        its inputs differ from those it was done with (its inputs.json)."""
        d = self.step_dir(name)
        if not (d / "done.json").exists():
            return "unfinished: resumes" if (d / "fingerprint").exists() and \
                (d / "fingerprint").read_text().strip() == fingerprint(inputs) else (
                "unfinished, for other settings: starts over" if d.exists() else "not run yet")
        try:
            before = read_json(d / "inputs.json")
        except MckdError:
            return "done under other inputs (its inputs.json is gone)"
        now = json.loads(json.dumps(inputs, default=str))
        changed = [f"{k} {_short(before_v)} -> {_short(now_v)}"
                   for k, before_v, now_v in _diff(before, now)]
        return "changed: " + "; ".join(changed[:4]) + (
            f"; and {len(changed) - 4} more" if len(changed) > 4 else "") if changed else \
            "done under other inputs"

    def run(self, name: str, inputs: dict, fn: Callable[[Path], dict], title: str = "") -> dict:
        """Run step `name` unless it finished with the same inputs; returns its result dict."""
        self.acquire()
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


def _diff(a, b, prefix: str = ""):
    """(key, before, after) of every leaf where two JSON values differ; lists as whole values."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            yield from _diff(a.get(k, "(absent)"), b.get(k, "(absent)"),
                             f"{prefix}.{k}" if prefix else str(k))
    elif a != b:
        yield prefix or "(inputs)", a, b


def _short(v) -> str:
    s = json.dumps(v, default=str) if not isinstance(v, str) else v
    return s if len(s) <= 40 else s[:18] + "..." + s[-18:]


def check_run_dir(root: str | Path, data_dir: str | Path | None = None) -> None:
    """Refuse an --out that a run would damage: a file, a data import, a foreign folder."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise MckdError(f"--out {root}: exists and is not a directory; choose a folder path")
    if data_dir is not None and root.exists() and Path(data_dir).exists() \
            and root.resolve() == Path(data_dir).resolve():
        raise MckdError(f"--out {root} is the --data folder; choose a separate run directory")
    if not root.exists():
        return
    if is_import_dir(root):
        raise MckdError(f"--out {root}: holds a data import (manifest.json, train.jsonl) that a "
                        "run would overwrite; choose another --out")
    others = [p for p in root.iterdir() if p.name != locks.RUN_LOCK]
    if others and not is_run_dir(root):
        raise MckdError(f"{root}: exists, is not empty and is not an mckd run directory; "
                        "choose another --out")
