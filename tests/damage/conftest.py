"""Damage a store on purpose, one kind of damage per function, on any store backend.

Each function applies one damage behind satchel's back (the way a hand edit, a bad copy or a
crashed tool would) and returns the store key it damaged, so a test can assert that errors and
reports name it. They work on every backend (local folder, ``memory://``, S3, GCS, Azure),
writing through :func:`tests.store.conftest.overwrite` and the backend's own ``delete``.

The building blocks of the store-damage tests: ``tests/damage/test_store_damage.py`` uses them, and a
damage x command matrix can combine them with every command.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from typing import Any

from satchel.store import Store, layout
from satchel.store.records import AliasRecord, VersionRecord, decode, encode
from tests.store.conftest import overwrite

__all__ = [
    "bad_alias",
    "bad_attrs",
    "bad_collection",
    "bad_pending_part",
    "copy_record_to_stray",
    "corrupt_object",
    "delete_collection",
    "delete_manifest",
    "delete_object",
    "duplicate_record",
    "edit_version_field",
    "foreign_record",
    "legacy_hidden",
    "legacy_hidden_alias",
    "object_key",
    "record",
    "stray_collection_file",
    "stray_file",
    "truncate_record",
    "unsafe_manifest",
]


def record(store: Store, project: str, name: str, version: int) -> VersionRecord:
    """The version record as stored (read without satchel's checks)."""
    key = layout.version_key(project, name, version)
    rec: VersionRecord = decode(store.backend.read(key), VersionRecord, key)
    return rec


def object_key(store: Store, project: str, name: str, version: int, path: str) -> str:
    """The store key of the object holding ``path`` of a version."""
    entry = store.get_manifest(record(store, project, name, version).manifest).get(path)
    assert entry is not None, path
    return layout.object_key(entry.alg, entry.oid)


# -- version records ---------------------------------------------------------------------------
def copy_record_to_stray(
    store: Store, project: str, name: str, version: int, stray: str = "01.json"
) -> str:
    """Copy ``versions/<version>.json`` to ``versions/<stray>`` (``01.json``, ``abc.json``...)."""
    key = f"{layout.versions_folder(project, name)}/{stray}"
    overwrite(store, key, store.backend.read(layout.version_key(project, name, version)))
    return key


def stray_file(
    store: Store, project: str, name: str, file_name: str = "notes.txt", data: bytes = b"junk\n"
) -> str:
    """Put a file satchel never writes into a collection's ``versions/`` folder."""
    key = f"{layout.versions_folder(project, name)}/{file_name}"
    overwrite(store, key, data)
    return key


def truncate_record(store: Store, project: str, name: str, version: int, keep: int = 30) -> str:
    """Cut ``versions/<version>.json`` after ``keep`` bytes (invalid JSON)."""
    key = layout.version_key(project, name, version)
    overwrite(store, key, store.backend.read(key)[:keep])
    return key


def edit_version_field(store: Store, project: str, name: str, version: int, claims: int) -> str:
    """Make ``versions/<version>.json`` say it is ``v<claims>``."""
    key = layout.version_key(project, name, version)
    data = json.loads(store.backend.read(key))
    data["version"] = claims
    overwrite(store, key, json.dumps(data).encode())
    return key


def duplicate_record(
    store: Store, project: str, name: str, version: int, to: int, *, consistent: bool = False
) -> str:
    """Copy ``versions/<version>.json`` to ``versions/<to>.json``; with ``consistent`` its
    ``version`` field is edited to match the new name (a copy only its id gives away)."""
    data = json.loads(store.backend.read(layout.version_key(project, name, version)))
    if consistent:
        data["version"] = to
    key = layout.version_key(project, name, to)
    overwrite(store, key, json.dumps(data).encode())
    return key


def foreign_record(
    store: Store, project: str, name: str, version: int, *, other: str = "elsewhere"
) -> str:
    """Make ``versions/<version>.json`` claim to belong to collection ``other``."""
    key = layout.version_key(project, name, version)
    data = json.loads(store.backend.read(key))
    data["name"] = other
    overwrite(store, key, json.dumps(data).encode())
    return key


def bad_attrs(store: Store, project: str, name: str, version: int) -> str:
    """A malformed ``versions/<version>.attrs.json``."""
    key = layout.attrs_key(project, name, version)
    overwrite(store, key, b'{"tags": [')
    return key


def bad_alias(store: Store, project: str, name: str, alias: str) -> str:
    """A malformed ``aliases/<alias>.json``."""
    key = layout.alias_key(project, name, alias)
    overwrite(store, key, b'{"version": "three"}')
    return key


def bad_pending_part(store: Store, project: str, name: str, group: str = "g") -> str:
    """A truncated collaborative part under ``pending/<group>/``."""
    key = f"{layout.pending_folder(project, name, group)}/run1-000001-{uuid.uuid4().hex[:8]}.json"
    overwrite(store, key, b'{"run_id": "run1", "manifest": "')
    return key


# -- collections -------------------------------------------------------------------------------
def delete_collection(store: Store, project: str, name: str) -> str:
    """Remove a collection's ``collection.json`` (its versions stay)."""
    key = layout.collection_key(project, name)
    store.backend.delete(key)
    return key


def bad_collection(store: Store, project: str, name: str) -> str:
    """A malformed ``collection.json``."""
    key = layout.collection_key(project, name)
    overwrite(store, key, b"{nope")
    return key


def stray_collection_file(store: Store, project: str, file_name: str = "README.txt") -> str:
    """A file where only collection folders belong (``projects/<p>/artifacts/<file>``)."""
    key = f"{layout.artifacts_folder(project)}/{file_name}"
    overwrite(store, key, b"not a collection\n")
    return key


# -- content -----------------------------------------------------------------------------------
def delete_object(store: Store, project: str, name: str, version: int, path: str) -> str:
    """Remove the object holding ``path`` of a version."""
    key = object_key(store, project, name, version, path)
    store.backend.delete(key)
    return key


def corrupt_object(
    store: Store, project: str, name: str, version: int, path: str, data: bytes = b"rot"
) -> str:
    """Replace the bytes of the object holding ``path`` of a version."""
    key = object_key(store, project, name, version, path)
    overwrite(store, key, data)
    return key


def delete_manifest(store: Store, project: str, name: str, version: int) -> str:
    """Remove the manifest of a version."""
    key = layout.manifest_key(record(store, project, name, version).manifest)
    store.backend.delete(key)
    return key


def unsafe_manifest(
    store: Store, project: str, name: str, version: int, path: str = "../escape.txt"
) -> str:
    """A consistent forgery: a manifest whose one entry has the unsafe logical ``path``,
    stored under its own checksum, and the version record pointing at it. Returns the
    manifest's key."""
    rec = record(store, project, name, version)
    entry = next(iter(store.get_manifest(rec.manifest)))
    contents = {path: {"digest": entry.digest, "size": entry.size}}
    data = json.dumps({"version": 1, "contents": contents}, sort_keys=True).encode()
    mid = hashlib.sha256(data).hexdigest()
    key = layout.manifest_key(mid)
    overwrite(store, key, gzip.compress(data))
    rkey = layout.version_key(project, name, version)
    raw = json.loads(store.backend.read(rkey))
    raw["manifest"] = mid
    overwrite(store, rkey, json.dumps(raw).encode())
    return key


# -- names an older satchel accepted -----------------------------------------------------------
def _copy_tree(store: Store, src: str, dst: str, edit: Any = None) -> None:
    for key, _size in list(store.backend.walk(src)):
        data = store.backend.read(key)
        if edit is not None:
            data = edit(key, data)
        overwrite(store, dst + key[len(src) :], data)
        store.backend.delete(key)


def legacy_hidden(
    store: Store,
    project: str,
    name: str,
    *,
    new_project: str | None = None,
    new_name: str | None = None,
) -> tuple[str, str]:
    """Rename a committed collection (and, with ``new_project``, move it to another project)
    to a name starting with ``.``, as an older satchel could write it: every record says its
    new project and name. Returns ``(project, name)`` of the hidden collection."""
    to_project = new_project or project
    to_name = new_name or f".{name}"

    def edit(key: str, data: bytes) -> bytes:
        if "/versions/" in key and key.endswith(".json") and ".attrs." not in key:
            rec = json.loads(data)
            rec["project"], rec["name"] = to_project, to_name
            return json.dumps(rec).encode()
        return data

    store.backend.delete(layout.index_key(project, name))
    _copy_tree(
        store,
        layout.collection_folder(project, name),
        layout.collection_folder(to_project, to_name),
        edit,
    )
    return to_project, to_name


def legacy_hidden_alias(store: Store, project: str, name: str, alias: str, version: int) -> str:
    """An alias whose name starts with ``.`` (``alias`` must), written as an older satchel did."""
    assert alias.startswith(".")
    key = layout.alias_key(project, name, alias)
    overwrite(store, key, encode(AliasRecord(version)))
    return key
