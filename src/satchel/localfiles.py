"""Finding and digesting files on local disk (shared by ``add_dir`` and ``file://`` references)."""

from __future__ import annotations

import os
from collections.abc import Callable
from operator import attrgetter

import msgspec

from satchel.errors import SourceFileNotFoundError
from satchel.hashing import hash_files
from satchel.statcache import StatCacheLike, StatKey, stat_key


class LocalFile(msgspec.Struct, frozen=True, gc=False):
    """A file found on disk (a msgspec struct: a scan creates one per file, ~0.1 us each).

    Attributes:
        rel: path relative to the scanned folder, with ``/`` separators.
        abspath: absolute path on disk.
        key: its stat-cache key (device, inode, size, mtime_ns).
    """

    rel: str
    abspath: str
    key: StatKey

    @property
    def size(self) -> int:
        """Size in bytes at scan time."""
        return self.key[2]


def scan(root: str) -> list[LocalFile]:
    """Every regular file below ``root`` (following symlinks to files), sorted by ``rel``.

    Raises:
        SourceFileNotFoundError: ``root`` is not a folder.
    """
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        raise SourceFileNotFoundError(f"folder {root} does not exist or is not a folder")
    out: list[LocalFile] = []
    append = out.append
    stack = [("", root)]
    while stack:
        prefix, folder = stack.pop()
        with os.scandir(folder) as it:
            for de in it:
                rel = f"{prefix}{de.name}"
                if de.is_dir():
                    if de.is_symlink():  # never follow folder links (cycles, escapes)
                        continue
                    stack.append((rel + "/", de.path))
                elif de.is_file():
                    try:
                        st = de.stat()
                    except FileNotFoundError:  # vanished while scanning
                        continue
                    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
                    append(LocalFile(rel, de.path, key))
    out.sort(key=attrgetter("rel"))
    return out


def stat_file(path: str) -> LocalFile:
    """A :class:`LocalFile` for one file.

    Raises:
        SourceFileNotFoundError: missing or not a regular file.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError as exc:
        raise SourceFileNotFoundError(f"file {path} does not exist") from exc
    if not os.path.isfile(path):
        raise SourceFileNotFoundError(f"{path} is not a regular file; use add_dir for folders")
    return LocalFile(os.path.basename(path), os.path.abspath(path), stat_key(st))


def digest_files(
    files: list[LocalFile],
    alg: str,
    stat_cache: StatCacheLike,
    *,
    on_done: Callable[[int], None] | None = None,
) -> list[str]:
    """Digest of each file, from the stat cache where the file is unchanged, else hashed."""
    digests = stat_cache.lookup_many([f.key for f in files], alg)
    todo = [i for i, d in enumerate(digests) if d is None]
    if on_done and len(todo) < len(files):
        on_done(len(files) - len(todo))
    if todo:
        results = hash_files(
            [files[i].abspath for i in todo], [files[i].size for i in todo], alg, on_done=on_done
        )
        fresh = []
        for i, (digest, size) in zip(todo, results):
            digests[i] = digest
            if size == files[i].size:  # unchanged while hashing: safe to remember
                fresh.append((files[i].key, digest))
        stat_cache.store_many(fresh, alg)
    return [d for d in digests if d is not None]
