"""Portfolio links: put a version into another collection without copying anything (W&B's
``artifact.link``).

A link is a version record in the target collection (the *portfolio*) whose ``linked_from``
names the source version (``project/name:vN``) and whose manifest id is the source's: the
store keeps manifests and objects once, content-addressed, so nothing is copied or uploaded.
Because it is a real version record, everything that works on versions works on a link:
``portfolio:v0`` and the portfolio's own aliases resolve to it, it downloads, lists and can be
staged; :attr:`Artifact.source_artifact` resolves through it to the source. ``gc`` keeps the
shared content alive while the link lives, even if the source is deleted.

Linking a version that is already linked into the same portfolio returns the existing link
(moving the requested aliases); linking a link links its source.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from satchel import naming
from satchel.errors import (
    ArtifactStateError,
    DamagedRecordError,
    InvalidNameError,
)
from satchel.registry.delete import delete_version
from satchel.store import Store
from satchel.store.damage import warn_skipped
from satchel.store.records import VersionRecord, utcnow, who


def parse_target(target_path: str, default_project: str) -> tuple[str, str]:
    """Split ``"portfolio"`` or ``"project/portfolio"`` into (project, name).

    Raises:
        InvalidNameError: a malformed path or a version/alias in it.
    """
    if ":" in target_path:
        raise InvalidNameError(
            f"link target {target_path!r} names a version; give 'portfolio' or "
            "'project/portfolio' and pass aliases separately"
        )
    ref = naming.parse_ref(target_path, project=default_project)
    assert ref.project is not None
    return ref.project, ref.name


def source_ref(record: VersionRecord) -> str:
    """The ``project/name:vN`` a link made from ``record`` points at (links point at sources)."""
    return record.linked_from or f"{record.project}/{record.name}:v{record.version}"


def find_link(store: Store, project: str, name: str, source: str) -> VersionRecord | None:
    """The live link to ``source`` in collection ``project/name``, if any."""
    for n in reversed(store.live_versions(project, name)):
        try:
            rec = store.read_version(project, name, n)
        except FileNotFoundError:
            continue
        except DamagedRecordError as exc:  # one damaged record must not block linking
            warn_skipped(exc.key, exc.reason)
            continue
        if rec.linked_from == source:
            return rec
    return None


def link_version(
    store: Store,
    record: VersionRecord,
    target_path: str,
    *,
    aliases: Sequence[str] | None = None,
) -> VersionRecord:
    """Link ``record`` into the portfolio ``target_path``.

    Args:
        store: the store holding the version (links live in the same store).
        record: the version to link.
        target_path: ``"portfolio"`` (in the version's project) or ``"project/portfolio"``.
        aliases: portfolio aliases to point at the link.

    Returns:
        The link's version record in the portfolio.

    Raises:
        ArtifactTypeMismatchError: the portfolio exists with another type.
        InvalidNameError: bad target or alias.
        RecordMismatchError: ``record`` does not match the manifest it names (nothing is
            linked: the link would copy the mismatch).
    """
    project, name = parse_target(target_path, record.project)
    store.manifest_for(record)  # checked before its manifest id and digest are copied
    wanted = [naming.validate_alias(a) for a in (aliases or ()) if a != naming.LATEST]
    source = source_ref(record)
    if project == record.project and name == record.name:
        raise InvalidNameError(
            f"cannot link {source} into its own collection; pick another portfolio name"
        )
    store.ensure_collection(project, name, record.type)
    link = find_link(store, project, name, source) or _create(store, record, project, name, source)
    for alias in wanted:
        store.set_alias(project, name, alias, link.version)
    return link


def _create(
    store: Store, record: VersionRecord, project: str, name: str, source: str
) -> VersionRecord:
    src_attrs = store.attrs(record)
    link_id = uuid.uuid4().hex

    def propose(number: int, _listing: object) -> VersionRecord:
        return VersionRecord(
            id=link_id,
            project=project,
            name=name,
            version=number,
            type=record.type,
            manifest=record.manifest,
            digest=record.digest,
            size=record.size,
            file_count=record.file_count,
            created_at=utcnow(),
            created_by=who(),
            description=src_attrs.description,
            metadata=dict(src_attrs.metadata),
            linked_from=source,
        )

    link = store.claim_next_version(
        project, name, propose, what=f"link {source} into {project}/{name}"
    )
    assert link is not None  # propose always proposes
    return link


def unlink_version(store: Store, record: VersionRecord) -> list[str]:
    """Remove a link from its portfolio (the source version is untouched).

    Returns:
        The portfolio aliases removed with it.

    Raises:
        ArtifactStateError: ``record`` is not a link (use ``delete()`` for versions).
    """
    if record.linked_from is None:
        raise ArtifactStateError(
            f"{record.project}/{record.name}:v{record.version} is not a link; unlink() removes "
            "a linked version from a portfolio. To remove a version use delete()"
        )
    return delete_version(store, record, delete_aliases=True, reason="unlinked")
