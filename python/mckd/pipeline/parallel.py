"""Run the model steps of a `mckd distill` run side by side, each in its own process.

Made for the CRAFT experiment's students on a machine with one GPU and many cores: students
train on the GPU while finished students relabel on the CPU (CTranslate2). A worker is
`mckd distill --only STEP` on a hard-linked copy of the run directory (one writer per run
directory); when it ends, the step folders it made are moved into the run directory. `plan()`
of the run directory names the steps whose inputs are done: those are started next, the
critical path first (stage students and their relabels, then the final students' test labels,
then the baselines, then the stage students' test labels).

    python -m mckd.pipeline.parallel --data data/craft --out RUN --preset craft-cpu-vote \\
        [--train-jobs 3] [--label-jobs 3] [--label-cores 4] [--status DIR] [key=value ...]

The result is the same run directory a sequential `mckd distill` makes (same steps, same
fingerprints); `mckd distill` afterwards finishes anything left and writes the report.
--status DIR gets status.json and steps.tar.gz (every step folder this script made, without
model weights, and the workers' logs), both rewritten after each step, so whatever finished
before an interruption can be carried elsewhere and the run resumed there.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from ..config import PRESETS, load_config
from .distiller import Distiller
from .steps import is_model_step, is_training_step, match


def priority(step: str) -> tuple:
    """Lower first: what the next stage waits for, then what reports a row, then the rest."""
    km = match(step.removesuffix("_test"))
    kind = km[0].key if km else None
    if kind in ("stage_student", "relabels") and not step.endswith("_test"):
        return (0, step)
    if kind == "final":
        return (1, -int(km[1]["k"]), step)  # the shipped model first
    if kind in ("sd_relabel", "sd_filter", "sft_gold"):
        return (2, step)
    return (3, step)


def copy_run(src: Path, dst: Path) -> None:
    """A hard-linked copy (no data copied); lock files get their own inode (flock is per inode)."""
    if dst.exists():
        shutil.rmtree(dst)
    subprocess.run(["cp", "-al", str(src), str(dst)], check=True)
    for lock in {*dst.glob("*.lock"), *dst.glob(".lock"), *dst.glob("cache/*.lock")}:
        lock.unlink()


def merge(copy: Path, run: Path) -> list[str]:
    """Move the step folders the copy finished into the run: those the run lacks, or holds
    done under other settings (a copy only (re)does steps of the current config)."""
    moved = []
    for d in sorted((copy / "steps").iterdir()):
        target = run / "steps" / d.name
        new = d / "done.json"
        if new.is_file() and (not (target / "done.json").is_file()
                              or (target / "done.json").read_bytes() != new.read_bytes()):
            if target.exists():
                shutil.rmtree(target)
            os.rename(d, target)
            moved.append(d.name)
    return moved


def bundle(run: Path, steps: list[str], status_dir: Path, logs: Path) -> None:
    """steps.tar.gz: the named step folders, without model weights (student/, ct2/), and the
    workers' logs."""
    tmp = status_dir / "steps.tar.gz.tmp"
    with tarfile.open(tmp, "w:gz") as tar:
        for f in sorted(logs.glob("*.log")):
            tar.add(f, arcname=f"logs/{f.name}")
        for name in steps:
            d = run / "steps" / name
            if not d.is_dir():
                continue
            for f in sorted(d.rglob("*")):
                rel = f.relative_to(d)
                if f.is_file() and rel.parts[0] not in ("student", "ct2"):
                    tar.add(f, arcname=str(Path("steps") / name / rel))
    os.replace(tmp, status_dir / "steps.tar.gz")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True, help="the run directory")
    ap.add_argument("--preset", choices=list(PRESETS), default=None)
    ap.add_argument("--config", default=None)
    ap.add_argument("--train-jobs", type=int, default=3, help="students training at once")
    ap.add_argument("--label-jobs", type=int, default=3, help="relabel/test steps at once")
    ap.add_argument("--label-cores", type=int, default=0,
                    help="cores pinned to each labelling worker, training workers get the rest "
                         "(0: no pinning, every worker may use every core)")
    ap.add_argument("--status", default=None, help="folder for status.json and steps.tar.gz")
    ap.add_argument("--work", default=None, help="where the copies go (default: OUT.parallel)")
    ap.add_argument("overrides", nargs="*", metavar="key=value")
    a = ap.parse_args(argv)

    run = Path(a.out).resolve()
    work = Path(a.work or f"{run}.parallel").resolve()
    status_dir = Path(a.status or work / "status").resolve()
    logs = work / "logs"
    for p in (work, status_dir, logs):
        p.mkdir(parents=True, exist_ok=True)
    cfg = load_config(a.preset, a.config, a.overrides, flags={})
    cli = [sys.executable, "-m", "mckd.cli", "distill", "--data", str(Path(a.data).resolve())]
    cli += (["--preset", a.preset] if a.preset else []) + (["--config", a.config] if a.config else [])
    # label slot i -> the cores pinned to it (None: unpinned, every worker may use every core)
    cores = sorted(os.sched_getaffinity(0))
    c = a.label_cores
    slots = {i: (cores[i * c:(i + 1) * c] or None) if c > 0 else None for i in range(a.label_jobs)}
    train_cores = (cores[a.label_jobs * c:] or None) if c > 0 else None

    t0 = time.time()
    running: dict[str, dict] = {}
    made: list[str] = []
    events: list[dict] = []
    failed: dict[str, int] = {}

    def note(**kw) -> None:
        kw["t"] = round(time.time() - t0, 1)
        events.append(kw)
        print(json.dumps(kw), flush=True)
        status = {"run": str(run), "elapsed_s": kw["t"], "running": sorted(running),
                  "made": made, "failed": failed, "events": events}
        tmp = status_dir / "status.json.tmp"
        tmp.write_text(json.dumps(status, indent=1))
        os.replace(tmp, status_dir / "status.json")

    def frontier() -> list[str]:
        return Distiller(cfg, a.data, run, log=lambda s: None).plan()

    last_books = None
    while True:
        todo = frontier()
        books = [s for s in todo if not is_model_step(s)]
        if books:  # label collections, inputs files: cheap, done here at once
            if books == last_books:
                note(event="stuck", steps=books)
                break
            last_books = books
            Distiller(cfg, a.data, run, log=lambda s: None, only=frozenset()).run_all()
            note(event="bookkeeping", steps=books)
            continue
        for step in sorted(todo, key=priority):
            if step in running or step in failed:
                continue
            if step.startswith("teacher_"):
                failed[step] = -1  # this script runs students; the teacher is mckd distill's
                note(event="skip", step=step, why="teacher steps run with mckd distill")
                continue
            train = is_training_step(step)
            if train and sum(r["train"] for r in running.values()) >= a.train_jobs:
                continue
            slot = None
            if not train:
                busy = {r["slot"] for r in running.values() if not r["train"]}
                slot = next((i for i in slots if i not in busy), None)
                if slot is None:
                    continue
            cpus = train_cores if train else slots[slot]
            pin = ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []
            copy = work / step
            copy_run(run, copy)
            log = open(logs / f"{step}.log", "w")
            env = dict(os.environ, PYTHONUNBUFFERED="1")
            if not train:  # labelling runs on the CPU (see mckd.student.relabel)
                env["CUDA_VISIBLE_DEVICES"] = ""
            proc = subprocess.Popen(
                pin + cli
                + ["--out", str(copy), "--only", step] + a.overrides,
                stdout=log, stderr=subprocess.STDOUT, env=env)
            running[step] = {"proc": proc, "log": log, "train": train, "slot": slot,
                             "t": time.time()}
            note(event="start", step=step, train=train,
                 cpus=",".join(map(str, cpus)) if cpus else "all")
        if not running:
            break
        last = time.time()
        while not any(r["proc"].poll() is not None for r in running.values()):
            time.sleep(1)
            if time.time() - last > 30:  # the running workers' logs too, for a call cut short
                bundle(run, made, status_dir, logs)
                last = time.time()
        for step in [s for s, r in running.items() if r["proc"].poll() is not None]:
            r = running.pop(step)
            r["log"].close()
            rc = r["proc"].returncode
            secs = round(time.time() - r["t"], 1)
            moved = merge(work / step, run) if rc == 0 else []
            if rc == 0 and step in moved:
                made += [m for m in moved if m not in made]
                shutil.rmtree(work / step, ignore_errors=True)
                note(event="done", step=step, seconds=secs, moved=moved)
            else:  # failed, or ended without finishing it: never started again by this script
                failed[step] = rc
                note(event="failed", step=step, seconds=secs, rc=rc,
                     log=str(logs / f"{step}.log"))
            bundle(run, made, status_dir, logs)
    left = frontier()
    note(event="end", left=left, failed=failed)
    bundle(run, made, status_dir, logs)
    return 0 if not left else 1


if __name__ == "__main__":
    sys.exit(main())
