"""Where the craft-cpu run's numbers come from: paper F1 by sentence length, for the teacher,
every finished student row and the trivial right-branching tree, on the test split and on the
pool (the teacher's pseudolabels against the held-back gold, analysis only).

    python experiments/craft-cpu/analyze.py [--run experiments/craft-cpu/run] [--data data/craft]

Writes analysis.json and analysis.md beside this script. Scores read raw outputs (as `mckd
report`); it reads finished label steps only and can be re-run as the experiment progresses.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mckd.data import load_split
from mckd.metrics.paper import paper_f1
from mckd.metrics.score import reference_tree, score
from mckd.metrics.spans import span_f1
from mckd.jsonio import read_jsonl, write_json_atomic, write_text_atomic
from mckd.pipeline import final_student, on_test, stage_labels, stage_student

HERE = Path(__file__).resolve().parent
BANDS = ((20, 22), (23, 25), (26, 28), (29, 30))
# test label steps of the rows, in the results table's order (only finished ones are read)
ROWS = (("teacher", on_test("teacher")), ("sft_gold", on_test("sft_gold")),
        ("vanilla_kd", on_test(final_student(0))), ("kd_sd_filter", on_test("sd_filter")),
        ("stage1_A", on_test(stage_student(1, "A"))), ("stage1_B", on_test(stage_student(1, "B"))),
        ("2-stage", on_test(final_student(1))),
        ("stage2_A", on_test(stage_student(2, "A"))), ("stage2_B", on_test(stage_student(2, "B"))),
        ("3-stage", on_test(final_student(2))),
        ("committee", "committee_test"))  # baselines.committee (run-vote)


def _labels(run: Path, step: str) -> list[dict] | None:
    if not (run / "steps" / step / "done.json").exists():
        return None
    return read_jsonl(run / "steps" / step / "labels.jsonl")


def _same(a: str, b: str) -> bool:
    """The same tree text, up to whitespace."""
    return a.split() == b.split()


def by_band(gold: dict, preds: dict[str, list[dict]]) -> dict:
    """{band: {"n", row: paper F1, "right-branching": paper F1}} over the ids of the first row."""
    ids = [p["id"] for p in next(iter(preds.values()))]
    out = {}
    for lo, hi in BANDS + ((BANDS[0][0], BANDS[-1][1]),):
        sel = [i for i in ids if lo <= len(gold[i]["words"]) <= hi]
        if not sel:
            continue
        g = [gold[i] for i in sel]
        row = {"n": len(sel)}
        for name, recs in preds.items():
            by_id = {r["id"]: r for r in recs}
            row[name] = round(score(g, [by_id[i] for i in sel], "unlabeled")["paper_f1"], 2)
        rb = [{"id": i, "target": reference_tree(gold[i]["words"], "right-branching")} for i in sel]
        row["right-branching"] = round(score(g, rb, "unlabeled")["paper_f1"], 2)
        out[f"{lo}-{hi}"] = row
    return out


def cross_labelling(gold: dict, teacher: list[dict], relabels: dict[str, list[dict]]) -> dict:
    """What each stage's relabels changed, per half of the pool: paper F1 of the teacher's labels
    and of the relabels on the same sentences, how far the relabels agree with the teacher
    (span F1 between the two), and per sentence whether the relabel is better, worse or equal."""
    t_by = {r["id"]: r for r in teacher}
    out = {}
    for name, recs in relabels.items():
        ids = [r["id"] for r in recs]
        g = [gold[i]["gold"] for i in ids]
        src = [" ".join(gold[i]["words"]) for i in ids]
        tp = paper_f1(g, [t_by[i]["output"] for i in ids], src)["per_sentence"]
        rp = paper_f1(g, [r["output"] for r in recs], src)["per_sentence"]
        pairs = [(a, b) for a, b in zip(tp, rp) if a is not None and b is not None]
        out[name] = {
            "n": len(ids),
            "teacher": round(sum(a for a, _ in pairs) / len(pairs), 2),
            "relabels": round(sum(b for _, b in pairs) / len(pairs), 2),
            "agreement_with_teacher": round(span_f1([r["output"] for r in recs],
                                                    [t_by[i]["output"] for i in ids]), 2),
            "identical_to_teacher": sum(_same(r["output"], t_by[i]["output"])
                                        for r, i in zip(recs, ids)),
            "better": sum(b > a + 1e-9 for a, b in pairs),
            "worse": sum(b < a - 1e-9 for a, b in pairs),
            "equal": sum(abs(a - b) <= 1e-9 for a, b in pairs),
        }
    return out


def sd_filter(gold: dict, teacher: list[dict], relabels: list[dict], kept: list[dict]) -> dict:
    """What the KD+SD filter kept: paper F1 against the held-back gold of the vanilla-KD student's
    relabels of the pool and of the teacher's labels, for the half it kept (most confident by mean
    token log-prob) and the half it dropped, and how many relabels equal the teacher's label."""
    t_by = {r["id"]: r for r in teacher}
    keep = {r["id"] for r in kept}
    out = {}
    for name, recs in (("kept", [r for r in relabels if r["id"] in keep]),
                       ("dropped", [r for r in relabels if r["id"] not in keep])):
        ids = [r["id"] for r in recs]
        g = [gold[i]["gold"] for i in ids]
        src = [" ".join(gold[i]["words"]) for i in ids]
        out[name] = {
            "n": len(ids),
            "mean_words": round(sum(len(gold[i]["words"]) for i in ids) / len(ids), 2),
            "relabels": round(paper_f1(g, [r["output"] for r in recs], src)["f1"], 2),
            "teacher": round(paper_f1(g, [t_by[i]["output"] for i in ids], src)["f1"], 2),
            "identical_to_teacher": sum(_same(r["output"], t_by[i]["output"])
                                        for r, i in zip(recs, ids)),
        }
    return out


