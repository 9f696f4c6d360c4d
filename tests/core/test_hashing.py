"""Digests (md5, xxh128) and the parallel file-hashing strategies (satchel.hashing)."""

from __future__ import annotations

import base64
import hashlib
import os
import sys
from pathlib import Path

import pytest
import xxhash

from satchel import Artifact
from satchel import hashing as h
from satchel.errors import ConfigError, HandlerUnavailableError, InvalidDigestError
from satchel.ingest import bulk
from tests.conftest import count_opens


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def xxh_b64(data: bytes) -> str:
    return base64.b64encode(xxhash.xxh3_128(data).digest()).decode()


def _content(i: int, size: int) -> bytes:
    return (f"{i}:".encode() * (size // 3 + 1))[:size]


def _files(root: Path, sizes: list[int]) -> tuple[list[str], list[bytes]]:
    root.mkdir(parents=True, exist_ok=True)
    paths, datas = [], []
    for i, size in enumerate(sizes):
        data = _content(i, size)
        p = root / f"f{i:05d}"
        p.write_bytes(data)
        paths.append(str(p))
        datas.append(data)
    return paths, datas


@pytest.mark.parametrize("data", [b"", b"hello", os.urandom(3 * h.CHUNK + 17)])
def test_hash_bytes_and_file_equal_hashlib_md5(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "x"
    p.write_bytes(data)
    assert h.hash_bytes(data) == md5_b64(data)
    assert h.hash_file(p) == (md5_b64(data), len(data))


@pytest.mark.parametrize("data", [b"", b"hello", os.urandom(2 * h.CHUNK + 5)])
def test_xxh128_equals_xxhash(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "x"
    p.write_bytes(data)
    assert h.hash_bytes(data, h.XXH128) == xxh_b64(data)
    assert h.hash_file(p, h.XXH128) == (xxh_b64(data), len(data))


def test_known_hello_digest() -> None:
    assert h.hash_bytes(b"hello") == "XUFAKrxLKna5cZ2REBfFkg=="


def test_b64_hex_round_trip() -> None:
    digest = md5_b64(b"abc")
    assert h.b64_to_hex(digest) == hashlib.md5(b"abc").hexdigest()
    assert h.hex_to_b64(hashlib.md5(b"abc").hexdigest()) == digest
    with pytest.raises(
        InvalidDigestError,
        match=r"^digest 'not base64!' is not base64; give the "
        r"digest as the base64 of its bytes \(as manifests hold it: "
        r"'rL0Y20zC\+Fzt72VPzMSk2A==' for an MD5\)$",
    ):
        h.b64_to_hex("not base64!")
    assert h.b64_to_hex("rL0Y20zC+Fzt72VPzMSk2A==") == hashlib.md5(b"foo").hexdigest()


def test_unknown_algorithm_is_a_config_error() -> None:
    with pytest.raises(
        ConfigError, match="unknown digest algorithm 'sha1'; use one of md5, xxh128"
    ):
        h.new_hasher("sha1")
    with pytest.raises(ValueError, match="unknown digest algorithm 'crc'"):
        Artifact("a", "t", digest_algorithm="crc")


def test_xxh128_without_xxhash_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "xxhash", None)  # what an absent package looks like
    with pytest.raises(HandlerUnavailableError, match=r'pip install "satchel\[xxhash\]"'):
        h.new_hasher(h.XXH128)
    with pytest.raises(ImportError):
        bulk.hash_files(["x"], [1], h.XXH128)


def test_default_workers_is_bounded() -> None:
    assert 2 <= h.default_workers() <= 16


@pytest.mark.parametrize("alg", [h.MD5, h.XXH128])
def test_hash_files_small_files_in_order(tmp_path: Path, alg: str) -> None:
    sizes = [0, 1, 10, 4096, h.LARGE_FILE - 1] * 20
    paths, datas = _files(tmp_path / "d", sizes)
    done: list[int] = []
    out = bulk.hash_files(paths, sizes, alg, on_done=done.append)
    ref = md5_b64 if alg == h.MD5 else xxh_b64
    assert out == [(ref(d), len(d)) for d in datas]
    assert sum(done) == len(paths)


@pytest.mark.parametrize("alg", [h.MD5, h.XXH128])
def test_hash_files_large_files_use_thread_pool(tmp_path: Path, alg: str) -> None:
    # Files >= LARGE_FILE go to the thread pool: several hashed at once in worker threads.
    import threading

    sizes = [h.LARGE_FILE, 2 * h.LARGE_FILE + 3, 100, h.LARGE_FILE + 1, 7]
    paths, datas = _files(tmp_path / "d", sizes)
    big = {p for p, s in zip(paths, sizes) if s >= h.LARGE_FILE}
    with count_opens(tmp_path) as log:
        out = bulk.hash_files(paths, sizes, alg, workers=2)
    ref = md5_b64 if alg == h.MD5 else xxh_b64
    assert out == [(ref(d), len(d)) for d in datas]
    assert all(log.opened(os.path.basename(p)) == 1 for p in paths)  # one read per file
    big_openers = {t for p, t in zip(log.paths, log.threads) if p in big}
    assert big_openers and threading.main_thread().name not in big_openers


def test_small_file_that_grew_past_chunk_is_hashed_fully(tmp_path: Path) -> None:
    # sizes come from an earlier stat; a file that grew since is still hashed to its end.
    data = os.urandom(3 * h.CHUNK + 11)
    p = tmp_path / "grew"
    p.write_bytes(data)
    assert bulk.hash_files([str(p)], [10]) == [(md5_b64(data), len(data))]
    assert bulk.hash_files([str(p)], [10], h.XXH128) == [(xxh_b64(data), len(data))]


@pytest.mark.parametrize("alg", [h.MD5, h.XXH128])
def test_many_small_files_are_split_with_a_helper_process(tmp_path: Path, alg: str) -> None:
    n = bulk.PROCESS_SPLIT_MIN + 500
    sizes = [1 + (i % 50) for i in range(n)] + [h.LARGE_FILE + 5]
    paths, datas = _files(tmp_path / "many", sizes)
    done: list[int] = []
    with count_opens(tmp_path / "many") as log:
        out = bulk.hash_files(paths, sizes, alg, workers=2, on_done=done.append)
    ref = md5_b64 if alg == h.MD5 else xxh_b64
    assert out == [(ref(d), len(d)) for d in datas]
    assert sum(done) == len(paths)
    # This process opened only part of the small files: the rest were hashed by the helper
    # process (whose opens this process's audit hook never sees). The helper is always given
    # the first two chunks (at least 64 files each), however slowly it starts.
    opened_here = len(set(log.paths))
    assert 0 < opened_here < n
    assert n - opened_here >= 128


def test_hash_files_workers_1_uses_no_helper(tmp_path: Path) -> None:
    n = bulk.PROCESS_SPLIT_MIN + 10
    sizes = [3] * n
    paths, datas = _files(tmp_path / "one", sizes)
    with count_opens(tmp_path / "one") as log:
        out = bulk.hash_files(paths, sizes, workers=1)
    assert out == [(md5_b64(d), 3) for d in datas]
    assert len(set(log.paths)) == n


def test_files_the_helper_cannot_read_raise_here(tmp_path: Path) -> None:
    n = bulk.PROCESS_SPLIT_MIN + 10
    sizes = [5] * n
    paths, _ = _files(tmp_path / "gone", sizes)
    os.unlink(paths[1])  # the helper gets the first chunks; the error is raised here anyway
    with pytest.raises(FileNotFoundError):
        bulk.hash_files(paths, sizes, workers=2)


def test_hash_files_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        bulk.hash_files([str(tmp_path / "nope")], [3])


def test_hash_files_empty_input() -> None:
    assert bulk.hash_files([], []) == []
