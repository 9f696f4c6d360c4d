"""The ``memory://`` store backend, for quick tests and notebooks.

fsspec's ``MemoryFileSystem`` keeps every file in one dictionary shared by the whole process,
so its atomic primitives are a compare-then-write under one process-wide lock (the lock is
module state on purpose: it guards state that is itself process-wide). The token is the
SHA-256 of the content. Nothing is shared between processes: a ``memory://`` store lives and
dies with its process.

``gc`` support under the same lock: :meth:`MemoryBackend.touch` writes an object's bytes again
(its creation time, which serves as its modification time, becomes now) and
:meth:`MemoryBackend.delete_if_old` reads that time and deletes in one step, so a freshening
and gc's delete never interleave.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import threading

from satchel.store.backend import Capabilities, Token
from satchel.store.remote import FsspecBackend, moved

_LOCK = threading.Lock()


def _token(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class MemoryBackend(FsspecBackend):
    """A store in the process's ``memory://`` filesystem."""

    writable = True
    capabilities = Capabilities(freshen=True, conditional_delete=True)

    def _current(self, path: str) -> bytes | None:
        try:
            return bytes(self.fs.cat_file(path))
        except FileNotFoundError:
            return None

    def _get(self, path: str) -> tuple[bytes, str]:
        with _LOCK:
            data = self._current(path)
        if data is None:
            raise FileNotFoundError(path)
        return data, _token(data)

    def _put(self, path: str, data: bytes, token: Token) -> None:
        with _LOCK:
            current = self._current(path)
            state = None if current is None else _token(current)
            if state != token:
                raise FileExistsError(f"{path} changed")  # classified as a conflict
            self.fs.pipe_file(path, data)

    def _delete(self, path: str) -> None:
        with _LOCK:
            self.fs.rm_file(path)

    def _put_file(self, path: str, local_path: str) -> None:
        with open(local_path, "rb") as f:
            data = f.read()
        with _LOCK:  # whole bytes in one assignment: never a partial object
            self.fs.pipe_file(path, data)

    def touch(self, key: str) -> bool:
        """Freshen ``key`` for ``gc`` (its time becomes now); ``False`` when it is gone."""
        path = self.path(key)
        with _LOCK:
            data = self._current(path)
            if data is None:
                return False
            self.fs.pipe_file(path, data)
        return True

    def delete_if_old(self, key: str, cutoff: float, *, listed: float | None = None) -> bool:
        """gc's delete: remove ``key`` only if it last changed before ``cutoff`` (and, with
        ``listed``, still has the time gc's listing saw), in one step under the lock."""
        path = self.path(key)
        with _LOCK:
            try:
                info = self.fs.info(path)
            except FileNotFoundError:
                return False
            changed = _time(info.get("created"))
            if changed is None or changed >= cutoff or moved(changed, listed):
                return False
            self.fs.rm_file(path)
        return True


def _time(value: object) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, _dt.datetime):
        return value.timestamp()
    return None
