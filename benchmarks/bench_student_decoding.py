"""Constrained vs free decoding of one exported decoder-only student, side by side (issue 9).

Same model folder, same sentences, same CTranslate2 settings; `free` is plain greedy, `constrained`
is greedy with the tree constraint's mask (mckd.student.constrained). Reported per mode: seconds,
sentences/s, outputs that are a tree over the input, corrections (forbidden tokens replaced), and
the scores of the raw outputs against gold (scorer version 2, as `mckd report`).

    python benchmarks/bench_student_decoding.py experiments/craft-cpu/run/steps/final_0/ct2 \
        --data data/craft --records experiments/craft-cpu/run/steps/select/test.jsonl --update-md

Writes benchmarks/results/student_decoding.json; `--update-md` replaces the
`## Student decoding (issue 9)` section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from results_md import update_section

HERE = Path(__file__).resolve().parent
SECTION = "## Student decoding (issue 9)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="exported decoder-only student (mckd export)")
    ap.add_argument("--data", default="data/craft", help="imported treebank (gold trees)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--records", default=None, help="JSONL of the sentences to label (ids in "
                    "--split); default: the whole split")
    ap.add_argument("--n", type=int, default=0, help="first N records (0 = all)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--update-md", action="store_true")
    args = ap.parse_args()

    from mckd.data import load_split
    from mckd.metrics.score import score
    from mckd.jsonio import read_jsonl
    from mckd.student.relabel import load_model_dir, relabel

    gold = {r["id"]: r for r in load_split(args.data, args.split)}
    recs = read_jsonl(args.records) if args.records else list(gold.values())
    if args.n:
        recs = recs[:args.n]
    fmt = load_model_dir(args.model).format
    work = Path(tempfile.mkdtemp(prefix="bench_student_decoding_"))
    res = {}
    for mode in ("free", "constrained"):
        t0 = time.time()
        s = relabel(args.model, recs, work / f"{mode}.jsonl", threads=args.threads,
                    progress=False, decoding=mode)
        secs = time.time() - t0
        preds = read_jsonl(work / f"{mode}.jsonl")
        sc = score([gold[p["id"]] for p in preds], preds, fmt)
        res[mode] = {"seconds": round(secs, 1), "sentences_per_s": round(len(recs) / secs, 3),
                     "valid": s["valid"], "corrections": s["corrections"], **sc}
        print(mode, json.dumps(res[mode]), flush=True)
    report = {"model": str(args.model), "n": len(recs), "threads": args.threads,
              "machine": platform.machine(), "cpus": os.cpu_count(), "runs": res}
    out = HERE / "results" / "student_decoding.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    f, c = res["free"], res["constrained"]
    rows = "\n".join(
        f"| {m} | {r['seconds']} | {r['sentences_per_s']} | {r['valid']}/{len(recs)} | "
        f"{r['corrections']} | {r['paper_f1']:.2f} | {r['paper_f1_strict']:.2f} | "
        f"{r['evalb_f1_errors_as_zero']:.2f} |" for m, r in res.items())
    block = f"""{SECTION}

`python benchmarks/bench_student_decoding.py {args.model} --data {args.data}` on
{len(recs)} sentences ({args.threads} thread(s), {os.cpu_count()} CPU cores,
{time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}). Scores read the raw outputs (scorer version 2).

| decoding | seconds | sentences/s | trees over the input | corrections | paper F1 | paper F1, strict | EVALB F1, errors = 0 |
|---|---:|---:|---:|---:|---:|---:|---:|
{rows}

Constrained decoding costs {c['seconds'] / f['seconds']:.1f}x the time of free decoding here
({c['corrections'] / len(recs):.1f} corrections a sentence, each one extra prefill and resumed decode).
"""
    print(block)
    if args.update_md:
        update_section(SECTION, block)


if __name__ == "__main__":
    main()
