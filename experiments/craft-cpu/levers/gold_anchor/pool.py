"""Would the SFT-on-gold student lift the pool's labels as it lifts the test split's votes?
Its labels of half A (`mckd relabel run-vote/steps/sft_gold/ct2 --input .../inputs_A/inputs.jsonl
--out pool_A_sft_gold.jsonl`, ~25 minutes on 2 cores) voted with the teacher's two passes, against
the pool's held-back gold (analysis only), beside the labels stage-1 student A trained on (the
teacher's vote) and the stage vote's (teacher's passes + student B's relabels). No model runs.

    python experiments/craft-cpu/levers/gold_anchor/pool.py     # writes pool.json beside it
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from common import STEPS, mean, outputs, per, quarters, raw_trees, vote  # noqa: E402
from mckd.data import load_split  # noqa: E402
from mckd.jsonio import write_json_atomic  # noqa: E402
from mckd.metrics import paired_gain  # noqa: E402
from mckd.metrics.spans import span_f1  # noqa: E402


def main() -> dict:
    sft = raw_trees(HERE / "pool_A_sft_gold.jsonl")
    ids = sorted(sft)
    gold = {r["id"]: r for r in load_split(HERE.parents[3] / "data/craft", "train")}
    teacher = outputs(STEPS / "teacher_pool/labels.jsonl")
    relabel_b = outputs(STEPS / "labels_1_A/labels.jsonl")  # student B's relabels of half A
    passes = {i: teacher[i]["votes"]["outputs"] for i in ids}
    words = {i: gold[i]["words"] for i in ids}
    base = per(gold, ids, [teacher[i]["output"] for i in ids])
    res: dict = {"n": len(ids), "teacher_vote": mean(base),
                 "sft_on_gold_alone": mean(per(gold, ids, [sft[i] for i in ids]))}
    rows = {"teacher_passes_and_sft_0.2": [vote(passes[i] + [sft[i]], words[i], 0.2) for i in ids],
            "teacher_passes_and_sft_0.3": [vote(passes[i] + [sft[i]], words[i], 0.3) for i in ids],
            "stage_vote_teacher_passes_and_student_B": [
                vote(passes[i] + [relabel_b[i]["output"]], words[i], 0.2) for i in ids]}
    for name, trees in rows.items():
        f1 = per(gold, ids, trees)
        res[name] = {"paper_f1": mean(f1), "gain_over_teacher_vote": paired_gain(f1, base)}
    # the judge: the teacher's labels in quarters of their agreement with the SFT student
    agree = {i: span_f1([teacher[i]["output"]], [sft[i]]) for i in ids}
    t_by = dict(zip(ids, base))
    res["teacher_f1_by_agreement_quarter"] = [mean([t_by[i] for i in qs]) for qs in quarters(ids, agree)]
    return res


if __name__ == "__main__":
    r = main()
    write_json_atomic(HERE / "pool.json", r)
    print(json.dumps(r, indent=1))
