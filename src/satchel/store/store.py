"""The committed world: versions, manifests, objects, aliases and attributes of one store.

Commit protocol (DESIGN.md): (1) upload the objects the store lacks, (2) write the manifest,
(3) create ``versions/<n>.json`` only if absent - the single commit point; on conflict re-read
and retry with the next number - then (4) move aliases with compare-and-swap writes. If the new
manifest's digest equals the latest version's, nothing is written and that version is returned.
A crash at any step leaves at most unreferenced objects and manifests, which ``gc`` removes.
"""

from __future__ import annotations

import hashlib
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
    ManifestError,
    RecordMismatchError,
    StoreFormatError,
)
from satchel.manifest import Manifest
from satchel.store import layout
from satchel.store.backend import StoreBackend
from satchel.store.records import (
    AliasRecord,
    CollectionRecord,
    FormatRecord,
    VersionAttrs,
    VersionRecord,
    decode,
    encode,
    utcnow,
    who,
)
from satchel.transfer import run_parallel

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
        touch = getattr(self.backend, "touch", None)
        if touch is None or not keys:
            return keys
        ordered = sorted(keys)
        done = run_parallel(touch, ordered, workers=getattr(self.backend, "io_workers", None))
        return {k for k, ok in zip(ordered, done) if ok}

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
        move_file = getattr(self.backend, "move_file", None) if move else None
        if move_file is not None:
            move_file(key, local_path)
        else:
            self.backend.put_file(key, local_path)

    def local_object_path(self, alg: str, oid: str) -> str | None:
        """Where object ``(alg, oid)`` lives on local disk, for a local store (whether or not
        it exists); ``None`` for other stores. Readers of a local store read objects there,
        in place, without a cache copy; they must never write, move or delete it."""
        return self.backend.local_path(layout.object_key(alg, oid))

    def open_object(self, alg: str, oid: str) -> BinaryIO:
        """Open a content object for streaming.

        Raises:
            FileNotFoundError: the object is missing (a damaged store; run ``satchel fsck``).
        """
        return self.backend.open(layout.object_key(alg, oid))

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
            raise problem
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
            record.manifest, digest=record.digest, file_count=record.file_count,
            record_key=key, what=f"{record.project}/{record.name}:v{record.version}",
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
            said = (
                f"artifact digest {digest}" if actual != digest
                else f"{file_count} file(s)"
            )
            found = f"digest {actual}" if actual != digest else f"{len(manifest)} file(s)"
            raise RecordMismatchError(
                f"{what}: the record {record_key} in {self.url} states {said}, but the "
                f"manifest it names ({manifest_id}) has {found}: the record or the manifest "
                "was changed outside satchel, so the version was not read. Run 'satchel fsck'",
                record=record_key, manifest_id=manifest_id, recorded=digest, actual=actual,
            )
        return manifest

    # -- collections ----------------------------------------------------------------------
    def collection(self, project: str, name: str) -> CollectionRecord | None:
        """The collection record, or ``None`` if the name was never committed."""
        key = layout.collection_key(project, name)
        try:
            return decode(self.backend.read(key), CollectionRecord, key)  # type: ignore[no-any-return]
        except FileNotFoundError:
            return None

    def ensure_collection(
        self, project: str, name: str, type_: str, description: str | None = None
    ) -> CollectionRecord:
        """Create the collection if new; check its type otherwise.

        Raises:
            ArtifactTypeMismatchError: the name exists with another type.
        """
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

    def projects(self) -> list[str]:
        """Every project in the store, sorted."""
        return sorted(self.backend.list(layout.projects_folder()))

    def collections(self, project: str) -> list[str]:
        """Every collection name in a project, sorted."""
        return sorted(self.backend.list(layout.artifacts_folder(project)))

    # -- versions -------------------------------------------------------------------------
    def version_numbers(self, project: str, name: str) -> tuple[list[int], set[int]]:
        """(committed version numbers ascending, deleted ones) from one listing."""
        return layout.parse_version_listing(
            self.backend.list(layout.versions_folder(project, name))
        )

    def live_versions(self, project: str, name: str) -> list[int]:
        """Committed, non-deleted version numbers, ascending."""
        committed, deleted = self.version_numbers(project, name)
        return [n for n in committed if n not in deleted]

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
                f"{project}/{name}:v{version} was deleted; pick another version "
                f"(satchel ls {name})"
            )
        rec: VersionRecord = decode(data, VersionRecord, key)
        return rec

    def latest(self, project: str, name: str) -> VersionRecord | None:
        """The highest committed, non-deleted version, or ``None``."""
        live = self.live_versions(project, name)
        if not live:
            return None
        key = layout.version_key(project, name, live[-1])
        rec: VersionRecord = decode(self.backend.read(key), VersionRecord, key)
        return rec

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
        """
        self.check_format(create=True)
        self.ensure_collection(req.project, req.name, req.type)
        new_id = uuid.uuid4().hex
        uploaded_for: str | None = None
        for attempt in range(MAX_ATTEMPTS):
            committed, deleted = self.version_numbers(req.project, req.name)
            live = [n for n in committed if n not in deleted]
            latest = None
            if live:
                key = layout.version_key(req.project, req.name, live[-1])
                latest = decode(self.backend.read(key), VersionRecord, key)
            manifest = req.build(latest)
            if latest is not None and latest.digest == manifest.digest:
                for alias in req.aliases:
                    self.set_alias(req.project, req.name, alias, latest.version)
                return CommitResult(latest, self.manifest_for(latest), False)
            if uploaded_for != manifest.digest:
                req.upload(manifest, latest)
                manifest_id = self.put_manifest(manifest)
                uploaded_for = manifest.digest
            number = committed[-1] + 1 if committed else 0
            record = VersionRecord(
                id=new_id,
                project=req.project,
                name=req.name,
                version=number,
                type=req.type,
                manifest=manifest_id,
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
            if self.backend.create_if_absent(
                layout.version_key(req.project, req.name, number), encode(record)
            ):
                for alias in req.aliases:
                    self.set_alias(req.project, req.name, alias, number)
                return CommitResult(record, manifest, True)
            time.sleep(random.uniform(0, min(0.05, 0.002 * (attempt + 1))))
        raise ConcurrentUpdateError(
            f"could not commit {req.project}/{req.name} after {MAX_ATTEMPTS} attempts: "
            "too many concurrent writers; try again"
        )

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
        """Every stored alias of a collection and the version it names."""
        out: dict[str, int] = {}
        for fname in self.backend.list(layout.aliases_folder(project, name)):
            if fname.endswith(".json"):
                alias = fname[: -len(".json")]
                target = self.alias_target(project, name, alias)
                if target is not None:
                    out[alias] = target
        return out

    def set_alias(self, project: str, name: str, alias: str, version: int) -> None:
        """Point ``alias`` at ``version`` in one atomic step (compare-and-swap)."""
        naming.validate_alias(alias)
        key = layout.alias_key(project, name, alias)
        data = encode(AliasRecord(version))
        self._cas(key, lambda _old: data)

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

        self._cas(key, apply)
        return result[-1]

    def _cas(self, key: str, apply: Callable[[bytes | None], bytes]) -> None:
        for attempt in range(MAX_ATTEMPTS):
            old, token = self.backend.read_token(key)
            new = apply(old)
            if old == new:
                return
            if token is None:
                if self.backend.create_if_absent(key, new):
                    return
            elif self.backend.replace_if_unchanged(key, new, token):
                return
            time.sleep(random.uniform(0, min(0.05, 0.002 * (attempt + 1))))
        raise ConcurrentUpdateError(
            f"could not update {key} in {self.url}: too many concurrent writers; try again"
        )


def _initial_attrs(record: VersionRecord) -> VersionAttrs:
    return VersionAttrs(
        description=record.description,
        metadata=dict(record.metadata),
        tags=list(record.tags),
        ttl_seconds=record.ttl_seconds,
        updated_at=record.created_at,
    )
