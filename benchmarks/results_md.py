"""benchmarks/RESULTS.md holds one `## ...` section per benchmark; each script rewrites its own."""

from __future__ import annotations

from pathlib import Path

from mckd.jsonio import write_text_atomic

RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"


def update_section(title: str, block: str, path: Path = RESULTS_MD) -> None:
    """Replace the section headed `title` with `block` (which starts with that heading), or
    append it; every other section is left as it is. Written atomically."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n\n"
    start = text.find(title + "\n")
    if start >= 0:
        nxt = text.find("\n## ", start + 1)
        text = text[:start] + block + ("\n" + text[nxt + 1:] if nxt >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    write_text_atomic(path, text)
