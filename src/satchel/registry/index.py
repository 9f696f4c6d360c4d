"""A small, rebuildable listing index per collection, so filtered pages stay fast.

The version records stay the truth; the index (``<collection>/index.json.gz``) is a cache that
saves reading thousands of small files for every ``ls``. It holds

* every version record seen so far (records are immutable, so a cached one is never wrong);
* the decoded attributes of each version and the target of each alias, each with the
  *fingerprint* of the file it was read from (:mod:`satchel.registry.scan`).

Each snapshot starts with a listing of ``versions/`` and ``aliases/`` (with fingerprints), so
the index can never answer from stale data:

* version numbers the index lacks are read from their records and added;
* a tombstone in the listing marks a version deleted, whatever the index says;
* an attributes or alias file whose fingerprint differs from the cached one, or that has no
  cached entry, is read again; cached entries whose file vanished are dropped.

Fingerprints built from a local file's inode, size and mtime have one trap, as in git's index:
a file rewritten within the filesystem's timestamp granularity of being cached may keep its
fingerprint. Like git ("racily clean" entries), an entry is trusted only when the file was
last modified at least :data:`RACY_SECONDS` before it was read; younger entries are read again
every time until they age. When the backend gives no fingerprints at all, every attributes and
alias file is read (correct, slower).

The index is written back only when something changed, with the store's atomic
compare-and-swap write; losing that race, or having no write permission, is harmless (the next
reader refreshes it again). A malformed or foreign-format index is ignored and rebuilt.

A damaged store does not stop a snapshot: a stray file in ``versions/`` or ``aliases/``
(``01.json``, ``notes.txt``), a version record that is malformed or disagrees with its file
name, and a malformed attributes or alias record are left out (a version with damaged
attributes is listed with those of its record) and named in :attr:`CollectionSnapshot.damage`;
such records are never cached, so they are read again until repaired.
"""

from __future__ import annotations

import gzip
import time
from dataclasses import dataclass, field

import msgspec

from satchel.errors import DamagedRecordError, SatchelError
from satchel.registry.scan import Listed, list_detailed
from satchel.store import Store, layout
from satchel.store.records import (
    AliasRecord,
    CollectionRecord,
    VersionAttrs,
    VersionRecord,
    decode,
    decode_version,
    record_mismatch,
)

INDEX_FORMAT = 1
#: a cached file entry is trusted only if the file was older than this when it was read
RACY_SECONDS = 2.0
_ATTRS_SUFFIX = ".attrs.json"


class _CachedAttrs(msgspec.Struct, array_like=True):
    fingerprint: str
    mtime: float | None
    read_at: float
    attrs: VersionAttrs


class _CachedAlias(msgspec.Struct, array_like=True):
    fingerprint: str
    mtime: float | None
    read_at: float
    version: int


class _IndexData(msgspec.Struct):
    format: int
    records: list[VersionRecord] = []
    record_fingerprints: dict[int, str] = {}
    attrs: dict[int, _CachedAttrs] = {}
    aliases: dict[str, _CachedAlias] = {}


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(_IndexData)


@dataclass(frozen=True, slots=True)
class Damage:
    """One file a snapshot left out.

    Attributes:
        kind: ``stray`` (not a file satchel writes), ``record`` (a version record),
            ``attrs`` (a version's attributes) or ``alias``.
        key: the store key.
        reason: what is wrong, for people.
        version: the version number concerned, when known.
    """

    kind: str
    key: str
    reason: str
    version: int | None = None


