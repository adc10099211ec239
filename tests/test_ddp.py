"""Distributed training: `torchrun` with 2 CPU processes (gloo) trains a tiny student.

Each rank takes every second batch and DDP averages the gradients; rank 0 writes. The run must
leave the same files as a one-process run, with weights identical on both ranks.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("torch.distributed")

SCRIPT = textwrap.dedent("""
    import random, sys
    from mckd.student.config import TrainConfig
    from mckd.student.train import train_student

    vocab = "the a gene protein binds to of in mouse cells was were observed these".split()
    rng = random.Random(0)
    recs = []
    for i in range(32):
        w = [rng.choice(vocab) for _ in range(rng.randint(3, 6))]
        t = f"( {w[-1]} )"
        for x in reversed(w[:-1]):
            t = f"( ( {x} ) {t} )"
        recs.append({"id": str(i), "words": w, "target": t})
    cfg = TrainConfig(arch="t5-micro", epochs=2, batch_size=8, lr=3e-3, threads=1,
                      device="cpu", quiet=True, vocab_size=100, seed=1)
    train_student(recs, sys.argv[1], cfg)
""")


def _files(d):
    return sorted(p.name for p in d.iterdir())


def test_torchrun_two_cpu_processes(tmp_path):
    script = tmp_path / "train_ddp.py"
    script.write_text(SCRIPT)
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                        "--nproc_per_node=2", str(script), str(ddp)],
                       capture_output=True, text=True, timeout=600,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run([sys.executable, str(script), str(single)], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]

    assert _files(ddp) == _files(single)
    meta = json.loads((ddp / "mckd_student.json").read_text())
    one = json.loads((single / "mckd_student.json").read_text())
    assert meta["ddp"]["world_size"] == 2
    hashes = meta["ddp"]["param_sha256_per_rank"]
    assert len(hashes) == 2 and hashes[0] == hashes[1]
    assert one["ddp"] is None
    # each rank saw half the batches: half the optimizer steps of the one-process run
    assert meta["steps"] * 2 == one["steps"]
    assert len(meta["history"]) == 2 and meta["history"][-1]["loss"] < meta["history"][0]["loss"]
    # the tokenizer is built from the same records either way
    assert (ddp / "tokenizer.json").read_text() == (single / "tokenizer.json").read_text()
