"""The one checkpoint dict of a training run (model, optimizer, scheduler, RNG, history), written
atomically and read back with `weights_only=True`: what makes resume trivial.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from ..errors import MckdError


def save_checkpoint(path: Path, obj: dict) -> None:
    import torch

    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:  # torch reports a failed write as a RuntimeError
        tmp.unlink(missing_ok=True)  # a half-written checkpoint must not fill the disk
        import shutil

        free = shutil.disk_usage(path.parent).free
        why = getattr(e, "strerror", None) or str(e).splitlines()[0]
        kept = "the last good checkpoint is kept" if path.exists() else "no checkpoint yet"
        raise MckdError(f"{path}: cannot write the checkpoint ({why}; {free / 2**20:.0f} MiB "
                        f"free on its disk); {kept}, re-run to resume from it") from None


def load_checkpoint(path: Path) -> dict:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a torn or foreign file
        raise MckdError(f"{path}: unreadable checkpoint ({e}); delete it to start over") from None


def rng_state(torch) -> dict:
    st = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(torch, st: dict) -> None:
    py = st["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])
