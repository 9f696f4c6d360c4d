"""Materialise a manifest into a folder, and verify a folder against a manifest.

* :func:`materialize` (``download``) writes every entry below ``root``: from a local store's
  objects read in place, else through the cache. Files already there with the right content
  are left alone (checked by the stat cache, else hashed). Every file is *copied*, hashing while
  copying, into a temporary file that gets its final name only when the digest matches, so no
  wrong bytes are ever left under a final name. A cached object that no longer matches is
  evicted and fetched again, never served; a store object read in place that does not match is
  reported as corrupt and never touched (it may be the only copy). Files are copies, not links,
  so editing a downloaded file can never corrupt the cache or the store.
* :func:`read_entry` (``Artifact.get``) reads one entry's bytes under the same rules.
* :func:`plan_checkout` (``checkout``) works out, touching nothing, what making ``root`` match
  the manifest deletes, writes and keeps (a dry run shows it); :func:`check_deletions` refuses
  a plan that deletes more than :data:`UNSEEN_LIMIT` files satchel has not seen, and
  :func:`delete_extras` then deletes the plan's files (and empty folders) before the download.
  Only a plan can delete, and ``Artifact.checkout`` makes one only for a root that
  :func:`satchel.protected.check_checkout_root` accepts.
* :func:`verify_folder` compares a folder with a manifest and reports every missing, extra and
  changed file at once, plus the reference entries that carry no content hash.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from satchel import paths as logical_paths
from satchel.cache import Cache
from satchel.errors import (
    ArtifactVerificationError,
    DownloadObstacleError,
    ReferenceChangedError,
    ReferenceNotFoundError,
    TooManyDeletionsError,
    UnsupportedReferenceError,
)
from satchel.fsutil import (
    atomic_file,
    copy_hashing,
    read_small,
    remove_empty_parents,
    write_small_atomic,
)
from satchel.hashing import MD5, XXH128, b64, default_workers, hash_bytes, new_hasher
from satchel.ingest.statcache import stat_key
from satchel.ingest.tree import LocalFile, digest_files, iter_names, scan
from satchel.manifest import Manifest, ManifestEntry
from satchel.parallel import run_parallel
from satchel.progress import Bar, NullBar

#: returns ``(relative_path, path)`` pairs holding an entry's bytes ("" = the entry itself): cache
#: files, or a local store's objects to read in place (``fetch(entry, refetch)``)
Fetch = Callable[[ManifestEntry, bool], list[tuple[str, str]]]
#: returns ``(alg, digest)`` of an entry's content when known
ContentDigest = Callable[[ManifestEntry], "tuple[str, str] | None"]
#: the error for an entry whose bytes at ``path`` hash to ``got`` instead of the manifest's
#: digest: ``corrupt(entry, path, got, refetched)``; ``refetched``: the bytes were fetched again
Corrupt = Callable[[ManifestEntry, str, str, bool], Exception]
#: the error for an entry whose local store object (read in place) is missing
Missing = Callable[[ManifestEntry, FileNotFoundError], Exception]


#: most entries one pool task materialises (see :func:`materialize`)
_BATCH = 64


class _BadBytes(Exception):
    """Internal: the bytes copied or read do not hash to the expected digest."""

    def __init__(self, digest: str) -> None:
        super().__init__(digest)
        self.digest = digest


@dataclass(frozen=True, slots=True)
class MaterializeResult:
    """What a download did.

    Attributes:
        written: logical paths written.
        unchanged: logical paths already present with the right content.
        skipped: reference entries skipped because they were missing or changed
            (only with ``allow_missing_references=True``).
        unverified: reference entries written without a content check.
    """

    written: tuple[str, ...]
    unchanged: tuple[str, ...]
    skipped: tuple[str, ...]
    unverified: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VerificationReport:
    """The outcome of :func:`verify_folder` when nothing failed.

    Attributes:
        verified: entries whose content matched.
        unverifiable: reference entries with no content hash to compare (not a failure).
    """

    verified: int
    unverifiable: tuple[str, ...]


def target_path(root: str, logical: str) -> str:
    """The on-disk path of a logical path below ``root`` (logical paths never escape)."""
    return os.path.join(root, *logical.split("/"))


def _matches(path: str, alg: str, digest: str, cache: Cache) -> bool:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    if not os.path.isfile(path):
        return False
    f = LocalFile("", path, stat_key(st))
    return digest_files([f], alg, cache.stat_cache)[0] == digest


def _copy_out(
    src: str, dest: str, expect: tuple[str, str] | None, made: set[str] | None = None
) -> os.stat_result:
    """Copy ``src`` to ``dest`` atomically. With ``expect = (alg, digest)`` the bytes are hashed
    while copied and a mismatch raises :class:`_BadBytes` before the copy gets its name:
    ``dest`` is left as it was and the temporary file is removed.

    A small file (see :data:`~satchel.fsutil.SMALL_FILE`) is read whole, hashed, and written
    with one ``write`` (:func:`~satchel.fsutil.write_small_atomic`; ``made`` lists folders that
    exist already): for many small files the system calls per file, not the bytes, bound the
    download. Either way the bytes hashed are the very bytes written."""
    data = read_small(src)
    if data is not None:
        if expect is not None:
            got = hash_bytes(data, expect[0])
            if got != expect[1]:
                raise _BadBytes(got)
        return write_small_atomic(dest, data, made=made)
    hasher = new_hasher(expect[0]) if expect else None
    with open(src, "rb") as s, atomic_file(dest) as d:
        copy_hashing(s, d, hasher)
        if hasher is not None and expect is not None:
            got = b64(hasher.digest())
            if got != expect[1]:
                raise _BadBytes(got)
    return os.stat(dest)


def _read_checked(src: str, expect: tuple[str, str] | None) -> bytes:
    with open(src, "rb") as f:
        data = f.read()
    if expect is not None:
        h = new_hasher(expect[0])
        h.update(data)
        got = b64(h.digest())
        if got != expect[1]:
            raise _BadBytes(got)
    return data


_T = TypeVar("_T")


def _checked(
    entry: ManifestEntry,
    rel: str,
    source: str,
    op: Callable[[str], _T],
    *,
    cache: Cache,
    fetch: Fetch,
    corrupt: Corrupt,
    missing: Missing,
) -> tuple[_T, str]:
    """Run ``op`` (a checked copy or read) on an entry's piece ``rel`` at ``source``.

    A cache file whose bytes do not match is evicted and fetched again, once; so is one that
    vanished meanwhile (a concurrent cleanup). Anything else (a local store's object read in
    place) is never touched: a mismatch raises ``corrupt(...)``, a missing file
    ``missing(...)``.

    Returns:
        ``op``'s result and the path it finally read.
    """
    for attempt in (0, 1):
        try:
            return op(source), source
        except _BadBytes as bad:
            if not cache.owns(source):
                raise corrupt(entry, source, bad.digest, False) from None
            cache.evict(source)  # a corrupt cache object: fetch again, once
            if attempt:
                raise corrupt(entry, source, bad.digest, True) from None
        except FileNotFoundError as exc:
            if exc.filename is None or os.fsdecode(exc.filename) != source:
                raise
            if not cache.owns(source):
                raise missing(entry, exc) from exc
            if attempt:
                raise
        source = dict(fetch(entry, True))[rel]
    raise AssertionError("unreachable")  # pragma: no cover


def _obstacle(logical: str, path: str, problem: str) -> DownloadObstacleError:
    return DownloadObstacleError(
        f"cannot download {logical}: {path} {problem}; move it away, or use checkout, which "
        "replaces what is in the way",
        path=logical,
        obstacle=path,
    )


class _Way:
    """Checks, once per folder, that the folders on the way to a file are real folders.

    A file where a folder must go, or a symbolic link on the way (writing through it could
    leave ``root``), raises :class:`DownloadObstacleError`; absent folders are fine.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self.clear: set[str] = set()

    def check(self, logical: str) -> None:
        folder = logical.rpartition("/")[0]
        if not folder or folder in self.clear:
            return
        parts = folder.split("/")
        for i in range(len(parts)):
            rel = "/".join(parts[: i + 1])
            if rel in self.clear:
                continue
            path = target_path(self.root, rel)
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                break  # created by the write, as are the folders below it
            if stat.S_ISLNK(mode):
                raise _obstacle(
                    logical, path, "is a symbolic link, which download does not write through"
                )
            if not stat.S_ISDIR(mode):
                raise _obstacle(logical, path, "is a file where the artifact needs a folder")
            self.clear.add(rel)


