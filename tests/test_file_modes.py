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
