"""Scanning and digesting a folder at once (satchel.ingest.tree.digest_tree), as add_dir does."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from satchel import Artifact
from satchel import hashing as h
from satchel.ingest import bulk
from satchel.ingest.statcache import NullStatCache, StatCache
from satchel.ingest.tree import digest_tree, scan
from tests.conftest import count_opens, write_tree


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _tree(root: Path) -> dict[str, bytes]:
    files = {f"d{i % 4}/s{i % 3}/f{i:04d}": f"small {i}".encode() * (i % 7) for i in range(60)}
    files["big.bin"] = os.urandom(h.LARGE_FILE + 5)
    write_tree(root, files)
    return files


def test_digests_sizes_and_stat_keys_match_a_plain_scan(tmp_path: Path) -> None:
    files = _tree(tmp_path / "t")
    cache = StatCache(str(tmp_path / "stat.db"))
    totals: list[int] = []
    done: list[int] = []

    def progress(total: int):  # type: ignore[no-untyped-def]
        totals.append(total)
        return done.append

    tree = digest_tree(str(tmp_path / "t"), h.MD5, cache, progress=progress)
    assert [f.rel for f in tree.files] == sorted(files)
    assert tree.files == scan(str(tmp_path / "t"))  # same rel, path and stat key
    assert tree.digests == [_md5(files[f.rel]) for f in tree.files]
    assert tree.sizes == [len(files[f.rel]) for f in tree.files]
    assert (
        all(tree.read) and tree.packs == [] and totals == [len(files)] and sum(done) == len(files)
    )
    # everything is remembered: a second run reads nothing
    with count_opens(tmp_path / "t") as log:
        again = digest_tree(str(tmp_path / "t"), h.MD5, cache)
    assert log.paths == [] and again.digests == tree.digests and not any(again.read)


def test_pack_mode_packs_small_files_and_leaves_large_ones(tmp_path: Path) -> None:
    files = _tree(tmp_path / "t")
    (tmp_path / "packs").mkdir()
    tree = digest_tree(
        str(tmp_path / "t"), h.MD5, NullStatCache(), pack_prefix=str(tmp_path / "packs" / "p")
    )
    for f, digest, size, where in zip(tree.files, tree.digests, tree.sizes, tree.packed):
        data = files[f.rel]
        if f.rel == "big.bin":
            assert digest is None and where is None and size == len(data)
            continue
        assert digest == _md5(data)
        pack, offset = where  # type: ignore[misc]
        assert Path(pack).read_bytes()[offset : offset + size] == data
    assert tree.packs == [str(tmp_path / "packs" / "p.0")]


def test_symlinked_file_is_followed_and_remembered(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "target.txt").write_bytes(b"through a link")
    os.symlink(tmp_path / "target.txt", tmp_path / "t" / "link.txt")
    cache = StatCache(str(tmp_path / "stat.db"))
    first = digest_tree(str(tmp_path / "t"), h.MD5, cache)
    assert first.digests == [_md5(b"through a link")]
    assert first.files[0].key[1] == os.stat(tmp_path / "target.txt").st_ino
    with count_opens(tmp_path) as log:
        second = digest_tree(str(tmp_path / "t"), h.MD5, cache)
    assert log.paths == [] and second.digests == first.digests


def test_check_runs_on_the_sorted_paths_and_can_stop_everything(tmp_path: Path) -> None:
    _tree(tmp_path / "t")
    (tmp_path / "packs").mkdir()
    seen: list[list[str]] = []

    def check(rels: list[str]) -> None:
        seen.append(rels)
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        digest_tree(
            str(tmp_path / "t"),
            h.MD5,
            NullStatCache(),
            check=check,
            pack_prefix=str(tmp_path / "packs" / "p"),
        )
    assert seen == [sorted(seen[0])] and len(seen[0]) == 61
    assert list((tmp_path / "packs").iterdir()) == []


def test_vanished_file_is_left_out_by_the_hashing_runner(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a": b"A"})
    with bulk.SmallFiles(h.MD5, workers=1, missing_ok=True) as runner:
        runner.add([str(tmp_path / "a"), str(tmp_path / "gone")])
        out = runner.finish()
    assert [(i, d) for i, d, *_ in out] == [(0, _md5(b"A"))] and runner.missing == [1]


def test_add_dir_with_many_files_uses_the_helper_and_matches_md5(tmp_path: Path) -> None:
    n = bulk.PROCESS_SPLIT_MIN + 50
    files = {f"d{i % 10}/f{i:05d}": str(i).encode() for i in range(n)}
    write_tree(tmp_path / "many", files)
    for policy in ("immutable", "mutable"):
        art = Artifact("many", "dataset")
        with count_opens(tmp_path / "many") as log:
            art.add_dir(tmp_path / "many", policy=policy)
        assert {e.path: e.digest for e in art.manifest} == {k: _md5(v) for k, v in files.items()}
        if policy == "immutable":
            assert len({p for p in log.paths if os.path.isfile(p)}) < n  # the helper read some
