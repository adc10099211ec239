"""pipeline/rows.py declares every row a run reports: each baseline switch has its row, each row
names a step the distiller makes, and the report draws what the rows declare."""

import dataclasses

from mckd.config import BaselineConfig, DistillConfig
from mckd.pipeline import rows
from mckd.pipeline.distiller import Distiller
from mckd.pipeline.steps import is_model_step, on_test


def test_every_baseline_switch_has_its_row_and_branch():
    switches = {f.name for f in dataclasses.fields(BaselineConfig) if f.type in (bool, "bool")}
    # committee_sft_gold adds a voter to the committee row; it has no row of its own
    assert {r.switch for r in rows.ROWS if r.switch} == switches - {"committee_sft_gold"}
    for r in rows.ROWS:
        assert r.branch is None or callable(getattr(Distiller, r.branch)), r
        assert r.student is None or on_test(r.student) == r.test_step
        assert r.key == "committee" or is_model_step(r.test_step), r


def test_enabled_rows_follow_the_switches_in_table_order():
    cfg = DistillConfig(stages=3)
    cfg.baselines.sd_filter = cfg.baselines.committee = True
    assert [r.key for r in rows.enabled(cfg)] == [
        "teacher", "sft_gold", "vanilla_kd", "kd_sd_filter", "2-stage", "3-stage", "committee"]
    cfg = DistillConfig(stages=1)
    cfg.baselines.vanilla_kd = cfg.baselines.sft_gold = False
    assert [r.key for r in rows.enabled(cfg)] == ["teacher", "vanilla_kd"]  # it is the run
    assert rows.row_of("3-stage").name == "3-stage MCKD" and rows.row_of("x") is None


def test_each_format_declares_its_report_columns():
    from mckd import formats

    assert formats.get("unlabeled").columns[1] == ("evalb_f1", "EVALB F1 (unlabeled)")
    assert formats.get("labeled").columns[1] == ("evalb_f1", "EVALB F1")
    assert not formats.get("unlabeled").labeled and formats.get("skeleton").labeled
    assert not formats.get("chunks").labeled and not formats.get("text").labeled
    assert formats.get("chunks").columns[0] == ("chunk_f1", "chunk F1")
    assert [k for k, _ in formats.get("text").columns] == ["exact_match", "token_f1", "chunk_f1"]
    for name in formats.FORMATS:  # the headline metric is the first column
        f = formats.get(name)
        assert f.columns[0][0] == f.metric or not f.tree and not f.tags
