"""Did stage-1 student A learn the gold-anchored labels? (No model runs.)

For each label set labels.py wrote (half A, against its held-back gold: what the student was
given) and each student levers/stage1.sh trained on one (its relabels of half B, against half B's
held-back gold: what it learnt), paper F1 and the brackets written (spans of >= 2 words a
sentence, micro precision / recall). Beside them the run's own: the teacher's vote (stage-1
student A's labels) and that student's relabels of half B. Gains are paired over the same
sentences of half B.

With the SFT student's own labels of half B (`pool_B_sft_gold.jsonl`, a `mckd relabel` of
run-vote's sft_gold/ct2 on inputs_B, ~25-30 minutes on 2 cores) it also asks what an MCKD stage would hand on
in a pipeline that anchors its labels so: half B's labels voted from the teacher's passes and the
SFT student (0.3, as for half A), and those with student A's relabels as one more voter (the stage
vote, here with four voters: 0.2 and 0.3 both shown, neither chosen on this gold).

    python experiments/craft-cpu/levers/sft_voter/labels.py    # the label files (not committed)
    python experiments/craft-cpu/levers/sft_voter/analyze.py   # writes results.json beside it
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from common import ROOT, STEPS, brackets, mean, outputs, per, raw_trees, vote  # noqa: E402
from mckd.data import load_split  # noqa: E402
from mckd.jsonio import write_json_atomic  # noqa: E402
from mckd.metrics import paired_gain  # noqa: E402

# student name (stage1_A_<name>.jsonl) -> the labels it trained on
STUDENTS = {"sft_voter_0.3": "train_A_0.3.jsonl", "sft_voter_0.3_agree": "train_A_0.3_agree.jsonl"}


def quality(gold: dict, trees: dict[str, str]) -> dict:
    ids = sorted(trees)
    return {"n": len(ids), "paper_f1": mean(per(gold, ids, [trees[i] for i in ids])),
            **brackets(gold, trees)}


def main() -> dict:
    gold = {r["id"]: r for r in load_split(ROOT / "data/craft", "train")}
    labels = {"teacher_vote (the run's)": STEPS / "labels_0_A/labels.jsonl"}
    labels.update({f: HERE / f for f in STUDENTS.values()})
    res: dict = {"labels_of_half_A": {
        k: quality(gold, raw_trees(p))
        for k, p in labels.items() if p.exists()}, "relabels_of_half_B": {}}
    teacher_b = raw_trees(STEPS / "labels_0_B/labels.jsonl")
    run_a = raw_trees(STEPS / "labels_1_B/labels.jsonl")
    for name, trained_on in STUDENTS.items():
        f = HERE / f"stage1_A_{name}.jsonl"
        if not f.exists():
            continue
        mine = raw_trees(f)
        ids = sorted(mine)
        f1 = per(gold, ids, [mine[i] for i in ids])
        t = per(gold, ids, [teacher_b[i] for i in ids])
        a = per(gold, ids, [run_a[i] for i in ids])
        res["relabels_of_half_B"][name] = {
            "trained_on": trained_on, "n": len(ids), "paper_f1": mean(f1),
            "teacher_labels_same_sentences": mean(t), "run_student_A_same_sentences": mean(a),
            "gain_over_teacher_labels": paired_gain(f1, t),
            "gain_over_run_student_A": paired_gain(f1, a),
            "brackets": brackets(gold, mine),
            "brackets_teacher_labels": brackets(gold, {i: teacher_b[i] for i in ids}),
            "brackets_run_student_A": brackets(gold, {i: run_a[i] for i in ids})}
    sft_b = HERE / "pool_B_sft_gold.jsonl"
    if sft_b.exists():
        res["half_B_voted"] = half_b_votes(gold, sft_b, run_a)
    return res


def half_b_votes(gold: dict, sft_file: Path, run_a: dict[str, str]) -> dict:
    teacher = outputs(STEPS / "labels_0_B/labels.jsonl")
    sft = raw_trees(sft_file)
    ids = sorted(teacher)
    words = {i: teacher[i]["words"] for i in ids}
    passes = {i: teacher[i]["votes"]["outputs"] for i in ids}
    base = per(gold, ids, [teacher[i]["output"] for i in ids])
    rows = {"sft_on_gold_alone": [sft[i] for i in ids],
            "teacher_passes_and_sft_0.3": [vote(passes[i] + [sft[i]], words[i], 0.3) for i in ids],
            "stage_vote_run_student_A_0.2": [vote(passes[i] + [run_a[i]], words[i], 0.2)
                                             for i in ids]}
    for name in STUDENTS:
        f = HERE / f"stage1_A_{name}.jsonl"
        if f.exists():
            mine = raw_trees(f)
            for t in (0.2, 0.3):
                rows[f"teacher_passes_sft_and_{name}_{t}"] = [
                    vote(passes[i] + [sft[i], mine[i]], words[i], t) for i in ids]
    out: dict = {"n": len(ids), "teacher_vote": mean(base)}
    f1s = {name: per(gold, ids, trees) for name, trees in rows.items()}
    anchored = f1s["teacher_passes_and_sft_0.3"]
    for name, f1 in f1s.items():
        out[name] = {"paper_f1": mean(f1), "gain_over_teacher_vote": paired_gain(f1, base)}
        if name.startswith("teacher_passes_sft_and_"):  # what the student adds as a voter
            out[name]["gain_over_anchored_labels"] = paired_gain(f1, anchored)
    return out


if __name__ == "__main__":
    r = main()
    write_json_atomic(HERE / "results.json", r)
    print(json.dumps(r, indent=1))
