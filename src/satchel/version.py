"""A committed version of a store: :class:`Version`, and :func:`resolve` to find one.

A :class:`Version` is a store plus the :class:`~satchel.store.records.VersionRecord` it holds,
with what the record does not carry: the version's editable attributes (description,
metadata, TTL, tags, stage), the aliases naming it and whether it is the newest. Those are read
on first use, once (fetching a version and downloading it from a warm cache then costs three
store requests: version listing, version record, manifest, which matters on a bucket), and
:meth:`Version.save_edits` writes the edits made to them.

This is what :class:`satchel.Artifact` holds while it is committed, and what the registry
(:mod:`satchel.registry`) hands up: it knows records and stores, never the ``Artifact`` above.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

import msgspec

from satchel import naming
from satchel.livelists import NameList
from satchel.manifest import Manifest
from satchel.store import Store
from satchel.store.records import VersionAttrs, VersionRecord


class VersionState(enum.Enum):
    """What a :class:`Version` has read of its store beyond the record."""

    #: only the record (and the manifest, once asked for) means something; the attributes,
    #: aliases and "is latest" are read on first use
    UNREAD = "unread"
    #: the attributes, aliases and "is latest" were read (or handed over by a listing), and
    #: the editable values start from them
    READ = "read"


def check_alias(value: str) -> str:
    """An alias for an artifact's alias list: ``latest`` may be in it (it is computed, and
    ignored when saving), any other must be assignable.

    Raises:
        InvalidNameError: not an assignable alias.
    """
    return value if value == naming.LATEST else naming.validate_alias(value)


def merge_keys(
    base: dict[str, Any], mine: dict[str, Any], theirs: dict[str, Any]
) -> dict[str, Any]:
    """Apply the top-level keys this editor added, changed or removed (``base`` -> ``mine``)
    to the current metadata ``theirs``, so concurrent editors of other keys lose nothing."""
    if mine == base:
        return theirs
    out = dict(theirs)
    for key, value in mine.items():
        if key not in base or base[key] != value:
            out[key] = value
    for key in base.keys() - mine.keys():
        out.pop(key, None)
    return out


class Version:
    """One committed version of ``store``, with its attributes and aliases.

    Args:
        store: the store holding it.
        record: its record.
        known: ``(attrs, aliases, is_latest)`` a registry listing already read (the version
            starts :attr:`VersionState.READ`, costing no request).
        manifest: its manifest, when the caller holds it (a commit just wrote it).
        tags, aliases: the live lists to keep the editable tags and aliases in (refilled in
            place whenever the store is read); an artifact hands over its own, so a list
            returned before the commit stays the artifact's list after it.

    Attributes:
        store, record: as given.
        state: which of the other values mean something (:class:`VersionState`).
    """

    def __init__(
        self,
        store: Store,
        record: VersionRecord,
        *,
        known: tuple[VersionAttrs, Sequence[str], bool] | None = None,
        manifest: Manifest | None = None,
        tags: NameList | None = None,
        aliases: NameList | None = None,
    ) -> None:
        self.store = store
        self.record = record
        self.state = VersionState.UNREAD
        self._manifest = manifest
        # as read from the store (meaningful once READ)
        self._attrs = VersionAttrs()
        self._saved_aliases: frozenset[str] = frozenset()
        self._is_latest = False
        # the editable values (start as read; save_edits writes what differs)
        self._description: str | None = None
        self._metadata: dict[str, Any] = {}
        self._ttl: float | None = None
        self._tags = tags if tags is not None else NameList((), naming.validate_tag)
        self._aliases = aliases if aliases is not None else NameList((), check_alias)
        if known is not None:
            self._take(*known)

    # -- reading --------------------------------------------------------------------------
    def _read(self) -> None:
        """Read the attributes, aliases and "is latest" once (state ``UNREAD`` -> ``READ``)."""
        if self.state is VersionState.READ:
            return
        record, store = self.record, self.store
        attrs = store.attrs(record)
        aliases = [
            a for a, v in store.aliases(record.project, record.name).items() if v == record.version
        ]
        latest = store.latest(record.project, record.name)
        self._take(attrs, aliases, latest is not None and latest.version == record.version)

    def _take(self, attrs: VersionAttrs, aliases: Sequence[str], is_latest: bool) -> None:
        self.state = VersionState.READ
        self._attrs = attrs
        self._description = attrs.description
        self._metadata = dict(attrs.metadata)
        self._ttl = attrs.ttl_seconds
        self._tags.replace_all(attrs.tags)
        self._saved_aliases = frozenset(aliases)
        self._is_latest = is_latest
        self._aliases.replace_all(
            sorted(self._saved_aliases) + ([naming.LATEST] if is_latest else [])
        )

    @property
    def manifest(self) -> Manifest:
        """The version's manifest, read once (checked against the record: a record edited to
        name another manifest, or with another digest, must not make reads serve and approve
        other content)."""
        if self._manifest is None:
            self._manifest = self.store.manifest_for(self.record)
        return self._manifest

    @property
    def attrs(self) -> VersionAttrs:
        """The attributes as stored (read on first use)."""
        self._read()
        return self._attrs

    @property
    def is_latest(self) -> bool:
        """Whether this is the newest live version of its collection (read on first use)."""
        self._read()
        return self._is_latest

    # -- the editable values --------------------------------------------------------------
    @property
    def description(self) -> str | None:
        """The description being edited (the stored one until changed)."""
        self._read()
        return self._description

    @description.setter
    def description(self, value: str | None) -> None:
        self._read()
        self._description = value

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata being edited (a copy of the stored dict, edited in place or replaced)."""
        self._read()
        return self._metadata

    @metadata.setter
    def metadata(self, value: dict[str, Any]) -> None:
        self._read()
        self._metadata = value

    @property
    def ttl(self) -> float | None:
        """The TTL in seconds being edited (``None``: kept for ever)."""
        self._read()
        return self._ttl

    @ttl.setter
    def ttl(self, value: float | None) -> None:
        self._read()
        self._ttl = value

    @property
    def tags(self) -> NameList:
        """The live list of tags being edited."""
        self._read()
        return self._tags

    @property
    def aliases(self) -> NameList:
        """The live list of aliases being edited (``latest`` in it when it is the newest)."""
        self._read()
        return self._aliases

    # -- writing --------------------------------------------------------------------------
    def save_edits(self) -> tuple[str, ...]:
        """Write the edited attributes and aliases; the version then reads the store again on
        next use (``UNREAD``), seeing what concurrent editors wrote.

        Metadata merges per top-level key with concurrent edits (:func:`merge_keys`); a
        description or TTL is written only when this editor changed it; tags are added and
        removed as edited; an alias removed here is removed only while it still names this
        version.

        Returns:
            The names of the attributes that changed (``"description"``, ``"metadata"``,
            ``"ttl"``, ``"tags"``, in that order; see :class:`satchel.SaveResult`).
        """
        self._read()
        rec, store, loaded = self.record, self.store, self._attrs
        saved_tags = set(loaded.tags)
        add_tags = set(self._tags) - saved_tags
        drop_tags = saved_tags - set(self._tags)
        description, metadata, ttl = self._description, self._metadata, self._ttl

        def change(cur: VersionAttrs) -> VersionAttrs:
            return msgspec.structs.replace(
                cur,
                description=description if description != loaded.description else cur.description,
                metadata=merge_keys(loaded.metadata, metadata, cur.metadata),
                tags=sorted((set(cur.tags) | add_tags) - drop_tags),
                ttl_seconds=ttl if ttl != loaded.ttl_seconds else cur.ttl_seconds,
            )

        changed = tuple(
            name
            for name, differs in (
                ("description", description != loaded.description),
                ("metadata", metadata != loaded.metadata),
                ("ttl", ttl != loaded.ttl_seconds),
                ("tags", bool(add_tags or drop_tags)),
            )
            if differs
        )
        if changed:
            store.update_attrs(rec, change)
        wanted = set(self._aliases) - {naming.LATEST}
        for alias in sorted(wanted - self._saved_aliases):
            store.set_alias(rec.project, rec.name, alias, rec.version)
        for alias in sorted(self._saved_aliases - wanted):
            if store.alias_target(rec.project, rec.name, alias) == rec.version:
                store.remove_alias(rec.project, rec.name, alias)
        self.state = VersionState.UNREAD
        return changed

    def mark_deleted(self) -> None:
        """The version was deleted (or unlinked): no alias names it and it is not the newest."""
        self._read()
        self._aliases.replace_all([])
        self._saved_aliases, self._is_latest = frozenset(), False


def resolve(store: Store, project: str | None, ref: str) -> Version:
    """The version ``ref`` names: ``"name"`` (its latest), ``"name:v3"``, ``"name:alias"``,
    ``"project/name:..."`` (W&B's ``"entity/project/name:..."``: the entity is ignored).

    Args:
        store: where to look.
        project: the project of a reference without one.
        ref: the reference.

    Returns:
        The version (nothing but its record read yet).

    Raises:
        ArtifactNotFoundError: no such artifact, version or alias.
        ArtifactDeletedError: the version was deleted.
        InvalidNameError: malformed reference.
    """
    parsed = naming.parse_ref(ref, project=project, hidden_ok=True)
    assert parsed.project is not None
    return Version(store, store.resolve(parsed.project, parsed.name, parsed.selector))
