"""Bad inputs to `mckd data import` and `mckd distill`: one clear line naming file/line, nothing lost."""

import json
import subprocess
import sys
import textwrap

import pytest

from mckd.cli import main
from mckd.data import import_treebank

GOOD = "( (S (NP (NNS Dogs)) (VP (VBP bark))) )\n"


@pytest.mark.parametrize("bad, why", [
    (b"( Dogs )\n", "POS tag"),                    # no POS tags: aborted the whole import before
    (b"( (S (NP (NNS Cats) (VP (VBP purr))) )\n", "missing"),  # unbalanced bracket
    (b"( (S (NP (NNS Ca\xfft)) (VP (VBP purr))) )\n", "invalid UTF-8"),
    (b")\n", "expected '('"),                      # a stray ')'
    (b"( () )\n", "empty brackets"),
])
def test_one_bad_tree_is_reported_and_the_good_ones_import(tmp_path, capsys, bad, why):
    tb = tmp_path / "tb"
    tb.mkdir()
    (tb / "a.tree").write_bytes(GOOD.encode() + bad + GOOD.encode() + GOOD.encode())
    out = tmp_path / "out"
    assert main(["data", "import", str(tb / "*.tree"), "--out", str(out), "--splits", "1,0,1"]) == 0
    err = capsys.readouterr().err.splitlines()
    skipped = [s for s in err if s.startswith("skipped:")]
    assert len(skipped) == 1 and f"{tb / 'a.tree'}:2: tree 2: " in skipped[0] and why in skipped[0]
    m = json.loads((out / "manifest.json").read_text())
    assert m["trees_skipped"] == 1 and len(m["problems"]) == 1
    assert sum(v["count"] for v in m["outputs"].values()) == 3  # every good tree kept


def _treebank(tmp_path, n=12):
    tb = tmp_path / "tb"
    tb.mkdir(exist_ok=True)
    words = ["Dogs", "Cats", "Birds", "Cows", "Ants", "Bees", "Owls", "Rats", "Elks", "Yaks",
             "Gnus", "Emus", "Hens", "Pigs"]
    (tb / "a.tree").write_text("".join(
        f"( (S (NP (NNS {w})) (VP (VBP bark) (ADVP (RB loudly)))) )\n" for w in words[:n]))
    return tb


@pytest.fixture()
def data_dir(tmp_path):
    out = tmp_path / "data"
    import_treebank(str(_treebank(tmp_path) / "*.tree"), out, splits="1,0,1")
    return out


def _one_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_data_import_out_at_a_file_or_run_dir(tmp_path, capsys):
    tb = _treebank(tmp_path)
    f = tmp_path / "afile"
    f.write_text("keep me")
    assert main(["data", "import", str(tb / "*.tree"), "--out", str(f)]) == 2
    assert f"--out {f}: exists and is not a directory" in _one_error(capsys)
    assert main(["data", "import", str(tb / "*.tree"), "--out", str(f / "sub")]) == 2
    assert "cannot create the folder" in _one_error(capsys)
    assert f.read_text() == "keep me"
    run = tmp_path / "run"
    (run / "steps").mkdir(parents=True)
    assert main(["data", "import", str(tb / "*.tree"), "--out", str(run)]) == 2
    assert "is an mckd run directory" in _one_error(capsys)
    assert not (run / "manifest.json").exists()


DISTILL = ["data.labeled=2", "teacher.shots=1"]


