"""The read side of a version's bytes: :class:`Fetcher`, the twin of :class:`satchel.commit.Uploader`.

A :class:`Fetcher` brings an entry's bytes into the cache from the store (or, for a local store,
reads the store's object in place: the cache keeps no copy of a local store's objects), checks
them against the entry's digest, picks the thread pool a download runs on, and evicts what a
``skip_cache`` download fetched. References are loaded through their handlers. The copying into
a folder, and the checks of what is already there, are :mod:`satchel.checkout`'s.
"""

from __future__ import annotations

from satchel.cache import Cache
from satchel.checkout import MaterializeResult, materialize
from satchel.errors import DigestMismatchError
from satchel.handlers import HandlerRegistry
from satchel.manifest import Manifest, ManifestEntry
from satchel.progress import Bar
from satchel.store import Store, layout


class Fetcher:
    """Fetches the entries of one artifact from ``store`` through ``cache``.

    Args:
        store: where the entries' objects are.
        cache: where fetched objects are kept (and checked copies are found).
        handlers: load references.
        name: how errors name the artifact (``"project/name:v3"``, or a draft's name).
        draft: the artifact is a draft (its inherited entries are read the same way).
    """

    def __init__(
        self,
        store: Store,
        cache: Cache,
        handlers: HandlerRegistry,
        *,
        name: str,
        draft: bool = False,
    ) -> None:
        self.store = store
        self.cache = cache
        self.handlers = handlers
        self.name = name
        self.draft = draft

    def fetch(self, entry: ManifestEntry, refetch: bool) -> list[tuple[str, str]]:
        """Where an entry's bytes are: a local store's object (read in place: the cache holds
        no copy of a local store's objects), else a cache file, fetched when missing."""
        if entry.is_reference:
            return self.handlers.for_uri(entry.ref).load(entry)  # type: ignore[arg-type]
        store = self.store
        in_place = store.local_object_path(entry.alg, entry.oid)
        if in_place is not None:
            return [("", in_place)]
        cache = self.cache
        path = None if refetch else cache.get(entry.alg, entry.oid, entry.size)
        if path is None:
            path = cache.object_path(entry.alg, entry.oid)
            what = f"{self.name} file {entry.path}"
            try:
                with store.open_object(entry.alg, entry.oid, what=what) as f:
                    cache.put_stream(
                        f,
                        path,
                        alg=entry.alg,
                        expected_digest=entry.digest,
                        what=f"{entry.path} from {store.url}",
                    )
            except DigestMismatchError as exc:
                raise self.corrupt(entry, path, exc.digest or "?", True) from exc
        return [("", path)]

    def corrupt(
        self, entry: ManifestEntry, path: str, got: str, refetched: bool
    ) -> DigestMismatchError:
        """The error for an entry whose bytes at ``path`` hash to ``got`` (see
        :data:`satchel.checkout.Corrupt`)."""
        # a draft's inherited entries are read the same way (get() of a new_draft())
        who = f"{self.name + ' (draft)' if self.draft else self.name}: {entry.path}"
        if entry.is_reference:
            return DigestMismatchError(
                f"{who}: the bytes of reference {entry.ref} hash to {got}, not to the recorded "
                f"{entry.digest}, even when fetched again; nothing was written or kept. The "
                "referenced object changed or is damaged: re-add the reference",
                digest=got,
                expected=entry.digest,
            )
        store = self.store
        key = layout.object_key(entry.alg, entry.oid)
        if self.cache.owns(path):  # fetched from a bucket store: corrupt there
            where = f"the store object {key} in {store.url}"
            kept = "nothing was written or cached"
        else:
            where = f"the store object {path}"
            kept = "nothing was written, and the object was left as it is (it may be the only copy)"
        return DigestMismatchError(
            f"{who}: {where} is corrupt: its bytes hash to {got}, the manifest says "
            f"{entry.digest}; {kept}. Run 'satchel fsck --deep' to list every damaged object",
            digest=got,
            expected=entry.digest,
        )

    def missing(self, entry: ManifestEntry, exc: FileNotFoundError) -> Exception:
        """The error for a local store object (read in place) that is gone: the one
        :meth:`Store.open_object` raises for a missing object, so every read path names it
        the same way."""
        what = f"{self.name} file {entry.path}"
        try:
            self.store.open_object(entry.alg, entry.oid, what=what).close()
        except Exception as typed:  # noqa: BLE001 - handed back to be raised
            return typed
        return exc  # back meanwhile: report what happened

    def content_digest(self, entry: ManifestEntry) -> tuple[str, str] | None:
        """``(alg, digest)`` the entry's bytes must hash to (a reference's handler says; may
        be ``None`` for a reference without a content hash)."""
        if entry.is_reference:
            return self.handlers.for_uri(entry.ref).content_digest(entry)  # type: ignore[arg-type]
        return (entry.alg, entry.digest)

    def workers(self, manifest: Manifest) -> int | None:
        """The remote store's transfer pool while something must come over the network; the
        local pool (``None``) when the cache holds every object, as more threads copying local
        files only contend for the GIL."""
        io_workers = self.store.backend.io_workers
        if io_workers is None:
            return None
        cache = self.cache
        for entry in manifest:
            if entry.is_reference or cache.get(entry.alg, entry.oid, entry.size) is None:
                return io_workers
        return None

    def materialize(
        self,
        manifest: Manifest,
        folder: str,
        *,
        allow_missing: bool,
        path_prefix: str | None,
        skip_cache: bool,
        bar: Bar,
    ) -> MaterializeResult:
        """Write ``manifest``'s entries into ``folder`` (see
        :func:`satchel.checkout.materialize`); with ``skip_cache``, remove the cache copies
        fetched for it afterwards."""
        result = materialize(
            manifest,
            folder,
            cache=self.cache,
            fetch=self.fetch,
            content_digest=self.content_digest,
            allow_missing_references=allow_missing,
            path_prefix=path_prefix,
            bar=bar,
            warn=bar.note,
            workers=self.workers(manifest),
            corrupt=self.corrupt,
            missing=self.missing,
        )
        if skip_cache and self.store.backend.local_path("") is None:
            # (a local store's objects are read in place: such a download cached nothing)
            for entry in manifest:
                if not entry.is_reference:
                    self.cache.evict(self.cache.object_path(entry.alg, entry.oid))
        return result
