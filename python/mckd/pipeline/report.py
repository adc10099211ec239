"""Results of a distill run: results.json, a paper-shaped Markdown table, and f1_by_stage.png."""

from __future__ import annotations

import re
from pathlib import Path

from .. import formats
from ..jsonio import write_json_atomic, write_text_atomic
from .rows import ROWS, row_of

def _row_name(key: str) -> str:
    r = row_of(key)
    return r.name if r else key


def _order(models: dict) -> list[str]:
    """The table order of the rows results.json holds (rows.py); unknown keys last."""
    return sorted(models, key=lambda k: (row_of(k).place if row_of(k) else 1000, k))


def how_scored(fmt: str) -> list[str]:
    """The footnote that says what each column measures (printed under the table)."""
    f = formats.get(fmt)
    if f.tags:
        return ["_How the columns are computed: every score reads the model's raw output "
                "(`output` in its label file), its tags taken by position (every second token, "
                "as the authors read T5 outputs), words it does not reach counted as O. **chunk "
                "F1**: conlleval's, over all chunks of the test set (a chunk is right when its "
                "start, end and type match). **chunk F1, sentence mean**: conlleval's F1 per "
                "sentence, averaged (the paper's way; a sentence with no chunk right scores 0). "
                "**invalid**: outputs that are not the sentence's words each followed by one "
                "BIO tag; they are still scored by position._"]
    if not f.tree:
        return ["_Scores are computed from each model's raw output (`output` in its label "
                "file), not from a cleaned-up version._"]
    lines = [
        "_How the columns are computed: every score reads the model's raw output (`output` in "
        "the label file named by `labels` in results.json), never the repaired tree students "
        "train on. **paper F1**: the authors' evaluation (`parserlib.py`: their light fix-ups, "
        "punctuation removed by gold POS tags, unlabeled spans of >= 2 words, per-sentence F1 "
        "averaged, an output that still fails scores 0; only word counts are checked). **paper "
        "F1, strict**: no fix-ups, and an output scores only if it is a tree over exactly the "
        "gold words. **EVALB**: an output that is not a well-formed tree over exactly the "
        "sentence's words is an EVALB error, left out of EVALB F1 (as EVALB does) and counted "
        "with 0 matched brackets in *errors = 0*, where the brackets it wrote still count as "
        "predicted (a runaway output lowers precision). **invalid**: outputs that are not such a "
        "tree; **repaired**: outputs the tree repair changed._",
    ]
    if not f.labeled:
        lines.append(
            "_EVALB F1 (unlabeled) compares the gold tree and the prediction in the same space: "
            "both are written in the unlabeled linearization (one-word and unary brackets "
            "dropped, which that format cannot express), the gold POS tags are put back on the "
            "words, and EVALB scores unlabeled brackets (COLLINS.prm). The gold's own "
            "linearization scores 100._")
    return lines


def _fmt(v) -> str:
    if v is None:
        return "–"
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def table(results: dict) -> str:
    """The results as a Markdown table in the shape of the paper's Table 1."""
    fmt = results.get("format", "unlabeled")
    cols = list(formats.get(fmt).columns)
    what = "labels" if formats.get(fmt).tags else "trees"
    models = results.get("models", {})
    lines = ["| method | " + " | ".join(c[1] for c in cols) + " | n |",
             "|---|" + "---:|" * (len(cols) + 1)]
    for key in _order(models):
        m = models[key]
        lines.append(f"| {_row_name(key)} | " + " | ".join(_fmt(m.get(c)) for c, _ in cols)
                     + f" | {m.get('n', '')} |")
    out = ["## Test results", "", *lines]
    # smaller tables with the first two metrics: (results key, first column, caption)
    for key, head, caption in (
            ("stage_students", "student",
             "Collaborative students (each trained on one half), on the test split:"),
            ("pool_quality", "labels",
             "Pseudolabel quality of the unlabeled pool against its held-back gold "
             f"(analysis only; the method never reads these {what}):"),
            ("references", "structure" if what == "trees" else "tagging",
             f"Trivial {'structures' if what == 'trees' else 'taggings'} on the same test "
             "sentences (no model; a student that does not beat these has not learned the "
             "task):")):
        if results.get(key):
            out += ["", caption, "", f"| {head} | " + " | ".join(c[1] for c in cols[:2]) + " |",
                    "|---|" + "---:|" * 2]
            for k, m in results[key].items():
                out.append(f"| {k} | " + " | ".join(_fmt(m.get(c)) for c, _ in cols[:2]) + " |")
    out += [""] + how_scored(fmt)
    students = {k: v for k, v in (results.get("students") or {}).items()
                if v.get("train_repaired")}
    if students:
        out += ["", "_Training targets the tree repair had changed: " + ", ".join(
            f"{k} {v['train_repaired']}/{v['train']}" for k, v in sorted(students.items())) + "._"]
    if not results.get("complete", True):
        out += ["", "_The run is not finished for the current settings: only steps done under "
                "them are shown; rows appear as their steps complete._"]
    if results.get("final_model"):
        out += ["", f"Final student (CTranslate2): `{results['final_model']}`"]
    return "\n".join(out) + "\n"


