"""The committed world: versions, manifests, objects, aliases and attributes of one store.

Commit protocol (DESIGN.md, plus a lease and a check): (0) take a lease
(:mod:`satchel.store.leases`) that tells ``gc`` a commit is in flight, (1) upload the objects
the store lacks, (2) write the manifest, (3) create ``versions/<n>.json`` only if absent - the
single commit point; on conflict re-read and retry with the next number - (4) check that every
object the version names, and its manifest, is in the store, sending again from local bytes
whatever a concurrent ``gc`` removed (:meth:`Store.complete`), then (5) move aliases with
compare-and-swap writes and release the lease. If the new manifest's digest equals the latest
version's, nothing is written and that version is returned, after the same check (4): so saving
the same files again repairs a version that lost objects. A crash at any step leaves at most
unreferenced objects and manifests, which ``gc`` removes, and a lease, which ``gc`` removes
once it is :data:`~satchel.store.leases.LIFETIME` old.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO

import msgspec

from satchel import gzblocks, naming
from satchel.errors import (
    ArtifactDeletedError,
    ArtifactNotFoundError,
    ArtifactTypeMismatchError,
    ConcurrentUpdateError,
    DamagedRecordError,
    IncompleteCommitError,
    InvalidPathError,
    ManifestError,
    ObjectMissingError,
    RecordMismatchError,
    StoreFormatError,
    UnsafeManifestPathError,
)
from satchel.manifest import Manifest, ManifestEntry
from satchel.parallel import run_parallel
from satchel.store import layout, leases
from satchel.store.backend import StoreBackend
from satchel.store.damage import warn_damage, warn_skipped
from satchel.store.records import (
    AliasRecord,
    CollectionRecord,
    FormatRecord,
    VersionAttrs,
    VersionRecord,
    decode,
    decode_version,
    encode,
    utcnow,
    who,
)

MAX_ATTEMPTS = 500


@dataclass(frozen=True, slots=True)
class CommitRequest:
    """What a commit asks of the store.

    Attributes:
        project, name, type: where the version goes and what it is.
        build: given the latest committed version (or ``None``), return the manifest to commit;
            called again after a lost race, so incremental drafts apply on the newest version.
        upload: given the manifest and the latest committed version it was built on (or
            ``None``), make sure every stored-content object is in the store.
        confirm: after the commit point (and for the version the no-op rule returns), given
            the manifest, its id and the version's ``project/name:vN``: make sure every object
            it names and the manifest are in the store, sending again what is missing (an
            :class:`~satchel.commit.Uploader` does, from the draft's bytes); raise
            :class:`~satchel.errors.IncompleteCommitError` for what cannot be. ``None``: only
            check (:meth:`Store.complete` without local copies).
        description, metadata, tags, aliases: initial attributes.
        based_on: the version a ``new_draft()`` started from.
        run_id: the run that logs the version.
        ttl_seconds: time to live, ``None`` for ever.
        distributed_id: the collaborative id a finished version came from.
    """

    project: str
    name: str
    type: str
    build: Callable[[VersionRecord | None], Manifest]
    upload: Callable[[Manifest, VersionRecord | None], None]
    confirm: Callable[[Manifest, str, str], object] | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None
    tags: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    based_on: int | None = None
    run_id: str | None = None
    ttl_seconds: float | None = None
    distributed_id: str | None = None


@dataclass(frozen=True, slots=True)
class CommitResult:
    """The version a commit produced (or found, under the no-op rule)."""

    record: VersionRecord
    manifest: Manifest
    created: bool


class Store:
    """A satchel store on any :class:`~satchel.store.backend.StoreBackend`."""

    def __init__(self, backend: StoreBackend) -> None:
        """Wrap ``backend``; nothing is read or written until used."""
        self.backend = backend
        self._format_checked = False
        self._manifests: dict[str, Manifest] = {}
        # collection records are written once, so one read per Store object is enough
        self._collections: dict[tuple[str, str], CollectionRecord] = {}

    @property
    def url(self) -> str:
        """Where the store lives."""
        return self.backend.url

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    # -- format ---------------------------------------------------------------------------
    def check_format(self, *, create: bool) -> None:
        """Check (and with ``create``, initialise) ``satchel.json``.

        Raises:
            StoreFormatError: a newer or unknown format.
        """
        if self._format_checked:
            return
        try:
            data = self.backend.read(layout.FORMAT_KEY)
        except FileNotFoundError:
            if not create:
                return
            self.backend.create_if_absent(layout.FORMAT_KEY, encode(FormatRecord(layout.FORMAT)))
            data = self.backend.read(layout.FORMAT_KEY)
        rec = decode(data, FormatRecord, layout.FORMAT_KEY)
        if rec.format != layout.FORMAT:
            raise StoreFormatError(
                f"store {self.url} uses format {rec.format}; this satchel reads format "
                f"{layout.FORMAT}. Upgrade satchel"
            )
        self._format_checked = True

    # -- objects --------------------------------------------------------------------------
    def missing_objects(self, objects: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Return the ``(alg, oid)`` pairs the store does not hold yet.

        Objects already there are *freshened* when the backend can (``touch``), so a ``gc``
        running meanwhile sees them as young and keeps them while the commit relying on them
        finishes (see :mod:`satchel.registry.gc`); one that cannot be freshened counts as
        missing and is uploaded again.
        """
        wanted = {layout.object_key(a, o): (a, o) for a, o in objects}
        have = self._freshen(self.backend.existing(wanted))
        return {v for k, v in wanted.items() if k not in have}

    def _freshen(self, keys: set[str]) -> set[str]:
        """Touch ``keys`` (in the backend's transfer pool: on a bucket each is one request);
        return those still there."""
        if not self.backend.capabilities.freshen or not keys:
            return keys
        ordered = sorted(keys)
        done = run_parallel(self.backend.touch, ordered, workers=self.backend.io_workers)
        return {k for k, ok in zip(ordered, done) if ok}

    def absent(self, manifest: Manifest, manifest_id: str) -> tuple[list[ManifestEntry], bool]:
        """The stored-content entries whose objects are missing (one per object), and whether
        the manifest itself is missing: one bulk existence check, nothing freshened."""
        by_key: dict[str, ManifestEntry] = {}
        for e in manifest:
            if not e.is_reference:
                by_key.setdefault(layout.object_key(e.alg, e.oid), e)
        mkey = layout.manifest_key(manifest_id)
        have = self.backend.existing([*by_key, mkey])
        return [e for k, e in sorted(by_key.items()) if k not in have], mkey not in have

    def complete(
        self,
        manifest: Manifest,
        manifest_id: str,
        ref: str,
        *,
        local_copy: Callable[[ManifestEntry], str | None] | None = None,
    ) -> int:
        """Step 4 of the commit protocol: make sure a committed version is whole.

        One bulk existence check of every object the version names and of its manifest; the
        manifest is written again from ``manifest`` if missing, and each missing object from
        the local file ``local_copy(entry)`` names (``None``: no copy here). This is what makes
        a successful commit a complete one: content a ``gc`` removed while the commit ran (its
        grace period too short, or on S3 a delete that landed just after a freshening) comes
        back before the commit reports success.

        Args:
            manifest: the version's manifest.
            manifest_id: its id.
            ref: ``project/name:vN``, for the error.
            local_copy: where this machine has an object's bytes (checked against its digest).

        Returns:
            How many objects and manifests were sent again.

        Raises:
            IncompleteCommitError: objects are missing and this machine has no copy of them.
        """
        gone, manifest_gone = self.absent(manifest, manifest_id)
        sent = 0
        if manifest_gone:
            mid, compressed = manifest.to_json_gzip(1)
            if mid != manifest_id:
                raise IncompleteCommitError(
                    f"{ref} is committed, but its manifest {manifest_id} is missing from store "
                    f"{self.url} and cannot be rebuilt from this draft (its entries differ in "
                    "details the digest does not cover). Delete the version and commit its "
                    "files again, or see 'satchel fsck'",
                    version=ref,
                )
            self.backend.create_if_absent(layout.manifest_key(mid), compressed)
            sent += 1
        lost: list[ManifestEntry] = []

        def resend(entry: ManifestEntry) -> bool:
            path = local_copy(entry) if local_copy is not None else None
            if path is None:
                lost.append(entry)
                return False
            self.put_object(entry.alg, entry.oid, path)
            return True

        sent += sum(run_parallel(resend, gone, workers=self.backend.io_workers))
        if lost:
            keys = {layout.object_key(e.alg, e.oid) for e in lost}
            paths = sorted(  # every file with that content, not just the one looked up
                e.path
                for e in manifest
                if not e.is_reference and layout.object_key(e.alg, e.oid) in keys
            )
            shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
            raise IncompleteCommitError(
                f"{ref} is committed, but the content of {len(paths)} of its files is missing "
                f"from store {self.url} and this machine has no copy to send again: {shown}. "
                "Save the same files again where they exist (saving unchanged content restores "
                "what is missing), or see 'satchel fsck'",
                version=ref, paths=paths,
            )  # fmt: skip
        return sent

    def put_object(self, alg: str, oid: str, local_path: str, *, move: bool = False) -> None:
        """Store a verified local file as object ``(alg, oid)``.

        Args:
            alg, oid: the object.
            local_path: its bytes.
            move: the caller gives the file up: a local store takes it over by renaming it
                (no copy; the file's old name is gone, so it is never also a cache file);
                other stores upload it and leave it where it is.
        """
        key = layout.object_key(alg, oid)
        if move:
            self.backend.move_file(key, local_path)
        else:
            self.backend.put_file(key, local_path)

    def local_object_path(self, alg: str, oid: str) -> str | None:
        """Where object ``(alg, oid)`` lives on local disk, for a local store (whether or not
        it exists); ``None`` for other stores. Readers of a local store read objects there,
        in place, without a cache copy; they must never write, move or delete it."""
        return self.backend.local_path(layout.object_key(alg, oid))

    def open_object(self, alg: str, oid: str, *, what: str | None = None) -> BinaryIO:
        """Open a content object for streaming.

        Args:
            alg, oid: the object.
            what: whose content it is, for the error (``"proj/ds:v3 file data/a.csv"``).

        Raises:
            ObjectMissingError: the object is missing (a ``FileNotFoundError``; the store was
                damaged: ``satchel fsck`` finds what else is, ``--repair`` puts objects back).
        """
        key = layout.object_key(alg, oid)
        try:
            return self.backend.open(key)
        except FileNotFoundError as exc:
            whose = f"{what}: its content" if what else f"object {key}"
            raise ObjectMissingError(
                f"{whose} is missing from store {self.url} (object {key}); run 'satchel fsck' "
                "to list what else is damaged, and 'satchel fsck --repair --from DIR' to put "
                "the files back from a folder that holds them",
                key=key,
            ) from exc

    # -- manifests ------------------------------------------------------------------------
    def put_manifest(self, manifest: Manifest) -> str:
        """Store ``manifest``; return its id (SHA-256 of its canonical JSON)."""
        mid, compressed = manifest.to_json_gzip(1)  # encoded and compressed in parallel
        key = layout.manifest_key(mid)
        if not self.backend.exists(key) or not self._freshen({key}):  # freshen: see gc
            self.backend.create_if_absent(key, compressed)
        self._manifests[mid] = manifest
        return mid

    def get_manifest(self, manifest_id: str) -> Manifest:
        """Load a manifest by id, checking that its bytes hash to the id.

        Raises:
            ManifestError: missing, malformed or tampered manifest.
        """
        cached = self._manifests.get(manifest_id)
        if cached is not None:
            return cached
        key = layout.manifest_key(manifest_id)
        try:
            data = gzblocks.decompress(self.backend.read(key))  # members inflated in parallel
        except FileNotFoundError as exc:
            raise ManifestError(
                f"manifest {manifest_id} is missing from store {self.url}; run 'satchel fsck'"
            ) from exc
        except (OSError, EOFError) as exc:
            raise ManifestError(f"manifest {manifest_id} in {self.url} is corrupt: {exc}") from exc
        with ThreadPoolExecutor(1) as pool:  # hash (GIL released) while parsing
            checksum = pool.submit(lambda: hashlib.sha256(data).hexdigest())
            try:
                manifest: Manifest | None = Manifest.from_json(data)
                problem: Exception | None = None
            except Exception as exc:  # noqa: BLE001 - a checksum mismatch explains it better
                manifest, problem = None, exc
            if checksum.result() != manifest_id:
                raise ManifestError(
                    f"manifest {manifest_id} in {self.url} does not match its checksum; the "
                    "store was modified outside satchel. Run 'satchel fsck'"
                ) from problem
        if problem is not None:
            # name the manifest: the entry-level message alone (a '../' path...) does not
            cls = (
                UnsafeManifestPathError if isinstance(problem, InvalidPathError) else ManifestError
            )
            raise cls(
                f"manifest {manifest_id} in {self.url} cannot be used: {problem}. Run "
                "'satchel fsck'"
            ) from problem
        assert manifest is not None
        if len(self._manifests) > 8:
            self._manifests.clear()
        self._manifests[manifest_id] = manifest
        return manifest

    def manifest_for(self, record: VersionRecord) -> Manifest:
        """Load the manifest a version record names, checking that it is the one the record
        describes: its artifact digest and file count must be the record's (the manifest's
        own bytes are checked against its id by :meth:`get_manifest`).

        Raises:
            RecordMismatchError: the record and its manifest disagree (one of them was
                changed outside satchel); nothing of the version should be read.
            ManifestError: missing, malformed or tampered manifest.
        """
        key = layout.version_key(record.project, record.name, record.version)
        return self.checked_manifest(
            record.manifest,
            digest=record.digest,
            file_count=record.file_count,
            record_key=key,
            what=f"{record.project}/{record.name}:v{record.version}",
        )

    def checked_manifest(
        self,
        manifest_id: str,
        *,
        digest: str,
        record_key: str,
        what: str,
        file_count: int | None = None,
    ) -> Manifest:
        """Load manifest ``manifest_id`` for the record at ``record_key``, which states its
        artifact ``digest`` (and ``file_count``); see :meth:`manifest_for`.

        The artifact digest is computed once per loaded manifest (cached on it): about 0.2 s
        for a million entries, next to about a second to read them.

        Raises:
            RecordMismatchError: the manifest is not the one the record describes.
            ManifestError: missing, malformed or tampered manifest.
        """
        manifest = self.get_manifest(manifest_id)
        actual = manifest.digest
        if actual != digest or (file_count is not None and len(manifest) != file_count):
            said = f"artifact digest {digest}" if actual != digest else f"{file_count} file(s)"
            found = f"digest {actual}" if actual != digest else f"{len(manifest)} file(s)"
            raise RecordMismatchError(
                f"{what}: the record {record_key} in {self.url} states {said}, but the "
                f"manifest it names ({manifest_id}) has {found}: the record or the manifest "
                "was changed outside satchel, so the version was not read. Run 'satchel fsck'",
                record=record_key,
                manifest_id=manifest_id,
                recorded=digest,
                actual=actual,
            )
        return manifest

    # -- collections ----------------------------------------------------------------------
    def collection(self, project: str, name: str) -> CollectionRecord | None:
        """The collection record, or ``None`` if the name was never committed.

        Raises:
            DamagedRecordError: the record is malformed.
        """
        key = layout.collection_key(project, name)
        try:
            return decode(self.backend.read(key), CollectionRecord, key)  # type: ignore[no-any-return]
        except (FileNotFoundError, NotADirectoryError):  # NotADirectory: a stray file, no folder
            return None

    def ensure_collection(
        self, project: str, name: str, type_: str, description: str | None = None
    ) -> CollectionRecord:
        """Create the collection if new; check its type otherwise.

        Raises:
            ArtifactTypeMismatchError: the name exists with another type.
            InvalidNameError: a project, name or type that may not become a store key (the
                last line of defence: every entry point validates before it gets here).
        """
        naming.validate_name(project, kind="project")
        naming.validate_name(name)
        naming.validate_name(type_, kind="type")
        existing = self._collections.get((project, name)) or self.collection(project, name)
        if existing is None:
            rec = CollectionRecord(type=type_, created_at=utcnow(), description=description)
            if self.backend.create_if_absent(layout.collection_key(project, name), encode(rec)):
                existing = rec
            else:
                existing = self.collection(project, name)
            assert existing is not None
        if existing.type != type_:
            raise ArtifactTypeMismatchError(
                f"artifact {project}/{name} has type {existing.type!r}, not {type_!r}; "
                "use the same type or another name"
            )
        self._collections[(project, name)] = existing
        return existing

    def update_collection(
        self, project: str, name: str, change: Callable[[CollectionRecord], CollectionRecord]
    ) -> CollectionRecord:
        """Apply ``change`` to a collection record (description, tags) with compare-and-swap.

        Raises:
            ArtifactNotFoundError: the collection does not exist.
        """
        key = layout.collection_key(project, name)
        result: list[CollectionRecord] = []

        def apply(old: bytes | None) -> bytes:
            if old is None:
                raise self._not_found(project, name, naming.LATEST)
            new = change(decode(old, CollectionRecord, key))
            result.append(new)
            return encode(new)

        self.compare_and_swap(key, apply)
        self._collections[(project, name)] = result[-1]
        return result[-1]

    def projects(self) -> list[str]:
        """Every project in the store, sorted.

        Folders whose name starts with ``.`` are listed too: satchel no longer creates them,
        but an older one did, and what a name can reach must be seen by ``ls``, ``fsck`` and
        ``gc`` (a hidden *file* there, such as a ``.DS_Store``, is no project and is left out).
        """
        return self._names_and_hidden_folders(layout.projects_folder())

    def collections(self, project: str) -> list[str]:
        """Every collection name in a project, sorted (folders whose name starts with ``.``
        included, see :meth:`projects`)."""
        return self._names_and_hidden_folders(layout.artifacts_folder(project))

    def _names_and_hidden_folders(self, prefix: str) -> list[str]:
        local = self.backend.local_path(prefix)
        if local is None and self.backend.capabilities.fingerprints:
            # a bucket lists sub-folders (common prefixes) without a fingerprint
            listed = self.backend.list_detailed(prefix, hidden=True)
            return sorted(
                n for n, (fp, _mt) in listed.items() if not n.startswith(".") or fp is None
            )
        names = self.backend.list(prefix, hidden=True)
        if local is not None:
            names = [
                n for n in names if not n.startswith(".") or os.path.isdir(os.path.join(local, n))
            ]
        return sorted(names)

    # -- versions -------------------------------------------------------------------------
    def version_listing(self, project: str, name: str) -> layout.VersionListing:
        """One listing of a collection's ``versions/`` folder, sorted into records,
        tombstones and stray files."""
        return layout.classify_versions(self.backend.list(layout.versions_folder(project, name)))

    def version_numbers(self, project: str, name: str) -> tuple[list[int], set[int]]:
        """(committed version numbers ascending, deleted ones) from one listing."""
        listing = self.version_listing(project, name)
        return listing.committed, listing.deleted

    def live_versions(self, project: str, name: str) -> list[int]:
        """Committed, non-deleted version numbers, ascending."""
        return self.version_listing(project, name).live

    def read_version(self, project: str, name: str, version: int) -> VersionRecord:
        """Read and check a version record, deleted or not.

        Raises:
            FileNotFoundError: no record file.
            DamagedRecordError: malformed, or it names another version (see
                :func:`satchel.store.records.record_mismatch`).
        """
        key = layout.version_key(project, name, version)
        return decode_version(self.backend.read(key), project, name, version, key)

    def version(self, project: str, name: str, version: int) -> VersionRecord:
        """Read a version record.

        Raises:
            ArtifactNotFoundError: no such version.
            ArtifactDeletedError: the version was deleted.
        """
        key = layout.version_key(project, name, version)
        try:
            data = self.backend.read(key)
        except FileNotFoundError:
            raise self._not_found(project, name, f"v{version}") from None
        if self.backend.exists(layout.tombstone_key(project, name, version)):
            raise ArtifactDeletedError(
                f"{project}/{name}:v{version} was deleted; pick another version (satchel ls {name})"
            )
        return decode_version(data, project, name, version, key)

    def latest(self, project: str, name: str) -> VersionRecord | None:
        """The highest committed, non-deleted version whose record is sound, or ``None``.

        A damaged record (malformed, or naming another version) is skipped with a
        :class:`~satchel.errors.StoreDamageWarning`: one bad file must not hide every version
        below it.
        """
        return self._latest_of(self.version_listing(project, name), project, name)

    def _latest_of(
        self, listing: layout.VersionListing, project: str, name: str
    ) -> VersionRecord | None:
        for n in reversed(listing.live):
            try:
                return self.read_version(project, name, n)
            except FileNotFoundError:  # listed, then gone: edited by hand
                continue
            except DamagedRecordError as exc:
                warn_skipped(exc.key, exc.reason)
        return None

    def resolve(self, project: str, name: str, selector: str) -> VersionRecord:
        """Resolve ``latest``, ``v<n>`` or an alias to a version record.

        Raises:
            ArtifactNotFoundError: unknown collection, version or alias.
        """
        if selector == naming.LATEST:
            rec = self.latest(project, name)
            if rec is None:
                raise self._not_found(project, name, selector)
            return rec
        n = naming.parse_version(selector)
        if n is not None:
            return self.version(project, name, n)
        target = self.alias_target(project, name, selector)
        if target is None:
            raise self._not_found(project, name, selector)
        return self.version(project, name, target)

    def _not_found(self, project: str, name: str, selector: str) -> ArtifactNotFoundError:
        if self.collection(project, name) is None:
            return ArtifactNotFoundError(
                f"no artifact named {name!r} in project {project!r} of store {self.url}; "
                "check the name and project (satchel ls)"
            )
        return ArtifactNotFoundError(
            f"artifact {project}/{name} has no version or alias {selector!r}; "
            f"see 'satchel ls {name}'"
        )

    def commit(self, req: CommitRequest) -> CommitResult:
        """Commit a new version (or return the latest under the no-op rule).

        Raises:
            ArtifactTypeMismatchError: the name exists with another type.
            ConcurrentUpdateError: lost the race for a version number too many times.
            IncompleteCommitError: the version (new, or found by the no-op rule) names objects
                that are missing and cannot be sent again (its aliases are not moved).
        """
        self.check_format(create=True)
        self.ensure_collection(req.project, req.name, req.type)
        with leases.held(self.backend, f"commit {req.project}/{req.name}"):
            return self._commit(req)

    def _commit(self, req: CommitRequest) -> CommitResult:
        new_id = uuid.uuid4().hex
        uploaded: dict[str, str] = {}  # the last manifest uploaded: its digest -> its id
        built: list[Manifest] = []
        kept: list[CommitResult] = []  # the latest version, under the no-op rule

        def propose(number: int, listing: layout.VersionListing) -> VersionRecord | None:
            # a damaged record is skipped as a base (warned) and never written over: the new
            # number is above every record file and tombstone, sound or not
            latest = self._latest_of(listing, req.project, req.name)
            manifest = req.build(latest)
            if latest is not None and latest.digest == manifest.digest:
                found = self._unchanged(req, latest, manifest)
                if found is not None:
                    kept.append(CommitResult(latest, found, False))
                    return None
            if manifest.digest not in uploaded:  # a new build: upload it (and only it)
                req.upload(manifest, latest)
                uploaded.clear()
                uploaded[manifest.digest] = self.put_manifest(manifest)
            built.append(manifest)
            return VersionRecord(
                id=new_id,
                project=req.project,
                name=req.name,
                version=number,
                type=req.type,
                manifest=uploaded[manifest.digest],
                digest=manifest.digest,
                size=manifest.size,
                file_count=len(manifest),
                created_at=utcnow(),
                created_by=who(),
                based_on=req.based_on,
                run_id=req.run_id,
                description=req.description,
                metadata=dict(req.metadata or {}),
                tags=sorted(set(req.tags)),
                ttl_seconds=req.ttl_seconds,
                distributed_id=req.distributed_id,
            )

        record = self.claim_next_version(
            req.project, req.name, propose, what=f"commit {req.project}/{req.name}"
        )
        result = kept[-1] if record is None else CommitResult(record, built[-1], True)
        self._complete(req, result.manifest, result.record)
        for alias in req.aliases:
            self.set_alias(req.project, req.name, alias, result.record.version)
        return result

    def _unchanged(
        self, req: CommitRequest, latest: VersionRecord, manifest: Manifest
    ) -> Manifest | None:
        """The manifest of ``latest`` when the no-op rule returns it (its content is
        ``manifest``'s), ``None`` when the content must be committed again."""
        try:
            return self.manifest_for(latest)
        except RecordMismatchError:
            raise  # a tampered record: never committed on top of (fsck names it)
        except ManifestError as exc:
            if self.backend.exists(layout.manifest_key(latest.manifest)):
                # there but damaged: the same content committed again becomes a sound new
                # version instead of a no-op (fsck reports the damaged one)
                warn_damage(
                    f"{req.project}/{req.name}:v{latest.version} holds this content but "
                    f"cannot be read ({exc}); committing it again as a new version"
                )
                return None
            return manifest  # gone: complete() writes it again if it is the same

    # -- contention -----------------------------------------------------------------------
    def claim_next_version(
        self,
        project: str,
        name: str,
        propose: Callable[[int, layout.VersionListing], VersionRecord | None],
        *,
        what: str,
    ) -> VersionRecord | None:
        """Create a version record at the collection's next free number: the one helper for
        "claim the next number" (commits, links).

        Each attempt lists ``versions/`` once, asks ``propose(number, listing)`` for the record
        to write at ``number`` (above every record file and tombstone, sound or damaged, so
        nothing is written over) and creates it only if absent. A writer that loses the
        number to another waits a moment (random, growing) and tries again with a new
        listing, up to :data:`MAX_ATTEMPTS` times.

        Args:
            project, name: the collection.
            propose: the record to create (its ``version`` must be ``number``), or ``None``
                to claim nothing (a commit whose content is already the latest version).
            what: the operation, for the error (``"commit proj/ds"``).

        Returns:
            The record created, or ``None`` when ``propose`` claimed nothing.

        Raises:
            ConcurrentUpdateError: another writer took the number every time.
        """
        for attempt in range(MAX_ATTEMPTS):
            listing = self.version_listing(project, name)
            number = listing.next_number
            record = propose(number, listing)
            if record is None:
                return None
            assert record.version == number, "propose() must write the number it was given"
            if self.backend.create_if_absent(
                layout.version_key(project, name, number), encode(record)
            ):
                return record
            _back_off(attempt)
        raise ConcurrentUpdateError(
            f"could not {what} after {MAX_ATTEMPTS} attempts: too many concurrent writers; "
            "try again"
        )

    def compare_and_swap(
        self,
        key: str,
        change: Callable[[bytes | None], bytes | None],
        *,
        what: str | None = None,
    ) -> None:
        """Replace the small record at ``key`` by ``change(its bytes)`` in one atomic step:
        the one helper for "compare-and-swap update" (aliases, attributes, collection and run
        records).

        ``change`` gets the stored bytes (``None``: no record yet, which is then created only
        if still absent) and returns the new bytes, or ``None`` (or the same bytes) to leave
        the record as it is. When another writer changed the record in between, it is read
        again and ``change`` called again on what that writer stored, so concurrent editors
        never lose each other's change; an exception from ``change`` ends the update.

        Args:
            key: the record.
            change: old bytes -> new bytes (called once per attempt, so without side
                effects beyond remembering its last result).
            what: the record, for the error (default ``key``).

        Raises:
            ConcurrentUpdateError: another writer changed it every time, :data:`MAX_ATTEMPTS`
                times in a row.
        """
        for attempt in range(MAX_ATTEMPTS):
            old, token = self.backend.read_token(key)
            new = change(old)
            if new is None or old == new:
                return
            if token is None:
                if self.backend.create_if_absent(key, new):
                    return
            elif self.backend.replace_if_unchanged(key, new, token):
                return
            _back_off(attempt)
        raise ConcurrentUpdateError(
            f"could not update {what or key} in {self.url}: too many concurrent writers; try again"
        )

    def _complete(self, req: CommitRequest, manifest: Manifest, record: VersionRecord) -> None:
        ref = f"{record.project}/{record.name}:v{record.version}"
        if req.confirm is not None:
            req.confirm(manifest, record.manifest, ref)
        else:
            self.complete(manifest, record.manifest, ref)

    # -- aliases --------------------------------------------------------------------------
    def alias_target(self, project: str, name: str, alias: str) -> int | None:
        """The version an alias names, or ``None``."""
        key = layout.alias_key(project, name, alias)
        try:
            rec: AliasRecord = decode(self.backend.read(key), AliasRecord, key)
        except FileNotFoundError:
            return None
        return rec.version

    def aliases(self, project: str, name: str) -> dict[str, int]:
        """Every stored alias of a collection and the version it names (aliases an older
        satchel let start with ``.`` included; a malformed alias record is skipped with a
        :class:`~satchel.errors.StoreDamageWarning`)."""
        out: dict[str, int] = {}
        names, _strays = layout.classify_aliases(
            self.backend.list(layout.aliases_folder(project, name), hidden=True)
        )
        for alias in names:
            try:
                target = self.alias_target(project, name, alias)
            except DamagedRecordError as exc:
                warn_skipped(exc.key, exc.reason)
                continue
            if target is not None:
                out[alias] = target
        return out

    def pending_parts(self, project: str, name: str) -> list[str]:
        """Keys of every pending collaborative part of a collection, sorted (parts of runs
        whose id an older satchel let start with ``.`` included)."""
        base = f"{layout.collection_folder(project, name)}/pending"
        keys = []
        for group in self.backend.list(base, hidden=True):
            folder = f"{base}/{group}"
            # hidden names here are parts of runs named '.x' or local temporaries ('.tmp')
            keys += [
                f"{folder}/{n}"
                for n in self.backend.list(folder, hidden=True)
                if n.endswith(".json")
            ]
        return sorted(keys)

    def set_alias(self, project: str, name: str, alias: str, version: int) -> None:
        """Point ``alias`` at ``version`` in one atomic step (compare-and-swap)."""
        naming.validate_alias(alias)
        key = layout.alias_key(project, name, alias)
        data = encode(AliasRecord(version))
        self.compare_and_swap(key, lambda _old: data)

    def remove_alias(self, project: str, name: str, alias: str) -> None:
        """Remove ``alias`` (no error when absent)."""
        self.backend.delete(layout.alias_key(project, name, alias))

    # -- mutable attributes ---------------------------------------------------------------
    def attrs(self, record: VersionRecord) -> VersionAttrs:
        """The current mutable attributes of a version (initially those of its record)."""
        key = layout.attrs_key(record.project, record.name, record.version)
        try:
            attrs: VersionAttrs = decode(self.backend.read(key), VersionAttrs, key)
            return attrs
        except FileNotFoundError:
            return _initial_attrs(record)

    def update_attrs(
        self, record: VersionRecord, change: Callable[[VersionAttrs], VersionAttrs]
    ) -> VersionAttrs:
        """Apply ``change`` to a version's attributes with compare-and-swap, retrying on
        conflict, so concurrent editors never lose each other's change."""
        key = layout.attrs_key(record.project, record.name, record.version)
        result: list[VersionAttrs] = []

        def apply(old: bytes | None) -> bytes:
            current = decode(old, VersionAttrs, key) if old is not None else _initial_attrs(record)
            new = msgspec.structs.replace(change(current), updated_at=utcnow())
            result.append(new)
            return encode(new)

        self.compare_and_swap(key, apply)
        return result[-1]


def _initial_attrs(record: VersionRecord) -> VersionAttrs:
    return VersionAttrs(
        description=record.description,
        metadata=dict(record.metadata),
        tags=list(record.tags),
        ttl_seconds=record.ttl_seconds,
        updated_at=record.created_at,
    )


def _back_off(attempt: int) -> None:
    """Wait a random moment, longer after each lost race (at most 50 ms), so writers that
    collided do not collide again in step."""
    time.sleep(random.uniform(0, min(0.05, 0.002 * (attempt + 1))))
