"""The shared teacher cache (mckd.teacher.store): SQLite in WAL mode under $MCKD_CACHE_DIR."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mckd.cli import main
from mckd.errors import MckdError
from mckd.teacher.store import Store, open_store, store_path


def test_put_get_summary_prune(tmp_path):
    s = Store(tmp_path / "t.sqlite")
    s.put("k1", "smollm2 abc", {"target": "( ( a ) ( b ) )", "valid": True})
    s.put("k2", "smollm2 abc", {"target": "x"})
    s.put("k3", "qwen def", {"target": "y"})
    s.put("k1", "smollm2 abc", {"target": "changed"})  # first write wins (same key, same output)
    got = s.get_many(["k1", "k3", "nope"])
    assert got == {"k1": {"target": "( ( a ) ( b ) )", "valid": True}, "k3": {"target": "y"}}
    rows = {r["model"]: r["outputs"] for r in s.summary()}
    assert rows == {"qwen def": 1, "smollm2 abc": 2}
    assert s.prune(unused_days=1) == 0  # all used just now
    assert s.prune(model="qwen") == 1 and s.get_many(["k3"]) == {}
    assert s.prune() == 2 and s.summary() == []
    s.close()


def test_location_and_off_switch(tmp_path, monkeypatch):
    monkeypatch.delenv("MCKD_TEACHER_CACHE")
    monkeypatch.setenv("MCKD_CACHE_DIR", str(tmp_path / "c"))
    assert store_path() == tmp_path / "c" / "teacher.sqlite"
    monkeypatch.setenv("MCKD_TEACHER_CACHE", "off")
    assert store_path() is None and open_store() is None


def test_damaged_file_names_itself_and_the_way_out(tmp_path):
    bad = tmp_path / "t.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(MckdError, match=r"t\.sqlite.*MCKD_TEACHER_CACHE=off"):
        Store(bad).get_many(["k"])


WRITER = """
import sys, time
from mckd.teacher.store import Store
s = Store(sys.argv[1])
for i in range(int(sys.argv[3])):
    s.put(f"{sys.argv[2]}-{i}", "m", {"i": i})
    print(i, flush=True)
    time.sleep(float(sys.argv[4]))
"""


def test_concurrent_writers_and_kill9(tmp_path):
    db = tmp_path / "t.sqlite"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), tag, "150", "0"],
                              stdout=subprocess.DEVNULL) for tag in ("a", "b", "c")]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    s = Store(db)
    assert sum(r["outputs"] for r in s.summary()) == 450
    s.close()
    # killed in the middle of writing: every row it reported committed is there, file readable
    p = subprocess.Popen([sys.executable, "-c", WRITER, str(db), "k", "100000", "0.002"],
                         stdout=subprocess.PIPE, text=True)
    reported = -1
    t0 = time.time()
    while reported < 50 and time.time() - t0 < 60:
        reported = int(p.stdout.readline())
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    s = Store(db)
    got = s.get_many([f"k-{i}" for i in range(reported + 1)])
    assert len(got) == reported + 1
    s.close()


def test_cache_command(tmp_path, capsys):
    s = Store(os.environ["MCKD_TEACHER_CACHE"])
    s.put("k1", "smollm2 abc", {"t": 1})
    s.put("k2", "qwen def", {"t": 2})
    s.close()
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert "2 outputs" in out and "smollm2 abc" in out and "qwen def" in out
    assert main(["cache", "prune"]) == 2
    assert "--all" in capsys.readouterr().err
    assert main(["cache", "prune", "--model", "qwen"]) == 0
    out = capsys.readouterr().out
    assert "deleted 1" in out and "qwen" not in out.split("deleted 1")[1]


def test_cache_prune_refuses_arguments_that_widen_the_delete(tmp_path, capsys):
    # issue 37 item 3: --unused-days -5 (or nan) and --model "" each deleted every output
    s = Store(os.environ["MCKD_TEACHER_CACHE"])
    s.put("k1", "smollm2 abc", {"t": 1})
    s.put("k2", "qwen def", {"t": 2})
    s.close()
    for bad in (["--unused-days", "-5"], ["--unused-days", "nan"], ["--unused-days", "inf"],
                ["--model", ""], ["--model", "  "]):
        assert main(["cache", "prune", *bad]) == 2, bad
        err = capsys.readouterr().err
        assert ("--unused-days" in err or "--model" in err), err
    s = Store(os.environ["MCKD_TEACHER_CACHE"])
    assert len(s.summary()) == 2  # nothing deleted
    s.close()
    # info --model lists only the matching models (it used to ignore the filter)
    assert main(["cache", "info", "--model", "qwen"]) == 0
    out = capsys.readouterr().out
    assert "qwen def" in out and "smollm2 abc" not in out and "1 of them" in out



def test_prune_all_frees_a_damaged_store(tmp_path, capsys):
    # issue 37 item 5: prune could neither repair nor free a damaged store
    bad = Path(os.environ["MCKD_TEACHER_CACHE"])
    bad.write_bytes(b"this is not a database" * 100)
    assert main(["cache", "info"]) == 2
    assert "prune --all" in capsys.readouterr().err
    assert main(["cache", "prune", "--model", "x"]) == 2
    assert bad.exists()  # a filtered prune keeps it
    capsys.readouterr()
    assert main(["cache", "prune", "--all"]) == 0
    assert "damaged" in capsys.readouterr().out and not bad.exists()
