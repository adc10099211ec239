"""What a from-scratch student learns at demo size: gold labels vs the teacher's pseudolabels.

Takes a finished (or at least teacher-labelled) `mckd distill` run, trains one student per
setting on its unlabeled pool — once with the teacher's pseudolabels, once with the pool's
held-back gold trees (an upper bound the method never sees) — exports each to CTranslate2
float32, labels the run's test split and scores it. Trivial structures on the same sentences are
listed beside them, so "the student learned something" has a yardstick.

    python benchmarks/bench_student_learning.py --run runs/demo --data data/craft

Writes benchmarks/results/student_learning.json; --update-md rewrites the
`## Student learning (issue 4)` section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from results_md import update_section

HERE = Path(__file__).resolve().parent
SECTION = "## Student learning (issue 4)"
SETTINGS = [  # (name, labels, epochs, leaves)
    ("teacher labels, 30 epochs", "teacher", 30, "auto"),
    ("teacher labels, 100 epochs", "teacher", 100, "auto"),
    ("gold labels, 30 epochs", "gold", 30, "auto"),
    ("gold labels, 100 epochs", "gold", 100, "auto"),
    ("gold labels, 100 epochs, slot leaves", "gold", 100, "slots"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True, help="mckd distill run folder (teacher step done)")
    ap.add_argument("--data", required=True, help="the run's data folder (mckd data import)")
    ap.add_argument("--arch", default="t5-micro")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default=None)
    ap.add_argument("--out", default=str(HERE / "results" / "student_learning.json"))
    ap.add_argument("--update-md", action="store_true")
    args = ap.parse_args()

    from mckd.metrics.score import reference_scores, score
    from mckd.student.export import export_student
    from mckd.jsonio import read_jsonl, write_json_atomic
    from mckd.student.relabel import relabel
    from mckd.student.config import TrainConfig
    from mckd.student.train import train_student

    steps = Path(args.run) / "steps"
    teacher = read_jsonl(steps / "teacher_pool" / "labels.jsonl")
    test = read_jsonl(steps / "select" / "test.jsonl")
    gold_train = {r["id"]: r for r in read_jsonl(Path(args.data) / "train.jsonl")}
    gold_test = {r["id"]: r for r in read_jsonl(Path(args.data) / "test.jsonl")}
    labels = {
        "teacher": [{"id": r["id"], "words": r["words"], "target": r["target"]} for r in teacher],
        "gold": [{"id": r["id"], "words": gold_train[r["id"]]["words"],
                  "target": gold_train[r["id"]]["targets"]["unlabeled"]} for r in teacher],
    }
    gold_recs = [gold_test[r["id"]] for r in test]
    work = Path(args.work or tempfile.mkdtemp(prefix="student_learning_"))
    rows = []
    for name, src, epochs, leaves in SETTINGS:
        d = work / name.replace(" ", "_").replace(",", "")
        cfg = TrainConfig(seed=args.seed, epochs=epochs, arch=args.arch, leaves=leaves, quiet=True)
        t0 = time.perf_counter()
        train_student(labels[src], d / "student", cfg)
        train_s = time.perf_counter() - t0
        export_student(d / "student", d / "ct2", quantization="float32")
        relabel(d / "ct2", test, d / "test.jsonl", progress=False)
        preds = read_jsonl(d / "test.jsonl")
        s = score(gold_recs, preds, "unlabeled")
        flat = sum(p["output"].count("(") == len(p["words"]) + 1 for p in preds)
        rows.append({"setting": name, "labels": src, "epochs": epochs, "leaves": leaves,
                     "train_s": round(train_s, 1), "paper_f1": s["paper_f1"],
                     "paper_f1_strict": s["paper_f1_strict"], "evalb_f1": s["evalb_f1"],
                     "invalid": s["invalid"], "flat_outputs": flat, "n": len(preds)})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    pool_teacher = score([{**gold_train[r["id"]]} for r in teacher], teacher, "unlabeled")
    result = {"benchmark": "student_learning", "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "command": "python benchmarks/bench_student_learning.py " + " ".join(sys.argv[1:]),
              "arch": args.arch, "seed": args.seed, "pool": len(teacher), "test": len(test),
              "teacher_pool_quality": {k: pool_teacher[k] for k in ("paper_f1", "evalb_f1")},
              "references": {k: {m: v[m] for m in ("paper_f1", "paper_f1_strict", "evalb_f1")}
                             for k, v in reference_scores(gold_recs).items()},
              "rows": rows, "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    write_json_atomic(Path(args.out), result)
    if args.update_md:
        update_md(result)


def update_md(r: dict) -> None:
    lines = [SECTION, "",
             f"`{r['command']}` — {r['arch']} students trained from scratch on the demo run's "
             f"{r['pool']} pool sentences, scored on its {r['test']} test sentences. The teacher's "
             f"pseudolabels of that pool score {r['teacher_pool_quality']['paper_f1']:.1f} paper "
             "F1 against the held-back gold. Every score reads the students' raw outputs "
             "(scorer version 2); EVALB F1 covers only the valid ones (EVALB leaves errors out), "
             "so read it beside the invalid column.", "",
             "| student trained on | paper F1 | paper F1, strict | EVALB F1 (unlabeled) | "
             "invalid | flat outputs | train s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for x in r["rows"]:
        lines.append(f"| {x['setting']} | {x['paper_f1']:.2f} | {x['paper_f1_strict']:.2f} | "
                     f"{x['evalb_f1']:.2f} | {x['invalid']}/{x['n']} | "
                     f"{x['flat_outputs']}/{x['n']} | {x['train_s']:.0f} |")
    for k, v in r["references"].items():
        lines.append(f"| _{k} (no model)_ | {v['paper_f1']:.2f} | {v['paper_f1_strict']:.2f} | "
                     f"{v['evalb_f1']:.2f} | | | |")
    lines.append("")
    update_section(SECTION, "\n".join(lines))


if __name__ == "__main__":
    main()
