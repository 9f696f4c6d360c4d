"""Repair a damaged store without guessing and without deleting anything.

:func:`repair_store` runs :func:`satchel.fsck.check_store`, then fixes what can be fixed from
facts alone:

==========================  ==============================================================
problem                     repair
==========================  ==============================================================
``bad-record``,             the file is *moved* to ``quarantine/<UTC time>-<6 hex>/<key>``
``stray-file``,             (copied there, read back, then removed from its place), so
``duplicate-record``        listings are clean and new versions can be committed; a version
                            record's number is first taken by a tombstone (``<n>.deleted``,
                            its reason naming the quarantine), so it is never handed out
                            again
``missing-collection``      ``collection.json`` is written again from the lowest version
                            record (its type and time); so is a malformed one, once it is
                            in quarantine
``missing-object``          the object is put back from a copy that hashes to its name: the
                            local cache first, then the files below the folders given as
                            ``sources`` (``satchel fsck --repair --from DIR``); only files of
                            the right size are hashed
``size-mismatch``,          the same, after the corrupt object was moved to quarantine
``digest-mismatch``
==========================  ==============================================================

Everything else (a lost manifest, a dangling alias, a name starting with ``.``) needs a
person's decision and is left as it is; the report's fresh check lists it, with advice
(:data:`satchel.fsck.ADVICE`). Records in quarantine are never read as records again, but gc
keeps the manifests they name (:mod:`satchel.registry.marking`), so putting one back by hand
finds its content. Run a repair while nobody else writes to the store: moving an alias or
attributes record that a concurrent edit has just fixed would set the fixed one aside.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from satchel.cache import Cache
from satchel.errors import (
    DamagedRecordError,
    DigestMismatchError,
    SourceFileNotFoundError,
    StoreError,
)
from satchel.fsck import FsckReport, Problem, check_store
from satchel.hashing import ALGORITHMS, hash_file, hex_to_b64
from satchel.progress import ProgressFactory, null_factory
from satchel.registry.delete import Tombstone
from satchel.store import Store, layout
from satchel.store.records import CollectionRecord, encode, utcnow, who

QUARANTINED_KINDS = frozenset({"bad-record", "stray-file", "duplicate-record"})
RESTORED_KINDS = frozenset({"missing-object", "size-mismatch", "digest-mismatch"})


@dataclass(frozen=True)
class RepairReport:
    """What :func:`repair_store` did (or, with ``dry_run``, would do).

    Attributes:
        dry_run: nothing was changed.
        before: the check the repair started from.
        after: a fresh check once the repair was done (``before`` when ``dry_run``).
        quarantine: the folder key files were moved to, ``None`` when none was.
        moved: store keys moved into the quarantine.
        restored: ``(object key, where the good copy came from)`` of objects put back.
        rewritten: collection records written again.
        not_found: object keys for which no copy with the right content was found.
    """

    dry_run: bool
    before: FsckReport
    after: FsckReport
    quarantine: str | None = None
    moved: tuple[str, ...] = ()
    restored: tuple[tuple[str, str], ...] = ()
    rewritten: tuple[str, ...] = ()
    not_found: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when the store has no problems left."""
        return self.after.ok

    def to_json(self) -> dict[str, object]:
        """The report as JSON-able data."""
        return {
            "dry_run": self.dry_run,
            "quarantine": self.quarantine,
            "moved": list(self.moved),
            "restored": [{"key": k, "from": src} for k, src in self.restored],
            "rewritten": list(self.rewritten),
            "not_found": list(self.not_found),
            "after": self.after.to_json(),
        }


