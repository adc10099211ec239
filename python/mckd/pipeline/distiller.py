"""`mckd distill`: the MCKD algorithm (Zhao et al., ACL 2024) as resumable steps in a run directory.

    select → teacher(pool, test) → split pool once into A, B
    stage k = 1 … N-1: fresh student_A on A (labels k-1) relabels B; student_B on B relabels A
        (stage_vote: a half's labels k are the consensus of the teacher's passes and its relabel)
    final_k: one student on A ∪ B with labels k  (final_0 is vanilla KD; final_{N-1} ships)
    baselines: SFT on the gold demonstrations; optional KD + self-distillation with filter

Gold trees of the pool and test split are read only by the scores (pipeline/scores.py).

A run directory only ever reports steps that are current: done under the fingerprint the
present config gives them. `plan()` walks the same steps without running anything (what
`mckd report` does), so a switched-off baseline, a step left from other settings, or a step
not yet run never shows a number. Fingerprints hold the content hash of every model file a step
reads (teacher GGUF, `student.init`) and the versions of the code that decides outputs.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from ..config import DistillConfig
from . import compat, votes
from ..errors import MckdError
from ..jsonio import (
    read_json,
    read_jsonl,
    sha256_file,
    write_json_atomic,
    write_jsonl_atomic,
)
from ..versions import (
    CONSTRAINT_VERSION,
    REPAIR_VERSION,
    VOTE_VERSION,
)
from .identity import init_sha, teacher_identity
from .manifest import write_manifest
from .rundir import RunDir
from .scores import RunScores
from .steps import (
    final_student,
    is_model_step,
    on_test,
    seed,
    seeds,
    stage_labels,
    stage_student,
    voted_labels,
)


class _NotCurrent(Exception):
    """Raised in plan-only mode by a step that is missing or was done under other settings."""


def _strip(rec: dict) -> dict:
    """What the method may see of an unlabeled record: its id and words, never its gold."""
    words = rec.get("words") or rec["source"].split()
    return {"id": rec["id"], "source": rec.get("source") or " ".join(words), "words": words}


def _gold_target(rec: dict, fmt: str) -> str:
    from ..chunks import gold_target

    t = gold_target(rec, fmt)
    if t is not None:
        return t
    raise MckdError(f"record {rec.get('id')}: no gold target for format {fmt!r}")


def _cap(records: list[dict], cfg, n: int, rng: random.Random) -> list[dict]:
    """Filter by length and keep n records (shortest first, or a seeded sample)."""
    d = cfg.data
    out = [r for r in records
           if len(r.get("words") or r["source"].split()) >= d.min_words
           and (not d.max_words or len(r.get("words") or r["source"].split()) <= d.max_words)]
    if n and len(out) > n:
        if d.shortest_first:
            out = sorted(out, key=lambda r: (len(r.get("words") or r["source"].split()), r["id"]))[:n]
        else:
            out = sorted(rng.sample(out, n), key=lambda r: r["id"])
    return out


class Distiller:
    """Holds the config and run directory; each method is one pipeline step."""

    def __init__(self, cfg: DistillConfig, data_dir: str | Path, run_dir: str | Path,
                 log=None, only: set[str] | frozenset[str] | None = None, lock: bool = False):
        """`lock`: take the run directory's lock now (a writer); without it, plan() and
        collect() read without blocking a running pipeline, and a step that runs takes it."""
        self.cfg = cfg
        # `--only`: the model steps (teachers, students, relabels) this invocation may run; any
        # other one not yet done ends its branch as in plan(). Cheap bookkeeping steps (label
        # collections, inputs files) always run. None: every step may run.
        self.only = frozenset(only) if only is not None else None
        bad = sorted(n for n in self.only or () if not is_model_step(n))
        if bad:
            raise MckdError(f"--only {', '.join(bad)}: not a model step (steps are named as in "
                            "RUN_DIR/steps/: teacher_pool, s1_A, labels_1_B, final_0, final_0_test, "
                            "sd_relabel, ...)")
        self.fmt = cfg.format
        self.data_dir = Path(data_dir)
        self.run = RunDir(run_dir, log=log, lock=lock, data_dir=data_dir)
        self.log = self.run.log
        self.root = self.run.root
        self._plan_only = False
        self._current: dict[str, dict] = {}  # steps found done under the current config
        self._missing: list[str] = []        # steps the current config needs but lacks
        self._why: dict[str, str] = {}       # plan-only: why each of them is not current
        self._walked = False
        self._trainers: dict = {}  # student step -> its step function (see _model_dir)
        self._teacher_error: Exception | None = None  # why the teacher model is not here
        # this invocation in the manifest (to the microsecond: two can start in one second)
        self._started = datetime.now().isoformat(timespec="microseconds")

    # ---------------------------------------------------------------- steps
    def _step(self, name: str, inputs: dict, fn, title: str, model_step: bool = False) -> dict:
        """Run a step (or, plan-only, check it is done under these inputs) and note it current.

        A model step outside `only` is checked like in plan(), never run."""
        held = model_step and self.only is not None and name not in self.only
        if self._plan_only or held:
            r = self.run.current(name, inputs)
            if r is None:
                self._missing.append(name)
                self._why[name] = self.run.why_not_current(name, inputs)
                raise _NotCurrent(name)
        else:
            r = self.run.run(name, inputs, fn, title)
        self._current[name] = r
        return r

    def explain(self) -> list[tuple[str, str]]:
        """plan() with the reason for each step: [(step, why)]."""
        missing = self.plan()
        return [(n, self._why.get(n, "")) for n in missing]

    def _hash_cache(self) -> Path:
        return self.root / "cache" / "file_hashes.json"

    def teacher_model(self) -> tuple[str, str]:
        return teacher_identity(self.cfg.teacher, self._hash_cache())

    def _teacher_or_record(self) -> tuple[str, str]:
        """teacher_model(), or where the model file is not on this machine, what the manifest
        recorded of it: a run continued elsewhere from its committed teacher steps needs no
        teacher. The error is kept and raised if a teacher step has to run after all."""
        try:
            return self.teacher_model()
        except (MckdError, OSError) as e:
            m = self.root / "manifest.json"
            rec = (read_json(m).get("teacher") if m.exists() else None) or {}
            if not rec.get("sha256") or self.cfg.teacher.url:
                raise
            self._teacher_error = e
            return rec.get("path") or "", rec["sha256"]

    def _teacher_sha(self) -> str:
        if self._plan_only:  # `mckd report` where the GGUF is gone: trust the manifest's record
            try:
                return self._teacher_or_record()[1]
            except (MckdError, OSError):
                return "unknown"
        return self._teacher_or_record()[1]

    def _init_sha(self) -> str | None:
        return init_sha(self.cfg.student.init, self._hash_cache())

    # ---------------------------------------------------------------- data
    def data_checksums(self) -> dict:
        out = {}
        for name in ("train", "test"):
            f = self.data_dir / f"{name}.jsonl"
            if not f.exists():
                raise MckdError(f"{self.data_dir}: no {name}.jsonl (run `mckd data import` first)")
            out[name] = sha256_file(f)
        return out

    def select(self) -> dict:
        c = self.cfg

        def fn(d: Path) -> dict:
            from ..data import load_split

            train = load_split(self.data_dir, "train")
            test = load_split(self.data_dir, "test")
            first = seed("select", c.seed)  # demonstrations; the pool and test: +1, +2
            rng = random.Random(first)
            order = sorted(train, key=lambda r: r["id"])
            if len(order) <= c.data.labeled:
                raise MckdError(f"{self.data_dir}/train.jsonl: {len(order)} records, need more "
                                f"than data.labeled={c.data.labeled}")
            demo_idx = set(rng.sample(range(len(order)), c.data.labeled))
            demos = [order[i] for i in sorted(demo_idx)]
            for r in demos:
                _gold_target(r, self.fmt)  # fail early if the format is missing
            rest = [order[i] for i in range(len(order)) if i not in demo_idx]
            pool = _cap(rest, c, c.data.max_pool, random.Random(first + 1))
            test = _cap(test, c, c.data.max_test, random.Random(first + 2))
            if len(pool) < 2:
                raise MckdError(f"unlabeled pool has {len(pool)} sentences after filtering; need >= 2")
            write_jsonl_atomic(d / "demos.jsonl", demos)
            write_jsonl_atomic(d / "pool.jsonl", [_strip(r) for r in pool])
            write_jsonl_atomic(d / "test.jsonl", [_strip(r) for r in test])
            return {"demos": len(demos), "pool": len(pool), "test": len(test),
                    "demos_sha": sha256_file(d / "demos.jsonl"),
                    "pool_sha": sha256_file(d / "pool.jsonl"),
                    "test_sha": sha256_file(d / "test.jsonl")}

        return self._step("select", {"data": self.data_checksums(), "seed": c.seed,
                                       "data_cfg": asdict(c.data), "format": self.fmt},
                            fn, "select demonstrations, unlabeled pool and test inputs")

    # ---------------------------------------------------------------- teacher
    def teacher(self, which: str, sel: dict, model_sha: str) -> dict:
        c = self.cfg.teacher

        def fn(d: Path) -> dict:
            from .. import teacher as T

            if self._teacher_error is not None:  # the step must run: the model is needed now
                raise self._teacher_error

            tcfg = T.TeacherConfig(
                **{**c.settings(), "vote_demo_words": self._vote_band()},
                format=self.fmt, seed=seed(f"teacher_{which}", self.cfg.seed),
                # outside the step folder: a step re-run after a settings change (say
                # teacher.threads) still finds every output whose key is unchanged
                cache_path=str(self.root / "cache" / "teacher.cache.jsonl"))
            (self.root / "cache").mkdir(exist_ok=True)
            summary = T.run_teacher(c.model, self.run.selected("demos"), self.run.selected(which),
                                    d / "labels.jsonl", tcfg)
            return {"summary": _jsonable(summary), "sha": sha256_file(d / "labels.jsonl")}

        # The settings that change what this backend writes (Backend.not_in_outputs says which
        # do not): parallel changes how llama.cpp batches, which can flip a near-tied token, so
        # it stays in. The model enters by content: a GGUF replaced at one path re-runs.
        from ..teacher.backends import backend_class

        skip = backend_class(c).not_in_outputs
        settings = compat.teacher_settings({k: v for k, v in asdict(c).items() if k not in skip})
        versions = {"constraint": CONSTRAINT_VERSION, "repair": REPAIR_VERSION}
        if "samples" in settings or "vote_demo_words" in settings:
            versions["vote"] = VOTE_VERSION
            if "vote_demo_words" in settings:
                settings["vote_demo_words"] = self._vote_band()
        else:  # no vote: its settings decide nothing
            settings.pop("vote_temperature", None)
            settings.pop("vote_threshold", None)
        return self._step(f"teacher_{which}", {
            "teacher": settings, "model_sha256": model_sha, "seed": self.cfg.seed,
            "format": self.fmt, "demos": sel["demos_sha"], "inputs": sel[f"{which}_sha"],
            "versions": versions},
            fn, f"teacher labels the {which} ({sel[which]} sentences)", model_step=True)

    def _vote_band(self) -> str:
        """teacher.vote_demo_words with "auto" made the data's word band."""
        v = self.cfg.teacher.vote_demo_words
        d = self.cfg.data
        return f"{d.min_words}-{d.max_words}" if v == "auto" else v

    # ---------------------------------------------------------------- split
    def split(self, sel: dict) -> dict:
        def fn(d: Path) -> dict:
            ids = sorted(r["id"] for r in self.run.selected("pool"))
            random.Random(seed("split", self.cfg.seed)).shuffle(ids)
            half = len(ids) // 2
            write_json_atomic(d / "split.json", {"A": sorted(ids[:half]), "B": sorted(ids[half:])})
            return {"A": half, "B": len(ids) - half, "sha": sha256_file(d / "split.json")}

        return self._step("split", {"pool": sel["pool_sha"], "seed": self.cfg.seed}, fn,
                            "split the pool once into halves A and B")

    # ---------------------------------------------------------------- students
    def _train_cfg(self, student_seed: int):
        from ..config import train_config

        return train_config(self.cfg, student_seed)

    def student(self, name: str, train_file: Path, train_sha: str, title: str,
                epochs: int = 0) -> dict:
        """Train a fresh student on a label file and export it to CTranslate2 (`epochs`: this
        student's own, where it differs from student.epochs). Its seed is the step's (steps.py)."""
        s = self.cfg.student
        seed_ = seed(name, self.cfg.seed)
        base = self._train_cfg(seed_)
        epochs = 0 if epochs == base.resolved().epochs else epochs
        # student.stop=dev: the gold examples pick the epoch, but the student trained on them
        # (SFT-on-gold) cannot be scored on them and stops by epochs instead
        dev_stop = base.stop == "dev"
        on_gold = dev_stop and not {r["id"] for r in self.run.selected("demos")}.isdisjoint(
            r["id"] for r in read_jsonl(train_file))

        def fn(d: Path) -> dict:
            from ..student.export import export_student
            from ..student.train import train_student

            labels = read_jsonl(train_file)
            # students train on repaired targets; how many were repaired is part of the result
            recs = [{"id": r["id"], "source": r["source"], "words": r.get("words"),
                     "target": r["target"]} for r in labels]
            if not recs:
                raise MckdError(f"{train_file}: no training records")
            tc = self._train_cfg(seed_)
            if epochs:
                tc.epochs = epochs
            if on_gold:
                tc.stop = "epochs"
            dev = self._gold_examples() if dev_stop and not on_gold else None
            info = train_student(recs, d / "student", tc, dev_records=dev)
            export_student(d / "student", d / "ct2", quantization=self.cfg.quantization)
            return {"model_dir": str((d / "ct2").relative_to(self.root)), "train": len(recs),
                    "train_repaired": sum(bool(r.get("repaired")) for r in labels),
                    "train_info": _jsonable(info)}

        self._trainers[name] = fn
        # how exported students decode is the relabel steps' business, not training's
        trained = {k: v for k, v in asdict(s).items() if k not in ("decoding", "engine")}
        fp = {"student": trained, "init_sha256": self._init_sha(), "format": self.fmt,
              "seed": seed_, "labels": train_sha, "quantization": self.cfg.quantization,
              "versions": {"repair": REPAIR_VERSION}}
        # only where it differs, so that steps trained at student.epochs before this argument
        # existed (the stage students, an older run's SFT-on-gold student) stay current
        if epochs:
            fp["epochs"] = epochs
        if on_gold:  # it stops by epochs: the same weights, the same fingerprint as without dev
            trained["overrides"] = {k: v for k, v in s.overrides.items()
                                    if k not in ("stop", "dev_patience")}
        elif dev_stop:  # the records that pick its epoch
            fp["dev"] = sha256_file(self.run.step_dir("select") / "demos.jsonl")
        return self._step(name, fp, fn, title, model_step=True)

    def _gold_examples(self) -> list[dict]:
        """The gold examples (the few-shot demonstrations) as training/dev records."""
        return [{"id": r["id"], "source": r["source"], "words": r.get("words"),
                 "target": _gold_target(r, self.fmt)} for r in self.run.selected("demos")]

    def relabel(self, name: str, model: dict, inputs_file: Path, inputs_sha: str, title: str) -> dict:
        def fn(d: Path) -> dict:
            from ..student.relabel import relabel

            summary = relabel(self._model_dir(model), read_jsonl(inputs_file),
                              d / "labels.jsonl", device=self.cfg.student.device,
                              decoding=self.cfg.student.decoding,
                              engine=self.cfg.student.engine)
            return {"summary": _jsonable(summary), "sha": sha256_file(d / "labels.jsonl")}

        fp = compat.relabel_inputs({"model": model, "inputs": inputs_sha,
                                    "decoding": self.cfg.student.decoding,
                                    "versions": {"repair": REPAIR_VERSION}},
                                   self.cfg.student.engine)
        return self._step(name, fp, fn, title, model_step=True)

    def _model_dir(self, model: dict) -> Path:
        """The exported folder of a finished student step, trained again from the same inputs
        if it is gone: a run continued on another machine from its committed label steps holds
        no model folders (too large for git), and only the steps still to run need one."""
        d = self.root / model["model_dir"]
        if not (d / "model.bin").is_file():
            name = Path(model["model_dir"]).parent.name
            self.log(f"  [retrain] {name}: its model folder is gone; training it again from the "
                     "same inputs (a later step needs it)")
            self._trainers[name](self.run.step_dir(name))
        return d

    # ---------------------------------------------------------------- helpers
    def _write_labels(self, name: str, records: list[dict], deps: dict) -> tuple[Path, str]:
        """Materialise a label set (e.g. A ∪ B) as its own step so its checksum is stable."""
        def fn(d: Path) -> dict:
            write_jsonl_atomic(d / "labels.jsonl", records)
            return {"sha": sha256_file(d / "labels.jsonl"), "n": len(records)}

        r = self._step(name, deps, fn, f"collect labels {name}")
        return self.run.step_dir(name) / "labels.jsonl", r["sha"]

    # ---------------------------------------------------------------- the algorithm
    def run_all(self) -> dict:
        t0 = time.time()
        teacher_path, teacher_sha = self._teacher_or_record()
        self._write_manifest(status="running", teacher=(teacher_path, teacher_sha))
        self._walk()
        if self.only is not None:  # a part of the run: what it was asked for must be done
            self._check_only()
            results = self.collect()
            # the part that completes a run finishes it, where the model it ships is here (a
            # part never trains a model it was not named to: say, on a machine without it)
            final = self._current.get(final_student(self.cfg.stages - 1))
            whole = results["complete"] and final and (
                self.root / final["model_dir"] / "model.bin").is_file()
            self._write_manifest(status="finished" if whole else "partial",
                                 teacher=(teacher_path, teacher_sha))
            results["seconds_this_invocation"] = round(time.time() - t0, 1)
            return results
        final = self._current.get(final_student(self.cfg.stages - 1))
        if final:  # the run ships this model: it must be there, whatever was done elsewhere
            self._model_dir(final)
        self._write_manifest(status="finished", teacher=(teacher_path, teacher_sha))
        results = self.collect()
        results["seconds_this_invocation"] = round(time.time() - t0, 1)
        return results

    def _check_only(self) -> None:
        """Every step named in `only` is done now, or the error says what to run first."""
        held = [n for n in sorted(self.only) if n not in self._current]
        if held:
            # plan() ends each branch at its first step not done: those come first
            self._walked = False
            first = [n for n in self.plan() if n not in self.only]
            raise MckdError(f"--only {', '.join(held)}: not run; either the steps before it are "
                            f"not done (run first: {', '.join(first) or 'none'}) or this config "
                            "has no such step (a switched-off baseline, a stage beyond --stages)")

    def plan(self) -> list[str]:
        """Walk the pipeline without running anything; returns the steps not current.

        A step is current when its done.json holds the fingerprint the present config gives it
        (which needs the steps it reads to be current too).
        """
        self._plan_only, self._current, self._missing = True, {}, []
        try:
            self._walk()
        finally:
            self._plan_only = False
        return list(self._missing)

    def _walk(self) -> None:
        """Every step the config needs, in order. Plan-only, a step that is not current ends
        its branch (the steps after it in that branch cannot be current either)."""
        c = self.cfg
        try:
            sel = self.select()
        except _NotCurrent:
            self._walked = True
            return
        if not self._plan_only:
            self.log(f"  demonstrations {sel['demos']}, pool {sel['pool']}, test {sel['test']}")
        model_sha = self._teacher_sha()
        test_file = self.run.step_dir("select") / "test.jsonl"
        self._branch(self.teacher, "test", sel, model_sha)
        self._branch(self._mckd, sel, model_sha, test_file)
        from .rows import enabled

        for row in enabled(c):  # the baselines, as rows.py declares them
            if row.branch:
                self._branch(getattr(self, row.branch), test_file, sel)
        self._walked = True

    def _branch(self, fn, *args):
        """Run an independent branch and return what it returns; None where a step it needs is
        not current (plan-only, or held back by `only`): that ends only this branch."""
        try:
            return fn(*args)
        except _NotCurrent:
            return None

    def _mckd(self, sel: dict, model_sha: str, test_file: Path) -> None:
        """Teacher labels of the pool, the split, and the stages."""
        tp = self.teacher("pool", sel, model_sha)
        sp = self.split(sel)
        halves = read_json(self.run.step_dir("split") / "split.json")
        a_ids, b_ids = set(halves["A"]), set(halves["B"])
        teacher_labels = self.run.labels("teacher_pool")
        deps = {"teacher": tp["sha"], "split": sp["sha"]}
        la_file, la_sha = self._write_labels(
            stage_labels(0, "A"), [r for r in teacher_labels if r["id"] in a_ids], deps)
        lb_file, lb_sha = self._write_labels(
            stage_labels(0, "B"), [r for r in teacher_labels if r["id"] in b_ids], deps)
        pool = self.run.selected("pool")
        b_inputs = self._inputs_file("inputs_B", [r for r in pool if r["id"] in b_ids], sp["sha"])
        a_inputs = self._inputs_file("inputs_A", [r for r in pool if r["id"] in a_ids], sp["sha"])
        self._stages(la_file, la_sha, lb_file, lb_sha, a_inputs, b_inputs, test_file, sel)

    def _stages(self, la_file, la_sha, lb_file, lb_sha, a_inputs, b_inputs, test_file, sel):
        c = self.cfg
        for k in range(0, c.stages):
            # final_k: one student on A ∪ B with labels k  (k=0: vanilla KD, also the
            # starting point of the KD+SD baseline)
            is_last = k == c.stages - 1
            if k > 0 or is_last or c.baselines.vanilla_kd or c.baselines.sd_filter:
                self._branch(self._final, k, la_file, la_sha, lb_file, lb_sha, test_file, sel)
            if is_last:
                break
            if not self._plan_only:
                self.log(f"stage {k + 1}/{c.stages}: collaborative students")
            # The two sides are independent branches (plan() lists both when both are
            # missing, `--only s1_B` can run without s1_A); the next stage needs both.
            sides = {"A": (la_file, la_sha), "B": (lb_file, lb_sha)}
            models, relabelled = {}, {}
            for side, (f, sha) in sides.items():
                models[side] = self._branch(
                    self.student, stage_student(k + 1, side), f, sha,
                    f"stage {k + 1}/{c.stages}: student {side} trains on half {side}")
            for side, other, (inp, inp_sha) in (("A", "B", b_inputs), ("B", "A", a_inputs)):
                if models[side]:
                    relabelled[other] = self._branch(
                        self.relabel, stage_labels(k + 1, other), models[side], inp, inp_sha,
                        f"stage {k + 1}/{c.stages}: student {side} relabels half {other}")
            models = {side: m for side, m in models.items() if m}
            relabelled = {side: r for side, r in relabelled.items() if r}
            for side, model in models.items():
                self._branch(self.relabel, on_test(stage_student(k + 1, side)), model, test_file,
                             sel["test_sha"],
                             f"stage {k + 1}/{c.stages}: student {side} labels the test split")
            if len(relabelled) < 2:  # a side is not done (plan-only, or outside `only`)
                raise _NotCurrent(stage_labels(k + 1, "A" if "A" not in relabelled else "B"))
            la_file, la_sha = self._handed_on(k + 1, "A", relabelled["A"]["sha"])
            lb_file, lb_sha = self._handed_on(k + 1, "B", relabelled["B"]["sha"])

    def _handed_on(self, k: int, side: str, relabel_sha: str) -> tuple[Path, str]:
        """The labels of half `side` that stage k hands on: the other student's relabels, or
        (stage_vote) their consensus with the teacher's passes over the same sentences."""
        raw = self.run.step_dir(stage_labels(k, side)) / "labels.jsonl"
        if not self.cfg.stage_vote:
            return raw, relabel_sha
        threshold = self.cfg.teacher.vote_threshold

        def fn(d: Path) -> dict:
            out = votes.stage_vote(self.fmt, read_jsonl(raw), self.run.labels("teacher_pool"),
                                   threshold, raw)
            write_jsonl_atomic(d / "labels.jsonl", out)
            return {"sha": sha256_file(d / "labels.jsonl"), "n": len(out)}

        name = voted_labels(k, side)
        r = self._step(name, {"relabel": relabel_sha, "teacher": self._current["teacher_pool"]["sha"],
                              "threshold": threshold, "versions": {"vote": VOTE_VERSION}},
                       fn, f"stage {k}: teacher passes and relabels of half {side} vote")
        return self.run.step_dir(name) / "labels.jsonl", r["sha"]

    def scores(self) -> RunScores:
        """The scores of the steps found current (pipeline/scores.py)."""
        if not self._walked:
            self.plan()
        return RunScores(self.cfg, self.run, self.data_dir, self._current)

    def collect(self) -> dict:
        """Evaluate every current label step; works on partial runs (`mckd report`).

        Only steps done under the present config's fingerprints are reported; `complete`
        means every step the config needs is done so.
        """
        scores = self.scores()
        return scores.collect(self._missing)

    def _final(self, k, la_file, la_sha, lb_file, lb_sha, test_file, sel):
        both = read_jsonl(la_file) + read_jsonl(lb_file)
        f, sha = self._write_labels(stage_labels(k, "all"), both, {"A": la_sha, "B": lb_sha})
        name = "vanilla KD (1-stage)" if k == 0 else f"{k + 1}-stage MCKD"
        st = self.student(final_student(k), f, sha,
                          f"{name}: final student trains on A ∪ B")
        self.relabel(on_test(final_student(k)), st, test_file, sel["test_sha"],
                     f"{name}: final student labels the test split")

    def _sft_gold(self, test_file, sel):
        recs = self._gold_examples()
        f, sha = self._write_labels("labels_gold", recs, {"demos": sel["demos_sha"]})
        epochs = self._sft_gold_epochs(len(recs))
        st = self.student("sft_gold", f, sha,
                          f"baseline: student fine-tuned on the {len(recs)} gold examples only "
                          f"({epochs} epochs)", epochs=epochs)
        self.relabel(on_test("sft_gold"), st, test_file, sel["test_sha"],
                     "baseline: SFT-on-gold student labels the test split")

    def _sft_gold_epochs(self, n_gold: int) -> int:
        """baselines.sft_gold_epochs, or (0) as many training examples as a stage student sees:
        its epochs x half the pool (the whole pool when there are no collaborative stages)."""
        if self.cfg.baselines.sft_gold_epochs:
            return self.cfg.baselines.sft_gold_epochs
        stage = self._train_cfg(0).resolved().epochs
        pool = len(self.run.selected("pool"))
        seen = stage * (pool // 2 if self.cfg.stages > 1 else pool)
        return max(stage, round(seen / max(1, n_gold)))

    def _sd_filter(self, test_file, sel):
        vk = self._current.get(final_student(0))
        if vk is None:  # vanilla KD is where this baseline starts
            if self._plan_only or self.only is not None:
                raise _NotCurrent(final_student(0))
            raise MckdError("baselines.sd_filter needs the vanilla KD student (final_0)")
        pool_file = self.run.step_dir("select") / "pool.jsonl"
        rl = self.relabel("sd_relabel", vk, pool_file, sel["pool_sha"],
                          "baseline KD+SD: vanilla KD student relabels the pool")
        keep = sd_keep(self.run.labels("sd_relabel"))
        f, sha = self._write_labels("labels_sd", keep, {"relabel": rl["sha"]})
        st = self.student("sd_filter", f, sha,
                          "baseline KD+SD: retrain on the 50% most confident labels")
        self.relabel(on_test("sd_filter"), st, test_file, sel["test_sha"],
                     "baseline KD+SD: student labels the test split")

    def _committee(self, test_file=None, sel=None) -> None:
        """Every collaborative student and the shipped final student (and with
        committee_sft_gold the SFT-on-gold student) vote each test tree (the
        consensus of their raw outputs; one that is not a tree over the words abstains, and
        where none is, the final student's output stands): what `mckd parse FINAL --with S1_A
        ...` deploys. No model runs here."""
        c = self.cfg
        # the shipped student first: where no member wrote a tree, its output stands
        members = [on_test(final_student(c.stages - 1))]
        members += [on_test(stage_student(k, s)) for k in range(1, c.stages) for s in "AB"]
        if c.baselines.committee_sft_gold:
            members.append(on_test("sft_gold"))
        missing = [m for m in members if m not in self._current]
        if missing:  # its own branch has it (plan-only: listed there as missing)
            raise _NotCurrent(missing[0])
        threshold = c.baselines.committee_threshold

        def fn(d: Path) -> dict:
            out = votes.committee(self.fmt, [self.run.labels(m) for m in members], threshold)
            write_jsonl_atomic(d / "labels.jsonl", out)
            return {"sha": sha256_file(d / "labels.jsonl"), "n": len(out), "members": members}

        self._step("committee_test", {"members": {m: self._current[m]["sha"] for m in members},
                                      "threshold": threshold, "versions": {"vote": VOTE_VERSION}},
                   fn, f"committee: {len(members)} students"
                   f"{' (the SFT-on-gold one too)' if c.baselines.committee_sft_gold else ''} "
                   "vote each test output "
                   f"(threshold {threshold})")

    def _inputs_file(self, name: str, records: list[dict], split_sha: str) -> tuple[Path, str]:
        def fn(d: Path) -> dict:
            write_jsonl_atomic(d / "inputs.jsonl", records)
            return {"sha": sha256_file(d / "inputs.jsonl")}

        r = self._step(name, {"split": split_sha}, fn, f"inputs of half {name[-1]}")
        return self.run.step_dir(name) / "inputs.jsonl", r["sha"]

    def _write_manifest(self, status: str, teacher: tuple[str, str]) -> None:
        write_manifest(self.root, self.cfg, status, teacher, started=self._started,
                       seeds=seeds(self._current, self.cfg.seed), data_dir=self.data_dir,
                       data_checksums=self.data_checksums())


def _confidence(rec: dict) -> float:
    """Mean token log-prob of a label; only a missing one (None) ranks last (0.0 is the best)."""
    lp = rec.get("logprob_mean")
    return float("-inf") if lp is None else float(lp)


def sd_keep(recs: list[dict]) -> list[dict]:
    """KD+SD filter: the 50% (at least one) most confident labels, in id order."""
    ranked = sorted(recs, key=lambda r: (-_confidence(r), r["id"]))
    return sorted(ranked[: max(1, len(recs) // 2)], key=lambda r: r["id"])


def _jsonable(obj):
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "__dataclass_fields__"):
        return _jsonable(asdict(obj))
    return str(obj)


def distill(cfg: DistillConfig, data_dir, run_dir, log=None, only=None) -> dict:
    """Run (or resume) the whole pipeline and write results.json / results.md / the plot.
    `only`: the model steps this call may run (see Distiller); None runs everything."""
    from .report import write_reports

    # one writer per run directory: the lock is taken before anything is written
    d = Distiller(cfg, data_dir, run_dir, log=log, only=only, lock=True)
    try:
        results = d.run_all()
        results["config"] = asdict(cfg)
        write_reports(d.root, results)
    finally:
        d.run.release()
    return results