def plot(results: dict, path: Path) -> bool:
    """F1 of the final student after each stage, with the teacher and SFT as reference lines."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fmt = results.get("format", "unlabeled")
    metric, label = formats.get(fmt).metric, formats.get(fmt).metric_label
    models = results.get("models", {})
    xs, ys = [], []
    if "vanilla_kd" in models:
        xs.append(1)
        ys.append(models["vanilla_kd"].get(metric))
    for k in sorted((k for k in models if k.endswith("-stage")), key=lambda k: int(k.split("-")[0])):
        xs.append(int(k.split("-")[0]))
        ys.append(models[k].get(metric))
    fig, ax = plt.subplots(figsize=(8.5, 4), dpi=120)
    if xs:
        ax.plot(xs, ys, marker="o", color="C0", label="MCKD final student")
        for x, y in zip(xs, ys):
            ax.annotate(f"{y:.1f}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center")
    for row in ROWS:
        if row.line and row.key in models and models[row.key].get(metric) is not None:
            ax.axhline(models[row.key][metric], color=row.line[0], linestyle=row.line[1],
                       label=row.name)
    refs = results.get("references") or {}
    ref = next(iter(refs), None)  # the strongest trivial reference comes first
    if ref is not None and refs[ref].get(metric) is not None:
        ax.axhline(refs[ref][metric], color="0.3", linestyle=(0, (1, 3)), linewidth=1,
                   label=f"{ref} (no model)")
    pq = results.get("pool_quality", {})
    # keys: teacher, stage<k> (relabels), stage<k>_voted (stage_vote: what stage k hands on)
    for suffix, style, name in (("", "-", "pool pseudolabels (analysis)"),
                                ("_voted", "--", "pool labels voted with the teacher (analysis)")):
        stage = {k: re.fullmatch(rf"stage(\d+){suffix}", k) for k in pq}
        pts = sorted((0 if k == "teacher" else int(stage[k].group(1)), v)
                     for k, v in pq.items() if k == "teacher" or stage[k])
        if len(pts) > (1 if suffix else 0):
            ax.plot([x + 1 for x, _ in pts], [v.get(metric) for _, v in pts], marker="s",
                    color="0.5", linestyle=style, alpha=0.6, label=name)
    ax.set_xlabel("stages (1 = vanilla KD)")
    ax.set_ylabel(f"test {label}")
    ax.set_xticks(sorted(set(xs + [1])))
    ax.set_title("MCKD: F1 by stage")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))  # never over a line
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
    return True


def write_reports(run_dir: str | Path, results: dict) -> str:
    """Write results.json, results.md and f1_by_stage.png; return the Markdown table."""
    run_dir = Path(run_dir)
    md = table(results)
    write_json_atomic(run_dir / "results.json", results)
    write_text_atomic(run_dir / "results.md", md)
    plot(results, run_dir / "f1_by_stage.png")
    return md


def write_predictions(run_dir: str | Path, results: dict, out_dir: str | Path) -> list[Path]:
    """One `<row>.jsonl` per reported row (models and stage students): `id` and the raw
    `output` of every test sentence, in the label file's order, so anyone can re-score them."""
    from ..jsonio import read_jsonl, write_jsonl_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for group in ("models", "stage_students"):
        for key, row in (results.get(group) or {}).items():
            recs = read_jsonl(Path(run_dir) / row["labels"])
            path = out / f"{key}.jsonl"
            write_jsonl_atomic(path, [{"id": r["id"], "output": r["output"]} for r in recs])
            written.append(path)
    return written
