"""One writer at a time: run-directory and cache locks between real processes."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from mckd import locks
from mckd.errors import MckdError
from mckd.pipeline.rundir import RunDir


def _python(code: str, *args: str) -> subprocess.Popen:
    """Start a Python child running `code` (stdout/stderr captured as text)."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


HOLD = """
    import sys, time
    from mckd import locks
    lock = locks.acquire(sys.argv[1], sys.argv[2])
    print("ready", flush=True)
    time.sleep(float(sys.argv[3]))
"""

TRY = """
    import sys, time
    from mckd import locks
    from mckd.errors import MckdError
    start = float(sys.argv[2])
    while time.time() < start:  # all racers try at the same instant
        time.sleep(0.001)
    try:
        lock = locks.acquire(sys.argv[1])
    except MckdError as e:
        print("busy", e, flush=True)
    else:
        print("got", flush=True)
        time.sleep(1.5)  # hold it while the others try
"""


def _wait_ready(p: subprocess.Popen) -> None:
    line = p.stdout.readline()
    assert line.strip() == "ready", p.stderr.read()


def test_lock_records_its_holder_and_is_reentrant(tmp_path):
    f = tmp_path / "run" / ".lock"
    with locks.exclusive(f) as outer:
        info = json.loads(f.read_text())
        assert info["pid"] == os.getpid() and info["host"] and info["since"] and info["command"]
        with locks.exclusive(f):  # the CLI and RunDir both take it in one process
            pass
        assert json.loads(f.read_text())["pid"] == os.getpid()  # still held after the inner one
        outer.release()
        outer.release()  # idempotent
    assert f.exists() and f.read_text() == ""  # released: no stale holder text left behind
    with locks.exclusive(f):  # and free again
        pass


def test_processes_racing_for_one_lock_get_exactly_one_winner(tmp_path):
    f = tmp_path / ".lock"
    start = f"{time.time() + 1.0}"
    racers = [_python(TRY, str(f), start) for _ in range(4)]
    outs = [p.communicate(timeout=60)[0] for p in racers]
    assert sum(o.startswith("got") for o in outs) == 1, outs
    busy = [o for o in outs if o.startswith("busy")]
    assert len(busy) == 3
    assert all("is in use by" in o and "\n" == o[-1] and o.count("\n") == 1 for o in busy)


def test_message_names_pid_host_command_and_start(tmp_path):
    f = tmp_path / ".lock"
    holder = _python(HOLD, str(f), "teacher cache", "30")
    try:
        _wait_ready(holder)
        with pytest.raises(locks.LockedError) as e:
            locks.acquire(f, "teacher cache", target="cache.jsonl")
        msg = str(e.value)
        assert isinstance(e.value, MckdError)
        assert msg.startswith("teacher cache cache.jsonl is in use by")
        assert f"pid {holder.pid} on " in msg and "since 20" in msg and "-c" in msg
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_killed_process_never_blocks(tmp_path):
    f = tmp_path / ".lock"
    holder = _python(HOLD, str(f), "run directory", "60")
    _wait_ready(holder)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert json.loads(f.read_text())["pid"] == holder.pid  # the dead holder's record is still there
    with locks.exclusive(f):  # ... and does not block
        assert json.loads(f.read_text())["pid"] == os.getpid()


SECOND_WRITER = """
    import sys
    from mckd.pipeline.rundir import RunDir
    from mckd.errors import MckdError
    run = RunDir(sys.argv[1], log=lambda s: None)
    try:
        run.run("a", {"k": 2}, lambda d: {})
    except MckdError as e:
        print(e)
    else:
        print("ran")
"""


def test_second_writer_of_a_run_directory_fails_at_once(tmp_path):
    root = tmp_path / "run"
    first = RunDir(root, log=lambda s: None)
    first.run("a", {"k": 1}, lambda d: {})  # the first step takes the lock
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(SECOND_WRITER), str(root)],
                         capture_output=True, text=True, timeout=60).stdout
    assert time.time() - t0 < 30  # fails at once, never waits
    assert out.startswith(f"run directory {root} is in use by pid {os.getpid()}"), out
    assert (root / "steps" / "a" / "done.json").exists()
    # a reader (mckd report) opens the same run directory without the lock
    RunDir(root, log=lambda s: None)
    first.release()
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(SECOND_WRITER), str(root)],
                         capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "ran"


def test_run_dir_lock_is_freed_when_the_run_dir_is_dropped(tmp_path):
    root = tmp_path / "run"
    with RunDir(root, log=lambda s: None, lock=True):
        pass
    run = RunDir(root, log=lambda s: None, lock=True)
    del run  # no release(): the finalizer frees it
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(SECOND_WRITER), str(root)],
                         capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "ran"


def test_teacher_cache_lock_sits_beside_the_cache(tmp_path):
    cache = tmp_path / "teacher.jsonl.cache.jsonl"
    assert locks.cache_lock(cache) == tmp_path / "teacher.jsonl.cache.jsonl.lock"
    holder = _python(HOLD, str(locks.cache_lock(cache)), "teacher cache", "30")
    try:
        _wait_ready(holder)
        with pytest.raises(locks.LockedError, match=f"teacher cache {cache} is in use by pid "):
            with locks.exclusive(locks.cache_lock(cache), "teacher cache", cache):
                pass
    finally:
        holder.kill()
        holder.wait()
