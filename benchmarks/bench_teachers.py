"""Every packaged teacher on the same CRAFT dev sentences, side by side, scored honestly.

Each teacher labels the same test sentences through `mckd.teacher.run_teacher` (the product
path: constrained decoding, fixed shared-prefix demonstrations, a fresh cache so nothing is
served from an earlier run), one teacher at a time. Reported per teacher: seconds per sentence
(wall, model load and prefix included), generated tokens/s, and paper F1 / strict / unlabeled
EVALB of the raw outputs (`mckd.metrics.score.score`), beside the trivial structures on the same
sentences.

With `--schedules jump,level` each teacher runs once per decode schedule, back to back on the
same sentences (the ratio is the figure; these machines are noisy). The teacher's entry holds
the last schedule's figures, `schedules` holds each one's, with the engine's counters (decode
calls, weight passes, forced tokens) and how many outputs are identical to the first schedule's.

    python benchmarks/bench_teachers.py --data data/craft --update-md
    python benchmarks/bench_teachers.py --teachers smollm2 --n 20   # a quick look

Writes benchmarks/results/teachers.json (one entry per teacher short name) and, with
--update-md, the `## Packaged teachers` section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

from results_md import update_section

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = Path(os.environ.get("MCKD_SHARED_DATA", REPO.parent / "shared" / "data"))
SECTION = "## Packaged teachers (issues 9, 12)"
TEACHERS = ("smollm2", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")


def load(args) -> tuple[list[dict], list[dict]]:
    """(gold demonstrations from train, test sentences from dev), seeded and disjoint."""
    from mckd.data import import_treebank, load_split

    data = Path(args.data) if args.data else None
    if data is None or not (data / "dev.jsonl").exists():
        data = Path(tempfile.mkdtemp(prefix="bench_teachers_"))
        import_treebank(str(SHARED / "craft" / "*.tree"), data, seed=0)
    train, dev = load_split(data, "train"), load_split(data, "dev")
    rng = random.Random(args.seed)
    demos = rng.sample(sorted(train, key=lambda r: r["id"]), args.labeled)
    band = [r for r in dev if args.min_words <= len(r["words"]) <= args.max_words]
    tests = sorted(rng.sample(band, min(args.n, len(band))), key=lambda r: r["id"])
    return demos, tests


def run_one(name: str, demos, tests, args, schedule: str = "level") -> dict:
    import copy

    from mckd.errors import MckdError
    from mckd.teacher import engine
    from mckd.metrics.score import score
    from mckd.jsonio import read_jsonl
    from mckd.teacher import TeacherConfig, resolve_model, run_teacher

    try:
        path = resolve_model(name)
    except MckdError as e:
        return {"skipped": str(e)}
    work = Path(tempfile.mkdtemp(prefix=f"bench_teachers_{name}_"))
    cfg = TeacherConfig(format="unlabeled", shots=args.shots, demo_selection="fixed",
                        parallel=args.parallel, threads=args.threads, n_ctx=args.n_ctx,
                        cache_path=str(work / "cache.jsonl"), progress=False, schedule=schedule)
    inputs = [{"id": r["id"], "words": r["words"], "source": r["source"]} for r in tests]
    before = copy.deepcopy(engine.STATS)
    t0 = time.perf_counter()
    s = run_teacher(path, demos, inputs, work / "labels.jsonl", cfg)
    wall = time.perf_counter() - t0
    counters = {k: round(engine.STATS[k] - before[k], 2) for k in
                ("decode_calls", "ubatches", "decode_s", "constraint_s", "constraint_steps",
                 "forced_tokens", "tokens_fed", "moves")}
    preds = read_jsonl(work / "labels.jsonl")
    m = score(tests, preds, "unlabeled")
    return {
        "model_file": path.name, "sha256": s["sha256"], "sentences": len(tests),
        "band_words": [args.min_words, args.max_words],
        "s_per_sentence": round(wall / len(tests), 3), "wall_s": round(wall, 1),
        "tokens_per_s": s.get("tokens_per_s"), "generated_tokens": s.get("gen_tokens"),
        "paper_f1": round(m["paper_f1"], 2), "paper_f1_strict": round(m["paper_f1_strict"], 2),
        "evalb_f1": round(m["evalb_f1"], 2), "invalid": m["invalid"], "repaired": m["repaired"],
        "schedule": schedule, "parallel": args.parallel, "threads": args.threads,
        "counters": counters, "outputs": [p["output"] for p in preds],
    }


def render(res: dict) -> str:
    a = res["settings"]
    lines = [SECTION, "",
             f"`{res['command']}` on {res['machine']} (load average {res['load_before']} before), "
             f"{res['date']}. {a['n']} CRAFT dev sentences of {a['min_words']}-{a['max_words']} "
             f"words (mean {res['mean_words']}), {a['shots']} fixed demonstrations from "
             f"{a['labeled']} gold train sentences, constrained, unlabeled format, "
             f"{a['threads']} thread(s), greedy; a fresh cache per teacher (rows measured "
             "earlier keep their own date and command in the JSON). "
             "Scores read the raw outputs (scorer version 2). Raw figures: "
             "`benchmarks/results/teachers.json`.", "",
             "| teacher | s/sentence | generated tok/s | paper F1 | paper F1, strict | "
             "EVALB F1 (unlabeled) | invalid | parallel | measured |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, r in res["teachers"].items():
        if "skipped" in r:
            lines.append(f"| {name} | skipped: {r['skipped']} | | | | | | | |")
            continue
        when = r.get("measured", {}).get("date", res["date"])[:16]
        for sched, q in r.get("schedules", {r.get("schedule", "jump"): r}).items():
            label = name if len(r.get("schedules", {})) < 2 else f"{name}, {sched}"
            lines.append(f"| {label} | {q['s_per_sentence']} | {q['tokens_per_s']} | "
                         f"{q['paper_f1']} | {q['paper_f1_strict']} | {q['evalb_f1']} | "
                         f"{q['invalid']}/{q['sentences']} | {q.get('parallel', a['parallel'])} "
                         f"| {when} |")
    for kind, m in res["references"].items():
        lines.append(f"| _{kind} (no model)_ | | | {m['paper_f1']:.2f} | "
                     f"{m['paper_f1_strict']:.2f} | {m['evalb_f1']:.2f} | | | |")
    multi = {n: r["schedules"] for n, r in res["teachers"].items()
             if len(r.get("schedules", {})) > 1}
    if multi:
        lines += ["", "Decode schedules side by side (same sentences, same process, back to "
                  "back; `jump` feeds each sequence all it has pending, `level` the same count "
                  "from each, so one weight pass a call):", "",
                  "| teacher | schedule | s/sentence | ratio to first | decode calls | weight "
                  "passes | forced tokens | stream moves | identical outputs | paper F1 |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, sch in multi.items():
            first = next(iter(sch.values()))
            for sched, q in sch.items():
                c = q["counters"]
                lines.append(f"| {name} | {sched} | {q['s_per_sentence']} | "
                             f"{q['s_per_sentence'] / first['s_per_sentence']:.2f} | "
                             f"{c['decode_calls']} | {c['ubatches']} | {c['forced_tokens']} | "
                             f"{c['moves']} | {q['identical_to_first']}/{q['sentences']} | "
                             f"{q['paper_f1']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None, help="imported CRAFT dir (default: import to a temp dir)")
    ap.add_argument("--teachers", default=",".join(TEACHERS))
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--min-words", type=int, default=20)
    ap.add_argument("--max-words", type=int, default=30)
    ap.add_argument("--shots", type=int, default=10)
    ap.add_argument("--labeled", type=int, default=50)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--schedules", default="level",
                    help="comma-separated decode schedules to run side by side (level, the "
                         "teacher's default; jump,level compares it with the older one)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--n-ctx", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "results" / "teachers.json"))
    ap.add_argument("--update-md", action="store_true")
    ap.add_argument("--keep-others", action="store_true",
                    help="keep the entries of teachers not run now from the existing --out file "
                         "(each entry says when and how it was measured)")
    args = ap.parse_args(argv)
    os.environ["MCKD_TEACHER_CACHE"] = "off"  # measure generation, never the shared cache

    from mckd.metrics.score import reference_scores
    from mckd.jsonio import write_json_atomic

    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    demos, tests = load(args)
    res = {"command": "python benchmarks/bench_teachers.py " + " ".join(argv or sys.argv[1:]),
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "load_before": load_before, "settings": vars(args),
           "mean_words": round(sum(len(t["words"]) for t in tests) / len(tests), 1),
           "teachers": {}}
    for name in args.teachers.split(","):
        runs = {}
        for sched in args.schedules.split(","):
            print(f"teacher {name}, schedule {sched}, on {len(tests)} sentences ...",
                  file=sys.stderr, flush=True)
            r = run_one(name, demos, tests, args, sched)
            if "skipped" in r:
                break
            first = next(iter(runs.values()), r)
            r["identical_to_first"] = sum(a == b for a, b in zip(first["outputs"], r["outputs"]))
            runs[sched] = r
            print(f"  {json.dumps({k: v for k, v in r.items() if k != 'outputs'})}",
                  file=sys.stderr, flush=True)
        if not runs:
            res["teachers"][name] = r
            continue
        res["teachers"][name] = {**{k: v for k, v in r.items() if k != "outputs"},
                                 "schedules": runs}
    for r in res["teachers"].values():
        r.setdefault("measured", {"date": res["date"], "command": res["command"],
                                  "load_before": load_before})
    if args.keep_others and Path(args.out).exists():
        old = json.loads(Path(args.out).read_text())
        same = (old.get("settings", {}).get(k) == getattr(args, k)
                for k in ("n", "min_words", "max_words", "shots", "labeled", "seed"))
        if not all(same):
            raise SystemExit(f"{args.out} was measured on other sentences; not merging")
        for name, r in old.get("teachers", {}).items():
            if name not in res["teachers"]:
                r.setdefault("measured", {"date": old["date"], "command": old["command"],
                                          "load_before": old.get("load_before")})
                res["teachers"][name] = r
    refs = reference_scores(tests)
    res["references"] = {k: {m: round(v[m], 2) for m in ("paper_f1", "paper_f1_strict", "evalb_f1")}
                         for k, v in refs.items()}
    write_json_atomic(Path(args.out), res)
    md = render(res)
    print(md)
    if args.update_md:
        update_section(SECTION, md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
