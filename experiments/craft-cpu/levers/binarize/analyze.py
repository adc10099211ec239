"""How much of the paper F1 gap is the teacher's shallow trees? craft-cpu run-vote, no model runs.

The teacher writes few, precise brackets (pool: 9.8 a sentence against the gold's 15.5, precision
59, recall 38). This turns every node of more than two children into a binary right-branching
chain (the children c1 ... ck get the spans c2..ck, c3..ck, ..., c(k-1)..ck; left-branching as
a control), then scores raw and binarized trees against the gold: the pool's labels (against
its held-back gold, analysis only) and the test rows' predictions. No row of the experiment is
changed: this asks what a fixed post-processing of *every* system's trees would do, to read the
rows' differences by, not a way to score a model.

    python experiments/craft-cpu/levers/binarize/analyze.py   # writes results.json beside it
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from common import ROOT, STEPS, brackets, by_id, paper_f1  # noqa: E402
from mckd.data import load_split  # noqa: E402
from mckd.jsonio import read_jsonl, write_json_atomic  # noqa: E402
from mckd.metrics.spans import spans  # noqa: E402
from mckd.teacher.vote import render_unlabeled  # noqa: E402

PREDICTIONS = STEPS.parent / "predictions"
TEST_ROWS = ("teacher", "vanilla_kd", "3-stage", "sft_gold", "committee")


def binarize(tree: str, words: list[str], side: str) -> str:
    """`tree` with every node of k > 2 children made a right- (or left-) branching chain."""
    n = len(words)
    nodes = (spans(tree) or set()) | {(0, n)}
    out = set(nodes)
    by_start = sorted(nodes, key=lambda s: (s[0], -s[1]))
    for i, j in nodes:
        kids, p = [], i  # the maximal spans inside (i, j), single words between them
        for s in by_start:
            if s == (i, j) or s[0] < p or s[1] > j:
                continue
            kids += [(w, w + 1) for w in range(p, s[0])] + [s]
            p = s[1]
        kids += [(w, w + 1) for w in range(p, j)]
        for c in kids[1:-1]:
            out.add((c[0], j) if side == "right" else (i, c[1]))
    return render_unlabeled(words, {s for s in out if s[1] - s[0] >= 2 and s != (0, n)})


def rows_of(gold: dict, outputs: dict[str, str]) -> dict:
    ids = sorted(outputs)
    res = {}
    for side in ("raw", "right", "left"):
        out = outputs if side == "raw" else {
            i: binarize(t, gold[i]["words"], side) for i, t in outputs.items()}
        b = brackets(gold, out)
        res[side] = {"paper_f1": paper_f1(gold, ids, [out[i] for i in ids]),
                     "brackets_per_sentence": b["per_sentence"], "precision": b["precision"],
                     "recall": b["recall"]}
    return res


def main(data: str = "data/craft") -> dict:
    train = {r["id"]: r for r in load_split(ROOT / data, "train")}
    test = {r["id"]: r for r in load_split(ROOT / data, "test")}
    stage0, stage1 = by_id("labels_0_all"), by_id("labels_1_all")
    pool = {"teacher_vote (stage-0 labels)": {i: r["target"] for i, r in stage0.items()},
            "stage vote (stage-1 labels)": {i: r["target"] for i, r in stage1.items()},
            "gold (the ceiling a binarization leaves)": {
                i: train[i]["targets"]["unlabeled"] for i in stage0}}
    res = {"pool": {name: rows_of(train, out) for name, out in pool.items()}, "test": {}}
    for row in TEST_ROWS:
        out = {r["id"]: r["output"] for r in read_jsonl(PREDICTIONS / f"{row}.jsonl")}
        res["test"][row] = rows_of(test, out)
    write_json_atomic(HERE / "results.json", res)
    return res


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:]), indent=1))
