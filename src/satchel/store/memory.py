"""The ``memory://`` store backend, for quick tests and notebooks.

fsspec's ``MemoryFileSystem`` keeps every file in one dictionary shared by the whole process,
so its atomic primitives are a compare-then-write under one process-wide lock (the lock is
module state on purpose: it guards state that is itself process-wide). The token is the
SHA-256 of the content. Nothing is shared between processes: a ``memory://`` store lives and
dies with its process.
"""

from __future__ import annotations

import hashlib
import threading

from satchel.store.backend import Token
from satchel.store.remote import FsspecBackend

_LOCK = threading.Lock()


def _token(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class MemoryBackend(FsspecBackend):
    """A store in the process's ``memory://`` filesystem."""

    writable = True

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