def test_distill_out_at_a_file(data_dir, tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("keep me")
    assert main(["distill", "--data", str(data_dir), "--out", str(f), *DISTILL]) == 2
    assert f"--out {f}: exists and is not a directory" in _one_error(capsys)
    assert f.read_text() == "keep me"


def test_distill_out_at_a_data_import_keeps_its_manifest(data_dir, tmp_path, capsys):
    before = (data_dir / "manifest.json").read_bytes()
    assert main(["distill", "--data", str(data_dir), "--out", str(data_dir), *DISTILL]) == 2
    assert "is the --data folder" in _one_error(capsys)
    other = tmp_path / "other_import"
    import_treebank(str(tmp_path / "tb" / "*.tree"), other, splits="1,0,1")
    assert main(["distill", "--data", str(data_dir), "--out", str(other), *DISTILL]) == 2
    assert "holds a data import" in _one_error(capsys)
    assert (data_dir / "manifest.json").read_bytes() == before
    assert not (other / "steps").exists() and not (other / ".lock").exists()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("x")
    assert main(["distill", "--data", str(data_dir), "--out", str(foreign), *DISTILL]) == 2
    assert "not an mckd run directory" in _one_error(capsys)


def test_distill_refused_leaves_no_run_dir_behind(data_dir, tmp_path, capsys):
    # issue 37 item 9: RUN_DIR/.lock and steps/ were created before the teacher was rejected
    run = tmp_path / "run"
    assert main(["distill", "--data", str(data_dir), "--out", str(run), *DISTILL,
                 "--local-teacher", str(tmp_path / "nope.gguf")]) == 2
    assert "nope.gguf" in _one_error(capsys)
    assert not run.exists()


def test_distill_into_a_busy_run_dir_names_the_holder(data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        from mckd.pipeline.rundir import RunDir
        run = RunDir(sys.argv[1], lock=True)  # kept: dropping it frees the lock
        print("ready", flush=True)
        time.sleep(60)
    """), str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert main(["distill", "--data", str(data_dir), "--out", str(run), *DISTILL]) == 2
        err = _one_error(capsys)
        assert f"run directory {run} is in use by pid {holder.pid} on " in err
        assert "since " in err
        assert not (run / "manifest.json").exists()  # the refused run wrote nothing
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("argv, msg", [
    (["train", "--train", "{t}", "--out", "{f}"], "--out {f}: exists and is not a directory"),
    (["train", "--train", "{t}", "--out", "{f}/sub"], "--out {f}/sub: {f} is not a directory"),
    (["teach", "--demos", "{t}", "--input", "{t}", "--out", "{d}"], "--out {d}: is a directory"),
    (["relabel", "{d}", "--input", "{t}", "--out", "{d}"], "--out {d}: is a directory"),
    (["export", "{d}", "--out", "{f}"], "--out {f}: exists and is not a directory"),
])
def test_every_command_refuses_an_impossible_out_before_working(tmp_path, capsys, argv, msg):
    t, f, d = tmp_path / "t.jsonl", tmp_path / "afile", tmp_path / "adir"
    t.write_text('{"id": "a", "source": "Dogs bark", "target": "( ( Dogs ) ( bark ) )"}\n')
    f.write_text("keep me")
    d.mkdir()
    fill = {"t": t, "f": f, "d": d}
    assert main([a.format(**fill) for a in argv]) == 2
    assert msg.format(**fill) in _one_error(capsys)
    assert f.read_text() == "keep me" and list(d.iterdir()) == []


def test_an_unforeseen_path_error_is_one_line(monkeypatch, capsys):
    import mckd.commands.report as report

    def boom(args):
        raise PermissionError(13, "Permission denied", "/srv/run/results.json")

    monkeypatch.setattr(report, "run", boom)
    assert main(["report", "/srv/run"]) == 2
    assert "mckd report: error: /srv/run/results.json: Permission denied" in _one_error(capsys)


def test_teach_instruction_file_that_cannot_be_read_names_it(tmp_path, capsys):
    d, i = tmp_path / "demos.jsonl", tmp_path / "in.jsonl"
    d.write_text('{"id": "d", "source": "a b", "targets": {"unlabeled": "( ( a ) ( b ) )"}}\n')
    i.write_text('{"id": "x", "source": "a b"}\n')
    assert main(["teach", "--demos", str(d), "--input", str(i), "--out", str(tmp_path / "o.jsonl"),
                 "--instruction", f"@{tmp_path / 'missing.txt'}"]) == 2
    assert "missing.txt" in capsys.readouterr().err
