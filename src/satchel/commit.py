"""Getting a manifest's content objects into a store (step 1 of the commit protocol).

Only objects the store lacks are sent (checked in bulk). Their bytes come from the draft's
sources: cached copies (or packs, see :mod:`satchel.draft`) for ``mutable`` files, the user's
file for ``immutable`` ones (copied while hashing and checked against the add-time digest, so a
file that changed in the meantime can never be stored under a wrong name), or, for entries a
draft inherited, the cache or the store the draft came from. Uploads run in a bounded pool.

A local store never shares an inode with the cache: it takes over the cache's copy with one
rename (so there is no moment, even in a crash, when one inode has both names), and bytes that
must be written (from immutable files, another store) are first written to a private file in
the cache's ``tmp/`` that it takes over the same way. Bytes from packs (many small files) are
checked against their digests and written straight into the store, each as a private
temporary file in its object's folder renamed to the object's name, a pack's entries in
batches (:meth:`Uploader._send_packed`: per file one create, write, rename and close). Cache copies that an earlier add
found (rather than made) are hashed first, so a damaged cache file never becomes a store
object. A bucket store gets uploads of cache files, which stay as the cache's copies.

Files added with ``skip_cache=True`` never enter the cache: each is copied while hashed
straight into a local store (atomically, so a mismatch leaves nothing), or, for a bucket, into
a scratch file in the cache's ``tmp/`` that is uploaded and removed at once; the cache needs
room for the files in flight (at most one per transfer worker), not for the artifact.

After the commit point :meth:`Uploader.confirm` checks that the version is whole and sends again,
from the same local bytes, whatever a concurrent ``gc`` removed (see :meth:`Store.complete`).
"""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from satchel.cache import Cache, check_digest
from satchel.draft import CachedSource, Draft, LocalSource, PackedSource, StoredSource
from satchel.errors import (
    DigestMismatchError,
    SatchelError,
    SourceFileChangedError,
    StoreError,
)
from satchel.fsutil import READ_ONLY, write_small_atomic
from satchel.hashing import hash_bytes, hash_file
from satchel.manifest import Manifest, ManifestEntry
from satchel.parallel import run_parallel
from satchel.progress import ProgressFactory, null_factory
from satchel.store import Store, layout
from satchel.store.records import VersionRecord

#: most packed entries one pool task writes into a local store (see Uploader._send_packed)
PACK_BATCH = 256


def _changed_while_saving(entry: ManifestEntry, src: LocalSource) -> SourceFileChangedError:
    """The error for a source file whose bytes no longer hash to what the draft recorded."""
    return SourceFileChangedError(
        f"{entry.path} ({src.file.abspath}) changed while saving; nothing was committed. "
        "Add it again",
        paths=[entry.path],
    )


