"""Hashing many local files fast: the bulk half of hashing.

Hashing many files picks a strategy by size, because the measured costs differ (see
``benchmarks/``): small files are cheapest in one tight loop (threads only add GIL hand-offs),
large files are hashed in a thread pool (hashlib and file reads release the GIL on big buffers,
so both cores work), and a very large number of small files is split with a second process
(:mod:`satchel.ingest.hashworker`). :func:`snapshot_files` also copies what it reads into the
cache's packs (:class:`SmallFiles`). The digest vocabulary is :mod:`satchel.hashing`.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, final

from satchel.hashing import (
    CHUNK,
    LARGE_FILE,
    MD5,
    b64,
    default_workers,
    hash_file,
    new_hasher,
)
from satchel.ingest import hashworker
from satchel.ingest.statcache import stat_key

#: a file read by :class:`SmallFiles`: (id, digest, size read, pack, offset, stat key)
Hashed = tuple[int, str, int, "str | None", int, tuple[int, int, int, int]]
#: below this many small files a helper process costs more than it saves
PROCESS_SPLIT_MIN = 3000
_F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Python 3.10+ on Linux); a constant for older ones


def hash_files(
    paths: Sequence[str],
    sizes: Sequence[int],
    alg: str = MD5,
    *,
    workers: int | None = None,
    on_done: Callable[[int], None] | None = None,
) -> list[tuple[str, int]]:
    """Hash many files, each read once, using the machine's cores.

    Args:
        paths: the files.
        sizes: their sizes from a stat (to choose a strategy, and to read a small file with
            one ``read``; a file that changed size since is still hashed to its end).
        alg: digest algorithm.
        workers: pool size (default :func:`default_workers`); 1 keeps all work in this thread.
        on_done: called with a count of files finished, for progress.

    Returns:
        ``(digest, size)`` per input path, in input order.

    Raises:
        OSError: a file could not be read (``FileNotFoundError`` when it vanished).
    """
    new_hasher(alg)  # fail early on an unavailable algorithm
    workers = workers or default_workers()
    results: list[tuple[str, int] | None] = [None] * len(paths)
    small = [i for i, s in enumerate(sizes) if s < LARGE_FILE]
    large = [i for i, s in enumerate(sizes) if s >= LARGE_FILE]

    def run_large(i: int) -> None:
        results[i] = hash_file(paths[i], alg)
        if on_done:
            on_done(1)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_large, i) for i in large]
        with SmallFiles(alg, workers=workers, on_done=on_done) as runner:
            ids = runner.add([paths[i] for i in small])
            for k, digest, size, _pack, _offset, _key in runner.finish():
                results[small[k - ids.start]] = (digest, size)
        for fut in futures:
            fut.result()
    return results  # type: ignore[return-value]


def snapshot_files(
    paths: Sequence[str],
    sizes: Sequence[int],
    alg: str,
    pack_prefix: str,
    *,
    workers: int | None = None,
    on_done: Callable[[int], None] | None = None,
) -> tuple[list[tuple[str, int, str, int]], list[str]]:
    """Hash small files and copy their bytes into *pack* files, reading each file once.

    A snapshot of many small files then costs one or two file creations instead of one per
    file (creating a file costs 30-900 us on a busy disk; appending 4 KiB costs ~1 us).

    Args:
        paths, sizes: the files and their stat sizes (meant for files under
            :data:`LARGE_FILE`; bigger ones work but are read whole into memory).
        alg: digest algorithm.
        pack_prefix: path prefix of the packs to create (``<prefix>.0``, ``<prefix>.1``); its
            folder must exist.
        workers: 1 keeps all work in this process.
        on_done: progress callback.

    Returns:
        ``([(digest, size, pack_path, offset) per input path], [packs created])``. The caller
        owns the packs and deletes them when done.

    Raises:
        OSError: a file could not be read.
    """
    new_hasher(alg)
    runner = SmallFiles(
        alg, workers=workers or default_workers(), pack_prefix=pack_prefix, on_done=on_done
    )
    out: list[tuple[str, int, str, int] | None] = [None] * len(paths)
    try:
        with runner:
            runner.add(paths)
            for i, digest, size, pack, offset, _key in runner.finish():
                out[i] = (digest, size, pack or "", offset)
    except BaseException:
        runner.remove_packs()
        raise
    return out, runner.packs  # type: ignore[return-value]


@final
class SmallFiles:
    """Hashes small files in this process and, when there are many, in a helper process.

    Files are :meth:`add`-ed (possibly while the caller is still finding more) and go out in
    chunks. The helper (a fresh ``python -I`` running :mod:`satchel.ingest.hashworker`, never a fork)
    starts once :data:`PROCESS_SPLIT_MIN` files were added and is kept two chunks ahead; until
    :meth:`finish`, this process only feeds it (so a caller that scans a folder while adding
    gets hashing done meanwhile on the second core); :meth:`finish` hashes the chunks left
    here while the helper takes more, so the split adapts to the helper's start-up time and
    to each core's load. Chunks the helper could not do (it failed to start or died) and
    files it could not read are redone here, so errors are raised here, as usual. Use as a
    context manager: leaving it stops the helper and closes this process's pack.
    """

    def __init__(
        self,
        alg: str,
        *,
        workers: int,
        pack_prefix: str | None = None,
        on_done: Callable[[int], None] | None = None,
        large_from: int = hashworker.NO_LIMIT,
        missing_ok: bool = False,
    ) -> None:
        """Prepare a run (``workers < 2`` means no helper process; files of at least
        ``large_from`` bytes are only stat-ed and listed in :attr:`large`; with
        ``missing_ok`` a file that vanished is listed in :attr:`missing` instead of raising
        ``FileNotFoundError``)."""
        self.alg = alg
        self.workers = workers
        self.pack_prefix = pack_prefix
        self.on_done = on_done
        self.large_from = large_from
        self.missing_ok = missing_ok
        #: ids of files that vanished (with ``missing_ok``)
        self.missing: list[int] = []
        self.packs: list[str] = []
        #: ``(id, stat key)`` of files left unread because they are large
        self.large: list[tuple[int, tuple[int, int, int, int]]] = []
        self._new = hashworker.constructor(alg)
        self._paths: list[str] = []
        self._pending: list[int] = []
        self._queue: collections.deque[list[int]] = collections.deque()
        self._inflight: collections.deque[list[int]] = collections.deque()
        self._out: list[Hashed] = []
        self._failed: list[int] = []
        self._helper: _Helper | None = None
        self._helper_tried = False
        self._local_pack: BinaryIO | None = None
        self._local_name: str | None = None
        self._offset = 0

    _STEP = 256  # files per chunk: small enough to balance, big enough to amortise a frame

    def __enter__(self) -> SmallFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, paths: Sequence[str]) -> range:
        """Queue files; returns their ids (consecutive, starting at the number added so far)."""
        start = len(self._paths)
        self._paths.extend(paths)
        ids = range(start, len(self._paths))
        pending = self._pending
        pending.extend(ids)
        step = self._STEP
        while len(pending) >= step:
            self._queue.append(pending[:step])
            del pending[:step]
        if not self._helper_tried and self.workers >= 2 and len(self._paths) >= PROCESS_SPLIT_MIN:
            self._start_helper()
        self._feed()
        return ids

    def finish(self) -> list[Hashed]:
        """Hash everything added; returns ``(id, digest, size, pack, offset, stat key)`` per
        file read (the key from the stat taken right before reading), in no particular order;
        large files are in :attr:`large`.

        Raises:
            OSError: a file could not be read.
        """
        if self._pending:
            self._queue.append(self._pending)
            self._pending = []
        while self._queue:
            self._feed()
            if self._queue:
                self._local(self._queue.popleft())
        helper = self._helper
        while self._inflight:
            waited = helper.wait() if helper is not None else None
            chunk = self._inflight.popleft()
            if waited is None:  # the helper died: do its chunks here
                self._local(chunk)
            else:
                self._absorb(chunk, waited, helper.pack if helper else None)
        if helper is not None:
            helper.close()
            self._helper = None
        for i in self._failed:  # raises the real error, or hashes a file that came back
            redone = self._redo(i)
            if redone is not None:
                self._out.append(redone)
        self._failed = []
        return self._out

    def close(self) -> None:
        """Stop the helper (if still running) and close this process's pack."""
        if self._helper is not None:
            self._helper.kill()
            self._helper = None
        if self._local_pack is not None:
            self._local_pack.close()
            self._local_pack = None

    def remove_packs(self) -> None:
        """Delete the packs (after a failure)."""
        self.close()
        for p in self.packs:
            with contextlib.suppress(OSError):
                os.unlink(p)

    # -- internals ------------------------------------------------------------------------
    def _start_helper(self) -> None:
        self._helper_tried = True
        pack = f"{self.pack_prefix}.1" if self.pack_prefix is not None else None
        self._helper = _Helper.start(self.alg, pack, self.large_from)
        if self._helper is not None and pack is not None:
            self.packs.append(pack)

    def _feed(self) -> None:
        helper = self._helper
        if helper is None or not helper.alive:
            return
        for answer in helper.ready():
            self._absorb(self._inflight.popleft(), answer, helper.pack)
        paths = self._paths
        while self._queue and len(self._inflight) < 2 and helper.alive:
            chunk = self._queue[0]
            if not helper.send([paths[i] for i in chunk]):
                return
            self._inflight.append(self._queue.popleft())

    def _absorb(self, chunk: Sequence[int], answer: bytes, pack: str | None) -> None:
        meta, digests = hashworker.parse_answer(answer, len(chunk))
        out, failed = self._out, self._failed
        left = len(self.large)
        for k, i in enumerate(chunk):
            size, offset, dev, ino, st_size, changed = meta[6 * k : 6 * k + 6]
            if size >= 0:
                out.append((i, digests[k], size, pack, offset, (dev, ino, st_size, changed)))
            elif size == hashworker.LARGE:
                self.large.append((i, (dev, ino, st_size, changed)))
            else:
                failed.append(i)
        if self.on_done:  # large files count once their owner has hashed or copied them
            self.on_done(len(chunk) - (len(self.large) - left))

    def _open_local_pack(self) -> BinaryIO | None:
        if self.pack_prefix is not None and self._local_pack is None:
            self._local_name = f"{self.pack_prefix}.0"
            self._local_pack = open(self._local_name, "xb", buffering=CHUNK)  # noqa: SIM115
            self.packs.append(self._local_name)
        return self._local_pack

    def _local(self, chunk: Sequence[int]) -> None:
        pack = self._open_local_pack()
        answer, self._offset = hashworker.run_job(
            [self._paths[i] for i in chunk], self._new, pack, self._offset, self.large_from
        )
        self._absorb(chunk, answer, self._local_name)

    def _redo(self, i: int) -> Hashed | None:
        pack = self._open_local_pack()
        h = new_hasher(self.alg)
        start = pack.tell() if pack is not None else 0
        size = 0
        try:
            f = open(self._paths[i], "rb", buffering=0)  # noqa: SIM115 - closed below
        except FileNotFoundError:
            if not self.missing_ok:
                raise
            self.missing.append(i)
            return None
        with f:
            st = os.fstat(f.fileno())
            key = stat_key(st)
            if st.st_size >= self.large_from:
                self.large.append((i, key))
                return None
            while chunk := f.read(CHUNK):
                h.update(chunk)
                if pack is not None:
                    pack.write(chunk)
                size += len(chunk)
        if pack is not None:
            self._offset = pack.tell()
        return (i, b64(h.digest()), size, self._local_name, start, key)


