"""A stat cache: (device, inode, size, mtime_ns) -> digest, so unchanged files are never rehashed.

Kept in a small SQLite database in the cache folder (WAL mode, so several processes share it).
It is only a cache: any SQLite problem degrades to "miss" with a warning, never to an error,
and :class:`NullStatCache` is the do-nothing default for code that has no cache folder.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Sequence
from typing import Protocol

log = logging.getLogger(__name__)

#: (device, inode, size, mtime_ns)
StatKey = tuple[int, int, int, int]


def stat_key(st: os.stat_result) -> StatKey:
    """The stat-cache key of a stat result."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class StatCacheLike(Protocol):
    """What callers need from a stat cache."""

    def lookup_many(self, keys: Sequence[StatKey], alg: str) -> list[str | None]:
        """Digests of the keys, ``None`` where unknown."""
        ...

    def store_many(self, items: Sequence[tuple[StatKey, str]], alg: str) -> None:
        """Remember digests."""
        ...


class NullStatCache:
    """A stat cache that remembers nothing."""

    def lookup_many(self, keys: Sequence[StatKey], alg: str) -> list[str | None]:  # noqa: D102
        return [None] * len(keys)

    def store_many(self, items: Sequence[tuple[StatKey, str]], alg: str) -> None:  # noqa: D102
        return None


class StatCache:
    """The SQLite stat cache at ``path``."""

    def __init__(self, path: str) -> None:
        """Open (lazily, per thread) the database at ``path``."""
        self.path = path
        self._local = threading.local()
        self._broken = False

    def _db(self) -> sqlite3.Connection | None:
        if self._broken:
            return None
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None and getattr(self._local, "pid", None) == os.getpid():
            return db
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS stat (dev INTEGER, ino INTEGER, alg TEXT, "
                "size INTEGER, mtime_ns INTEGER, digest TEXT, PRIMARY KEY (dev, ino, alg)) "
                "WITHOUT ROWID"
            )
        except sqlite3.Error as exc:
            self._disable(exc)
            return None
        self._local.db = db
        self._local.pid = os.getpid()
        return db

    def _disable(self, exc: Exception) -> None:
        log.warning("stat cache %s unusable (%s); files will be rehashed", self.path, exc)
        self._broken = True

    def lookup_many(self, keys: Sequence[StatKey], alg: str) -> list[str | None]:  # noqa: D102
        db = self._db()
        if db is None or not keys:
            return [None] * len(keys)
        try:
            if len(keys) < 64:
                found = {}
                for k in keys:
                    row = db.execute(
                        "SELECT size, mtime_ns, digest FROM stat WHERE dev=? AND ino=? AND alg=?",
                        (k[0], k[1], alg),
                    ).fetchone()
                    if row:
                        found[(k[0], k[1])] = row
            else:
                db.execute("CREATE TEMP TABLE IF NOT EXISTS q (dev INTEGER, ino INTEGER)")
                db.execute("DELETE FROM q")
                db.executemany("INSERT INTO q VALUES (?, ?)", [(k[0], k[1]) for k in keys])
                rows = db.execute(
                    "SELECT s.dev, s.ino, s.size, s.mtime_ns, s.digest FROM q "
                    "JOIN stat s ON s.dev = q.dev AND s.ino = q.ino AND s.alg = ?",
                    (alg,),
                ).fetchall()
                db.execute("DELETE FROM q")
                found = {(r[0], r[1]): r[2:] for r in rows}
        except sqlite3.Error as exc:
            self._disable(exc)
            return [None] * len(keys)
        out: list[str | None] = []
        for k in keys:
            row = found.get((k[0], k[1]))
            out.append(row[2] if row and row[0] == k[2] and row[1] == k[3] else None)
        return out

    def store_many(self, items: Sequence[tuple[StatKey, str]], alg: str) -> None:  # noqa: D102
        db = self._db()
        if db is None or not items:
            return
        try:
            db.execute("BEGIN")
            db.executemany(
                "INSERT OR REPLACE INTO stat VALUES (?, ?, ?, ?, ?, ?)",
                [(k[0], k[1], alg, k[2], k[3], d) for k, d in items],
            )
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._disable(exc)
