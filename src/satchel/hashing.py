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
import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from satchel.errors import ConfigError, HandlerUnavailableError

MD5 = "md5"
XXH128 = "xxh128"
ALGORITHMS = (MD5, XXH128)
CHUNK = 1 << 20
#: files at least this large are hashed in the thread pool
LARGE_FILE = 1 << 20
#: below this many small files a second process costs more than it saves
PROCESS_SPLIT_MIN = 6000


class Hasher(Protocol):
    """The part of the hashlib interface satchel uses."""

    def update(self, data: bytes | memoryview, /) -> None: ...  # noqa: D102

    def digest(self) -> bytes: ...  # noqa: D102


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
    size = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            size += len(chunk)
            h.update(chunk)
    return b64(h.digest()), size


def _hash_small(paths: Sequence[str], alg: str) -> list[tuple[str, int]]:
    # One read per small file: open + read() + hash is ~17 us per warm 4 KiB file.
    out: list[tuple[str, int]] = []
    append = out.append
    if alg == MD5:
        md5 = hashlib.md5
        enc = base64.b64encode
        for p in paths:
            with open(p, "rb", buffering=0) as f:
                data = f.read()
                if len(data) >= CHUNK:  # grew past the small-file size; stream the rest
                    h = md5(data, usedforsecurity=False)
                    size = len(data)
                    while chunk := f.read(CHUNK):
                        h.update(chunk)
                        size += len(chunk)
                    append((enc(h.digest()).decode("ascii"), size))
                    continue
            append((enc(md5(data, usedforsecurity=False).digest()).decode("ascii"), len(data)))
        return out
    for p in paths:
        append(hash_file(p, alg))
    return out


def _hash_small_worker(args: tuple[list[str], str]) -> list[tuple[str, int]]:
    return _hash_small(args[0], args[1])


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
        sizes: their sizes from a stat (used only to choose a strategy).
        alg: digest algorithm.
        workers: pool size (default :func:`default_workers`).
        on_done: called with a count of files finished, for progress.

    Returns:
        ``(digest, size)`` per input path, in input order.
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

    if len(small) >= PROCESS_SPLIT_MIN:
        _process_pool(workers)  # fork before any thread starts
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_large, i) for i in large]
        _hash_small_indices(paths, small, alg, results, workers, on_done)
        for fut in futures:
            fut.result()
    done: list[tuple[str, int]] = []
    for r in results:
        assert r is not None
        done.append(r)
    return done


def _hash_small_indices(
    paths: Sequence[str],
    idx: list[int],
    alg: str,
    results: list[tuple[str, int] | None],
    workers: int,
    on_done: Callable[[int], None] | None,
) -> None:
    if not idx:
        return
    batch = 2000
    chunks = [idx[i : i + batch] for i in range(0, len(idx), batch)]
    pool = _process_pool(workers) if len(idx) >= PROCESS_SPLIT_MIN else None
    if pool is None:
        for chunk in chunks:
            for i, r in zip(chunk, _hash_small([paths[i] for i in chunk], alg)):
                results[i] = r
            if on_done:
                on_done(len(chunk))
        return
    # Alternate chunks between this process and one forked helper so both cores hash.
    remote = chunks[1::2]
    futs = [pool.submit(_hash_small_worker, ([paths[i] for i in c], alg)) for c in remote]
    for chunk in chunks[0::2]:
        for i, r in zip(chunk, _hash_small([paths[i] for i in chunk], alg)):
            results[i] = r
        if on_done:
            on_done(len(chunk))
    for chunk, fut in zip(remote, futs):
        for i, r in zip(chunk, fut.result()):
            results[i] = r
        if on_done:
            on_done(len(chunk))


def _process_pool(workers: int):  # type: ignore[no-untyped-def]
    """A one-process forked helper pool, or ``None`` where fork is unavailable."""
    import multiprocessing

    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    return _SharedPool.get()


class _SharedPool:
    """A lazily created, reused single-process helper (fork start), shut down at exit."""

    _pool = None
    _pid = -1

    @classmethod
    def get(cls):  # type: ignore[no-untyped-def]
        import atexit
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if cls._pool is None or cls._pid != os.getpid():
            cls._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
            cls._pool.submit(int).result()  # start the helper now, while no thread runs
            cls._pid = os.getpid()
            atexit.register(cls._pool.shutdown, wait=False, cancel_futures=True)
        return cls._pool
