"""The stat cache: an unchanged file is never read (hashed) twice (satchel.ingest.statcache)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from satchel import Artifact, ArtifactVerificationError
from satchel.hashing import hash_bytes
from satchel.ingest.statcache import NullStatCache, StatCache, stat_key
from tests.conftest import SatchelEnv, count_opens, write_tree


def _tree(root: Path, n: int) -> Path:
    return write_tree(root, {f"d{i % 5}/f{i:04d}.txt": f"content {i}" for i in range(n)})


@pytest.mark.parametrize("policy", ["mutable", "immutable"])
@pytest.mark.parametrize("n", [10, 300])  # below and above the bulk-query threshold
def test_readding_unchanged_folder_opens_no_file(tmp_path: Path, policy: str, n: int) -> None:
    data = _tree(tmp_path / "data", n)
    first = Artifact("ds", "dataset")
    with count_opens(data) as log1:
        first.add_dir(data, policy=policy)
    assert len(set(log1.paths)) == n  # the first add reads every file
    if policy == "mutable":
        # Many small mutable files are snapshotted into packs, which enter the cache at save
        # (tests/core/test_packs.py); after that, the cache holds every object.
        first.save()

    second = Artifact("ds", "dataset")
    with count_opens(data) as log2:
        second.add_dir(data, policy=policy)
    assert log2.paths == []
    assert second.manifest == first.manifest


@pytest.mark.parametrize("policy", ["mutable", "immutable"])
def test_readding_unchanged_file_opens_nothing(tmp_path: Path, policy: str) -> None:
    f = tmp_path / "one.bin"
    f.write_bytes(b"x" * 5000)
    Artifact("a", "t").add_file(f, policy=policy)
    with count_opens(tmp_path) as log:
        entry = Artifact("a", "t").add_file(f, policy=policy)
    assert log.paths == []
    assert entry.digest == hash_bytes(b"x" * 5000)


def test_in_place_rewrite_with_restored_mtime_is_rehashed(tmp_path: Path) -> None:
    # Same inode, same size, mtime set back by a tool: ctime still moved, so the key changes.
    f = tmp_path / "f.txt"
    f.write_bytes(b"AAAA")
    st = os.stat(f)
    first = Artifact("a", "t").add_file(f, policy="immutable")
    with open(f, "r+b") as fh:  # same inode
        fh.write(b"BBBB")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    now = os.stat(f)
    assert (now.st_ino, now.st_size, now.st_mtime_ns) == (st.st_ino, st.st_size, st.st_mtime_ns)
    assert stat_key(now) != stat_key(st)
    with count_opens(tmp_path) as log:
        again = Artifact("a", "t").add_file(f, policy="immutable")
    assert first.digest == hash_bytes(b"AAAA")
    assert again.digest == hash_bytes(b"BBBB")
    assert log.opened("f.txt") == 1


def test_in_place_rewrite_with_restored_mtime_fails_verify(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    data = write_tree(tmp_path / "data", {"a.txt": "AAAA", "b.txt": "keep"})
    art = Artifact("ds", "dataset")
    art.add_dir(data)
    art.save()
    out = Path(satchel_env.api().artifact("ds:v0").download(tmp_path / "out"))
    st = os.stat(out / "a.txt")
    with open(out / "a.txt", "r+b") as fh:
        fh.write(b"ZZZZ")
    os.utime(out / "a.txt", ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(ArtifactVerificationError) as info:
        art.verify(out)
    assert info.value.changed == ["a.txt"]


def test_old_mtime_only_table_is_dropped(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "stat.db"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE stat (dev INTEGER, ino INTEGER, alg TEXT, size INTEGER, "
        "mtime_ns INTEGER, digest TEXT, PRIMARY KEY (dev, ino, alg)) WITHOUT ROWID"
    )
    db.commit()
    db.close()
    cache = StatCache(str(path))
    key = (1, 2, 3, 4)
    cache.store_many([(key, "d")], "md5")
    assert cache.lookup_many([key], "md5") == ["d"]
    tables = {
        r[0]
        for r in sqlite3.connect(path).execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
    }
    assert tables == {"stat2"}


def test_changed_mtime_is_rehashed(tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_bytes(b"AAAA")
    st = os.stat(f)
    Artifact("a", "t").add_file(f, policy="immutable")
    f.write_bytes(b"BBBB")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    with count_opens(tmp_path) as log:
        entry = Artifact("a", "t").add_file(f, policy="immutable")
    assert entry.digest == hash_bytes(b"BBBB")
    assert log.opened("f.txt") == 1


def test_changed_size_is_rehashed(tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_bytes(b"AAAA")
    st = os.stat(f)
    Artifact("a", "t").add_file(f)
    f.write_bytes(b"AAAAA")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert Artifact("a", "t").add_file(f).digest == hash_bytes(b"AAAAA")


def test_replaced_file_new_inode_is_rehashed(tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_bytes(b"AAAA")
    st = os.stat(f)
    Artifact("a", "t").add_file(f, policy="immutable")
    tmp = tmp_path / "new"
    tmp.write_bytes(b"CCCC")
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp, f)
    assert Artifact("a", "t").add_file(f, policy="immutable").digest == hash_bytes(b"CCCC")


def test_mutable_readd_after_cache_object_lost_reads_again(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    # mutable needs the bytes in the cache: a stat hit whose cache object is gone re-copies.
    import shutil

    f = tmp_path / "f.txt"
    f.write_bytes(b"data")
    Artifact("a", "t").add_file(f)
    shutil.rmtree(satchel_env.cache / "objects")
    with count_opens(tmp_path) as log:
        Artifact("a", "t").add_file(f)
    assert log.opened("f.txt") == 1


def test_stat_cache_lookup_and_store_small_and_bulk(tmp_path: Path) -> None:
    sc = StatCache(str(tmp_path / "sc" / "stat.db"))
    keys = [(1, i, 10, 1000 + i) for i in range(200)]
    assert sc.lookup_many(keys, "md5") == [None] * 200
    sc.store_many([(k, f"d{k[1]}") for k in keys], "md5")
    assert sc.lookup_many(keys[:5], "md5") == ["d0", "d1", "d2", "d3", "d4"]
    assert sc.lookup_many(keys, "md5") == [f"d{i}" for i in range(200)]
    assert sc.lookup_many(keys[:3], "xxh128") == [None] * 3  # per algorithm
    stale = [(1, 0, 11, 1000), (1, 1, 10, 9)]  # size or mtime differ
    assert sc.lookup_many(stale, "md5") == [None, None]
    assert sc.lookup_many(stale * 40, "md5") == [None] * 80
    # a second connection (another process would do the same) sees the data
    assert StatCache(sc.path).lookup_many(keys[:2], "md5") == ["d0", "d1"]
    assert sc.lookup_many([], "md5") == []
    sc.store_many([], "md5")


def test_broken_stat_cache_degrades_to_misses_with_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "stat.db"
    db.write_bytes(b"this is not an sqlite database" * 100)
    sc = StatCache(str(db))
    with caplog.at_level(logging.WARNING, logger="satchel.ingest.statcache"):
        assert sc.lookup_many([(1, 2, 3, 4)], "md5") == [None]
        sc.store_many([((1, 2, 3, 4), "d")], "md5")
    assert "unusable" in caplog.text and "files will be rehashed" in caplog.text


def test_broken_stat_cache_does_not_break_adding(tmp_path: Path, satchel_env: SatchelEnv) -> None:
    satchel_env.cache.mkdir(parents=True)
    (satchel_env.cache / "stat.db").write_bytes(b"garbage" * 1000)
    f = tmp_path / "f"
    f.write_bytes(b"hello")
    art = Artifact("a", "t")
    assert art.add_file(f, policy="immutable").digest == "XUFAKrxLKna5cZ2REBfFkg=="
    art.save()
    assert art.version == "v0"


def test_null_stat_cache_remembers_nothing() -> None:
    nc = NullStatCache()
    nc.store_many([((1, 2, 3, 4), "d")], "md5")
    assert nc.lookup_many([(1, 2, 3, 4)], "md5") == [None]


def test_download_records_files_so_verify_reads_nothing(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    art = Artifact("ds", "dataset")
    art.add_dir(_tree(tmp_path / "data", 150))
    art.save()
    out = art.download(tmp_path / "out")
    with count_opens(out) as log:
        report = art.verify(out)
        art.download(out)  # nothing to rewrite either
    assert report.verified == 150
    assert log.paths == []


@pytest.mark.parametrize("spread", [1, 10_000_000])  # one range scan / batched IN queries
def test_bulk_lookup_dense_and_sparse_inodes(tmp_path: Path, spread: int) -> None:
    cache = StatCache(str(tmp_path / "stat.db"))
    keys = [(7, 1000 + i * spread, 10 + i, 5_000 + i) for i in range(2500)]
    cache.store_many([(k, f"d{i}") for i, k in enumerate(keys) if i % 3], "md5")
    cache.store_many([((8, 1000, 10, 5_000), "other device")], "md5")
    cache.store_many([(keys[1], "xxh of 1")], "xxh128")
    changed = (7, keys[2][1], keys[2][2], keys[2][3] + 1)  # same inode, new mtime
    got = cache.lookup_many([*keys, changed, (8, 1000, 10, 5_000)], "md5")
    assert got[:-2] == [None if i % 3 == 0 else f"d{i}" for i in range(2500)]
    assert got[-2:] == [None, "other device"]
    assert cache.lookup_many([keys[1]], "xxh128") == ["xxh of 1"]
