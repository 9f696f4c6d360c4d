"""The local content cache: layout, atomic writes, digest-checked streams, corruption, cleanup."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import time
from pathlib import Path

import pytest

from satchel import Api, Artifact, Cache
from satchel.cache import parse_size
from satchel.errors import DigestMismatchError, InvalidArgumentError, SourceFileNotFoundError
from satchel.fsutil import DIRECT_MIN, READ_ONLY, atomic_file, copy_direct, write_bytes_atomic
from satchel.hashing import hash_bytes, new_hasher
from tests.conftest import SatchelEnv, read_tree, write_tree


def _leftovers(folder: Path) -> list[str]:
    return [n for n in os.listdir(folder) if n.endswith(".tmp")]


# -- atomic writes -----------------------------------------------------------------------


def test_atomic_file_writes_whole_file(tmp_path: Path) -> None:
    dest = tmp_path / "sub" / "f.bin"
    with atomic_file(str(dest), mode=READ_ONLY) as f:
        f.write(b"abc")
        assert not dest.exists()  # invisible until the block ends
    assert dest.read_bytes() == b"abc"
    assert stat.S_IMODE(os.stat(dest).st_mode) == READ_ONLY
    assert _leftovers(dest.parent) == []


def test_atomic_file_failure_keeps_old_content_and_no_temp(tmp_path: Path) -> None:
    dest = tmp_path / "f"
    dest.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_file(str(dest)) as f:
        f.write(b"half of the new cont")
        raise RuntimeError("boom")
    assert dest.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_atomic_file_exclusive_never_overwrites(tmp_path: Path) -> None:
    dest = tmp_path / "f"
    write_bytes_atomic(str(dest), b"first", exclusive=True)
    with pytest.raises(FileExistsError):
        write_bytes_atomic(str(dest), b"second", exclusive=True)
    assert dest.read_bytes() == b"first"
    assert _leftovers(tmp_path) == []
    write_bytes_atomic(str(dest), b"third", fsync=True)
    assert dest.read_bytes() == b"third"


# -- layout and put_stream ---------------------------------------------------------------


def test_layout_of_objects_and_refs(tmp_path: Path) -> None:
    cache = Cache(str(tmp_path / "c"))
    oid = hashlib.md5(b"x").hexdigest()
    assert cache.object_path("md5", oid) == os.path.join(
        cache.root, "objects", "md5", oid[:2], oid[2:]
    )
    a = cache.ref_path("s3://b/k", "etag1")
    assert a != cache.ref_path("s3://b/k", "etag2")
    assert a == cache.ref_path("s3://b/k", "etag1")
    assert os.path.relpath(a, cache.root).split(os.sep)[0] == "refs"
    assert repr(cache) == f"Cache({cache.root!r})"


def test_put_stream_checks_digest_and_keeps_nothing_on_mismatch(tmp_path: Path) -> None:
    cache = Cache(str(tmp_path / "c"))
    good = hash_bytes(b"payload")
    dest = cache.object_path("md5", hashlib.md5(b"payload").hexdigest())
    seen: list[int] = []
    with pytest.raises(DigestMismatchError, match=r"has digest .* expected .*nothing was kept"):
        cache.put_stream(
            io.BytesIO(b"tampered"), dest, alg="md5", expected_digest=good, what="obj from store"
        )
    assert not os.path.exists(dest)
    assert _leftovers(Path(dest).parent) == []
    assert cache.put_stream(
        io.BytesIO(b"payload"),
        dest,
        alg="md5",
        expected_digest=good,
        what="obj",
        on_bytes=seen.append,
    ) == (good, 7)
    assert Path(dest).read_bytes() == b"payload" and sum(seen) == 7
    assert stat.S_IMODE(os.stat(dest).st_mode) == READ_ONLY
    assert cache.get("md5", hashlib.md5(b"payload").hexdigest(), 7) == dest


def test_get_with_wrong_size_evicts(tmp_path: Path) -> None:
    cache = Cache(str(tmp_path / "c"))
    _d, _s, path = cache.add_bytes(b"12345", alg="md5")
    oid = hashlib.md5(b"12345").hexdigest()
    assert cache.get("md5", oid) == path
    assert cache.get("md5", oid, 4) is None
    assert not os.path.exists(path)
    assert cache.get("md5", oid) is None


def test_add_file_copies_while_hashing(tmp_path: Path) -> None:
    cache = Cache(str(tmp_path / "c"))
    src = tmp_path / "src.bin"
    src.write_bytes(b"z" * 3_000_000)
    digest, size, path = cache.add_file(str(src), alg="md5")
    assert digest == hash_bytes(b"z" * 3_000_000) and size == 3_000_000
    assert Path(path).read_bytes() == src.read_bytes()
    assert os.listdir(cache.tmp_dir()) == []
    with pytest.raises(SourceFileNotFoundError, match="does not exist"):
        cache.add_file(str(tmp_path / "missing"), alg="md5")
    with pytest.raises(DigestMismatchError):
        cache.add_file(str(src), alg="md5", expected_digest=hash_bytes(b"other"))
    assert os.listdir(cache.tmp_dir()) == []


@pytest.mark.parametrize(
    "size", [0, 1, 4095, 4096, 4097, (4 << 20) - 1, 4 << 20, (4 << 20) + 5, 9_000_001]
)
def test_copy_direct_copies_and_hashes_every_length(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    dest = tmp_path / "copy.bin"
    h = new_hasher("md5")
    with open(src, "rb") as f:
        n = copy_direct(f, str(dest), h, mode=READ_ONLY)
    assert n == size
    assert dest.read_bytes() == data
    assert h.digest() == hashlib.md5(data).digest()
    assert stat.S_IMODE(dest.stat().st_mode) == READ_ONLY


def test_copy_direct_never_overwrites(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * 10_000)
    taken = tmp_path / "taken"
    taken.write_bytes(b"mine")
    with open(src, "rb") as f, pytest.raises(FileExistsError):
        copy_direct(f, str(taken), new_hasher("md5"))
    assert taken.read_bytes() == b"mine"


def test_without_o_direct_large_files_are_copied_buffered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on a platform without O_DIRECT (macOS, Windows): copy_direct declines, creating
    # nothing, and the cache copies in the kernel and hashes the copy instead.
    monkeypatch.delattr(os, "O_DIRECT", raising=False)
    data = os.urandom(DIRECT_MIN + 1)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    with open(src, "rb") as f:
        assert copy_direct(f, str(tmp_path / "never"), new_hasher("md5")) is None
    assert not (tmp_path / "never").exists()
    cache = Cache(str(tmp_path / "c"))
    digest, size, path = cache.add_file(str(src), alg="md5")
    assert (digest, size) == (hash_bytes(data), len(data))
    assert Path(path).read_bytes() == data


def test_add_file_of_a_very_large_file_copies_directly_and_checks_the_digest(
    tmp_path: Path,
) -> None:
    data = os.urandom(DIRECT_MIN + 12_345)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    cache = Cache(str(tmp_path / "c"))
    with pytest.raises(DigestMismatchError, match=r"big.bin has digest .*nothing was kept"):
        cache.add_file(str(src), alg="md5", expected_digest=hash_bytes(b"other"))
    assert os.listdir(cache.tmp_dir()) == []
    digest, size, path = cache.add_file(str(src), alg="md5")
    assert (digest, size) == (hash_bytes(data), len(data))
    assert Path(path).read_bytes() == data
    assert stat.S_IMODE(os.stat(path).st_mode) == READ_ONLY
    assert os.listdir(cache.tmp_dir()) == []


# -- corruption during download ----------------------------------------------------------
# (tests/core/test_disposable_cache.py has the cases on bucket stores and for every read path)


def _committed(tmp_path: Path, store: str | None = None) -> Artifact:
    data = write_tree(tmp_path / "src", {"a.txt": "alpha" * 100, "b/c.bin": b"\x00\x01" * 999})
    art = Artifact("ds", "dataset")
    art.add_dir(data)
    art.save(store=store)
    return art


def _memory_store() -> str:
    import uuid

    return f"memory://satchel-cache-{uuid.uuid4().hex[:10]}/team"


def _replace(path: Path, data: bytes) -> None:
    """Replace a read-only object with other bytes (a new inode, like a rewrite by a tool)."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@pytest.mark.parametrize("same_size", [True, False])
