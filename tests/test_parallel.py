"""mckd.pipeline.parallel, the runner of a distill run's model steps side by side: its order,
its copies of the run directory and how finished steps come back."""

import json
import subprocess
import sys

from mckd.pipeline.parallel import copy_run, merge, priority


def test_critical_path_first():
    steps = ["sft_gold", "s1_A_test", "final_0_test", "s2_B", "final_2", "labels_1_A", "sd_filter"]
    assert sorted(steps, key=priority) == ["labels_1_A", "s2_B", "final_2", "final_0_test",
                                           "sd_filter", "sft_gold", "s1_A_test"]


def _step(run, name, result):
    d = run / "steps" / name
    d.mkdir(parents=True)
    (d / "done.json").write_text(json.dumps({"result": result}))
    (d / "labels.jsonl").write_text(f"{name}\n")


def test_copies_share_data_and_merge_only_what_they_finished(tmp_path):
    run = tmp_path / "run"
    _step(run, "teacher_pool", 1)
    _step(run, "s1_A", 1)
    (run / ".lock").write_text("")
    copy = tmp_path / "copy"
    copy_run(run, copy)
    src, dst = run / "steps/teacher_pool/labels.jsonl", copy / "steps/teacher_pool/labels.jsonl"
    assert src.stat().st_ino == dst.stat().st_ino  # hard links: no data copied
    assert not (copy / ".lock").exists()  # a lock is per inode: the copy takes its own
    _step(copy, "s1_B", 2)  # new in the copy
    redo = copy / "steps/s1_A/done.json.tmp"  # redone there: steps write by rename
    redo.write_text(json.dumps({"result": 3}))
    redo.replace(copy / "steps/s1_A/done.json")
    assert merge(copy, run) == ["s1_A", "s1_B"]
    assert json.loads((run / "steps/s1_A/done.json").read_text())["result"] == 3
    assert (run / "steps/s1_B/labels.jsonl").read_text() == "s1_B\n"


def test_runs_as_a_module():
    r = subprocess.run([sys.executable, "-m", "mckd.pipeline.parallel", "--help"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "--train-jobs" in r.stdout
