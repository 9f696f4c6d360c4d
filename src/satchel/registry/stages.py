"""Stages of a version (Polyaxon-style): development, staging, production, archived.

The current stage and every change (from, to, when, who, reason, message) live in the
version's attributes record, changed with the store's compare-and-swap update, so two people
promoting at once both land in the history, in the order the store accepted them.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import msgspec

from satchel.errors import InvalidAttributeError
from satchel.store import Store
from satchel.store.records import StageChange, VersionAttrs, VersionRecord, parse_time, utcnow, who

STAGES = ("development", "staging", "production", "archived")


@dataclass(frozen=True, slots=True)
class StageEvent:
    """One change of a version's stage.

    Attributes:
        from_stage: the stage before (``None``: the version had none).
        to_stage: the stage after.
        at: when (UTC).
        by: ``user@host`` that made the change.
        reason: short reason given, if any.
        message: longer message given, if any.
    """

    from_stage: str | None
    to_stage: str
    at: _dt.datetime
    by: str
    reason: str | None = None
    message: str | None = None


def check_stage(stage: str) -> str:
    """Return ``stage`` if it is a known stage.

    Raises:
        InvalidAttributeError: any other value (a ``ValueError``).
    """
    if stage not in STAGES:
        raise InvalidAttributeError(f"stage {stage!r} is not one of {', '.join(STAGES)}")
    return stage


def history(attrs: VersionAttrs) -> list[StageEvent]:
    """The stage history recorded in ``attrs``, oldest first."""
    return [
        StageEvent(c.from_stage, c.to_stage, parse_time(c.at), c.by, c.reason, c.message)
        for c in attrs.stage_history
    ]


def set_stage(
    store: Store,
    record: VersionRecord,
    stage: str,
    *,
    reason: str | None = None,
    message: str | None = None,
    by: str | None = None,
) -> VersionAttrs:
    """Move a version to ``stage`` and append the change to its history.

    Setting the stage a version already has changes nothing and records nothing.

    Args:
        store: the store holding the version.
        record: the version.
        stage: one of :data:`STAGES`.
        reason: short reason, kept in the history.
        message: longer message, kept in the history.
        by: who made the change (default ``user@host``).

    Returns:
        The version's attributes after the change.

    Raises:
        InvalidAttributeError: unknown stage.
        ConcurrentUpdateError: too many concurrent editors.
    """
    check_stage(stage)
    actor = by or who()

    def change(cur: VersionAttrs) -> VersionAttrs:
        if cur.stage == stage:
            return cur
        event = StageChange(
            from_stage=cur.stage,
            to_stage=stage,
            at=utcnow(),
            by=actor,
            reason=reason,
            message=message,
        )
        return msgspec.structs.replace(cur, stage=stage, stage_history=[*cur.stage_history, event])

    if store.attrs(record).stage == stage:
        return store.attrs(record)
    return store.update_attrs(record, change)
