"""Leases: how a writer in flight tells ``gc`` to keep what it is writing and relying on.

A writer about to upload or freshen content (a commit, a collaborative upsert) first creates
``leases/<random id>.json`` with the store's create-if-absent write, and removes it when it is
done, after its post-commit check (:meth:`satchel.commit.Uploader.confirm`). What counts is the
lease's *modification time as the store records it*: the moment the writer started, on the
store's own clock. ``gc`` (:mod:`satchel.registry.gc`) reads the leases once after listing the
store and once after marking, and while any lease is younger than :data:`LIFETIME`

* removes no object or manifest that changed at or after the oldest lease's time: whatever
  the writer uploads or freshens stays, whatever grace period gc was given;
* treats as live every version deleted at or after that time: content a commit relies on
  without freshening it (the objects a re-added folder shares with the collection's latest
  version, those a ``new_draft()`` inherits from its base) stays while the commit runs, even
  if that version is deleted meanwhile.

Both comparisons are between times the store itself recorded, so they hold whatever the
clocks of the machines running the writer and gc say. A writer killed before it removes its
lease (SIGKILL, power loss; an exception or Ctrl-C removes it) leaves it behind: it then only
makes gc keep content younger than the lease until the lease is :data:`LIFETIME` old, when gc
removes it. A writer that runs longer than :data:`LIFETIME` is protected by gc's grace period
and its own post-commit check, as writers were before leases.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import uuid
from collections.abc import Iterator

import msgspec

from satchel.errors import SatchelError
from satchel.store import layout
from satchel.store.backend import StoreBackend
from satchel.store.records import encode, utcnow, who

#: a lease older than this is left by a writer that died; gc ignores and removes it
LIFETIME = _dt.timedelta(hours=24)


class LeaseRecord(msgspec.Struct, frozen=True, kw_only=True):
    """``leases/<id>.json``: who holds the lease (for people; gc reads only its time)."""

    what: str
    by: str
    started_at: str


@contextlib.contextmanager
def held(backend: StoreBackend, what: str) -> Iterator[str]:
    """Hold a lease while the ``with`` block runs; yields its key.

    Args:
        backend: the store's backend.
        what: what the writer does, e.g. ``"commit vision/mnist"`` (kept in the lease).

    Raises:
        StoreError: the lease cannot be written (the store is not writable, unreachable...).
    """
    key = layout.lease_key(uuid.uuid4().hex)
    backend.create_if_absent(key, encode(LeaseRecord(what=what, by=who(), started_at=utcnow())))
    try:
        yield key
    finally:
        # a lease that cannot be removed only delays gc until LIFETIME; never hide the
        # writer's own outcome behind it
        with contextlib.suppress(SatchelError, OSError):
            backend.delete(key)
