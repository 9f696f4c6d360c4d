"""Content digests: what a file's bytes hash to, and hashing many files fast.

A *digest* is the standard, padded base64 of a checksum, always paired with its algorithm:

* ``md5`` (the default): base64 MD5, exactly the string W&B writes for an entry;
* ``xxh128``: base64 XXH128 (``pip install "satchel[xxhash]"``), marked on each entry as
  ``extra["alg"] = "XXH128"``, as W&B does.

An *oid* is the lowercase hex form of the same checksum, used as the object key in stores and
caches (``objects/<alg>/<oid[:2]>/<oid[2:]>``).

Hashing many files picks a strategy by size, because the measured costs differ (see
``benchmarks/``): small files are cheapest in one tight loop (threads only add GIL hand-offs),
large files are hashed in a thread pool (hashlib and file reads release the GIL on big buffers,
so both cores work), and a very large number of small files is split with a second process.
"""

from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import hashlib
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, Protocol

from satchel import hashworker
from satchel.errors import ConfigError, HandlerUnavailableError

MD5 = "md5"
XXH128 = "xxh128"
ALGORITHMS = (MD5, XXH128)
CHUNK = 1 << 20
#: files at least this large are hashed in the thread pool
LARGE_FILE = 1 << 20
#: below this many small files a helper process costs more than it saves
PROCESS_SPLIT_MIN = 3000
_F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Python 3.10+ on Linux); a constant for older ones


class Hasher(Protocol):
    """The part of the hashlib interface satchel uses."""

    def update(self, data: bytes | memoryview, /) -> None: ...

    def digest(self) -> bytes: ...


def check_algorithm(alg: str) -> str:
    """Return ``alg`` if satchel knows it, else raise :class:`ConfigError`."""
    if alg not in ALGORITHMS:
        raise ConfigError(
            f"unknown digest algorithm {alg!r}; use one of {', '.join(ALGORITHMS)}"
        )
    return alg


def new_hasher(alg: str = MD5) -> Hasher:
    """Return a fresh incremental hasher for ``alg``.

    Raises:
        ConfigError: unknown algorithm.
        HandlerUnavailableError: ``xxh128`` without the ``xxhash`` package installed.
    """
    if alg == MD5:
        return hashlib.md5(usedforsecurity=False)
    if alg == XXH128:
        try:
            import xxhash
        except ImportError as exc:
            raise HandlerUnavailableError(
                'digest_algorithm="xxh128" needs the xxhash package: pip install "satchel[xxhash]"'
            ) from exc
        h: Hasher = xxhash.xxh3_128()
        return h
    check_algorithm(alg)
    raise AssertionError("unreachable")


def b64(raw: bytes) -> str:
    """Encode a raw checksum as padded standard base64."""
    return base64.b64encode(raw).decode("ascii")


def b64_to_hex(digest: str) -> str:
    """Turn a base64 digest into its hex oid.

    Raises:
        ValueError: ``digest`` is not valid base64.
    """
    try:
        return base64.b64decode(digest, validate=True).hex()
    except binascii.Error as exc:
        raise ValueError(f"digest {digest!r} is not base64") from exc


def hex_to_b64(oid: str) -> str:
    """Turn a hex oid into its base64 digest."""
    return b64(bytes.fromhex(oid))


def hash_bytes(data: bytes, alg: str = MD5) -> str:
    """Return the base64 digest of ``data``."""
    h = new_hasher(alg)
    h.update(data)
    return b64(h.digest())


def hash_file(path: str | os.PathLike[str], alg: str = MD5) -> tuple[str, int]:
    """Hash one file, reading it once.

    Returns:
        ``(digest, size)``.
    """
    h = new_hasher(alg)
    with open(path, "rb", buffering=0) as f:
        if os.fstat(f.fileno()).st_size < CHUNK:
            data = f.readall()  # small: one read
            h.update(data)
            size = len(data)
            if size < CHUNK:
                return b64(h.digest()), size
        else:
            size = 0
        buf = bytearray(CHUNK)  # large: one reused buffer; hashlib releases the GIL
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
            size += n
    return b64(h.digest()), size