def test_corrupted_cache_object_is_detected_and_refetched(
    tmp_path: Path, satchel_env: SatchelEnv, same_size: bool
) -> None:
    store = _memory_store()  # not a local store: its downloads go through the cache
    art = _committed(tmp_path, store)
    entry = art.get_entry("a.txt")
    cache = Cache(str(satchel_env.cache))
    obj = Path(cache.object_path(entry.alg, entry.oid))
    assert obj.exists()
    bad = b"X" * entry.size if same_size else b"short"  # type: ignore[operator]
    _replace(obj, bad)

    api = Api(store, cache_dir=str(satchel_env.cache))
    got = api.artifact("ds:v0").download(tmp_path / "out")
    assert read_tree(got)["a.txt"] == b"alpha" * 100
    assert obj.read_bytes() == b"alpha" * 100  # repaired from the store
    art.verify(tmp_path / "out")


def test_corrupt_store_object_is_never_served(tmp_path: Path, satchel_env: SatchelEnv) -> None:

    art = _committed(tmp_path)
    entry = art.get_entry("b/c.bin")
    shutil.rmtree(satchel_env.cache, ignore_errors=True)
    obj = satchel_env.store / "objects" / "md5" / entry.oid[:2] / entry.oid[2:]
    _replace(obj, b"\xff" * entry.size)  # type: ignore[operator]
    fresh = satchel_env.api().artifact("ds:v0")
    with pytest.raises(DigestMismatchError, match="store object .* is corrupt"):
        fresh.download(tmp_path / "out")
    assert not (tmp_path / "out" / "b" / "c.bin").exists()
    assert obj.read_bytes() == b"\xff" * entry.size  # type: ignore[operator]  # kept: the only copy
    cache = Cache(str(satchel_env.cache))
    assert cache.get(entry.alg, entry.oid) is None  # nothing corrupt entered the cache


