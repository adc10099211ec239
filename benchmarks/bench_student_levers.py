"""Two follow-ups to bench_student_speed.py (issue 32), on its work folder and its student:

    exactness on float32  the benchmark student exported float32 (CTranslate2 float32 and GGUF
                          F32): the old constrained path (CTranslate2) and the new one
                          (llama.cpp) on the first N test sentences, output for output. The
                          int8 run cannot show this: CTranslate2 int8 and GGUF Q8_0 are
                          different arithmetic, and near-tied tokens flip.
    leaves=bare           the same recipe with `leaves=bare` (the tree without the words' own
                          brackets: about half the written tokens), exported int8, decoded under
                          the constraint by llama.cpp on the 64 sentences: its sentences/s beside
                          the teacher's row of student_speed.json (same machine, same sentences).

    python benchmarks/bench_student_levers.py --data data/craft [--n-exact 16] [--update-md]

Run after bench_student_speed.py (it reads its work folder and results). Writes
benchmarks/results/student_levers.json; --update-md rewrites RESULTS.md's section.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench_student_speed import HERE, RECIPE, REPO, RUN, add_scores, decode_row, sh
from results_md import update_section

SECTION = "## Student speed: exactness on float32, and leaves=bare (issue 32)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", default=str(REPO / "runs" / "bench_student_speed"))
    ap.add_argument("--data", default="data/craft")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--n-exact", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--update-md", action="store_true")
    args = ap.parse_args()

    from mckd.jsonio import read_jsonl
    from mckd.student.relabel import relabel

    work = Path(args.work)
    speed = json.loads((HERE / "results" / "student_speed.json").read_text())
    tests = read_jsonl(RUN / "steps" / "select" / "test.jsonl")
    tests = [r for r in tests if 20 <= len(r["words"]) <= 30][:args.n]
    m0 = work / "member0"
    out = {"date": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()), "threads": args.threads}

    # 1. exactness: float32 weights through both constrained paths
    f32 = m0 / "model_f32"
    if not (f32 / "manifest.json").exists():
        sh(["mckd", "export", str(m0 / "student"), "--out", str(f32), "--quantization",
            "float32"], m0 / "export_f32.log")
    few = tests[:args.n_exact]
    rows = {}
    for name, engine in (("ct2_f32", "ctranslate2"), ("llama_f32", "llama.cpp")):
        rows[name] = decode_row(name, lambda name=name, engine=engine: relabel(
            f32, few, work / f"{name}.jsonl", threads=args.threads, progress=False,
            decoding="constrained", engine=engine), len(few),
            lambda _, name=name: read_jsonl(work / f"{name}.jsonl"))
    a = read_jsonl(work / "ct2_f32.jsonl")
    b = read_jsonl(work / "llama_f32.jsonl")
    out["exact"] = {
        "n": len(few), "gguf_type": json.loads((f32 / "manifest.json").read_text())["gguf"]["type"],
        "identical_outputs": sum(x["output"] == y["output"] for x, y in zip(a, b)),
        "identical_token_counts": sum(x["tokens"] == y["tokens"] for x, y in zip(a, b)),
        "identical_corrections": sum(x.get("corrections") == y.get("corrections")
                                     for x, y in zip(a, b)),
        "rows": {k: {kk: vv for kk, vv in v.items() if kk != "outputs"} for k, v in rows.items()},
    }
    print("exact", json.dumps(out["exact"]), flush=True)

    # 2. leaves=bare: the same recipe, half the tokens to write
    d = work / "bare"
    d.mkdir(exist_ok=True)
    if not (d / "student" / "mckd_student.json").exists():
        sh(["mckd", "train", "--train", str(m0 / "labels.jsonl"), "--out", str(d / "student"),
            *RECIPE, "--seed", "0", "leaves=bare", "--no-progress"], d / "train.log")
    if not (d / "model" / "manifest.json").exists():
        sh(["mckd", "export", str(d / "student"), "--out", str(d / "model"), "--no-progress"],
           d / "export.log")
    meta = json.loads((d / "student" / "mckd_student.json").read_text())
    bare = decode_row("llama_bare", lambda: relabel(
        d / "model", tests, work / "llama_bare.jsonl", threads=args.threads, progress=False,
        decoding="constrained", engine="llama.cpp"), len(tests),
        lambda _: read_jsonl(work / "llama_bare.jsonl"))
    rows2 = {"llama_bare": bare}
    if Path(args.data, "test.jsonl").exists():
        add_scores(rows2, tests, args.data)
    teacher = speed["rows"]["teacher"]
    words = speed["rows"]["llama_constrained"]
    out["bare"] = {
        "train_s": meta["history"][-1]["seconds"], "peak_rss_mb": meta["history"][-1].get(
            "peak_rss_mb"),
        "row": {k: v for k, v in bare.items() if k != "outputs"},
        "words_row": {k: words[k] for k in ("sentences_per_s", "tokens_per_s", "paper_f1")},
        "teacher_sentences_per_s": teacher["sentences_per_s"],
        "bare_sentences_per_s_vs_teacher": round(bare["sentences_per_s"]
                                                 / teacher["sentences_per_s"], 1),
        "bare_vs_words_sentences_per_s": round(bare["sentences_per_s"]
                                               / words["sentences_per_s"], 2),
        "words_train_s": speed["student"]["train_s"],
    }
    print("bare", json.dumps(out["bare"]), flush=True)
    (HERE / "results" / "student_levers.json").write_text(json.dumps(out, indent=1) + "\n")
    if args.update_md:
        update_section(SECTION, render(out))
    return 0


def render(o: dict) -> str:
    e, b = o["exact"], o["bare"]
    ct2, ll = e["rows"]["ct2_f32"], e["rows"]["llama_f32"]
    return f"""{SECTION}

`python benchmarks/bench_student_levers.py --data data/craft --update-md`, {o['date']}, 2 cores,
{o['threads']} threads, the student of the section above.

Exactness: the student exported float32 (CTranslate2 float32, GGUF {e['gguf_type']}), both
constrained paths on the first {e['n']} sentences: **{e['identical_outputs']} of {e['n']} outputs
identical**, {e['identical_token_counts']} of {e['n']} token counts, {e['identical_corrections']}
of {e['n']} correction counts (CTranslate2 {ct2['seconds']} s, llama.cpp {ll['seconds']} s).

`leaves=bare`, the same recipe (training {b['train_s']} s against {b['words_train_s']} s with the
words' brackets; peak RSS {b['peak_rss_mb']} MB), int8, llama.cpp, constrained, the 64 sentences:

| student | sentences/s | generated tokens/s | x the teacher's sentences/s | paper F1 |
|---|---:|---:|---:|---:|
| words leaves (the section above) | {b['words_row']['sentences_per_s']} | {b['words_row']['tokens_per_s']} | {round(b['words_row']['sentences_per_s'] / b['teacher_sentences_per_s'], 1)} | {b['words_row'].get('paper_f1', '')} |
| `leaves=bare` | {b['row']['sentences_per_s']} | {b['row']['tokens_per_s']} | {b['bare_sentences_per_s_vs_teacher']} | {b['row'].get('paper_f1', '')} |
"""


if __name__ == "__main__":
    raise SystemExit(main())
