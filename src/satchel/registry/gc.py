"""Garbage collection: expired versions, and content no live version uses.

``collect_garbage`` works in this order:

1. **List** every object and manifest with its modification time. Only those older than
   ``now - grace`` are candidates; younger ones are never touched.
2. **Expire**: every live version whose time to live has run out (``created_at + ttl``) and
   that no stored alias names is deleted (a tombstone, as :func:`delete_version` writes).
   ``latest`` is computed, not stored, so it protects nothing.
3. **Mark**: the manifests of every live version (links included) and of every pending
   collaborative part, read *after* the listing, plus every manifest that appeared or changed
   since the listing (an in-flight commit's), and every object those manifests name.
4. **Sweep**: delete unmarked candidate manifests and objects, re-reading each object's
   modification time right before deleting it.

Why this is safe for commits running at the same time. The commit protocol uploads objects,
then writes the manifest, then creates the version record (the commit point). A commit's new
objects and manifest are younger than the grace period while it runs, so they are not
candidates; once its record exists, the mark step sees it. Content a commit *reuses* (it was
already in the store, perhaps unreferenced since a version was deleted) is *freshened* by the
committer when it checks that the content exists (:meth:`Store.missing_objects` and
:meth:`Store.put_manifest` touch it when the backend supports ``touch``, as the local backend
does), which makes it young again: on local disk by setting its mtime, on a bucket by a server-side
metadata rewrite (S3 ``CopyObject`` onto itself, or a multipart self-copy in server-side parts
over 5 GiB; GCS ``rewrite`` onto itself, Azure ``Set Blob Metadata``: no bytes sent). On local
disk the sweep cannot race that touch: it renames a candidate aside before deleting it and
puts it back if its mtime moved (see :func:`_remove_if_old`); a touch that comes after the rename fails, so the committer uploads
the object again. Hard-linked objects keep an old mtime, so on local disk age is the later of
mtime and ctime (linking, touching and chmod update ctime). On GCS and Azure the sweep reads
an object's time and version (generation / ETag) in one request and deletes it only if it is
still that version (``ifGenerationMatch`` / ``If-Match``); a freshening makes a new version, so
the race is closed there too. On S3 a self-copy keeps the ETag (it is the content's MD5), so
the sweep re-reads the time right before an unconditional delete, and a delete can land just
after a commit freshened the object; the committer therefore checks its reused objects (and
its manifest) once more after its commit point and sends again whatever is gone
(:meth:`satchel.commit.Uploader.confirm`).

The documented limit: a commit must create its version record within the grace period after
uploading or freshening its content; the default grace is one hour (``--grace``; use a longer
one for very slow uploads). ``memory://`` cannot freshen: there reused content is protected
only by the mark step re-reading manifests just before the sweep; a version that ends up
naming a removed object is reported by ``satchel fsck`` and repaired by committing the files
again.

Version records and tombstones are never removed: they are tiny, and keeping them is what
guarantees a deleted version's number is never handed out again.

5. **Temporaries** (local stores): hidden temporary files a killed writer left behind
   (``.<name>.<12 hex>.tmp``, never visible as records, manifests or objects) are removed once
   they are older than the grace period. An object a killed gc had renamed aside
   (``.<name>.gc-<8 hex>``) is put back when nothing took its place, else removed: a later run
   decides about it again, so an interrupted gc never loses content.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from satchel.errors import InvalidQueryError, SatchelError
from satchel.registry.delete import delete_version
from satchel.registry.index import CollectionSnapshot
from satchel.registry.marking import Marks, mark_collection, mark_quarantine, objects_of
from satchel.registry.scan import changed_time, modified_time, walk_detailed
from satchel.store import Store
from satchel.store.backend import StoreBackend
from satchel.store.records import parse_time

DEFAULT_GRACE = _dt.timedelta(hours=1)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MANIFEST_KEY = re.compile(r"^manifests/([0-9a-f]{2})/([0-9a-f]{62})\.json\.gz$")
_TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp$")
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
        temporaries: keys of temporary files left by killed writers that were removed, and of
            objects an interrupted gc had set aside that were put back (local stores only).
        unreadable: why content was kept although unreferenced: a record or manifest gc
            could not read (see :mod:`satchel.registry.marking`); empty on a sound store.
        kept_unreadable: unreferenced manifests and objects kept because of ``unreadable``.
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
    now: float | None = None,
    on_item: Callable[[str, str, int], None] | None = None,
) -> GcReport:
    """Delete expired versions and unreferenced manifests and objects older than ``grace``.

    Args:
        store: the store.
        grace: how old unreferenced content must be before it is removed (default 1 h);
            protects commits in flight (see the module docstring for the argument).
        dry_run: report only, change nothing.
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
        InvalidQueryError: a bad ``grace`` (a ``ValueError``).
    """
    grace_td = parse_duration(grace)
    if grace_td < _dt.timedelta(0):
        raise InvalidQueryError(f"grace must not be negative, got {grace_td}")
    started = time.time() if now is None else now
    cutoff = started - grace_td.total_seconds()
    emit = on_item or (lambda _k, _n, _s: None)
    backend = store.backend

    # 1. list (before marking: anything created later is not a candidate)
    candidates_m: dict[str, int] = {}
    candidates_o: dict[str, int] = {}
    # young (or undatable) content: kept whatever it is; reported when no live version uses it
    young_m: dict[str, int] = {}
    young_o: dict[str, int] = {}
    hidden: list[str] = []  # local stores: temporaries, swept at the end (no second walk)
    for key, size, mtime in walk_detailed(backend, "manifests", hidden=hidden):
        if mtime is not None and mtime < cutoff:
            candidates_m[key] = size
        else:
            young_m[key] = size
    for key, size, mtime in walk_detailed(backend, "objects", hidden=hidden):
        if mtime is not None and mtime < cutoff:
            candidates_o[key] = size
        else:
            young_o[key] = size

    # 2. expire, and 3. mark (see satchel.registry.marking for damaged stores)
    now_dt = _dt.datetime.fromtimestamp(started, _dt.timezone.utc)
    expired: list[str] = []
    marks = Marks()
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
    referenced = set(marks.manifests)  # by live versions and pending parts, for the report
    # manifests that appeared or changed since the listing belong to commits in flight
    existing: set[str] = set()
    for key, _size, mtime in walk_detailed(backend, "manifests"):
        found = _manifest_id(key)
        if found is None:
            continue
        existing.add(found)
        if key not in candidates_m or (mtime is not None and mtime >= cutoff):
            marks.keep(found, f"manifest {key} (written since gc started)")
            candidates_m.pop(key, None)
    mark_quarantine(store, marks, existing)
    live_manifests = set(marks.manifests)
    used_objects, live_objects = objects_of(store, marks, first=referenced)

    # 4. sweep (nothing a record or manifest gc could not read might name)
    blocked = [*marks.unsure_records, *marks.unsure_manifests]
    kept_unsure = 0
    if marks.unsure_records:
        kept_unsure += sum(1 for k in candidates_m if _manifest_id(k) not in live_manifests)
        candidates_m = {}
    if marks.unsure_records or marks.unsure_manifests:
        kept_unsure += sum(1 for k in candidates_o if k not in live_objects)
        candidates_o = {}
    removed_m: list[str] = []
    removed_o: list[str] = []
    freed = 0
    for key in sorted(candidates_m):
        mid = _manifest_id(key)
        if mid is None or mid in live_manifests:
            continue
        if not dry_run and not _remove_if_old(backend, key, cutoff):
            young_m[key] = candidates_m[key]  # freshened by a commit since the listing
            continue
        removed_m.append(key)
        freed += candidates_m[key]
        emit("manifest", key, candidates_m[key])
    for key in sorted(candidates_o):
        if key in live_objects:
            continue
        if not dry_run and not _remove_if_old(backend, key, cutoff):
            young_o[key] = candidates_o[key]  # freshened by a commit (or rewritten) since
            continue
        removed_o.append(key)
        freed += candidates_o[key]
        emit("object", key, candidates_o[key])
    young = sorted(
        [k for k in young_m if _manifest_id(k) not in referenced]
        + [k for k in young_o if k not in used_objects]
    )
    for key in young:
        emit("young", key, young_m.get(key, young_o.get(key, 0)))
    temporaries, temp_bytes = _sweep_temporaries(backend, hidden, cutoff, dry_run, emit)
    freed += temp_bytes
    return GcReport(
        dry_run=dry_run,
        expired=tuple(expired),
        manifests=tuple(removed_m),
        objects=tuple(removed_o),
        bytes_freed=freed,
        kept_young=len(young),
        temporaries=tuple(temporaries),
        young=tuple(young),
        unreadable=tuple(blocked),
        kept_unreadable=kept_unsure,
    )


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
        temp, aside = _TEMPORARY.match(name), _ASIDE.match(name)
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


def _expire(
    store: Store, snap: CollectionSnapshot, now: _dt.datetime, dry_run: bool
) -> list[int]:
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


def _remove_if_old(backend: StoreBackend, key: str, cutoff: float) -> bool:
    """Delete ``key`` unless it was modified or freshened after ``cutoff``.

    On local disk the check cannot race a committer's freshening (``touch``): the file is
    first renamed aside (atomic), then its mtime compared with the one that made it a
    candidate. A touch before the rename shows as a new mtime and the file is put back; a
    touch after it fails, and the committer uploads the object again. Elsewhere the time is
    re-read right before the delete.
    """
    local = backend.local_path(key)
    delete_if_old = getattr(backend, "delete_if_old", None)
    if local is None and delete_if_old is not None:
        return bool(delete_if_old(key, cutoff))
    if local is None:
        mtime = modified_time(backend, key)
        if mtime is not None and mtime >= cutoff:
            return False
        backend.delete(key)
        return True
    try:
        before = os.stat(local)
    except FileNotFoundError:
        return False
    if max(before.st_mtime, before.st_ctime) >= cutoff:
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
