import pytest

from mckd.errors import MckdError
from mckd.pipeline.rundir import RunDir


def test_steps_skip_redo_and_resume(tmp_path):
    logs = []
    calls = []

    def fn(d):
        calls.append(d.name)
        (d / "out.txt").write_text("x")
        return {"value": len(calls)}

    run = RunDir(tmp_path / "run", log=logs.append)
    assert run.run("a", {"k": 1}, fn)["value"] == 1
    assert run.run("a", {"k": 1}, fn)["value"] == 1      # same inputs: not re-run
    assert calls == ["a"]
    assert run.run("a", {"k": 2}, fn)["value"] == 2      # changed inputs: re-run, and said so
    assert any("[redo]" in s for s in logs)

    # an interrupted step (no done.json) with the same fingerprint is resumed in place
    def boom(d):
        (d / "partial").write_text("kept")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run.run("b", {"k": 1}, boom)
    seen = []
    run.run("b", {"k": 1}, lambda d: seen.append((d / "partial").read_text()) or {})
    assert seen == ["kept"]
    assert any("[resume]" in s for s in logs)
    # ... but partial work for other settings is thrown away, never mixed
    with pytest.raises(KeyboardInterrupt):
        run.run("c", {"k": 1}, boom)
    run.run("c", {"k": 9}, lambda d: seen.append((d / "partial").exists()) or {})
    assert seen[-1] is False


def test_refuses_a_foreign_directory(tmp_path):
    (tmp_path / "precious.txt").write_text("do not touch")
    with pytest.raises(MckdError, match="not an mckd run directory"):
        RunDir(tmp_path)
