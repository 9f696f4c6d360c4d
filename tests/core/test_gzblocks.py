"""Gzip members compressed and inflated on several threads (satchel.gzblocks)."""

from __future__ import annotations

import gzip
import os

import pytest

from satchel import gzblocks


def _pieces() -> list[bytes]:
    return [b"", b"header", os.urandom(100_000), b"json " * 50_000, b"tail"]


def test_members_round_trip_and_are_plain_gzip() -> None:
    pieces = _pieces()
    seen: list[bytes] = []
    blob = gzblocks.compress(iter(pieces), each=seen.append)
    assert seen == pieces
    assert gzblocks.decompress(blob) == b"".join(pieces)
    assert gzblocks.decompress(blob, threads=1) == b"".join(pieces)
    assert gzip.decompress(blob) == b"".join(pieces)  # any gzip reader can read it


def test_other_gzip_data_is_read_too() -> None:
    data = b"made elsewhere " * 1000
    assert gzblocks.decompress(gzip.compress(data)) == data
    assert gzblocks.decompress(gzblocks.compress([])) == b""


def test_corrupt_or_truncated_members_are_errors() -> None:
    blob = bytearray(gzblocks.compress([b"a" * 5000, b"b" * 5000]))
    with pytest.raises(EOFError, match="truncated"):
        gzblocks.decompress(bytes(blob[:-3]))
    blob[-9] ^= 0xFF  # inside the second member's deflate data or CRC
    with pytest.raises(OSError, match="gzip member at byte"):
        gzblocks.decompress(bytes(blob))
