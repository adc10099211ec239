"""Student kinds (mckd.student.kinds): one registration each, and nothing else branches on them."""

import re
from pathlib import Path

import pytest

from mckd.errors import MckdError
from mckd.student import kinds

PKG = Path(__file__).resolve().parent.parent / "python" / "mckd"


def test_each_kind_is_registered_once_by_its_name():
    assert set(kinds.KINDS) == {"seq2seq", "causal"}
    for name, kind in kinds.KINDS.items():
        assert kind.name == name and kind.ct2_class in ("Translator", "Generator")


def test_a_folder_records_its_kind_and_is_read_back():
    for kind in kinds.KINDS.values():
        assert kinds.of_meta(kind.meta()) is kind
    assert kinds.of_meta({}) is kinds.KINDS["seq2seq"]  # folders from before the key existed
    with pytest.raises(MckdError, match="student_kind 'rnn'"):
        kinds.of_meta({"student_kind": "rnn"})


def test_from_scratch_is_seq2seq_and_only_causal_students_constrain():
    assert kinds.of_init("") is kinds.KINDS["seq2seq"]
    assert [k.name for k in kinds.KINDS.values() if k.can_constrain] == ["causal"]


def test_no_module_outside_the_kinds_branches_on_the_kind():
    """Training, export and relabel ask the kind (kinds.py); causal.py is the causal kind's own
    module and tokenizer.py the notation. A new kind is one class and one registration."""
    pattern = re.compile(r"tok\.causal\b|student_kind\"?\]?\s*==|is_causal_init\(")
    allowed = {"student/kinds.py", "student/causal.py", "student/tokenizer.py"}
    found = []
    for f in sorted(PKG.rglob("*.py")):
        rel = f.relative_to(PKG).as_posix()
        if rel in allowed:
            continue
        found += [f"{rel}:{i}" for i, line in enumerate(f.read_text().splitlines(), 1)
                  if pattern.search(line)]
    assert found == []
