"""End-to-end `mckd distill` at toy size with the real small teacher (SmolLM2 from PyPI)."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from mckd.cli import main

pytestmark = pytest.mark.slow

TOY = ["data.labeled=6", "data.max_pool=16", "data.max_test=6", "data.max_words=7",
       "data.min_words=3", "teacher.shots=3", "teacher.demo_selection=fixed",
       "teacher.parallel=4", "student.epochs=2", "student.arch=t5-tiny"]


@pytest.fixture(scope="module")
def toy_data(craft_dir, small_teacher, tmp_path_factory):
    pytest.importorskip("torch")
    from mckd.data import import_treebank

    out = tmp_path_factory.mktemp("data") / "craft"
    import_treebank(str(craft_dir / "1[12]*.tree"), out, seed=0)
    return out


def _distill(data, run, extra=()):
    return main(["distill", "--data", str(data), "--out", str(run), "--stages", "2", *TOY, *extra])


def test_distill_end_to_end_then_noop(toy_data, tmp_path, capsys):
    run = tmp_path / "run"
    assert _distill(toy_data, run) == 0
    out = capsys.readouterr()
    for f in ("manifest.json", "results.json", "results.md", "f1_by_stage.png"):
        assert (run / f).is_file(), f
    res = json.loads((run / "results.json").read_text())
    assert set(res["models"]) >= {"teacher", "sft_gold", "vanilla_kd", "2-stage"}
    for m in res["models"].values():
        assert m["n"] == 6 and 0.0 <= m["paper_f1"] <= 100.0
    assert set(res["stage_students"]) == {"stage1_A", "stage1_B"}
    assert set(res["pool_quality"]) == {"teacher", "stage1"}
    assert set(res["references"]) == {"right-branching", "left-branching", "flat"}
    assert "| right-branching |" in (run / "results.md").read_text()
    assert (run / "steps/final_1/ct2/model.bin").is_file()
    assert "2-stage MCKD" in out.out and "few-shot LLM teacher" in out.out
    man = json.loads((run / "manifest.json").read_text())
    assert man["status"] == "finished" and man["config"]["teacher"]["shots"] == 3
    assert set(man["data_checksums"]) == {"train", "test"}

    # the same command again does nothing but reprint the table
    assert _distill(toy_data, run) == 0
    err = capsys.readouterr().err
    assert "[run]" not in err and "[redo]" not in err and "[done]" in err

    # a run continued elsewhere from its committed label steps has no model folders: only the
    # shipped final student is trained again (no later step needs stage 1's)
    import shutil

    for step in ("final_1", "s1_A"):
        for sub in ("student", "ct2"):
            shutil.rmtree(run / "steps" / step / sub)
    assert _distill(toy_data, run) == 0
    err = capsys.readouterr().err
    assert "[retrain] final_1" in err and "[retrain] s1_A" not in err, err
    assert "[run]" not in err and "[redo]" not in err
    assert (run / "steps/final_1/ct2/model.bin").is_file()
    assert not (run / "steps/s1_A/ct2").exists()

    # --plan runs and writes nothing, and says what would run and why (issue 34 item 8)
    before = sorted(str(p.relative_to(run)) for p in run.rglob("*"))
    assert _distill(toy_data, run, ["--plan"]) == 0
    assert "nothing to run" in capsys.readouterr().out
    assert _distill(toy_data, run, ["--plan", "student.epochs=1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"s1_A +changed: student\.epochs", out), out
    assert "teacher_pool" not in out  # the teacher is not affected
    assert sorted(str(p.relative_to(run)) for p in run.rglob("*")) == before
    assert _distill(toy_data, tmp_path / "new", ["--plan"]) == 0
    assert "a new run, every step runs" in capsys.readouterr().out
    assert not (tmp_path / "new").exists()

    # the thread count changes speed only: nothing is invalidated
    assert _distill(toy_data, run, ["teacher.threads=1"]) == 0
    err = capsys.readouterr().err
    assert "[run]" not in err and "[redo]" not in err
    # parallel changes llama.cpp's batches, which can flip a near-tied token: the teacher
    # steps are redone (and everything downstream of changed labels)
    assert _distill(toy_data, run, ["teacher.parallel=2"]) == 0
    err = capsys.readouterr().err
    assert "[redo] teacher labels the pool" in err
    assert _distill(toy_data, run) == 0  # back to the original: the cache serves it again
    capsys.readouterr()

    # a changed student setting re-runs the students, not the teacher
    assert _distill(toy_data, run, ["student.epochs=1"]) == 0
    err = capsys.readouterr().err
    assert "[done] teacher labels the pool" in err
    assert "[redo] stage 1/2: student A" in err

    assert main(["report", str(run)]) == 0
    assert "vanilla KD" in capsys.readouterr().out

    # every reported row's raw test outputs, for re-scoring elsewhere
    preds = tmp_path / "preds"
    assert main(["report", str(run), "--predictions", str(preds)]) == 0
    assert {p.stem for p in preds.glob("*.jsonl")} == set(res["models"]) | set(res["stage_students"])
    teacher = [json.loads(x) for x in (preds / "teacher.jsonl").read_text().splitlines()]
    raw = [json.loads(x) for x in (run / res["models"]["teacher"]["labels"]).read_text().splitlines()]
    assert teacher == [{"id": r["id"], "output": r["output"]} for r in raw] and len(teacher) == 6


def test_distill_resumes_after_kill(toy_data, tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "mckd.cli", "distill", "--data", str(toy_data), "--out", str(run),
           "--stages", "2", *TOY]
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    lines = []
    deadline = time.time() + 600
    for line in p.stderr:  # kill -9 once the first student has started training
        lines.append(line)
        if "[run] stage 1/2: student A" in line or time.time() > deadline:
            time.sleep(2)
            os.kill(p.pid, signal.SIGKILL)
            break
    p.wait()
    assert p.returncode == -signal.SIGKILL, "".join(lines)
    assert (run / "steps/teacher_pool/done.json").exists()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "[done] teacher labels the pool" in r.stderr
    assert "[done] teacher labels the test" in r.stderr
    assert "[run] teacher" not in r.stderr
    assert (run / "results.md").is_file()


def test_distill_a_tag_format_end_to_end(toy_data, tmp_path, capsys):
    """`--format chunks`: the chunks come from the gold trees of the same data; every teacher
    and student output is a BIO tagging of its words; the committee votes tags; the table has
    the tagging columns and the trivial references."""
    run = tmp_path / "run"
    assert _distill(toy_data, run, ["--format", "chunks", "baselines.committee=true",
                                    "baselines.sd_filter=true"]) == 0
    res = json.loads((run / "results.json").read_text())
    assert set(res["models"]) >= {"teacher", "sft_gold", "vanilla_kd", "2-stage", "committee",
                                  "kd_sd_filter"}
    for m in res["models"].values():
        assert m["n"] == 6 and 0.0 <= m["chunk_f1"] <= 100.0 and "chunk_f1_mean" in m
    assert list(res["references"]) == ["most frequent tag", "all O"]
    assert res["references"]["all O"]["chunk_f1"] == 0.0
    md = (run / "results.md").read_text()
    assert "| chunk F1 | chunk F1, sentence mean |" in md and "| most frequent tag |" in md
    for step in ("teacher_test", "final_1_test", "committee_test"):
        for r in (json.loads(x) for x in (run / "steps" / step / "labels.jsonl").open()):
            toks = r["target"].split()
            assert toks[0::2] == r["words"] and all(
                t == "O" or t[:2] in ("B-", "I-") for t in toks[1::2]), (step, r)
