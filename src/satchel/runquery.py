"""The MongoDB-style run filters of ``Api.runs(path, filters=...)`` (the part W&B documents
that applies to satchel's run records).

A filter is a dict of ``field: condition``, all of which must hold. A field is ``name`` (the
run id, as in W&B), ``display_name``/``displayName``, ``job_type``/``jobType``, ``group``,
``state`` (``running``/``finished``), ``tags``, ``created_at``/``createdAt`` or
``config.<key>`` (W&B's ``config.<key>.value`` too). A condition is a value (equality; for
``tags``, membership) or a dict of operators: ``$eq``, ``$ne``, ``$in``, ``$nin``,
``$exists``, ``$regex``, ``$gt``, ``$gte``, ``$lt``, ``$lte``. ``$and``, ``$or`` and ``$nor``
combine lists of filters. Anything else raises :class:`~satchel.errors.InvalidQueryError`
(W&B's ``summary_metrics`` and system fields do not exist here).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from satchel.errors import InvalidQueryError

if TYPE_CHECKING:
    from satchel.runs import Run

_MISSING = object()

_FIELDS: dict[str, Callable[[Run], Any]] = {
    "name": lambda r: r.id,
    "id": lambda r: r.id,
    "display_name": lambda r: r.name,
    "displayName": lambda r: r.name,
    "job_type": lambda r: r.job_type,
    "jobType": lambda r: r.job_type,
    "group": lambda r: r.group,
    "state": lambda r: r.state.value,
    "tags": lambda r: r.tags,
    "created_at": lambda r: r.started_at,
    "createdAt": lambda r: r.started_at,
}


def _value(run: Run, field: str) -> Any:
    if field.startswith("config."):
        key = field[len("config.") :]
        key = key.removesuffix(".value")
        return run.config.get(key, _MISSING)
    getter = _FIELDS.get(field)
    if getter is None:
        raise InvalidQueryError(
            f"run filter field {field!r} is not supported; use name, display_name, job_type, "
            "group, state, tags, created_at or config.<key>"
        )
    return getter(run)


def _compare(op: str, have: Any, want: Any) -> bool:
    try:
        if op == "$gt":
            return bool(have > want)
        if op == "$gte":
            return bool(have >= want)
        if op == "$lt":
            return bool(have < want)
        return bool(have <= want)
    except TypeError:  # None or another type: not comparable, so no match
        return False


def _holds(have: Any, cond: Any, *, is_list: bool) -> bool:
    if not isinstance(cond, Mapping):
        if is_list:
            return cond in have
        return have is not _MISSING and have == cond
    for op, want in cond.items():
        if op == "$eq":
            ok = _holds(have, want, is_list=is_list)
        elif op == "$ne":
            ok = not _holds(have, want, is_list=is_list)
        elif op in ("$in", "$nin"):
            if not isinstance(want, (list, tuple, set)):
                raise InvalidQueryError(f"{op} needs a list, got {want!r}")
            hit = any(w in have for w in want) if is_list else have in want
            ok = hit if op == "$in" else not hit
        elif op == "$exists":
            ok = (have is not _MISSING and have is not None) == bool(want)
        elif op == "$regex":
            ok = isinstance(have, str) and re.search(str(want), have) is not None
        elif op in ("$gt", "$gte", "$lt", "$lte"):
            ok = have is not _MISSING and _compare(op, have, want)
        else:
            raise InvalidQueryError(
                f"run filter operator {op!r} is not supported; use $eq, $ne, $in, $nin, "
                "$exists, $regex, $gt, $gte, $lt, $lte"
            )
        if not ok:
            return False
    return True


def matches(run: Run, filters: Mapping[str, Any]) -> bool:
    """Whether ``run`` satisfies ``filters``.

    Raises:
        InvalidQueryError: an unknown field or operator, or a malformed filter.
    """
    if not isinstance(filters, Mapping):
        raise InvalidQueryError(f"run filters must be a dict, got {type(filters).__name__}")
    for key, cond in filters.items():
        if key in ("$and", "$or", "$nor"):
            if not isinstance(cond, (list, tuple)):
                raise InvalidQueryError(f"{key} needs a list of filters, got {cond!r}")
            results = [matches(run, f) for f in cond]
            ok = all(results) if key == "$and" else any(results)
            if key == "$nor":
                ok = not any(results)
        else:
            ok = _holds(_value(run, key), cond, is_list=key == "tags")
        if not ok:
            return False
    return True


def order_key(order: str) -> tuple[Callable[[Run], Any], bool]:
    """``(sort key, descending)`` of W&B's ``order`` for runs.

    Raises:
        InvalidQueryError: an unsupported order.
    """
    field = order.lstrip("+-")
    if field in ("created_at", "createdAt"):
        return (lambda r: (r.started_at, r.id)), order.startswith("-")
    if field in ("name", "display_name", "displayName"):
        return (lambda r: (r.name, r.id)), order.startswith("-")
    raise InvalidQueryError(
        f"run order {order!r} is not supported; use created_at or name, with '+' or '-'"
    )
