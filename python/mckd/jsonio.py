"""JSON / JSONL reading and atomic writing shared by every step.

Readers name the file and line of a bad record; writers never leave a half-written file
behind (write to a temporary file in the same folder, fsync, then rename). Written files get
the mode a plain `open()` would give them (0666 less the umask), not mkstemp's private 0600, so
collaborators can read a shared run.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Iterator

from .errors import MckdError


def read_jsonl(path: str | os.PathLike, *, required: Iterable[str] = ()) -> list[dict]:
    """Read a JSONL file; every record must be an object holding the `required` keys."""
    return list(iter_jsonl(path, required=required))


def iter_jsonl(path: str | os.PathLike, *, required: Iterable[str] = (),
               tolerate_torn_tail: bool = False) -> Iterator[dict]:
    """Yield the records of a JSONL file, with errors naming file and line.

    With `tolerate_torn_tail`, a last line without a newline that does not parse is ignored:
    that is what a killed appender leaves behind, and resuming must not fail on it.
    """
    for _, rec in iter_jsonl_lines(path, required=required, tolerate_torn_tail=tolerate_torn_tail):
        yield rec


def iter_jsonl_lines(path: str | os.PathLike, *, required: Iterable[str] = (),
                     tolerate_torn_tail: bool = False) -> Iterator[tuple[int, dict]]:
    """Like `iter_jsonl`, yielding (line number, record) so later checks can name the line."""
    required = tuple(required)
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise MckdError(f"{p}: file not found") from None
    except IsADirectoryError:
        raise MckdError(f"{p}: is a directory, expected a JSONL file") from None
    except OSError as e:
        raise MckdError(f"{p}: cannot read ({e.strerror})") from None
    lines = raw.split(b"\n")
    torn_ok = tolerate_torn_tail and not raw.endswith(b"\n")
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
            rec = json.loads(text)
        except UnicodeDecodeError as e:
            raise MckdError(f"{p}:{i}: invalid UTF-8 ({e.reason} at byte {e.start})") from None
        except json.JSONDecodeError as e:
            if torn_ok and i == len(lines):
                return
            raise MckdError(f"{p}:{i}: invalid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(rec, dict):
            raise MckdError(f"{p}:{i}: expected a JSON object, got {type(rec).__name__}")
        missing = [k for k in required if k not in rec]
        if missing:
            raise MckdError(f"{p}:{i}: record is missing field(s) {', '.join(missing)}")
        yield i, rec


def check_out_path(path: str | os.PathLike, kind: str = "file", flag: str = "--out") -> None:
    """Refuse, before any work, an output path that cannot be written as a `kind` (file/dir)."""
    p = Path(path)
    if kind == "dir" and p.exists() and not p.is_dir():
        raise MckdError(f"{flag} {p}: exists and is not a directory; choose a folder path")
    if kind == "file" and p.is_dir():
        raise MckdError(f"{flag} {p}: is a directory; give a file path")
    for parent in p.parents:  # the nearest existing ancestor must be a folder
        if parent.exists():
            if not parent.is_dir():
                raise MckdError(f"{flag} {p}: {parent} is not a directory")
            break


_umask_guard = threading.Lock()
_PROC_STATUS = "/proc/self/status"  # Linux shows the umask here; reading it changes nothing


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows."""
    try:
        with open(_PROC_STATUS, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    # Elsewhere the only way to read it is to set it; the lock keeps our threads from racing.
    with _umask_guard:
        old = os.umask(0o022)
        os.umask(old)
    return old


def honour_umask(folder: str | os.PathLike) -> None:
    """Give the files directly in `folder` the mode a plain `open()` would have given them
    (0666 less the umask): libraries that write through a private temp file (transformers'
    safetensors writer) leave them 0600, unreadable to the collaborators the umask admits."""
    mode = 0o666 & ~current_umask()
    for f in Path(folder).iterdir():
        if f.is_file() and not f.is_symlink():
            os.chmod(f, mode)


def _atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~current_umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError):
            raise _named(e, p) from None
        raise


def _named(e: OSError, path) -> OSError:
    """`e` with the file it is about: a full disk names the file it could not write."""
    if e.filename is not None:
        return e
    return OSError(e.errno, e.strerror or str(e), str(path))


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically."""
    _atomic_write_bytes(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write one JSON document atomically (pretty-printed, trailing newline)."""
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def write_jsonl_atomic(path: str | os.PathLike, records: Iterable[dict]) -> None:
    """Write JSONL atomically, one compact object per line."""
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def read_json(path: str | os.PathLike) -> Any:
    """Read one JSON document, naming the file on error."""
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MckdError(f"{p}: file not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MckdError(f"{p}: not valid JSON ({e})") from None


class JsonlAppender:
    """Append records to a JSONL file one line at a time, flushed and fsynced.

    Used for caches and resumable outputs: a `kill -9` loses at most the line being written,
    and `iter_jsonl(..., tolerate_torn_tail=True)` skips that torn line on resume.
    """

    def __init__(self, path: str | os.PathLike, fsync_every: int = 1):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A torn last line from a killed writer would glue onto the next record: cut it off.
        if self.path.exists():
            data = self.path.read_bytes()
            if data and not data.endswith(b"\n"):
                keep = data.rfind(b"\n") + 1
                with open(self.path, "r+b") as f:
                    f.truncate(keep)
        self._f = open(self.path, "ab")
        self._n = 0
        self._every = max(1, fsync_every)

    def append(self, rec: dict) -> None:
        try:
            self._f.write((json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8"))
        except OSError as e:
            raise _named(e, self.path) from None
        self._n += 1
        if self._n % self._every == 0:
            self.sync()

    def sync(self) -> None:
        try:
            self._f.flush()
            os.fsync(self._f.fileno())
        except OSError as e:  # a full disk: the lines already synced are whole
            raise _named(e, self.path) from None

    def close(self) -> None:
        if not self._f.closed:
            self.sync()
            self._f.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    """Hex SHA-256 of a string's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
