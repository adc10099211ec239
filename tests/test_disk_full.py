"""A full disk, for real: a small tmpfs mounted in a private mount namespace (`unshare -m`, so
nothing outside this test sees it, and it vanishes with the process). Skipped where the machine
does not allow mount namespaces (not root, or no CAP_SYS_ADMIN)."""

import shutil
import subprocess
import sys
import textwrap

import pytest


def _namespaces_work(tmp) -> bool:
    if shutil.which("unshare") is None:
        return False
    d = tmp / "probe"
    d.mkdir()
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                        f"mount -t tmpfs -o size=64k tmpfs '{d}'"],
                       capture_output=True, timeout=30)
    return r.returncode == 0


@pytest.fixture(scope="module")
def full_disk(tmp_path_factory):
    """run(script, size): the shell `script` run with $D a fresh tmpfs of `size` bytes."""
    tmp = tmp_path_factory.mktemp("diskfull")
    if not _namespaces_work(tmp):
        pytest.skip("no private mount namespaces here (unshare -m / mount tmpfs refused)")

    def run(script: str, size: str, name: str) -> str:
        d = tmp / name
        d.mkdir()
        sh = f"set -u\nmount -t tmpfs -o size={size} tmpfs '{d}'\nD='{d}'\n" \
             f"PY='{sys.executable}'\n" + textwrap.dedent(script)
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", sh],
                           capture_output=True, text=True, timeout=600)
        return r.stdout + r.stderr
    return run


def test_writers_name_the_file_on_a_full_disk(full_disk):
    # issue 37 item 6: relabel and teach ended in `OSError: [Errno 28]` without the path
    out = full_disk("""
        "$PY" - "$D" <<'PY'
        import sys
        from mckd.jsonio import JsonlAppender, write_json_atomic
        from pathlib import Path
        d = Path(sys.argv[1])
        try:
            write_json_atomic(d / "big.json", {"x": "y" * 200_000})
        except OSError as e:
            print("atomic:", e.filename, e.strerror)
        print("leftovers:", sorted(p.name for p in d.iterdir()))
        try:
            with JsonlAppender(d / "labels.jsonl") as app:
                for i in range(10_000):
                    app.append({"i": i, "pad": "z" * 100})
        except OSError as e:
            print("appender:", e.filename, e.strerror)
        n = sum(1 for _ in open(d / "labels.jsonl"))
        print("lines kept:", n)
        PY
    """, "64k", "writers")
    assert "atomic: " in out and "big.json No space left on device" in out, out
    assert "leftovers: []" in out, out  # no temp file left filling the disk
    assert "labels.jsonl No space left on device" in out, out
    assert int(out.split("lines kept:")[1].split()[0]) > 0


def test_train_on_a_full_disk_keeps_the_last_good_checkpoint_and_resumes(full_disk, tmp_path):
    # issue 37 item 6: `mckd train` ended in a torch RuntimeError, lost the epoch and left a
    # checkpoint.pt.tmp filling the disk
    from test_progress import _labels

    train = _labels(tmp_path, 24)
    # the t5-micro checkpoint (model + optimizer) is ~11 MB: the first fits in 16 MB, a second
    # beside it does not
    cmd = (f'"$PY" -m mckd.cli train --train {train} --out "$D/s" --arch t5-micro --epochs 2 '
           "vocab_size=100 batch_size=8 threads=1")
    out = full_disk(f"""
        {cmd} > "$D/../log1" 2>&1; echo "rc1=$?"
        tail -2 "$D/../log1"
        echo "files1: $(ls -a "$D/s" | tr '\\n' ' ')"
        "$PY" -c "import torch; print('epoch_kept:', torch.load('$D/s/checkpoint.pt', weights_only=True)['epoch'])"
        mount -o remount,size=128m "$D"
        {cmd} > "$D/../log2" 2>&1; echo "rc2=$?"
        head -1 "$D/../log2"
        echo "files2: $(ls -a "$D/s" | tr '\\n' ' ')"
    """, "16m", "train")
    assert "rc1=2" in out, out
    assert "checkpoint.pt: cannot write the checkpoint" in out and "last good checkpoint is kept" \
        in out, out
    assert "checkpoint.pt.tmp" not in out.split("files1:")[1].split("\n")[0], out
    assert "epoch_kept: 1" in out, out
    assert "rc2=0" in out and "mckd_student.json" in out.split("files2:")[1], out
    assert "resuming " in out and "after epoch 1" in out, out  # the first epoch is not redone
