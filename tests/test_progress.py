"""Long steps show progress (rate, ETA) on a terminal, and nothing when stderr is not one or
--no-progress is given (issue 36)."""

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios


def _run(args, tty: bool, tmp_path) -> str:
    """stderr of `mckd ARGS`, on a pseudo-terminal or a pipe."""
    cmd = [sys.executable, "-m", "mckd.cli", *args]
    if not tty:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300).stderr
    master, slave = pty.openpty()
    # a terminal of 100 columns (a fresh pty has none, and tqdm fits its bar to the width)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    p.wait(timeout=300)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


def _labels(tmp_path, n: int = 32):
    """n short right-branching-ish training records in tmp_path/train.jsonl (also
    tests/test_disk_full.py's)."""
    words = "the gene binds a protein cells were observed in mouse".split()
    recs = [{"id": str(i), "words": words[i % 5:i % 5 + 3],
             "target": "( " + " ".join(f"( {w} )" for w in words[i % 5:i % 5 + 3]) + " )"}
            for i in range(n)]
    f = tmp_path / "train.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return f


def test_training_and_export_show_progress_on_a_terminal_only(tmp_path):
    train = _labels(tmp_path)
    base = ["train", "--train", str(train), "--arch", "t5-micro", "--epochs", "1",
            "vocab_size=100", "batch_size=8", "threads=1"]
    err = _run([*base, "--out", str(tmp_path / "a")], True, tmp_path)
    assert "epoch 1/1:" in err and ("batch/s" in err or "s/batch" in err), err
    assert "/4 [" in err, err  # steps of the epoch's total
    err = _run(["export", str(tmp_path / "a"), "--out", str(tmp_path / "m")], True, tmp_path)
    assert "export a" in err and "/5 [" in err, err
    # no terminal, or --no-progress: the epoch line only, no bar
    for tty, extra in ((False, []), (True, ["--no-progress"])):
        out = tmp_path / f"b{tty}"
        err = _run([*base, "--out", str(out), *extra], tty, tmp_path)
        assert "epoch 1/1: loss" in err and "batch/s" not in err and "s/batch" not in err, err