def repair_store(
    store: Store,
    *,
    cache: Cache,
    sources: Sequence[str | os.PathLike[str]] = (),
    deep: bool = False,
    dry_run: bool = False,
    progress: ProgressFactory = null_factory,
    on_item: Callable[[str, str], None] | None = None,
) -> RepairReport:
    """Check ``store`` and repair what can be repaired (see the module docstring).

    Args:
        store: the store (it must be writable).
        cache: the local cache: a source of good copies, and the staging area through which
            files from ``sources`` reach the store (never linked into it directly).
        sources: folders whose files may hold lost content (hashed only when their size
            matches an object that is missing or corrupt).
        deep: hash every object first, so corrupt ones of the right size are found too.
        dry_run: only report what would be done.
        progress: progress bars (default: none).
        on_item: called as ``(action, key)`` for each repair as it happens (``action`` is
            ``moved``, ``restored`` or ``rewritten``).

    Returns:
        What was done, with a fresh check.

    Raises:
        SourceFileNotFoundError: a folder in ``sources`` does not exist (nothing was changed).
        StoreError: the store cannot be read or written at all.
    """
    emit = on_item or (lambda _a, _k: None)
    finder = _Finder(sources)
    before = check_store(store, deep=deep, progress=progress)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = f"{layout.quarantine_folder()}/{stamp}-{uuid.uuid4().hex[:6]}"
    moved: list[str] = []
    to_move = sorted({
        p.key for p in before.problems
        if p.kind in QUARANTINED_KINDS
        and p.key.startswith((f"{layout.projects_folder()}/", "objects/", "manifests/"))
    })  # fmt: skip
    for key in to_move:
        for done in _move(store, key, folder, dry_run):
            moved.append(done)
            emit("moved", done)
    rewritten = []
    lost = sorted(
        {p.key for p in before.problems if p.kind == "missing-collection"}
        | {k for k in moved if k.endswith("/collection.json")}
    )
    for key in lost:
        if _rewrite_collection(store, key, dry_run):
            rewritten.append(key)
            emit("rewritten", key)
    restored, not_found, set_aside = _restore_objects(
        store, cache, before.problems, finder, folder, dry_run, emit
    )
    moved += set_aside
    after = before if dry_run else check_store(store, deep=deep, progress=progress)
    return RepairReport(
        dry_run=dry_run,
        before=before,
        after=after,
        quarantine=folder if moved else None,
        moved=tuple(moved),
        restored=tuple(restored),
        rewritten=tuple(rewritten),
        not_found=tuple(not_found),
    )


def _move(store: Store, key: str, folder: str, dry_run: bool) -> list[str]:
    """Move the file ``key`` (or every file below the folder ``key``) into ``folder``."""
    backend = store.backend
    try:
        data = backend.read(key)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        inner = [k for k, _size in backend.walk(key) if k != key]
        done = [d for k in inner for d in _move(store, k, folder, dry_run)]
        local = backend.local_path(key)
        if local is not None and not dry_run:  # what a bucket has not: the emptied folders
            for dirpath, _dirs, _files in sorted(os.walk(local), reverse=True):
                with contextlib.suppress(OSError):  # not empty (a temporary): left alone
                    os.rmdir(dirpath)
        return done
    if dry_run:
        return [key]
    target = f"{folder}/{key}"
    number = _record_number(key)
    if number is not None:  # hold the number first, so no commit can take it meanwhile
        stone = Tombstone(
            deleted_at=utcnow(),
            deleted_by=who(),
            reason=f"its damaged record was moved to {target} by 'satchel fsck --repair'",
        )
        backend.create_if_absent(f"{key[: -len('.json')]}.deleted", encode(stone))
    backend.create_if_absent(target, data)
    if backend.read(target) != data:  # never remove the original unless the copy is there
        raise StoreError(
            f"cannot move {key} to {target}: another file is there; nothing was removed"
        )
    backend.delete(key)
    return [key]


_RECORD_KEY = re.compile(r"^projects/[^/]+/artifacts/[^/]+/versions/(0|[1-9][0-9]*)\.json$")


def _record_number(key: str) -> int | None:
    m = _RECORD_KEY.match(key)
    return int(m.group(1)) if m else None


def _rewrite_collection(store: Store, key: str, dry_run: bool) -> bool:
    """Write a missing collection record again from the collection's lowest sound version."""
    parts = key.split("/")  # projects/<p>/artifacts/<n>/collection.json
    project, name = parts[1], parts[3]
    for n in store.version_listing(project, name).committed:
        try:
            record = store.read_version(project, name, n)
        except (FileNotFoundError, DamagedRecordError):
            continue
        if not dry_run:
            rec = CollectionRecord(type=record.type, created_at=record.created_at)
            store.backend.create_if_absent(key, encode(rec))
        return True
    return False


