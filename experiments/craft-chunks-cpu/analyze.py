"""Where the craft-chunks-cpu run's numbers come from: every finished row's chunk F1 with its
paired difference (per sentence, the paper's way) against the teacher and against vanilla KD,
chunk F1 by chunk type, and how often each system puts a gold NP word inside a PP chunk (the
teacher's convention: a prepositional phrase written as one chunk).

    python experiments/craft-chunks-cpu/analyze.py [--run experiments/craft-chunks-cpu/run] [--data data/craft]

Writes analysis.json and analysis.md beside this script. Scores read raw outputs (as `mckd
report`); it reads finished label steps only and can be re-run as the run progresses.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mckd.chunks import gold_target, tags_of
from mckd.data import load_split
from mckd.jsonio import read_jsonl, write_json_atomic, write_text_atomic
from mckd.metrics import paired_gain
from mckd.metrics.score import most_frequent_tags, reference_tags, score
from mckd.metrics.text import chunk_types, read_tags
from mckd.pipeline import final_student, on_test, stage_student

HERE = Path(__file__).resolve().parent
FMT = "chunks"
TYPES = ("NP", "VP", "PP")
# test label steps of the rows, in the results table's order (only finished ones are read)
ROWS = (("teacher", on_test("teacher")), ("sft_gold", on_test("sft_gold")),
        ("vanilla_kd", on_test(final_student(0))), ("kd_sd_filter", on_test("sd_filter")),
        ("stage1_A", on_test(stage_student(1, "A"))), ("stage1_B", on_test(stage_student(1, "B"))),
        ("2-stage", on_test(final_student(1))),
        ("stage2_A", on_test(stage_student(2, "A"))), ("stage2_B", on_test(stage_student(2, "B"))),
        ("3-stage", on_test(final_student(2))), ("committee", "committee_test"))


def _labels(run: Path, step: str) -> list[dict] | None:
    if not (run / "steps" / step / "done.json").exists():
        return None
    return read_jsonl(run / "steps" / step / "labels.jsonl")


def by_type(gold_targets: list[str], outputs: list[str], words: list[list[str]]) -> dict:
    """Corpus chunk F1 of each chunk type, and how many chunks of it gold and prediction hold
    (`metrics.text.chunk_types`, conlleval's per-type table)."""
    table = chunk_types(gold_targets, outputs, words)
    out = {}
    for t in TYPES:
        r = table.get(t, {"f1": 0.0, "gold": 0, "predicted": 0})
        out[t] = {"f1": round(r["f1"], 2), "gold": r["gold"], "predicted": r["predicted"]}
    return out


def np_in_pp(gold_tags: list[list[str]], pred_tags: list[list[str]]) -> dict:
    """Gold NP words tagged as part of a PP chunk: the one-chunk prepositional phrase."""
    n_np = sum(t.endswith("-NP") for g in gold_tags for t in g)
    inside = sum(g_t.endswith("-NP") and p_t.endswith("-PP")
                 for g, p in zip(gold_tags, pred_tags) for g_t, p_t in zip(g, p))
    return {"gold_np_words": n_np, "tagged_pp": inside,
            "share": round(100 * inside / n_np, 2) if n_np else 0.0}


def main(run: Path, data: Path) -> dict:
    gold = {r["id"]: r for r in load_split(data, "test")}
    test_ids = [r["id"] for r in read_jsonl(run / "steps" / "select" / "test.jsonl")]
    demos = read_jsonl(run / "steps" / "select" / "demos.jsonl")
    g_recs = [gold[i] for i in test_ids]
    g_targets = [gold_target(r, FMT) for r in g_recs]
    g_words = [r["words"] for r in g_recs]
    g_tags = [tags_of(t) for t in g_targets]
    preds: dict[str, list[dict]] = {}
    for name, step in ROWS:
        recs = _labels(run, step)
        if recs is not None:
            preds[name] = recs
    lookup = most_frequent_tags(demos, FMT)
    preds["most frequent tag"] = [{"id": i, "output": reference_tags(gold[i]["words"],
                                                                      "most frequent tag", lookup)}
                                  for i in test_ids]
    res: dict = {"run": str(run), "n_test": len(test_ids), "rows": {}}
    per: dict[str, list[float]] = {}
    for name, recs in preds.items():
        by_id = {r["id"]: r for r in recs}
        ordered = [by_id[i] for i in test_ids]
        s = score(g_recs, ordered, FMT, per_sentence=True)
        per[name] = s["chunk_f1_per_sentence"]
        p_tags = [read_tags(r["output"], len(gold[r["id"]]["words"])) for r in ordered]
        res["rows"][name] = {"chunk_f1": round(s["chunk_f1"], 2),
                             "chunk_f1_mean": round(s["chunk_f1_mean"], 2),
                             "invalid": s["invalid"],
                             "by_type": by_type(g_targets, [r["output"] for r in ordered], g_words),
                             "np_words_in_pp": np_in_pp(g_tags, p_tags)}
    res["rows"]["gold"] = {"by_type": by_type(g_targets, g_targets, g_words),
                           "np_words_in_pp": np_in_pp(g_tags, g_tags)}
    for base in ("teacher", "vanilla_kd"):
        if base not in per:
            continue
        for name in per:
            if name != base:
                res["rows"][name][f"paired_vs_{base}"] = paired_gain(per[name], per[base])
    write_json_atomic(HERE / "analysis.json", res)
    write_text_atomic(HERE / "analysis.md", to_markdown(res))
    return res


def _gain(g: dict | None) -> str:
    return f"{g['mean']:+.2f} +/- {g['se']:.2f}" if g else ""


def to_markdown(res: dict) -> str:
    lines = [f"# craft-chunks-cpu: analysis ({res['n_test']} test sentences)", "",
             "Chunk F1 (corpus) and its per-sentence mean; paired differences of the per-sentence "
             "chunk F1 (mean +/- standard error); chunk F1 by type; gold NP words a system tags "
             "inside a PP chunk. Written by `analyze.py` from the run's raw outputs.", "",
             "| row | chunk F1 | sentence mean | vs teacher | vs vanilla KD | NP | VP | PP | "
             "NP words in PP |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in res["rows"].items():
        if name == "gold":
            continue
        t = r["by_type"]
        lines.append(f"| {name} | {r['chunk_f1']:.2f} | {r['chunk_f1_mean']:.2f} | "
                     f"{_gain(r.get('paired_vs_teacher'))} | {_gain(r.get('paired_vs_vanilla_kd'))} "
                     f"| {t['NP']['f1']:.2f} | {t['VP']['f1']:.2f} | {t['PP']['f1']:.2f} | "
                     f"{r['np_words_in_pp']['tagged_pp']} ({r['np_words_in_pp']['share']:.1f}%) |")
    g = res["rows"]["gold"]
    lines += ["", f"Gold: {g['by_type']['NP']['gold']} NP, {g['by_type']['VP']['gold']} VP and "
              f"{g['by_type']['PP']['gold']} PP chunks; {g['np_words_in_pp']['gold_np_words']} "
              "NP words.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=str(HERE / "run"))
    ap.add_argument("--data", default="data/craft")
    a = ap.parse_args()
    print(to_markdown(main(Path(a.run), Path(a.data))))
