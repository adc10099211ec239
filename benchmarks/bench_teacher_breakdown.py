"""Where a teacher sentence's time goes (issue 12): llama_decode cost by call size and context,
and the product path's own counters at several `parallel` settings on the same sentences.

Three measurements, one model, one process, nothing else running:

1. `call_scaling`: milliseconds per `llama_decode` call of n tokens (n sequences x 1 token, each
   with a context of C tokens already in its KV stream), for C = a short context and C = the
   length of the teacher's shared demonstration prefix. Shows whether the CPU is compute- or
   memory-bound, where its batch sizes are slow, and what attention over the prefix costs.
2. `run_breakdown`: `run_teacher` (constrained, fixed shared-prefix demonstrations) on the same
   N CRAFT dev sentences at each `parallel`, with the engine's counters: decode vs constraint
   time, tokens fed per sentence by kind (query prefill, free choices, forced jump-forward
   tokens), and the distribution of tokens per call.
3. Agreement: how many outputs are identical between the `parallel` settings, and paper F1 of
   each (raw outputs).

    python benchmarks/bench_teacher_breakdown.py --data data/craft --update-md

Writes benchmarks/results/teacher_breakdown.json and, with --update-md, its RESULTS.md section.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from bench_teachers import HERE, load
from results_md import update_section

SECTION = "## Where a teacher sentence's time goes (issue 12)"


def call_scaling(m, contexts: list[int], sizes: list[int], threads: int, steps: int = 4) -> dict:
    """ms per llama_decode call of n tokens (n sequences, one token each) after C context tokens."""
    from mckd.teacher.engine import BatchDecoder

    toks = m.tokenize("The cells were stained with antibodies against the protein . " * 400,
                      add_bos=False)
    out = {}
    for ctx in contexts:
        B = max(sizes)
        dec = BatchDecoder(m, n_parallel=B, n_ctx_seq=ctx + steps * 2 * len(sizes) + 64,
                           n_threads=threads)
        for start in range(0, ctx, dec.n_batch):  # sequence 0 holds the context ...
            chunk = toks[start:min(ctx, start + dec.n_batch)]
            for j, t in enumerate(chunk):
                dec._put(j, t, start + j, 0, False)
            dec._decode(len(chunk))
        for sid in range(1, B):  # ... copied to every other sequence, as the teacher does
            dec.L.llama_memory_seq_cp(dec.mem, 0, sid, -1, -1)
        pos = [ctx] * B
        # llama.cpp applies copies between KV streams at the next decode (whole streams, ~0.4 s
        # for 31 of them here): one untimed call of every sequence keeps that out of the rows
        for sid in range(B):
            dec._put(sid, toks[pos[sid]], pos[sid], sid, False)
            pos[sid] += 1
        dec._decode(B)
        row = {}
        for n in sizes:
            t0 = time.perf_counter()
            for _ in range(steps):
                for sid in range(n):
                    dec._put(sid, toks[pos[sid]], pos[sid], sid, True)
                    pos[sid] += 1
                dec._decode(n)
            ms = (time.perf_counter() - t0) / steps * 1000
            row[str(n)] = {"ms_per_call": round(ms, 1), "tok_per_s": round(n / ms * 1000, 1)}
            print(f"  context {ctx}, {n} tokens/call: {ms:.0f} ms", file=sys.stderr, flush=True)
        out[str(ctx)] = row
        dec.close()
    return out


def run_breakdown(name: str, demos, tests, parallel: int, args) -> dict:
    """run_teacher on `tests` at `parallel`, with the engine's counters."""
    from mckd.metrics.score import score
    from mckd.jsonio import read_jsonl
    from mckd.teacher import TeacherConfig, resolve_model, run_teacher
    from mckd.teacher import engine

    work = Path(tempfile.mkdtemp(prefix="bench_breakdown_"))
    cfg = TeacherConfig(format="unlabeled", shots=args.shots, demo_selection="fixed",
                        parallel=parallel, threads=args.threads, n_ctx=args.n_ctx,
                        cache_path=str(work / "cache.jsonl"), progress=False)
    inputs = [{"id": r["id"], "words": r["words"], "source": r["source"]} for r in tests]
    before = copy.deepcopy(engine.STATS)
    t0 = time.perf_counter()
    s = run_teacher(resolve_model(name), demos, inputs, work / "labels.jsonl", cfg)
    wall = time.perf_counter() - t0
    st = engine.STATS
    d = {k: st[k] - before[k] for k in st if not isinstance(st[k], dict)}
    sizes = {int(k): v - before["call_sizes"].get(k, 0) for k, v in st["call_sizes"].items()
             if v - before["call_sizes"].get(k, 0)}
    n = len(tests)
    prefix = args.prefix_tokens
    gen = s["gen_tokens"]
    free, forced = d["constraint_steps"], d["forced_tokens"]
    decode_tokens = sorted(k for k, c in sizes.items() for _ in range(c) if k < 512)
    preds = read_jsonl(work / "labels.jsonl")
    m = score(tests, preds, "unlabeled")
    return {
        "parallel": parallel, "sentences": n, "wall_s": round(wall, 1),
        "s_per_sentence": round(wall / n, 3), "decode_s": round(d["decode_s"], 1),
        "constraint_s": round(d["constraint_s"], 2), "decode_calls": d["decode_calls"],
        "tokens_fed": d["tokens_fed"],
        "per_sentence": {"fed": round((d["tokens_fed"] - prefix) / n, 1),
                         "query_prefill": round((d["tokens_fed"] - prefix - gen) / n, 1),
                         "generated": round(gen / n, 1), "free": round(free / n, 1),
                         "forced": round(forced / n, 1)},
        "median_tokens_per_call": decode_tokens[len(decode_tokens) // 2] if decode_tokens else 0,
        "call_sizes": dict(sorted(sizes.items())),
        "paper_f1": round(m["paper_f1"], 2), "invalid": m["invalid"],
        "outputs": [p["output"] for p in preds],
    }


def render(res: dict) -> str:
    a = res["settings"]
    lines = [SECTION, "",
             f"`{res['command']}` on {res['machine']} (load average {res['load_before']} before), "
             f"{res['date']}; teacher {a['teacher']}, {a['threads']} threads, shared prefix of "
             f"{a['prefix_tokens']} tokens ({a['shots']} fixed demonstrations). Raw figures: "
             "`benchmarks/results/teacher_breakdown.json`.", "",
             "**llama_decode cost by tokens per call** (n sequences x 1 token), tok/s:", "",
             "| context | " + " | ".join(next(iter(res["call_scaling"].values()))) + " |",
             "|---|" + "---:|" * len(next(iter(res["call_scaling"].values())))]
    for ctx, row in res["call_scaling"].items():
        lines.append(f"| {ctx} | " + " | ".join(str(v["tok_per_s"]) for v in row.values()) + " |")
    if not res["runs"]:
        return "\n".join(lines) + "\n"
    lines += ["", f"**The product path** on the same {a['n']} CRAFT dev sentences of "
              f"{a['min_words']}-{a['max_words']} words:", "",
              "| parallel | s/sentence | decode s | constraint s | calls | median tokens/call | "
              "tokens fed/sentence | query prefill | free | forced | paper F1 | identical to "
              f"parallel {res['runs'][0]['parallel']} |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in res["runs"]:
        p = r["per_sentence"]
        lines.append(f"| {r['parallel']} | {r['s_per_sentence']} | {r['decode_s']} | "
                     f"{r['constraint_s']} | {r['decode_calls']} | {r['median_tokens_per_call']} | "
                     f"{p['fed']} | {p['query_prefill']} | {p['free']} | {p['forced']} | "
                     f"{r['paper_f1']} | {r['identical_to_first']}/{r['sentences']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None, help="imported CRAFT dir (default: import to a temp dir)")
    ap.add_argument("--teacher", default="qwen2.5-coder-1.5b")
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--parallel", default="8,32",
                    help="comma-separated settings to compare ('' = llama_decode scaling only)")
    ap.add_argument("--sizes", default="1,2,4,6,7,8,10,12,16,24,32,48,64")
    ap.add_argument("--min-words", type=int, default=20)
    ap.add_argument("--max-words", type=int, default=30)
    ap.add_argument("--shots", type=int, default=10)
    ap.add_argument("--labeled", type=int, default=50)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--n-ctx", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "results" / "teacher_breakdown.json"))
    ap.add_argument("--update-md", action="store_true")
    args = ap.parse_args(argv)
    os.environ["MCKD_TEACHER_CACHE"] = "off"  # measure generation, never the shared cache

    from mckd.jsonio import write_json_atomic
    from mckd.teacher import resolve_model
    from mckd.teacher.engine import LlamaModel
    from mckd.teacher.prompt import DemoSelector, demo_block

    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    demos, tests = load(args)
    tests = tests[:args.n]
    m = LlamaModel(resolve_model(args.teacher))
    idx = DemoSelector(demos, args.shots, "fixed", args.seed).select("", [])
    args.prefix_tokens = len(m.tokenize("".join(demo_block(demos[i]["source"],
                                                           demos[i]["targets"]["unlabeled"])
                                                           for i in idx)))
    sizes = [int(x) for x in args.sizes.split(",")]
    res = {"command": "python benchmarks/bench_teacher_breakdown.py " + " ".join(argv or sys.argv[1:]),
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "load_before": load_before, "settings": vars(args)}
    res["call_scaling"] = call_scaling(m, [100, args.prefix_tokens], sizes, args.threads)
    m.close()
    res["runs"] = []
    for p in (int(x) for x in args.parallel.split(",") if x):  # "" = call scaling only
        print(f"run_teacher at parallel {p} on {len(tests)} sentences ...", file=sys.stderr,
              flush=True)
        r = run_breakdown(args.teacher, demos, tests, p, args)
        first = res["runs"][0]["outputs"] if res["runs"] else r["outputs"]
        r["identical_to_first"] = sum(a == b for a, b in zip(first, r["outputs"]))
        res["runs"].append(r)
        print(f"  {r['s_per_sentence']} s/sentence, paper F1 {r['paper_f1']}", file=sys.stderr,
              flush=True)
    res["settings"]["teacher"] = args.teacher
    write_json_atomic(Path(args.out), res)
    md = render(res)
    print(md)
    if args.update_md:
        update_section(SECTION, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
