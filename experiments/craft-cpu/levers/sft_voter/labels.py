"""Labels of pool half A voted from the teacher's two passes and the SFT-on-gold student.

The question (EXPERIMENTS.md, "The gold examples in the students"): these labels score 61.01
against half A's held-back gold where the teacher's vote scores 50.32 (levers/gold_anchor/pool.py);
the stage vote's labels (57.18) did not make a better student. Are labels anchored on the gold
examples different in kind? This writes them in the shape `mckd train` reads (the teacher's
records with `target` and `output` replaced), at the threshold chosen on dev (0.3,
levers/gold_anchor/vote_dev.json), for levers/stage1.sh (TRAIN=) to train stage-1 student A on:

- train_A_<t>.jsonl: all 500 sentences of half A;
- train_A_<t>_agree.jsonl: the half where the teacher's vote and the SFT student agree most
  (span F1; chosen without the gold), a filter with the SFT student as its judge: KD+SD's own
  confidence picked nothing, and the teacher scores 59.4 on this judge's top quarter.

    python experiments/craft-cpu/levers/sft_voter/labels.py [threshold]   # ~20 s, not committed
    TRAIN=experiments/craft-cpu/levers/sft_voter/train_A_0.3.jsonl NAME=sft_voter_0.3 \
        OUT=experiments/craft-cpu/levers/sft_voter bash experiments/craft-cpu/levers/stage1.sh
    TRAIN=.../train_A_0.3_agree.jsonl NAME=sft_voter_0.3_agree EPOCHS=6 OUT=... bash ...stage1.sh
        # 250 sentences: 6 epochs keep the 96 updates of the run's students (levers/pool_size)
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from common import STEPS, outputs, quarters, raw_trees, vote  # noqa: E402
from mckd.jsonio import write_jsonl_atomic  # noqa: E402
from mckd.metrics.spans import span_f1  # noqa: E402


def main(threshold: float = 0.3) -> list[Path]:
    sft = raw_trees(HERE.parent / "gold_anchor/pool_A_sft_gold.jsonl")
    teacher = outputs(STEPS / "labels_0_A/labels.jsonl")
    recs = []
    for i, r in teacher.items():
        tree = vote(r["votes"]["outputs"] + [sft[i]], r["words"], threshold)
        recs.append({"id": i, "source": r["source"], "words": r["words"],
                     "target": tree, "output": tree})
    agree = {i: span_f1([r["output"]], [sft[i]]) for i, r in teacher.items()}
    q = quarters(sorted(teacher), agree)
    top = set(q[2] + q[3])
    out = [HERE / f"train_A_{threshold}.jsonl", HERE / f"train_A_{threshold}_agree.jsonl"]
    write_jsonl_atomic(out[0], recs)
    write_jsonl_atomic(out[1], [r for r in recs if r["id"] in top])
    return out


if __name__ == "__main__":
    print(*main(*(float(a) for a in sys.argv[1:])), sep="\n")
