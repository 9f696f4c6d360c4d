"""The local content cache.

Layout under the cache folder (``$SATCHEL_CACHE_DIR``, default the platform user cache dir)::

    objects/<alg>/<oid[:2]>/<oid[2:]>     content, read-only, named by its checksum
    refs/<sha256[:2]>/<sha256[2:]>        referenced objects, keyed by sha256(uri + version/etag)
    tmp/                                  in-flight writes (same filesystem, so moves are atomic)
    stat.db                               the stat cache (see satchel.statcache)

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
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from satchel.errors import DigestMismatchError, SourceFileNotFoundError
from satchel.fsutil import (
    DIRECT_MIN,
    READ_ONLY,
    atomic_file,
    copy_direct,
    copy_file,
    copy_hashing,
)
from satchel.hashing import LARGE_FILE, b64, b64_to_hex, hash_file, new_hasher
from satchel.statcache import StatCache


@dataclass(frozen=True, slots=True)
class CleanupResult:
    """What :meth:`Cache.cleanup` removed."""

    removed_files: int
    freed_bytes: int
    remaining_bytes: int


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
            _check_digest(what, digest, expected_digest)
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
            _check_digest(what, b64(hasher.digest()), expected_digest)
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
            _check_digest(what, digest, expected_digest)
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
            _check_digest(what, digest, expected_digest)
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

    # -- cleanup --------------------------------------------------------------------------
    def size(self) -> int:
        """Bytes held by cached objects and references."""
        return sum(s for _p, s, _t in self._files())

    def _files(self) -> list[tuple[str, int, float]]:
        out = []
        for top in ("objects", "refs"):
            for dirpath, _dirs, files in os.walk(os.path.join(self.root, top)):
                for name in files:
                    p = os.path.join(dirpath, name)
                    with contextlib.suppress(FileNotFoundError):
                        st = os.stat(p)
                        out.append((p, st.st_size, max(st.st_mtime, st.st_atime)))
        return out

    def cleanup(self, target_size: int, *, dry_run: bool = False) -> CleanupResult:
        """Remove least-recently-used files until the cache holds at most ``target_size`` bytes.

        Args:
            target_size: bytes to keep at most.
            dry_run: only report what would be removed.
        """
        files = sorted(self._files(), key=lambda t: t[2])
        if not dry_run:
            files = self._release_shared(files)
        total = sum(f[1] for f in files)
        removed = freed = 0
        for path, size, _t in files:
            if total - freed <= target_size:
                break
            if not dry_run:
                self.evict(path)
            removed += 1
            freed += size
        if not dry_run:
            with contextlib.suppress(OSError):
                for name in os.listdir(self.tmp_dir()):  # stale in-flight files older than a day
                    p = os.path.join(self.tmp_dir(), name)
                    if time.time() - os.stat(p).st_mtime > 86400:
                        os.unlink(p)
        return CleanupResult(removed, freed, total - freed)


    def _release_shared(
        self, files: list[tuple[str, int, float]]
    ) -> list[tuple[str, int, float]]:
        """Drop the cache's name of every file that has another (a store object hard-linked
        by satchel before issue 10): that frees no space, but makes the store's copy
        independent of the disposable cache. Returns the other files."""
        kept = []
        for item in files:
            try:
                shared = os.stat(item[0]).st_nlink > 1
            except FileNotFoundError:
                continue
            if shared:
                self.evict(item[0])
            else:
                kept.append(item)
        return kept


def parse_size(text: str) -> int:
    """Parse ``"10GB"``, ``"512MiB"``, ``"1.5G"`` or ``"1000"`` into bytes.

    Raises:
        ValueError: not a size.
    """
    units = {
        "": 1, "b": 1,
        "k": 10**3, "kb": 10**3, "kib": 2**10,
        "m": 10**6, "mb": 10**6, "mib": 2**20,
        "g": 10**9, "gb": 10**9, "gib": 2**30,
        "t": 10**12, "tb": 10**12, "tib": 2**40,
    }
    s = text.strip().lower().replace(" ", "")
    num = s.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = s[len(num):]
    if not num or unit not in units:
        raise ValueError(f"{text!r} is not a size; use e.g. 10GB, 512MiB or 1000000")
    try:
        value = float(num)
    except ValueError:
        raise ValueError(f"{text!r} is not a size; use e.g. 10GB, 512MiB or 1000000") from None
    if value < 0:
        raise ValueError(f"size {text!r} is negative")
    return int(value * units[unit])


def _check_digest(what: str, digest: str, expected: str | None) -> None:
    """Raise :class:`DigestMismatchError` when ``expected`` is given and not ``digest``."""
    if expected is not None and digest != expected:
        raise DigestMismatchError(
            f"{what} has digest {digest}, expected {expected}: the data is corrupt or "
            "changed; nothing was kept",
            digest=digest, expected=expected,
        )
