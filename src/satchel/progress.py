"""Progress reporting through callbacks; tqdm only at the edge.

Core code receives a :class:`ProgressFactory` and calls ``bar = factory(total, desc, unit)``,
``bar.update(n)``, ``bar.close()``. The default factory does nothing; :func:`default_factory`
returns a tqdm-backed one when bars should be shown (on a terminal, unless
``SATCHEL_NO_PROGRESS=1``).
"""

from __future__ import annotations

from typing import Any, Protocol


class Bar(Protocol):
    """One progress bar."""

    def update(self, n: int = 1) -> None:
        """Advance by ``n``."""
        ...

    def note(self, message: str) -> None:
        """Show a message next to the bar (e.g. an unverifiable download)."""
        ...

    def close(self) -> None:
        """Finish the bar."""
        ...


class ProgressFactory(Protocol):
    """Creates bars."""

    def __call__(self, total: int | None, desc: str, unit: str = "file") -> Bar:
        """A new bar."""
        ...


class NullBar:
    """A bar that shows nothing."""

    def update(self, n: int = 1) -> None:
        return None

    def note(self, message: str) -> None:
        return None

    def close(self) -> None:
        return None


def null_factory(total: int | None, desc: str, unit: str = "file") -> Bar:
    """A :class:`ProgressFactory` that shows nothing."""
    return NullBar()


class TqdmBar:
    """A tqdm bar on stderr."""

    def __init__(self, total: int | None, desc: str, unit: str) -> None:
        """Open the bar."""
        from tqdm import tqdm  # type: ignore[import-untyped]

        self._bar: Any = tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True)

    def update(self, n: int = 1) -> None:
        self._bar.update(n)

    def note(self, message: str) -> None:
        self._bar.write(message)

    def close(self) -> None:
        self._bar.close()


def tqdm_factory(total: int | None, desc: str, unit: str = "file") -> Bar:
    """A :class:`ProgressFactory` drawing tqdm bars."""
    return TqdmBar(total, desc, unit)


def default_factory() -> ProgressFactory:
    """tqdm bars when :func:`satchel.settings.show_progress` says so, else nothing."""
    from satchel import settings

    return tqdm_factory if settings.show_progress() else null_factory
