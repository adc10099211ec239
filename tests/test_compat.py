"""Runs made by older code stay current (mckd.pipeline.compat): the committed CRAFT runs walk as
complete under today's code, and each compatibility rule leaves out exactly what it says."""

import json
import shutil
from pathlib import Path

import pytest

from mckd.pipeline import compat

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "experiments" / "craft-cpu"


@pytest.fixture(scope="module")
def craft_data(craft_dir, tmp_path_factory):
    from mckd.data import import_treebank

    out = tmp_path_factory.mktemp("data") / "craft"
    import_treebank(str(craft_dir / "*.tree"), out, seed=0)
    return out


@pytest.mark.parametrize("run", ["run", "run-vote"])
def test_the_committed_runs_have_nothing_to_run_under_todays_code(run, craft_data, tmp_path):
    from mckd.pipeline.distiller import Distiller

    pytest.importorskip("torch")
    root = tmp_path / run
    shutil.copytree(RUNS / run, root, ignore=shutil.ignore_patterns("predictions"))
    m = json.loads((root / "manifest.json").read_text())
    cfg = compat.config_from_manifest(m["config"])
    d = Distiller(cfg, craft_data, root, log=lambda s: None)
    assert d.explain() == []
    res = d.collect()
    assert res["complete"] and not res["missing"]


def test_settings_added_later_stay_out_of_fingerprints_at_their_old_value():
    old = {"shots": 10, "schedule": "jump", "instruction": "", "samples": 0}
    assert compat.teacher_settings(old) == {"shots": 10}
    new = {"shots": 10, "schedule": "level", "instruction": "Parse.", "samples": 2}
    assert compat.teacher_settings(new) == new
    fp = {"model": "m", "inputs": "x"}
    assert compat.relabel_inputs(dict(fp), "ctranslate2") == fp
    assert compat.relabel_inputs(dict(fp), "llama.cpp") == {**fp, "engine": "llama.cpp"}


def test_an_old_manifest_reads_with_the_values_it_had_in_effect():
    cfg = compat.config_from_manifest({"student": {"epochs": 3}})
    assert cfg.teacher.schedule == "jump" and cfg.student.engine == "ctranslate2"
    assert cfg.baselines.sft_gold_epochs == 3
