"""What a decoder-only student costs, side by side in one run (issue 32).

A SmolLM2-135M student trained by a fixed recipe on committed teacher labels (the first 240 of
experiments/craft-cpu/run-vote's labels_0_A, 1 epoch, batch 16, lr 3e-4, seed 0: it decodes
like a real student, not like random weights running to the length cap), exported int8
(CTranslate2 int8 and GGUF Q8_0), on the first N CRAFT test sentences of the run (20-30 words):

    ct2 free              CTranslate2 greedy without the constraint: this model's speed limit
    ct2 constrained       CTranslate2 under the tree constraint (stop, re-prefill, resume at
                          every forbidden token): the path before issue 32
    llama.cpp constrained the GGUF through the teacher's batched engine: every step's logits
                          masked, KV cache kept, forced tokens fed without a step (the new path)
    hf generate           transformers `generate` with the constraint as a LogitsProcessor
                          (float32 PyTorch, one sentence at a time: what a user would write)
    teacher               the Qwen2.5-Coder-1.5B teacher as the experiment ran it (10 fixed
                          shots, constrained, 32 parallel), live on the same sentences
    committee / samples   `mckd parse --with` over 6 students trained by the same recipe on
                          other slices/seeds, and one student's greedy + 2 sampled trees

Training is measured side by side too (a few optimizer steps of batch 16 on the recipe's
longest records, each variant in its own process so its peak RSS is its own): the plain HF loss
(logits over every position) before, the target-only loss after.

    python benchmarks/bench_student_speed.py --data data/craft --update-md

Steps that take minutes (training the students, the teacher, the old constrained path, HF
generate) are kept in --work and reused by a later run; --fresh redoes them. Writes
benchmarks/results/student_speed.json; --update-md rewrites RESULTS.md's section.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from results_md import update_section

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RUN = REPO / "experiments" / "craft-cpu" / "run-vote"
SECTION = "## Student speed: constrained decoding and lean training (issue 32)"
RECIPE = ["--init", "smollm2", "--limit", "240", "--epochs", "1", "batch_size=16"]
# the 6 committee members: (label step, first record, seed); member 0 is the benchmark student
MEMBERS = [("labels_0_A", 0, 0), ("labels_0_B", 0, 1), ("labels_0_A", 240, 2),
           ("labels_0_B", 240, 3), ("labels_1_A", 0, 4), ("labels_1_B", 0, 5)]


def sh(cmd: list[str], log: Path) -> None:
    with open(log, "w") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=REPO)
    if r.returncode:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}; see {log}")


def member(work: Path, k: int, fresh: bool) -> tuple[Path, dict]:
    """Train and export committee member k (kept in work/); (model dir, training meta)."""
    from mckd.jsonio import read_jsonl, write_jsonl_atomic

    step, first, seed = MEMBERS[k]
    d = work / f"member{k}"
    d.mkdir(parents=True, exist_ok=True)
    labels = d / "labels.jsonl"
    if not labels.exists():
        recs = read_jsonl(RUN / "steps" / step / "labels.jsonl")[first:first + 240]
        write_jsonl_atomic(labels, recs)
    if fresh or not (d / "student" / "mckd_student.json").exists():
        # members 1-5 keep their activations (faster; the same weights): only member 0's
        # training figures are reported, at today's defaults
        sh(["mckd", "train", "--train", str(labels), "--out", str(d / "student"), *RECIPE,
            "--seed", str(seed), *(["grad_checkpoint=off"] if k else [])], d / "train.log")
    if fresh or not (d / "model" / "manifest.json").exists():
        t0 = time.perf_counter()
        sh(["mckd", "export", str(d / "student"), "--out", str(d / "model")], d / "export.log")
        (d / "export_wall_s").write_text(f"{time.perf_counter() - t0:.1f}\n")
    meta = json.loads((d / "student" / "mckd_student.json").read_text())
    return d / "model", meta


# ---------------------------------------------------------------------------- training
TRAIN_PROBE = r"""
import json, resource, sys, time
from mckd.jsonio import read_jsonl
from mckd.student.config import TrainConfig
import mckd.student.train as T
variant, labels, out, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
loss, recompute = variant.split(":")
if loss == "plain":  # before issue 32: HF's loss over the logits of every position, and glibc's
    # malloc keeping freed memory
    T._loss = lambda model, tok, x, y, am: model(input_ids=x, attention_mask=am, labels=y).loss
    T._return_freed_memory = lambda: None
