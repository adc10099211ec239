"""Benchmark student relabelling: HF `generate` (PyTorch) vs CTranslate2 float32 vs int8.

One run, one trained student, the same CRAFT sentences, greedy decoding with the same per-input
output-length limit. Each engine runs in its own subprocess so that its peak memory
(VmHWM) is its own; the parent scores every engine's trees against gold with the paper's
metric. HF decodes in length-sorted batches of --batch sentences (mckd.student.decode.greedy_decode);
CT2 runs the production path (mckd.student.relabel.Labeler: length-sorted, batched by source tokens).

    nice python benchmarks/bench_relabel.py --student STUDENT_DIR          # 1,000 sentences
    nice python benchmarks/bench_relabel.py --train-n 400 --epochs 20      # trains one first

Writes benchmarks/results/relabel.json; --update-md replaces the `## Relabel (issue 4)` section
of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_md import update_section

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# ct2_int8_1worker is the earlier layout (one CT2 worker using every thread), kept to show what
# one single-core worker per sub-batch (the production default on CPU) gains.
ENGINES = ("hf_generate", "ct2_float32", "ct2_int8", "ct2_int8_1worker")
SECTION = "## Relabel (issue 4)"


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    """Peak RSS of this process. VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the
    parent across fork+exec, so a child of a big parent would report the parent's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_engine(args) -> None:
    """Child process: decode the sentences with one engine; print one JSON line."""
    words = [r["words"] for r in json.loads(Path(args.sentences).read_text())]
    if args.engine == "hf_generate":
        import torch
        from transformers import AutoModelForSeq2SeqLM

        from mckd.jsonio import read_json
        from mckd.student.decode import repair_output
        from mckd.student.tokenizer import StudentTokenizer
        from mckd.student.decode import greedy_decode

        torch.set_num_threads(args.threads)
        base = _rss_mb()
        model = AutoModelForSeq2SeqLM.from_pretrained(args.student, local_files_only=True).eval()
        tok = StudentTokenizer.load(args.student)
        meta = read_json(Path(args.student) / "mckd_student.json")
        t0 = time.perf_counter()
        gen = greedy_decode(model, tok, words, meta["length_bound"], "cpu",
                            batch_size=args.batch,
                            min_new_tokens=int(meta.get("min_new_tokens", 0)))
        # the raw text is what gets scored; the repair runs because relabel pays for it too
        trees = [tok.decode(tok.ids_to_tokens(g), w) for g, w in zip(gen, words)]
        for t, w in zip(trees, words):
            repair_output(t, w, tok.format)
        secs = time.perf_counter() - t0
        n_tok = sum(len(g) for g in gen)
    else:
        from mckd.student.relabel import Labeler, in_chunks

        base = _rss_mb()
        lab = Labeler(args.model_dir, device="cpu", threads=args.threads,
                      max_batch_tokens=args.max_batch_tokens,
                      workers=1 if args.engine.endswith("_1worker") else None)
        order = sorted(range(len(words)), key=lambda i: len(words[i]))
        t0 = time.perf_counter()
        out = [None] * len(words)
        for part in in_chunks(order):  # the chunks `mckd relabel` writes
            for i, r in zip(part, lab.label([words[i] for i in part])):
                out[i] = r
        secs = time.perf_counter() - t0
        trees = [r["output"] for r in out]  # raw text: metrics score what the model wrote
        n_tok = sum(r["tokens"] for r in out)
    print(json.dumps({"engine": args.engine, "seconds": secs, "generated_tokens": n_tok,
                      "baseline_rss_mb": round(base, 1), "peak_rss_mb": round(_peak_mb(), 1),
                      "trees": trees}))


def pick_sentences(path: Path, n: int, max_words: int, seed: int) -> list[dict]:
    from mckd.jsonio import read_jsonl

    recs = [r for r in read_jsonl(path) if len(r["words"]) <= max_words]
    random.Random(seed).shuffle(recs)
    if len(recs) < n:
        sys.exit(f"{path}: only {len(recs)} sentences of <= {max_words} words, need {n}")
    return recs[:n]


