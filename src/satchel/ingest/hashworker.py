"""The inner loop that hashes many small files, and the helper process that runs it.

:mod:`satchel.hashing` runs :func:`run_job` in the calling process and, for many files, also
starts this file as a script (``python -I -S hashworker.py``) so a second core hashes too. The
module imports only the standard library (and ``xxhash`` for ``xxh128``), so the helper starts
in a few milliseconds without importing satchel, and nothing is forked from a process that may
run threads.

Each file is opened, ``fstat``-ed (which gives the stat-cache key without a path lookup) and
read with a single ``read`` of its size plus one byte (a file that grew is read to its end). With a *pack*, the bytes
are also appended to that file, which makes a snapshot of many small files with one file
creation instead of one per file (see ``satchel.draft``).

Protocol on the helper's stdin and stdout (integers little-endian)::

    frame   := u32 length, payload
    stdin   := config frame (algorithm name, NUL, pack path or nothing, NUL, large_from),
               job frames (u32 n, n NUL-separated file paths),
               an empty frame (finish)
    stdout  := one answer frame per job, in order (see :func:`run_job`); after the empty
               frame the pack is closed, an empty frame is written and the process exits.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import os
import struct
import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the helper should not import typing
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import IO, Any

U32 = struct.Struct("<I")
#: size in an answer for a file that could not be opened or read
FAILED = -1
#: size in an answer for a file at least ``large_from`` bytes big, stat-ed but not read
LARGE = -2
#: no size limit
NO_LIMIT = 1 << 62
_FIELDS = 6
#: length of a padded base64 digest of 16 bytes (md5 and xxh128)
B64_LEN = 24
READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
_CHUNK = 1 << 20
_NO_DIGEST = b"=" * B64_LEN


def constructor(alg: str) -> Callable[..., Any]:
    """``new(data) -> hasher`` for ``"md5"`` or ``"xxh128"`` (``ImportError`` without xxhash)."""
    if alg == "md5":  # a partial is called without a Python frame, unlike a lambda
        return functools.partial(hashlib.md5, usedforsecurity=False)
    if alg == "xxh128":
        import xxhash

        return xxhash.xxh3_128
    raise ValueError(f"unknown digest algorithm {alg!r}")


def run_job(
    paths: Sequence[str | bytes],
    new: Callable[..., Any],
    pack: IO[bytes] | None = None,
    offset: int = 0,
    large_from: int = NO_LIMIT,
) -> tuple[bytes, int]:
    """Stat (``fstat`` of the open file), read once and hash ``paths``; append their bytes
    to ``pack``.

    Args:
        paths: the files.
        new: hasher constructor from :func:`constructor`.
        pack: open binary file the bytes are appended to, or ``None``.
        offset: the pack's current size.
        large_from: files at least this big are not read, only stat-ed (answer :data:`LARGE`).

    Returns:
        ``(answer, new_offset)``. The answer holds, per file, six i64 (size read, pack
        offset, st_dev, st_ino, st_size and the change stamp ``max(st_mtime_ns, st_ctime_ns)``
        of the stat taken before reading, as :func:`satchel.ingest.statcache.change_ns`), then
        per file a padded base64 digest of :data:`B64_LEN` ASCII bytes (see
        :func:`parse_answer`). Size :data:`FAILED` marks a file that could not be opened or
        read (the caller redoes it to raise the real error); :data:`LARGE` one left unread.
    """
    meta: list[int] = []
    digests: list[bytes] = []
    add_meta, add_digest = meta.extend, digests.append
    b2a = binascii.b2a_base64
    o_open, o_read, o_close, o_fstat = os.open, os.read, os.close, os.fstat
    write = pack.write if pack is not None else None
    for path in paths:
        try:
            fd = o_open(path, READ_FLAGS)
        except OSError:
            add_meta((FAILED, 0, 0, 0, 0, 0))
            add_digest(_NO_DIGEST)
            continue
        n = 0
        try:
            st = o_fstat(fd)
            size = st.st_size
            if size >= large_from:
                add_meta(
                    (LARGE, 0, st.st_dev, st.st_ino, size, max(st.st_mtime_ns, st.st_ctime_ns))
                )
                add_digest(_NO_DIGEST)
                continue
            data = o_read(fd, size + 1)
            h = new(data)
            if write is not None:
                write(data)
            n = len(data)
            if n > size:  # grew since the stat: read the rest
                while chunk := o_read(fd, _CHUNK):
                    h.update(chunk)
                    if write is not None:
                        write(chunk)
                    n += len(chunk)
        except OSError:
            add_meta((FAILED, 0, 0, 0, 0, 0))
            add_digest(_NO_DIGEST)
            if pack is not None:  # bytes already appended stay in the pack, unused
                offset = pack.tell()
            continue
        finally:
            o_close(fd)
        add_meta((n, offset, st.st_dev, st.st_ino, size, max(st.st_mtime_ns, st.st_ctime_ns)))
        add_digest(b2a(h.digest(), newline=False))
        if write is not None:
            offset += n
    return struct.pack(f"<{len(meta)}q", *meta) + b"".join(digests), offset


def parse_answer(answer: bytes, n: int) -> tuple[tuple[int, ...], list[str]]:
    """Split an answer for ``n`` files into the flat i64 fields (six per file) and digests."""
    meta = struct.unpack_from(f"<{_FIELDS * n}q", answer)
    text = answer[8 * _FIELDS * n :].decode("ascii")
    return meta, [text[k : k + B64_LEN] for k in range(0, B64_LEN * n, B64_LEN)]


def encode_config(alg: str, pack: str | None, large_from: int = NO_LIMIT) -> bytes:
    """The payload of the config frame."""
    return b"\0".join((alg.encode(), os.fsencode(pack) if pack else b"", str(large_from).encode()))


_FS_ENCODING = sys.getfilesystemencoding()
_FS_ERRORS = sys.getfilesystemencodeerrors()


def encode_job(paths: Sequence[str]) -> bytes:
    """The payload of a job frame (paths encoded as :func:`os.fsencode` would)."""
    return U32.pack(len(paths)) + "\0".join(paths).encode(_FS_ENCODING, _FS_ERRORS)


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = stream.read(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def read_frame(stream: IO[bytes]) -> bytes:
    """Read one frame's payload (``EOFError`` at end of stream)."""
    (length,) = U32.unpack(_read_exact(stream, 4))
    return _read_exact(stream, length) if length else b""


def write_frame(stream: IO[bytes], payload: bytes) -> None:
    """Write and flush one frame."""
    stream.write(U32.pack(len(payload)) + payload)
    stream.flush()


def main() -> int:
    """Helper-process entry point: serve jobs from stdin until an empty frame or EOF."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    try:
        alg, pack_path, large = read_frame(stdin).split(b"\0")
    except EOFError:
        return 0
    new = constructor(alg.decode())
    large_from = int(large)
    pack = open(pack_path, "xb", buffering=_CHUNK) if pack_path else None  # noqa: SIM115
    offset = 0
    try:
        while True:
            try:
                payload = read_frame(stdin)
            except EOFError:
                return 0
            if not payload:
                break
            (n,) = U32.unpack_from(payload)
            paths = payload[4:].split(b"\0") if n else []
            answer, offset = run_job(paths, new, pack, offset, large_from)
            if pack is not None:
                pack.flush()  # the bytes are in the file before their answer is sent
            write_frame(stdout, answer)
    finally:
        if pack is not None:
            pack.close()
    write_frame(stdout, b"")
    return 0


if __name__ == "__main__":
    sys.exit(main())