def _restore_objects(
    store: Store,
    cache: Cache,
    problems: Sequence[Problem],
    finder: _Finder,
    folder: str,
    dry_run: bool,
    emit: Callable[[str, str], None],
) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """Put back missing and corrupt objects; returns (restored, not found, set aside)."""
    wanted: dict[str, Problem] = {}
    for p in problems:
        if p.kind in RESTORED_KINDS and p.key.startswith("objects/"):
            wanted.setdefault(p.key, p)
    restored: list[tuple[str, str]] = []
    not_found: list[str] = []
    set_aside: list[str] = []
    for key, problem in sorted(wanted.items()):
        parts = key.split("/")
        if len(parts) != 4 or parts[1] not in ALGORITHMS:
            not_found.append(key)
            continue
        alg, oid = parts[1], parts[2] + parts[3]
        digest = hex_to_b64(oid)
        found = _from_cache(cache, alg, oid, digest, problem.size) or finder.find(
            alg, digest, problem.size
        )
        if found is None:
            not_found.append(key)
            continue
        staged = found
        if not dry_run and found != cache.object_path(alg, oid):
            # a user's file: copied into the cache (verified), never linked into the store
            try:
                staged = cache.add_file(found, alg=alg, expected_digest=digest)[2]
            except (DigestMismatchError, FileNotFoundError):  # changed since it was hashed
                not_found.append(key)
                continue
        if problem.kind != "missing-object":
            if not dry_run:
                _set_object_aside(store, cache, key, folder)
            set_aside.append(key)
            emit("moved", key)
        if not dry_run:
            store.put_object(alg, oid, staged)
        restored.append((key, found))
        emit("restored", key)
    return restored, not_found, set_aside


def _from_cache(cache: Cache, alg: str, oid: str, digest: str, size: int | None) -> str | None:
    path = cache.get(alg, oid, size)
    if path is None:
        return None
    try:
        actual, _size = hash_file(path, alg)
    except OSError:
        return None
    if actual != digest:  # the cache is disposable, and may be damaged too
        cache.evict(path)
        return None
    return path


def _set_object_aside(store: Store, cache: Cache, key: str, folder: str) -> None:
    """Copy a corrupt object into the quarantine (the good copy then replaces it)."""
    tmp = os.path.join(cache.tmp_dir(), f"quarantine-{os.getpid()}-{uuid.uuid4().hex}")
    try:
        with store.backend.open(key) as src, open(tmp, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        store.backend.put_file(f"{folder}/{key}", tmp)
    except FileNotFoundError:
        pass  # vanished meanwhile: nothing to keep
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


class _Finder:
    """Files below the source folders, by size; each hashed at most once per algorithm."""

    def __init__(self, sources: Sequence[str | os.PathLike[str]]) -> None:
        """Remember the folders (checked now, hashed lazily)."""
        self._roots = [os.path.abspath(os.fspath(s)) for s in sources]
        for root in self._roots:
            if not os.path.isdir(root):
                raise SourceFileNotFoundError(
                    f"source folder {root} does not exist; give a folder that holds the lost "
                    "files (nothing was repaired)"
                )
        self._by_size: dict[int, list[str]] | None = None
        self._digests: dict[tuple[str, str], str] = {}

    def _index(self) -> dict[int, list[str]]:
        if self._by_size is None:
            self._by_size = {}
            for root in self._roots:
                for dirpath, _dirs, files in os.walk(root):
                    for name in files:
                        path = os.path.join(dirpath, name)
                        try:
                            st = os.stat(path)
                        except OSError:
                            continue
                        if os.path.isfile(path):
                            self._by_size.setdefault(st.st_size, []).append(path)
        return self._by_size

    def find(self, alg: str, digest: str, size: int | None) -> str | None:
        """A file whose ``alg`` digest is ``digest`` (of ``size`` when known), or ``None``."""
        if not self._roots:
            return None
        index = self._index()
        candidates = (
            index.get(size, []) if size is not None else [p for ps in index.values() for p in ps]
        )
        for path in candidates:
            known = self._digests.get((path, alg))
            if known is None:
                try:
                    known = hash_file(path, alg)[0]
                except OSError:
                    continue
                self._digests[(path, alg)] = known
            if known == digest:
                return path
        return None
