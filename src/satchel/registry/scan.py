"""Listings with change fingerprints and modification times, on any store backend.

The registry needs more from a listing than :meth:`StoreBackend.list` gives: the listing index
(:mod:`satchel.registry.index`) must know whether a small mutable file (attributes, an alias)
changed since it was cached, and ``gc`` must know how old an object is. This module asks the
backend for the cheapest source of those facts:

* local disk (:class:`~satchel.store.local.LocalBackend`): one ``os.scandir`` of the folder;
  the fingerprint is ``inode:size:mtime_ns`` (every satchel write replaces the file, so a
  change gets a new inode or a new mtime);
* buckets (:mod:`satchel.store.remote`): the ETag or generation, and the object's
  last-modified time;
* anything else (the "unsupported" defaults of :class:`~satchel.store.backend.BackendDefaults`):
  names only; callers then read every file (correct, just slower) and ``gc`` treats every
  object as young (it deletes nothing it cannot date).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from satchel.store.backend import StoreBackend
from satchel.store.local import changed_time

__all__ = ["Listed", "changed_time", "list_detailed", "modified_time", "walk_detailed"]


@dataclass(frozen=True, slots=True)
class Listed:
    """One name in a folder listing.

    Attributes:
        fingerprint: changes whenever the content changes; ``None`` when the backend cannot
            tell (the caller must read the file).
        mtime: last modification, seconds since the epoch; ``None`` when the fingerprint is
            unique per write by itself (an ETag or a generation), so no racy-time check applies.
    """

    fingerprint: str | None
    mtime: float | None


def list_detailed(backend: StoreBackend, prefix: str, *, hidden: bool = False) -> dict[str, Listed]:
    """Names directly below folder ``prefix`` with fingerprints.

    Args:
        backend: the store backend.
        prefix: a store folder key.
        hidden: also names starting with ``.`` (temporary files, and names an older satchel
            allowed; see :meth:`StoreBackend.list`).

    Returns:
        name -> :class:`Listed`; empty when the folder does not exist.
    """
    listed = backend.list_detailed(prefix, hidden=hidden)
    if backend.local_path(prefix) is not None:
        # an inode:size:mtime_ns fingerprint can stay the same across a rewrite within one
        # tick of the clock: the time goes with it for the racy-time check
        return {name: Listed(fp, mtime) for name, (fp, mtime) in listed.items()}
    # ETags and generations change with every write by themselves: no racy-time check (which
    # would also compare the service's clock with ours)
    return {name: Listed(fp, None) for name, (fp, _mtime) in listed.items()}


def walk_detailed(
    backend: StoreBackend, prefix: str, *, hidden: list[str] | None = None
) -> Iterator[tuple[str, int, float | None]]:
    """Yield ``(key, size, changed)`` for every object below folder ``prefix``
    (:meth:`StoreBackend.walk_detailed`).

    ``changed`` is when the object last changed (on local disk the later of mtime and ctime),
    ``None`` when the backend cannot date its objects. On local disk, hidden files (temporary
    writes, never objects) are skipped, and their paths appended to ``hidden`` when given.
    """
    return backend.walk_detailed(prefix, hidden=hidden)


def modified_time(backend: StoreBackend, key: str) -> float | None:
    """When ``key`` last changed (``None``: absent or unknown); on local disk the later of
    mtime and ctime (:meth:`StoreBackend.modified_time`)."""
    return backend.modified_time(key)
