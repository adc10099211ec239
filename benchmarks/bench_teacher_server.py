"""Teacher throughput over an OpenAI-compatible server against the in-process backend (issue 10).

One run, same model (the packaged SmolLM2 by default), same CRAFT sentences, same prompts
(k fixed demonstrations), greedy and constrained:
- in_process: `run_teacher` with the GGUF loaded here (`--parallel` sequences per llama_decode);
- server_c{1,4,16}: `run_teacher --teacher-url` against llama-cpp-python's own server
  (`python -m llama_cpp.server`, started here on 127.0.0.1), 1, 4 and 16 requests in flight,
  the constraint sent as a per-sentence GBNF grammar;
- server_c16_no_grammar: the same requests unconstrained (what the grammar itself costs).
Every run starts from empty caches (shared store off). Reported: sentences/s, ratio to
in-process, valid outputs, and how many outputs equal the in-process ones.

    python benchmarks/bench_teacher_server.py --n 24 --update-md     # ~10 min on 2 cores

Writes benchmarks/results/teacher_server.json; `--update-md` replaces the
`## Teacher over a server (issue 10)` section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_md import update_section

HERE = Path(__file__).resolve().parent
SECTION = "## Teacher over a server (issue 10)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, port: int, threads: int, n_ctx: int) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(model),
                          "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
                          "--n_threads", str(threads)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while time.time() - t0 < 180:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return p
        except OSError:
            if p.poll() is not None:
                sys.exit("llama_cpp.server exited at start (pip install 'llama-cpp-python[server]')")
            time.sleep(0.5)
    p.kill()
    sys.exit("llama_cpp.server did not start within 180 s")


def render(report: dict) -> str:
    """The RESULTS.md section of a saved report (benchmarks/results/teacher_server.json)."""
    n, model, shots, max_words = report["n"], report["model"], report["shots"], report["max_words"]
    threads, cpus, in_process_parallel = report["threads"], report["cpus"], report["in_process_parallel"]
    runs = report["runs"]
    when = f", {report['date']}" if report.get("date") else ""
    rows = "\n".join(f"| {k} | {r['seconds']} | {r['sentences_per_s']} | "
                     f"{r['ratio_to_in_process']} | {r['valid']}/{n} | "
                     f"{r['same_as_in_process']}/{n} |" for k, r in runs.items())
    block = f"""{SECTION}

`python benchmarks/bench_teacher_server.py --n {n} --update-md` ({model}, {n}
CRAFT dev sentences of 5-{max_words} words, {shots} fixed shots, constrained, greedy,
{threads} thread(s), {cpus} CPU cores{when}; shared cache off, every output generated).
The server is llama-cpp-python's `llama_cpp.server`, given the constraint as a GBNF grammar;
in-process decodes {in_process_parallel} sentences per llama_decode with the prompt prefix shared.

| run | seconds | sentences/s | vs in-process | valid | same output as in-process |
|---|---:|---:|---:|---:|---:|
{rows}

llama-cpp-python's server runs one completion at a time, so requests in flight only queue
there; they pay off against servers that batch (vLLM, llama.cpp's `llama-server -np N`). The
same requests without a grammar are not faster (the free outputs run on towards the token
limit), so the GBNF sampler alone does not explain the gap to in-process, which batches
sentences and computes the shared demonstration prefix once; how the server's time splits
between prompt processing and decoding was not measured. Outputs differ where the two
constraints differ (the in-process one forbids unary chains, which the grammar admits) and
where batched kernels round differently.
"""
    return block


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2", help="packaged short name or GGUF path")
    ap.add_argument("--data", default="data/craft", help="imported CRAFT (mckd data import)")
    ap.add_argument("--n", type=int, default=24, help="sentences (dev split)")
    ap.add_argument("--shots", type=int, default=8)
    ap.add_argument("--max-words", type=int, default=20)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--parallel", type=int, default=8, help="in-process sequences per decode")
    ap.add_argument("--in-flight", default="1,4,16")
    ap.add_argument("--n-ctx", type=int, default=4096)
    ap.add_argument("--update-md", action="store_true")
    ap.add_argument("--render", action="store_true", help="only rewrite the RESULTS.md section "
                    "from the saved benchmarks/results/teacher_server.json (nothing is run)")
    args = ap.parse_args()
    if args.render:
        update_section(SECTION, render(json.loads(
            (HERE / "results" / "teacher_server.json").read_text())))
        return

    from mckd.data import load_split
    from mckd.teacher import resolve_model
    from mckd.teacher.run import TeacherConfig, run_teacher

    os.environ["MCKD_TEACHER_CACHE"] = "off"  # every run generates everything
    model = resolve_model(args.model)
    train = load_split(args.data, "train")
    demos = [r for r in train if 5 <= len(r["words"]) <= args.max_words][:args.shots]
    dev = [r for r in load_split(args.data, "dev") if 5 <= len(r["words"]) <= args.max_words]
    inputs = [{"id": r["id"], "words": r["words"]} for r in dev[:args.n]]
    work = Path(tempfile.mkdtemp(prefix="bench_teacher_server_"))
    base = dict(format="unlabeled", shots=args.shots, demo_selection="fixed", progress=False,
                n_ctx=args.n_ctx)

    def run(name: str, **kw) -> dict:
        out = work / f"{name}.jsonl"
        cfg = TeacherConfig(**base, cache_path=str(work / f"{name}.cache.jsonl"), **kw)
        t0 = time.time()
        s = run_teacher(None if kw.get("url") else model, demos, inputs, out, cfg)
        secs = time.time() - t0
        outs = [json.loads(x)["output"] for x in out.read_text().splitlines()]
        print(f"{name}: {len(inputs) / secs:.3f} sent/s ({secs:.1f} s), valid {s['valid']}",
              flush=True)
        return {"seconds": round(secs, 2), "sentences_per_s": round(len(inputs) / secs, 4),
                "valid": s["valid"], "outputs": outs}

    res = {"in_process": run("in_process", threads=args.threads, parallel=args.parallel)}
    port = free_port()
    srv = start_server(model, port, args.threads, args.n_ctx)
    try:
        url = f"http://127.0.0.1:{port}"
        for c in [int(x) for x in args.in_flight.split(",")]:
            res[f"server_c{c}"] = run(f"server_c{c}", url=url, concurrency=c, timeout_s=900,
                                      grammar="gbnf")
        # the same requests without a grammar: what the GBNF sampler costs on its own
        # (outputs are then the model's free text, repaired for training, scored raw)
        c = max(int(x) for x in args.in_flight.split(","))
        res[f"server_c{c}_no_grammar"] = run(f"server_c{c}_no_grammar", url=url, concurrency=c,
                                            timeout_s=900, grammar="none")
    finally:
        srv.terminate()
        srv.wait(timeout=30)
    ref = res["in_process"]["outputs"]
    for r in res.values():
        r["ratio_to_in_process"] = round(r["sentences_per_s"] / res["in_process"]["sentences_per_s"], 3)
        r["same_as_in_process"] = sum(a == b for a, b in zip(r.pop("outputs"), ref))
    report = {"model": model.name, "n": len(inputs), "shots": args.shots,
              "max_words": args.max_words, "threads": args.threads,
              "in_process_parallel": args.parallel, "machine": platform.machine(),
              "cpus": os.cpu_count(), "runs": res,
              "date": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()),
              "server": "llama-cpp-python's llama_cpp.server (one completion at a time)"}
    out = HERE / "results" / "teacher_server.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    block = render(report)
    print(block)
    if args.update_md:
        update_section(SECTION, block)


if __name__ == "__main__":
    main()