recs = read_jsonl(labels)
cfg = TrainConfig(init="smollm2", epochs=1, batch_size=16, max_steps=steps, quiet=True,
                  grad_checkpoint=recompute, checkpoint_minutes=0)
t0 = time.perf_counter()
T.train_student(recs, out, cfg)
meta = json.load(open(out + "/mckd_student.json"))
print(json.dumps({"variant": variant, "wall_s": round(time.perf_counter() - t0, 1),
                  "train_s": meta["history"][-1]["seconds"], "steps": meta["steps"],
                  "loss": meta["history"][-1]["loss"],
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
"""
# plain:off = before issue 32; lean:off = only the free part; lean:on = today's CPU default
TRAIN_VARIANTS = ("plain:off", "lean:off", "lean:on")


def train_side_by_side(work: Path, steps: int) -> dict:
    """`steps` optimizer steps of batch 16 on the 16*steps longest recipe records, once per
    variant, each in a fresh process (its peak RSS is its own)."""
    from mckd.jsonio import read_jsonl, write_jsonl_atomic

    recs = read_jsonl(work / "member0" / "labels.jsonl")
    longest = sorted(recs, key=lambda r: -len(r["target"]))[:16 * steps]
    labels = work / "train_probe.jsonl"
    write_jsonl_atomic(labels, longest)
    out = {}
    for variant in TRAIN_VARIANTS:
        d = work / f"train_probe_{variant.replace(':', '_')}"
        subprocess.run(["rm", "-rf", str(d)])
        r = subprocess.run([sys.executable, "-c", TRAIN_PROBE, variant, str(labels), str(d),
                            str(steps)], capture_output=True, text=True, cwd=REPO)
        if r.returncode:
            sys.exit(f"training probe {variant} failed:\n{r.stderr[-2000:]}")
        res = json.loads(r.stdout.strip().splitlines()[-1])
        res["sentences_per_s"] = round(16 * steps / res["train_s"], 3)
        out[variant] = res
        print("train", json.dumps(res), flush=True)
    return out


def decode_row(name: str, fn, n: int, outputs_of) -> dict:
    from mckd.teacher import engine

    calls0 = engine.STATS["decode_calls"]
    t0 = time.perf_counter()
    out = fn()
    secs = time.perf_counter() - t0
    recs = outputs_of(out)
    toks = sum(int(r.get("tokens", 0)) for r in recs)
    row = {"seconds": round(secs, 2), "sentences_per_s": round(n / secs, 3),
           "generated_tokens": toks, "tokens_per_s": round(toks / secs, 1),
           "corrections": sum(int(r.get("corrections", 0)) for r in recs),
           "llama_decode_calls": engine.STATS["decode_calls"] - calls0,
           "valid": sum(bool(r.get("valid", True)) for r in recs),
           "outputs": [r["output"] for r in recs]}
    print(name, json.dumps({k: v for k, v in row.items() if k != "outputs"}), flush=True)
    return row


def cached(path: Path, fresh: bool, fn):
    if path.exists() and not fresh:
        return json.loads(path.read_text())
    row = fn()
    path.write_text(json.dumps(row))
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", default=str(REPO / "runs" / "bench_student_speed"))
    ap.add_argument("--data", default="data/craft", help="imported CRAFT (gold for F1)")
    ap.add_argument("--n", type=int, default=64, help="test sentences")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--members", type=int, default=6, help="committee size")
    ap.add_argument("--parallel", type=int, default=16, help="llama.cpp sentences per call")
    ap.add_argument("--train-steps", type=int, default=3)
    ap.add_argument("--skip-teacher", action="store_true")
    ap.add_argument("--skip-old", action="store_true", help="skip the old constrained path")
    ap.add_argument("--fresh", action="store_true", help="redo the cached steps too")
    ap.add_argument("--update-md", action="store_true")
    args = ap.parse_args()

    from mckd.jsonio import read_jsonl
    from mckd.student.relabel import parse_committee, relabel

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    tests = read_jsonl(RUN / "steps" / "select" / "test.jsonl")
    tests = [r for r in tests if 20 <= len(r["words"]) <= 30][:args.n]
    n = len(tests)
    lines = [" ".join(r["words"]) for r in tests]

    models, metas = zip(*(member(work, k, args.fresh) for k in range(args.members)))
    m0, meta0 = models[0], metas[0]
    manifest0 = json.loads((m0 / "manifest.json").read_text())
    report = {"n": n, "threads": args.threads, "parallel": args.parallel, "members": len(models),
              "machine": platform.machine(), "cpus": os.cpu_count(),
              "date": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()),
              "student": {"recipe": "mckd train " + " ".join(RECIPE), "labels": "run-vote "
                          "labels_0_A[:240]", "train_s": meta0["history"][-1]["seconds"],
                          "peak_rss_mb": meta0["history"][-1].get("peak_rss_mb"),
                          "export_s": manifest0["export_seconds"],
                          "export_wall_s": float((m0.parent / "export_wall_s").read_text()),
                          "parity_check_inputs": manifest0["parity_check"]["inputs"],
                          "gguf": {k: v for k, v in manifest0.get("gguf", {}).items()}}}
    report["training"] = train_side_by_side(work, args.train_steps)

    def lab(name, **kw):
        def fn():
            return relabel(m0, tests, work / f"{name}.jsonl", threads=args.threads,
                           progress=False, **kw)
        return decode_row(name, fn, n, lambda _: read_jsonl(work / f"{name}.jsonl"))

    rows = {}
    rows["ct2_free"] = lab("ct2_free", decoding="free", engine="ctranslate2")
    if not args.skip_old:
        rows["ct2_constrained"] = cached(work / "ct2_constrained.row.json", args.fresh, lambda: lab(
            "ct2_constrained", decoding="constrained", engine="ctranslate2"))
    rows["llama_constrained"] = lab("llama_constrained", decoding="constrained",
                                    engine="llama.cpp")
    rows["hf_generate"] = cached(work / "hf_generate.row.json", args.fresh,
                                 lambda: hf_generate(m0.parent / "student", tests, args.threads))
    if not args.skip_teacher:
        rows["teacher"] = cached(work / "teacher.row.json", args.fresh,
                                 lambda: teacher(work, tests, args.threads))
    rows["committee"] = decode_row(
        f"committee of {len(models)}", lambda: list(parse_committee(
            list(models), lines, threshold=0.1, threads=args.threads)), n,
        lambda out: [{"output": t} for t in out])
    rows["samples"] = decode_row(
        "greedy + 2 samples", lambda: list(parse_committee(
            [m0], lines, samples=2, threads=args.threads)), n,
        lambda out: [{"output": t} for t in out])

    old = rows.get("ct2_constrained")
    for name, r in rows.items():
        if old is not None and name in ("llama_constrained", "hf_generate"):
            r["identical_to_ct2_constrained"] = sum(a == b for a, b in
                                                    zip(r["outputs"], old["outputs"]))
    new = rows["llama_constrained"]
    report["ratios"] = {
        "constrained_tokens_per_s_vs_free": round(new["tokens_per_s"]
                                                  / rows["ct2_free"]["tokens_per_s"], 2),
        **({"student_sentences_per_s_vs_teacher": round(
            new["sentences_per_s"] / rows["teacher"]["sentences_per_s"], 1),
            "committee_sentences_per_s_vs_teacher": round(
            rows["committee"]["sentences_per_s"] / rows["teacher"]["sentences_per_s"], 2)}
           if "teacher" in rows else {}),
        **({"speedup_vs_ct2_constrained": round(new["sentences_per_s"]
                                                / old["sentences_per_s"], 1)} if old else {}),
        **{f"training_{v}_vs_plain": {
            "peak_rss": round(report["training"][v]["peak_rss_mb"]
                              / report["training"]["plain:off"]["peak_rss_mb"], 2),
            "sentences_per_s": round(report["training"][v]["sentences_per_s"]
                                     / report["training"]["plain:off"]["sentences_per_s"], 2)}
           for v in TRAIN_VARIANTS[1:]},
    }
    if Path(args.data, "test.jsonl").exists():
        add_scores(rows, tests, args.data)
    report["rows"] = rows
    out = HERE / "results" / "student_speed.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report["ratios"], indent=1))
    if args.update_md:
        update_section(SECTION, render(report))
    return 0


def hf_generate(student: Path, tests: list[dict], threads: int) -> dict:
    """transformers generate + the constraint as a LogitsProcessor (mckd.student.causal's
    constrained_greedy, which `stop=dev` uses), float32, one sentence at a time."""
    import torch
    from transformers import AutoModelForCausalLM

    from mckd.student.causal import constrained_greedy
    from mckd.student.tokenizer import StudentTokenizer

    torch.set_num_threads(threads)
    tok = StudentTokenizer.load(student)
    meta = json.loads((student / "mckd_student.json").read_text())
    model = AutoModelForCausalLM.from_pretrained(student, local_files_only=True).float()
    words = [r["words"] for r in tests]

    def fn():
        return constrained_greedy(model, tok, words, meta["length_bound"], "cpu", "unlabeled")

    def recs(outs):
        return [{"output": o, "tokens": len(tok.tok.encode(" " + tok.target_text(o),
                                                           add_special_tokens=False).ids)}
                for o in outs]
    return decode_row("hf_generate", fn, len(tests), recs)


def teacher(work: Path, tests: list[dict], threads: int) -> dict:
    """The experiment's teacher, live (a fresh cache), as run-vote ran its greedy pass."""
    from mckd.jsonio import read_jsonl
    from mckd.teacher import TeacherConfig, resolve_model, run_teacher

    demos = read_jsonl(RUN / "steps" / "select" / "demos.jsonl")
    path = resolve_model("qwen2.5-coder-1.5b")
    cache = work / "teacher_cache.jsonl"
    cache.unlink(missing_ok=True)
    cfg = TeacherConfig(format="unlabeled", shots=10, demo_selection="fixed", parallel=32,
                        threads=threads, n_ctx=4096, cache_path=str(cache), progress=False,
                        schedule="jump")
    inputs = [{"id": r["id"], "words": r["words"], "source": r["source"]} for r in tests]
    return decode_row("teacher", lambda: run_teacher(path, demos, inputs,
                                                     work / "teacher.jsonl", cfg),
                      len(tests), lambda _: read_jsonl(work / "teacher.jsonl"))


def add_scores(rows: dict, tests: list[dict], data: str) -> None:
    """Paper F1 of each row's raw outputs against gold (scorer version of `mckd report`)."""
    from mckd.data import load_split
    from mckd.metrics.score import score

    gold = {r["id"]: r for r in load_split(data, "test")}
    g = [gold[r["id"]] for r in tests]
    for r in rows.values():
        preds = [{"id": t["id"], "output": o} for t, o in zip(tests, r["outputs"])]
        r["paper_f1"] = round(score(g, preds, "unlabeled")["paper_f1"], 2)


def render(rep: dict) -> str:
    names = {"ct2_free": "CTranslate2, free (no constraint)",
             "ct2_constrained": "CTranslate2, constrained (before)",
             "llama_constrained": "llama.cpp engine, constrained (now)",
             "hf_generate": "transformers generate + LogitsProcessor (fp32)",
             "teacher": "teacher Qwen2.5-Coder-1.5B (10 shots, constrained)",
             "committee": f"committee of {rep['members']} students (parse --with, now)",
             "samples": "one student, greedy + 2 samples (parse --samples 2, now)"}
    rows = "\n".join(
        f"| {names[k]} | {r['seconds']} | {r['sentences_per_s']} | {r['tokens_per_s']} | "
        f"{r['llama_decode_calls'] or ''} | {r['corrections'] or ''} | "
        f"{r.get('identical_to_ct2_constrained', '')} | {r.get('paper_f1', '')} |"
        for k, r in rep["rows"].items())
    t = rep["training"]
    s = rep["student"]
    what = {"plain": "HF (logits at every position)", "lean": "target positions only",
            "off": "kept", "on": "recomputed in backward"}
    trows = "\n".join(f"| {what[v.split(':')[0]]} | {what[v.split(':')[1]]} | "
                      f"{r['sentences_per_s']} | {r['peak_rss_mb']} | {r['loss']} |"
                      for v, r in t.items())
    return f"""{SECTION}

`python benchmarks/bench_student_speed.py --data data/craft --update-md`, {rep['date']},
{rep['cpus']} CPU cores ({rep['machine']}), {rep['threads']} threads, nothing else running.
Student: SmolLM2-135M, `{s['recipe']}` on {s['labels']} ({s['train_s']} s, peak RSS
{s['peak_rss_mb']} MB), exported int8 (CTranslate2 int8 + GGUF {s['gguf'].get('type')}; export
{s['export_wall_s']} s wall). {rep['n']} CRAFT test sentences of 20-30 words (run-vote's test split).

| decoder | seconds | sentences/s | generated tokens/s | llama.cpp calls | corrections | identical to before | paper F1 |
|---|---:|---:|---:|---:|---:|---:|---:|
{rows}

Ratios: {json.dumps(rep['ratios'])}

Training, {t['plain:off']['steps']} optimizer steps of batch 16 on the recipe's longest records, each
variant in its own process (peak RSS is the process's):

| loss | activations | sentences/s | peak RSS MB | loss after |
|---|---|---:|---:|---:|
{trows}
"""


if __name__ == "__main__":
    sys.exit(main())
