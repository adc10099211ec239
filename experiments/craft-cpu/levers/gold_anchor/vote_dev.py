"""The SFT-on-gold student as a voter, its thresholds chosen on dev (vote.py reads them off the
run's fixed ones on test). The run's SFT-on-gold student (30 epochs, seed 7) labels the 200 CRAFT
dev sentences of the prompt levers (20-30 words); beside it on dev are the teacher's two passes
(levers/prompt: greedy, band_demos) and the run's five students (levers/committee). Each vote's
threshold is the one dev scores best; the test split is scored at it.

    python experiments/craft-cpu/levers/gold_anchor/vote_dev.py   # needs run-vote's sft_gold/ct2

Resumable: the student's dev labels are a `mckd relabel` output beside this script (dev_sft_gold.jsonl).
Writes vote_dev.json beside it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from common import STEPS, mean, outputs, per, raw_trees, vote  # noqa: E402
from common import RUN_COMMITTEE as COMMITTEE  # noqa: E402
from mckd.data import load_split  # noqa: E402
from mckd.jsonio import read_jsonl, write_json_atomic  # noqa: E402
from mckd.metrics import paired_gain  # noqa: E402
from vote import run_sft_is_current  # noqa: E402  (this lever's own)
ROOT = HERE.parents[3]
LEVERS = HERE.parent
THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4)


def systems(split: dict) -> dict:
    """Each vote's members, per sentence: the teacher's passes and the committee, with and
    without the SFT-on-gold student."""
    return {
        "teacher_passes": lambda i: split["passes"][i],
        "teacher_passes_and_sft": lambda i: split["passes"][i] + [split["sft"][i]],
        "committee": lambda i: [split["students"][m][i] for m in COMMITTEE],
        "committee_and_sft": lambda i: [split["students"][m][i] for m in COMMITTEE]
        + [split["sft"][i]],
    }


def main() -> dict:
    if not run_sft_is_current():
        raise SystemExit("run-vote's sft_gold steps are not the 30-epoch ones yet: run "
                         "`mckd distill --preset craft-cpu-vote ...` first")
    inputs = LEVERS / "committee/dev_inputs.jsonl"
    out = HERE / "dev_sft_gold.jsonl"
    if not out.exists():
        subprocess.run(["mckd", "relabel", str(STEPS / "sft_gold/ct2"), "--input", str(inputs),
                        "--out", str(out), "--no-progress"], check=True)
    dev_ids = [r["id"] for r in read_jsonl(inputs)]
    dev_gold = {r["id"]: r for r in load_split(ROOT / "data/craft", "dev") if r["id"] in set(dev_ids)}
    first, band = outputs(LEVERS / "prompt/greedy.jsonl"), outputs(LEVERS / "prompt/band_demos.jsonl")
    dev = {"ids": dev_ids, "words": {i: dev_gold[i]["words"] for i in dev_ids},
           "passes": {i: [first[i]["output"], band[i]["output"]] for i in dev_ids},
           "sft": raw_trees(out),
           "students": {m: raw_trees(LEVERS / f"committee/dev_{m}.jsonl")
                        for m in COMMITTEE}}
    test_gold = {r["id"]: r for r in load_split(ROOT / "data/craft", "test")}
    teacher = outputs(STEPS / "teacher_test/labels.jsonl")
    test_ids = sorted(teacher)
    test = {"ids": test_ids, "words": {i: test_gold[i]["words"] for i in test_ids},
            "passes": {i: teacher[i]["votes"]["outputs"] for i in test_ids},
            "sft": raw_trees(STEPS / "sft_gold_test/labels.jsonl"),
            "students": {m: raw_trees(STEPS / f"{m}_test/labels.jsonl")
                         for m in COMMITTEE}}
    res: dict = {"dev": {"n": len(dev_ids), "sft_on_gold_alone": mean(
                     per(dev_gold, dev_ids, [dev["sft"][i] for i in dev_ids]))},
                 "test": {"n": len(test_ids)}}
    base = per(test_gold, test_ids, [teacher[i]["output"] for i in test_ids])
    res["test"]["voted_teacher"] = mean(base)
    res["test"]["sft_on_gold_alone"] = mean(per(test_gold, test_ids,
                                                [test["sft"][i] for i in test_ids]))
    on_test = systems(test)
    for name, members in systems(dev).items():
        on_dev = {t: mean(per(dev_gold, dev_ids, [vote(members(i), dev["words"][i], t)
                                                   for i in dev_ids])) for t in THRESHOLDS}
        best = max(THRESHOLDS, key=lambda t: on_dev[t])
        f1 = per(test_gold, test_ids, [vote(on_test[name](i), test["words"][i], best)
                                       for i in test_ids])
        res["dev"][name] = {str(t): v for t, v in on_dev.items()}
        res["test"][name] = {"threshold_chosen_on_dev": best, "paper_f1": mean(f1),
                             "gain_over_teacher": paired_gain(f1, base)}
    return res


if __name__ == "__main__":
    r = main()
    write_json_atomic(HERE / "vote_dev.json", r)
    print(json.dumps(r, indent=1))
