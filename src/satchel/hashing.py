"""Content digests: what a file's bytes hash to.

A *digest* is the standard, padded base64 of a checksum, always paired with its algorithm:

* ``md5`` (the default): base64 MD5, exactly the string W&B writes for an entry;
* ``xxh128``: base64 XXH128 (``pip install "satchel[xxhash]"``), marked on each entry as
  ``extra["alg"] = "XXH128"``, as W&B does.

An *oid* is the lowercase hex form of the same checksum, used as the object key in stores and
caches (``objects/<alg>/<oid[:2]>/<oid[2:]>``).

Hashing many files at once (folders, snapshots into the cache) lives in
:mod:`satchel.ingest.bulk`; this module is the small vocabulary everything else speaks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from typing import Protocol

from satchel.errors import ConfigError, HandlerUnavailableError, InvalidDigestError

MD5 = "md5"
XXH128 = "xxh128"
ALGORITHMS = (MD5, XXH128)
CHUNK = 1 << 20
#: files at least this large are hashed in the thread pool
LARGE_FILE = 1 << 20


class Hasher(Protocol):
    """The part of the hashlib interface satchel uses."""

    def update(self, data: bytes | memoryview, /) -> None: ...

    def digest(self) -> bytes: ...


def check_algorithm(alg: str) -> str:
    """Return ``alg`` if satchel knows it, else raise :class:`ConfigError`."""
    if alg not in ALGORITHMS:
        raise ConfigError(f"unknown digest algorithm {alg!r}; use one of {', '.join(ALGORITHMS)}")
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
        InvalidDigestError: ``digest`` is not valid base64 (a ``ValueError``).
    """
    try:
        return base64.b64decode(digest, validate=True).hex()
    except binascii.Error as exc:
        raise InvalidDigestError(
            f"digest {digest!r} is not base64; give the digest as the base64 of its bytes "
            "(as manifests hold it: 'rL0Y20zC+Fzt72VPzMSk2A==' for an MD5)"
        ) from exc


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
