"""Written files honour the umask (mkstemp alone would make every output private, mode 0600)."""

import os
import stat

import pytest

from mckd import jsonio
from mckd.data import import_treebank


@pytest.fixture()
def umask():
    """Set the process umask for one test, then put the old one back."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def _mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writers_give_0666_less_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    assert jsonio.current_umask() == mask
    jsonio.write_json_atomic(tmp_path / "results.json", {"a": 1})
    jsonio.write_jsonl_atomic(tmp_path / "labels.jsonl", [{"a": 1}])
    jsonio.write_text_atomic(tmp_path / "tokenizer.json", "{}")
    for name in ("results.json", "labels.jsonl", "tokenizer.json"):
        assert _mode(tmp_path / name) == mode, name
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_umask_without_proc(tmp_path, umask, monkeypatch):
    """Where /proc is absent the umask is read by setting it back at once."""
    monkeypatch.setattr(jsonio, "_PROC_STATUS", str(tmp_path / "no-proc"))
    umask(0o027)
    assert jsonio.current_umask() == 0o027
    assert os.umask(0o027) == 0o027  # left unchanged
    jsonio.write_json_atomic(tmp_path / "m.json", {})
    assert _mode(tmp_path / "m.json") == 0o640


def test_a_collaborator_can_read_an_import(tmp_path, umask):
    umask(0o022)
    tb = tmp_path / "tb"
    tb.mkdir()
    (tb / "a.tree").write_text("( (S (NP (NNS Dogs)) (VP (VBP bark))) )\n" * 3)
    import_treebank(str(tb / "*.tree"), tmp_path / "out", splits="1,0,1")
    for name in ("manifest.json", "train.jsonl", "test.jsonl"):
        assert _mode(tmp_path / "out" / name) == 0o644


def test_a_trained_and_exported_student_is_readable_by_the_group(tmp_path, umask):
    # issue 37 item 10: model.safetensors came out 0600 under umask 022 (transformers writes it
    # through a private temp file)
    from mckd.student.config import TrainConfig
    from mckd.student.export import export_student
    from mckd.student.train import train_student

    umask(0o022)
    recs = [{"id": str(i), "words": ["a", "b", "c"][: 1 + i % 3],
             "target": "(S " + " ".join(["a", "b", "c"][: 1 + i % 3]) + ")"} for i in range(8)]
    cfg = TrainConfig(arch="t5-micro", epochs=1, max_steps=1, batch_size=4, threads=1,
                      quiet=True, vocab_size=60)
    student = train_student(recs, tmp_path / "student", cfg)
    export_student(student, tmp_path / "model", quantization="int8")
    files = [f for d in ("student", "model") for f in (tmp_path / d).iterdir() if f.is_file()]
    assert any(f.name == "model.safetensors" for f in files)
    assert {f.name: oct(_mode(f)) for f in files if _mode(f) != 0o644} == {}
    assert _mode(tmp_path / "model") == 0o755
