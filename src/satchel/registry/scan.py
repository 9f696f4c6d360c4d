"""Listings with change fingerprints and modification times, on any store backend.

The registry needs more from a listing than :meth:`StoreBackend.list` gives: the listing index
(:mod:`satchel.registry.index`) must know whether a small mutable file (attributes, an alias)
changed since it was cached, and ``gc`` must know how old an object is. This module asks the
backend for the cheapest source of those facts:

* local disk: one ``os.scandir`` of the folder; the fingerprint is ``inode:size:mtime_ns``
  (every satchel write replaces the file, so a change gets a new inode or a new mtime);
* a backend offering ``list_detailed(prefix) -> {name: (fingerprint, mtime)}``,
  ``walk_detailed(prefix) -> Iterator[(key, size, mtime)]`` and ``modified_time(key)``
  (:mod:`satchel.store.remote`: the ETag or generation, and the object's last-modified time);
* anything else: names only; callers then read every file (correct, just slower) and ``gc``
  treats every object as young (it deletes nothing it cannot date).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

from satchel.store.backend import StoreBackend


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
    local = backend.local_path(prefix)
    if local is not None:
        out: dict[str, Listed] = {}
        try:
            with os.scandir(local) as it:
                for e in it:
                    if e.name.startswith(".") and not hidden:
                        continue
                    # the inode alone (free from readdir) is not enough: a folder rebuilt by
                    # hand reuses freed inode numbers at once
                    with contextlib.suppress(FileNotFoundError):
                        st = e.stat(follow_symlinks=False)
                        out[e.name] = Listed(
                            f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}", st.st_mtime_ns / 1e9
                        )
        except (FileNotFoundError, NotADirectoryError):
            return {}
        return out
    detailed = getattr(backend, "list_detailed", None)
    if detailed is not None:
        # ETags and generations change with every write by themselves: no racy-time check
        # (which would also compare the service's clock with ours)
        return {
            name: Listed(fp, None) for name, (fp, _mtime) in detailed(prefix, hidden=hidden).items()
        }
    return {name: Listed(None, None) for name in backend.list(prefix, hidden=hidden)}


def walk_detailed(
    backend: StoreBackend, prefix: str, *, hidden: list[str] | None = None
) -> Iterator[tuple[str, int, float | None]]:
    """Yield ``(key, size, changed)`` for every object below folder ``prefix``.

    ``changed`` is when the object last changed (on local disk the later of mtime and ctime),
    ``None`` when the backend cannot date its objects. On local disk, hidden files (temporary
    writes, never objects) are skipped, and their paths appended to ``hidden`` when given.
    """
    local = backend.local_path(prefix)
    if local is not None:
        root = backend.local_path("")
        assert root is not None
        root = root.rstrip(os.sep)
        for dirpath, _dirs, files in os.walk(local):
            rel = os.path.relpath(dirpath, root).replace(os.sep, "/")
            for name in files:
                if name.startswith("."):
                    if hidden is not None:
                        hidden.append(os.path.join(dirpath, name))
                    continue
                with contextlib.suppress(FileNotFoundError):
                    st = os.stat(os.path.join(dirpath, name))
                    yield f"{rel}/{name}", st.st_size, changed_time(st)
        return
    detailed = getattr(backend, "walk_detailed", None)
    if detailed is not None:
        yield from detailed(prefix)
        return
    for key, size in backend.walk(prefix):
        yield key, size, None


def modified_time(backend: StoreBackend, key: str) -> float | None:
    """When ``key`` last changed (``None``: absent or unknown); on local disk the later of
    mtime and ctime."""
    local = backend.local_path(key)
    if local is not None:
        try:
            return changed_time(os.stat(local))
        except FileNotFoundError:
            return None
    stat = getattr(backend, "modified_time", None)
    if stat is not None:
        result: float | None = stat(key)
        return result
    return None


def changed_time(st: os.stat_result) -> float:
    """When a local file last changed: the later of its mtime and ctime."""
    # Local stores place objects by hard-linking cache files, which keeps the cache file's old
    # mtime; the link (and any touch or chmod) updates ctime, so "last changed" is the later.
    return max(st.st_mtime, st.st_ctime)
