"""Copy a version into another project or collection, in the same store or another one.

A copy is an ordinary commit of the source's manifest under the target name, through the
store's commit protocol (so numbering, the no-op rule and aliases behave as for any commit):

* within one store the objects and the manifest are already there (both content-addressed,
  shared store-wide): nothing is uploaded, only a version record is written;
* across stores the objects the target lacks are streamed from the source store through the
  local cache (checked against their digests), then the manifest and record are written.

Reference entries point outside any store and are copied as they are. ``transfer`` is a copy
followed by deleting the source (its aliases move to the copy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from satchel import naming
from satchel.cache import Cache
from satchel.commit import Uploader
from satchel.draft import Draft
from satchel.errors import InvalidNameError, StoreError
from satchel.manifest import Manifest, ManifestEntry
from satchel.registry.delete import aliases_of, delete_version
from satchel.services import Services
from satchel.store import CommitRequest, Store
from satchel.store.records import VersionRecord


@dataclass(frozen=True, slots=True)
class CopyResult:
    """What a copy produced.

    Attributes:
        record: the target version.
        created: ``False`` when the target's latest version already held this content.
    """

    record: VersionRecord
    created: bool


def copy_version(
    services: Services,
    source: Store,
    record: VersionRecord,
    *,
    target: Store,
    project: str,
    name: str | None = None,
    aliases: Sequence[str] = (),
) -> CopyResult:
    """Commit ``record``'s content as a version of ``project/name`` in ``target``.

    The copy keeps the source's description, metadata and tags (current values); its stage
    history and time to live start empty.

    Args:
        services: the cache used to stream objects between stores.
        source: the store holding ``record``.
        record: the version to copy.
        target: the store to copy into (may be ``source``).
        project: the target project.
        name: the target collection (default: the source's name).
        aliases: aliases to point at the copy.

    Returns:
        The target version.

    Raises:
        ArtifactTypeMismatchError: the target name exists with another type.
        StoreError: an object is missing from the source store.
        RecordMismatchError: ``record`` does not match the manifest it names.
        DigestMismatchError: a source object is corrupt (across stores; it is left as it is).
    """
    naming.validate_name(project, kind="project")
    target_name = naming.validate_name(name or record.name)
    cleaned = tuple(naming.validate_alias(a) for a in aliases if a != naming.LATEST)
    manifest = source.manifest_for(record)
    attrs = source.attrs(record)
    same_store = source is target or source.url == target.url
    upload: Uploader | _Present
    if same_store:
        upload = _Present(target, services.cache)
    else:
        draft = Draft(_alg_of(manifest), manifest)
        upload = Uploader(draft, target, services.cache, origin=source)
    request = CommitRequest(
        project=project,
        name=target_name,
        type=record.type,
        build=lambda _latest: manifest,
        upload=upload,
        confirm=upload.confirm,
        description=attrs.description,
        metadata=dict(attrs.metadata),
        tags=tuple(attrs.tags),
        aliases=cleaned,
    )
    result = target.commit(request)
    return CopyResult(result.record, result.created)


def transfer_version(
    services: Services,
    source: Store,
    record: VersionRecord,
    *,
    target: Store,
    project: str,
    name: str | None = None,
) -> CopyResult:
    """Copy a version (with its aliases), then delete the source version.

    Raises:
        InvalidNameError: the target is the source itself.
        see :func:`copy_version`.
    """
    target_name = name or record.name
    if (source is target or source.url == target.url) and (
        project == record.project and target_name == record.name
    ):
        raise InvalidNameError(
            f"cannot transfer {record.project}/{record.name}:v{record.version} onto itself; "
            "give another project or name"
        )
    moving = aliases_of(source, record)
    result = copy_version(
        services, source, record, target=target, project=project, name=name, aliases=moving
    )
    delete_version(source, record, delete_aliases=True, reason="transferred")
    return result


def _alg_of(manifest: Manifest) -> str:
    for entry in manifest:
        if not entry.is_reference:
            return entry.alg
    return "md5"


@dataclass(frozen=True, slots=True)
class _Present:
    """The ``upload`` step of a same-store copy: everything must already be there."""

    store: Store
    cache: Cache

    def __call__(self, manifest: Manifest, latest: VersionRecord | None = None) -> None:
        wanted = {(e.alg, e.oid) for e in manifest if not e.is_reference}
        missing = self.store.missing_objects(wanted)
        if missing:
            alg, oid = min(missing)
            raise StoreError(
                f"{len(missing)} object(s) of the source version are missing from "
                f"{self.store.url} (e.g. {alg}/{oid}); the store is damaged, run 'satchel fsck'"
            )

    def confirm(self, manifest: Manifest, manifest_id: str, ref: str) -> int:
        """After the commit point: the copy's objects must still be there (the source's
        were freshened by the existence check); what a gc removed anyway is sent again from
        the local cache where it has a copy (see :meth:`Store.complete`)."""

        def cached(entry: ManifestEntry) -> str | None:
            return self.cache.get(entry.alg, entry.oid, entry.size)

        return self.store.complete(manifest, manifest_id, ref, local_copy=cached)
