"""The JSON records a store keeps about collections and versions (frozen msgspec structs)."""

from __future__ import annotations

import datetime as _dt
import getpass
import socket
from typing import Any

import msgspec

from satchel.errors import DamagedRecordError


def utcnow() -> str:
    """The current time as an ISO 8601 UTC string with microseconds."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> _dt.datetime:
    """Parse a time written by :func:`utcnow` (or any ISO 8601 string)."""
    return _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def who() -> str:
    """``user@host`` of this process, recorded on commits and stage changes."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


class CollectionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """``collection.json``: what a collection is."""

    type: str
    created_at: str
    description: str | None = None
    tags: list[str] = []


class VersionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """``versions/<n>.json``: one committed version, written once (the commit point).

    The description, metadata and tags given at commit time live here too, so a crash right
    after the commit point loses none of them; later edits go to the attrs record.
    """

    id: str
    project: str
    name: str
    version: int
    type: str
    manifest: str
    digest: str
    size: int
    file_count: int
    created_at: str
    created_by: str
    based_on: int | None = None
    run_id: str | None = None
    description: str | None = None
    metadata: dict[str, Any] = {}
    tags: list[str] = []
    ttl_seconds: float | None = None
    distributed_id: str | None = None
    #: ``"project/name:vN"`` when this version is a portfolio link to that version (it then
    #: shares the source's manifest; nothing was copied)
    linked_from: str | None = None


class StageChange(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of a version's stage history."""

    from_stage: str | None
    to_stage: str
    at: str
    by: str
    reason: str | None = None
    message: str | None = None


class VersionAttrs(msgspec.Struct, frozen=True, kw_only=True):
    """``versions/<n>.attrs.json``: the mutable attributes of a version."""

    description: str | None = None
    metadata: dict[str, Any] = {}
    tags: list[str] = []
    stage: str | None = None
    stage_history: list[StageChange] = []
    ttl_seconds: float | None = None
    updated_at: str | None = None


class AliasRecord(msgspec.Struct, frozen=True):
    """``aliases/<alias>.json``: the version an alias names."""

    version: int


class FormatRecord(msgspec.Struct, frozen=True):
    """``satchel.json``: the store format."""

    format: int


def encode(record: msgspec.Struct) -> bytes:
    """Canonical JSON of a record."""
    return msgspec.json.encode(record, order="deterministic")


def decode(data: bytes, cls: type[Any], what: str) -> Any:
    """Decode a record, naming ``what`` (a key) when it is malformed.

    Raises:
        DamagedRecordError: the bytes are not a valid record of ``cls`` (a
            :class:`~satchel.errors.StoreFormatError`).
    """
    try:
        return msgspec.json.decode(data, type=cls)
    except msgspec.DecodeError as exc:
        if what.startswith("projects/"):  # what fsck --repair can set aside
            raise damaged(what, f"not a valid record ({exc})") from exc
        raise DamagedRecordError(
            f"store record {what} is malformed: {exc}; run 'satchel fsck'",
            key=what,
            reason=f"not a valid record ({exc})",
        ) from exc


def record_mismatch(record: VersionRecord, project: str, name: str, version: int) -> str | None:
    """What in ``record`` contradicts the key it was read from, or ``None`` when it agrees.

    A version record is read from ``projects/<project>/artifacts/<name>/versions/<n>.json``
    and must say exactly that: a copy of another record (a duplicate) or an edited number
    would otherwise make one version appear twice or hide another.
    """
    if record.version != version:
        return f"it says it is v{record.version}, but its file name makes it v{version}"
    if (record.project, record.name) != (project, name):
        return (
            f"it belongs to {record.project}/{record.name}, but it lies in the folder of "
            f"{project}/{name}"
        )
    return None


def decode_version(data: bytes, project: str, name: str, version: int, key: str) -> VersionRecord:
    """Decode the version record read from ``key`` and check it against that key.

    Raises:
        DamagedRecordError: malformed, or it names another version, project or artifact.
    """
    try:
        record: VersionRecord = msgspec.json.decode(data, type=VersionRecord)
    except msgspec.DecodeError as exc:
        raise damaged(key, f"not a valid version record ({exc})") from exc
    problem = record_mismatch(record, project, name, version)
    if problem is not None:
        raise damaged(key, problem)
    return record


def damaged(key: str, reason: str) -> DamagedRecordError:
    """The error for a damaged record at ``key`` that ``satchel fsck --repair`` can set aside."""
    return DamagedRecordError(
        f"record {key} is damaged: {reason}; run 'satchel fsck', and 'satchel fsck --repair' "
        "to move it to quarantine",
        key=key,
        reason=reason,
    )
