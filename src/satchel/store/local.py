"""The local-disk store backend.

* create-if-absent: write a temp file in the destination folder, then ``os.link`` it to the key
  (``link`` never overwrites, so exactly one of several racing writers wins);
* content objects are private to the store: :meth:`LocalBackend.put_file` copies (or
  reflinks) and :meth:`LocalBackend.move_file` renames a file the caller gives up; neither ever
  hard-links, so no cache file is ever the same inode as a store object;
* replace-if-unchanged: take an exclusive ``flock`` on ``<key>.lock`` (released by the kernel if
  the process dies, so a crash never leaves a stale lock), compare the current content's SHA-256
  with the caller's token, then ``os.replace`` a temp file. On systems without ``fcntl`` an
  ``O_EXCL`` lock file with a 30 s staleness limit is used instead.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import os
import re
import time
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from satchel.errors import StoreError
from satchel.fsutil import copy_object, move_object, write_bytes_atomic
from satchel.store.backend import BackendDefaults, Capabilities, Detail, Token

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


#: :meth:`LocalBackend.existing` lists a folder it is asked about this many times or more
LIST_MIN = 64


def _token(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalBackend(BackendDefaults):
    """A store on a local (or locally mounted) folder."""

    capabilities = Capabilities(freshen=True, fingerprints=True)

    def __init__(self, root: str) -> None:
        """Use folder ``root`` (created on first write)."""
        self.root = os.path.abspath(os.path.expanduser(root))
        self.url = self.root

    def _p(self, key: str) -> str:
        return os.path.join(self.root, *key.split("/"))

    def read(self, key: str) -> bytes:
        with open(self._p(key), "rb") as f:
            return f.read()

    def read_token(self, key: str) -> tuple[bytes | None, Token]:
        try:
            data = self.read(key)
        except FileNotFoundError:
            return None, None
        return data, _token(data)

    def create_if_absent(self, key: str, data: bytes) -> bool:
        try:
            write_bytes_atomic(self._p(key), data, exclusive=True, fsync=True)
        except FileExistsError:
            return False
        return True

    def replace_if_unchanged(self, key: str, data: bytes, token: Token) -> bool:
        path = self._p(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with _locked(path + LOCK_SUFFIX):
            try:
                current: Token = _token(self.read(key))
            except FileNotFoundError:
                current = None
            if current != token:
                return False
            write_bytes_atomic(path, data, fsync=True)
            return True

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._p(key))

    def exists(self, key: str) -> bool:
        return os.path.exists(self._p(key))

    def list(self, prefix: str, *, hidden: bool = False) -> list[str]:
        try:
            return [n for n in os.listdir(self._p(prefix)) if hidden or not n.startswith(".")]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def walk(self, prefix: str) -> Iterator[tuple[str, int]]:
        for key, size, _changed in self.walk_detailed(prefix):
            yield key, size

    def list_detailed(self, prefix: str, *, hidden: bool = False) -> dict[str, Detail]:
        """One ``os.scandir`` of the folder: the fingerprint is ``inode:size:mtime_ns`` (every
        satchel write replaces the file, so a change gets a new inode or a new mtime), the
        time the mtime (folders are listed the same way)."""
        out: dict[str, Detail] = {}
        try:
            with os.scandir(self._p(prefix)) as it:
                for e in it:
                    if e.name.startswith(".") and not hidden:
                        continue
                    # the inode alone (free from readdir) is not enough: a folder rebuilt by
                    # hand reuses freed inode numbers at once
                    with contextlib.suppress(FileNotFoundError):
                        st = e.stat(follow_symlinks=False)
                        out[e.name] = (
                            f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}",
                            st.st_mtime_ns / 1e9,
                        )
        except (FileNotFoundError, NotADirectoryError):
            return {}
        return out

    def walk_detailed(
        self, prefix: str, *, hidden: builtins.list[str] | None = None
    ) -> Iterator[tuple[str, int, float | None]]:
        """``(key, size, changed)`` below ``prefix``, ``changed`` the later of mtime and ctime
        (:func:`changed_time`); hidden files (writers' temporaries, never objects) are skipped
        and their paths appended to ``hidden`` when given."""
        for dirpath, _dirs, files in os.walk(self._p(prefix)):
            rel = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            for name in files:
                if name.startswith("."):
                    if hidden is not None:
                        hidden.append(os.path.join(dirpath, name))
                    continue
                with contextlib.suppress(FileNotFoundError):
                    st = os.stat(os.path.join(dirpath, name))
                    yield f"{rel}/{name}", st.st_size, changed_time(st)

    def modified_time(self, key: str) -> float | None:
        """When ``key`` last changed: the later of its mtime and ctime; ``None`` when absent."""
        try:
            return changed_time(os.stat(self._p(key)))
        except FileNotFoundError:
            return None

    def put_file(self, key: str, local_path: str) -> None:
        """Store a private copy of ``local_path`` (a reflink where the filesystem offers one,
        never a hard link: nothing outside the store may share a store object's inode)."""
        copy_object(local_path, self._p(key))

    def move_file(self, key: str, local_path: str) -> None:
        """Take ``local_path`` over as ``key``: renamed into the store where both are on one
        filesystem (no copy, and never two names for one inode), else copied and removed.
        The caller gives the file up (the uploader passes only its own cache files)."""
        move_object(local_path, self._p(key))

    def open(self, key: str) -> BinaryIO:
        return open(self._p(key), "rb")

    def size(self, key: str) -> int | None:
        try:
            return os.stat(self._p(key)).st_size
        except FileNotFoundError:
            return None

    def existing(self, keys: Iterable[str]) -> set[str]:
        """The keys that exist. Keys are grouped by folder: a folder asked about at least
        :data:`LIST_MIN` times is listed once (a commit of 100,000 files asks ~400 times per
        object folder: one listing instead of 400 ``stat`` calls), the others are looked up
        one by one (a small commit into a big store lists nothing)."""
        by_folder: dict[str, list[tuple[str, str]]] = {}
        for k in keys:
            folder, _, name = k.rpartition("/")
            by_folder.setdefault(folder, []).append((k, name))
        have: set[str] = set()
        for folder, items in by_folder.items():
            if len(items) >= LIST_MIN:
                try:
                    names = set(os.listdir(self._p(folder)))
                except (FileNotFoundError, NotADirectoryError):
                    continue
                have.update(k for k, name in items if name in names)
            else:
                have.update(k for k, _name in items if os.path.exists(self._p(k)))
        return have

    def touch(self, key: str) -> bool:
        """Mark ``key`` as just used (mtime and ctime now) so ``gc`` counts it as young.

        Returns:
            ``False`` when the key is gone or cannot be touched (the caller writes it again).
        """
        try:
            os.utime(self._p(key))
        except (FileNotFoundError, PermissionError):
            return False
        return True

    def local_path(self, key: str) -> str | None:
        return self._p(key)


LOCK_SUFFIX = ".lock"
TEMPORARY_NAME = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp$")


def is_writer_leftover(name: str) -> bool:
    """Whether a file name is one a writer of this backend leaves behind: a ``<key>.lock``
    (kept after a compare-and-swap; harmless, as the kernel releases the ``flock``) or a
    temporary of a write that was killed before its rename (gc removes those)."""
    return name.endswith(LOCK_SUFFIX) or bool(TEMPORARY_NAME.match(name))


def changed_time(st: os.stat_result) -> float:
    """When a local file last changed: the later of its mtime and ctime."""
    # A file placed by a hard link or a rename keeps its old mtime; the link (and any touch or
    # chmod) updates ctime, so "last changed" is the later.
    return max(st.st_mtime, st.st_ctime)


@contextlib.contextmanager
def _locked(lock_path: str) -> Iterator[None]:
    if fcntl is not None:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the flock
        return
    deadline = time.monotonic() + 60  # pragma: no cover - Windows fallback
    while True:  # pragma: no cover
        try:
            fd = os.open(lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            with contextlib.suppress(FileNotFoundError):
                if time.time() - os.stat(lock_path).st_mtime > 30:
                    os.unlink(lock_path)
            if time.monotonic() > deadline:
                raise StoreError(
                    f"could not lock {lock_path}; remove it if no satchel is running"
                ) from None
            time.sleep(0.01)
    try:  # pragma: no cover
        yield
    finally:  # pragma: no cover
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
