"""Getting a manifest's content objects into a store (step 1 of the commit protocol).

Only objects the store lacks are sent (checked in bulk). Their bytes come from the draft's
sources: cached copies (or packs, see :mod:`satchel.draft`) for ``mutable`` files, the user's
file for ``immutable`` ones (copied into the cache while hashing and checked against the add-time digest, so a file that changed
in the meantime can never be stored under a wrong name), or, for entries a draft inherited, the
cache or the store the draft came from. Uploads run in a bounded pool.

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

from satchel.cache import Cache
from satchel.draft import CachedSource, Draft, LocalSource, PackedSource
from satchel.errors import (
    DigestMismatchError,
    SatchelError,
    SourceFileChangedError,
    StoreError,
)
from satchel.manifest import Manifest, ManifestEntry
from satchel.progress import ProgressFactory, null_factory
from satchel.store import Store, layout
from satchel.store.records import VersionRecord
from satchel.transfer import run_parallel


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

    def __call__(self, manifest: Manifest, latest: VersionRecord | None = None) -> None:
        """Make sure every stored-content object of ``manifest`` is in the store.

        ``latest`` is the collection's latest live version the commit just read: its objects
        need no check (see :meth:`_held_by`).

        Raises:
            SourceFileChangedError: an immutable-policy file changed since it was added.
            StoreError: an inherited object is in neither the cache nor the origin store.
        """
        inherited = self._inherited()
        stored = [
            e for e in manifest if not e.is_reference and inherited.get(e.path) is not e
        ]
        self.relied.clear()
        if inherited and self.based_on is not None:
            kept = frozenset(
                (e.alg, e.oid) for e in manifest if inherited.get(e.path) is e
            )
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

        def send(entry: ManifestEntry) -> None:
            self._put(entry)
            bar.update(1)

        try:
            # a remote store advertises how many transfers are worth running at once
            run_parallel(send, todo, workers=getattr(self.store.backend, "io_workers", None))
        finally:
            bar.close()

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
            manifest = self.store.get_manifest(latest.manifest)
        except SatchelError:  # unreadable: check everything
            return set()
        return {(e.alg, e.oid) for e in manifest if not e.is_reference}

    def _put(self, entry: ManifestEntry) -> None:
        """Send one object to the store from its source."""
        src = self.draft.sources.get(entry.path)
        if isinstance(src, LocalSource) and src.stream:
            self._stream(entry, src)
        else:
            self.store.put_object(entry.alg, entry.oid, self._local_copy(entry))

    def _stream(self, entry: ManifestEntry, src: LocalSource) -> None:
        """``skip_cache``: a copy checked against the add-time digest while it is written,
        straight into a local store, or through a scratch file (removed at once) to a bucket."""
        local = self.store.backend.local_path(layout.object_key(entry.alg, entry.oid))
        scratch = None if local is not None else os.path.join(
            self.cache.tmp_dir(), f"stream-{os.getpid()}-{uuid.uuid4().hex}"
        )
        try:
            try:
                with open(src.file.abspath, "rb") as f:
                    self.cache.put_stream(
                        f, local or scratch or "", alg=entry.alg, expected_digest=entry.digest,
                        what=f"{entry.path} ({src.file.abspath})",
                    )
            except (DigestMismatchError, FileNotFoundError) as exc:
                raise SourceFileChangedError(
                    f"{entry.path} ({src.file.abspath}) changed while saving; nothing was "
                    "committed. Add it again",
                    paths=[entry.path],
                ) from exc
            if scratch is not None:
                self.store.put_object(entry.alg, entry.oid, scratch)
        finally:
            if scratch is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(scratch)

    def _local_copy(self, entry: ManifestEntry) -> str:
        path = self._find_local(entry)
        if path is None:
            raise StoreError(
                f"content of {entry.path} (digest {entry.digest}) is in neither the store "
                f"{self.store.url} nor the local cache; add the file again"
            )
        return path

    def _find_local(self, entry: ManifestEntry) -> str | None:
        """A local file holding ``entry``'s bytes (checked against its digest), ``None`` when
        this machine has none.

        Raises:
            SourceFileChangedError: an immutable-policy file changed since it was added.
        """
        src = self.draft.sources.get(entry.path)
        if isinstance(src, CachedSource) and os.path.exists(src.cache_path):
            return src.cache_path
        if isinstance(src, PackedSource):
            dest = self.cache.get(entry.alg, entry.oid, entry.size)
            if dest is None:
                dest = self.cache.object_path(entry.alg, entry.oid)
                self.cache.put_stream(
                    io.BytesIO(src.read()), dest, alg=entry.alg, expected_digest=entry.digest,
                    what=f"{entry.path} (copied at add time into {src.pack})",
                )
            return dest
        if isinstance(src, LocalSource):
            try:
                return self.cache.add_file(
                    src.file.abspath, alg=entry.alg, expected_digest=entry.digest
                )[2]
            except (DigestMismatchError, FileNotFoundError) as exc:
                raise SourceFileChangedError(
                    f"{entry.path} ({src.file.abspath}) changed while saving; nothing was "
                    "committed. Add it again",
                    paths=[entry.path],
                ) from exc
        cached = self.cache.get(entry.alg, entry.oid, entry.size)
        if cached is not None:
            return cached
        if self.origin is not None and self.origin is not self.store:
            with self.origin.open_object(entry.alg, entry.oid) as f:
                self.cache.put_stream(
                    f, self.cache.object_path(entry.alg, entry.oid), alg=entry.alg,
                    expected_digest=entry.digest, what=f"{self.origin.url} object {entry.oid}",
                )
            return self.cache.object_path(entry.alg, entry.oid)
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
        try:
            return self._find_local(entry)
        except (SourceFileChangedError, DigestMismatchError, FileNotFoundError):
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
