"""Live, validated lists of names: what ``artifact.aliases`` and ``artifact.tags`` return.

W&B documents ``artifact.aliases.append("best"); artifact.aliases.remove("old");
artifact.save()``: the list an attribute returns is the artifact's own, and ``save()``
persists what it holds. :class:`NameList` is that list, checking every value a mutation adds
(``append``, ``extend``, ``insert``, item and slice assignment, ``+=``) with the validator it
was made with, so a bad alias or tag raises at the mutation, before anything is saved, and
the list keeps its old content. Removing needs no check. Duplicates are kept as given; the
owner treats the list as a set when it saves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, SupportsIndex, overload


class NameList(list[str]):
    """A ``list`` of names whose additions are validated.

    Args:
        values: the initial names (not validated: they come from the store or were checked).
        validate: returns a valid name or raises (e.g. ``InvalidNameError``).
    """

    def __init__(self, values: Iterable[str], validate: Callable[[str], str]) -> None:
        """Hold ``values``; check later additions with ``validate``."""
        super().__init__(values)
        self._validate = validate

    def _checked(self, values: Iterable[Any]) -> list[str]:
        return [self._validate(v) for v in values]

    def append(self, value: str) -> None:
        """Add one name (validated)."""
        super().append(self._validate(value))

    def extend(self, values: Iterable[str]) -> None:
        """Add names (all validated before any is added)."""
        super().extend(self._checked(values))

    def insert(self, index: SupportsIndex, value: str) -> None:
        """Insert one name (validated)."""
        super().insert(index, self._validate(value))

    @overload
    def __setitem__(self, index: SupportsIndex, value: str) -> None: ...
    @overload
    def __setitem__(self, index: slice, value: Iterable[str]) -> None: ...

    def __setitem__(self, index: Any, value: Any) -> None:
        """Replace one name or a slice (validated)."""
        if isinstance(index, slice):
            super().__setitem__(index, self._checked(value))
        else:
            super().__setitem__(index, self._validate(value))

    def __iadd__(self, values: Iterable[str]) -> NameList:  # type: ignore[override,misc]  # noqa: PYI034
        """``names += [...]`` (validated)."""
        self.extend(values)
        return self

    def replace_all(self, values: Iterable[str]) -> None:
        """Make the list hold exactly ``values`` (trusted: read back from the store)."""
        super().__setitem__(slice(None), list(values))
