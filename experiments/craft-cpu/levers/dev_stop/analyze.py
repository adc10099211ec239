"""The dev stop on run-vote's stage-1 student A (no model runs; after levers/stage1.sh DEV=...).

Student A's recipe (SmolLM2-135M, batch 16, lr 3e-4, seed 100) on the voted teacher's labels of
half A, up to 5 epochs with `stop=dev`: each epoch decoded the run's 50 gold examples under the
tree constraint, and the best epoch's weights were kept. Its relabels of half B are compared,
paired per sentence against the pool's held-back gold (analysis only), with the teacher's labels
of half B and the run's 3-epoch student A's relabels; the epoch curve is the student's own log.

    python experiments/craft-cpu/levers/dev_stop/analyze.py   # writes results.json beside it
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from common import ROOT, STEPS, brackets, mean, per, raw_trees  # noqa: E402
from mckd.data import load_split  # noqa: E402
from mckd.jsonio import write_json_atomic  # noqa: E402
from mckd.metrics import paired_gain  # noqa: E402

STUDENT = ROOT / "runs/craft-vote-s1A-dev_stop/student/mckd_student.json"


def main() -> dict:
    gold = {r["id"]: r for r in load_split(ROOT / "data/craft", "train")}
    mine = raw_trees(HERE / "stage1_A_dev_stop.jsonl")
    ids = sorted(mine)
    rows = {"dev-stop student A": mine,
            "the teacher's labels": raw_trees(STEPS / "labels_0_B/labels.jsonl"),
            "the run's student A (3 epochs)": raw_trees(STEPS / "labels_1_B/labels.jsonl")}
    f1 = {k: per(gold, ids, [t[i] for i in ids]) for k, t in rows.items()}
    res: dict = {"n": len(ids), "relabels_of_half_B": {
        k: {"paper_f1": mean(f1[k]), **brackets(gold, {i: t[i] for i in ids})}
        for k, t in rows.items()}}
    res["paired_gain"] = {f"over {k}": paired_gain(f1["dev-stop student A"], f1[k])
                          for k in rows if k != "dev-stop student A"}
    if STUDENT.exists():  # the training log (not committed with the model; copied here once)
        meta = json.loads(STUDENT.read_text())
        res["training"] = {"dev": meta["dev"], "stopped_by": meta["stopped_by"],
                           "epochs": [{k: h[k] for k in ("epoch", "loss", "seconds", "dev_f1")}
                                      for h in meta["history"]],
                           "seconds": meta["seconds_this_run"]}
    elif (HERE / "results.json").exists():
        res["training"] = json.loads((HERE / "results.json").read_text())["training"]
    write_json_atomic(HERE / "results.json", res)
    return res


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
