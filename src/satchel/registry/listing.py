"""Listing versions, collections and types of a store (what ``Api`` and ``satchel ls`` call)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
from dataclasses import dataclass

from satchel import naming
from satchel.errors import DamagedRecordError
from satchel.registry.index import CollectionSnapshot, snapshot
from satchel.registry.lineage import run_inputs, used_versions
from satchel.registry.query import Page, Row, VersionQuery, matching_rows
from satchel.store import Store
from satchel.store.damage import warn_skipped
from satchel.store.records import parse_time
from satchel.version import Version


@dataclass(frozen=True)
class CollectionSummary:
    """One collection (all versions of an artifact name) in a project, as a listing saw it
    (:class:`satchel.ArtifactCollection` is the live, editable object built on it).

    Attributes:
        project, name, type: what it is.
        description: the collection's description, if any.
        tags: the collection's tags.
        created_at: when its first version was committed (UTC).
        version_count: live versions.
        latest: ``"v<n>"`` of the newest live version, or ``None``.
        aliases: stored alias -> ``"v<n>"``.
        is_portfolio: every live version is a link to another collection's version.
    """

    project: str
    name: str
    type: str
    description: str | None
    created_at: _dt.datetime
    version_count: int
    latest: str | None
    aliases: dict[str, str]
    is_portfolio: bool
    tags: tuple[str, ...] = ()


def snapshots(store: Store, project: str, name: str | None) -> list[CollectionSnapshot]:
    """Snapshots of one collection (``name``) or of every collection of ``project``.

    Damaged and stray files are left out with a :class:`~satchel.errors.StoreDamageWarning`
    each; a collection whose own record is damaged is left out of a project-wide listing (and
    raises :class:`~satchel.errors.DamagedRecordError` when asked for by name).
    """
    names = [name] if name is not None else store.collections(project)
    out = []
    for n in names:
        try:
            snap = snapshot(store, project, n)
        except DamagedRecordError as exc:
            if name is not None:
                raise
            warn_skipped(exc.key, exc.reason)
            continue
        if snap is not None:
            for d in snap.damage:
                warn_skipped(d.key, d.reason)
            out.append(snap)
    return out


def to_version(store: Store, row: Row) -> Version:
    """The :class:`~satchel.version.Version` of a listed version, holding what the listing
    read (its attributes, aliases and "is latest"), so using it reads nothing again."""
    snap = row.snapshot
    known = (row.attrs, snap.aliases_of(row.record.version), snap.latest == row.record.version)
    return Version(store, row.record, known=known)


def list_versions(store: Store, query: VersionQuery, *, every_page: bool = False) -> Page[Version]:
    """Answer a validated query with one page of versions (``every_page``: one page holding
    every match, sorted, whatever the query's page and size).

    Raises:
        StoreFormatError: a damaged record.
    """
    snaps = snapshots(store, query.project, query.name)
    inputs = None
    if query.used_by is not None:
        run_project, _, run_id = query.used_by.rpartition("/")
        inputs = run_inputs(store, run_project or query.project, run_id)
    cache: dict[tuple[str, str], set[int]] = {}

    def used(snap: CollectionSnapshot) -> set[int]:
        key = (snap.project, snap.name)
        if key not in cache:
            cache[key] = used_versions(store, snap.project, snap.name)
        return cache[key]

    rows = matching_rows(query, snaps, used_by_inputs=inputs, used_versions=used)
    if every_page:
        rows = _sorted(query, rows)
        items = tuple(to_version(store, r) for r in rows)
        return Page(items, 1, max(1, len(items)), len(items), 1)
    page_rows, total, pages = query.sort_and_page(rows)
    items = tuple(to_version(store, r) for r in page_rows)
    return Page(items, query.page, query.size, total, pages)


def _sorted(query: VersionQuery, rows: list[Row]) -> list[Row]:
    everything = dataclasses.replace(query, page=1, size=max(1, len(rows)))
    return everything.sort_and_page(rows)[0]


def list_collections(
    store: Store, project: str, *, type: str | None = None
) -> list[CollectionSummary]:
    """Every collection of ``project`` (of ``type``, when given) that has a live version."""
    naming.validate_name(project, kind="project", hidden_ok=True)
    if type is not None:
        naming.validate_name(type, kind="type", hidden_ok=True)
    out = []
    for snap in snapshots(store, project, None):
        if type is not None and snap.collection.type != type:
            continue
        if snap.live:
            out.append(summarize(snap))
    return out


def collection_summary(store: Store, project: str, name: str) -> CollectionSummary | None:
    """The summary of one collection, or ``None`` when it has no live version."""
    naming.validate_name(project, kind="project")
    naming.validate_name(name)
    found = snapshots(store, project, name)
    return summarize(found[0]) if found and found[0].live else None


def summarize(snap: CollectionSnapshot) -> CollectionSummary:
    """The :class:`CollectionSummary` of a snapshot."""
    return CollectionSummary(
        project=snap.project,
        name=snap.name,
        type=snap.collection.type,
        description=snap.collection.description,
        created_at=parse_time(snap.collection.created_at),
        version_count=len(snap.live),
        latest=f"v{snap.latest}" if snap.latest is not None else None,
        aliases={a: f"v{n}" for a, n in sorted(snap.aliases.items())},
        is_portfolio=all(snap.records[n].linked_from for n in snap.live),
        tags=tuple(snap.collection.tags),
    )


def list_types(store: Store, project: str) -> list[str]:
    """The sorted artifact types used in ``project``."""
    naming.validate_name(project, kind="project", hidden_ok=True)
    types = set()
    for name in store.collections(project):
        try:
            rec = store.collection(project, name)
        except DamagedRecordError as exc:
            warn_skipped(exc.key, exc.reason)
            continue
        if rec is not None:
            types.add(rec.type)
    return sorted(types)
