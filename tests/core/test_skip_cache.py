"""``skip_cache=True`` (``put --skip-cache``): files go to the store without a copy in the
cache at any time, checked against their add-time digest, on a local store and on buckets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from satchel import Api, Artifact
from satchel.errors import SourceFileChangedError
from satchel.store import layout
from tests.conftest import read_tree, write_tree
from tests.store.conftest import StoreCase, quick_store_case_fixture  # noqa: F401


def _cache_files(cache: Path) -> list[str]:
    return sorted(
        p.relative_to(cache).as_posix()
        for p in cache.rglob("*")
        if p.is_file() and not p.name.startswith("stat.db")
    )


def _data(root: Path) -> dict[str, bytes]:
    files = {f"d{i % 3}/f{i:02d}.bin": os.urandom(100 + i * 50) for i in range(30)}
    files["big.bin"] = os.urandom(3 << 20)
    write_tree(root, files)
    return files


def test_nothing_enters_the_cache_and_the_version_is_whole(
    quick_store_case: StoreCase, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    svc = quick_store_case.services(cache)
    files = _data(tmp_path / "data")
    single = write_tree(tmp_path / "one", {"solo.txt": "solo"}) / "solo.txt"
    art = Artifact("ds", "dataset", services=svc)
    art.add_dir(tmp_path / "data", skip_cache=True)
    art.add_file(single, skip_cache=True)
    assert _cache_files(cache) == []  # no snapshot at add time (no pack, no object)
    art.save("p")
    assert art.save_result is not None and art.save_result.created
    assert _cache_files(cache) == []  # nor at save (scratch files for buckets are gone)
    store = quick_store_case.open()
    for entry in art.manifest:
        assert store.backend.exists(layout.object_key(entry.alg, entry.oid)), entry.path
    got = Api(store, "p", services=quick_store_case.services(tmp_path / "cache2")).artifact("ds:v0")
    out = got.download(tmp_path / "out")
    got.verify(out)
    assert read_tree(out) == {**files, "solo.txt": b"solo"}


def test_a_file_changed_before_the_save_commits_nothing(
    quick_store_case: StoreCase, tmp_path: Path
) -> None:
    svc = quick_store_case.services(tmp_path / "cache")
    write_tree(tmp_path / "data", {"a.txt": "alpha", "b.txt": "beta"})
    art = Artifact("ds", "dataset", services=svc)
    art.add_dir(tmp_path / "data", skip_cache=True)
    (tmp_path / "data" / "b.txt").write_text("BETA, edited after the add")
    with pytest.raises(SourceFileChangedError) as info:
        art.save("p")
    assert info.value.paths == [f"b.txt ({tmp_path / 'data' / 'b.txt'})"]
    store = quick_store_case.open()
    assert store.live_versions("p", "ds") == []
    bad = art.manifest.get("b.txt")
    assert bad is not None and not store.backend.exists(layout.object_key(bad.alg, bad.oid))