def default_workers() -> int:
    """The pool size used for I/O and hashing: the usable CPUs, at least 2, at most 16."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 2
    return max(2, min(16, n))


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
        for i, digest, size, _pack, _offset in SmallFiles(alg, workers=workers).run(
            paths, sizes, small, on_done
        ):
            results[i] = (digest, size)
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
    runner = SmallFiles(alg, workers=workers or default_workers(), pack_prefix=pack_prefix)
    out: list[tuple[str, int, str, int] | None] = [None] * len(paths)
    try:
        for i, digest, size, pack, offset in runner.run(
            paths, sizes, range(len(paths)), on_done
        ):
            out[i] = (digest, size, pack or "", offset)
    except BaseException:
        for p in runner.packs:
            with contextlib.suppress(OSError):
                os.unlink(p)
        raise
    return out, runner.packs  # type: ignore[return-value]


class SmallFiles:
    """Hashes many small files in this process and, when there are many, in a helper process.

    Files go out in chunks. The helper (a fresh ``python -I`` running
    :mod:`satchel.hashworker`, never a fork) is kept two chunks ahead; this process hashes every
    other chunk itself, so the split adapts to the helper's start-up time and to each core's
    load. Chunks the helper could not do (it failed to start or died) are redone here, and so
    is every file the helper could not read, so errors are raised here, as usual.
    """

    def __init__(self, alg: str, *, workers: int, pack_prefix: str | None = None) -> None:
        """Prepare a run (``workers < 2`` means no helper process)."""
        self.alg = alg
        self.workers = workers
        self.pack_prefix = pack_prefix
        self.packs: list[str] = []

    def run(
        self,
        paths: Sequence[str],
        sizes: Sequence[int],
        idx: Sequence[int],
        on_done: Callable[[int], None] | None = None,
    ) -> list[tuple[int, str, int, str | None, int]]:
        """Hash ``paths[i]`` for ``i`` in ``idx``.

        Returns:
            ``(i, digest, size, pack, offset)`` per file, in no particular order.
        """
        if not idx:
            return []
        new = hashworker.constructor(self.alg)
        n = len(idx)
        step = max(64, min(512, n // 32))
        chunks = [idx[k : k + step] for k in range(0, n, step)]
        out: list[tuple[int, str, int, str | None, int]] = []
        failed: list[int] = []
        local_pack = None
        local_name: str | None = None
        helper: _Helper | None = None
        offset = 0

        def absorb(chunk: Sequence[int], answer: bytes, pack: str | None) -> None:
            meta, digests = hashworker.parse_answer(answer, len(chunk))
            for k, i in enumerate(chunk):
                size = meta[2 * k]
                if size < 0:
                    failed.append(i)
                else:
                    out.append((i, digests[k], size, pack, meta[2 * k + 1]))
            if on_done:
                on_done(len(chunk))

        def local(chunk: Sequence[int]) -> None:
            nonlocal offset
            answer, offset = hashworker.run_job(
                [paths[i] for i in chunk], [sizes[i] for i in chunk], new, local_pack, offset
            )
            absorb(chunk, answer, local_name)

        try:
            if self.pack_prefix is not None:
                local_name = f"{self.pack_prefix}.0"
                local_pack = open(local_name, "xb", buffering=CHUNK)  # noqa: SIM115
                self.packs.append(local_name)
            if self.workers >= 2 and n >= PROCESS_SPLIT_MIN:
                helper_pack = f"{self.pack_prefix}.1" if self.pack_prefix is not None else None
                helper = _Helper.start(self.alg, helper_pack)
                if helper is not None and helper_pack is not None:
                    self.packs.append(helper_pack)
            inflight: collections.deque[Sequence[int]] = collections.deque()
            for chunk in chunks:
                if helper is not None and helper.alive:
                    for answer in helper.ready():
                        absorb(inflight.popleft(), answer, helper.pack)
                    if len(inflight) < 2 and helper.send(
                        [paths[i] for i in chunk], [sizes[i] for i in chunk]
                    ):
                        inflight.append(chunk)
                        continue
                local(chunk)
            while inflight:
                waited = helper.wait() if helper is not None else None
                chunk = inflight.popleft()
                if waited is None:  # the helper died: do its chunks here
                    local(chunk)
                else:
                    absorb(chunk, waited, helper.pack if helper else None)
            if helper is not None:
                helper.close()
                helper = None
            for i in failed:  # raises the real error, or hashes a file that came back
                out.append(self._redo(i, paths[i], local_pack, local_name))
        finally:
            if helper is not None:
                helper.kill()
            if local_pack is not None:
                local_pack.close()
        return out

    def _redo(
        self, i: int, path: str, pack: BinaryIO | None, pack_name: str | None
    ) -> tuple[int, str, int, str | None, int]:
        h = new_hasher(self.alg)
        start = pack.tell() if pack is not None else 0
        size = 0
        with open(path, "rb", buffering=0) as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
                if pack is not None:
                    pack.write(chunk)
                size += len(chunk)
        return (i, b64(h.digest()), size, pack_name, start)


class _Helper:
    """One helper process running :mod:`satchel.hashworker`; answers jobs in order."""

    def __init__(self, proc: subprocess.Popen[bytes], pack: str | None) -> None:
        self.proc = proc
        self.pack = pack
        self.alive = True
        self._frames: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._reader = threading.Thread(target=self._read, name="satchel-hash-helper", daemon=True)
        self._reader.start()

    @classmethod
    def start(cls, alg: str, pack: str | None) -> _Helper | None:
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
        if not helper._send(hashworker.encode_config(alg, pack)):
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

    def send(self, paths: Sequence[str], sizes: Sequence[int]) -> bool:
        """Queue a job; ``False`` when the helper is gone."""
        return self._send(hashworker.encode_job(paths, sizes))

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
