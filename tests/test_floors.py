"""The declared Python and llama-cpp-python floors are true."""

import re
import sys
from pathlib import Path

import pytest

from mckd.config import tomllib

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _floor(spec: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.search(r">=\s*([\d.]+)", spec).group(1).split("."))


def test_python_floor_has_a_toml_parser():
    """config.py needs tomllib (3.11+); below that the `tomli` backport must be declared."""
    floor = _floor(PYPROJECT["requires-python"])
    if floor < (3, 11):
        assert any(d.replace(" ", "").startswith("tomli") and "python_version<'3.11'" in
                   d.replace(" ", "").replace('"', "'") for d in PYPROJECT["dependencies"])
    assert sys.version_info[:2] >= floor[:2]


def test_llama_cpp_floor_binds_every_api_the_engine_calls():
    L = pytest.importorskip("llama_cpp")
    from importlib.metadata import version

    spec = next(d for d in PYPROJECT["optional-dependencies"]["teacher"]
                if d.startswith("llama-cpp-python"))
    installed = tuple(int(x) for x in re.findall(r"\d+", version("llama_cpp_python"))[:3])
    assert installed >= _floor(spec), "the installed llama-cpp-python is below the declared floor"
    src = "".join(p.read_text() for p in (REPO / "python/mckd/teacher").glob("*.py"))
    names = set(re.findall(r"\bL\.((?:llama|LLAMA)_\w+)", src))
    assert {"llama_get_memory", "llama_memory_seq_cp"} <= names
    assert [n for n in names if not hasattr(L, n)] == []
    fields = {f[0] for f in L.llama_context_params._fields_}
    used = set(re.findall(r"\bcp\.(\w+)\s*=", src))
    assert used and used <= fields, used - fields
