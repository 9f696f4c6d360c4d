"""A stat cache: (device, inode, size, change stamp) -> digest, so unchanged files are never rehashed.

The change stamp is the later of a file's mtime and ctime in nanoseconds (:func:`change_ns`).
mtime alone can be set back by tools (``touch -d``, ``cp -p``, ``rsync -t``) after the content
changed in place; ctime cannot be set from user space and moves on every write, so an in-place
edit that restores the old mtime is still seen. The price: a ``chmod``, a new hard link or a
rename of a file also moves its ctime, which costs one rehash of that file, nothing more.

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

#: (device, inode, size, change stamp: see :func:`change_ns`)
StatKey = tuple[int, int, int, int]
#: what the cache holds for an inode: (size, change stamp, digest)
CachedDigest = tuple[int, int, str]
#: inode numbers per ``IN (...)`` query (SQLite allows 999 parameters at least)
_BATCH = 900


def change_ns(st: os.stat_result) -> int:
    """A file's change stamp: the later of its mtime and ctime, in nanoseconds."""
    return max(st.st_mtime_ns, st.st_ctime_ns)


def stat_key(st: os.stat_result) -> StatKey:
    """The stat-cache key of a stat result."""
    return (st.st_dev, st.st_ino, st.st_size, change_ns(st))


class StatCacheLike(Protocol):
    """What callers need from a stat cache."""

    def lookup_many(self, keys: Sequence[StatKey], alg: str) -> list[str | None]:
        """Digests of the keys, ``None`` where unknown."""
        ...

    def store_many(self, items: Sequence[tuple[StatKey, str]], alg: str) -> None:
        """Remember digests."""
        ...

    def lookup_inodes(self, dev: int, inos: Sequence[int], alg: str) -> dict[int, CachedDigest]:
        """``inode -> (size, changed_ns, digest)`` for the inodes of ``dev`` with a row (which
        the caller compares with a fresh stat); possibly rows of other inodes too."""
        ...


class NullStatCache:
    """A stat cache that remembers nothing."""

    def lookup_many(self, keys: Sequence[StatKey], alg: str) -> list[str | None]:
        return [None] * len(keys)

    def store_many(self, items: Sequence[tuple[StatKey, str]], alg: str) -> None:
        return None

    def lookup_inodes(self, dev: int, inos: Sequence[int], alg: str) -> dict[int, CachedDigest]:
        return {}


class StatCache:
    """The SQLite stat cache at ``path``."""

    def __init__(self, path: str) -> None:
        """Open (lazily, per thread) the database at ``path``."""
        self.path = path
        self._local = threading.local()
        self._broken = False
        # (device, algorithm) pairs without a single row, as this object saw (rows another
        # process adds meanwhile are missed: that costs a rehash, nothing else)
        self._empty: set[tuple[int, str]] = set()

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
            # "stat" (keyed by mtime alone) was the table of earlier versions
            db.execute("DROP TABLE IF EXISTS stat")
            db.execute(
                "CREATE TABLE IF NOT EXISTS stat2 (dev INTEGER, ino INTEGER, alg TEXT, "
                "size INTEGER, changed_ns INTEGER, digest TEXT, PRIMARY KEY (dev, ino, alg)) "
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

    def lookup_many(self, keys: Sequence[StatKey], alg: str) -> list[str | None]:
        if not keys:
            return []
        devs = {k[0] for k in keys}
        by_dev: dict[int, list[int]] = {}
        if len(devs) == 1:
            by_dev[next(iter(devs))] = [k[1] for k in keys]
        else:
            for k in keys:
                by_dev.setdefault(k[0], []).append(k[1])
        found: dict[tuple[int, int], CachedDigest] = {}
        for dev, inos in by_dev.items():
            for ino, known in self.lookup_inodes(dev, inos, alg).items():
                found[(dev, ino)] = known
        if not found:
            return [None] * len(keys)
        out: list[str | None] = []
        append = out.append
        get = found.get
        for dev, ino, size, changed in keys:
            row = get((dev, ino))
            append(row[2] if row is not None and row[0] == size and row[1] == changed else None)
        return out

    def lookup_inodes(self, dev: int, inos: Sequence[int], alg: str) -> dict[int, CachedDigest]:
        db = self._db()
        if db is None or not inos or (dev, alg) in self._empty:
            return {}
        try:
            if (
                db.execute(
                    "SELECT 1 FROM stat2 WHERE dev = ? AND alg = ? LIMIT 1", (dev, alg)
                ).fetchone()
                is None
            ):  # nothing known on that device: no per-file work
                self._empty.add((dev, alg))
                return {}
            lo, hi = min(inos), max(inos)
            if hi - lo <= 4 * len(inos) + 1024:
                # Files of one folder tree have nearby inode numbers: one range scan of the
                # primary key reads them all (and a few other rows) without binding a
                # parameter per file.
                rows = db.execute(
                    "SELECT ino, size, changed_ns, digest FROM stat2 "
                    "WHERE dev = ? AND ino BETWEEN ? AND ? AND alg = ?",
                    (dev, lo, hi, alg),
                ).fetchall()
            else:
                rows = []
                for start in range(0, len(inos), _BATCH):
                    part = inos[start : start + _BATCH]
                    rows += db.execute(
                        "SELECT ino, size, changed_ns, digest FROM stat2 WHERE dev = ? "
                        f"AND alg = ? AND ino IN ({','.join('?' * len(part))})",
                        (dev, alg, *part),
                    ).fetchall()
        except sqlite3.Error as exc:
            self._disable(exc)
            return {}
        return {ino: (size, changed, digest) for ino, size, changed, digest in rows}

    def store_many(self, items: Sequence[tuple[StatKey, str]], alg: str) -> None:
        db = self._db()
        if db is None or not items:
            return
        self._empty -= {(k[0], alg) for k, _d in items}
        try:
            db.execute("BEGIN")
            db.executemany(
                "INSERT OR REPLACE INTO stat2 VALUES (?, ?, ?, ?, ?, ?)",
                [(k[0], k[1], alg, k[2], k[3], d) for k, d in items],
            )
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._disable(exc)
