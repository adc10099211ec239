"""What each way of making a stage's labels hands the students: craft-cpu run-vote's pool, stage 1.

No model runs. For the 1,000 pool sentences: the teacher's two greedy passes, their vote (the
run's stage-0 labels), the stage-1 students' relabels, the stage vote (passes + relabel, the run's
stage-1 labels) and the medoid (the one tree of the three that agrees most with the other two,
span F1: a whole tree one model wrote, picked by consensus). Each is scored against the held-back
gold (analysis only): paper F1, and the brackets it writes (spans of >= 2 words a sentence) with
their micro precision and recall. The question: is the stage vote's gain over the teacher one a
student can learn?

    python experiments/craft-cpu/levers/labels/analyze.py   # writes results.json beside it
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from common import ROOT, brackets, by_id, paper_f1, vote  # noqa: E402
from common import TEACHER_THRESHOLD as THRESHOLD  # noqa: E402
from mckd.data import load_split  # noqa: E402
from mckd.jsonio import write_json_atomic  # noqa: E402
from mckd.metrics.spans import span_f1  # noqa: E402


def medoid(trees: list[str]) -> str:
    """The tree with the largest summed span F1 against the others (the first on a tie)."""
    worth = [sum(span_f1([t], [u]) for u in trees if u is not t) for t in trees]
    return trees[worth.index(max(worth))]


def main(data: str = "data/craft") -> dict:
    gold = {r["id"]: r for r in load_split(ROOT / data, "train")}
    teacher, relabels = by_id("teacher_pool"), {**by_id("labels_1_A"), **by_id("labels_1_B")}
    ids = sorted(relabels)
    passes = {i: teacher[i]["votes"]["outputs"] for i in ids}
    rows = {
        "teacher_pass_1": {i: passes[i][0] for i in ids},
        "teacher_pass_2": {i: passes[i][1] for i in ids},
        "teacher_vote (stage-0 labels)": {i: teacher[i]["output"] for i in ids},
        "student_relabels": {i: relabels[i]["output"] for i in ids},
        "stage_vote (stage-1 labels)": {
            i: vote(passes[i] + [relabels[i]["output"]], gold[i]["words"], THRESHOLD) for i in ids},
        "medoid of passes and relabel": {i: medoid(passes[i] + [relabels[i]["output"]]) for i in ids},
    }
    res = {"n": len(ids), "gold_brackets_per_sentence": brackets(gold, rows["teacher_pass_1"])[
        "gold_per_sentence"], "rows": {}}
    for name, out in rows.items():
        b = brackets(gold, out)
        res["rows"][name] = {"paper_f1": paper_f1(gold, ids, [out[i] for i in ids]),
                             "brackets_per_sentence": b["per_sentence"],
                             "precision": b["precision"], "recall": b["recall"]}
    write_json_atomic(HERE / "results.json", res)
    return res


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:]), indent=1))