def selected(manifest: Manifest, path_prefix: str | None) -> list[ManifestEntry]:
    """The entries a download with ``path_prefix`` writes: those whose logical path starts
    with it (all when it is empty or ``None``)."""
    return [e for e in manifest if not path_prefix or e.path.startswith(path_prefix)]


def materialize(
    manifest: Manifest,
    root: str,
    *,
    cache: Cache,
    fetch: Fetch,
    content_digest: ContentDigest,
    allow_missing_references: bool = False,
    path_prefix: str | None = None,
    bar: Bar | None = None,
    warn: Callable[[str], None] = lambda m: None,
    workers: int | None = None,
    corrupt: Corrupt,
    missing: Missing,
) -> MaterializeResult:
    """Write the manifest's entries below ``root``.

    Args:
        manifest: what to write.
        root: the folder (created when missing).
        cache: the cache, for the stat cache and evicting corrupt objects.
        fetch: brings an entry's bytes into the cache, or names the local store object to
            read in place (``fetch(entry, refetch)``).
        content_digest: the content hash of an entry, when known.
        allow_missing_references: skip (with a warning) references that vanished or changed.
        path_prefix: only entries whose logical path starts with this.
        bar: progress.
        warn: reports skipped or unverified references.
        workers: entries fetched and written at once (default: the local pool size, see
            :func:`satchel.parallel.run_parallel`; remote stores pass their ``io_workers``,
            as network latency, not CPU, bounds their transfers).
        corrupt: builds the error for bytes that do not match (see :data:`Corrupt`).
        missing: builds the error for a local store object that is gone.

    Raises:
        ReferenceChangedError / ReferenceNotFoundError: unless ``allow_missing_references``.
        DigestMismatchError: (from ``corrupt``) a store object read in place is corrupt, or
            fetched bytes stayed corrupt after a refetch; nothing wrong is left in ``root``.
        DownloadObstacleError: a file, folder or symbolic link in ``root`` stands in the way
            (a ``FileExistsError``); nothing is deleted.
    """
    bar = bar or NullBar()
    # a folder this call creates holds nothing yet: no file in it can match (saves a stat each)
    fresh_root = not os.path.lexists(root)
    try:
        os.makedirs(root, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise _not_a_folder(root) from exc
    way = _Way(root)
    entries = selected(manifest, path_prefix)
    written: list[str] = []
    unchanged: list[str] = []
    skipped: list[str] = []
    unverified: list[str] = []
    # Stat-cache records of written files, stored in one transaction per algorithm at the end:
    # one SQLite commit per file, from many threads, cost more than the copying itself.
    fresh: list[tuple[str, tuple[int, int, int, int], str]] = []
    made: set[str] = {root}  # folders below root known to exist (one makedirs per folder)

    def one(entry: ManifestEntry) -> None:
        dest = target_path(root, entry.path)
        way.check(entry.path)
        known = content_digest(entry)
        if known is not None and not fresh_root and _matches(dest, known[0], known[1], cache):
            unchanged.append(entry.path)
            bar.update(1)
            return
        try:
            pieces = fetch(entry, False)
        except (ReferenceNotFoundError, ReferenceChangedError, UnsupportedReferenceError) as exc:
            if not allow_missing_references:
                raise
            warn(f"skipped {entry.path}: {exc}")
            skipped.append(entry.path)
            bar.update(1)
            return
        if known is None and entry.is_reference:
            unverified.append(entry.path)
        for rel, source in pieces:
            out = target_path(dest, rel) if rel else dest
            expect = known if known is not None and not rel else None
            try:
                st, used = _checked(
                    entry,
                    rel,
                    source,
                    lambda src: _copy_out(src, out, expect, made),  # noqa: B023
                    cache=cache,
                    fetch=fetch,
                    corrupt=corrupt,
                    missing=missing,
                )
            except (IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
                logical = f"{entry.path}/{rel}" if rel else entry.path
                way.check(logical)  # raises when a file stands on the way
                raise _obstacle(
                    logical,
                    target_path(root, logical),
                    "is a folder where the artifact needs a file",
                ) from exc
            if expect is not None:
                fresh.append((expect[0], stat_key(st), expect[1]))
            if cache.owns(used):  # never a local store's object: readers leave it alone
                cache.touch(used)
        written.append(entry.path)
        bar.update(1)

    def batch(part: list[ManifestEntry]) -> None:
        for entry in part:
            one(entry)

    # Entries go to the pool in batches: a future per 4 KiB file cost more than its copy.
    # Enough batches stay to keep every worker busy (a remote store's transfers stay parallel).
    pool = workers or default_workers() * 2
    size = max(1, min(_BATCH, len(entries) // (pool * 4)))
    try:
        run_parallel(
            batch, [entries[i : i + size] for i in range(0, len(entries), size)], workers=workers
        )
    finally:
        for alg in {a for a, _k, _d in fresh}:
            cache.stat_cache.store_many([(k, d) for a, k, d in fresh if a == alg], alg)
    return MaterializeResult(
        tuple(sorted(written)),
        tuple(sorted(unchanged)),
        tuple(sorted(skipped)),
        tuple(sorted(unverified)),
    )


def read_entry(
    entry: ManifestEntry,
    *,
    cache: Cache,
    fetch: Fetch,
    content_digest: ContentDigest,
    corrupt: Corrupt,
    missing: Missing,
) -> bytes:
    """An entry's bytes, checked against its digest as a download checks them (a corrupt
    cache object is evicted and fetched again; a corrupt local store object raises).

    Raises:
        DigestMismatchError: (from ``corrupt``) the bytes stayed wrong.
        ReferenceChangedError / ReferenceNotFoundError: a reference changed or vanished.
    """
    rel, source = fetch(entry, False)[0]
    known = content_digest(entry)
    data, used = _checked(
        entry,
        rel,
        source,
        lambda src: _read_checked(src, known if not rel else None),
        cache=cache,
        fetch=fetch,
        corrupt=corrupt,
        missing=missing,
    )
    if cache.owns(used):
        cache.touch(used)
    return data


def _untracked_folders(manifest: Manifest) -> list[str]:
    """Logical folders filled by ``checksum=False`` references (their content is not listed)."""
    return [e.path for e in manifest if e.is_reference and e.size is None and e.digest == e.ref]


#: the most files satchel has not seen that a checkout deletes without ``force``
UNSEEN_LIMIT = 10


@dataclass(frozen=True, slots=True)
class CheckoutPlan:
    """What checking a version out into a folder would do (``checkout(dry_run=True)``).

    Attributes:
        root: the folder (absolute).
        delete: logical paths of the files in the folder that the version does not list.
        unseen: those of ``delete`` satchel has not seen: no download, checkout, add or verify
            wrote or read them as they are now (the stat cache does not know them). Only these
            count against :data:`UNSEEN_LIMIT`.
        clear: logical paths of what stands where the version needs a file or a folder (a
            folder where a file goes, a symbolic link, a file where a folder goes), removed
            first.
        write: entries to download (missing, different, or not checkable).
        keep: entries already there with the right content.
        limit: the most unseen files deleted without ``force``.
    """

    root: str
    delete: tuple[str, ...]
    unseen: tuple[str, ...]
    clear: tuple[str, ...]
    write: tuple[str, ...]
    keep: tuple[str, ...]
    limit: int = UNSEEN_LIMIT

    @property
    def needs_force(self) -> bool:
        """Whether a real checkout must be forced (more unseen files than ``limit``)."""
        return len(self.unseen) > self.limit

    def summary(self) -> str:
        """``"would delete N, write M, keep K"``."""
        return f"would delete {len(self.delete)}, write {len(self.write)}, keep {len(self.keep)}"


@dataclass(frozen=True, slots=True)
class CheckoutResult:
    """What a checkout did (``checkout(summary=True)``).

    Attributes:
        root: the folder (absolute), which now matches the version.
        deleted: logical paths of the files deleted.
        written: logical paths written.
        kept: logical paths that already had the right content.
    """

    root: str
    deleted: tuple[str, ...]
    written: tuple[str, ...]
    kept: tuple[str, ...]

    def summary(self) -> str:
        """``"deleted N, wrote M, kept K"``."""
        return f"deleted {len(self.deleted)}, wrote {len(self.written)}, kept {len(self.kept)}"


def _not_a_folder(root: str) -> DownloadObstacleError:
    return DownloadObstacleError(
        f"cannot download into {root}: it is a file, not a folder; pick another folder",
        obstacle=root,
    )


def _scan_marking_links(root: str) -> tuple[dict[str, LocalFile], set[str]]:
    """The files :func:`~satchel.ingest.tree.scan` finds, by logical path, and those of them
    that are symbolic links (from the folder listing, so no extra system call per file)."""
    found: dict[str, LocalFile] = {}
    links: set[str] = set()
    for _dev, batch in iter_names(root):
        for rel, path, _ino, is_link in batch:
            try:
                st = os.stat(path)
            except FileNotFoundError:  # vanished while scanning
                continue
            found[rel] = LocalFile(rel, path, stat_key(st))
            if is_link:
                links.add(rel)
    return found, links


def plan_checkout(
    manifest: Manifest, root: str, *, cache: Cache, content_digest: ContentDigest
) -> CheckoutPlan:
    """Work out what making ``root`` match ``manifest`` deletes, writes and keeps.

    Nothing below ``root`` is changed (files at the manifest's paths may be hashed, which
    records them in the stat cache).

    Raises:
        DownloadObstacleError: ``root`` is a file.
    """
    if os.path.lexists(root) and not os.path.isdir(root):
        raise _not_a_folder(root)
    exists = os.path.isdir(root)
    found, links = _scan_marking_links(root) if exists else ({}, set())
    free = _untracked_folders(manifest)
    extra = [
        f
        for rel, f in found.items()
        if rel not in manifest and not any(logical_paths.is_under(rel, d) for d in free)
    ]
    known: list[str | None] = [None] * len(extra)
    for alg in (MD5, XXH128):  # a file is seen when either digest of it is known
        ask = [i for i, d in enumerate(known) if d is None]
        if not ask:
            break
        for i, d in zip(ask, cache.stat_cache.lookup_many([extra[i].key for i in ask], alg)):
            known[i] = d
    clear = (
        _in_the_way(manifest, root, free, found, links, {f.rel for f in extra}) if exists else []
    )
    in_way = set(clear)
    write: list[str] = []
    keep: list[str] = []
    check: dict[str, list[tuple[str, str, LocalFile]]] = {}
    for entry in manifest:
        local = found.get(entry.path)
        digest = content_digest(entry) if local is not None and entry.path not in in_way else None
        if local is None or digest is None:
            write.append(entry.path)
        else:
            check.setdefault(digest[0], []).append((entry.path, digest[1], local))
    for alg, items in check.items():
        got = digest_files([i[2] for i in items], alg, cache.stat_cache)
        for (path, want, _local), have in zip(items, got):
            (keep if have == want else write).append(path)
    return CheckoutPlan(
        root,
        tuple(sorted(f.rel for f in extra)),
        tuple(sorted(f.rel for f, d in zip(extra, known) if d is None)),
        tuple(sorted(clear)),
        tuple(sorted(write)),
        tuple(sorted(keep)),
    )


def _in_the_way(
    manifest: Manifest,
    root: str,
    free: list[str],
    found: dict[str, LocalFile],
    links: set[str],
    deleted: set[str],
) -> list[str]:
    """What must be removed, besides the files the plan deletes anyway, before the manifest's
    files can be written: a link or file where a folder must be, a link or folder where a file
    must be. Nothing is looked at through such an obstacle (a folder seen through a link is
    the link target's, never to be removed): what lies below it is written afresh."""
    out: list[str] = []
    blocked: set[str] = set()  # folders of the manifest where a file or a link stands
    checked: set[str] = set()
    for entry in manifest:
        folder = entry.path.rpartition("/")[0]
        parts = folder.split("/") if folder else []
        through = False
        for i in range(len(parts)):
            rel = "/".join(parts[: i + 1])
            if rel in blocked:
                through = True
                break
            if rel in checked:
                continue
            checked.add(rel)
            if rel in found:  # a file (or a link to one): in the way unless the plan deletes it
                blocked.add(rel)
                if rel not in deleted:
                    out.append(rel)
                through = True
                break
            if os.path.islink(target_path(root, rel)):  # a link to a folder, or a broken one
                blocked.add(rel)
                out.append(rel)
                through = True
                break
        if through:
            continue
        if entry.path in found:
            if entry.path in links:
                out.append(entry.path)
            continue
        dest = target_path(root, entry.path)
        if os.path.islink(dest) or (os.path.isdir(dest) and entry.path not in free):
            out.append(entry.path)
    return out


def check_deletions(plan: CheckoutPlan, what: str, *, force: bool) -> None:
    """Refuse a plan that deletes more unseen files than its limit, unless ``force``.

    Args:
        plan: the plan.
        what: the artifact and folder for the message.
        force: delete them anyway.

    Raises:
        TooManyDeletionsError: naming how many, a few of them, and how to go on.
    """
    if force or not plan.needs_force:
        return
    shown = ", ".join(plan.unseen[:5]) + (", ..." if len(plan.unseen) > 5 else "")
    raise TooManyDeletionsError(
        f"checkout of {what} would delete {len(plan.unseen)} files that satchel did not write "
        f"({shown}), more than the {plan.limit} it deletes without being forced; nothing was "
        "changed. List them with --dry-run (checkout(root, dry_run=True)) and delete them "
        "with --force (force=True), or check out into another folder",
        unseen=plan.unseen,
        limit=plan.limit,
    )


def delete_extras(plan: CheckoutPlan) -> list[str]:
    """Delete the plan's files (and the folders that leaves empty), then what its ``clear``
    lists (a folder where a file must go, a file or link where a folder must be). Return the
    logical paths of the files deleted.

    Nothing the plan does not name is removed: a file that appeared since is left alone (the
    download then reports it in the way), one that vanished is skipped, and nothing is
    removed through a symbolic link that appeared on its way.
    """
    root = plan.root
    if not os.path.isdir(root):
        return []
    removed = []
    safe: set[str] = set()
    for rel in plan.delete:
        path = target_path(root, rel)
        if _link_on_the_way(root, rel, safe):
            continue
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        remove_empty_parents(path, root)
        removed.append(rel)
    for rel in plan.clear:  # sorted: a folder's own obstacle goes before anything below it
        path = target_path(root, rel)
        if _link_on_the_way(root, rel, set()):
            continue
        if os.path.islink(path) or os.path.isfile(path):
            os.unlink(path)
        elif os.path.isdir(path):
            shutil.rmtree(path)
    return removed


def _link_on_the_way(root: str, logical: str, safe: set[str]) -> bool:
    """Whether a folder between ``root`` and ``logical`` is a symbolic link (or not a folder);
    ``safe`` remembers the folders already found to be real ones."""
    folder = logical.rpartition("/")[0]
    if not folder or folder in safe:
        return False
    parts = folder.split("/")
    for i in range(len(parts)):
        rel = "/".join(parts[: i + 1])
        if rel in safe:
            continue
        path = target_path(root, rel)
        if os.path.islink(path) or not os.path.isdir(path):
            return True
        safe.add(rel)
    return False


def verify_folder(
    manifest: Manifest,
    root: str,
    *,
    cache: Cache,
    content_digest: ContentDigest,
    check_extra: bool = True,
) -> VerificationReport:
    """Check that ``root`` holds exactly the manifest's content.

    Raises:
        ArtifactVerificationError: listing every missing, extra and changed file.
    """
    found = {f.rel: f for f in scan(root)} if os.path.isdir(root) else {}
    free = _untracked_folders(manifest)
    missing: list[str] = []
    changed: list[str] = []
    unverifiable: list[str] = []
    by_alg: dict[str, list[tuple[ManifestEntry, str, LocalFile]]] = {}
    for entry in manifest:
        if entry.path in free:
            unverifiable.append(entry.path)
            continue
        local = found.get(entry.path)
        if local is None:
            missing.append(entry.path)
            continue
        known = content_digest(entry)
        if known is None:
            unverifiable.append(entry.path)
            continue
        by_alg.setdefault(known[0], []).append((entry, known[1], local))
    verified = 0
    for alg, items in by_alg.items():
        digests = digest_files([i[2] for i in items], alg, cache.stat_cache)
        for (entry, want, _local), got in zip(items, digests):
            if got == want:
                verified += 1
            else:
                changed.append(entry.path)
    extra = (
        sorted(
            p
            for p in found
            if p not in manifest and not any(logical_paths.is_under(p, d) for d in free)
        )
        if check_extra
        else []
    )
    if missing or changed or extra:
        raise ArtifactVerificationError(
            _describe(root, missing, extra, changed),
            missing=missing,
            extra=extra,
            changed=changed,
            unverifiable=unverifiable,
        )
    return VerificationReport(verified, tuple(unverifiable))


def _describe(
    root: str, missing: Iterable[str], extra: Iterable[str], changed: Iterable[str]
) -> str:
    lines = [f"folder {root} does not match the artifact:"]
    for label, items in (("missing", missing), ("extra", extra), ("changed", changed)):
        items = list(items)
        if items:
            shown = ", ".join(items[:50]) + (
                f" (+{len(items) - 50} more)" if len(items) > 50 else ""
            )
            lines.append(f"  {len(items)} {label}: {shown}")
    lines.append("run 'satchel checkout' to make the folder match")
    return "\n".join(lines)
