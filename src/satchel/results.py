"""The complete, paged result lists W&B-style calls return (``api.artifacts()``, ``files()``...).

W&B's paginators fetch pages lazily from its server and iterate over *every* result; code
written for them loops, indexes, slices, takes ``len()`` and, to resume later, reads
``.cursor`` and passes it back as ``start=``. :class:`Results` does all of that over a list
satchel has already read: iteration yields every item, and ``cursor`` is the position after the
last whole page iteration has reached, as a string ``start=`` accepts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar, overload

from satchel.errors import InvalidQueryError

T = TypeVar("T")


def check_per_page(per_page: int) -> int:
    """``per_page`` if it is a positive ``int``.

    Raises:
        InvalidQueryError: not a positive int.
    """
    if isinstance(per_page, bool) or not isinstance(per_page, int) or per_page < 1:
        raise InvalidQueryError(f"per_page must be a positive int, got {per_page!r}")
    return per_page


def start_index(start: str | None) -> int:
    """The item index a ``start=`` cursor names (``None``: the first).

    Raises:
        InvalidQueryError: not a cursor that :attr:`Results.cursor` made.
    """
    if start is None:
        return 0
    if not isinstance(start, str) or not start.isdigit():
        raise InvalidQueryError(
            f"start={start!r} is not a cursor; pass the .cursor of an earlier result"
        )
    return int(start)


class Results(Sequence[T], Generic[T]):
    """Every result of a query, with W&B's paging attributes.

    Args:
        items: the results (already skipped to ``start``).
        per_page: page size, for ``cursor`` and ``more``.
        offset: the index of ``items[0]`` among all results (``start``).
    """

    def __init__(self, items: Sequence[T], *, per_page: int = 50, offset: int = 0) -> None:
        """Hold ``items``."""
        self._items = tuple(items)
        self.per_page = check_per_page(per_page)
        self._offset = offset
        self._reached = 0  # items iteration has handed out

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        """One result, or a list of them for a slice."""
        if isinstance(index, slice):
            return list(self._items[index])
        return self._items[index]

    def __len__(self) -> int:
        """How many results there are (from ``start``)."""
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        """Every result, in order; :attr:`cursor` follows the pages reached."""
        for i, item in enumerate(self._items):
            self._reached = max(self._reached, i + 1)
            yield item

    @property
    def length(self) -> int:
        """W&B's ``length``: the number of results."""
        return len(self._items)

    @property
    def cursor(self) -> str | None:
        """Where to resume (pass as ``start=``) after the pages iteration has reached, or
        ``None`` before any."""
        if self._reached == 0:
            return None
        pages = -(-self._reached // self.per_page)
        return str(self._offset + min(len(self._items), pages * self.per_page))

    @property
    def more(self) -> bool:
        """Whether results remain after the pages iteration has reached."""
        pages = -(-self._reached // self.per_page)
        return pages * self.per_page < len(self._items)

    def __repr__(self) -> str:
        return f"<Results of {len(self._items)}>"
