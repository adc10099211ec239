"""Benchmark F1 scoring: mckd's EVALB mode and paper metric against PYEVALB, in one run.

Gold: the PTB sample (shared/data/ptb-sample/*.mrg) and all of CRAFT (shared/data/craft/*.tree),
cleaned (function tags, -NONE- and root wrappers removed) and written one tree per line.
Predictions: a deterministic, seeded perturbation of each gold tree (0-3 edits: drop a bracket,
add a bracket over adjacent siblings, move a bracket to other siblings, relabel), and for a
share of sentences a dropped or added word (a length mismatch).

Timed (wall clock, only the scoring call, inputs already in memory as strings):
  * mckd evalb: `mckd.metrics.evalb.evalb_score(gold, pred)` (COLLINS.prm, C++ core); best of --repeat;
  * mckd paper: `mckd.metrics.paper.paper_f1(gold, pred_unlabeled)`; best of --repeat;
  * PYEVALB: `Scorer().score_corpus(gold, pred)` + `summary.summary(...)` (pure Python), once,
    on at most --pyevalb-limit sentences per corpus; if that is a subset, the full-corpus time
    is extrapolated from its sentences/s and marked as such.

    nice python benchmarks/bench_f1.py --update-md

Writes benchmarks/results/f1.json and prints a table; --update-md replaces the
`## F1 scoring (issue 2)` section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

from results_md import update_section

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = Path(os.environ.get("MCKD_SHARED_DATA", REPO.parent / "shared" / "data"))
SECTION = "## F1 scoring (issue 2)"
LABELS = ["NP", "VP", "PP", "S", "SBAR", "ADJP", "ADVP"]


# ---------------------------------------------------------------- data


def load(kind: str) -> list:
    """Cleaned gold trees of one corpus (mckd Tree objects), in file order."""
    from mckd import trees as T

    pattern = {"ptb": ("ptb-sample", "*.mrg"), "craft": ("craft", "*.tree")}[kind]
    files = sorted((SHARED / pattern[0]).glob(pattern[1]))
    if not files:
        sys.exit(f"bench_f1: no {pattern[1]} files under {SHARED / pattern[0]}")
    out = []
    for p in files:
        out.extend(T.clean(t) for t in T.read_trees(p))
    return [t for t in out if t.n_words > 0]


# ---------------------------------------------------------------- perturbation


def _render(words, tags, spans) -> str:
    """PTB string of a laminar list of (label, start, end); ties keep list order (outer first)."""
    order = sorted(range(len(spans)), key=lambda i: (spans[i][1], -spans[i][2], i))
    out, stack, k = [], [], 0
    for w in range(len(words)):
        while k < len(order) and spans[order[k]][1] == w:
            out.append("(" + spans[order[k]][0])
            stack.append(spans[order[k]][2])
            k += 1
        out.append(f"({tags[w] or 'XX'} {words[w]})")
        while stack and stack[-1] == w + 1:
            stack.pop()
            out.append(")")
    return " ".join(out).replace(" )", ")")


def _children(spans, parent: int):
    """Units directly below span `parent`: (start, end) of child spans and uncovered words."""
    _, ps, pe = spans[parent]
    inner = sorted({(s, e) for i, (_, s, e) in enumerate(spans)
                    if i != parent and ps <= s and e <= pe and (s, e) != (ps, pe)},
                   key=lambda x: (x[0], -x[1]))
    units, pos = [], ps
    for s, e in inner:
        if s < pos:
            continue  # nested deeper
        units.extend((w, w + 1) for w in range(pos, s))
        units.append((s, e))
        pos = e
    units.extend((w, w + 1) for w in range(pos, pe))
    return units


def _add_bracket(spans, rng, label=None) -> bool:
    cands = [i for i in range(len(spans)) if spans[i][2] - spans[i][1] >= 3]
    rng.shuffle(cands)
    for p in cands[:5]:
        units = _children(spans, p)
        if len(units) < 3:
            continue
        a = rng.randrange(0, len(units) - 1)
        b = rng.randrange(a + 2, min(len(units), a + 4) + 1)
        if b - a == len(units):
            continue
        new = (units[a][0], units[b - 1][1])
        if any((s, e) == new for _, s, e in spans):
            continue
        spans.append((label or rng.choice(LABELS), *new))
        return True
    return False


def perturb(tree, rng: random.Random, mismatch_rate: float) -> tuple[str, bool]:
    """A perturbed copy of `tree` as a PTB string, and whether its length differs."""
    words, tags = list(tree.words), list(tree.tags)
    spans = [tuple(s) for s in tree.spans()]
    for _ in range(rng.choice([0, 1, 1, 2, 2, 3])):
        op = rng.random()
        nonroot = list(range(1, len(spans)))
        if op < 0.35 and nonroot:  # drop a bracket
            spans.pop(rng.choice(nonroot))
        elif op < 0.65:  # add a bracket
            _add_bracket(spans, rng)
        elif op < 0.9 and nonroot:  # move: drop one, then bracket other siblings with its label
            label = spans.pop(rng.choice(nonroot))[0]
            _add_bracket(spans, rng, label)
        elif spans:  # relabel
            i = rng.randrange(len(spans))
            spans[i] = (rng.choice(LABELS), spans[i][1], spans[i][2])
    mismatch = len(words) >= 2 and rng.random() < mismatch_rate
    if mismatch:
        if rng.random() < 0.5:  # drop a word: spans after it shift left, emptied ones go
            w = rng.randrange(len(words))
            del words[w], tags[w]
            spans = [(lab, s - (s > w), e - (e > w)) for lab, s, e in spans]
            spans = [x for x in spans if x[2] > x[1]]
        else:  # add a word at the end of the sentence (inside the root)
            words.append("EXTRA")
            tags.append("NN")
            spans = [(lab, s, e + 1 if e == len(words) - 1 and s == 0 else e)
                     for lab, s, e in spans]
    return _render(words, tags, spans), mismatch


# ---------------------------------------------------------------- timing


def timed(fn) -> tuple[float, float, object]:
    """Wall and CPU seconds of one call (CPU time is what counts on a shared machine)."""
    c0, t0 = time.process_time(), time.perf_counter()
    res = fn()
    return time.perf_counter() - t0, time.process_time() - c0, res


def best_of(fn, repeat: int) -> dict:
    runs = [timed(fn) for _ in range(repeat)]
    wall, cpu, res = min(runs, key=lambda r: r[0])
    return {"seconds": wall, "cpu_seconds": cpu, "seconds_all_repeats": [r[0] for r in runs],
            "cpu_seconds_all_repeats": [r[1] for r in runs], "result": res}


def pyevalb_score(gold: list[str], pred: list[str]):
    from PYEVALB import scorer, summary

    # PYEVALB prints every length mismatch; that is part of its cost, but not of the output.
    with contextlib.redirect_stdout(io.StringIO()):
        results = scorer.Scorer().score_corpus(gold, pred)
        return summary.summary(results)


def bench_corpus(name: str, trees, args) -> dict:
    from mckd import trees as T
    from mckd.metrics.evalb import evalb_score
    from mckd.metrics.paper import paper_f1

    rng = random.Random(f"{args.seed}:{name}")
    gold = [t.to_string() for t in trees]
    pairs = [perturb(t, rng, args.mismatch_rate) for t in trees]
    pred = [p for p, _ in pairs]
    n_mismatch = sum(m for _, m in pairs)
    # The paper metric scores the paper's notation: unlabeled linearizations of the predictions.
    pred_unlabeled = T.linearize_many([T.parse_tree(p) for p in pred], "unlabeled")
    n = len(gold)

    ev_t = best_of(lambda: evalb_score(gold, pred), args.repeat)
    pa_t = best_of(lambda: paper_f1(gold, pred_unlabeled), args.repeat)
    ev, pa = ev_t.pop("result"), pa_t.pop("result")

    m = n if args.pyevalb_limit <= 0 else min(n, args.pyevalb_limit)
    py_s, py_cpu, py = timed(lambda: pyevalb_score(gold[:m], pred[:m]))
    py_rate = m / py_s
    row = {
        "sentences": n,
        "words": sum(t.n_words for t in trees),
        "length_mismatches": n_mismatch,
        "mckd_evalb": {**ev_t, "sentences_per_s": n / ev_t["seconds"],
                       "sentences_per_cpu_s": n / ev_t["cpu_seconds"],
                       "f1": ev["all"]["f1"], "f1_errors_as_zero": ev["all"]["f1_errors_as_zero"],
                       "error_sentences": ev["all"]["error_sentences"]},
        "mckd_paper": {**pa_t, "sentences_per_s": n / pa_t["seconds"],
                       "sentences_per_cpu_s": n / pa_t["cpu_seconds"],
                       "f1": pa["f1"], "n_failed": pa["n_failed"]},
        "pyevalb": {"sentences_timed": m, "seconds_timed": py_s, "cpu_seconds_timed": py_cpu,
                    "sentences_per_s": py_rate, "sentences_per_cpu_s": m / py_cpu,
                    "seconds_full_corpus": n / py_rate, "extrapolated": m < n,
                    "f1": py.bracker_fmeasure, "valid_sentences": py.valid_sent_num},
    }
    row["speedup_evalb_vs_pyevalb"] = row["mckd_evalb"]["sentences_per_s"] / py_rate
    row["speedup_paper_vs_pyevalb"] = row["mckd_paper"]["sentences_per_s"] / py_rate
    return row


# ---------------------------------------------------------------- output


def _rows(r: dict):
    py = r["pyevalb"]
    ext = f" (extrapolated from {py['sentences_timed']:,})" if py["extrapolated"] else ""
    return [("mckd evalb (C++)", r["mckd_evalb"], r["mckd_evalb"]["seconds"], ""),
            ("mckd paper metric (C++)", r["mckd_paper"], r["mckd_paper"]["seconds"], ""),
            ("PYEVALB (pure Python)", py, py["seconds_full_corpus"], ext)]


def table(res: dict) -> str:
    lines = [f"{'corpus':<7}{'sent':>7}  {'scorer':<24}{'sent/s':>10}{'sent/CPU-s':>12}"
             f"{'seconds':>10}{'F1':>8}"]
    for name, r in res["corpora"].items():
        for i, (label, x, secs, note) in enumerate(_rows(r)):
            lines.append(f"{name if i == 0 else '':<7}{r['sentences'] if i == 0 else '':>7}  "
                         f"{label:<24}{x['sentences_per_s']:>10,.0f}"
                         f"{x['sentences_per_cpu_s']:>12,.0f}{secs:>10.3f}{x['f1']:>8.2f}{note}")
        lines.append(f"{'':<16}mckd evalb / PYEVALB: {r['speedup_evalb_vs_pyevalb']:,.0f}x; "
                     f"paper metric / PYEVALB: {r['speedup_paper_vs_pyevalb']:,.0f}x")
    return "\n".join(lines)


def markdown(res: dict) -> str:
    out = [SECTION, "",
           f"`{res['command']}` on {res['machine']} (load average {res['load_average']} at the "
           f"start: the 2 cores were shared), seed {res['seed']}, {res['timestamp']}. Gold = "
           "cleaned trees, one per line; predictions = seeded perturbations (0-3 bracket edits "
           f"per tree: drop, add, move, relabel; {res['mismatch_rate']:.0%} of sentences get a "
           "dropped or added word). Only the scoring call is timed, inputs already in memory "
           f"(best of {res['repeat']} for mckd, one run for PYEVALB). Wall-clock seconds are for "
           "the whole corpus; sentences per CPU-second is less sensitive to the shared cores. "
           "Raw figures: `benchmarks/results/f1.json`.", "",
           "| corpus | sentences | scorer | sentences/s | sentences/CPU-s "
           "| seconds (whole corpus) | F1 |",
           "|---|---|---|---|---|---|---|"]
    for name, r in res["corpora"].items():
        for label, x, secs, note in _rows(r):
            out.append(f"| {name} | {r['sentences']:,} | {label} | {x['sentences_per_s']:,.0f} | "
                       f"{x['sentences_per_cpu_s']:,.0f} | {secs:.3f}{note} | {x['f1']:.2f} |")
    out.append("")
    for name, r in res["corpora"].items():
        ev_x, pa_x = r["speedup_evalb_vs_pyevalb"], r["speedup_paper_vs_pyevalb"]
        out.append(f"- {name}: mckd evalb scores {ev_x:,.0f}x as many sentences/s as PYEVALB, "
                   f"the paper metric {pa_x:,.0f}x; {r['length_mismatches']} predictions have a "
                   f"dropped or added word ({r['mckd_evalb']['error_sentences']} are EVALB error "
                   "sentences: as in evalb.c, a dropped punctuation word is not a length "
                   "mismatch under COLLINS.prm).")
    out += ["- The F1 columns differ by design: mckd evalb uses COLLINS.prm (labeled, punctuation "
            "deleted, errors left out); PYEVALB has no parameter file (every label and token "
            "counted); the paper metric is unlabeled span F1 averaged per sentence, failures "
            "scored 0.", ""]
    return "\n".join(out)


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def update_md(section: str) -> None:
    update_section(SECTION, section)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--repeat", type=int, default=5, help="timed repeats of each mckd scorer")
    ap.add_argument("--mismatch-rate", type=float, default=0.03)
    ap.add_argument("--pyevalb-limit", type=int, default=0,
                    help="score at most N sentences per corpus with PYEVALB (0: all)")
    ap.add_argument("--corpora", default="ptb,craft")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "f1.json")
    ap.add_argument("--update-md", action="store_true", help=f"rewrite '{SECTION}' in RESULTS.md")
    args = ap.parse_args(argv)

    res = {
        "command": " ".join(["python benchmarks/bench_f1.py",
                             *(argv if argv is not None else sys.argv[1:])]),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                   f"Python {platform.python_version()}",
        "load_average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "seed": args.seed, "repeat": args.repeat, "mismatch_rate": args.mismatch_rate,
        "corpora": {},
    }
    for name in args.corpora.split(","):
        trees = load(name)
        print(f"{name}: {len(trees)} trees loaded; scoring ...", file=sys.stderr, flush=True)
        res["corpora"][name] = bench_corpus(name, trees, args)
    print(table(res))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, json.dumps(res, indent=2) + "\n")
    print(f"wrote {args.out}")
    if args.update_md:
        update_md(markdown(res))
        print(f"updated {SECTION!r} in {HERE / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
