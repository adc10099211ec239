"""The pool-size learning curve of craft-cpu run-vote's students, on the run's 500 test sentences.

No model runs: every point's raw test outputs are committed. Teacher labels (the voted teacher's):
250 sentences (`run.sh`, this lever), 500 (the run's stage-1 students A and B, each on its half),
1,000 (the run's vanilla-KD student). Gold labels (the pool's held-back gold trees, analysis only):
250 (`run.sh`) and 500 (`levers/gold`, half A, seed 0). The run's own 50 gold examples (which the
method has: the teacher's shots): the run's SFT-on-gold row (its epochs read from the step: 3
when this lever was made, 30 since sft_gold_epochs became automatic) and the same 50 trained 30
epochs (`run.sh`, 120 updates). Every point is SmolLM2-135M at batch 16 and
lr 3e-4; a point under 500 sentences trains 1,500 / n epochs, so it takes the stage-1 students' 96
updates. Each is scored from its raw outputs (paper F1), with its paired gain over the voted
teacher on the same sentences and its unlabeled span F1 against the teacher's trees (how closely
it writes what its teacher would). A line through the teacher-label points (F1 against log2 of the
pool) says how far the pool would have to grow for the student to reach the issue's target at that
rate: an extrapolation, reported as one.

    python experiments/craft-cpu/levers/pool_size/analyze.py   # writes results.json beside it
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from common import ROOT, STEPS, mean, per  # noqa: E402
from mckd.data import load_split  # noqa: E402
from mckd.jsonio import read_jsonl, write_json_atomic  # noqa: E402
from mckd.metrics import paired_gain  # noqa: E402
from mckd.metrics.spans import span_f1  # noqa: E402
TARGET_OVER_TEACHER = 7.5  # issue 9: 3-stage MCKD >= teacher + 7.5 paper F1

# (labels, pool sentences, name, where the raw test outputs are)
POINTS = [
    ("teacher", 250, "this lever (250 at random from half A, 6 epochs)", HERE / "teacher_250.jsonl"),
    ("teacher", 500, "stage-1 student A (half A)", STEPS / "s1_A_test/labels.jsonl"),
    ("teacher", 500, "stage-1 student B (half B)", STEPS / "s1_B_test/labels.jsonl"),
    ("teacher", 1000, "vanilla KD (the whole pool)", STEPS / "final_0_test/labels.jsonl"),
    ("gold", 250, "this lever (250 at random from half A, 6 epochs)", HERE / "gold_250.jsonl"),
    ("gold", 500, "levers/gold (half A, seed 0)", HERE.parent / "gold/gold_A.jsonl"),
    # the method's own 50 gold examples (the teacher's shots): SFT on gold, at 30 epochs
    ("examples", 50, "this lever (the run's 50 gold examples, 30 epochs)", HERE / "examples_50.jsonl"),
    ("examples", 50, "the run's SFT-on-gold row ({epochs} epochs, {updates} updates)",
     STEPS / "sft_gold_test/labels.jsonl"),
]


def sft_gold_row_name(name: str) -> str:
    """The run's SFT row as its step trained it (batch 16: ceil(50 / 16) = 4 updates an epoch)."""
    from mckd.jsonio import read_json

    epochs = read_json(STEPS / "sft_gold" / "inputs.json")["epochs"]
    return name.format(epochs=epochs, updates=epochs * math.ceil(50 / 16))


def per_sentence(gold: dict, outputs: dict[str, str], ids: list[str]) -> list[float | None]:
    return per(gold, ids, [outputs[i] for i in ids])


def fit(xs: list[float], ys: list[float]) -> tuple[float, float, float | None]:
    """Least-squares line y = a + b x, and the standard error of b (None with two points)."""
    mx, my = statistics.mean(xs), statistics.mean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    a = my - b * mx
    if len(xs) < 3:
        return a, b, None
    rss = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys))
    return a, b, math.sqrt(rss / (len(xs) - 2) / sxx)


def main(data: str = "data/craft") -> dict:
    gold = {r["id"]: r for r in load_split(ROOT / data, "test")}
    teacher = {r["id"]: r["output"] for r in read_jsonl(STEPS / "teacher_test/labels.jsonl")}
    ids = sorted(teacher)
    base = per_sentence(gold, teacher, ids)
    res: dict = {"n_test": len(ids), "voted_teacher": mean(base), "points": []}
    for labels, n, name, path in POINTS:
        if not path.exists():
            continue
        out = {r["id"]: r["output"] for r in read_jsonl(path)}
        f1 = per_sentence(gold, out, ids)
        res["points"].append({
            "labels": labels, "pool": n,
            "student": sft_gold_row_name(name) if "{epochs}" in name else name,
            "file": str(path.relative_to(ROOT)),
            "paper_f1": mean(f1),
            # how close the student comes to writing its teacher's trees on new sentences
            "span_f1_against_the_teacher": round(span_f1([out[i] for i in ids],
                                                         [teacher[i] for i in ids]), 2),
            "gain_over_teacher": paired_gain(f1, base)})
    want = res["voted_teacher"] + TARGET_OVER_TEACHER
    for labels in ("teacher", "gold"):
        pts = [p for p in res["points"] if p["labels"] == labels]
        if len({p["pool"] for p in pts}) < 2:
            continue
        a, b, se = fit([math.log2(p["pool"]) for p in pts], [p["paper_f1"] for p in pts])
        res[f"{labels}_label_fit"] = {
            "points": len(pts), "paper_f1_per_doubling": round(b, 2),
            "se": None if se is None else round(se, 2),
            "at_1000": round(a + b * math.log2(1000), 2)}
        if labels == "teacher":
            res["teacher_label_fit"].update(
                target=round(want, 2),
                pool_at_target_if_the_line_held=round(2 ** ((want - a) / b)) if b > 0 else None)
    write_json_atomic(HERE / "results.json", res)
    return res


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
