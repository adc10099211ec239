"""Does a student's relabel add to the teacher's passes? craft-cpu run-vote's stage 1, re-voted.

No model runs: the teacher's two passes of every pool and test sentence are in its label records
(`votes.outputs`), the stage-1 students' raw outputs in their label steps. Each combination is
voted as the teacher's own passes were (mckd.teacher.vote at threshold 0.2, the teacher's), and
scored from those trees against the held-back gold (analysis only). Where the run has them, the
later students (trained on the voted labels) are scored alone, with the teacher's passes, and in a
committee of students only. Other thresholds are listed as
a sensitivity check; they read the gold, so none of them is a setting.

    python experiments/craft-cpu/levers/stage_vote/analyze.py   # writes results.json beside it
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import (  # noqa: E402
    ROOT,
    RUN_COMMITTEE,
    STEPS,
    TEACHER_THRESHOLD,
    by_id,
    paired_gain,
    paper_f1,
    vote,
)
from mckd.data import load_split  # noqa: E402
from mckd.jsonio import write_json_atomic  # noqa: E402

THRESHOLD = TEACHER_THRESHOLD
# the four students of the third session, and the run's own committee
COMMITTEES = (["s1_A", "s1_B", "s2_A", "final_1"], RUN_COMMITTEE)
SENSITIVITY = (0.0, THRESHOLD, 0.25, 0.4, 0.5)


def right_branching(words: list[str]) -> str:
    tree = f"( {words[-1]} )"
    for w in reversed(words[:-1]):
        tree = f"( ( {w} ) {tree} )"
    return tree


def main(data: str = "data/craft") -> dict:
    res: dict = {"threshold": THRESHOLD, "pool": {}, "test": {}, "sensitivity": {}}
    # the pool: each half's teacher passes + the other half's student (labels_1_X)
    gold = {r["id"]: r for r in load_split(ROOT / data, "train")}
    teacher, relabels = by_id("teacher_pool"), {**by_id("labels_1_A"), **by_id("labels_1_B")}
    ids = sorted(relabels)
    passes = {i: teacher[i]["votes"]["outputs"] for i in ids}
    res["pool"] = {
        "n": len(ids),
        "teacher_vote": paper_f1(gold, ids, [teacher[i]["output"] for i in ids]),
        "relabels": paper_f1(gold, ids, [relabels[i]["output"] for i in ids]),
        "teacher_passes_and_relabel": paper_f1(gold, ids, [
            vote(passes[i] + [relabels[i]["output"]], gold[i]["words"], THRESHOLD) for i in ids]),
    }
    # controls: is any third voter a tie-breaker? right-branching, or the better pass counted twice
    res["pool"]["control_teacher_passes_and_right_branching"] = paper_f1(gold, ids, [
        vote(passes[i] + [right_branching(gold[i]["words"])], gold[i]["words"], THRESHOLD)
        for i in ids])
    res["pool"]["teacher_pass_1"] = paper_f1(gold, ids, [passes[i][0] for i in ids])
    res["pool"]["teacher_pass_2"] = paper_f1(gold, ids, [passes[i][1] for i in ids])
    best = 0 if res["pool"]["teacher_pass_1"] >= res["pool"]["teacher_pass_2"] else 1
    res["pool"]["control_teacher_passes_and_the_better_pass_again"] = paper_f1(gold, ids, [
        vote(passes[i] + [passes[i][best]], gold[i]["words"], THRESHOLD) for i in ids])
    res["sensitivity"]["pool_teacher_passes_and_relabel"] = {
        str(t): paper_f1(gold, ids, [vote(passes[i] + [relabels[i]["output"]], gold[i]["words"], t)
                                     for i in ids]) for t in (0.0, 0.1, 0.3, 0.34, 0.5)}
    # the test split: the teacher's passes with one or both stage-1 students, and the students alone
    gold = {r["id"]: r for r in load_split(ROOT / data, "test")}
    teacher, a, b = by_id("teacher_test"), by_id("s1_A_test"), by_id("s1_B_test")
    ids = sorted(teacher)
    p = {i: teacher[i]["votes"]["outputs"] for i in ids}
    w = {i: gold[i]["words"] for i in ids}
    res["test"] = {
        "n": len(ids),
        "teacher_vote": paper_f1(gold, ids, [teacher[i]["output"] for i in ids]),
        "student_A": paper_f1(gold, ids, [a[i]["output"] for i in ids]),
        "student_B": paper_f1(gold, ids, [b[i]["output"] for i in ids]),
        "teacher_passes_and_A": paper_f1(gold, ids, [vote(p[i] + [a[i]["output"]], w[i], THRESHOLD) for i in ids]),
        "teacher_passes_and_B": paper_f1(gold, ids, [vote(p[i] + [b[i]["output"]], w[i], THRESHOLD) for i in ids]),
        "teacher_passes_A_and_B": paper_f1(gold, ids, [
            vote(p[i] + [a[i]["output"], b[i]["output"]], w[i], THRESHOLD) for i in ids]),
        "A_and_B": paper_f1(gold, ids, [vote([a[i]["output"], b[i]["output"]], w[i], THRESHOLD)
                                        for i in ids]),
    }
    # stage 2 (students trained on the voted labels) and the finals, where their test steps are done
    later = {name: by_id(f"{name}_test") for name in ("s2_A", "s2_B", "final_1", "final_2", "final_0", "sd_filter")
             if (STEPS / f"{name}_test" / "done.json").is_file()}
    if later:
        res["test_later_students"] = {}
        for name, lab in later.items():
            res["test_later_students"][name] = paper_f1(gold, ids, [lab[i]["output"] for i in ids])
            res["test_later_students"][f"teacher_passes_and_{name}"] = paper_f1(gold, ids, [
                vote(p[i] + [lab[i]["output"]], w[i], THRESHOLD) for i in ids])
        students = {"s1_A": a, "s1_B": b, **later}
        # committees of students only (no teacher at parse time), fixed before their scores were
        # seen. The threshold is a share of the voters: 0.2 lets one vote of 2-4 keep a span, but
        # needs two of 5. The other thresholds are read off the test split: a sensitivity
        # check, not a setting.
        committees = {}
        for members in COMMITTEES:
            if all(m in students for m in members):
                name = "_".join(members)
                at = {t: [vote([students[m][i]["output"] for m in members], w[i], t) for i in ids]
                      for t in SENSITIVITY}
                committees["committee_" + name] = at[THRESHOLD]
                res["sensitivity"]["test_committee_" + name] = {
                    f"{t} ({int(t * len(members)) + 1} of {len(members)} votes)":
                        paper_f1(gold, ids, trees) for t, trees in at.items()}
        for name, trees in committees.items():
            res["test_later_students"][name] = paper_f1(gold, ids, trees)
        # paired over the same sentences: what the 500-sentence means can and cannot tell apart
        teacher_out = [teacher[i]["output"] for i in ids]
        res["test_paired_gain_over_the_teacher"] = {
            **{n: paired_gain(gold, ids, [lab[i]["output"] for i in ids], teacher_out)
               for n, lab in later.items()},
            **{n: paired_gain(gold, ids, trees, teacher_out) for n, trees in committees.items()}}
        if "final_0" in later:  # the target's second half: 3-stage (and 2-stage) over vanilla KD
            kd = [later["final_0"][i]["output"] for i in ids]
            res["test_paired_gain_over_vanilla_kd"] = {
                **{n: paired_gain(gold, ids, [later[n][i]["output"] for i in ids], kd)
                   for n in ("final_1", "final_2", "sd_filter") if n in later},
                **{n: paired_gain(gold, ids, trees, kd) for n, trees in committees.items()}}
    write_json_atomic(Path(__file__).with_name("results.json"), res)
    return res


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:]), indent=1))