class _Helper:
    """One helper process running :mod:`satchel.ingest.hashworker`; answers jobs in order."""

    def __init__(self, proc: subprocess.Popen[bytes], pack: str | None) -> None:
        self.proc = proc
        self.pack = pack
        self.alive = True
        self._frames: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._reader = threading.Thread(target=self._read, name="satchel-hash-helper", daemon=True)
        self._reader.start()

    @classmethod
    def start(cls, alg: str, pack: str | None, large_from: int) -> _Helper | None:
        """Start a helper, or return ``None`` where no Python interpreter can be started."""
        exe = sys.executable
        if not exe or not os.path.exists(exe):
            return None
        # -I: ignore PYTHON* variables and the user's site; -S: skip site-packages too (only
        # the standard library is needed for md5; xxh128 needs the xxhash package).
        args = [exe, "-I", *(["-S"] if alg == MD5 else []), hashworker.__file__]
        try:
            proc = subprocess.Popen(
                args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
            )
        except OSError:
            return None
        if sys.platform.startswith("linux"):  # room for two jobs in flight without blocking
            with contextlib.suppress(OSError, ValueError, AttributeError):
                import fcntl

                fcntl.fcntl(proc.stdin.fileno(), _F_SETPIPE_SZ, 1 << 20)  # type: ignore[union-attr]
        helper = cls(proc, pack)
        if not helper._send(hashworker.encode_config(alg, pack, large_from)):
            helper.kill()
            return None
        return helper

    def _read(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        try:
            while True:
                payload = hashworker.read_frame(stdout)
                self._frames.put(payload)
                if not payload:
                    break
        except (EOFError, OSError, ValueError):
            pass
        self._frames.put(None)

    def _send(self, payload: bytes) -> bool:
        try:
            assert self.proc.stdin is not None
            hashworker.write_frame(self.proc.stdin, payload)
            return True
        except (OSError, ValueError):
            self.alive = False
            return False

    def send(self, paths: Sequence[str]) -> bool:
        """Queue a job; ``False`` when the helper is gone."""
        return self._send(hashworker.encode_job(paths))

    def ready(self) -> list[bytes]:
        """Answers that have arrived, without waiting."""
        out: list[bytes] = []
        while True:
            try:
                frame = self._frames.get_nowait()
            except queue.Empty:
                return out
            if not frame:  # None: the helper died
                self.alive = False
                return out
            out.append(frame)

    def wait(self) -> bytes | None:
        """The next answer, waiting for it; ``None`` when the helper died."""
        if not self.alive:
            return None
        frame = self._frames.get()
        if not frame:
            self.alive = False
            return None
        return frame

    def close(self) -> None:
        """Ask the helper to finish (it closes its pack first) and wait for it."""
        if self.alive and self._send(b""):
            while (frame := self._frames.get()) is not None and frame:
                pass
            self.alive = False
        self.kill()

    def kill(self) -> None:
        """Make sure the process is gone and reaped."""
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError, ValueError):
                if stream is not None:
                    stream.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