# -- cleanup -----------------------------------------------------------------------------


def _aged_objects(cache: Cache, n: int, size: int) -> list[str]:
    now = time.time()
    paths = []
    for i in range(n):
        _d, _s, p = cache.add_bytes(bytes([i]) * size, alg="md5")
        t = now - 10_000 + i * 100  # object 0 is the least recently used
        os.utime(p, (t, t))
        paths.append(p)
    return paths


def test_cleanup_removes_least_recently_used_first(tmp_path: Path) -> None:
    cache = Cache(str(tmp_path / "c"))
    paths = _aged_objects(cache, 10, 1000)
    assert cache.size() == 10_000
    dry = cache.cleanup(4500, dry_run=True)
    assert (dry.removed_files, dry.freed_bytes, dry.remaining_bytes) == (6, 6000, 4000)
    assert all(os.path.exists(p) for p in paths)
    result = cache.cleanup(4500)
    assert (result.removed_files, result.freed_bytes, result.remaining_bytes) == (6, 6000, 4000)
    assert [os.path.exists(p) for p in paths] == [False] * 6 + [True] * 4
    assert cache.size() == 4000
    assert cache.cleanup(10**9).removed_files == 0
    assert cache.cleanup(0).remaining_bytes == 0


def test_touch_on_use_protects_from_cleanup(tmp_path: Path) -> None:
    cache = Cache(str(tmp_path / "c"))
    paths = _aged_objects(cache, 4, 100)
    cache.touch(paths[0])  # the oldest was just used
    cache.cleanup(200)
    assert [os.path.exists(p) for p in paths] == [True, False, False, True]


def test_download_marks_objects_used(tmp_path: Path, satchel_env: SatchelEnv) -> None:
    store = _memory_store()  # a local store's objects are read in place, not cached
    art = _committed(tmp_path, store)
    cache = Cache(str(satchel_env.cache))
    old = time.time() - 100_000
    for e in art.manifest:
        os.utime(cache.object_path(e.alg, e.oid), (old, old))
    other = _aged_objects(cache, 3, 10)  # newer than the artifact's objects
    Api(store, cache_dir=str(satchel_env.cache)).artifact("ds:v0").download(tmp_path / "out")
    cache.cleanup(art.size)
    assert all(cache.get(e.alg, e.oid) for e in art.manifest)
    assert not any(os.path.exists(p) for p in other)


def test_cleanup_removes_stale_temporary_files(tmp_path: Path) -> None:
    cache = Cache(str(tmp_path / "c"))
    stale = Path(cache.tmp_dir()) / "add-1-2"
    fresh = Path(cache.tmp_dir()) / "add-3-4"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    old = time.time() - 2 * 86400
    os.utime(stale, (old, old))
    cache.cleanup(10**9)
    assert not stale.exists() and fresh.exists()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("10GB", 10 * 10**9),
        ("512MiB", 512 * 2**20),
        ("1.5G", 1_500_000_000),
        ("1000", 1000),
        ("2 kib", 2048),
        ("0", 0),
        ("3tb", 3 * 10**12),
    ],
)
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "is not a size; use e.g. 10GB, 512MiB or 1000000$"),
        ("10XB", "is not a size"),
        ("1.2.3G", "is not a size; use e.g. 10GB"),
        ("", "is not a size"),
        ("-5GB", "^size '-5GB' is negative; give a size of 0 or more$"),
    ],
)
def test_parse_size_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        parse_size(text)


