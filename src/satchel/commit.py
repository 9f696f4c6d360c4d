"""Getting a manifest's content objects into a store (step 1 of the commit protocol).

Only objects the store lacks are sent (checked in bulk). Their bytes come from the draft's
sources: cached copies for ``mutable`` files, the user's file for ``immutable`` ones (copied
into the cache while hashing and checked against the add-time digest, so a file that changed
in the meantime can never be stored under a wrong name), or, for entries a draft inherited, the
cache or the store the draft came from. Uploads run in a bounded pool.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from satchel.cache import Cache
from satchel.draft import CachedSource, Draft, LocalSource
from satchel.errors import DigestMismatchError, SourceFileChangedError, StoreError
from satchel.manifest import Manifest, ManifestEntry
from satchel.progress import ProgressFactory, null_factory
from satchel.store import Store
from satchel.transfer import run_parallel


@dataclass(frozen=True, slots=True)
class Uploader:
    """Callable given to :meth:`Store.commit` as its ``upload`` step."""

    draft: Draft
    store: Store
    cache: Cache
    origin: Store | None = None
    progress: ProgressFactory = null_factory

    def __call__(self, manifest: Manifest) -> None:
        """Make sure every stored-content object of ``manifest`` is in the store.

        Raises:
            SourceFileChangedError: an immutable-policy file changed since it was added.
            StoreError: an inherited object is in neither the cache nor the origin store.
        """
        stored = [e for e in manifest if not e.is_reference]
        self.draft.check_sources(e.path for e in stored if e.path in self.draft.sources)
        by_key: dict[tuple[str, str], ManifestEntry] = {}
        for e in stored:
            key = (e.alg, e.oid)
            if key not in by_key or e.path in self.draft.sources:
                by_key[key] = e
        missing = self.store.missing_objects(by_key)
        todo = [by_key[k] for k in sorted(missing)]
        if not todo:
            return
        bar = self.progress(len(todo), f"uploading to {self.store.url}")

        def send(entry: ManifestEntry) -> None:
            path = self._local_copy(entry)
            self.store.put_object(entry.alg, entry.oid, path)
            bar.update(1)

        try:
            run_parallel(send, todo)
        finally:
            bar.close()

    def _local_copy(self, entry: ManifestEntry) -> str:
        src = self.draft.sources.get(entry.path)
        if isinstance(src, CachedSource) and os.path.exists(src.cache_path):
            return src.cache_path
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
        raise StoreError(
            f"content of {entry.path} (digest {entry.digest}) is in neither the store "
            f"{self.store.url} nor the local cache; add the file again"
        )

    def release(self) -> None:
        """After a commit: drop cached copies made with ``skip_cache=True``."""
        for src in self.draft.sources.values():
            if isinstance(src, CachedSource) and src.evict_after_save:
                self.cache.evict(src.cache_path)