@dataclass(frozen=True)
class CollectionSnapshot:
    """Everything the registry needs to know about one collection, read consistently enough.

    Attributes:
        project, name: the collection.
        collection: its record (type, created_at).
        records: every committed version record (deleted ones too), by number.
        deleted: numbers of deleted versions.
        live: committed, non-deleted numbers, ascending.
        attrs: current attributes of every live version.
        aliases: alias -> version, for every stored alias.
        damage: the files left out because they are damaged or stray (see the module
            docstring); empty for a sound collection.
    """

    project: str
    name: str
    collection: CollectionRecord
    records: dict[int, VersionRecord]
    deleted: frozenset[int]
    live: tuple[int, ...]
    attrs: dict[int, VersionAttrs]
    aliases: dict[str, int]
    damage: tuple[Damage, ...] = ()
    _by_version: dict[int, list[str]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def latest(self) -> int | None:
        """The highest live version number, or ``None``."""
        return self.live[-1] if self.live else None

    def aliases_of(self, version: int) -> list[str]:
        """Sorted stored aliases naming ``version``."""
        if not self._by_version and self.aliases:
            for alias, n in self.aliases.items():
                self._by_version.setdefault(n, []).append(alias)
            for names in self._by_version.values():
                names.sort()
        return list(self._by_version.get(version, ()))


def _trusted(cached: _CachedAttrs | _CachedAlias | None, listed: Listed) -> bool:
    if cached is None or listed.fingerprint is None or cached.fingerprint != listed.fingerprint:
        return False
    return cached.mtime is None or cached.mtime < cached.read_at - RACY_SECONDS


def _initial_attrs(record: VersionRecord) -> VersionAttrs:
    # shares the record's (frozen, never mutated) metadata and tags: no copies for 10k rows
    return VersionAttrs(
        description=record.description,
        metadata=record.metadata,
        tags=record.tags,
        ttl_seconds=record.ttl_seconds,
        updated_at=record.created_at,
    )


def snapshot(
    store: Store, project: str, name: str, *, write_index: bool = True
) -> CollectionSnapshot | None:
    """Read a collection through its index, refreshing the index where the store moved on.

    Args:
        store: the store.
        project, name: the collection.
        write_index: write the refreshed index back when it changed.

    Returns:
        The snapshot, or ``None`` when the collection does not exist.

    Raises:
        DamagedRecordError: the collection record is malformed (damaged version, attributes
            and alias records are left out and named in :attr:`CollectionSnapshot.damage`).
    """
    collection = store.collection(project, name)
    if collection is None:
        return None
    backend = store.backend
    versions_folder = layout.versions_folder(project, name)
    aliases_folder = layout.aliases_folder(project, name)
    versions_listing = list_detailed(backend, versions_folder)
    # aliases an older satchel let start with '.' are aliases too (temporaries end in .tmp)
    alias_listing = list_detailed(backend, aliases_folder, hidden=True)
    classified = layout.classify_versions(list(versions_listing))
    committed, deleted = classified.committed, classified.deleted
    alias_names, alias_strays = layout.classify_aliases(list(alias_listing))
    damage: list[Damage] = [
        Damage("stray", f"{versions_folder}/{n}", _STRAY) for n in classified.strays
    ] + [Damage("stray", f"{aliases_folder}/{n}", _STRAY) for n in alias_strays]

    key = layout.index_key(project, name)
    try:
        raw, token = backend.read_token(key)
    except (OSError, SatchelError):
        raw, token = None, None
    data = _load(raw)
    changed = raw is not None and data.format != INDEX_FORMAT
    if data.format != INDEX_FORMAT:
        data = _IndexData(INDEX_FORMAT)

    records = {r.version: r for r in data.records}
    record_fps: dict[int, str] = {}
    if set(records) - set(committed):  # the index knows versions the store lacks: not ours
        changed = True
    for n in committed:
        fp = versions_listing[f"{n}.json"].fingerprint
        cached_fp = data.record_fingerprints.get(n)
        cached_rec = records.get(n)
        if (
            cached_rec is not None
            and (fp is None or cached_fp is None or fp == cached_fp)
            # an index written before records were checked against their key may hold one
            and record_mismatch(cached_rec, project, name, n) is None
        ):
            if fp is not None:
                record_fps[n] = fp
            continue
        # records are write-once; a different fingerprint means the store was rebuilt by hand
        vkey = layout.version_key(project, name, n)
        try:
            records[n] = decode_version(backend.read(vkey), project, name, n, vkey)
        except FileNotFoundError:  # listed, then gone: the store was edited by hand
            changed = records.pop(n, None) is not None or changed
            continue
        except DamagedRecordError as exc:  # never cached: read (and reported) until repaired
            changed = records.pop(n, None) is not None or changed
            if n not in deleted:  # a deleted version is never served: its record harms no one
                damage.append(Damage("record", vkey, exc.reason, n))
            continue
        if fp is not None:
            record_fps[n] = fp
        changed = True
    records = {n: records[n] for n in committed if n in records}

    live = tuple(n for n in committed if n not in deleted and n in records)
    attrs: dict[int, VersionAttrs] = {}
    cached_attrs: dict[int, _CachedAttrs] = {}
    for n in live:
        listed = versions_listing.get(f"{n}{_ATTRS_SUFFIX}")
        if listed is None:
            attrs[n] = _initial_attrs(records[n])
            changed = changed or n in data.attrs
            continue
        cached = data.attrs.get(n)
        if _trusted(cached, listed):
            assert cached is not None
            attrs[n] = cached.attrs
            cached_attrs[n] = cached
            continue
        akey = layout.attrs_key(project, name, n)
        read_at = time.time()
        try:
            value: VersionAttrs = decode(backend.read(akey), VersionAttrs, akey)
        except FileNotFoundError:
            attrs[n] = _initial_attrs(records[n])
            continue
        except DamagedRecordError as exc:
            attrs[n] = _initial_attrs(records[n])
            damage.append(Damage("attrs", akey, exc.reason, n))
            continue
        attrs[n] = value
        if listed.fingerprint is not None:
            cached_attrs[n] = _CachedAttrs(listed.fingerprint, listed.mtime, read_at, value)
            changed = True
    if set(data.attrs) - set(cached_attrs):
        changed = True

    aliases: dict[str, int] = {}
    cached_aliases: dict[str, _CachedAlias] = {}
    for alias in alias_names:
        listed = alias_listing[f"{alias}.json"]
        cached_alias = data.aliases.get(alias)
        if _trusted(cached_alias, listed):
            assert cached_alias is not None
            aliases[alias] = cached_alias.version
            cached_aliases[alias] = cached_alias
            continue
        akey = layout.alias_key(project, name, alias)
        read_at = time.time()
        try:
            target: AliasRecord = decode(backend.read(akey), AliasRecord, akey)
        except FileNotFoundError:
            continue
        except DamagedRecordError as exc:
            damage.append(Damage("alias", akey, exc.reason))
            continue
        aliases[alias] = target.version
        if listed.fingerprint is not None:
            cached_aliases[alias] = _CachedAlias(
                listed.fingerprint, listed.mtime, read_at, target.version
            )
            changed = True
    if set(data.aliases) - set(cached_aliases):
        changed = True

    if changed and write_index:
        new = _IndexData(
            INDEX_FORMAT,
            [records[n] for n in sorted(records)],
            record_fps,
            cached_attrs,
            cached_aliases,
        )
        _write(store, key, new, token)
    return CollectionSnapshot(
        project=project,
        name=name,
        collection=collection,
        records=records,
        deleted=frozenset(deleted),
        live=live,
        attrs=attrs,
        aliases=aliases,
        damage=tuple(damage),
    )


_STRAY = (
    "not a file satchel writes (records are named <n>.json, <n> a number without leading "
    "zeros; aliases <alias>.json), so it is not read"
)


def _load(raw: bytes | None) -> _IndexData:
    if raw is None:
        return _IndexData(INDEX_FORMAT)
    try:
        return _DECODER.decode(gzip.decompress(raw))
    except (msgspec.DecodeError, OSError, EOFError):
        return _IndexData(-1)


def _write(store: Store, key: str, data: _IndexData, token: str | None) -> None:
    payload = gzip.compress(_ENCODER.encode(data), compresslevel=1, mtime=0)
    try:
        if token is None:
            store.backend.create_if_absent(key, payload)
        else:
            store.backend.replace_if_unchanged(key, payload, token)
    except (OSError, SatchelError):
        pass  # a read-only store or a lost race: the index is only a cache


def drop_index(store: Store, project: str, name: str) -> None:
    """Remove a collection's index (it is rebuilt on the next listing)."""
    store.backend.delete(layout.index_key(project, name))
