"""Finding and digesting files on local disk (shared by ``add_dir`` and ``file://`` references).

What a folder scan takes: regular files, and symbolic links to regular files (with the
target's content). Everything else is *skipped*, never an error, and reported to the caller
(``skipped``: ``(relative path, reason)`` pairs) so it can say so: symbolic links to folders
(not followed: cycles, escapes), symbolic link loops, dangling symbolic links, FIFOs, sockets
and devices. Entries that vanish while the folder is scanned are left out silently.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from operator import attrgetter

import msgspec

from satchel.errors import SourceFileNotFoundError
from satchel.hashing import LARGE_FILE, default_workers, hash_file
from satchel.ingest.bulk import SmallFiles, hash_files
from satchel.ingest.statcache import StatCacheLike, StatKey, stat_key
from satchel.paths import printable

#: ``skip(path, stat)``: whether a scan leaves the sub-folder at ``path`` out
SkipFolder = Callable[[str, os.stat_result], bool]


class LocalFile(msgspec.Struct, frozen=True, gc=False):
    """A file found on disk (a msgspec struct: a scan creates one per file, ~0.1 us each).

    Attributes:
        rel: path relative to the scanned folder, with ``/`` separators.
        abspath: absolute path on disk.
        key: its stat-cache key (device, inode, size, change stamp).
    """

    rel: str
    abspath: str
    key: StatKey

    @property
    def size(self) -> int:
        """Size in bytes at scan time."""
        return self.key[2]


#: what :func:`classify` says of a folder entry
FOLDER, FILE, GONE, SKIP = "folder", "file", "gone", "skip"


def classify(de: os.DirEntry[str]) -> tuple[str, str]:
    """``(kind, reason)`` of a folder entry: :data:`FOLDER` (a real folder: descend),
    :data:`FILE` (a regular file, or a symbolic link to one), :data:`GONE` (vanished while
    looked at) or :data:`SKIP` with the reason (see the module docstring). Costs no system
    call for plain files and folders (the type comes with the listing), one ``stat`` per
    symbolic link."""
    try:
        if not de.is_symlink():
            if de.is_dir(follow_symlinks=False):
                return FOLDER, ""
            if de.is_file(follow_symlinks=False):
                return FILE, ""
            return SKIP, _special(os.lstat(de.path).st_mode)
        try:
            st = os.stat(de.path)
        except FileNotFoundError:
            return SKIP, f"a symbolic link to {os.readlink(de.path)!r}, which does not exist"
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            return SKIP, "a symbolic link loop"
    except FileNotFoundError:
        return GONE, ""
    if stat.S_ISREG(st.st_mode):
        return FILE, ""
    if stat.S_ISDIR(st.st_mode):
        return SKIP, "a symbolic link to a folder, not followed"
    return SKIP, "a symbolic link to " + _special(st.st_mode)


def _special(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "a special file"


def skipped_message(root: str, skipped: list[tuple[str, str]], doing: str) -> str:
    """One line saying what a scan of ``root`` skipped (names escaped, at most 20 shown)."""
    items = sorted(skipped)
    shown = "; ".join(f"'{printable(rel)}' ({printable(reason)})" for rel, reason in items[:20])
    more = f" (+{len(items) - 20} more)" if len(items) > 20 else ""
    return (
        f"{doing} skipped {len(items)} entr{'y' if len(items) == 1 else 'ies'} of "
        f"{printable(root)} that {'is' if len(items) == 1 else 'are'} not a regular file or "
        f"folder: {shown}{more}. Only regular files (and symbolic links to them) are added; "
        "copy what you need into the folder as regular files"
    )


def require_folder(root: str) -> str:
    """``root`` as an absolute path, if it is a folder.

    Raises:
        SourceFileNotFoundError: it does not exist, or is not a folder (saying which).
    """
    root = os.path.abspath(root)
    if os.path.isdir(root):
        return root
    if os.path.lexists(root):
        what = "a file" if os.path.isfile(root) else "not a folder"
        raise SourceFileNotFoundError(f"{printable(root)} is {what}, not a folder")
    raise SourceFileNotFoundError(f"folder {printable(root)} does not exist")


def scan(root: str, *, skipped: list[tuple[str, str]] | None = None) -> list[LocalFile]:
    """Every regular file below ``root`` (following symlinks to files), sorted by ``rel``.

    Args:
        root: the folder.
        skipped: receives ``(rel, reason)`` for every entry skipped (see the module docstring).

    Raises:
        SourceFileNotFoundError: ``root`` is not a folder.
    """
    out: list[LocalFile] = []
    for batch in iter_scan(root, skipped=skipped):
        out.extend(batch)
    out.sort(key=attrgetter("rel"))
    return out


def iter_scan(
    root: str, *, skipped: list[tuple[str, str]] | None = None
) -> Iterator[list[LocalFile]]:
    """The files of :func:`scan`, one folder at a time, in no particular order.

    Raises:
        SourceFileNotFoundError: ``root`` is not a folder.
    """
    root = require_folder(root)
    stack = [("", root)]
    while stack:
        prefix, folder = stack.pop()
        out: list[LocalFile] = []
        append = out.append
        with os.scandir(folder) as it:
            for de in it:
                kind, reason = classify(de)
                if kind == FOLDER:
                    stack.append((f"{prefix}{de.name}/", de.path))
                elif kind == FILE:
                    try:
                        st = de.stat()
                    except FileNotFoundError:  # vanished while scanning
                        continue
                    key = stat_key(st)
                    append(LocalFile(f"{prefix}{de.name}", de.path, key))
                elif kind == SKIP and skipped is not None:
                    skipped.append((f"{prefix}{de.name}", reason))
        if out:
            yield out


def iter_names(
    root: str,
    *,
    skipped: list[tuple[str, str]] | None = None,
    skip: SkipFolder | None = None,
) -> Iterator[tuple[int, list[tuple[str, str, int, bool]]]]:
    """The files below ``root`` without a stat each: per folder, ``(st_dev of the folder,
    [(rel, path, inode, is_symlink), ...])``, in no particular order.

    ``os.scandir`` gives names, types and inode numbers for free; only folders are stat-ed
    (for their device). Symlinks to files are listed (their inode is the link's, so the caller
    stats them); what is not a regular file or folder goes to ``skipped`` (see the module
    docstring). A sub-folder for which ``skip(path, stat)`` is true is not entered
    (``add_dir`` skips satchel's own folders).

    Raises:
        SourceFileNotFoundError: ``root`` is not a folder.
    """
    root = require_folder(root)
    try:
        st = os.stat(root)
    except FileNotFoundError:  # gone since the check
        raise SourceFileNotFoundError(f"folder {printable(root)} does not exist") from None
    stack = [("", root, st.st_dev)]
    while stack:
        prefix, folder, dev = stack.pop()
        out: list[tuple[str, str, int, bool]] = []
        append = out.append
        with os.scandir(folder) as it:
            for de in it:
                kind, reason = classify(de)
                if kind == FOLDER:
                    try:
                        sub = de.stat()
                    except FileNotFoundError:
                        continue
                    if skip is not None and skip(de.path, sub):
                        continue
                    stack.append((f"{prefix}{de.name}/", de.path, sub.st_dev))
                elif kind == FILE:
                    append((f"{prefix}{de.name}", de.path, de.inode(), de.is_symlink()))
                elif kind == SKIP and skipped is not None:
                    skipped.append((f"{prefix}{de.name}", reason))
        if out:
            yield dev, out


@dataclass(frozen=True, slots=True)
class TreeDigest:
    """What :func:`digest_tree` found, every list aligned with ``files`` (sorted by ``rel``).

    Attributes:
        files: the files, with the stat taken right before each was read (or, for stat-cache
            hits and files left unread, when it was looked up).
        digests: base64 digest per file; ``None`` for a large file left to the caller
            (pack mode).
        sizes: bytes read, or the stat size where nothing was read.
        packed: ``(pack, offset)`` for a file copied into a pack, else ``None``.
        read: whether the file was read (``False``: digest from the stat cache, or left).
        packs: the pack files made; the caller owns them.
    """

    files: list[LocalFile]
    digests: list[str | None]
    sizes: list[int]
    packed: list[tuple[str, int] | None]
    read: list[bool]
    packs: list[str]


def digest_tree(
    root: str,
    alg: str,
    stat_cache: StatCacheLike,
    *,
    reuse: Callable[[str, int], bool] | None = None,
    pack_prefix: str | None = None,
    check: Callable[[list[str]], None] | None = None,
    progress: Callable[[int], Callable[[int], None]] | None = None,
    workers: int | None = None,
    skipped: list[tuple[str, str]] | None = None,
    skip: SkipFolder | None = None,
) -> TreeDigest:
    """Scan a folder and digest every file, hashing while the scan goes on.

    The scan only lists names (:func:`iter_names`). A few hundred files at a time, their
    inode numbers are looked up in the stat cache; only files the cache knows are stat-ed
    here (to compare size and mtime). Every other file goes straight to
    :class:`~satchel.ingest.bulk.SmallFiles`, which stats it on the open descriptor, reads it once
    and hashes it, in its helper process on the second core while this process keeps
    scanning, so a first add stats nothing twice and the scan overlaps the hashing. Large
    files are hashed in a thread pool (or, in pack mode, left to the caller, which copies
    them). New digests are remembered in the stat cache. A file that vanishes before it is
    read is left out, as a scan would.

    Args:
        root: the folder.
        alg: digest algorithm.
        stat_cache: where known digests come from and new ones go.
        reuse: for a stat-cache hit ``(digest, size)``, whether it needs no read (default:
            always); a hit it refuses is read like an unknown file.
        pack_prefix: copy the small files that are read into packs (``policy="mutable"``).
        check: called with the sorted relative paths once the scan is done, before waiting
            for the hashing; an exception it raises stops everything (packs are removed).
        progress: called once with the number of files, returns the callback that receives
            counts of finished files.
        workers: hashing parallelism (default :func:`~satchel.hashing.default_workers`).
        skipped: receives ``(rel, reason)`` for every entry that is not a regular file or
            folder (see the module docstring).
        skip: sub-folders not to enter (see :func:`iter_names`).

    Raises:
        SourceFileNotFoundError: ``root`` is not a folder.
        OSError: a file could not be read.
    """
    digester = _TreeDigester(
        alg,
        stat_cache,
        reuse=reuse,
        pack_prefix=pack_prefix,
        workers=workers or default_workers(),
    )
    try:
        with digester.runner:
            digester.scan(root, skipped=skipped, skip=skip)
            if check is not None:
                check(sorted(digester.rels))
            if progress is not None:
                digester.report_to(progress(len(digester.rels)))
            digester.collect()
    except BaseException:
        digester.abandon()
        raise
    return digester.result()


class _TreeDigester:
    """The state of one :func:`digest_tree`: per file (by index in the scan's order) its
    logical and absolute path, stat key, digest, size, whether it was read, and its pack."""

    def __init__(
        self,
        alg: str,
        stat_cache: StatCacheLike,
        *,
        reuse: Callable[[str, int], bool] | None,
        pack_prefix: str | None,
        workers: int,
    ) -> None:
        self.alg, self.stat_cache, self.reuse, self.pack_prefix = (
            alg,
            stat_cache,
            reuse,
            pack_prefix,
        )
        self.rels: list[str] = []
        self.abspaths: list[str] = []
        self.keys: list[StatKey | None] = []
        self.digests: list[str | None] = []
        self.sizes: list[int] = []
        self.read: list[bool] = []
        self.packed: dict[int, tuple[str, int]] = {}
        self.jobs: list[int] = []  # SmallFiles id -> file index
        self.large: dict[int, Future[tuple[str, int]]] = {}
        self.gone: set[int] = set()
        self.counted = 0  # files done before the progress callback is known
        self.report: Callable[[int], None] | None = None
        self.runner = SmallFiles(
            alg,
            workers=workers,
            pack_prefix=pack_prefix,
            on_done=self.on_done,
            large_from=LARGE_FILE,
            missing_ok=True,
        )
        self.pool = ThreadPoolExecutor(max_workers=workers)

    def on_done(self, n: int) -> None:
        """Count ``n`` finished files (held back until :meth:`report_to`)."""
        if self.report is not None:
            self.report(n)
        else:
            self.counted += n

    def report_to(self, report: Callable[[int], None]) -> None:
        """Send counts of finished files to ``report`` from now on (and those so far)."""
        self.report = report
        if self.counted:
            report(self.counted)

    def scan(
        self, root: str, *, skipped: list[tuple[str, str]] | None, skip: SkipFolder | None
    ) -> None:
        """List ``root`` and dispatch its files in batches of a few hundred, one device at a
        time (the stat cache is looked up by inode per device)."""
        pending_dev = -1
        pending: list[tuple[str, str, int, bool]] = []
        for dev, found in iter_names(root, skipped=skipped, skip=skip):
            if dev != pending_dev and pending:
                self.dispatch(pending_dev, pending)
                pending = []
            pending_dev = dev
            pending.extend(found)
            if len(pending) >= 256:
                self.dispatch(dev, pending)
                pending = []
        if pending:
            self.dispatch(pending_dev, pending)

    def dispatch(self, dev: int, batch: list[tuple[str, str, int, bool]]) -> None:
        """Record a batch of ``(rel, path, inode, is_link)`` and send each file where it goes:
        reused from the stat cache, to the thread pool (large) or to :class:`SmallFiles`."""
        base = len(self.rels)
        n = len(batch)
        self.rels.extend([b[0] for b in batch])
        self.abspaths.extend([b[1] for b in batch])
        self.keys.extend([None] * n)
        self.digests.extend([None] * n)
        self.sizes.extend([0] * n)
        self.read.extend([False] * n)
        rows = self.stat_cache.lookup_inodes(dev, [b[2] for b in batch if not b[3]], self.alg)
        send: list[int] = []
        reused = 0
        for k, (_rel, path, ino, link) in enumerate(batch):
            i = base + k
            if not link and ino not in rows:
                send.append(i)  # never seen: stat, read and hash in one go
                continue
            verdict = self._known(i, dev, path, rows, link)
            if verdict == "reused":
                reused += 1
            elif verdict == "send":
                send.append(i)
        if reused:
            self.on_done(reused)
        if send:
            self.jobs.extend(send)
            self.runner.add([self.abspaths[i] for i in send])

    def _known(
        self, i: int, dev: int, path: str, rows: dict[int, tuple[int, int, str]], link: bool
    ) -> str:
        """Stat a file the stat cache may know: ``"reused"`` (its digest stands), ``"large"``
        (left to the pool), ``"send"`` (to be read) or ``"gone"`` (vanished meanwhile)."""
        try:
            st = os.stat(path)
        except FileNotFoundError:  # vanished while scanning
            self.gone.add(i)
            return "gone"
        key = stat_key(st)
        row = rows.get(st.st_ino) if st.st_dev == dev else None
        digest = row[2] if row is not None and row[:2] == key[2:] else None
        if link and digest is None:
            digest = self.stat_cache.lookup_many([key], self.alg)[0]
        if digest is not None and (self.reuse is None or self.reuse(digest, key[2])):
            self.keys[i], self.digests[i], self.sizes[i] = key, digest, key[2]
            return "reused"
        if key[2] >= LARGE_FILE:
            self.leave_large(i, key)
            return "large"
        return "send"

    def leave_large(self, i: int, key: StatKey) -> None:
        """A large file: hashed in the thread pool (in pack mode, left to the caller)."""
        self.keys[i], self.sizes[i] = key, key[2]
        if self.pack_prefix is None:
            self.large[i] = self.pool.submit(hash_file, self.abspaths[i], self.alg)

    def collect(self) -> None:
        """Wait for the helper and the pool, and take in what they read."""
        jobs = self.jobs
        for rid, digest, size, pack, offset, key in self.runner.finish():
            i = jobs[rid]
            self.keys[i], self.digests[i], self.sizes[i], self.read[i] = key, digest, size, True
            if pack is not None:
                self.packed[i] = (pack, offset)
        for rid, key in self.runner.large:
            self.leave_large(jobs[rid], key)
        self.gone.update(jobs[rid] for rid in self.runner.missing)
        for i, fut in self.large.items():
            self.digests[i], self.sizes[i] = fut.result()
            self.read[i] = True
            self.on_done(1)

    def abandon(self) -> None:
        """After a failure: stop the pool and remove the packs written so far."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.runner.remove_packs()

    def result(self) -> TreeDigest:
        """Remember the new digests in the stat cache; the files in logical-path order."""
        self.pool.shutdown(wait=True)
        keys, digests, sizes, read = self.keys, self.digests, self.sizes, self.read
        fresh: list[tuple[StatKey, str]] = []
        for i in range(len(self.rels)):
            key, digest = keys[i], digests[i]
            # a file read whole (its size still the stat's) has a digest worth remembering
            if read[i] and key is not None and digest is not None and sizes[i] == key[2]:
                fresh.append((key, digest))
        self.stat_cache.store_many(fresh, self.alg)
        rels = self.rels
        order = sorted((i for i in range(len(rels)) if i not in self.gone), key=rels.__getitem__)
        return TreeDigest(
            [LocalFile(rels[i], self.abspaths[i], keys[i]) for i in order],  # type: ignore[arg-type]
            [digests[i] for i in order],
            [sizes[i] for i in order],
            [self.packed.get(i) for i in order],
            [read[i] for i in order],
            self.runner.packs,
        )


def stat_file(path: str) -> LocalFile:
    """A :class:`LocalFile` for one file.

    Raises:
        SourceFileNotFoundError: missing or not a regular file.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError as exc:
        raise SourceFileNotFoundError(f"file {path} does not exist") from exc
    if not os.path.isfile(path):
        raise SourceFileNotFoundError(f"{path} is not a regular file; use add_dir for folders")
    return LocalFile(os.path.basename(path), os.path.abspath(path), stat_key(st))


def digest_files(
    files: list[LocalFile],
    alg: str,
    stat_cache: StatCacheLike,
    *,
    on_done: Callable[[int], None] | None = None,
) -> list[str]:
    """Digest of each file, from the stat cache where the file is unchanged, else hashed."""
    digests = stat_cache.lookup_many([f.key for f in files], alg)
    todo = [i for i, d in enumerate(digests) if d is None]
    if on_done and len(todo) < len(files):
        on_done(len(files) - len(todo))
    if todo:
        results = hash_files(
            [files[i].abspath for i in todo], [files[i].size for i in todo], alg, on_done=on_done
        )
        fresh = []
        for i, (digest, size) in zip(todo, results):
            digests[i] = digest
            if size == files[i].size:  # unchanged while hashing: safe to remember
                fresh.append((files[i].key, digest))
        stat_cache.store_many(fresh, alg)
    return [d for d in digests if d is not None]