def train_default_student(args, out: Path) -> Path:
    from mckd.student.config import TrainConfig
    from mckd.student.train import train_student

    recs = pick_sentences(Path(args.train), args.train_n, 20, args.seed)
    for r in recs:
        r["target"] = r["targets"]["unlabeled"]
    cfg = TrainConfig(seed=args.seed, epochs=args.epochs, arch=args.arch)
    return train_student(recs, out, cfg)


def update_md(runs: dict) -> None:
    lines = [SECTION, ""]
    for key in sorted(runs):
        lines += _md_run(runs[key])
    update_section(SECTION, "\n".join(lines))


def _md_run(result: dict) -> list[str]:
    e = result["engines"]
    hf = e["hf_generate"]
    lines = [f"### Student {result['student']['arch']}", "",
             f"`{result['command']}` — {result['n_sentences']} CRAFT dev sentences "
             f"(<= {result['max_words']} words, seed {result['seed']}), student "
             f"{result['student']['arch']} ({result['student']['params'] / 1e6:.2f}M params, "
             f"{result['student']['records']} training records), greedy, "
             f"{result['threads']} threads, {result['machine']} (load average "
             f"{' '.join(map(str, result['load_average_at_start']))} at the start"
             f"{': the cores were shared' if result['load_average_at_start'][0] > 1.5 else ''}). "
             "CT2 runs one single-thread worker per core (`ct2_int8_1worker`: the same model, "
             "one worker with all threads). Raw figures: `benchmarks/results/relabel.json`.", "",
             "| engine | sentences/s | tokens/s | × HF | peak RSS MB (Δ) | paper F1 |",
             "|---|---|---|---|---|---|"]
    for name in (n for n in ENGINES if n in e):
        r = e[name]
        lines.append(f"| {name} | {r['sentences_per_s']:.1f} | {r['tokens_per_s']:.0f} | "
                     f"{r['tokens_per_s'] / hf['tokens_per_s']:.2f} | {r['peak_rss_mb']:.0f} "
                     f"({r['peak_rss_mb'] - r['baseline_rss_mb']:+.0f}) | {r['f1']:.2f} |")
    lines += ["", f"int8 − float32 F1: {e['ct2_int8']['f1'] - e['ct2_float32']['f1']:+.2f} "
                  f"(limit −0.5); CT2 int8 vs HF generate: "
                  f"{e['ct2_int8']['tokens_per_s'] / hf['tokens_per_s']:.2f}× tokens/s (target ≥ 4×). "
                  f"Identical trees int8 vs HF: {result['agreement']['int8_vs_hf']:.1%}, "
                  f"float32 vs HF: {result['agreement']['float32_vs_hf']:.1%}.", ""]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--student", default=None, help="trained student folder (mckd train)")
    ap.add_argument("--data", default="/tmp/craft/dev.jsonl",
                    help="dataset JSONL with words + gold (default /tmp/craft/dev.jsonl)")
    ap.add_argument("--train", default="/tmp/craft/train.jsonl",
                    help="training JSONL when no --student is given")
    ap.add_argument("--train-n", type=int, default=400)
    ap.add_argument("--epochs", type=int, default=0)
    ap.add_argument("--arch", default="t5-micro", help="arch of the student trained here")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--max-words", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32, help="HF generate batch (sentences)")
    ap.add_argument("--max-batch-tokens", type=int, default=4096, help="CT2 batch (tokens)")
    ap.add_argument("--work", default=None, help="folder for exports (default: a temp dir)")
    ap.add_argument("--out", default=str(HERE / "results" / "relabel.json"))
    ap.add_argument("--update-md", action="store_true")
    # internal: one engine in a child process
    ap.add_argument("--engine", choices=ENGINES, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--sentences", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.engine:
        return run_engine(args)

    from mckd.student.export import export_student
    from mckd.jsonio import read_json, write_json_atomic
    from mckd.metrics.paper import paper_f1

    load0 = os.getloadavg()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_relabel_"))
    work.mkdir(parents=True, exist_ok=True)
    student = Path(args.student) if args.student else train_default_student(args, work / "student")
    smeta = read_json(student / "mckd_student.json")
    recs = pick_sentences(Path(args.data), args.n, args.max_words, args.seed)
    sent_file = work / "sentences.json"
    sent_file.write_text(json.dumps([{"id": r["id"], "words": r["words"]} for r in recs]))
    dirs = {}
    for q in ("float32", "int8"):
        dirs[f"ct2_{q}"] = dirs[f"ct2_{q}_1worker"] = work / f"ct2-{q}"
        if not (dirs[f"ct2_{q}"] / "mckd_model.json").exists():
            export_student(student, dirs[f"ct2_{q}"], quantization=q)
    engines = {}
    for name in ENGINES:
        cmd = [sys.executable, __file__, "--engine", name, "--sentences", str(sent_file),
               "--threads", str(args.threads), "--batch", str(args.batch),
               "--max-batch-tokens", str(args.max_batch_tokens), "--student", str(student)]
        if name != "hf_generate":
            cmd += ["--model-dir", str(dirs[name])]
        print(f"running {name} on {len(recs)} sentences ...", file=sys.stderr, flush=True)
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"{name} failed:\n{p.stderr[-3000:]}")
        r = json.loads(p.stdout.strip().splitlines()[-1])
        f = paper_f1([x["gold"] for x in recs], r["trees"], [x["source"] for x in recs])
        r.update(sentences_per_s=len(recs) / r["seconds"],
                 tokens_per_s=r["generated_tokens"] / r["seconds"], f1=f["f1"],
                 n_failed=f["n_failed"])
        engines[name] = r
        print(f"  {name}: {r['seconds']:.1f}s, {r['tokens_per_s']:.0f} tok/s, F1 {f['f1']:.2f}",
              file=sys.stderr, flush=True)
    trees = {k: v.pop("trees") for k, v in engines.items()}

    def agree(a, b):
        return sum(x == y for x, y in zip(trees[a], trees[b])) / len(recs)

    hf = engines["hf_generate"]
    result = {
        "benchmark": "relabel", "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "command": "python benchmarks/bench_relabel.py " + " ".join(sys.argv[1:]),
        "n_sentences": len(recs), "max_words": args.max_words, "seed": args.seed,
        "data": str(args.data), "threads": args.threads, "hf_batch": args.batch,
        "ct2_max_batch_tokens": args.max_batch_tokens,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_at_start": [round(x, 1) for x in load0],
        "student": {"dir": str(student), "arch": smeta.get("arch"), "params": smeta.get("params"),
                    "records": smeta.get("records"), "epochs": smeta.get("epochs_run")},
        "engines": engines,
        "ratios_vs_hf_tokens_per_s": {k: v["tokens_per_s"] / hf["tokens_per_s"]
                                      for k, v in engines.items()},
        "int8_minus_float32_f1": engines["ct2_int8"]["f1"] - engines["ct2_float32"]["f1"],
        "agreement": {"float32_vs_hf": agree("ct2_float32", "hf_generate"),
                      "int8_vs_hf": agree("ct2_int8", "hf_generate")},
    }
    # one entry per student arch, so runs with different students sit side by side
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    runs = read_json(out).get("runs", {}) if out.exists() else {}
    runs[str(result["student"]["arch"])] = result
    write_json_atomic(out, {"benchmark": "relabel", "runs": runs})
    print(json.dumps({k: result[k] for k in ("ratios_vs_hf_tokens_per_s",
                                             "int8_minus_float32_f1", "agreement")}, indent=1))
    if args.update_md:
        update_md(runs)


if __name__ == "__main__":
    main()
