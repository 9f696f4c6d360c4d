"""Filters, sorting and pagination of artifact versions (ZenML/Polyaxon-style list endpoints).

:class:`VersionQuery` validates what a caller asked for; :func:`run_query` answers it from
collection snapshots (:mod:`satchel.registry.index`) and returns one :class:`Page`.

Scope and combination: ``project`` (and ``name``, when given) choose which collections are
searched; every other filter given is a condition on a version, and ``logical_operator``
combines those conditions with AND (default) or OR. With no condition every live version
matches. Deleted versions never appear.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from satchel import naming
from satchel.errors import InvalidQueryError
from satchel.registry.index import CollectionSnapshot
from satchel.registry.stages import STAGES
from satchel.store.records import VersionAttrs, VersionRecord, parse_time

SORT_KEYS = ("created", "updated", "version", "name", "size")
MAX_PAGE_SIZE = 10_000
OPERATORS = ("and", "or")

T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing.

    Attributes:
        items: the versions on this page.
        index: the page number, from 1.
        max_size: the page size asked for.
        total: how many versions matched, on all pages.
        total_pages: how many pages of ``max_size`` they fill (at least 1).
    """

    items: tuple[T, ...]
    index: int
    max_size: int
    total: int
    total_pages: int

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> T:
        return self.items[i]

    def map(self, make: Callable[[T], U]) -> Page[U]:
        """The same page with ``make`` applied to each item (the registry lists
        versions; ``Api`` turns them into artifacts)."""
        return Page(
            tuple(make(i) for i in self.items),
            self.index,
            self.max_size,
            self.total,
            self.total_pages,
        )


@dataclass(frozen=True, slots=True)
class Row:
    """What the filters see of one live version."""

    snapshot: CollectionSnapshot
    record: VersionRecord
    attrs: VersionAttrs

    @property
    def aliases(self) -> list[str]:
        """Stored aliases, plus ``latest`` for the newest version."""
        out = self.snapshot.aliases_of(self.record.version)
        if self.snapshot.latest == self.record.version:
            out.append(naming.LATEST)
        return out

    @property
    def created(self) -> _dt.datetime:
        """Commit time (UTC)."""
        return parse_time(self.record.created_at)

    @property
    def updated(self) -> _dt.datetime:
        """Last change of the attributes (UTC), else the commit time."""
        return parse_time(self.attrs.updated_at or self.record.created_at)


def _as_time(value: _dt.datetime | _dt.date | str | None, what: str) -> _dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = parse_time(value)
        except ValueError as exc:
            raise InvalidQueryError(
                f"{what}={value!r} is not an ISO 8601 time such as 2024-05-01 or "
                "2024-05-01T12:00:00Z"
            ) from exc
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.timezone.utc)
    raise InvalidQueryError(f"{what} must be a datetime or an ISO 8601 string, got {value!r}")


def _run_id(value: Any, what: str) -> str | None:
    if value is None:
        return None
    rid = getattr(value, "id", value)
    if not isinstance(rid, str) or not rid:
        raise InvalidQueryError(f"{what} must be a run id or a Run, got {value!r}")
    return rid


