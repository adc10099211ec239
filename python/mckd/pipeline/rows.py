"""The rows a run reports, declared once: results key, table name, place, plot line, the
baseline switch that turns it on, and the steps it reads. The distiller reports exactly these
rows and the report draws them; a new baseline is one `Row` here and the branch that makes its
steps (Distiller._walk).

The MCKD rows themselves ("2-stage", "3-stage", ...) are one per collaborative stage and come
from `stage_row`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    key: str                      # its key in results.json "models"
    name: str                     # the table's row name
    place: int                    # table order (the stages sit at STAGE_PLACE)
    test_step: str                # the label step it scores
    student: str | None = None    # the training step behind it (its repairs are reported)
    switch: str | None = None     # the BaselinesConfig field that turns it on (None: always)
    line: tuple[str, str] | None = None  # (color, style) of its reference line in the plot
    branch: str | None = None     # the Distiller method that makes its steps, called with
    #                               (test inputs file, selection) where it is not made elsewhere


STAGE_PLACE = 50
ROWS: tuple[Row, ...] = (
    Row("teacher", "few-shot LLM teacher", 0, "teacher_test", line=("C3", "--")),
    Row("sft_gold", "student fine-tuned on the gold examples only", 10, "sft_gold_test",
        "sft_gold", "sft_gold", ("C2", ":"), "_sft_gold"),
    Row("vanilla_kd", "vanilla KD (1-stage)", 20, "final_0_test", "final_0", "vanilla_kd"),
    Row("kd_sd_filter", "KD + SD w/ filter", 30, "sd_filter_test", "sd_filter", "sd_filter",
        ("C4", "-."), "_sd_filter"),
    Row("committee", "committee of the run's students (voted; not in the paper)", 90,
        "committee_test", None, "committee", ("C1", "-."), "_committee"),
)
BY_KEY = {r.key: r for r in ROWS}


def stage_row(k: int) -> Row:
    """The row of (k+1)-stage MCKD: the final student trained on stage k's labels (k >= 1)."""
    return Row(f"{k + 1}-stage", f"{k + 1}-stage MCKD", STAGE_PLACE + k, f"final_{k}_test",
               f"final_{k}")


def row_of(key: str) -> Row | None:
    if key in BY_KEY:
        return BY_KEY[key]
    head = key.split("-")[0]
    if key.endswith("-stage") and head.isdigit():
        return stage_row(int(head) - 1)
    return None


def enabled(cfg) -> list[Row]:
    """The rows a config reports, in table order. Vanilla KD is the 1-stage run itself."""
    b = cfg.baselines
    rows = [r for r in ROWS if r.switch is None or getattr(b, r.switch)
            or (r.key == "vanilla_kd" and cfg.stages == 1)]
    rows += [stage_row(k) for k in range(1, cfg.stages)]
    return sorted(rows, key=lambda r: r.place)
