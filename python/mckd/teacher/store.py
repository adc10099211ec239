"""The shared teacher cache: one SQLite file that every `mckd teach` and `mckd distill` reads.

A teacher output is a pure function of its key (run.py: model sha256 or server identity, the
exact prompt and demonstrations, the decoding settings, the constraint and repair versions), so
it can be served to any command that asks the same question. Each run still keeps its own JSONL
cache (portable, committed with experiments); this store sits behind it, so a new `--out` or a new
run directory with an unchanged teacher costs no model calls.

Where: $MCKD_TEACHER_CACHE (a file path, or "off"), else $MCKD_CACHE_DIR/teacher.sqlite (default
~/.cache/mckd). SQLite in WAL mode, one autocommitted row per output: a kill -9 loses nothing
committed, several runs may write at once (writers wait on each other, `timeout`), and readers
never block. Nothing here is needed for correctness: an output missing from the store is
generated again.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

from ..errors import MckdError

ENV = "MCKD_TEACHER_CACHE"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outputs (
    key     TEXT PRIMARY KEY,   -- sha256 of everything that determines the output
    model   TEXT NOT NULL,      -- who wrote it, for `mckd cache` (name and sha256 / server)
    out     TEXT NOT NULL,      -- the output record, JSON
    created REAL NOT NULL,
    used    REAL NOT NULL       -- last time a run was served from it
);
CREATE INDEX IF NOT EXISTS outputs_model ON outputs(model);
"""


def store_path() -> Path | None:
    """The store's file, or None when $MCKD_TEACHER_CACHE=off."""
    v = os.environ.get(ENV)
    if v is not None:
        if v.strip().lower() in ("", "off", "0", "none", "false"):
            return None
        return Path(v).expanduser()
    from .models import cache_dir

    return cache_dir() / "teacher.sqlite"


class Store:
    """An open teacher store (see the module docstring)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None,
                                      check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across process kills
            self.db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as e:
            raise MckdError(f"{self.path}: cannot open the shared teacher cache ({e}); move it "
                            f"away, or set {ENV}=off to run without it") from None

    def _run(self, sql: str, args=()):
        try:
            return self.db.execute(sql, args)
        except sqlite3.Error as e:
            raise MckdError(f"{self.path}: shared teacher cache: {e} (set {ENV}=off to run "
                            "without it)") from None

    def get_many(self, keys) -> dict[str, dict]:
        """The stored outputs among `keys` (and mark them used)."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, dict] = {}
        for i in range(0, len(keys), 500):  # SQLite's bound-parameter limit
            part = keys[i:i + 500]
            q = f"SELECT key, out FROM outputs WHERE key IN ({','.join('?' * len(part))})"
            for k, out in self._run(q, part).fetchall():
                try:
                    found[k] = json.loads(out)
                except json.JSONDecodeError:
                    continue  # a damaged row is only a cache miss
        if found:
            now = time.time()
            ks = list(found)
            for i in range(0, len(ks), 500):
                part = ks[i:i + 500]
                self._run(f"UPDATE outputs SET used = ? WHERE key IN ({','.join('?' * len(part))})",
                          [now, *part])
        return found

    def put(self, key: str, model: str, out: dict) -> None:
        now = time.time()
        self._run("INSERT OR IGNORE INTO outputs (key, model, out, created, used) "
                  "VALUES (?, ?, ?, ?, ?)",
                  (key, model, json.dumps(out, ensure_ascii=False), now, now))

    def summary(self) -> list[dict]:
        """One row per model: outputs, bytes, first stored, last used."""
        rows = self._run("SELECT model, COUNT(*), SUM(LENGTH(out)), MIN(created), MAX(used) "
                         "FROM outputs GROUP BY model ORDER BY model").fetchall()
        return [{"model": m, "outputs": n, "bytes": int(b or 0), "created": c, "used": u}
                for m, n, b, c, u in rows]

    def prune(self, *, model: str | None = None, unused_days: float | None = None) -> int:
        """Delete the outputs of models whose name contains `model` and/or not used for
        `unused_days`; with neither, everything. Returns how many were deleted.
        A negative, infinite or NaN `unused_days`, or an empty `model`, is refused: each would
        silently widen the delete to every output."""
        import math

        from ..errors import MckdError

        if model is not None and not model.strip():
            raise MckdError("prune --model: empty text would match every model")
        if unused_days is not None and not (math.isfinite(unused_days) and unused_days >= 0):
            raise MckdError(f"prune --unused-days: expected a number of days >= 0, got {unused_days}")
        where, args = [], []
        if model:
            where.append("instr(model, ?) > 0")
            args.append(model)
        if unused_days is not None:
            where.append("used < ?")
            args.append(time.time() - unused_days * 86400)
        sql = "DELETE FROM outputs" + (" WHERE " + " AND ".join(where) if where else "")
        n = self._run(sql, args).rowcount
        self._run("PRAGMA wal_checkpoint(TRUNCATE)")
        self._run("VACUUM")
        return int(n)

    def close(self) -> None:
        self.db.close()


def open_store() -> Store | None:
    """The shared store, or None when switched off."""
    p = store_path()
    return Store(p) if p is not None else None


class Shared:
    """The shared store as a run uses it: never needed for correctness, so a damaged file, a
    full disk or a locked database is said once on stderr and the run goes on without it
    (each run's own JSONL cache stays complete)."""

    def __init__(self, warn):
        self.warn, self.store = warn, None
        try:
            self.store = open_store()
        except MckdError as e:
            self._drop(e)

    def _drop(self, e: Exception) -> None:
        if self.store is not None:
            try:
                self.store.close()
            except sqlite3.Error:
                pass
        self.store = None
        self.warn(f"{e}; this run goes on without the shared cache")

    def get_many(self, keys) -> dict[str, dict]:
        if self.store is None:
            return {}
        try:
            return self.store.get_many(keys)
        except MckdError as e:
            self._drop(e)
            return {}

    def put(self, key: str, model: str, out: dict) -> None:
        if self.store is None:
            return
        try:
            self.store.put(key, model, out)
        except MckdError as e:
            self._drop(e)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


class Tee:
    """A run's JSONL cache appender that also writes every finished output to the store."""

    def __init__(self, app, store: Shared | Store | None, model: str):
        self.app, self.store, self.model = app, store, model

    def append(self, rec: dict) -> None:
        self.app.append(rec)
        # an output that broke the constraint is no label to serve to another run
        if (self.store is not None and rec.get("kind") == "item"
                and not rec["out"].get("broke_constraint")):
            self.store.put(rec["key"], self.model, rec["out"])

    def __getattr__(self, name):
        return getattr(self.app, name)
