"""Issue 9's prompt levers on the craft-cpu teacher: voting over samples, an instruction, and
which demonstrations.

The craft-cpu teacher (Qwen2.5-Coder-1.5B, the run's 50 gold demonstrations, 10 fixed shots,
constrained, unlabeled) labels N CRAFT *dev* sentences of 20-30 words, in this order:
- greedily, as in the experiment;
- K more times sampled at --temperature (sample seeds 1..K, the same prompt), from which
  `mckd.teacher.vote` rebuilds one tree per sentence at several thresholds;
- greedily after an instruction paragraph (`--instruction`, '' to skip);
- greedily with 10 fixed demonstrations drawn from the gold trees of the test band's length
  (20-30 words) instead of from all 50 (`--band-demos 0` to skip);
- greedily with the demonstrations as turns of the model's own chat template, under its default
  system message (`--chat 0` to skip).
Everything is scored as paper F1 of the raw outputs on the same sentences, beside right-branching.

    python experiments/craft-cpu/levers/prompt/run.py               # N=200, K=4, T=0.7
    python experiments/craft-cpu/levers/prompt/run.py --n 8 --samples 2 --out /tmp/levers-smoke

Resumable: each pass writes its outputs (`<pass>.jsonl`) and a cache beside them
(`<pass>.cache.jsonl`), so an interrupted pass resumes and a finished one is served from its
cache, never regenerated. Commit both (a pass costs ~20 minutes on 2 cores): with the caches a
machine elsewhere rescores without the model's time. `results.json` / `results.md` hold the
scores of the passes finished so far and are rewritten after each one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
RUN = REPO / "experiments" / "craft-cpu" / "run"
sys.path.insert(0, str(HERE.parent))
from common import sentences  # noqa: E402
INSTRUCTION = ("Parse each sentence into its constituency tree. Write every word in brackets, "
               "( word ), in the order given, and put one more pair of brackets around the words "
               "of each phrase: noun phrases, verb phrases, prepositional phrases, clauses. "
               "Never add, drop or change a word.")


def teacher_pass(name: str, tests, demos, out_dir: Path, args, **kw) -> tuple[list[dict], dict]:
    from mckd.jsonio import read_jsonl
    from mckd.teacher import TeacherConfig, run_teacher

    cfg = TeacherConfig(format="unlabeled", shots=10, demo_selection="fixed", seed=0,
                        parallel=32, threads=args.threads, n_ctx=4096,
                        cache_path=str(out_dir / f"{name}.cache.jsonl"), **kw)
    out = out_dir / f"{name}.jsonl"
    inputs = [{"id": r["id"], "words": r["words"], "source": r["source"]} for r in tests]
    t0 = time.perf_counter()
    s = run_teacher(args.teacher, demos, inputs, out, cfg)
    s["wall_s"] = round(time.perf_counter() - t0, 1)
    return read_jsonl(out), s


def write_results(args, argv, tests, outputs, passes, out_dir, f1) -> None:
    """results.json / results.md from the passes finished so far."""
    from mckd.jsonio import write_json_atomic, write_text_atomic
    from mckd.metrics.score import reference_scores
    from mckd.teacher.vote import consensus_tree

    rows = [(label, f1(recs)) for label, recs in outputs.values()]
    by_name = {name: {r["id"]: r for r in recs} for name, (_, recs) in outputs.items()}

    def votes(names: list[str], what: str) -> None:  # a row per threshold: the passes' consensus
        for t in (float(x) for x in args.thresholds.split(",")):
            preds = [{"id": x["id"], "output": consensus_tree(
                [by_name[n][x["id"]]["output"] for n in names], x["words"], threshold=t)}
                for x in tests]
            rows.append((f"consensus of {what}, threshold {t}", f1(preds)))

    samples = [name for name in outputs if name.startswith("sample")]
    if len(samples) >= 2:
        votes(samples, f"{len(samples)} samples")
        votes(["greedy"] + samples, f"{len(samples) + 1} (greedy + samples)")
    # votes across prompts: the band-demonstrations pass beside the greedy one (and samples),
    # what teacher.vote_demo_words runs (mckd.teacher.run.vote_records)
    if "band_demos" in outputs:
        for extra in ([], ["sample1"], ["sample1", "sample2"]):
            if all(n in by_name for n in extra):
                names = ["greedy", "band_demos"] + extra
                votes(names, " + ".join(names))
    refs = reference_scores(tests)
    rows.append(("right-branching (no model)", round(refs["right-branching"]["paper_f1"], 2)))

    res = {"command": "python experiments/craft-cpu/levers/prompt/run.py " +
                      " ".join(argv if argv is not None else sys.argv[1:]),
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "sentences": len(tests), "band_words": [20, 30],
           "mean_words": round(sum(len(r["words"]) for r in tests) / len(tests), 1),
           "settings": vars(args), "rows": [{"row": r, "paper_f1": v} for r, v in rows],
           "passes": {k: {x: v.get(x) for x in ("count", "generated", "cached", "wall_s",
                                                "tokens_per_s", "llama_cpp_build")}
                      for k, v in passes.items()}}
    write_json_atomic(out_dir / "results.json", res)
    md = [f"# Prompt levers of the teacher ({len(tests)} CRAFT dev sentences, 20-30 words)",
          "", (f"`{res['command']}`, {res['date']}. Paper F1 of raw outputs; consensus by "
               "`mckd.teacher.vote` (spans kept where votes/k exceed the threshold, CKY over the "
               f"rest). Instruction: \"{args.instruction}\""),
          "", "| row | paper F1 |", "|---|---:|"] + [f"| {r} | {v} |" for r, v in rows]
    write_text_atomic(out_dir / "results.md", "\n".join(md) + "\n")
    print("\n".join(md), flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--thresholds", default="0.25,0.35,0.5")
    ap.add_argument("--instruction", default=INSTRUCTION, help="'' = no instruction pass")
    ap.add_argument("--band-demos", type=int, default=1,
                    help="1 = a pass whose 10 fixed demonstrations are gold trees of 20-30 words")
    ap.add_argument("--chat", type=int, default=1,
                    help="1 = a pass in the model's chat template (teacher.prompt_format=chat)")
    ap.add_argument("--teacher", default="qwen2.5-coder-1.5b")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0, help="which dev sentences")
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args(argv)

    from mckd.jsonio import read_jsonl
    from mckd.metrics.score import score

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    tests = sentences(args.n, args.seed)
    demos = read_jsonl(RUN / "steps" / "select" / "demos.jsonl")  # the experiment's 50 gold
    f1 = lambda preds: round(score(tests, preds, "unlabeled")["paper_f1"], 2)

    # passes in the order worth having if the session ends early: the baseline, the samples
    # voting needs, then the single-pass levers; results are rewritten after every pass
    band_demos = [d for d in demos if 20 <= len(d["words"]) <= 30]
    plan = [("greedy", f"greedy ({args.teacher})", demos, {})]
    plan += [(f"sample{j}", f"sample {j} (T={args.temperature})", demos,
              {"temperature": args.temperature, "sample_seed": j})
             for j in range(1, args.samples + 1)]
    if args.instruction:
        plan.append(("instruction", "greedy, instruction before the demonstrations", demos,
                     {"instruction": args.instruction}))
    if args.band_demos:
        label = f"greedy, 10 demonstrations of 20-30 words (of {len(band_demos)} such gold)"
        plan.append(("band_demos", label, band_demos, {}))
    if args.chat:
        plan.append(("chat", "greedy, chat template (the model's default system message)",
                     demos, {"prompt_format": "chat"}))
    # a pass served from its cache keeps the timings of the run that generated it
    old = {}
    if (out_dir / "results.json").exists():
        old = json.loads((out_dir / "results.json").read_text(encoding="utf-8")).get("passes", {})
    outputs, passes = {}, {}
    for name, label, pass_demos, kw in plan:
        recs, s = teacher_pass(name, tests, pass_demos, out_dir, args, **kw)
        if not s.get("generated") and (old.get(name) or {}).get("generated"):
            s = old[name]
        outputs[name], passes[name] = (label, recs), s
        write_results(args, argv, tests, outputs, passes, out_dir, f1)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
