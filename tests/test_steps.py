"""The step table (mckd.pipeline.steps): every step a run makes has one kind, and the declared
seeds are the ones the committed runs were trained with (a seed is part of a fingerprint)."""

from pathlib import Path

import pytest

from mckd.jsonio import read_json
from mckd.pipeline import steps as S

ROOT = Path(__file__).resolve().parent.parent
RUNS = [ROOT / "experiments" / "craft-cpu" / "run", ROOT / "experiments" / "craft-cpu" / "run-vote",
        ROOT / "experiments" / "craft-chunks-cpu" / "run"]


def test_the_name_builders_make_names_of_their_kind():
    assert S.kind_of(S.stage_student(2, "B")).key == "stage_student"
    assert S.kind_of(S.stage_labels(0, "A")).key == "labels"       # the teacher's: a collection
    assert S.kind_of(S.stage_labels(2, "A")).key == "relabels"     # a student's: a model step
    assert S.kind_of(S.stage_labels(2, "all")).key == "labels"
    assert S.kind_of(S.voted_labels(1, "A")).key == "voted"
    assert S.kind_of(S.final_student(0)).key == "final"
    assert S.kind_of(S.on_test(S.final_student(3))).key == "on_test"
    assert S.kind_of(S.on_test("teacher")).key == "teacher"
    assert S.kind_of("committee_test").key == "committee"
    assert S.kind_of("s0_A") is None and S.kind_of("final_x") is None and S.kind_of("") is None


def test_model_and_training_steps():
    model = ["teacher_pool", "teacher_test", "s1_A", "s12_B_test", "labels_3_B", "final_0",
             "final_2_test", "sft_gold", "sft_gold_test", "sd_relabel", "sd_filter",
             "sd_filter_test"]
    books = ["select", "split", "inputs_A", "labels_0_A", "labels_1_all", "labels_gold",
             "labels_sd", "voted_1_A", "committee_test", "teacher"]
    assert all(S.is_model_step(n) for n in model)
    assert not any(S.is_model_step(n) for n in books)
    assert [n for n in model if S.is_training_step(n)] == ["s1_A", "final_0", "sft_gold",
                                                           "sd_filter"]


def test_seeds_are_the_offsets_runs_were_made_with():
    assert [S.seed(n, 1000) for n in ("select", "teacher_pool", "split", "s1_A", "s1_B", "s2_A",
                                      "s2_B", "final_0", "final_2", "sft_gold", "sd_filter")] == \
        [1000, 1000, 1003, 1100, 1101, 1200, 1201, 1010, 1012, 1007, 1008]
    with pytest.raises(KeyError, match="labels_1_A"):
        S.seed("labels_1_A", 0)
    m = S.seeds(["s1_A", "labels_1_A", "final_1"], 5)
    assert m["steps"] == {"final_1": 16, "s1_A": 105} and m["run"] == 5
    assert m["rules"]["stage_student"].startswith("seed+100k")


@pytest.mark.parametrize("run", RUNS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_committed_step_has_a_kind_and_its_declared_seed(run):
    if not (run / "manifest.json").is_file():
        pytest.skip(f"{run}: not committed here")
    run_seed = read_json(run / "manifest.json")["config"]["seed"]
    trained = 0
    for d in sorted((run / "steps").iterdir()):
        kind = S.kind_of(d.name)
        assert kind is not None, d.name
        if kind.does == S.TRAIN and (d / "inputs.json").is_file():
            assert read_json(d / "inputs.json")["seed"] == S.seed(d.name, run_seed), d.name
            trained += 1
    assert trained >= 3
