"""Deleting a version: a tombstone next to its record, never a reused number.

``versions/<n>.deleted`` is created with the store's create-if-absent write. The record stays
(so the number is never handed out again: commits number from the highest committed record,
deleted or not) but the version vanishes from ``latest``, listings and look-ups, which raise
:class:`ArtifactDeletedError`. Content no live version uses is removed later by ``gc``.
"""

from __future__ import annotations

import msgspec

from satchel.errors import AliasProtectedError, ArtifactDeletedError
from satchel.store import Store, layout
from satchel.store.records import VersionRecord, encode, utcnow, who


class Tombstone(msgspec.Struct, frozen=True, kw_only=True):
    """``versions/<n>.deleted``: who deleted the version, when, and why."""

    deleted_at: str
    deleted_by: str
    reason: str | None = None


def aliases_of(store: Store, record: VersionRecord) -> list[str]:
    """The stored aliases naming ``record``'s version, sorted."""
    return sorted(
        a for a, n in store.aliases(record.project, record.name).items() if n == record.version
    )


def delete_version(
    store: Store,
    record: VersionRecord,
    *,
    delete_aliases: bool = False,
    reason: str | None = None,
) -> list[str]:
    """Delete one version.

    Args:
        store: the store.
        record: the version to delete.
        delete_aliases: remove the aliases that name the version instead of refusing.
        reason: kept in the tombstone (``"ttl expired"`` when ``gc`` deletes).

    Returns:
        The aliases removed.

    Raises:
        AliasProtectedError: aliases name the version and ``delete_aliases`` is false.
        ArtifactDeletedError: the version was already deleted.
    """
    ref = f"{record.project}/{record.name}:v{record.version}"
    tomb = layout.tombstone_key(record.project, record.name, record.version)
    if store.backend.exists(tomb):
        raise ArtifactDeletedError(f"{ref} was already deleted")
    names = aliases_of(store, record)
    if names and not delete_aliases:
        raise AliasProtectedError(
            f"{ref} still has alias(es) {', '.join(names)}; move them to another version, or "
            "delete with delete_aliases=True (--delete-aliases) to remove them too",
            aliases=names,
        )
    removed = []
    for alias in names:
        # only if it still names this version: someone may have moved it meanwhile
        if store.alias_target(record.project, record.name, alias) == record.version:
            store.remove_alias(record.project, record.name, alias)
            removed.append(alias)
    stone = Tombstone(deleted_at=utcnow(), deleted_by=who(), reason=reason)
    if not store.backend.create_if_absent(tomb, encode(stone)):
        raise ArtifactDeletedError(f"{ref} was already deleted")
    return removed
