"""The mutable builder behind a draft artifact.

A :class:`Draft` holds the entries a draft will commit, and for each entry whose bytes are not
in a store yet, a *source*: where those bytes are now.

* ``policy="mutable"``: the file is copied into the cache while it is hashed (one read per
  byte), so the committed bytes are the bytes seen at add time even if the file changes or is
  deleted before ``save()``. An unchanged file whose content the cache already holds (stat
  cache hit) is neither read nor copied again. Many small files are copied into *packs*
  (:class:`PackedSource`: one file in the cache's ``tmp/`` holding many files' bytes) rather
  than one cache file each, because creating a file costs 30-900 us on a busy disk while
  appending 4 KiB costs ~1 us; ``save()`` writes each object the store lacks from the pack
  into the store (a local store directly; a bucket through the cache, which keeps the copy),
  and the packs are deleted after the save or with the draft. An unchanged file whose content
  the (local) store already holds is not read or copied either: the store's object is its
  snapshot (:class:`StoredSource`).
* ``policy="immutable"``: only the digest is taken (stat cache first); the file is read again
  at save time and must still hash to that digest, or the save fails and commits nothing.
* ``skip_cache=True`` (either policy): as ``immutable``, and at save the file is streamed to
  the store without a cached copy, so a commit needs no cache room for the artifact.

Incremental drafts also remember removals, applied at save time on top of the latest version.
"""

from __future__ import annotations

import contextlib
import os
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec

from satchel import paths as logical_paths
from satchel.cache import Cache, hold
from satchel.errors import (
    EntryConflictError,
    EntryNotFoundError,
    SourceFileChangedError,
    SourceFileNotFoundError,
)
from satchel.hashing import LARGE_FILE, XXH128, b64_to_hex, hash_file
from satchel.ingest.bulk import snapshot_files
from satchel.ingest.statcache import stat_key
from satchel.ingest.tree import LocalFile, SkipFolder, digest_files, digest_tree
from satchel.manifest import NO_EXTRA, Manifest, ManifestEntry
from satchel.parallel import run_parallel
from satchel.progress import Bar, NullBar

POLICIES = ("mutable", "immutable")
#: a mutable add of at least this many small files (not in the cache yet) copies them into packs
PACK_MIN = 16


class CachedSource(msgspec.Struct, frozen=True, gc=False):
    """Bytes already in the cache (``mutable`` files, ``add``-ed objects, ``new_file``).

    ``verify``: the add found this cache copy rather than writing it (a stat-cache hit), so a
    save hashes it before storing it: a cache file damaged since never becomes a store object.
    """

    cache_path: str
    evict_after_save: bool = False
    verify: bool = False


class LocalSource(msgspec.Struct, frozen=True, gc=False):
    """A user's file to read again at save (``immutable`` policy, or ``skip_cache``), with its
    add-time stat.

    (Sources are msgspec structs: ``add_dir`` makes one per file, ~5x faster than a frozen
    dataclass.)

    Attributes:
        file: the file and its stat at add time.
        stream: ``skip_cache``: at save the file goes to the store through a checked copy
            that is not kept (see :class:`satchel.commit.Uploader`); the cache never holds it.
    """

    file: LocalFile
    stream: bool = False


class PackedSource(msgspec.Struct, frozen=True, gc=False):
    """A small ``mutable`` file's bytes, copied at add time into a pack in the cache's ``tmp/``."""

    pack: str
    offset: int
    size: int
    evict_after_save: bool = False

    def read(self) -> bytes:
        """The file's bytes as they were when added."""
        with open(self.pack, "rb") as f:
            f.seek(self.offset)
            return f.read(self.size)


class StoredSource(msgspec.Struct, frozen=True, gc=False):
    """Bytes a local store already holds as an object: a ``mutable`` add whose file the stat
    cache knows, and whose content the store the draft will most likely be saved to has (the
    cache keeps no copies of a local store's objects). Content-addressed and write-once, the
    object is as good a snapshot as a cache copy; it is read in place, never moved, changed or
    removed, and checked against the digest before it is copied anywhere."""

    path: str


Source = CachedSource | LocalSource | PackedSource | StoredSource
#: ``(alg, oid, size)`` -> the path of a local store's object of that size, or ``None``
StoreObjects = Callable[[str, str, int], "str | None"]


def _remove_files(paths: list[str], holds: list[int]) -> None:
    for fd in holds:
        with contextlib.suppress(OSError):
            os.close(fd)
    holds.clear()
    for p in paths:
        with contextlib.suppress(OSError):
            os.unlink(p)
    paths.clear()


