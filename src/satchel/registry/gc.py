"""Garbage collection: expired versions, and content no live version uses.

``collect_garbage`` works in this order:

1. **List** every object and manifest with its modification time. Only those older than
   ``now - grace`` are candidates; younger ones are never touched.
2. **Leases**: read the leases of writers in flight (:mod:`satchel.store.leases`). Nothing
   that changed at or after the oldest lease's time is a candidate either.
3. **Expire**: every live version whose time to live has run out (``created_at + ttl``) and
   that no stored alias names is deleted (a tombstone, as :func:`delete_version` writes).
   ``latest`` is computed, not stored, so it protects nothing.
4. **Mark**: the manifests of every live version (links included) and of every pending
   collaborative part, read *after* the listing, plus every manifest that appeared or changed
   since the listing (an in-flight commit's), and every object those manifests name. The
   leases are read again after the mark; while any is held, versions deleted at or after the
   oldest lease's time (by the expire step too) count as live.
5. **Sweep**: delete unmarked candidate manifests and objects, re-reading each one's
   modification time right before deleting it; one whose time moved since the listing, or
   is no longer old enough, stays.

Why this is safe for commits running at the same time. The commit protocol takes a lease,
uploads objects, writes the manifest, creates the version record (the commit point), checks
that everything the version names is there and releases the lease. Content a commit *reuses*
(already in the store, perhaps unreferenced since a version was deleted) is *freshened* by
the committer when it checks that the content exists (:meth:`Store.missing_objects` and
:meth:`Store.put_manifest` touch it when the backend supports ``touch``), which makes it
young again: on local disk by setting its mtime, on a bucket by a server-side metadata rewrite
(S3 ``CopyObject`` onto itself, or a multipart self-copy in server-side parts over 5 GiB; GCS
``rewrite`` onto itself, Azure ``Set Blob Metadata``; ``memory://`` writes the bytes again: no
bytes are sent). So everything a commit writes or reuses changed after its lease was created.

* A gc that reads the lease (step 2) keeps all of it, whatever its grace period. A gc that
  read the leases before the commit took its lease listed the store even earlier: the
  commit's uploads are not in its listing, and what the commit freshens moved since the
  listing, which the sweep notices. A gc that reads the leases after the lease is gone
  marks after the commit point, so it sees the version.
* Content the commit relies on without freshening it (objects the collection's latest version
  already holds, a ``new_draft()``'s inherited entries) is protected by that version being
  live. If it is deleted during the commit, a gc that sees the lease after its mark (step 4)
  counts it as live; one that does not mark it runs its sweep after the committer's
  post-commit check, which freshened that content when it found the version deleted.
* The sweep cannot race a freshening where deletes can be conditional. On local disk it
  renames a candidate aside before deleting it and puts it back if its mtime moved (see
  :func:`_remove_if_old`); a touch that comes after the rename fails, so the committer uploads
  the object again. Hard-linked objects keep an old mtime, so on local disk age is the later
  of mtime and ctime (linking, touching and chmod update ctime). On GCS and Azure the sweep
  reads an object's time and version (generation / ETag) in one request and deletes it only
  if it is still that version (``ifGenerationMatch`` / ``If-Match``); a freshening makes a new
  version. ``memory://`` looks and deletes under its process-wide lock.
* **S3 residual race.** A self-copy keeps the ETag (it is the content's MD5) and S3 has no
  conditional delete on anything a freshening changes, so the sweep re-reads the time and
  then deletes unconditionally: a delete can land just after a commit freshened the object.
  The committer's post-commit check (:meth:`satchel.commit.Uploader.confirm`) sends again
  whatever is gone by then; content is lost only if the gc's delete reaches S3 *after* that
  check, that is if gc stalls between its look at an object and its delete for longer than
  the commit takes from its existence check to its post-commit check.

**Minimum grace.** Leases make gc safe for commits whatever its grace; the grace period is the
second line of defence, for writers that hold no lease (a satchel from before leases, a commit
running longer than :data:`~satchel.store.leases.LIFETIME`) and to keep the S3 residual race
to content that was unreferenced for that long. Without a lease a commit is safe only while
everything it uploads or freshens reaches its commit point and post-commit check within the
grace period. That time is the commit's upload phase: measured here ~45 s for 10,000 small files
to an S3 or Azure emulator (``benchmarks/bench_store.py``); at ~200 files/s a million-file
commit takes ~80 minutes, 100 GB at 100 MB/s ~17 minutes. :data:`MIN_GRACE` is one hour, and
gc refuses a shorter grace unless ``force=True`` (``--force``); the default grace
(:data:`DEFAULT_GRACE`) is that minimum. A dry run accepts any grace: it removes nothing.

Version records and tombstones are never removed: they are tiny, and keeping them is what
guarantees a deleted version's number is never handed out again.

6. **Leftovers**: leases older than :data:`~satchel.store.leases.LIFETIME` (a writer died
   holding them) are removed. On local stores, hidden temporary files a killed writer left
   behind (``.<name>.<12 hex>.tmp``, never visible as records, manifests or objects) are
   removed once they are older than the grace period (and than the oldest lease). An object
   a killed gc had renamed aside (``.<name>.gc-<8 hex>``) is put back when nothing took its
   place, else removed: a later run decides about it again, so an interrupted gc never loses
   content.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from satchel.errors import (
    GraceTooShortError,
    InvalidQueryError,
    ManifestError,
    SatchelError,
)
from satchel.registry.delete import delete_version
from satchel.registry.index import CollectionSnapshot
from satchel.registry.marking import Marks, mark_collection, mark_quarantine, objects_of
from satchel.registry.scan import changed_time, modified_time, walk_detailed
from satchel.store import Store, layout, leases
from satchel.store.backend import StoreBackend
from satchel.store.local import TEMPORARY_NAME
from satchel.store.records import parse_time
from satchel.store.remote import moved

#: the shortest grace period gc accepts without ``force=True`` (see the module docstring)
MIN_GRACE = _dt.timedelta(hours=1)
#: the grace period when none is given
DEFAULT_GRACE = MIN_GRACE
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MANIFEST_KEY = re.compile(r"^manifests/([0-9a-f]{2})/([0-9a-f]{62})\.json\.gz$")
_ASIDE = re.compile(r"^\.(.+)\.gc-[0-9a-f]{8}$")


def parse_duration(text: str | float | _dt.timedelta) -> _dt.timedelta:
    """Parse ``"1h"``, ``"30m"``, ``"2d"``, ``"1h30m"``, ``"45s"``, ``"0"`` or seconds.

    Raises:
        InvalidQueryError: anything else (a ``ValueError``).
    """
    if isinstance(text, _dt.timedelta):
        return text
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text < 0:
            raise InvalidQueryError(f"duration must not be negative, got {text}")
        return _dt.timedelta(seconds=float(text))
    raw = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        return _dt.timedelta(seconds=float(raw))
    pos, total = 0, 0.0
    for m in _DURATION.finditer(raw):
        if raw[pos : m.start()].strip():
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos == 0 or raw[pos:].strip():
        raise InvalidQueryError(
            f"duration {text!r} is not understood; use a number with s, m, h, d or w, "
            "such as 30m, 1h or 2d"
        )
    return _dt.timedelta(seconds=total)


@dataclass(frozen=True)
class GcReport:
    """What a gc run removed (or, with ``dry_run``, would remove).

    Attributes:
        dry_run: nothing was changed.
        expired: ``project/name:vN`` of versions deleted because their TTL ran out.
        manifests: keys of manifests removed.
        objects: keys of content objects removed.
        bytes_freed: total size of the removed manifests and objects.
        kept_young: how many unreferenced objects and manifests were kept because they are
            younger than the grace period (or undatable): ``len(young)``. Content a live
            version uses is never counted, however young.
        young: their keys, sorted (what a ``dry_run`` shows as "kept: younger than grace",
            apart from what would really be removed).
        temporaries: keys of leftovers of killed writers that were removed: leases older than
            :data:`~satchel.store.leases.LIFETIME`, temporary files, and objects an
            interrupted gc had set aside that were put back (the last two on local stores).
        unreadable: why content was kept although unreferenced: a record or manifest gc
            could not read (see :mod:`satchel.registry.marking`); empty on a sound store.
        kept_unreadable: unreferenced manifests and objects kept because of ``unreadable``.
        in_flight: leases of writers in flight that this run honoured (content younger than
            the oldest was kept, versions deleted since then counted as live).
    """

    dry_run: bool
    expired: tuple[str, ...] = ()
    manifests: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()
    bytes_freed: int = 0
    kept_young: int = 0
    temporaries: tuple[str, ...] = ()
    young: tuple[str, ...] = ()
    unreadable: tuple[str, ...] = ()
    kept_unreadable: int = 0
    in_flight: int = 0
    protected: tuple[str, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, object]:
        """JSON-able form."""
        return {
            "dry_run": self.dry_run,
            "expired": list(self.expired),
            "manifests": list(self.manifests),
            "objects": list(self.objects),
            "bytes_freed": self.bytes_freed,
            "kept_young": self.kept_young,
            "young": list(self.young),
            "temporaries": list(self.temporaries),
            "unreadable": list(self.unreadable),
            "kept_unreadable": self.kept_unreadable,
            "in_flight": self.in_flight,
        }


def expires_at(created_at: str, ttl_seconds: float | None) -> _dt.datetime | None:
    """When a version with this TTL expires (``None``: never)."""
    if ttl_seconds is None:
        return None
    return parse_time(created_at) + _dt.timedelta(seconds=ttl_seconds)


def collect_garbage(
    store: Store,
    *,
    grace: _dt.timedelta | str | float = DEFAULT_GRACE,
    dry_run: bool = False,
    force: bool = False,
    now: float | None = None,
    on_item: Callable[[str, str, int], None] | None = None,
) -> GcReport:
    """Delete expired versions and unreferenced manifests and objects older than ``grace``.

    Args:
        store: the store.
        grace: how old unreferenced content must be before it is removed (default and minimum
            1 h, :data:`MIN_GRACE`); protects writers that hold no lease (see the module
            docstring for the argument).
        dry_run: report only, change nothing (any grace is accepted).
        force: accept a grace shorter than :data:`MIN_GRACE`.
        now: the current time (seconds since the epoch), for tests.
        on_item: called as ``(kind, name, size)`` for each removal (``kind`` is ``expired``,
            ``manifest``, ``object`` or ``temporary``), as it happens, and, with ``kind``
            ``young``, for each unreferenced item kept as younger than ``grace``.

    Returns:
        What was (or would be) removed.

    A damaged store does not stop gc: a record or manifest it cannot read is named in
    :attr:`GcReport.unreadable`, and gc then keeps every manifest and object that file might
    name (:mod:`satchel.registry.marking`) and goes on with the rest.

    Raises:
        GraceTooShortError: ``grace`` is below :data:`MIN_GRACE` and neither ``force`` nor
            ``dry_run`` is given (an ``InvalidQueryError``).
        InvalidQueryError: a bad ``grace`` (a ``ValueError``).
    """
    grace_td = parse_duration(grace)
    if grace_td < _dt.timedelta(0):
        raise InvalidQueryError(f"grace must not be negative, got {grace_td}")
    if grace_td < MIN_GRACE and not (force or dry_run):
        raise GraceTooShortError(
            f"gc grace {format_duration(grace_td)} is shorter than the safe minimum of "
            f"{format_duration(MIN_GRACE)}: a commit by a satchel without leases, or one "
            "running longer than a lease lasts, could lose content it uploaded. Use a grace of "
            f"at least {format_duration(MIN_GRACE)}, or --force (force=True in Python) to "
            "remove content that young anyway"
        )
    started = time.time() if now is None else now
    # never within the current second: S3 and Azure date objects to the second, rounding down,
    # so under a grace shorter than that an object written just now could pass for older
    cutoff = min(started - grace_td.total_seconds(), float(math.floor(started)))
    emit = on_item or (lambda _k, _n, _s: None)
    backend = store.backend

    # 1. list (before marking: anything created later is not a candidate)
    listed_m: dict[str, tuple[int, float | None]] = {}
    listed_o: dict[str, tuple[int, float | None]] = {}
    hidden: list[str] = []  # local stores: temporaries, swept at the end (no second walk)
    for key, size, mtime in walk_detailed(backend, "manifests", hidden=hidden):
        listed_m[key] = (size, mtime)
    for key, size, mtime in walk_detailed(backend, "objects", hidden=hidden):
        if layout.is_content_key(key):  # a file satchel did not write is not gc's (fsck names it)
            listed_o[key] = (size, mtime)

    # 2. leases of writers in flight (after the listing, before the mark)
    active, stale = _leases(backend, started)

    # 3. expire, and 4. mark (see satchel.registry.marking for damaged stores)
    now_dt = _dt.datetime.fromtimestamp(started, _dt.timezone.utc)
    expired: list[str] = []
    marks = Marks()
    snaps: list[tuple[CollectionSnapshot, list[int]]] = []
    for project in store.projects():
        for name in store.collections(project):
            snap, by_version = mark_collection(store, project, name, marks)
            # nothing expires where a record is damaged: a damaged alias could protect a
            # version, damaged attributes could have changed its time to live
            sound = snap is not None and not snap.damage
            gone = _expire(store, snap, now_dt, dry_run) if snap is not None and sound else []
            for n in gone:
                ref = f"{project}/{name}:v{n}"
                expired.append(ref)
                emit("expired", ref, 0)
            for n, manifest_id in by_version.items():
                if n not in gone:
                    marks.keep(manifest_id, f"{project}/{name}:v{n}")
            if snap is not None:
                snaps.append((snap, gone))
    referenced = set(marks.manifests)  # by live versions and pending parts, for the report
    # the leases again (after the mark): while one is held, versions deleted since it was
    # taken may still be relied on by its commit
    later, stale_later = _leases(backend, started)
    active.update(later)
    stale = sorted(set(stale) | set(stale_later))
    protect_from = min(active.values()) if active else None
    relied: set[str] = set()  # manifests of versions deleted while a lease was held
    if protect_from is not None:
        cutoff = min(cutoff, protect_from)
        for snap, gone in snaps:
            relied |= _recently_deleted(backend, snap, gone, protect_from)
        relied -= referenced
    # young manifests, and those that appeared or changed since the listing, belong to
    # commits in flight: what they name stays
    existing: set[str] = set()
    for key, _size, mtime in walk_detailed(backend, "manifests"):
        mid = _manifest_id(key)
        if mid is None:
            continue
        existing.add(mid)
        seen = listed_m.get(key)
        if seen is None or mtime is None or mtime >= cutoff or mtime != seen[1]:
            marks.keep(mid, f"manifest {key} (written since gc started)")
    mark_quarantine(store, marks, existing)
    live_manifests = set(marks.manifests)
    used_objects, live_objects = objects_of(store, marks, first=referenced)
    for mid in sorted(relied - live_manifests):
        try:  # a deleted version's manifest may be gone already: nothing to keep then
            manifest = store.get_manifest(mid)
        except ManifestError:
            continue
        live_manifests.add(mid)
        live_objects |= {layout.object_key(e.alg, e.oid) for e in manifest if not e.is_reference}

    # 5. sweep (nothing a record or manifest gc could not read might name)
    blocked = [*marks.unsure_records, *marks.unsure_manifests]
    sweep_manifests = not marks.unsure_records
    sweep_objects = not (marks.unsure_records or marks.unsure_manifests)
    kept_unsure = 0
    # unreferenced content kept as younger than the grace (or freshened since the listing),
    # reported apart from what goes; content a live version uses is never reported
    young: list[tuple[str, int]] = []
    removed_m: list[str] = []
    removed_o: list[str] = []
    freed = 0
    for key, (size, mtime) in sorted(listed_m.items()):
        mid = _manifest_id(key)
        if mid is None:
            continue
        if mtime is None or mtime >= cutoff:
            if mid not in referenced:
                young.append((key, size))
            continue
        if mid in live_manifests:
            continue
        if not sweep_manifests:
            kept_unsure += 1
            continue
        if not dry_run and not _remove_if_old(backend, key, cutoff, mtime):
            young.append((key, size))  # freshened by a commit since the listing
            continue
        removed_m.append(key)
        freed += size
        emit("manifest", key, size)
    for key, (size, mtime) in sorted(listed_o.items()):
        if mtime is None or mtime >= cutoff:
            if key not in used_objects:
                young.append((key, size))
            continue
        if key in live_objects:
            continue
        if not sweep_objects:
            kept_unsure += 1
            continue
        if not dry_run and not _remove_if_old(backend, key, cutoff, mtime):
            young.append((key, size))  # freshened by a commit (or rewritten) since the listing
            continue
        removed_o.append(key)
        freed += size
        emit("object", key, size)
    young.sort()
    for key, size in young:
        emit("young", key, size)

    # 6. leftovers of killed writers
    temporaries, temp_bytes = _sweep_temporaries(backend, hidden, cutoff, dry_run, emit)
    for key in stale:
        if not dry_run:
            backend.delete(key)
        temporaries.append(key)
        emit("temporary", key, 0)
    freed += temp_bytes
    return GcReport(
        dry_run=dry_run,
        expired=tuple(expired),
        manifests=tuple(removed_m),
        objects=tuple(removed_o),
        bytes_freed=freed,
        kept_young=len(young),
        temporaries=tuple(temporaries),
        young=tuple(k for k, _s in young),
        unreadable=tuple(blocked),
        kept_unreadable=kept_unsure,
        in_flight=len(active),
    )


def format_duration(value: _dt.timedelta) -> str:
    """``1h``, ``30m``, ``1h30m``, ``45s``, ``0.5s`` or ``0s``: the inverse of
    :func:`parse_duration`, for messages."""
    seconds = value.total_seconds()
    parts = []
    for unit in ("w", "d", "h", "m"):
        size = _UNITS[unit]
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            parts.append(f"{int(count)}{unit}")
    if seconds or not parts:
        parts.append(f"{seconds:g}s")
    return "".join(parts)


def _leases(backend: StoreBackend, started: float) -> tuple[dict[str, float], list[str]]:
    """``({lease key: store time}, [stale lease keys])``: leases younger than
    :data:`~satchel.store.leases.LIFETIME` count, older ones were left by writers that died."""
    active: dict[str, float] = {}
    stale: list[str] = []
    oldest = started - leases.LIFETIME.total_seconds()
    for key, _size, mtime in walk_detailed(backend, layout.leases_folder()):
        if not key.endswith(".json") or mtime is None:
            continue
        if mtime < oldest:
            stale.append(key)
        else:
            active[key] = mtime
    return active, stale


def _recently_deleted(
    backend: StoreBackend, snap: CollectionSnapshot, gone: list[int], since: float
) -> set[str]:
    """Manifests of the versions of ``snap`` deleted at or after ``since`` (store time), and of
    those this run expired: a commit holding a lease taken before may rely on them."""
    out = {snap.records[n].manifest for n in gone if n in snap.records}
    if not snap.deleted:
        return out
    folder = layout.versions_folder(snap.project, snap.name)
    for key, _size, mtime in walk_detailed(backend, folder):
        stem, _dot, ext = key.rpartition("/")[2].partition(".")
        if ext != "deleted" or not stem.isdigit() or int(stem) not in snap.records:
            continue
        if mtime is None or mtime >= since:
            out.add(snap.records[int(stem)].manifest)
    return out


def _sweep_temporaries(
    backend: StoreBackend,
    seen: list[str],
    cutoff: float,
    dry_run: bool,
    emit: Callable[[str, str, int], None],
) -> tuple[list[str], int]:
    """Remove temporaries older than ``cutoff`` from a local store; restore set-aside objects.

    ``seen`` holds the hidden files the listing of ``objects/`` and ``manifests/`` met; the
    rest of the store (records, aliases: small) is walked here. Age is the later of mtime and
    ctime (a rename updates ctime), so a writer or a gc that is still running is never
    disturbed.
    """
    root = backend.local_path("")
    if root is None:
        return [], 0
    root = root.rstrip(os.sep)
    paths = list(seen)
    for dirpath, dirs, files in os.walk(root):
        if dirpath == root:
            dirs[:] = [d for d in dirs if d not in ("objects", "manifests")]
        paths += [os.path.join(dirpath, n) for n in files if n.startswith(".")]
    done: list[str] = []
    freed = 0
    for path in paths:
        dirpath, name = os.path.split(path)
        temp, aside = TEMPORARY_NAME.match(name), _ASIDE.match(name)
        if not (temp or aside):
            continue
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if changed_time(st) >= cutoff:
            continue
        key = os.path.relpath(path, root).replace(os.sep, "/")
        if aside:
            original = os.path.join(dirpath, aside.group(1))
            if not dry_run:
                with contextlib.suppress(FileExistsError):
                    os.link(path, original)  # put back; the next gc decides again
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            done.append(key)
            emit("temporary", key, 0)
            continue
        if not dry_run:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        done.append(key)
        freed += st.st_size
        emit("temporary", key, st.st_size)
    return done, freed


def _expire(store: Store, snap: CollectionSnapshot, now: _dt.datetime, dry_run: bool) -> list[int]:
    out = []
    for n in snap.live:
        attrs = snap.attrs[n]
        record = snap.records[n]
        when = expires_at(record.created_at, attrs.ttl_seconds)
        if when is None or when > now or snap.aliases_of(n):
            continue
        if not dry_run:
            try:
                delete_version(store, record, reason="ttl expired")
            except SatchelError:  # deleted or aliased meanwhile: leave it to the next run
                continue
        out.append(n)
    return out


def _remove_if_old(backend: StoreBackend, key: str, cutoff: float, listed: float) -> bool:
    """Delete ``key`` unless it was modified or freshened after ``cutoff``, or since the
    listing that dated it at ``listed``.

    On local disk the check cannot race a committer's freshening (``touch``): the file is
    first renamed aside (atomic), then its mtime compared with the one that made it a
    candidate. A touch before the rename shows as a new mtime and the file is put back; a
    touch after it fails, and the committer uploads the object again. Elsewhere the time is
    re-read right before the delete (conditionally on the version looked at, where the
    backend can: GCS, Azure, ``memory://``).
    """
    local = backend.local_path(key)
    if local is None and backend.capabilities.conditional_delete:
        return backend.delete_if_old(key, cutoff, listed=listed)
    if local is None:
        mtime = modified_time(backend, key)
        if mtime is not None and (mtime >= cutoff or moved(mtime, listed)):
            return False
        backend.delete(key)
        return True
    try:
        before = os.stat(local)
    except FileNotFoundError:
        return False
    if changed_time(before) >= cutoff or moved(changed_time(before), listed):
        return False
    folder, name = os.path.split(local)
    aside = os.path.join(folder, f".{name}.gc-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(local, aside)
    except FileNotFoundError:
        return False
    if os.stat(aside).st_mtime_ns != before.st_mtime_ns:  # freshened just before the rename
        with contextlib.suppress(FileExistsError):  # or already uploaded again
            os.link(aside, local)
        os.unlink(aside)
        return False
    os.unlink(aside)
    return True


def _manifest_id(key: str) -> str | None:
    m = _MANIFEST_KEY.match(key)
    return m.group(1) + m.group(2) if m else None
