"""The committee's threshold, chosen on dev: run-vote's five students (the 3-stage student first,
then the four stage students, as `baselines.committee` orders them) label the 200 CRAFT dev
sentences of the prompt levers (20-30 words, seed 0); their consensus is scored on dev at each
threshold, and the test split's committee is scored at the one dev chose. The run's own row
uses the teacher's threshold (0.2), which needs two votes of five; this asks, without reading the
test split's gold to choose, whether one vote is the better rule.

    python experiments/craft-cpu/levers/committee/vote_dev.py   # needs the students' ct2 folders

Resumable: each student's dev labels are a `mckd relabel` output beside this script.
Writes results.json beside it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
sys.path.insert(0, str(HERE.parent))

from common import RUN_COMMITTEE, STEPS, by_id, paper_f1, sentences, vote  # noqa: E402
from mckd.data import load_split  # noqa: E402
from mckd.jsonio import read_jsonl, write_json_atomic, write_jsonl_atomic  # noqa: E402

MEMBERS = RUN_COMMITTEE  # the run's own
THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


def main() -> dict:
    dev = sentences(200, 0)
    inputs = HERE / "dev_inputs.jsonl"
    write_jsonl_atomic(inputs, [{"id": r["id"], "words": r["words"]} for r in dev])
    labels = {}
    for m in MEMBERS:
        out = HERE / f"dev_{m}.jsonl"
        if not out.exists():
            subprocess.run(["mckd", "relabel", str(STEPS / m / "ct2"), "--input", str(inputs),
                            "--out", str(out), "--no-progress"], check=True)
        labels[m] = {r["id"]: r for r in read_jsonl(out)}
    gold_dev = {r["id"]: r for r in dev}
    ids = [r["id"] for r in dev]
    res = {"members": MEMBERS, "dev": {"n": len(ids)}, "test": {}}
    for m in MEMBERS:
        res["dev"][m] = paper_f1(gold_dev, ids, [labels[m][i]["output"] for i in ids])
    for t in THRESHOLDS:
        res["dev"][f"committee_{t}"] = paper_f1(gold_dev, ids, [
            vote([labels[m][i]["output"] for m in MEMBERS], gold_dev[i]["words"], t) for i in ids])
    best = max(THRESHOLDS, key=lambda t: res["dev"][f"committee_{t}"])
    res["dev_chosen_threshold"] = best
    gold = {r["id"]: r for r in load_split(ROOT / "data/craft", "test")}
    test = {m: by_id(f"{m}_test") for m in MEMBERS}
    tids = sorted(test[MEMBERS[0]])
    for t in sorted({best, 0.2}):
        res["test"][f"committee_{t}"] = paper_f1(gold, tids, [
            vote([test[m][i]["output"] for m in MEMBERS], gold[i]["words"], t) for i in tids])
    write_json_atomic(HERE / "results.json", res)
    return res


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