class Draft:
    """Entries plus sources; all mutation of a draft artifact goes through here."""

    def __init__(self, alg: str, base: Manifest | None = None) -> None:
        """Start empty, or from ``base``'s entries (``new_draft``: no rehash, no download)."""
        self.alg = alg
        self.entries: dict[str, ManifestEntry] = dict(base.entries) if base is not None else {}
        #: the base manifest's entries; ``entries[p] is base[p]`` means inherited unchanged
        self.base: Mapping[str, ManifestEntry] | None = base.entries if base is not None else None
        self.sources: dict[str, Source] = {}
        self.removed: list[str] = []
        self.removed_in_draft: set[str] = set()  # incremental removals that matched own adds
        self.added_local: dict[str, str] = {}
        self.packs: list[str] = []
        # a shared lock on each pack while the draft lives: cache cleanup keeps held packs
        self._holds: list[int] = []
        weakref.finalize(self, _remove_files, self.packs, self._holds)

    def _keep_packs(self, packs: Iterable[str]) -> None:
        for pack in packs:
            self.packs.append(pack)
            with contextlib.suppress(FileNotFoundError):
                fd = hold(pack)
                if fd is not None:
                    self._holds.append(fd)

    def discard_packs(self) -> None:
        """Delete the packs (after a successful save; later reads of them would fail)."""
        _remove_files(self.packs, self._holds)

    # -- adding ---------------------------------------------------------------------------
    def put(
        self, entry: ManifestEntry, source: Source | None, *, overwrite: bool, what: str = "add"
    ) -> None:
        """Add one entry.

        Raises:
            EntryConflictError: the path holds other content and ``overwrite`` is false.
        """
        old = self.entries.get(entry.path)
        if old is not None and not overwrite:
            if old.digest == entry.digest and old.ref == entry.ref:
                if source is not None and entry.path not in self.sources:
                    self.sources[entry.path] = source
                return
            raise EntryConflictError(
                f"{entry.path!r} is already in the artifact with other content; pass "
                f"overwrite=True (merge=True for add_dir) to replace it, or remove it first"
            )
        self.entries[entry.path] = entry
        if source is not None:
            self.sources[entry.path] = source
        else:
            self.sources.pop(entry.path, None)

    def put_many(self, pairs: Iterable[tuple[ManifestEntry, Source]], local: Iterable[str]) -> None:
        """Add entries with their sources, replacing what is at their paths (what ``put`` with
        ``overwrite=True`` does, in one loop), and remember the local file each came from."""
        pairs = list(pairs)
        paths = [entry.path for entry, _source in pairs]
        self.entries.update(zip(paths, [entry for entry, _source in pairs]))
        self.sources.update(zip(paths, [source for _entry, source in pairs]))
        self.added_local.update(zip(local, paths))

    def check_conflicts(self, new: Iterable[ManifestEntry], *, overwrite: bool) -> None:
        """Raise before anything is added if any new entry would conflict.

        Raises:
            EntryConflictError: naming every conflicting path.
        """
        if overwrite:
            return
        bad = [
            e.path
            for e in new
            if (old := self.entries.get(e.path)) is not None
            and (old.digest != e.digest or old.ref != e.ref)
        ]
        if bad:
            shown = ", ".join(bad[:20]) + (f" (+{len(bad) - 20} more)" if len(bad) > 20 else "")
            raise EntryConflictError(
                f"{len(bad)} path(s) already in the artifact with other content: {shown}; "
                "pass overwrite=True (merge=True for add_dir) to replace them"
            )

    def ingest(
        self,
        files: list[LocalFile],
        logical: list[str],
        *,
        cache: Cache,
        policy: str,
        skip_cache: bool,
        bar: Bar | None = None,
        stored: StoreObjects | None = None,
    ) -> list[tuple[ManifestEntry, Source]]:
        """Digest local files under the given policy; return entries with their sources.

        ``stored`` finds objects a local store holds: a stat-cache hit whose bytes are there
        (looked for before the cache) is neither read nor copied (a :class:`StoredSource`)."""
        bar = bar or NullBar()
        extra: dict[str, Any] = {"alg": "XXH128"} if self.alg == XXH128 else NO_EXTRA
        if policy == "immutable" or skip_cache:
            digests = digest_files(files, self.alg, cache.stat_cache, on_done=bar.update)
            return [
                (ManifestEntry(p, d, f.size, None, extra), LocalSource(f, skip_cache))
                for f, p, d in zip(files, logical, digests)
            ]
        known = cache.stat_cache.lookup_many([f.key for f in files], self.alg)
        results: list[tuple[ManifestEntry, Source] | None] = [None] * len(files)
        todo: list[int] = []
        for i, (f, d) in enumerate(zip(files, known)):
            source: Source | None = None
            if d:
                spath = stored(self.alg, b64_to_hex(d), f.size) if stored is not None else None
                cpath = cache.get(self.alg, b64_to_hex(d), f.size) if spath is None else None
                if spath is not None:
                    source = StoredSource(spath)
                elif cpath is not None:
                    source = CachedSource(cpath, skip_cache, verify=True)
            if d and source is not None:
                results[i] = (ManifestEntry(logical[i], d, f.size, None, extra), source)
                bar.update(1)
            else:
                todo.append(i)

        fresh = []
        small = [i for i in todo if files[i].size < LARGE_FILE]
        if len(small) >= PACK_MIN:
            todo = [i for i in todo if files[i].size >= LARGE_FILE]
            try:
                snaps, packs = snapshot_files(
                    [files[i].abspath for i in small],
                    [files[i].size for i in small],
                    self.alg,
                    os.path.join(cache.tmp_dir(), f"pack-{uuid.uuid4().hex}"),
                    on_done=bar.update,
                )
            except FileNotFoundError as exc:  # vanished since the scan, as cache.add_file says
                raise SourceFileNotFoundError(f"file {exc.filename} does not exist") from exc
            self._keep_packs(packs)
            for i, (digest, size, pack, offset) in zip(small, snaps):
                results[i] = (
                    ManifestEntry(logical[i], digest, size, None, extra),
                    PackedSource(pack, offset, size, skip_cache),
                )
                if size == files[i].size:
                    fresh.append((files[i].key, digest))

        def copy(i: int) -> tuple[str, int, str]:
            out = cache.add_file(files[i].abspath, alg=self.alg)
            bar.update(1)
            return out

        for i, (digest, size, cpath) in zip(todo, run_parallel(copy, todo)):
            results[i] = (
                ManifestEntry(logical[i], digest, size, None, extra),
                CachedSource(cpath, skip_cache),
            )
            if size == files[i].size:
                fresh.append((files[i].key, digest))
        cache.stat_cache.store_many(fresh, self.alg)
        return [r for r in results if r is not None]

    def ingest_dir(
        self,
        root: str,
        prefix: str | None,
        *,
        cache: Cache,
        policy: str,
        skip_cache: bool,
        progress: Callable[[int], Callable[[int], None]] | None = None,
        skipped: list[tuple[str, str]] | None = None,
        skip: SkipFolder | None = None,
        stored: StoreObjects | None = None,
    ) -> tuple[list[LocalFile], list[tuple[ManifestEntry, Source]]]:
        """``add_dir``'s work: scan ``root`` and digest its files under ``policy`` while
        scanning (:func:`~satchel.ingest.tree.digest_tree`), as :meth:`ingest` does for a list.
        Sub-folders ``skip`` returns true for are left out.

        ``stored``: see :meth:`ingest`.

        Returns:
            The files (sorted) and, aligned with them, entries (logical path ``prefix/rel``)
            with their sources.

        Raises:
            SourceFileNotFoundError: no such folder, or a file vanished (mutable).
            InvalidPathError: a file's logical path is not valid (checked before waiting for
                the hashing).
        """
        extra: dict[str, Any] = {"alg": "XXH128"} if self.alg == XXH128 else NO_EXTRA
        mutable = policy == "mutable" and not skip_cache  # skip_cache: no snapshot copy

        def check(rels: list[str]) -> None:
            logical_paths.validate_many(
                [f"{prefix}/{r}" for r in rels] if prefix else rels, stored=False
            )

        in_store: dict[str, StoredSource] = {}

        def in_cache(digest: str, size: int) -> bool:  # or in the local store
            oid = b64_to_hex(digest)
            # the store first: after a commit to a local store it has them, the cache not
            spath = stored(self.alg, oid, size) if stored is not None else None
            if spath is not None:
                in_store[digest] = StoredSource(spath)
                return True
            return cache.get(self.alg, oid, size) is not None

        report: list[Callable[[int], None]] = []

        def started(total: int) -> Callable[[int], None]:
            report.append(progress(total) if progress is not None else (lambda n: None))
            return report[0]

        try:
            tree = digest_tree(
                root,
                self.alg,
                cache.stat_cache,
                reuse=in_cache if mutable else None,
                pack_prefix=(
                    os.path.join(cache.tmp_dir(), f"pack-{uuid.uuid4().hex}") if mutable else None
                ),
                check=check,
                progress=started,
                skipped=skipped,
                skip=skip,
            )
        except SourceFileNotFoundError:
            raise
        except FileNotFoundError as exc:
            if not mutable:
                raise
            raise SourceFileNotFoundError(f"file {exc.filename} does not exist") from exc
        self._keep_packs(tree.packs)
        files = tree.files
        logical = [f"{prefix}/{f.rel}" for f in files] if prefix else [f.rel for f in files]
        pairs: list[tuple[ManifestEntry, Source]] = []
        copy: list[int] = []
        for i, (f, path, digest) in enumerate(zip(files, logical, tree.digests)):
            size = tree.sizes[i]
            source: Source
            if not mutable:
                source = LocalSource(f, skip_cache)
            elif (where := tree.packed[i]) is not None:
                source = PackedSource(where[0], where[1], size, skip_cache)
            elif digest is not None:  # a stat-cache hit the cache or the store holds (in_cache)
                source = in_store.get(digest) or CachedSource(
                    cache.object_path(self.alg, b64_to_hex(digest)), skip_cache, verify=True
                )
            else:
                copy.append(i)  # a large mutable file: copied into the cache below
                source = CachedSource("", skip_cache)
            pairs.append((ManifestEntry(path, digest or "", size, None, extra), source))
        if copy:

            def add(i: int) -> tuple[str, int, str]:
                out = cache.add_file(files[i].abspath, alg=self.alg)
                report[0](1)
                return out

            fresh = []
            for i, (digest, size, cpath) in zip(copy, run_parallel(add, copy)):
                pairs[i] = (
                    ManifestEntry(logical[i], digest, size, None, extra),
                    CachedSource(cpath, skip_cache),
                )
                if size == files[i].size:
                    fresh.append((files[i].key, digest))
            cache.stat_cache.store_many(fresh, self.alg)
        return files, pairs

    # -- removing -------------------------------------------------------------------------
    def remove(self, path: str, *, incremental: bool) -> list[str]:
        """Remove a file, or everything below a folder; return the removed paths.

        Raises:
            EntryNotFoundError: nothing at or below ``path`` (non-incremental drafts).
        """
        path = logical_paths.normalize(path, stored=True)  # may name an inherited entry
        hits = [p for p in self.entries if logical_paths.is_under(p, path)]
        for p in hits:
            del self.entries[p]
            self.sources.pop(p, None)
        if incremental:
            self.removed.append(path)
            if hits:  # removing a file this draft added is fine even if the base lacks it
                self.removed_in_draft.add(path)
        elif not hits:
            raise EntryNotFoundError(
                f"nothing at {path!r} in the artifact; see artifact.manifest.entries for its paths"
            )
        return hits

    # -- building -------------------------------------------------------------------------
    def build(self, base: Manifest | None) -> Manifest:
        """The manifest to commit: the entries, or for incremental drafts ``base`` changed.

        Raises:
            EntryNotFoundError: an incremental removal matched nothing in ``base``.
            EntryConflictError: a path is both a file and a folder (no download could hold it).
        """
        if base is None and not self.removed:
            _check_file_folder_clash(self.entries)
            return Manifest(self.entries, digest_algorithm=self.alg)
        merged = dict(base.entries) if base is not None else {}
        for path in self.removed:
            hits = [p for p in merged if logical_paths.is_under(p, path)]
            if not hits and path not in self.removed_in_draft:
                raise EntryNotFoundError(
                    f"incremental draft removes {path!r}, which the latest version does not have"
                )
            for p in hits:
                del merged[p]
        merged.update(self.entries)
        _check_file_folder_clash(merged)
        return Manifest(merged, digest_algorithm=self.alg)

    def check_sources(self, paths: Iterable[str]) -> None:
        """Before uploading: every immutable-policy file must still hold its add-time bytes.

        Raises:
            SourceFileChangedError: listing every changed or deleted file.
        """
        changed: list[str] = []
        for path in paths:
            src = self.sources.get(path)
            if not isinstance(src, LocalSource):
                continue
            f = src.file
            try:
                st = os.stat(f.abspath)
            except FileNotFoundError:
                changed.append(f"{path} ({f.abspath} was deleted)")
                continue
            if stat_key(st) == f.key:
                continue
            if hash_file(f.abspath, self.alg)[0] != self.entries[path].digest:
                changed.append(f"{path} ({f.abspath})")
        if changed:
            raise SourceFileChangedError(
                f"{len(changed)} file(s) added with policy='immutable' changed before save: "
                + ", ".join(changed[:20])
                + ". Nothing was committed; add them again, or use policy='mutable' to "
                "snapshot files at add time",
                paths=changed,
            )


def _check_file_folder_clash(entries: dict[str, ManifestEntry]) -> None:
    """Raise if a logical path is a file and also the folder of other files (``x``, ``x/a``)."""
    seen: set[str] = set()
    clashes: list[str] = []
    for path in entries:
        folder = path.rpartition("/")[0]
        while folder and folder not in seen:  # each folder (and so its parents) checked once
            seen.add(folder)
            if folder in entries:
                clashes.append(folder)
            folder = folder.rpartition("/")[0]
    if clashes:
        shown = ", ".join(sorted(clashes)[:20])
        raise EntryConflictError(
            f"{len(clashes)} path(s) are both a file and a folder of other files: {shown}; "
            "no folder can hold both. Remove or rename one of them"
        )
