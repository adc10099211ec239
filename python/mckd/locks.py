"""One writer at a time: exclusive, non-blocking file locks that name their holder.

A lock is `flock(2)` on a small lock file (RUN_DIR/.lock for a run directory, CACHE.lock beside
a teacher cache). The kernel drops a flock when its holder dies, even by `kill -9`, so a lock
file left behind never blocks: its content (pid, host, command, start time) is only read to
explain a refusal, and the next holder overwrites it. The file itself is never deleted, because
deleting a flock'ed file lets two processes each lock a different inode of the "same" lock.

Within one process a lock is re-entrant (a count per path): flock conflicts between two open
file descriptions even in one process, and the CLI and the run directory both take the same
lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Iterator

from .errors import MckdError

RUN_LOCK = ".lock"  # the lock file inside a run directory


class LockedError(MckdError):
    """Another process holds the lock; the message names it."""


class _Held:
    def __init__(self, fd: int):
        self.fd = fd
        self.depth = 1


_held: dict[str, _Held] = {}       # real path of the lock file -> this process's hold
_guard = threading.Lock()


def holder_info() -> dict:
    """What a lock file records about its holder."""
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "command": " ".join(sys.argv) or sys.executable,
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _describe(fd: int) -> str:
    # The holder may be between truncating and writing its record: then say we do not know.
    try:
        info = json.loads(os.pread(fd, 65536, 0).decode("utf-8"))
        return (f"pid {info['pid']} on {info['host']}, running `{info['command']}` "
                f"since {info['since']}")
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not recorded itself yet"


class Lock:
    """A held lock; `release()` (or process exit) frees it."""

    def __init__(self, key: str):
        self._key = key
        self._released = False

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        with _guard:
            held = _held[self._key]
            held.depth -= 1
            if held.depth == 0:
                del _held[self._key]
                try:
                    os.ftruncate(held.fd, 0)  # no stale holder text for the next reader
                finally:
                    os.close(held.fd)         # closing the last descriptor drops the flock

    def __enter__(self) -> Lock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def acquire(lock_file: str | os.PathLike, what: str = "run directory",
            target: str | os.PathLike | None = None) -> Lock:
    """Take the exclusive lock on `lock_file` now or raise LockedError naming the holder.

    `what` and `target` (default: the lock file's folder) only word the error message.
    """
    p = Path(lock_file)
    p.parent.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(p)
    with _guard:
        if key in _held:
            _held[key].depth += 1
            return Lock(key)
        fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = _describe(fd)
            os.close(fd)
            raise LockedError(f"{what} {target or p.parent} is in use by {who} "
                              f"(lock {p}); wait for it to finish or stop it") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder_info()) + "\n").encode("utf-8"), 0)
        _held[key] = _Held(fd)
        return Lock(key)


@contextmanager
def exclusive(lock_file: str | os.PathLike, what: str = "run directory",
              target: str | os.PathLike | None = None) -> Iterator[Lock]:
    """`with exclusive(path, what="teacher cache"):` holds the lock for the block."""
    lock = acquire(lock_file, what, target)
    try:
        yield lock
    finally:
        lock.release()


def run_dir_lock(root: str | os.PathLike) -> Path:
    """The lock file of a run directory."""
    return Path(root) / RUN_LOCK


def cache_lock(cache_path: str | os.PathLike) -> Path:
    """The lock file of a cache file (e.g. the teacher's): CACHE.lock beside it."""
    p = Path(cache_path)
    return p.with_name(p.name + ".lock")
