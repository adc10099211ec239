"""The pipeline is not tied to trees: a generic JSONL source -> target task (slot tagging written
as `tok TAG tok TAG ...`) runs through the same `mckd distill`, scored by exact match, token F1
and conlleval chunk F1."""

import json
import random

import pytest

from mckd.cli import main
from mckd.metrics.score import score

CITIES = ["boston", "denver", "paris", "tokyo", "dallas", "oslo", "lima", "rome"]
DAYS = ["monday", "friday", "sunday", "today", "tomorrow"]


def _synthetic(n: int, seed: int) -> list[dict]:
    """Flight requests with from/to/day slots, IOB tags interleaved with the tokens."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b = rng.sample(CITIES, 2)
        toks = [("show", "O"), ("flights", "O"), ("from", "O"), (a, "B-from"), ("to", "O"),
                (b, "B-to")]
        if rng.random() < 0.5:
            toks += [("on", "O"), (rng.choice(DAYS), "B-day")]
        out.append({"id": f"s{seed}-{i}", "source": " ".join(t for t, _ in toks),
                    "target": " ".join(f"{t} {g}" for t, g in toks)})
    return out


@pytest.fixture
def text_data(tmp_path):
    d = tmp_path / "flights"
    d.mkdir()
    for name, n, seed in (("train", 40, 1), ("test", 8, 2)):
        (d / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _synthetic(n, seed)))
    return d


def test_text_scores():
    gold = _synthetic(4, 3)
    preds = [{"id": g["id"], "target": g["target"]} for g in gold]
    preds[0]["target"] = preds[0]["target"].replace("B-from", "B-to")
    m = score(gold, preds, "text")
    assert m["n"] == 4 and m["exact_match"] == pytest.approx(75.0)
    assert 0 < m["chunk_f1"] < 100 and 0 < m["token_f1"] < 100


@pytest.mark.slow
def test_distill_text_task(text_data, small_teacher, tmp_path, capsys):
    pytest.importorskip("torch")
    run = tmp_path / "run"
    args = ["distill", "--data", str(text_data), "--out", str(run), "--format", "text",
            "--stages", "2", "data.labeled=6", "data.max_test=8", "teacher.shots=3",
            "teacher.demo_selection=fixed", "teacher.parallel=4", "student.epochs=2",
            "student.arch=t5-tiny"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "chunk F1" in out and "2-stage MCKD" in out
    res = json.loads((run / "results.json").read_text())
    assert res["format"] == "text"
    assert set(res["models"]) >= {"teacher", "sft_gold", "vanilla_kd", "2-stage"}
    for m in res["models"].values():
        assert m["n"] == 8
        assert {"exact_match", "token_f1", "chunk_f1"} <= set(m)
    assert set(res["pool_quality"]) == {"teacher", "stage1"}
    assert main(args) == 0  # a second run is a no-op
    assert "[run]" not in capsys.readouterr().err
