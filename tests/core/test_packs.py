"""Packs: many small ``mutable`` files are snapshotted into a few pack files at add time
(satchel.ingest.bulk.snapshot_files, satchel.draft.PackedSource) and reach the cache and the store
at save."""

from __future__ import annotations

import base64
import gc
import hashlib
import os
from pathlib import Path

import pytest

from satchel import Artifact, DigestMismatchError, SourceFileNotFoundError
from satchel import hashing as h
from satchel.draft import PACK_MIN
from satchel.ingest import bulk
from tests.conftest import SatchelEnv, count_opens, read_tree, write_tree


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _tree(root: Path, n: int, tag: str = "") -> dict[str, bytes]:
    files = {f"d{i % 7}/f{i:05d}.bin": f"{tag}file {i} ".encode() * (1 + i % 40) for i in range(n)}
    write_tree(root, files)
    return files


def _packs(env: SatchelEnv) -> list[Path]:
    tmp = env.cache / "tmp"
    return sorted(tmp.glob("pack-*")) if tmp.exists() else []


def _objects(env: SatchelEnv) -> list[Path]:
    return (
        [p for p in (env.cache / "objects").rglob("*") if p.is_file()]
        if (env.cache / "objects").exists()
        else []
    )


def test_snapshot_files_returns_digests_and_pack_slices(tmp_path: Path) -> None:
    files = _tree(tmp_path / "src", 50)
    paths = [str(tmp_path / "src" / k) for k in files]
    sizes = [len(v) for v in files.values()]
    (tmp_path / "packs").mkdir()
    snaps, packs = bulk.snapshot_files(
        paths, sizes, h.MD5, str(tmp_path / "packs" / "p"), workers=1
    )
    assert packs == [str(tmp_path / "packs" / "p.0")]
    blob = Path(packs[0]).read_bytes()
    for (digest, size, pack, offset), data in zip(snaps, files.values()):
        assert (digest, size, pack) == (_md5(data), len(data), packs[0])
        assert blob[offset : offset + size] == data


def test_snapshot_with_helper_process_writes_two_packs(tmp_path: Path) -> None:
    n = bulk.PROCESS_SPLIT_MIN + 100
    files = {f"f{i:05d}": f"{i}".encode() * (1 + i % 9) for i in range(n)}
    write_tree(tmp_path / "src", files)
    paths = [str(tmp_path / "src" / k) for k in files]
    (tmp_path / "packs").mkdir()
    with count_opens(tmp_path / "src") as log:
        snaps, packs = bulk.snapshot_files(
            paths,
            [len(v) for v in files.values()],
            h.XXH128,
            str(tmp_path / "packs" / "p"),
            workers=2,
        )
    assert len(packs) == 2
    assert len(set(log.paths)) < n  # the helper process read the others
    blobs = {p: Path(p).read_bytes() for p in packs}
    import xxhash

    for (digest, size, pack, offset), data in zip(snaps, files.values()):
        assert digest == base64.b64encode(xxhash.xxh3_128(data).digest()).decode()
        assert blobs[pack][offset : offset + size] == data


def test_mutable_add_dir_snapshots_into_packs_not_cache_files(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    files = _tree(tmp_path / "data", PACK_MIN + 30)
    art = Artifact("ds", "dataset")
    art.add_dir(tmp_path / "data")
    assert 1 <= len(_packs(satchel_env)) <= 2
    assert _objects(satchel_env) == []
    assert {e.path: e.digest for e in art.manifest} == {k: _md5(v) for k, v in files.items()}
    assert art.get("d0/f00000.bin") == files["d0/f00000.bin"]  # readable before save


def test_packed_files_commit_add_time_bytes_even_if_changed_or_deleted(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    data = tmp_path / "data"
    files = _tree(data, PACK_MIN + 10)
    art = Artifact("ds", "dataset")
    art.add_dir(data)
    (data / "d1" / "f00001.bin").write_bytes(b"changed after add")
    (data / "d2" / "f00002.bin").unlink()
    art.save()
    assert _packs(satchel_env) == []  # deleted after the save
    assert _objects(satchel_env) == []  # written straight into the local store, not cached
    stored = [p for p in (satchel_env.store / "objects").rglob("*") if p.is_file()]
    assert len(stored) == len(set(files.values()))
    out = Path(art.download(tmp_path / "out"))
    assert read_tree(out) == files


def test_packs_of_an_abandoned_draft_are_deleted(tmp_path: Path, satchel_env: SatchelEnv) -> None:
    _tree(tmp_path / "data", PACK_MIN + 5)
    art = Artifact("ds", "dataset")
    art.add_dir(tmp_path / "data")
    assert _packs(satchel_env)
    del art
    gc.collect()
    assert _packs(satchel_env) == []


def test_skip_cache_leaves_no_copies_after_save(tmp_path: Path, satchel_env: SatchelEnv) -> None:
    files = _tree(tmp_path / "data", PACK_MIN + 5)
    art = Artifact("ds", "dataset")
    art.add_dir(tmp_path / "data", skip_cache=True)
    art.save()
    assert _packs(satchel_env) == [] and _objects(satchel_env) == []
    assert read_tree(Path(art.download(tmp_path / "out"))) == files


def test_corrupt_pack_fails_the_save_and_commits_nothing(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    _tree(tmp_path / "data", PACK_MIN + 5)
    art = Artifact("ds", "dataset")
    art.add_dir(tmp_path / "data")
    for pack in _packs(satchel_env):
        os.chmod(pack, 0o644)
        with open(pack, "r+b") as f:
            f.write(b"XXXX")
    with pytest.raises(DigestMismatchError, match=r"copied at add time into .*pack-.*expected"):
        art.save()
    assert satchel_env.open_store().latest("default", "ds") is None


def test_file_vanishing_during_mutable_add_names_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _tree(data, PACK_MIN + 5)
    from satchel.ingest.tree import scan

    files = scan(str(data))
    os.unlink(files[3].abspath)
    from satchel.draft import Draft
    from satchel.services import local_services

    with pytest.raises(SourceFileNotFoundError, match=f"file {files[3].abspath} does not exist"):
        Draft("md5").ingest(
            files,
            [f.rel for f in files],
            cache=local_services().cache,
            policy="mutable",
            skip_cache=False,
        )
