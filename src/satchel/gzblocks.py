"""Gzip as independent members, compressed and decompressed on several threads.

A manifest of a million entries is ~75 MB of JSON and zlib manages ~75 MB/s per core here, but
zlib releases the GIL. So the data is cut into pieces, each compressed as its own gzip member
(RFC 1952 allows any number of members; every gzip reader concatenates them), on a small
thread pool. Each member records its own total length in an extra field (subfield ``SL``,
four bytes little-endian), so a reader finds every member without inflating anything and
inflates them in parallel too. Data without these hints (any other gzip file) is read with
:func:`gzip.decompress`. CRC-32 and length of every member are checked.
"""

from __future__ import annotations

import collections
import gzip
import struct
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor

# magic + deflate + FEXTRA flag, mtime 0, xfl, os (255: unknown), xlen, subfield, its length,
# and the member's total length (header + deflate data + CRC-32 + size).
_HEADER = struct.Struct("<4sIBBH2sHI")
_MAGIC = b"\x1f\x8b\x08\x04"
_SUBFIELD = b"SL"
_TRAILER = struct.Struct("<II")
_FIXED = _HEADER.size + _TRAILER.size
THREADS = 2


def compress_member(data: bytes, level: int = 1) -> bytes:
    """One gzip member holding ``data``, with its length hint."""
    comp = zlib.compressobj(level, zlib.DEFLATED, -15)
    body = comp.compress(data) + comp.flush()
    total = _FIXED + len(body)
    header = _HEADER.pack(_MAGIC, 0, 0, 255, 8, _SUBFIELD, 4, total)
    return header + body + _TRAILER.pack(zlib.crc32(data), len(data) & 0xFFFFFFFF)


def compress(
    pieces: Iterable[bytes],
    level: int = 1,
    *,
    each: Callable[[bytes], None] | None = None,
    threads: int = THREADS,
) -> bytes:
    """Gzip the concatenation of ``pieces``, one member per piece, on ``threads`` threads.

    Args:
        pieces: the data, in order (produced while earlier pieces are being compressed).
        level: zlib level.
        each: called with every piece, in order, in this thread (e.g. to hash it).
        threads: compression threads.
    """
    out: list[bytes] = []
    pending: collections.deque[Future[bytes]] = collections.deque()
    with ThreadPoolExecutor(threads, thread_name_prefix="satchel-gzip") as pool:
        for piece in pieces:
            if each is not None:
                each(piece)
            while len(pending) > threads:  # bounded: memory stays flat
                out.append(pending.popleft().result())
            pending.append(pool.submit(compress_member, piece, level))
        out.extend(f.result() for f in pending)
    return b"".join(out)


def decompress(blob: bytes, *, threads: int = THREADS) -> bytes:
    """The data of a gzip file: in parallel when its members carry length hints.

    Raises:
        OSError: corrupt data (``gzip.BadGzipFile`` for other gzip files).
        EOFError: truncated data.
    """
    members: list[tuple[int, int]] = []
    view = memoryview(blob)
    offset = 0
    while offset < len(blob):
        if len(blob) - offset < _FIXED or blob[offset : offset + 4] != _MAGIC:
            return gzip.decompress(blob)
        _m, _t, _x, _o, xlen, sub, sublen, total = _HEADER.unpack_from(blob, offset)
        if xlen != 8 or sub != _SUBFIELD or sublen != 4 or total < _FIXED:
            return gzip.decompress(blob)
        if offset + total > len(blob):
            raise EOFError("gzip data is truncated")
        members.append((offset, total))
        offset += total

    def inflate(member: tuple[int, int]) -> bytes:
        start, total = member
        try:
            data = zlib.decompress(view[start + _HEADER.size : start + total - _TRAILER.size], -15)
        except zlib.error as exc:
            raise OSError(f"corrupt gzip member at byte {start}: {exc}") from exc
        crc, size = _TRAILER.unpack_from(blob, start + total - _TRAILER.size)
        if zlib.crc32(data) != crc or len(data) & 0xFFFFFFFF != size:
            raise OSError(f"gzip member at byte {start} fails its CRC-32 or length check")
        return data

    if len(members) < 2 or threads < 2:
        return b"".join(map(inflate, members))
    with ThreadPoolExecutor(threads, thread_name_prefix="satchel-gunzip") as pool:
        return b"".join(pool.map(inflate, members))
