"""The scores of a run: every current label step against the held-back gold, the pool's
pseudolabels at each stage, and the no-model references. Nothing here runs a model; each score
is cached beside what it scores, keyed by the scorer version and the labels' checksum, so
`mckd report` need not reload gold. Gold is read only here.
"""

from __future__ import annotations

from pathlib import Path

from .. import formats
from ..errors import MckdError
from ..jsonio import read_json, sha256_file, write_json_atomic
from ..versions import SCORER_VERSION, code_versions
from .rundir import RunDir
from .steps import final_student, on_test, stage_labels, stage_student, voted_labels


class RunScores:
    """The scores of the steps `current` holds (step name -> its result) in `run`."""

    def __init__(self, cfg, run: RunDir, data_dir: str | Path, current: dict[str, dict]):
        self.cfg, self.run, self.current = cfg, run, current
        self.fmt = cfg.format
        self.root = run.root
        self.data_dir = Path(data_dir)

    def gold(self, split: str) -> dict[str, dict]:
        """Gold records by id — for evaluation only."""
        from ..data import load_split

        return {r["id"]: r for r in load_split(self.data_dir, split)}

    def evaluate(self, label_step: str, split: str = "test") -> dict:
        """Metrics of a finished label step against gold (cached in the step folder).

        The cache holds the scorer version and the labels' checksum: a score made by older
        scoring code, or of other labels, is recomputed.
        """
        cache = self.run.step_dir(label_step) / "eval.json"
        key = {"scorer_version": SCORER_VERSION,
               "labels_sha": sha256_file(self.run.step_dir(label_step) / "labels.jsonl")}
        if cache.exists():
            old = read_json(cache)
            if isinstance(old, dict) and old.get("cache_key") == key:
                return old["result"]
        res = self._evaluate(label_step, split)
        write_json_atomic(cache, {"cache_key": key, "result": res})
        return res

    def _evaluate(self, label_step: str, split: str) -> dict:
        from ..metrics.score import score

        gold = self.gold(split)
        preds = self.run.labels(label_step)
        gold_recs = [gold[p["id"]] for p in preds if p["id"] in gold]
        if len(gold_recs) != len(preds):
            raise MckdError(f"{label_step}: predictions for ids missing from the {split} split")
        return score(gold_recs, preds, self.fmt)

    def model_rows(self) -> list[tuple[str, str, str | None]]:
        """(results key, test label step, student step) of every row the config reports."""
        from .rows import enabled

        return [(r.key, r.test_step, r.student) for r in enabled(self.cfg)]

    def row(self, step: str, student: str | None) -> dict:
        """Scores of one current label step, naming the label file and the training repairs."""
        row = dict(self.evaluate(step))
        row["labels"] = str((self.run.step_dir(step) / "labels.jsonl").relative_to(self.root))
        if student and student in self.current:
            row["train"] = self.current[student].get("train")
            row["train_repaired"] = self.current[student].get("train_repaired")
        return row

    def collect(self, missing: list[str]) -> dict:
        """Evaluate every current label step; works on partial runs (`mckd report`).
        `missing`: the steps the config needs that are not current (`complete` when none)."""
        c = self.cfg
        cur = self.current
        res: dict = {"format": self.fmt, "stages": c.stages, "models": {},
                     "stage_students": {}, "pool_quality": {}, "students": {},
                     "final_model": None, "versions": code_versions()}
        for key, step, student in self.model_rows():
            if step in cur:
                res["models"][key] = self.row(step, student)
        for k in range(1, c.stages):
            for side in "AB":
                st = stage_student(k, side)
                if on_test(st) in cur:
                    res["stage_students"][f"stage{k}_{side}"] = self.row(on_test(st), st)
        # the labels of each stage (k = 0: the teacher's), then what stage_vote handed on
        pools = [("teacher" if k == 0 else f"stage{k}", stage_labels, k) for k in range(c.stages)]
        pools += [(f"stage{k}_voted", voted_labels, k) for k in range(1, c.stages)]
        for key, step_name, k in pools:
            steps = [step_name(k, "A"), step_name(k, "B")]
            if all(s in cur for s in steps):
                res["pool_quality"][key] = dict(
                    self.pool_quality(steps),
                    labels=[str((self.run.step_dir(s) / "labels.jsonl").relative_to(self.root))
                            for s in steps])
        for name, r in cur.items():  # every current student: how many targets were repaired
            if "model_dir" in r:
                res["students"][name] = {"train": r.get("train"),
                                         "train_repaired": r.get("train_repaired")}
        if formats.get(self.fmt).constrained and "select" in cur:
            res["references"] = self.references()
        final = cur.get(final_student(c.stages - 1))
        if final:
            res["final_model"] = str(self.root / final["model_dir"])
        res["missing"] = list(missing)
        res["complete"] = not missing and on_test(final_student(c.stages - 1)) in cur
        return res

    def references(self) -> dict:
        """What a parser must beat on these very sentences (no model involved); cached beside
        the selection like eval.json, so `mckd report` need not reload gold."""
        from ..metrics.score import reference_scores

        cache = self.run.step_dir("select") / "references.json"
        key = {"scorer_version": SCORER_VERSION, "test_sha": self.current["select"]["test_sha"]}
        if cache.exists():
            old = read_json(cache)
            if isinstance(old, dict) and old.get("cache_key") == key:
                return old["result"]
        gold = self.gold("test")
        ref = reference_scores([gold[r["id"]] for r in self.run.selected("test")], self.fmt,
                               self.run.selected("demos"))
        write_json_atomic(cache, {"cache_key": key, "result": ref})
        return ref

    def pool_quality(self, steps: list[str]) -> dict:
        """Analysis only: pseudolabels of the pool (their raw outputs) against the held-back gold.

        Cached like eval.json, keyed by the scorer version and the label files' checksums."""
        from ..metrics.score import score

        cache = self.root / "cache" / f"pool_quality_{steps[0].rsplit('_', 1)[0]}.json"
        key = {"scorer_version": SCORER_VERSION,
               "labels": [self.current[s]["sha"] for s in steps]}
        if cache.exists():
            old = read_json(cache)
            if isinstance(old, dict) and old.get("cache_key") == key:
                return old["result"]
        gold = self.gold("train")
        preds = [r for s in steps for r in self.run.labels(s)]
        res = score([gold[p["id"]] for p in preds], preds, self.fmt)
        cache.parent.mkdir(exist_ok=True)
        write_json_atomic(cache, {"cache_key": key, "result": res})
        return res
