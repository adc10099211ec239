"""Benchmark an exported student's CTranslate2 compute types side by side: int8 against float32,
each decoding the same test sentences one at a time and all in one batch (the production path,
mckd.student.relabel.Labeler, on the CPU with one thread).

Reports per compute type the decoding seconds of both passes and how many trees changed between
batch 1 and the batch of all: int8 outputs depend on which sentences share a batch, float32's
should not. Also how many trees int8 and float32 write differently at batch 1.

    nice python benchmarks/bench_compute_type.py MODEL_DIR [--n 10] [--update-md]

Sentences: the first N of the craft-cpu run-vote test inputs. Writes
benchmarks/results/compute_type.json; --update-md replaces its section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from results_md import update_section

from mckd.jsonio import read_jsonl, write_json_atomic
from mckd.student.relabel import Labeler

HERE = Path(__file__).resolve().parent
TEST = HERE.parent / "experiments/craft-cpu/run-vote/steps/select/test.jsonl"
SECTION = "## CTranslate2 compute types of a student (int8 vs float32)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", metavar="MODEL_DIR")
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--update-md", action="store_true")
    args = ap.parse_args()
    words = [r["words"] for r in read_jsonl(TEST)[:args.n]]
    res = {"model": str(Path(args.model).resolve()), "n": len(words), "threads": 1,
           "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "types": {}}
    one = {}
    for ct in ("int8", "float32"):
        lab = Labeler(args.model, device="cpu", threads=1, compute_type=ct)
        t0 = time.perf_counter()
        one[ct] = [lab.label([w])[0]["output"] for w in words]
        t1 = time.perf_counter()
        batched = [r["output"] for r in lab.label(words)]
        t2 = time.perf_counter()
        res["types"][ct] = {"seconds_batch_1": round(t1 - t0, 1),
                            "seconds_batch_all": round(t2 - t1, 1),
                            "changed_between_batch_1_and_all": sum(
                                a != b for a, b in zip(one[ct], batched))}
    res["int8_vs_float32_differ_at_batch_1"] = sum(a != b for a, b in zip(one["int8"], one["float32"]))
    i8, f32 = res["types"]["int8"], res["types"]["float32"]
    res["float32_over_int8_time"] = round(
        (f32["seconds_batch_1"] + f32["seconds_batch_all"]) /
        (i8["seconds_batch_1"] + i8["seconds_batch_all"]), 2)
    write_json_atomic(HERE / "results" / "compute_type.json", res)
    print(json.dumps(res, indent=1))
    if args.update_md:
        lines = [SECTION, "",
                 f"`benchmarks/bench_compute_type.py` on `{Path(args.model).name}` "
                 f"({res['model'].split('/experiments/')[-1]}), the first {res['n']} craft-cpu "
                 f"test sentences, CPU, one thread, both compute types in one run:", "",
                 "| compute type | s, batch 1 | s, one batch of all | trees changed between the two |",
                 "|---|---:|---:|---:|"]
        for ct, r in res["types"].items():
            lines.append(f"| {ct} | {r['seconds_batch_1']} | {r['seconds_batch_all']} | "
                         f"{r['changed_between_batch_1_and_all']} of {res['n']} |")
        lines += ["", f"float32 takes {res['float32_over_int8_time']}x int8's time; int8 and "
                  f"float32 write different trees for {res['int8_vs_float32_differ_at_batch_1']} "
                  f"of {res['n']} sentences at batch 1 (`mckd parse/relabel --compute-type`).", ""]
        update_section(SECTION, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