@dataclass(frozen=True, slots=True)
class Uploader:
    """Callable given to :meth:`Store.commit` as its ``upload`` step."""

    draft: Draft
    store: Store
    cache: Cache
    origin: Store | None = None
    progress: ProgressFactory = null_factory
    based_on: VersionRecord | None = None
    #: versions whose objects a call trusted without checking or freshening them (the base of
    #: a new_draft, the collection's latest version), with the objects of the manifest they hold
    relied: list[tuple[VersionRecord, frozenset[tuple[str, str]]]] = field(default_factory=list)
    #: logical path -> the local file it was added from (built when first needed)
    _originals: dict[str, str] = field(default_factory=dict)

    def __call__(self, manifest: Manifest, latest: VersionRecord | None = None) -> None:
        """Make sure every stored-content object of ``manifest`` is in the store.

        ``latest`` is the collection's latest live version the commit just read: its objects
        need no check (see :meth:`_held_by`).

        Raises:
            SourceFileChangedError: an immutable-policy file changed since it was added.
            StoreError: an inherited object is in neither the cache nor the origin store.
        """
        inherited = self._inherited()
        stored = [e for e in manifest if not e.is_reference and inherited.get(e.path) is not e]
        self.relied.clear()
        if inherited and self.based_on is not None:
            kept = frozenset((e.alg, e.oid) for e in manifest if inherited.get(e.path) is e)
            self.relied.append((self.based_on, kept))
        self.draft.check_sources(e.path for e in stored if e.path in self.draft.sources)
        by_key: dict[tuple[str, str], ManifestEntry] = {}
        for e in stored:
            key = (e.alg, e.oid)
            if key not in by_key or e.path in self.draft.sources:
                by_key[key] = e
        held = self._held_by(latest)
        if latest is not None and held:
            self.relied.append((latest, frozenset(k for k in by_key if k in held)))
        missing = self.store.missing_objects(k for k in by_key if k not in held)
        todo = [by_key[k] for k in sorted(missing)]
        if not todo:
            return
        bar = self.progress(len(todo), f"uploading to {self.store.url}")
        jobs: list[tuple[str, list[ManifestEntry]]] = []
        if self.store.backend.local_path("") is not None:
            jobs, todo = self._pack_jobs(todo)
        jobs += [("", [e]) for e in todo]
        made: set[str] = set()

        def send(job: tuple[str, list[ManifestEntry]]) -> None:
            pack, entries = job
            if pack:
                self._send_packed(pack, entries, made)
            else:
                self._send(entries[0])
            bar.update(len(entries))

        try:
            # a remote store advertises how many transfers are worth running at once
            run_parallel(send, jobs, workers=self.store.backend.io_workers)
        finally:
            bar.close()

    def _pack_jobs(
        self, todo: list[ManifestEntry]
    ) -> tuple[list[tuple[str, list[ManifestEntry]]], list[ManifestEntry]]:
        """For a local store: the entries whose bytes are in a pack, in runs of at most
        :data:`PACK_BATCH` of one pack in pack order (written by :meth:`_send_packed`), and
        the other entries."""
        by_pack: dict[str, list[tuple[int, ManifestEntry]]] = {}
        rest: list[ManifestEntry] = []
        for e in todo:
            src = self.draft.sources.get(e.path)
            if isinstance(src, PackedSource):
                by_pack.setdefault(src.pack, []).append((src.offset, e))
            else:
                rest.append(e)
        jobs: list[tuple[str, list[ManifestEntry]]] = []
        for pack, items in by_pack.items():
            items.sort(key=lambda item: item[0])
            run = [e for _o, e in items]
            jobs += [(pack, run[i : i + PACK_BATCH]) for i in range(0, len(run), PACK_BATCH)]
        return jobs, rest

    def _send_packed(self, pack: str, entries: list[ManifestEntry], made: set[str]) -> None:
        """Write packed entries' objects straight into a local store: each one's bytes are
        read from the pack (one ``pread``), checked against its digest (a damaged pack never
        becomes a store object), and written as a new read-only file in the object's own
        folder that is renamed to the object's name (as :func:`~satchel.fsutil.atomic_file`
        does: a crash leaves no half-written object). No cache file is made or moved, so no
        store object ever shares an inode with the cache. For many small files this is a
        third of the system calls of staging each in the cache's ``tmp/`` and moving it.

        Raises:
            DigestMismatchError: the pack's bytes for an entry are damaged; nothing of that
                entry was kept (the save fails and commits nothing).
        """
        fd = os.open(pack, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
        try:
            for entry in entries:
                src = self.draft.sources[entry.path]
                assert isinstance(src, PackedSource)
                data = os.pread(fd, src.size, src.offset)
                check_digest(
                    f"{entry.path} (copied at add time into {pack})",
                    hash_bytes(data, entry.alg),
                    entry.digest,
                )
                target = self.store.local_object_path(entry.alg, entry.oid)
                assert target is not None
                write_small_atomic(target, data, mode=READ_ONLY, made=made)
        finally:
            os.close(fd)

    def _inherited(self) -> Mapping[str, ManifestEntry]:
        """Entries a ``new_draft()`` took unchanged from its base version, whose objects need no
        check because the draft is saved back into the store of that version.

        Their objects are referenced by the base version, so they are in the store and no
        ``gc`` removes them while the base version is live; checking and freshening each one
        costs a stat and a touch per file (~1 s for 100,000 files on local disk, a request per
        file on a bucket). If the base version is deleted during the save, the commit's lease
        makes a concurrent ``gc`` treat it as live still (:mod:`satchel.store.leases`), and
        :meth:`confirm` freshens these objects after the commit point and checks them with
        every other. Drafts saved to another store, or under another name (``based_on`` is
        then ``None``: gc marks one collection at a time, so only a base in the same
        collection is seen together with the new version), check every object.
        """
        base, rec = self.draft.base, self.based_on
        if base is None or rec is None or self.origin is not self.store:
            return {}
        try:
            self.store.version(rec.project, rec.name, rec.version)
        except SatchelError:  # deleted (or unreadable): check everything
            return {}
        return base

    def _held_by(self, latest: VersionRecord | None) -> set[tuple[str, str]]:
        """Objects the collection's latest live version names: they are in the store, and no
        ``gc`` removes them while that version is live, so they need neither an existence
        check nor a freshening (on a bucket, one request each). This makes re-adding a folder
        with a few changes as cheap on a bucket as a ``new_draft()`` is, and is protected the
        same way as :meth:`_inherited` when that version is deleted during the save."""
        if latest is None:
            return set()
        try:
            manifest = self.store.manifest_for(latest)
        except SatchelError:  # unreadable, or not what the record says: check everything
            return set()
        return {(e.alg, e.oid) for e in manifest if not e.is_reference}

    def _send(self, entry: ManifestEntry) -> None:
        """Put one object the store lacks into it.

        A local store takes over a cache file (a rename: no copy, and the cache keeps no
        second name for it); bytes that must be written anyway (from a pack, an immutable
        file, another store) are first written to a private file in the cache's ``tmp/``, so
        they never appear as a cache object at all. Either way a store object never shares an
        inode with a cache file and the cache stays disposable. Other stores get an upload
        of a cache object, which stays as the cache's copy (a bucket's downloads go through
        the cache).
        """
        src = self.draft.sources.get(entry.path)
        if isinstance(src, LocalSource) and src.stream:
            self._stream(entry, src)
            return
        target = self.store.local_object_path(entry.alg, entry.oid)
        local = target is not None
        for attempt in (0, 1):
            path = self._local_copy(entry, stage=local)
            move = local and self.cache.owns(path)
            try:
                self.store.put_object(entry.alg, entry.oid, path, move=move)
                return
            except FileNotFoundError as exc:
                # Another process sharing the cache moved this cache file into a store first
                # (the same bytes, maybe into this store): look again, once.
                if not move or attempt or os.fsdecode(exc.filename or "") != path:
                    raise
                if target is not None and os.path.exists(target):
                    return
            finally:
                if self.cache.is_staged(path):  # not taken over (a failed move): not kept
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)

    def _stream(self, entry: ManifestEntry, src: LocalSource) -> None:
        """``skip_cache``: a copy checked against the add-time digest while it is written,
        straight into a local store, or through a scratch file (removed at once) to a bucket."""
        local = self.store.backend.local_path(layout.object_key(entry.alg, entry.oid))
        scratch = (
            None
            if local is not None
            else os.path.join(self.cache.tmp_dir(), f"stream-{os.getpid()}-{uuid.uuid4().hex}")
        )
        try:
            try:
                with open(src.file.abspath, "rb") as f:
                    self.cache.put_stream(
                        f,
                        local or scratch or "",
                        alg=entry.alg,
                        expected_digest=entry.digest,
                        what=f"{entry.path} ({src.file.abspath})",
                    )
            except (DigestMismatchError, FileNotFoundError) as exc:
                raise _changed_while_saving(entry, src) from exc
            if scratch is not None:
                self.store.put_object(entry.alg, entry.oid, scratch)
        finally:
            if scratch is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(scratch)

    def _local_copy(self, entry: ManifestEntry, *, stage: bool = False) -> str:
        """A local file holding ``entry``'s verified bytes, to store.

        Args:
            entry: the object's entry.
            stage: bytes that must be written go to a private file in the cache's ``tmp/``
                (for a local store, which takes it over) instead of a cache object.

        Returns:
            A cache file (an object, or a staged file), or a local origin store's object read
            in place (which the store must copy, never move).

        Raises:
            SourceFileChangedError: an immutable file changed since it was added.
            DigestMismatchError: the origin store's object is corrupt.
            StoreError: the bytes are nowhere to be found.
        """
        src = self.draft.sources.get(entry.path)
        if isinstance(src, CachedSource) and os.path.exists(src.cache_path):
            if not src.verify or self._intact(src.cache_path, entry):
                return src.cache_path
        elif isinstance(src, StoredSource) and os.path.exists(src.path):
            self._check_stored(src.path, entry)
            return src.path  # a local store's object: the target copies it, never moves it
        elif isinstance(src, PackedSource):
            what = f"{entry.path} (copied at add time into {src.pack})"
            if stage:
                return self.cache.stage_stream(
                    io.BytesIO(src.read()),
                    alg=entry.alg,
                    expected_digest=entry.digest,
                    what=what,
                )
            dest = self.cache.get(entry.alg, entry.oid, entry.size)
            if dest is None:
                dest = self.cache.object_path(entry.alg, entry.oid)
                self.cache.put_stream(
                    io.BytesIO(src.read()),
                    dest,
                    alg=entry.alg,
                    expected_digest=entry.digest,
                    what=what,
                )
            return dest
        elif isinstance(src, LocalSource):
            try:
                return self.cache.add_file(
                    src.file.abspath, alg=entry.alg, expected_digest=entry.digest, stage=stage
                )[2]
            except (DigestMismatchError, FileNotFoundError) as exc:
                raise _changed_while_saving(entry, src) from exc
        cached = self.cache.get(entry.alg, entry.oid, entry.size)
        if cached is not None and self._intact(cached, entry):
            return cached
        if self.origin is not None and self.origin is not self.store:
            return self._from_origin(self.origin, entry, stage)
        original = self._from_original(entry, stage)
        if original is not None:
            return original
        raise StoreError(
            f"content of {entry.path} (digest {entry.digest}) is in neither the store "
            f"{self.store.url} nor the local cache; add the file again"
        )

    def _check_stored(self, path: str, entry: ManifestEntry) -> None:
        """A local store's object about to be copied into another store must hold
        ``entry``'s bytes (it is never changed or removed for failing).

        Raises:
            DigestMismatchError: it is corrupt.
        """
        got = hash_file(path, entry.alg)[0]
        if got != entry.digest:
            raise DigestMismatchError(
                f"{entry.path}: the store object {path} is corrupt (its bytes hash to {got}, "
                f"expected {entry.digest}); nothing was copied and the object was left as it "
                "is. Run 'satchel fsck --deep' on its store",
                digest=got,
                expected=entry.digest,
            )

    def _intact(self, path: str, entry: ManifestEntry) -> bool:
        """Whether a cache file still holds ``entry``'s bytes; a damaged one is evicted (the
        cache is disposable; a damaged copy must never become a store's object)."""
        try:
            ok = hash_file(path, entry.alg)[0] == entry.digest
        except FileNotFoundError:
            return False
        if not ok:
            self.cache.evict(path)
        return ok

    def _from_origin(self, origin: Store, entry: ManifestEntry, stage: bool) -> str:
        """``entry``'s object from the store the draft came from, checked against its digest:
        a local origin's object is read in place (and never changed or removed, even when it
        is corrupt: it may be the only copy), a remote one streamed into the cache."""
        key = layout.object_key(entry.alg, entry.oid)
        in_place = origin.local_object_path(entry.alg, entry.oid)
        try:
            if in_place is not None:
                got = hash_file(in_place, entry.alg)[0]
                if got != entry.digest:
                    raise DigestMismatchError("", digest=got, expected=entry.digest)
                return in_place
            what = f"{origin.url} object {entry.oid}"
            with origin.open_object(entry.alg, entry.oid) as f:
                if stage:
                    return self.cache.stage_stream(
                        f, alg=entry.alg, expected_digest=entry.digest, what=what
                    )
                dest = self.cache.object_path(entry.alg, entry.oid)
                self.cache.put_stream(
                    f, dest, alg=entry.alg, expected_digest=entry.digest, what=what
                )
                return dest
        except DigestMismatchError as exc:
            raise DigestMismatchError(
                f"{entry.path}: the store object {key} in {origin.url} is corrupt (its bytes "
                f"hash to {exc.digest}, expected {entry.digest}); nothing was copied and the "
                f"object was left as it is. Run 'satchel --store {origin.url} fsck --deep'",
                digest=exc.digest,
                expected=entry.digest,
            ) from exc

    def _from_original(self, entry: ManifestEntry, stage: bool) -> str | None:
        """``entry``'s bytes copied from the local file it was added from, if that file still
        holds them (its cached snapshot is gone: a cache cleanup, a damaged copy, or moved
        into a local store by another commit); ``None`` otherwise."""
        if not self._originals:
            self._originals.update((p, f) for f, p in self.draft.added_local.items())
        local = self._originals.get(entry.path)
        if local is None:
            return None
        try:
            return self.cache.add_file(
                local, alg=entry.alg, expected_digest=entry.digest, stage=stage
            )[2]
        except (DigestMismatchError, FileNotFoundError):
            return None

    def confirm(self, manifest: Manifest, manifest_id: str, ref: str) -> int:
        """After the commit point (or for the version the no-op rule found): make sure every
        object the version names, and its manifest, is in the store.

        A version this commit relied on without freshening its objects (:meth:`_inherited`,
        :meth:`_held_by`) that was deleted meanwhile has them freshened now, so a ``gc`` that
        marked before the commit point and sweeps after this check keeps them. Then one bulk
        existence check (:meth:`Store.complete`) finds what a ``gc`` removed anyway - on S3 a
        delete landing just after a freshening, or a grace period shorter than the commit -
        and it is sent again from the draft's bytes (cache, pack or the user's file) or the
        origin store.

        Args:
            manifest: the version's manifest.
            manifest_id: its id.
            ref: ``project/name:vN``, for the error.

        Returns:
            How many objects (and manifests) were sent again.

        Raises:
            IncompleteCommitError: objects are missing and this machine has no copy of them.
        """
        for record, objects in self.relied:
            if objects and not self._live(record):
                self.store.missing_objects(objects)  # freshens what is still there
        return self.store.complete(manifest, manifest_id, ref, local_copy=self._restorable)

    def _live(self, record: VersionRecord) -> bool:
        try:
            self.store.version(record.project, record.name, record.version)
        except SatchelError:
            return False
        return True

    def _restorable(self, entry: ManifestEntry) -> str | None:
        """A verified local copy of ``entry``'s bytes to send again (the store copies it;
        the cache keeps its file), or ``None`` when this machine has none."""
        try:
            return self._local_copy(entry)
        except (SourceFileChangedError, DigestMismatchError, FileNotFoundError, StoreError):
            return None  # the draft's copy is gone or changed: not a copy of this content

    def release(self) -> None:
        """After a commit: drop cached copies made with ``skip_cache=True``, and the packs."""
        for path, src in self.draft.sources.items():
            if isinstance(src, CachedSource) and src.evict_after_save:
                self.cache.evict(src.cache_path)
            elif isinstance(src, PackedSource) and src.evict_after_save:
                entry = self.draft.entries.get(path)
                if entry is not None:
                    self.cache.evict(self.cache.object_path(entry.alg, entry.oid))
        self.draft.discard_packs()
