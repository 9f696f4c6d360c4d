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

The rest of the contract is optional: what a backend can do beyond the primitives is declared
in its :class:`Capabilities` record, and every optional member has an "unsupported" default in
:class:`BackendDefaults` (which every backend inherits), so callers never probe for members:

=====================  ===========================  =====================================
member                 unsupported default          offered by
=====================  ===========================  =====================================
``io_workers``         ``None`` (the local pool)    buckets (16 transfers at once)
``touch``              ``False``: not freshened     local, ``memory://``, S3, GCS, Azure
``move_file``          ``put_file`` (file stays)    local (a rename)
``delete_if_old``      ``False``: nothing deleted   ``memory://``, GCS, Azure
``list_detailed``      names, no fingerprints       local, every fsspec backend
``walk_detailed``      ``walk``, no times           local, every fsspec backend
``modified_time``      ``None`` (unknown)           local, every fsspec backend
=====================  ===========================  =====================================
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

#: opaque token identifying one stored state of a key; ``None`` means "absent"
Token = str | None
#: ``(fingerprint, mtime)`` of a listed name (see :meth:`StoreBackend.list_detailed`)
Detail = tuple[str | None, float | None]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend can do beyond the primitives every backend has.

    Attributes:
        freshen: :meth:`StoreBackend.touch` makes an object young for ``gc`` (without it the
            store cannot protect objects a commit relies on: they are uploaded again).
        conditional_delete: :meth:`StoreBackend.delete_if_old` checks an object's age and
            deletes it in one conditional step (without it ``gc`` re-reads the time and
            deletes, or on local disk renames the file aside first).
        fingerprints: :meth:`StoreBackend.list_detailed` gives a change fingerprint for every
            file and ``None`` for every sub-folder (without it every fingerprint is ``None``
            and the reader reads each file).
    """

    freshen: bool = False
    conditional_delete: bool = False
    fingerprints: bool = False


#: a backend that offers nothing optional
UNSUPPORTED = Capabilities()


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

    # -- optional: declared in ``capabilities``, defaults in BackendDefaults -----------------
    #: what this backend offers beyond the primitives
    capabilities: Capabilities
    #: how many transfers are worth running at once (a remote store's pool); ``None``: the
    #: local pool (more threads copying local files only contend for the GIL)
    io_workers: int | None

    def touch(self, key: str) -> bool:
        """Mark ``key`` as just used, so ``gc`` counts it as young (``capabilities.freshen``).

        Returns:
            ``False`` when the key is gone or cannot be freshened (the caller writes it
            again); always ``False`` where unsupported.
        """
        ...

    def move_file(self, key: str, local_path: str) -> None:
        """Store ``local_path`` at ``key``; the caller gives the file up. A local store renames
        it into place (no copy); where unsupported it is uploaded (:meth:`put_file`) and
        left where it is."""
        ...

    def delete_if_old(self, key: str, cutoff: float, *, listed: float | None = None) -> bool:
        """gc's delete (``capabilities.conditional_delete``): remove ``key`` only if it last
        changed before ``cutoff`` (and, with ``listed``, still has the time gc's listing saw),
        conditionally on the state looked at.

        Returns:
            Whether it was deleted; always ``False`` where unsupported.
        """
        ...

    def list_detailed(self, prefix: str, *, hidden: bool = False) -> dict[str, Detail]:
        """Names directly below folder ``prefix`` -> ``(fingerprint, mtime)``, as :meth:`list`.

        The fingerprint changes whenever the content does (local disk:
        ``inode:size:mtime_ns``; S3 / Azure: the ETag; GCS: the generation); ``None`` for a
        sub-folder on a bucket and for everything where unsupported. ``mtime`` is the last
        change (seconds since the epoch) or ``None`` when unknown.
        """
        ...

    def walk_detailed(
        self, prefix: str, *, hidden: builtins.list[str] | None = None
    ) -> Iterator[tuple[str, int, float | None]]:
        """Yield ``(key, size, changed)`` for every object below folder ``prefix``, as
        :meth:`walk`; ``changed`` is when it last changed (local disk: the later of mtime and
        ctime), ``None`` when unknown (always, where unsupported). Paths of the hidden files
        skipped (writers' temporaries on local disk) are appended to ``hidden`` when given."""
        ...

    def modified_time(self, key: str) -> float | None:
        """When ``key`` last changed, ``None`` when absent or unknown (always, where
        unsupported)."""
        ...


class BackendDefaults:
    """The "unsupported" defaults of the optional members of :class:`StoreBackend`; every
    backend inherits them and overrides what it offers (declaring it in ``capabilities``)."""

    capabilities: Capabilities = UNSUPPORTED
    io_workers: int | None = None

    def touch(self, key: str) -> bool:
        """Unsupported: nothing is freshened (``False``: the caller writes the key again)."""
        return False

    def move_file(self, key: str, local_path: str) -> None:
        """Upload ``local_path`` to ``key`` and leave it where it is."""
        self.put_file(key, local_path)

    def put_file(
        self, key: str, local_path: str
    ) -> None:  # pragma: no cover - every backend has one
        """Store the content of ``local_path`` at ``key`` atomically."""
        raise NotImplementedError

    def delete_if_old(self, key: str, cutoff: float, *, listed: float | None = None) -> bool:
        """Unsupported: nothing is deleted (``False``)."""
        return False

    def list(self, prefix: str, *, hidden: bool = False) -> list[str]:  # pragma: no cover
        """Names directly below folder ``prefix`` (every backend has its own)."""
        raise NotImplementedError

    def walk(self, prefix: str) -> Iterator[tuple[str, int]]:  # pragma: no cover
        """``(key, size)`` of every object below folder ``prefix`` (every backend has its own)."""
        raise NotImplementedError

    def list_detailed(self, prefix: str, *, hidden: bool = False) -> dict[str, Detail]:
        """Unsupported: the names of :meth:`list`, with neither fingerprint nor time."""
        return {name: (None, None) for name in self.list(prefix, hidden=hidden)}

    def walk_detailed(
        self, prefix: str, *, hidden: builtins.list[str] | None = None
    ) -> Iterator[tuple[str, int, float | None]]:
        """Unsupported: the objects of :meth:`walk`, undated."""
        for key, size in self.walk(prefix):
            yield key, size, None

    def modified_time(self, key: str) -> float | None:
        """Unsupported: ``None`` (unknown)."""
        return None
