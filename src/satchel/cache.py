"""The local content cache.

Layout under the cache folder (``$SATCHEL_CACHE_DIR``, default the platform user cache dir)::

    objects/<alg>/<oid[:2]>/<oid[2:]>     content, read-only, named by its checksum
    refs/<sha256[:2]>/<sha256[2:]>        referenced objects, keyed by sha256(uri + version/etag)
    tmp/                                  in-flight writes (same filesystem, so moves are atomic)
    stat.db                               the stat cache (see satchel.ingest.statcache)

Everything enters through a temporary file that is hashed as it is written and moved into
place only when its digest matches; a mismatch raises :class:`DigestMismatchError` and leaves
nothing behind. A hit is checked by size; readers that copy an object out hash it while copying
and call :meth:`Cache.evict` on a mismatch, so a corrupted object is fetched again, never served.
Objects are used least-recently-first by :meth:`Cache.cleanup` (their mtime is touched on use).

The cache is disposable: no cache file is ever the same inode as a store object. Commits to a
local store move the cache's copies into the store (see :mod:`satchel.commit`), and downloads
from a local store read the store's objects in place, so nothing links the two. A cached object
that still has a second name (a hard link made by satchel before issue 10) loses its cache
name the first time :meth:`Cache.get` meets it, and :meth:`Cache.cleanup` drops every one.

Sizes (:meth:`Cache.usage`, :meth:`Cache.cleanup`) count only the bytes that deleting would
free: a file whose inode has hard links outside the cache (such a legacy link, or a link a
user made) costs the cache nothing, so it is listed as *shared* and not counted; cleanup drops
the cache's name of it (freeing nothing, but leaving the other name independent).
*Temporaries* are the in-flight files of writers: everything in ``tmp/`` (snapshot packs of
unsaved drafts, copies being hashed) and the hidden ``.<name>.<12 hex>.tmp`` files next to
objects and references. Those of killed writers are removed by cleanup once their last
modification is older than :data:`TEMPORARY_MAX_AGE` and no live draft holds them: a draft
holds a shared ``flock`` on each of its packs until it is saved or dropped (the kernel releases
it when the process dies), because a pack is written at add time and only read at save, so
its age says nothing about whether it is still needed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from satchel.errors import DigestMismatchError, InvalidArgumentError, SourceFileNotFoundError
from satchel.fsutil import (
    DIRECT_MIN,
    READ_ONLY,
    atomic_file,
    copy_direct,
    copy_file,
    copy_hashing,
)
from satchel.hashing import LARGE_FILE, b64, b64_to_hex, hash_file, new_hasher
from satchel.ingest.statcache import StatCache

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: packs are judged by age alone
    fcntl = None  # type: ignore[assignment]

#: a temporary whose last modification is older than this belongs to a killed writer (a
#: writer modifies its file as it goes; packs are protected by their draft's lock instead)
TEMPORARY_MAX_AGE = 86400.0


@dataclass(frozen=True, slots=True)
class CacheUsage:
    """What the cache holds, in bytes that deleting would free (:meth:`Cache.usage`).

    Attributes:
        files, bytes: cached objects and references.
        temporaries, temporary_bytes: in-flight files of writers (``tmp/`` and hidden
            ``.tmp`` files), live or left by killed writers.
        shared_files, shared_bytes: cached files whose bytes hard links outside the cache keep
            alive; not in ``bytes`` (deleting them frees nothing).
    """

    files: int = 0
    bytes: int = 0
    temporaries: int = 0
    temporary_bytes: int = 0
    shared_files: int = 0
    shared_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        """``bytes + temporary_bytes``: what emptying the cache would free."""
        return self.bytes + self.temporary_bytes


@dataclass(frozen=True, slots=True)
class CleanupResult:
    """What :meth:`Cache.cleanup` removed (or, with ``dry_run``, would remove).

    Attributes:
        removed_files, freed_bytes: cached objects and references removed, and the bytes
            that freed.
        remaining_bytes: bytes the cache still holds (objects, references, temporaries).
        removed_temporaries, temporary_bytes: temporaries of killed writers removed.
        shared_files, shared_bytes: files kept because hard links elsewhere keep their bytes
            (removing them would free nothing).
    """

    removed_files: int
    freed_bytes: int
    remaining_bytes: int
    removed_temporaries: int = 0
    temporary_bytes: int = 0
    shared_files: int = 0
    shared_bytes: int = 0


@dataclass(frozen=True, slots=True)
class _Item:
    """One inode of the cache: its names there, its size and when it was last used."""

    paths: tuple[str, ...]
    size: int
    used: float
    shared: bool  # hard links outside the cache keep it


def hold(path: str) -> int | None:
    """Open ``path`` with a shared ``flock``, telling :meth:`Cache.cleanup` that a live draft
    still needs it. Returns the descriptor (closing it releases the hold), or ``None`` where
    locks are not available."""
    if fcntl is None:  # pragma: no cover
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    except OSError:  # pragma: no cover - a filesystem without locks
        os.close(fd)
        return None
    return fd


def _held(path: str) -> bool:
    """Whether a live process holds ``path`` (see :func:`hold`)."""
    if fcntl is None:  # pragma: no cover
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # releases the probe's lock
    return False


class Cache:
    """A content-addressed cache folder."""

    def __init__(self, root: str) -> None:
        """Use ``root`` as the cache folder (created when first written)."""
        self.root = os.path.abspath(root)
        self.stat_cache = StatCache(os.path.join(self.root, "stat.db"))

    def __repr__(self) -> str:
        return f"Cache({self.root!r})"

    # -- locations ------------------------------------------------------------------------
    def object_path(self, alg: str, oid: str) -> str:
        """Where object ``(alg, oid)`` lives (whether or not it exists)."""
        return os.path.join(self.root, "objects", alg, oid[:2], oid[2:])

    def ref_path(self, uri: str, version: str | None) -> str:
        """Where the bytes of reference ``uri`` at ``version`` (ETag/version id) live."""
        key = hashlib.sha256(f"{uri}\n{version or ''}".encode()).hexdigest()
        return os.path.join(self.root, "refs", key[:2], key[2:])

    def tmp_dir(self) -> str:
        """Folder for in-flight files on the cache's filesystem."""
        path = os.path.join(self.root, "tmp")
        os.makedirs(path, exist_ok=True)
        return path

    # -- reading --------------------------------------------------------------------------
    def get(self, alg: str, oid: str, size: int | None = None) -> str | None:
        """Path of a cached object when present (and of ``size`` when given), else ``None``."""
        path = self.object_path(alg, oid)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        if (size is not None and st.st_size != size) or st.st_nlink > 1:
            # A second name is a store object linked by an older satchel: dropping the cache's
            # name leaves the store's intact and makes the two independent again.
            self.evict(path)
            return None
        return path

    def owns(self, path: str) -> bool:
        """Whether ``path`` is a file of this cache (an object, a reference or a temporary),
        which may be evicted; anything else (a local store's object read in place) must never
        be removed or changed by a reader."""
        path = os.path.abspath(path)
        return any(
            path.startswith(os.path.join(self.root, top) + os.sep)
            for top in ("objects", "refs", "tmp")
        )

    def touch(self, path: str) -> None:
        """Mark a cached file as used now (for least-recently-used cleanup)."""
        with contextlib.suppress(OSError):
            os.utime(path)

    def evict(self, path: str) -> None:
        """Remove a (corrupt) cached file."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    # -- writing --------------------------------------------------------------------------
    def put_stream(
        self,
        src: BinaryIO,
        dest: str,
        *,
        alg: str,
        expected_digest: str | None,
        what: str,
        on_bytes: Callable[[int], None] | None = None,
        check: Callable[[str, int], None] | None = None,
    ) -> tuple[str, int]:
        """Write ``src`` to cache path ``dest``, hashing as it streams.

        Args:
            src: the bytes.
            dest: a path from :meth:`object_path` or :meth:`ref_path`.
            alg: digest algorithm.
            expected_digest: base64 digest the bytes must have, or ``None`` to accept any.
            what: names the source in errors.
            on_bytes: progress callback.
            check: called with ``(digest, size)`` once every byte is written and before the
                file gets its name; raising there keeps nothing (a size or CRC32C check).

        Returns:
            ``(digest, size)`` of what was written.

        Raises:
            DigestMismatchError: the bytes do not match ``expected_digest``; nothing is kept.
        """
        hasher = new_hasher(alg)
        with atomic_file(dest, mode=READ_ONLY) as f:
            size = copy_hashing(src, f, hasher, on_bytes)
            digest = b64(hasher.digest())
            check_digest(what, digest, expected_digest)
            if check is not None:
                check(digest, size)
        return digest, size

    def add_file(
        self,
        local_path: str,
        *,
        alg: str,
        expected_digest: str | None = None,
        stage: bool = False,
    ) -> tuple[str, int, str]:
        """Copy a local file into the cache, hashing while copying (one read per byte).

        Args:
            local_path: the file.
            alg: digest algorithm.
            expected_digest: base64 digest the bytes must have, or ``None`` to accept any.
            stage: leave the copy as a private file in ``tmp/`` (see :meth:`stage_stream`)
                instead of making it a cache object.

        Returns:
            ``(digest, size, path)``.

        Raises:
            SourceFileNotFoundError: the file does not exist.
            DigestMismatchError: ``expected_digest`` given and not matched; nothing is kept.
        """
        # A random name: threads of one process add files at once, and a clock-based name
        # collides where the clock is coarse (~15 ms on Windows).
        tmp = self._tmp_path("add")
        try:
            src = open(local_path, "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError as exc:
            raise SourceFileNotFoundError(f"file {local_path} does not exist") from exc
        with src:
            known = os.fstat(src.fileno()).st_size
            if known >= DIRECT_MIN and (
                done := self._copy_direct(src, tmp, alg, expected_digest, local_path)
            ):
                digest, size = done
            elif known >= LARGE_FILE:
                digest, size = self._copy_then_hash(src, tmp, alg, expected_digest, local_path)
            else:
                digest, size = self.put_stream(
                    src, tmp, alg=alg, expected_digest=expected_digest, what=local_path
                )
        if stage:
            return digest, size, tmp
        dest = self.object_path(alg, b64_to_hex(digest))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.replace(tmp, dest)
        return digest, size, dest

    def stage_stream(
        self, src: BinaryIO, *, alg: str, expected_digest: str | None, what: str
    ) -> str:
        """Write ``src`` to a new private file in ``tmp/``, hashing as it streams: the bytes a
        commit hands to a local store, which takes the file over (a rename), so they are
        never a cache object and never have two names.

        Returns:
            The file's path (the caller moves or removes it).

        Raises:
            DigestMismatchError: the bytes do not match ``expected_digest``; nothing is kept.
        """
        path = self._tmp_path("stage")
        hasher = new_hasher(alg)
        try:
            # created read-only: the mode is checked when a file is opened, not on each write
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, READ_ONLY)
            with open(fd, "wb") as f:
                copy_hashing(src, f, hasher)
            check_digest(what, b64(hasher.digest()), expected_digest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            raise
        return path

    def is_staged(self, path: str) -> bool:
        """Whether ``path`` is a private file in ``tmp/`` (from :meth:`stage_stream` or a
        staged :meth:`add_file`)."""
        return os.path.dirname(os.path.abspath(path)) == os.path.join(self.root, "tmp")

    def _tmp_path(self, kind: str) -> str:
        return os.path.join(self.tmp_dir(), f"{kind}-{os.getpid()}-{uuid.uuid4().hex}")

    def _copy_direct(
        self, src: BinaryIO, dest: str, alg: str, expected_digest: str | None, what: str
    ) -> tuple[str, int] | None:
        # A very large file: read once, hashed and written with O_DIRECT from one buffer
        # (see fsutil.copy_direct for the measurements); None where O_DIRECT is unavailable.
        hasher = new_hasher(alg)
        size = copy_direct(src, dest, hasher, mode=READ_ONLY)
        if size is None:
            return None
        digest = b64(hasher.digest())
        try:
            check_digest(what, digest, expected_digest)
        except DigestMismatchError:
            os.unlink(dest)
            raise
        return digest, size

    def _copy_then_hash(
        self, src: BinaryIO, dest: str, alg: str, expected_digest: str | None, what: str
    ) -> tuple[str, int]:
        # A large file is copied in the kernel, then the *copy* is hashed (from the page
        # cache): the digest is always that of the bytes kept, even if the source changes
        # meanwhile, and it costs far less CPU than reading and writing through Python.
        with atomic_file(dest, mode=READ_ONLY) as f:
            copy_file(src, f)
            f.flush()
            digest, size = hash_file(f.name, alg)
            check_digest(what, digest, expected_digest)
        return digest, size

    def add_bytes(self, data: bytes, *, alg: str) -> tuple[str, int, str]:
        """Store ``data`` in the cache. Returns ``(digest, size, cache_path)``."""
        h = new_hasher(alg)
        h.update(data)
        digest = b64(h.digest())
        dest = self.object_path(alg, b64_to_hex(digest))
        if not os.path.exists(dest):
            with atomic_file(dest, mode=READ_ONLY) as f:
                f.write(data)
        return digest, len(data), dest

    # -- size and cleanup -----------------------------------------------------------------
    def size(self) -> int:
        """Bytes that emptying the cache would free: objects, references and temporaries,
        without files whose bytes hard links elsewhere keep (see :meth:`usage`)."""
        return self.usage().total_bytes

    def usage(self) -> CacheUsage:
        """What the cache holds, counting only bytes that deleting would free."""
        items, temps = self._scan()
        own = [i for i in items if not i.shared]
        shared = [i for i in items if i.shared]
        return CacheUsage(
            files=sum(len(i.paths) for i in own),
            bytes=sum(i.size for i in own),
            temporaries=len(temps),
            temporary_bytes=sum(size for _p, size, _m in temps),
            shared_files=sum(len(i.paths) for i in shared),
            shared_bytes=sum(i.size for i in shared),
        )

    def _scan(self) -> tuple[list[_Item], list[tuple[str, int, float]]]:
        """The cached inodes, and the temporaries as ``(path, size, mtime)``."""
        names: dict[tuple[int, int], list[str]] = {}
        stats: dict[tuple[int, int], os.stat_result] = {}
        temps: list[tuple[str, int, float]] = []
        for top in ("objects", "refs", "tmp"):
            for path, st in _walk(os.path.join(self.root, top)):
                if top == "tmp" or os.path.basename(path).startswith("."):
                    temps.append((path, st.st_size, st.st_mtime))
                    continue
                key = (st.st_dev, st.st_ino)
                names.setdefault(key, []).append(path)
                stats[key] = st
        items = [
            _Item(
                tuple(paths),
                stats[k].st_size,
                max(stats[k].st_mtime, stats[k].st_atime),
                shared=stats[k].st_nlink > len(paths),
            )
            for k, paths in names.items()
        ]
        return items, temps

    def cleanup(self, target_size: int, *, dry_run: bool = False) -> CleanupResult:
        """Remove temporaries of killed writers, then least-recently-used files until the
        cache holds at most ``target_size`` bytes.

        Only bytes that deleting frees count: files that hard links outside the cache keep
        alive are not counted, and lose their cache name (which frees nothing). A temporary goes when its last modification is older than
        :data:`TEMPORARY_MAX_AGE` and no live draft holds it (see the module docstring).

        Args:
            target_size: bytes to keep at most.
            dry_run: only report what would be removed.
        """
        items, temps = self._scan()
        cutoff = time.time() - TEMPORARY_MAX_AGE
        stale = [(p, size) for p, size, mtime in temps if mtime < cutoff and not _held(p)]
        temp_freed = 0
        for path, size in stale:
            if not dry_run:
                self.evict(path)
            temp_freed += size
        shared = [i for i in items if i.shared]
        if not dry_run:  # the cache's names of shared inodes go: the other name stays whole
            for item in shared:
                for path in item.paths:
                    self.evict(path)
        own = sorted((i for i in items if not i.shared), key=lambda i: i.used)
        total = sum(i.size for i in own) + sum(size for _p, size, _m in temps) - temp_freed
        removed = freed = 0
        for item in own:
            if total - freed <= target_size:
                break
            if not dry_run:
                for path in item.paths:
                    self.evict(path)
            removed += len(item.paths)
            freed += item.size
        return CleanupResult(
            removed,
            freed,
            total - freed,
            len(stale),
            temp_freed,
            sum(len(i.paths) for i in shared),
            sum(i.size for i in shared),
        )


def _walk(top: str) -> Iterator[tuple[str, os.stat_result]]:
    """Every file below ``top`` with its ``lstat`` (files that vanish meanwhile are skipped)."""
    for dirpath, _dirs, files in os.walk(top):
        for name in files:
            path = os.path.join(dirpath, name)
            with contextlib.suppress(FileNotFoundError):
                yield path, os.lstat(path)


def parse_size(text: str) -> int:
    """Parse ``"10GB"``, ``"512MiB"``, ``"1.5G"`` or ``"1000"`` into bytes.

    Raises:
        InvalidArgumentError: not a size (a ``ValueError``).
    """
    units = {
        "": 1,
        "b": 1,
        "k": 10**3,
        "kb": 10**3,
        "kib": 2**10,
        "m": 10**6,
        "mb": 10**6,
        "mib": 2**20,
        "g": 10**9,
        "gb": 10**9,
        "gib": 2**30,
        "t": 10**12,
        "tb": 10**12,
        "tib": 2**40,
    }
    s = text.strip().lower().replace(" ", "")
    num = s.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = s[len(num) :]
    if not num or unit not in units:
        raise InvalidArgumentError(f"{text!r} is not a size; use e.g. 10GB, 512MiB or 1000000")
    try:
        value = float(num)
    except ValueError:
        raise InvalidArgumentError(
            f"{text!r} is not a size; use e.g. 10GB, 512MiB or 1000000"
        ) from None
    if value < 0:
        raise InvalidArgumentError(f"size {text!r} is negative; give a size of 0 or more")
    return int(value * units[unit])


def check_digest(what: str, digest: str, expected: str | None) -> None:
    """Raise :class:`DigestMismatchError` when ``expected`` is given and not ``digest``."""
    if expected is not None and digest != expected:
        raise DigestMismatchError(
            f"{what} has digest {digest}, expected {expected}: the data is corrupt or "
            "changed; nothing was kept",
            digest=digest,
            expected=expected,
        )
