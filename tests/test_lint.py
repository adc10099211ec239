"""The linter's rules (pyproject.toml [tool.ruff]) hold over the package, tests, benchmarks and
experiments, so the README's test command and CI both enforce them."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "python", "tests",
                        "benchmarks", "experiments"], cwd=ROOT, capture_output=True, text=True)
    assert "No module named ruff" not in r.stderr, "ruff is a test dependency: pip install -e '.[test]'"
    assert r.returncode == 0, r.stdout + r.stderr