def test_parallel_adds_do_not_share_temporary_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # add_dir copies files into the cache from several threads at once. Temporary names must
    # not come from the clock: on Windows time.monotonic_ns() advances in ~15 ms steps, which
    # is simulated here by freezing it.
    monkeypatch.setattr(time, "monotonic_ns", lambda: 42)
    files = {f"f{i:03d}.bin": os.urandom(50_000) for i in range(120)}
    src = write_tree(tmp_path / "src", files)
    art = Artifact("ds", "dataset")
    art.add_dir(src)
    for rel, data in files.items():
        assert art.get_entry(rel).digest == hash_bytes(data)
        assert art.get(rel) == data


def test_write_small_atomic_writes_read_only_whole_file_and_stats_its_final_name(
    tmp_path: Path,
) -> None:
    from satchel.fsutil import write_small_atomic

    made: set[str] = set()
    dest = tmp_path / "a" / "b" / "obj"
    st = write_small_atomic(str(dest), b"x" * 5000, mode=READ_ONLY, made=made)
    assert dest.read_bytes() == b"x" * 5000
    assert stat.S_IMODE(os.stat(dest).st_mode) == READ_ONLY
    assert (st.st_ino, st.st_ctime_ns) == (os.stat(dest).st_ino, os.stat(dest).st_ctime_ns)
    assert made == {str(dest.parent)}
    assert os.listdir(dest.parent) == ["obj"]  # no temporary left


def test_write_small_atomic_failure_keeps_old_content_and_no_temp(tmp_path: Path) -> None:
    from satchel.fsutil import write_small_atomic

    (tmp_path / "dest").mkdir()  # a folder where the file must go: the rename fails
    with pytest.raises(IsADirectoryError):
        write_small_atomic(str(tmp_path / "dest"), b"data")
    assert os.listdir(tmp_path) == ["dest"] and os.listdir(tmp_path / "dest") == []


@pytest.mark.parametrize("size", [0, 1, 4096, 1 << 20])
def test_read_small_reads_whole_files_up_to_the_limit(tmp_path: Path, size: int) -> None:
    from satchel.fsutil import read_small

    p = tmp_path / "f"
    p.write_bytes(os.urandom(size))
    assert read_small(str(p)) == p.read_bytes()


def test_read_small_declines_bigger_files_and_names_a_missing_one(tmp_path: Path) -> None:
    from satchel.fsutil import SMALL_FILE, read_small

    p = tmp_path / "f"
    p.write_bytes(b"\0" * (SMALL_FILE + 1))
    assert read_small(str(p)) is None
    with pytest.raises(FileNotFoundError) as info:
        read_small(str(tmp_path / "gone"))
    assert info.value.filename == str(tmp_path / "gone")


def test_download_of_small_and_large_files_is_byte_identical_and_checked(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    from satchel.fsutil import SMALL_FILE

    files = {
        "small/a.bin": os.urandom(100),
        "big.bin": os.urandom(SMALL_FILE + 7),
        "edge.bin": os.urandom(SMALL_FILE),
        "empty": b"",
    }
    write_tree(tmp_path / "data", files)
    art = Artifact("ds", "dataset")
    art.add_dir(str(tmp_path / "data"))
    art.save()
    out = Api().artifact("ds:latest").download(root=str(tmp_path / "out"))
    assert read_tree(Path(out)) == files
    assert Api().artifact("ds:latest").verify(root=out).verified == len(files)


def test_local_store_bulk_existence_lists_a_busy_folder_and_stats_the_rest(
    tmp_path: Path,
) -> None:
    from satchel.store.local import LIST_MIN, LocalBackend

    backend = LocalBackend(str(tmp_path / "store"))
    busy = [f"objects/md5/ab/{i:030x}" for i in range(LIST_MIN + 6)]
    quiet = [f"objects/md5/cd/{i:030x}" for i in range(3)]
    for key in busy[::2] + quiet[:1]:
        backend.create_if_absent(key, b"x")
    # a killed writer's temporary for an absent object is no object
    temp = f".{busy[1].rsplit('/', 1)[1]}.0123456789ab.tmp"
    (tmp_path / "store" / "objects" / "md5" / "ab" / temp).write_bytes(b"")
    gone = [f"objects/md5/ef/{i:030x}" for i in range(LIST_MIN)]  # a folder that does not exist
    assert backend.existing(busy + quiet + gone) == set(busy[::2] + quiet[:1])
