"""Reporting what a listing or look-up skipped in a damaged store, and going on.

A store can hold files satchel did not write the way it writes them: a record copied to
``versions/01.json``, a truncated ``versions/3.json``, an edited alias. Reading such a record by
name raises :class:`~satchel.errors.DamagedRecordError`; everything that only *lists* (``ls``,
``latest``, the next version number of a commit) skips it, and says so once with a
:class:`~satchel.errors.StoreDamageWarning`, so one bad file never takes down more than what
it names. ``satchel fsck`` reports each of them and ``satchel fsck --repair`` sets them aside.
"""

from __future__ import annotations

import warnings

from satchel.errors import StoreDamageWarning


def warn_skipped(key: str, reason: str) -> None:
    """Warn that ``key`` was skipped because of ``reason`` (shown once per message)."""
    warn_damage(
        f"skipped {key}: {reason}; run 'satchel fsck' ('satchel fsck --repair' moves it to "
        "quarantine)"
    )


def warn_damage(message: str) -> None:
    """Issue ``message`` as a :class:`~satchel.errors.StoreDamageWarning`."""
    warnings.warn(StoreDamageWarning(message), stacklevel=4)
