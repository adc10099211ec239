"""`mckd distill`: the MCKD algorithm of REFERENCE.md §1 as resumable steps in a run directory.

    select → teacher(pool, test) → split pool once into A, B
    stage k = 1 … N-1: fresh student_A on A (labels k-1) relabels B; student_B on B relabels A
    final_k: one student on A ∪ B with labels k  (final_0 is vanilla KD; final_{N-1} ships)
    baselines: SFT on the gold demonstrations; optional KD + self-distillation with filter

Gold trees of the pool and test split are read only by the evaluation steps.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import asdict
from pathlib import Path

from . import __version__
from .config import DistillConfig
from .errors import MckdError
from .jsonio import read_json, read_jsonl, sha256_file, write_json_atomic, write_jsonl_atomic
from .runstate import RunDir


def _strip(rec: dict) -> dict:
    """What the method may see of an unlabeled record: its id and words, never its gold."""
    words = rec.get("words") or rec["source"].split()
    return {"id": rec["id"], "source": rec.get("source") or " ".join(words), "words": words}


def _gold_target(rec: dict, fmt: str) -> str:
    if "targets" in rec and fmt in rec["targets"]:
        return rec["targets"][fmt]
    if "target" in rec:
        return rec["target"]
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
                 log=None):
        self.cfg = cfg
        self.fmt = cfg.format
        self.data_dir = Path(data_dir)
        self.run = RunDir(run_dir, log=log)
        self.log = self.run.log
        self.root = self.run.root

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
            from .data import load_split

            train = load_split(self.data_dir, "train")
            test = load_split(self.data_dir, "test")
            rng = random.Random(c.seed)
            order = sorted(train, key=lambda r: r["id"])
            if len(order) <= c.data.labeled:
                raise MckdError(f"{self.data_dir}/train.jsonl: {len(order)} records, need more "
                                f"than data.labeled={c.data.labeled}")
            demo_idx = set(rng.sample(range(len(order)), c.data.labeled))
            demos = [order[i] for i in sorted(demo_idx)]
            for r in demos:
                _gold_target(r, self.fmt)  # fail early if the format is missing
            rest = [order[i] for i in range(len(order)) if i not in demo_idx]
            pool = _cap(rest, c, c.data.max_pool, random.Random(c.seed + 1))
            test = _cap(test, c, c.data.max_test, random.Random(c.seed + 2))
            if len(pool) < 2:
                raise MckdError(f"unlabeled pool has {len(pool)} sentences after filtering; need >= 2")
            write_jsonl_atomic(d / "demos.jsonl", demos)
            write_jsonl_atomic(d / "pool.jsonl", [_strip(r) for r in pool])
            write_jsonl_atomic(d / "test.jsonl", [_strip(r) for r in test])
            return {"demos": len(demos), "pool": len(pool), "test": len(test),
                    "demos_sha": sha256_file(d / "demos.jsonl"),
                    "pool_sha": sha256_file(d / "pool.jsonl"),
                    "test_sha": sha256_file(d / "test.jsonl")}

        return self.run.run("select", {"data": self.data_checksums(), "seed": c.seed,
                                       "data_cfg": asdict(c.data), "format": self.fmt},
                            fn, "select demonstrations, unlabeled pool and test inputs")

    def _sel(self, name: str) -> list[dict]:
        return read_jsonl(self.run.step_dir("select") / f"{name}.jsonl")

    def _gold(self, split: str) -> dict[str, dict]:
        """Gold records by id — for evaluation only."""
        from .data import load_split

        return {r["id"]: r for r in load_split(self.data_dir, split)}

    # ---------------------------------------------------------------- teacher
    def teacher(self, which: str, sel: dict) -> dict:
        c = self.cfg.teacher

        def fn(d: Path) -> dict:
            from . import teacher as T

            tcfg = T.TeacherConfig(
                format=self.fmt, shots=c.shots, demo_selection=c.demo_selection,
                seed=self.cfg.seed, parallel=c.parallel, threads=c.threads or None,
                constrained=c.constrained, n_ctx=c.n_ctx,
                # outside the step folder: a step re-run after a settings change (say
                # teacher.parallel) still finds every output whose key is unchanged
                cache_path=str(self.root / "cache" / "teacher.cache.jsonl"))
            (self.root / "cache").mkdir(exist_ok=True)
            summary = T.run_teacher(c.model, self._sel("demos"), self._sel(which),
                                    d / "labels.jsonl", tcfg)
            return {"summary": _jsonable(summary), "sha": sha256_file(d / "labels.jsonl")}

        # parallel and threads change speed, not outputs (the cache key leaves them out too)
        settings = {k: v for k, v in asdict(c).items() if k not in ("parallel", "threads")}
        return self.run.run(f"teacher_{which}", {"teacher": settings, "seed": self.cfg.seed,
                                                 "format": self.fmt, "demos": sel["demos_sha"],
                                                 "inputs": sel[f"{which}_sha"]},
                            fn, f"teacher labels the {which} ({sel[which]} sentences)")

    # ---------------------------------------------------------------- split
    def split(self, sel: dict) -> dict:
        def fn(d: Path) -> dict:
            ids = sorted(r["id"] for r in self._sel("pool"))
            random.Random(self.cfg.seed + 3).shuffle(ids)
            half = len(ids) // 2
            write_json_atomic(d / "split.json", {"A": sorted(ids[:half]), "B": sorted(ids[half:])})
            return {"A": half, "B": len(ids) - half, "sha": sha256_file(d / "split.json")}

        return self.run.run("split", {"pool": sel["pool_sha"], "seed": self.cfg.seed}, fn,
                            "split the pool once into halves A and B")

    # ---------------------------------------------------------------- students
    def _train_cfg(self, seed: int):
        from .train import TrainConfig

        s = self.cfg.student
        tc = TrainConfig()
        kw = {"format": self.fmt, "seed": seed, "device": s.device}
        if s.init:
            kw["init"] = s.init
        else:
            kw["arch"] = s.arch
        if s.epochs:
            kw["epochs"] = s.epochs
        kw.update(s.overrides)
        for k, v in kw.items():
            if not hasattr(tc, k):
                raise MckdError(f"student setting {k!r} is not a TrainConfig field")
            setattr(tc, k, v)
        return tc

    def student(self, name: str, train_file: Path, train_sha: str, seed: int, title: str) -> dict:
        """Train a fresh student on a label file and export it to CTranslate2."""
        s = self.cfg.student

        def fn(d: Path) -> dict:
            from .export import export_student
            from .train import train_student

            recs = [{"id": r["id"], "source": r["source"], "words": r.get("words"),
                     "target": r["target"]} for r in read_jsonl(train_file)]
            if not recs:
                raise MckdError(f"{train_file}: no training records")
            info = train_student(recs, d / "student", self._train_cfg(seed))
            export_student(d / "student", d / "ct2", quantization=self.cfg.quantization)
            return {"model_dir": str((d / "ct2").relative_to(self.root)), "train": len(recs),
                    "train_info": _jsonable(info)}

        return self.run.run(name, {"student": asdict(s), "format": self.fmt, "seed": seed,
                                   "labels": train_sha, "quantization": self.cfg.quantization},
                            fn, title)

    def relabel(self, name: str, model: dict, inputs_file: Path, inputs_sha: str, title: str) -> dict:
        def fn(d: Path) -> dict:
            from .relabel import relabel

            summary = relabel(self.root / model["model_dir"], read_jsonl(inputs_file),
                              d / "labels.jsonl", device=self.cfg.student.device)
            return {"summary": _jsonable(summary), "sha": sha256_file(d / "labels.jsonl")}

        return self.run.run(name, {"model": model, "inputs": inputs_sha}, fn, title)

    # ---------------------------------------------------------------- helpers
    def _write_labels(self, name: str, records: list[dict], deps: dict) -> tuple[Path, str]:
        """Materialise a label set (e.g. A ∪ B) as its own step so its checksum is stable."""
        def fn(d: Path) -> dict:
            write_jsonl_atomic(d / "labels.jsonl", records)
            return {"sha": sha256_file(d / "labels.jsonl"), "n": len(records)}

        r = self.run.run(name, deps, fn, f"collect labels {name}")
        return self.run.step_dir(name) / "labels.jsonl", r["sha"]

    def _labels(self, step: str) -> list[dict]:
        return read_jsonl(self.run.step_dir(step) / "labels.jsonl")

    def evaluate(self, key: str, label_step: str, split: str = "test") -> dict:
        """Metrics of a finished label step against gold (cached in the step folder)."""
        cache = self.run.step_dir(label_step) / "eval.json"
        if cache.exists():
            return read_json(cache)
        res = self._evaluate(label_step, split)
        write_json_atomic(cache, res)
        return res

    def _evaluate(self, label_step: str, split: str) -> dict:
        from .evaluate import score

        gold = self._gold(split)
        preds = self._labels(label_step)
        gold_recs = [gold[p["id"]] for p in preds if p["id"] in gold]
        if len(gold_recs) != len(preds):
            raise MckdError(f"{label_step}: predictions for ids missing from the {split} split")
        return score(gold_recs, preds, self.fmt)

    # ---------------------------------------------------------------- the algorithm
    def run_all(self) -> dict:
        c = self.cfg
        t0 = time.time()
        self._write_manifest(status="running")
        sel = self.select()
        self.log(f"  demonstrations {sel['demos']}, pool {sel['pool']}, test {sel['test']}")
        tp = self.teacher("pool", sel)
        tt = self.teacher("test", sel)
        sp = self.split(sel)
        halves = read_json(self.run.step_dir("split") / "split.json")
        a_ids, b_ids = set(halves["A"]), set(halves["B"])

        def pool_labels(step):  # split one label file into halves
            recs = self._labels(step)
            return [r for r in recs if r["id"] in a_ids], [r for r in recs if r["id"] in b_ids]

        # labels_k for halves A and B, as (file, sha) pairs
        la_file, la_sha = self._write_labels("labels_0_A", pool_labels("teacher_pool")[0],
                                             {"teacher": tp["sha"], "split": sp["sha"]})
        lb_file, lb_sha = self._write_labels("labels_0_B", pool_labels("teacher_pool")[1],
                                             {"teacher": tp["sha"], "split": sp["sha"]})
        test_file = self.run.step_dir("select") / "test.jsonl"
        b_inputs = self._inputs_file("inputs_B", [r for r in self._sel("pool") if r["id"] in b_ids],
                                     sp["sha"])
        a_inputs = self._inputs_file("inputs_A", [r for r in self._sel("pool") if r["id"] in a_ids],
                                     sp["sha"])

        for k in range(0, c.stages):
            # final_k: one student on A ∪ B with labels k  (k=0: vanilla KD)
            is_last = k == c.stages - 1
            if k > 0 or is_last or c.baselines.vanilla_kd:
                self._final(k, la_file, la_sha, lb_file, lb_sha, test_file, sel)
            if is_last:
                break
            self.log(f"stage {k + 1}/{c.stages}: collaborative students")
            seed_a, seed_b = c.seed + 100 * (k + 1), c.seed + 100 * (k + 1) + 1
            sa = self.student(f"s{k + 1}_A", la_file, la_sha, seed_a,
                              f"stage {k + 1}/{c.stages}: student A trains on half A")
            sb = self.student(f"s{k + 1}_B", lb_file, lb_sha, seed_b,
                              f"stage {k + 1}/{c.stages}: student B trains on half B")
            rb = self.relabel(f"labels_{k + 1}_B", sa, b_inputs[0], b_inputs[1],
                              f"stage {k + 1}/{c.stages}: student A relabels half B")
            ra = self.relabel(f"labels_{k + 1}_A", sb, a_inputs[0], a_inputs[1],
                              f"stage {k + 1}/{c.stages}: student B relabels half A")
            for side, model in (("A", sa), ("B", sb)):
                self.relabel(f"s{k + 1}_{side}_test", model, test_file, sel["test_sha"],
                             f"stage {k + 1}/{c.stages}: student {side} labels the test split")
            la_file, la_sha = self.run.step_dir(f"labels_{k + 1}_A") / "labels.jsonl", ra["sha"]
            lb_file, lb_sha = self.run.step_dir(f"labels_{k + 1}_B") / "labels.jsonl", rb["sha"]

        if c.baselines.sft_gold:
            self._sft_gold(test_file, sel)
        if c.baselines.sd_filter:
            self._sd_filter(test_file, sel)

        self._write_manifest(status="finished")
        results = self.collect()
        results["seconds_this_invocation"] = round(time.time() - t0, 1)
        return results

    def collect(self) -> dict:
        """Evaluate every finished label step; works on partial runs (`mckd report`)."""
        c = self.cfg
        res: dict = {"format": self.fmt, "stages": c.stages, "models": {},
                     "stage_students": {}, "pool_quality": {}, "final_model": None}
        done = lambda s: self.run.result(s) is not None  # noqa: E731
        rows = [("teacher", "teacher_test"), ("sft_gold", "sft_gold_test"),
                ("vanilla_kd", "final_0_test"), ("kd_sd_filter", "sd_filter_test")]
        rows += [(f"{k + 1}-stage", f"final_{k}_test") for k in range(1, c.stages)]
        for key, step in rows:
            if done(step):
                res["models"][key] = self.evaluate(key, step)
        for k in range(1, c.stages):
            for side in "AB":
                if done(f"s{k}_{side}_test"):
                    res["stage_students"][f"stage{k}_{side}"] = self.evaluate("", f"s{k}_{side}_test")
        for k in range(0, c.stages):
            steps = [f"labels_{k}_A", f"labels_{k}_B"]
            if all(done(s) for s in steps):
                res["pool_quality"]["teacher" if k == 0 else f"stage{k}"] = self._pool_quality(steps)
        if self.fmt != "text" and done("select"):
            # what a parser must beat on these very sentences (no model involved); cached beside
            # the selection like evaluate()'s eval.json, so `mckd report` need not reload gold
            cache = self.run.step_dir("select") / "references.json"
            if cache.exists():
                res["references"] = read_json(cache)
            else:
                from .evaluate import reference_scores

                gold = self._gold("test")
                res["references"] = reference_scores([gold[r["id"]] for r in self._sel("test")])
                write_json_atomic(cache, res["references"])
        final = self.run.result(f"final_{c.stages - 1}")
        if final:
            res["final_model"] = str(self.root / final["model_dir"])
        res["complete"] = done(f"final_{c.stages - 1}_test")
        return res

    def _final(self, k, la_file, la_sha, lb_file, lb_sha, test_file, sel):
        c = self.cfg
        both = read_jsonl(la_file) + read_jsonl(lb_file)
        f, sha = self._write_labels(f"labels_{k}_all", both, {"A": la_sha, "B": lb_sha})
        name = "vanilla KD (1-stage)" if k == 0 else f"{k + 1}-stage MCKD"
        st = self.student(f"final_{k}", f, sha, c.seed + 10 + k,
                          f"{name}: final student trains on A ∪ B")
        self.relabel(f"final_{k}_test", st, test_file, sel["test_sha"],
                     f"{name}: final student labels the test split")

    def _sft_gold(self, test_file, sel):
        demos = self._sel("demos")
        recs = [{"id": r["id"], "source": r["source"], "words": r.get("words"),
                 "target": _gold_target(r, self.fmt)} for r in demos]
        f, sha = self._write_labels("labels_gold", recs, {"demos": sel["demos_sha"]})
        st = self.student("sft_gold", f, sha, self.cfg.seed + 7,
                          f"baseline: student fine-tuned on the {len(recs)} gold examples only")
        self.relabel("sft_gold_test", st, test_file, sel["test_sha"],
                     "baseline: SFT-on-gold student labels the test split")

    def _sd_filter(self, test_file, sel):
        vk = self.run.result("final_0")
        pool_file = self.run.step_dir("select") / "pool.jsonl"
        self.relabel("sd_relabel", vk, pool_file, sel["pool_sha"],
                     "baseline KD+SD: vanilla KD student relabels the pool")
        recs = self._labels("sd_relabel")
        recs.sort(key=lambda r: (-(r.get("logprob_mean") or -1e9), r["id"]))
        keep = sorted(recs[: max(1, len(recs) // 2)], key=lambda r: r["id"])
        f, sha = self._write_labels("labels_sd", keep, {"relabel": self.run.result("sd_relabel")["sha"]})
        st = self.student("sd_filter", f, sha, self.cfg.seed + 8,
                          "baseline KD+SD: retrain on the 50% most confident labels")
        self.relabel("sd_filter_test", st, test_file, sel["test_sha"],
                     "baseline KD+SD: student labels the test split")

    def _inputs_file(self, name: str, records: list[dict], split_sha: str) -> tuple[Path, str]:
        def fn(d: Path) -> dict:
            write_jsonl_atomic(d / "inputs.jsonl", records)
            return {"sha": sha256_file(d / "inputs.jsonl")}

        r = self.run.run(name, {"split": split_sha}, fn, f"inputs of half {name[-1]}")
        return self.run.step_dir(name) / "inputs.jsonl", r["sha"]

    def _pool_quality(self, steps: list[str]) -> dict:
        """Analysis only: pseudolabels of the pool against the held-back gold."""
        from .evaluate import score

        gold = self._gold("train")
        preds = [r for s in steps for r in self._labels(s)]
        return score([gold[p["id"]] for p in preds], preds, self.fmt)

    def _write_manifest(self, status: str) -> None:
        import platform

        versions = {"mckd": __version__, "python": platform.python_version()}
        for mod in ("torch", "transformers", "ctranslate2", "tokenizers", "llama_cpp"):
            try:
                versions[mod] = __import__(mod).__version__
            except Exception:  # noqa: BLE001 - a missing optional package is recorded as absent
                versions[mod] = None
        write_json_atomic(self.root / "manifest.json", {
            "status": status,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "command": sys.argv,
            "config": asdict(self.cfg),
            "seeds": {"run": self.cfg.seed, "demo_sample": self.cfg.seed,
                      "pool_sample": self.cfg.seed + 1, "test_sample": self.cfg.seed + 2,
                      "split": self.cfg.seed + 3,
                      "students": "stage k: seed+100k (A), seed+100k+1 (B); final_k: seed+10+k; "
                                  "sft: seed+7; sd: seed+8"},
            "data_dir": str(self.data_dir.resolve()),
            "data_checksums": self.data_checksums(),
            "versions": versions,
        })


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


def distill(cfg: DistillConfig, data_dir, run_dir, log=None) -> dict:
    """Run (or resume) the whole pipeline and write results.json / results.md / the plot."""
    from .report import write_reports

    d = Distiller(cfg, data_dir, run_dir, log=log)
    results = d.run_all()
    results["config"] = asdict(cfg)
    write_reports(d.root, results)
    return results