def sd_table(rows: dict) -> str:
    lines = ["### KD + SD filter: the half it kept and the half it dropped (pool, against the held-back gold)",
             "", "| half | n | mean words | vanilla-KD relabels | teacher's labels | relabel = teacher |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['n']} | {r['mean_words']:.2f} | {r['relabels']:.2f} | "
                     f"{r['teacher']:.2f} | {r['identical_to_teacher']} |")
    return "\n".join(lines) + "\n"


def cross_table(rows: dict) -> str:
    lines = ["### Cross-labelling: the stage students' relabels of the pool against the teacher's labels",
             "", "| relabels | n | teacher | relabels | span agreement with teacher | identical | "
             "better / worse / equal |", "|---|---:|---:|---:|---:|---:|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['n']} | {r['teacher']:.2f} | {r['relabels']:.2f} | "
                     f"{r['agreement_with_teacher']:.2f} | {r['identical_to_teacher']} | "
                     f"{r['better']} / {r['worse']} / {r['equal']} |")
    return "\n".join(lines) + "\n"


def table(title: str, bands: dict) -> str:
    cols = [c for c in next(iter(bands.values())) if c != "n"]
    lines = [f"### {title}", "", "| words | n | " + " | ".join(cols) + " |",
             "|---|---:|" + "---:|" * len(cols)]
    for band, row in bands.items():
        lines.append(f"| {band} | {row['n']} | " + " | ".join(f"{row[c]:.2f}" for c in cols) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default=str(HERE / "run"))
    ap.add_argument("--data", default="data/craft")
    ap.add_argument("--out", default=str(HERE / "analysis"),
                    help="writes OUT.json and OUT.md (default: analysis.* beside this script)")
    args = ap.parse_args()
    run = Path(args.run)

    test_gold = {r["id"]: r for r in load_split(args.data, "test")}
    test = {name: recs for name, step in ROWS if (recs := _labels(run, step)) is not None}
    pool_gold = {r["id"]: r for r in load_split(args.data, "train")}
    pool = {"teacher": _labels(run, "teacher_pool")}
    for k in (1, 2):  # the collaborative students' relabels of the pool, where finished
        a, b = _labels(run, stage_labels(k, "A")), _labels(run, stage_labels(k, "B"))
        if a is not None and b is not None:
            pool[f"stage{k} relabels"] = a + b
    halves = {}
    for k in (1, 2):
        for side, by in (("B", "A"), ("A", "B")):  # labels of half `side`, written by student `by`
            recs = _labels(run, stage_labels(k, side))
            if recs is not None:
                halves[f"stage {k}: student {by} on half {side}"] = recs
    res = {"test": by_band(test_gold, test), "pool": by_band(pool_gold, pool),
           "cross_labelling": cross_labelling(pool_gold, pool["teacher"], halves)}
    relabels, kept = _labels(run, "sd_relabel"), _labels(run, "labels_sd")
    if relabels is not None and kept is not None:
        res["sd_filter"] = sd_filter(pool_gold, pool["teacher"], relabels, kept)
    write_json_atomic(Path(args.out + ".json"), res)
    md = ("## Paper F1 by sentence length (raw outputs)\n\n"
          "`python experiments/craft-cpu/analyze.py`; rows appear as their steps finish.\n\n"
          + table("Test split", res["test"]) + "\n"
          + table("Pool: pseudolabels against the held-back gold", res["pool"])
          + ("\n" + cross_table(res["cross_labelling"]) if res["cross_labelling"] else "")
          + ("\n" + sd_table(res["sd_filter"]) if "sd_filter" in res else ""))
    write_text_atomic(Path(args.out + ".md"), md)
    print(md)


if __name__ == "__main__":
    main()
