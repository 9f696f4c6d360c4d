"""gc's mark phase: the manifests and objects a store's records can reach, even when damaged.

:func:`mark_collection` and :func:`mark_quarantine` collect into one :class:`Marks` what
``gc`` must keep; :func:`objects_of` turns the kept manifests into the objects they name.
The rule for a damaged store: **gc never deletes what a record it could not read might
name.** So

* every collection is marked, including names an older satchel let start with ``.`` and a
  collection whose own record is missing or malformed (its versions are read one by one);
* a version record that disagrees with its file name, a stray ``.json`` in ``versions/`` that
  parses as a record (a copy, ``01.json``) and a record set aside in ``quarantine/`` keep the
  manifest they name (the quarantine is scanned for manifest ids);
* a file in ``versions/`` or a pending part that cannot be parsed at all could name any
  manifest: it is an *unsure record*, and while there is one gc removes no manifest and no
  object (:attr:`Marks.unsure_records`);
* a manifest gc must keep that is missing or cannot be read could name any object: while
  there is one gc removes no object (:attr:`Marks.unsure_manifests`), but still removes
  manifests nothing names.

``satchel fsck`` names every such file and ``satchel fsck --repair`` sets the bad ones aside,
after which gc sweeps again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec

from satchel.errors import DamagedRecordError, ManifestError
from satchel.registry.index import CollectionSnapshot, snapshot
from satchel.store import Store, layout
from satchel.store.damage import warn_skipped
from satchel.store.records import VersionRecord

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX64_IN = re.compile(rb"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")


@dataclass
class Marks:
    """What the mark phase found (mutable while it runs).

    Attributes:
        manifests: ids of manifests to keep -> who names them (for messages).
        unsure_records: why some record could not be read (keep every manifest and object).
        unsure_manifests: why some kept manifest could not be read (keep every object).
    """

    manifests: dict[str, str] = field(default_factory=dict)
    unsure_records: list[str] = field(default_factory=list)
    unsure_manifests: list[str] = field(default_factory=list)

    def keep(self, manifest_id: str, who: str) -> None:
        """Keep ``manifest_id`` (named by ``who``)."""
        self.manifests.setdefault(manifest_id, who)


def mark_collection(
    store: Store, project: str, name: str, marks: Marks
) -> tuple[CollectionSnapshot | None, dict[int, str]]:
    """Mark what one collection names, however damaged it is.

    Pending parts, and damaged or stray records, are marked into ``marks`` directly; the live
    versions' manifests are returned instead, so the caller can leave out the versions it
    expires.

    Returns:
        ``(snapshot, live version -> manifest id)``; the snapshot is ``None`` when the
        collection record is missing or malformed (nothing may expire there), and has a
        non-empty ``damage`` when other records are.
    """
    try:
        snap = snapshot(store, project, name)
    except DamagedRecordError as exc:
        warn_skipped(exc.key, exc.reason)
        snap = None
    by_version: dict[int, str] = {}
    if snap is not None:
        by_version = {n: snap.records[n].manifest for n in snap.live}
        for d in snap.damage:
            warn_skipped(d.key, d.reason)
            if d.kind in ("record", "stray") and d.key.startswith(
                layout.versions_folder(project, name) + "/"
            ):
                _salvage(store, d.key, marks)
    else:  # no readable collection record: the version records are still the truth
        listing = store.version_listing(project, name)
        for n in listing.live:
            try:
                by_version[n] = store.read_version(project, name, n).manifest
            except FileNotFoundError:
                continue
            except DamagedRecordError as exc:
                warn_skipped(exc.key, exc.reason)
                _salvage(store, exc.key, marks)
        for stray in listing.strays:
            _salvage(store, f"{layout.versions_folder(project, name)}/{stray}", marks)
    for key in store.pending_parts(project, name):
        try:
            data = json.loads(store.backend.read(key))
        except FileNotFoundError:  # finished meanwhile
            continue
        except ValueError as exc:
            marks.unsure_records.append(f"pending part {key} cannot be read ({exc})")
            continue
        for mid in hex_ids(data):
            marks.keep(mid, f"pending part {key}")
    return snap, by_version


def _salvage(store: Store, key: str, marks: Marks) -> None:
    """Keep the manifest a damaged or stray file in ``versions/`` names, if it parses as a
    version record at all; a file that does not could name anything: an unsure record."""
    try:
        data = store.backend.read(key)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        # gone, or a folder (local disk): look at the files inside it
        files = [k for k, _size in store.backend.walk(key) if k != key]
        for inner in files:
            _salvage(store, inner, marks)
        return
    try:
        record = msgspec.json.decode(data, type=VersionRecord)
    except msgspec.DecodeError as exc:
        marks.unsure_records.append(f"{key} cannot be read as a version record ({exc})")
        return
    marks.keep(record.manifest, f"{key} (a damaged or stray record)")


def mark_quarantine(store: Store, marks: Marks, existing: set[str]) -> None:
    """Keep every manifest (of those in ``existing``, ids) that a record set aside in
    ``quarantine/`` still names: a quarantined record can be put back by hand, and must find
    its content then. Quarantined objects are never scanned (only records are)."""
    for key, _size in store.backend.walk(layout.quarantine_folder()):
        parts = key.split("/")
        if len(parts) < 3 or parts[2] != "projects":
            continue
        try:
            data = store.backend.read(key)
        except FileNotFoundError:
            continue
        for m in _HEX64_IN.finditer(data):
            mid = m.group().decode()
            if mid in existing:
                marks.keep(mid, f"quarantined {key}")


def objects_of(
    store: Store, marks: Marks, *, first: set[str] | frozenset[str] = frozenset()
) -> tuple[set[str], set[str]]:
    """The object keys the kept manifests name; a kept manifest that cannot be read is noted
    in :attr:`Marks.unsure_manifests` (and names nothing here).

    Returns:
        ``(keys named by the kept manifests in first, keys named by every kept manifest)``;
        each manifest is read once (gc reports young content a live version uses apart).
    """
    named: list[set[str]] = [set(), set()]
    for mid in sorted(marks.manifests):
        try:
            manifest = store.get_manifest(mid)
        except ManifestError as exc:
            marks.unsure_manifests.append(f"{marks.manifests[mid]}: {exc}")
            continue
        keys = named[0 if mid in first else 1]
        for entry in manifest:
            if not entry.is_reference:
                keys.add(layout.object_key(entry.alg, entry.oid))
    return named[0], named[0] | named[1]


def hex_ids(value: object) -> Iterable[str]:
    """Every 64-hex-digit string anywhere in a decoded JSON value: the manifest ids a record
    gc or fsck cannot parse as its type might still name."""
    if isinstance(value, str):
        if _HEX64.match(value):
            yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from hex_ids(v)
    elif isinstance(value, list):
        for v in value:
            yield from hex_ids(v)
