"""What a store needs from the filesystem under it.

A :class:`StoreBackend` speaks in store-relative POSIX keys (``"versions/3.json"``). Two atomic
primitives carry every commit and every update; the store never writes a shared record in any
other way:

* :meth:`StoreBackend.create_if_absent` - write only when the key does not exist (local disk:
  link of a temp file; S3 / Azure: ``If-None-Match: *``; GCS: ``ifGenerationMatch=0``);
* :meth:`StoreBackend.replace_if_unchanged` - write only when the key still holds what the caller
  read, identified by the *token* :meth:`StoreBackend.read_token` returned (local: a content
  hash under a lock; S3 / Azure: the ETag; GCS: the generation).

Content objects are write-once and content-addressed, so :meth:`StoreBackend.put_file` may
overwrite (the bytes are the same), but must never expose a partial object.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import BinaryIO, Protocol

#: opaque token identifying one stored state of a key; ``None`` means "absent"
Token = str | None


class StoreBackend(Protocol):
    """The filesystem operations a store is built on."""

    url: str

    def read(self, key: str) -> bytes:
        """Return the bytes at ``key``; raise ``FileNotFoundError`` when absent."""
        ...

    def read_token(self, key: str) -> tuple[bytes | None, Token]:
        """Return ``(bytes, token)``, or ``(None, None)`` when ``key`` is absent."""
        ...

    def create_if_absent(self, key: str, data: bytes) -> bool:
        """Write ``key`` only if it does not exist. Returns ``False`` when it existed."""
        ...

    def replace_if_unchanged(self, key: str, data: bytes, token: Token) -> bool:
        """Write ``key`` only if its state still matches ``token``.

        ``token=None`` means the key must still be absent. Returns ``False`` on conflict.
        """
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""
        ...

    def exists(self, key: str) -> bool:
        """Tell whether ``key`` exists."""
        ...

    def list(self, prefix: str, *, hidden: bool = False) -> list[str]:
        """Names (not keys) directly below folder ``prefix``; empty when it does not exist.

        Names starting with ``.`` (temporary files of writers) are left out unless ``hidden``:
        the store asks for them where an older satchel may have put folders or records with
        such names (projects, collections, aliases, pending parts).
        """
        ...

    def walk(self, prefix: str) -> Iterator[tuple[str, int]]:
        """Yield ``(key, size)`` for every object at any depth below folder ``prefix``."""
        ...

    def put_file(self, key: str, local_path: str) -> None:
        """Store the content of ``local_path`` at ``key`` atomically."""
        ...

    def open(self, key: str) -> BinaryIO:
        """Open ``key`` for streaming reads; raise ``FileNotFoundError`` when absent."""
        ...

    def size(self, key: str) -> int | None:
        """The size of ``key`` in bytes, or ``None`` when absent."""
        ...

    def existing(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` that exist, found with as few requests as possible."""
        ...

    def local_path(self, key: str) -> str | None:
        """The path of ``key`` on local disk when the store is local, else ``None``."""
        ...
