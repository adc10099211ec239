"""Progress bars for the long steps (training, export, import, relabel): rate and ETA on stderr
when it is a terminal, nothing when it is not (logs, pipes, CI) or when progress is switched off
(`--no-progress`). tqdm draws them; without tqdm there is no bar."""

from __future__ import annotations

import sys


def bar(total: int | None, desc: str, unit: str = "it", enabled: bool = True, leave: bool = False):
    """A tqdm bar, or None where no bar should be drawn (callers test for None)."""
    if not enabled or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
                mininterval=0.5, leave=leave)
