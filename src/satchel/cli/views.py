"""How the command line shows things: one JSON shape per version, sizes, durations, and
paths made safe to print.

Every command that prints a version as JSON (``show``, ``ls``, ``put``, ``alias``, ``tag``,
``stage``, ``copy``, ``link``, ``apply``, ``import-wandb``) builds it with :func:`version_json`,
so scripts see the same keys everywhere.

Names of files come from users' disks and from stored manifests, so they can hold control
characters; a line break or a terminal escape printed raw would let a file name forge output
lines. :func:`satchel.paths.printable` escapes them, and every path the CLI prints goes
through it.
"""

from __future__ import annotations

from typing import Any

from satchel.artifact import Artifact
from satchel.paths import printable

__all__ = ["human_duration", "human_size", "printable", "version_json", "version_lines"]


def human_size(n: int | None) -> str:
    """``1.5 MB``-style size (decimal units)."""
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover


def human_duration(seconds: float) -> str:
    """``30d``, ``1h30m``, ``45s``-style duration (whole seconds)."""
    left = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    return "".join(parts) or "0s"


def version_json(art: Artifact) -> dict[str, Any]:
    """The JSON-able description of a committed version, the same for every command.

    Keys: ``qualified_name``, ``name`` (the artifact, without version), ``project``,
    ``version``, ``type``, ``digest``, ``size``, ``file_count``, ``aliases``, ``tags``,
    ``stage``, ``description``, ``metadata``, ``created_at``, ``created_by``, ``updated_at``,
    ``ttl_seconds``, ``expires_at`` (``null`` without a TTL), ``based_on``, ``linked_from``,
    ``id``. Times are ISO 8601 in UTC.
    """
    ttl = art.ttl
    return {
        "qualified_name": art.qualified_name,
        "name": art.collection_name,
        "project": art.project,
        "version": art.version,
        "type": art.type,
        "digest": art.digest,
        "size": art.size,
        "file_count": art.file_count,
        "aliases": art.aliases,
        "tags": art.tags,
        "stage": art.stage,
        "description": art.description,
        "metadata": art.metadata,
        "created_at": art.created_at.isoformat(),
        "created_by": art.created_by,
        "updated_at": art.updated_at.isoformat(),
        "ttl_seconds": ttl.total_seconds() if ttl is not None else None,
        "expires_at": (art.created_at + ttl).isoformat() if ttl is not None else None,
        "based_on": art.based_on,
        "linked_from": art.linked_from,
        "id": art.id,
    }


def version_lines(info: dict[str, Any]) -> list[str]:
    """The human form of :func:`version_json`'s dict (``show``), one ``key  value`` a line."""
    lines = []
    for key in (
        "qualified_name",
        "type",
        "digest",
        "size",
        "file_count",
        "aliases",
        "tags",
        "stage",
        "description",
        "created_at",
        "created_by",
        "updated_at",
        "ttl",
        "based_on",
        "linked_from",
    ):
        if key == "ttl":
            seconds = info["ttl_seconds"]
            value: Any = (
                f"{human_duration(seconds)} (expires {info['expires_at']})"
                if seconds is not None
                else None
            )
        else:
            value = info[key]
        if isinstance(value, list):
            value = ", ".join(value) or "-"
        lines.append(f"{key:15} {printable(str(value)) if value is not None else '-'}")
    return lines
