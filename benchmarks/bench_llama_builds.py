"""The same teacher work on two (or more) builds of llama-cpp-python, back to back (issue 12).

The README's install compiles llama.cpp with `-DGGML_NATIVE=OFF` (a portable AVX2 build); the
sdist's default is `-march=native`, which on an AVX-512 machine also uses AVX-512 / VNNI kernels.
This runs `bench_teacher_breakdown.py` once per build, each in its own process with that build
first on `PYTHONPATH`, on the same sentences, and compares llama_decode throughput, the product
path's s/sentence and whether the outputs are identical.

    python benchmarks/bench_llama_builds.py --data data/craft \
        --build installed= --build native=/work/llama-native --update-md

A build is NAME=DIR, where DIR holds an unpacked `llama_cpp` package (empty = the installed one).
Writes benchmarks/results/llama_builds.json and, with --update-md, its RESULTS.md section.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_teachers import HERE
from results_md import update_section

SECTION = "## llama.cpp builds side by side (issue 12)"


def system_info(env: dict) -> str:
    code = "import llama_cpp; print(llama_cpp.llama_print_system_info().decode().strip())"
    return subprocess.run([sys.executable, "-c", code], env=env, check=True, text=True,
                          capture_output=True).stdout.strip()


def run_build(name: str, path: str, args, work: Path) -> dict:
    env = dict(os.environ)
    if path:
        env["PYTHONPATH"] = os.pathsep.join([path] + [p for p in [env.get("PYTHONPATH")] if p])
    out = work / f"{name}.json"
    cmd = [sys.executable, str(HERE / "bench_teacher_breakdown.py"), "--teacher", args.teacher,
           "--n", str(args.n), "--parallel", args.parallel, "--sizes", args.sizes,
           "--threads", str(args.threads), "--out", str(out)]
    if args.data:
        cmd += ["--data", args.data]
    info = system_info(env)
    print(f"build {name}: {info}", file=sys.stderr, flush=True)
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    res = json.loads(out.read_text())
    return {"name": name, "path": path, "system_info": info,
            "call_scaling": res["call_scaling"], "runs": res["runs"]}


def render(res: dict) -> str:
    a = res["settings"]
    builds = res["builds"]
    ctxs = list(builds[0]["call_scaling"])
    sizes = list(builds[0]["call_scaling"][ctxs[-1]])
    lines = [SECTION, "",
             f"`{res['command']}` on {res['machine']} (load average {res['load_before']} before), "
             f"{res['date']}; teacher {a['teacher']}, {a['threads']} threads. Each build ran "
             "`bench_teacher_breakdown.py` in its own process, one after the other. Raw figures: "
             "`benchmarks/results/llama_builds.json`.", ""]
    for b in builds:
        lines.append(f"- `{b['name']}`: {b['system_info']}")
    lines += ["", f"**llama_decode tok/s** (n sequences x 1 token, context {ctxs[-1]} tokens):", "",
              "| build | " + " | ".join(f"n={s}" for s in sizes) + " |",
              "|---|" + "---:|" * len(sizes)]
    for b in builds:
        row = b["call_scaling"][ctxs[-1]]
        lines.append(f"| {b['name']} | " + " | ".join(str(row[s]["tok_per_s"]) for s in sizes)
                     + " |")
    first = builds[0]
    if first["runs"]:
        lines += ["", f"**The product path** (`run_teacher`, {a['n']} CRAFT dev sentences of "
                  "20-30 words, constrained, 10 fixed demonstrations):", "",
                  "| build | parallel | s/sentence | ratio to first | decode s | paper F1 | "
                  "identical to first |", "|---|---:|---:|---:|---:|---:|---:|"]
        for b in builds:
            for r, r0 in zip(b["runs"], first["runs"]):
                same = sum(x == y for x, y in zip(r["outputs"], r0["outputs"]))
                lines.append(f"| {b['name']} | {r['parallel']} | {r['s_per_sentence']} | "
                             f"{r['s_per_sentence'] / r0['s_per_sentence']:.2f} | {r['decode_s']} | "
                             f"{r['paper_f1']} | {same}/{r['sentences']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", action="append", required=True,
                    help="NAME=DIR with an unpacked llama_cpp package ('' = the installed one)")
    ap.add_argument("--data", default=None)
    ap.add_argument("--teacher", default="qwen2.5-coder-1.5b")
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--parallel", default="32")
    ap.add_argument("--sizes", default="1,8,32,64")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--out", default=str(HERE / "results" / "llama_builds.json"))
    ap.add_argument("--update-md", action="store_true")
    args = ap.parse_args(argv)

    from mckd.jsonio import write_json_atomic

    builds = [b.partition("=")[::2] for b in args.build]
    res = {"command": "python benchmarks/bench_llama_builds.py " + " ".join(argv or sys.argv[1:]),
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "load_before": " ".join(f"{x:.1f}" for x in os.getloadavg()),
           "settings": {k: v for k, v in vars(args).items() if k != "build"}, "builds": []}
    with tempfile.TemporaryDirectory(prefix="bench_builds_") as tmp:
        for name, path in builds:
            res["builds"].append(run_build(name, path, args, Path(tmp)))
    write_json_atomic(Path(args.out), res)
    md = render(res)
    print(md)
    if args.update_md:
        update_section(SECTION, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