@dataclass(frozen=True)
class VersionQuery:
    """A validated listing request; build it with :meth:`build`."""

    project: str
    name: str | None = None
    type: str | None = None
    tags: tuple[str, ...] = ()
    tag: str | None = None
    alias: str | None = None
    stage: str | None = None
    version: int | None = None
    digest: str | None = None
    created_after: _dt.datetime | None = None
    created_before: _dt.datetime | None = None
    updated_after: _dt.datetime | None = None
    updated_before: _dt.datetime | None = None
    metadata: Mapping[str, Any] | None = None
    produced_by: str | None = None
    used_by: str | None = None
    only_unused: bool = False
    logical_operator: str = "and"
    sort_key: str = "created"
    descending: bool = True
    page: int = 1
    size: int = 20

    @classmethod
    def build(
        cls,
        *,
        project: str,
        name: str | None = None,
        type: str | None = None,
        tags: Iterable[str] | str | None = None,
        tag: str | None = None,
        alias: str | None = None,
        stage: str | None = None,
        version: int | str | None = None,
        digest: str | None = None,
        created_after: Any = None,
        created_before: Any = None,
        updated_after: Any = None,
        updated_before: Any = None,
        metadata: Mapping[str, Any] | None = None,
        produced_by: Any = None,
        used_by: Any = None,
        only_unused: bool = False,
        logical_operator: str = "and",
        sort_by: str = "-created",
        page: int = 1,
        size: int = 20,
    ) -> VersionQuery:
        """Validate every argument of ``Api.artifact_versions``.

        Raises:
            InvalidQueryError: a bad sort key, operator, page, size, time, version, stage or
                metadata filter.
            InvalidNameError: a bad project, name, type, tag or alias.
        """
        # filters look names up, so names an older satchel allowed (a leading '.') are fine
        naming.validate_name(project, kind="project", hidden_ok=True)
        if name is not None:
            naming.validate_name(name, hidden_ok=True)
        if type is not None:
            naming.validate_name(type, kind="type", hidden_ok=True)
        tag_list = [tags] if isinstance(tags, str) else list(tags or ())
        for t in [*tag_list, *([tag] if tag is not None else [])]:
            naming.validate_tag(t, hidden_ok=True)
        if alias is not None:
            naming.validate_name(alias, kind="alias", hidden_ok=True)
        if stage is not None and stage not in STAGES:
            raise InvalidQueryError(f"stage {stage!r} is not one of {', '.join(STAGES)}")
        number: int | None
        if version is None:
            number = None
        elif isinstance(version, bool):
            raise InvalidQueryError(f"version must be 'v<n>' or an int, got {version!r}")
        elif isinstance(version, int):
            number = version
        else:
            number = naming.parse_version(str(version))
            if number is None and str(version).isdigit():
                number = int(str(version))
        if number is None and version is not None or (number is not None and number < 0):
            raise InvalidQueryError(f"version {version!r} is not 'v<n>' (for example 'v3')")
        if metadata is not None and not isinstance(metadata, Mapping):
            raise InvalidQueryError(
                f"metadata filter must be a dict of top-level keys, got {type_name(metadata)}"
            )
        op = str(logical_operator).lower()
        if op not in OPERATORS:
            raise InvalidQueryError(f"logical_operator {logical_operator!r} is not 'and' or 'or'")
        key = str(sort_by)
        descending = key.startswith("-")
        key = key.lstrip("-+")
        if key not in SORT_KEYS:
            raise InvalidQueryError(
                f"sort_by {sort_by!r} is not one of {', '.join(SORT_KEYS)} "
                "(prefix '-' for descending)"
            )
        if isinstance(page, bool) or not isinstance(page, int) or page < 1:
            raise InvalidQueryError(f"page must be an int of at least 1, got {page!r}")
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PAGE_SIZE:
            raise InvalidQueryError(
                f"size must be an int from 1 to {MAX_PAGE_SIZE:,}, got {size!r}"
            )
        return cls(
            project=project,
            name=name,
            type=type,
            tags=tuple(sorted(set(tag_list))),
            tag=tag,
            alias=alias,
            stage=stage,
            version=number,
            digest=digest,
            created_after=_as_time(created_after, "created_after"),
            created_before=_as_time(created_before, "created_before"),
            updated_after=_as_time(updated_after, "updated_after"),
            updated_before=_as_time(updated_before, "updated_before"),
            metadata=dict(metadata) if metadata is not None else None,
            produced_by=_run_id(produced_by, "produced_by"),
            used_by=_run_id(used_by, "used_by"),
            only_unused=bool(only_unused),
            logical_operator=op,
            sort_key=key,
            descending=descending,
            page=page,
            size=size,
        )

    def conditions(
        self,
        used_by_inputs: set[tuple[str, str, int]] | None,
        used_versions: Callable[[CollectionSnapshot], set[int]],
    ) -> list[Callable[[Row], bool]]:
        """The per-version predicates this query asks for.

        Args:
            used_by_inputs: ``(project, name, version)`` inputs of the ``used_by`` run.
            used_versions: numbers of a collection's versions some run used.
        """
        conds: list[Callable[[Row], bool]] = []
        if self.type is not None:
            conds.append(lambda r: r.record.type == self.type)
        if self.tags:
            wanted = set(self.tags)
            conds.append(lambda r: wanted <= set(r.attrs.tags))
        if self.tag is not None:
            conds.append(lambda r: self.tag in r.attrs.tags)
        if self.alias is not None:
            conds.append(lambda r: self.alias in r.aliases)
        if self.stage is not None:
            conds.append(lambda r: r.attrs.stage == self.stage)
        if self.version is not None:
            conds.append(lambda r: r.record.version == self.version)
        if self.digest is not None:
            conds.append(lambda r: r.record.digest == self.digest)
        if self.created_after is not None:
            conds.append(lambda r: r.created > self.created_after)  # type: ignore[operator]
        if self.created_before is not None:
            conds.append(lambda r: r.created < self.created_before)  # type: ignore[operator]
        if self.updated_after is not None:
            conds.append(lambda r: r.updated > self.updated_after)  # type: ignore[operator]
        if self.updated_before is not None:
            conds.append(lambda r: r.updated < self.updated_before)  # type: ignore[operator]
        if self.metadata is not None:
            items = list(self.metadata.items())
            conds.append(
                lambda r: all(k in r.attrs.metadata and r.attrs.metadata[k] == v for k, v in items)
            )
        if self.produced_by is not None:
            conds.append(lambda r: r.record.run_id == self.produced_by)
        if self.used_by is not None:
            inputs = used_by_inputs or set()
            conds.append(lambda r: (r.record.project, r.record.name, r.record.version) in inputs)
        if self.only_unused:
            conds.append(lambda r: r.record.version not in used_versions(r.snapshot))
        return conds

    def sort_and_page(self, rows: list[Row]) -> tuple[list[Row], int, int]:
        """Sort ``rows`` and cut this query's page: ``(page rows, total, total_pages)``."""
        key = _SORTERS[self.sort_key]
        rows.sort(key=lambda r: (r.record.name, r.record.version), reverse=self.descending)
        rows.sort(key=key, reverse=self.descending)  # stable: ties keep name/version order
        total = len(rows)
        pages = max(1, math.ceil(total / self.size))
        start = (self.page - 1) * self.size
        return rows[start : start + self.size], total, pages


_SORTERS: dict[str, Callable[[Row], Any]] = {
    "created": lambda r: r.record.created_at,
    "updated": lambda r: r.attrs.updated_at or r.record.created_at,
    "version": lambda r: r.record.version,
    "name": lambda r: r.record.name,
    "size": lambda r: r.record.size,
}


def type_name(value: object) -> str:
    """``type(value).__name__`` (for messages)."""
    return type(value).__name__


def matching_rows(
    query: VersionQuery,
    snapshots: Sequence[CollectionSnapshot],
    *,
    used_by_inputs: set[tuple[str, str, int]] | None,
    used_versions: Callable[[CollectionSnapshot], set[int]],
) -> list[Row]:
    """Every live version of ``snapshots`` that satisfies ``query`` (unsorted)."""
    conds = query.conditions(used_by_inputs, used_versions)
    combine = all if query.logical_operator == "and" else any
    out: list[Row] = []
    for snap in snapshots:
        for n in snap.live:
            row = Row(snap, snap.records[n], snap.attrs[n])
            if not conds or combine(c(row) for c in conds):
                out.append(row)
    return out
