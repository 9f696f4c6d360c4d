"""The cache is disposable (issue 10, item 3): no cache file is ever the same inode as a store
object, damaging the cache never damages a store, and a failed read never leaves wrong bytes
under a final name. Real files, real stores (a local folder, ``memory://`` and moto's S3 through
``quick_store_case``), real subprocesses for the command line and for kills."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from satchel import Api, Artifact, Cache, DigestMismatchError, SourceFileChangedError, StoreError
from satchel.cli import main
from satchel.fsck import check_store
from satchel.fsutil import DIRECT_MIN, READ_ONLY, copy_object, move_object
from satchel.hashing import hash_bytes
from satchel.manifest import ManifestEntry
from satchel.registry.copy import copy_version
from satchel.services import Services, local_services
from satchel.store import Store, layout, open_store
from tests.conftest import SatchelEnv, read_tree, write_tree
from tests.store.conftest import (
    PROJECT,
    StoreCase,
    overwrite,
    quick_store_case_fixture,  # noqa: F401 - provides the quick_store_case fixture
)

REPO = Path(__file__).resolve().parents[2]
FILES = {"a.txt": b"alpha" * 20, "b/c.bin": bytes(range(256)) * 4, "b/d.txt": b"delta"}


# -- helpers -------------------------------------------------------------------------------


def _inodes(root: Path) -> dict[tuple[int, int], Path]:
    out = {}
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            p = Path(dirpath, n)
            st = p.lstat()
            out[(st.st_dev, st.st_ino)] = p
    return out


def _store_objects(store_root: Path) -> list[Path]:
    return [p for p in (store_root / "objects").rglob("*") if p.is_file()]


def _assert_nothing_shared(store_root: Path, cache_root: Path, *, some: bool = True) -> None:
    """No store object has a second name, and no cache file is a store object's inode."""
    objects = _store_objects(store_root) if (store_root / "objects").exists() else []
    assert objects or not some, "the store holds objects"
    assert all(p.stat().st_nlink == 1 for p in objects), [
        p for p in objects if p.stat().st_nlink != 1
    ]
    cache_inodes = _inodes(cache_root) if cache_root.exists() else {}
    shared = [p for p in objects if (p.stat().st_dev, p.stat().st_ino) in cache_inodes]
    assert shared == []


def _damage_in_place(path: Path, data: bytes | None = None) -> None:
    """Rewrite a (read-only) file's bytes in place: the same inode, as bit rot or a careless
    tool does."""
    os.chmod(path, 0o644)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.write(data if data is not None else b"\xee" * size)


def _object_path(root: Path, alg: str, oid: str) -> Path:
    return root / layout.object_key(alg, oid)


def _services(case: StoreCase, cache: Path) -> Services:
    return case.services(cache)


def _commit(services: Services, data: Path, name: str = "ds", **add: object) -> Artifact:
    art = Artifact(name, "dataset", services=services)
    art.add_dir(data, **add)  # type: ignore[arg-type]
    return art.save(PROJECT)


def _corrupt_store_object(case: StoreCase, store: Store, alg: str, oid: str, size: int) -> None:
    key = layout.object_key(alg, oid)
    local = store.backend.local_path(key)
    if local is not None:
        _damage_in_place(Path(local))
    else:
        overwrite(store, key, b"\xee" * size)


def _stored_bytes(store: Store, alg: str, oid: str) -> bytes:
    with store.open_object(alg, oid) as f:
        return f.read()


def _leftovers(root: Path) -> list[str]:
    return [p.name for p in root.rglob("*") if p.name.endswith(".tmp")] if root.exists() else []


# -- no shared identity ----------------------------------------------------------------------


def test_a_commit_to_a_local_store_shares_no_inode_with_the_cache(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    small = {f"small/f{i:03d}.bin": f"small file {i}\n".encode() * (i + 1) for i in range(40)}
    data = write_tree(tmp_path / "data", {**small, "one.txt": b"one"})
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(DIRECT_MIN + 4097))  # the O_DIRECT copy path
    frozen = tmp_path / "frozen.txt"
    frozen.write_bytes(b"added with policy=immutable")
    art = Artifact("ds", "dataset")
    art.add_dir(data)  # packs
    art.add_file(big)
    art.add_file(frozen, policy="immutable")
    art.add({"k": 1}, "obj.json")
    with art.new_file("new.txt") as f:
        f.write("written in a block")
    art.save()
    _assert_nothing_shared(satchel_env.store, satchel_env.cache)
    cache = Cache(str(satchel_env.cache))
    assert all(cache.get(e.alg, e.oid) is None for e in art.manifest)  # no copy kept
    assert os.listdir(cache.tmp_dir()) == []  # nothing staged left behind
    assert check_store(satchel_env.open_store(), deep=True).problems == ()
    assert art.verify(art.download(tmp_path / "out")).verified == len(art.manifest)


def test_a_cache_copy_is_moved_into_a_local_store_not_linked(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 << 20))
    art = Artifact("ds", "dataset")
    entry = art.add_file(big)
    cached = Path(Cache(str(satchel_env.cache)).object_path(entry.alg, entry.oid))
    inode = cached.stat().st_ino
    art.save()
    stored = _object_path(satchel_env.store, entry.alg, entry.oid)
    # one rename: the same inode under its one new name, the cache's name gone
    assert stored.stat().st_ino == inode and stored.stat().st_nlink == 1
    assert not cached.exists()
    assert time.time() - stored.stat().st_mtime < 60  # young, as gc's grace period expects


def test_damaging_every_cache_file_leaves_a_local_store_intact(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    """The issue's repro: put, damage the cache in place, `satchel fsck --deep` and `get`."""
    data = write_tree(tmp_path / "data", FILES)
    bucket = f"memory://disposable-{uuid.uuid4().hex[:8]}/s"
    # a commit to a bucket-like store first, so the cache holds copies the local commit reuses
    first = Artifact("ds", "dataset")
    first.add_dir(data)
    first.save(store=bucket)
    assert _inodes(satchel_env.cache / "objects")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cli = [sys.executable, "-m", "satchel"]
    put = subprocess.run(
        [*cli, "put", str(data), "--name", "ds", "--type", "dataset"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert put.returncode == 0, put.stderr
    # the bucket's download fills the cache again: every object the local store has, cached
    Api(bucket, cache_dir=str(satchel_env.cache)).artifact("ds").download(tmp_path / "b")
    damaged = 0
    for top in ("objects", "refs", "tmp"):
        for p in (satchel_env.cache / top).rglob("*") if (satchel_env.cache / top).exists() else []:
            if p.is_file():
                _damage_in_place(p)
                damaged += 1
    assert damaged >= len(FILES)
    fsck = subprocess.run(
        [*cli, "fsck", "--deep"], env=env, capture_output=True, text=True, check=False
    )
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    get = subprocess.run(
        [*cli, "get", "ds", "--root", str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert get.returncode == 0, get.stderr
    assert read_tree(tmp_path / "out") == FILES
    _assert_nothing_shared(satchel_env.store, satchel_env.cache)


def test_a_damaged_cache_copy_found_by_an_add_is_never_stored(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    data = write_tree(tmp_path / "data", FILES)
    bucket = f"memory://disposable-{uuid.uuid4().hex[:8]}/s"
    first = Artifact("ds", "dataset")
    first.add_dir(data)
    first.save(store=bucket)  # the cache keeps its copies; the stat cache knows the files
    entry = first.get_entry("b/c.bin")
    cached = Path(Cache(str(satchel_env.cache)).object_path(entry.alg, entry.oid))
    _damage_in_place(cached)  # same size: only a hash can tell
    again = Artifact("ds", "dataset")
    again.add_dir(data)  # reuses the (damaged) cache copies without reading the files
    again.save()  # to the local store
    stored = _object_path(satchel_env.store, entry.alg, entry.oid)
    assert stored.read_bytes() == FILES["b/c.bin"]  # taken from the unchanged original file
    assert not cached.exists()  # the damaged copy was evicted
    assert check_store(satchel_env.open_store(), deep=True).problems == ()


def test_a_damaged_cache_copy_with_its_file_gone_fails_the_save(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    data = write_tree(tmp_path / "data", FILES)
    bucket = f"memory://disposable-{uuid.uuid4().hex[:8]}/s"
    first = Artifact("ds", "dataset")
    first.add_dir(data)
    first.save(store=bucket)
    entry = first.get_entry("b/c.bin")
    _damage_in_place(Path(Cache(str(satchel_env.cache)).object_path(entry.alg, entry.oid)))
    again = Artifact("ds", "dataset")
    again.add_dir(data)
    (data / "b" / "c.bin").unlink()
    with pytest.raises(
        StoreError,
        match=r"content of b/c.bin \(digest .*\) is in neither the "
        r"store .* nor the local cache; add the file again",
    ):
        again.save()
    assert satchel_env.open_store().live_versions("default", "ds") == []


def test_hard_links_left_by_an_older_satchel_are_undone(
    tmp_path: Path, satchel_env: SatchelEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_tree(tmp_path / "data", FILES)
    art = _commit(local_services(), data)
    cache = Cache(str(satchel_env.cache))
    linked = []
    for e in art.manifest:  # what satchel did before issue 10: cache and store share an inode
        cpath = Path(cache.object_path(e.alg, e.oid))
        cpath.parent.mkdir(parents=True, exist_ok=True)
        os.link(_object_path(satchel_env.store, e.alg, e.oid), cpath)
        linked.append((e, cpath))
    first, cpath = linked[0]
    assert cache.get(first.alg, first.oid) is None  # the first use drops the cache's name
    assert not cpath.exists()
    assert _object_path(satchel_env.store, first.alg, first.oid).stat().st_nlink == 1
    assert main(["cache", "cleanup", "--target-size", "10GB"]) == 0  # drops every other one
    capsys.readouterr()
    assert not any(p.exists() for _e, p in linked)
    _assert_nothing_shared(satchel_env.store, satchel_env.cache)
    assert check_store(satchel_env.open_store(), deep=True).problems == ()


def test_a_killed_commit_never_leaves_a_shared_inode(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    """SIGKILL at random moments of commits to a local store (small files, a big one)."""
    script = (
        "import sys, satchel\n"
        "a = satchel.Artifact(sys.argv[1], 'dataset')\n"
        "a.add_dir(sys.argv[2])\n"
        "print('added', flush=True)\n"
        "a.save()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    for i, delay in enumerate((0.0, 0.02, 0.05, 0.1, 0.2)):
        files = {f"d{k % 7}/f{k:04d}.bin": os.urandom(512 + k) for k in range(300)}
        data = write_tree(tmp_path / f"data{i}", files)  # new content: every object is sent
        (data / "big.bin").write_bytes(os.urandom(DIRECT_MIN + 1))
        proc = subprocess.Popen(
            [sys.executable, "-c", script, f"k{i}", str(data)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "added"
        time.sleep(delay)  # somewhere inside save(): uploads, manifest, record
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _assert_nothing_shared(satchel_env.store, satchel_env.cache, some=False)
    _assert_nothing_shared(satchel_env.store, satchel_env.cache)  # some run got to uploads
    report = check_store(satchel_env.open_store(), deep=True)
    assert report.problems == ()


def test_moving_into_a_store_on_another_filesystem_copies_and_removes(tmp_path: Path) -> None:
    shm = Path("/dev/shm") / f"satchel-test-{uuid.uuid4().hex[:8]}"  # tmpfs, not tmp_path's fs
    shm.mkdir()
    try:
        src = shm / "obj"
        src.write_bytes(b"moving bytes")
        os.chmod(src, READ_ONLY)
        assert os.stat(shm).st_dev != os.stat(tmp_path).st_dev
        dest = tmp_path / "store" / "o"
        assert move_object(str(src), str(dest)) == "copy"
        assert not src.exists() and dest.read_bytes() == b"moving bytes"
        assert dest.stat().st_nlink == 1 and (dest.stat().st_mode & 0o777) == READ_ONLY
        same = tmp_path / "same"
        same.write_bytes(b"same fs")
        assert move_object(str(same), str(tmp_path / "store" / "p")) == "move"
        # a private copy: never a hard link (reflink where the filesystem offers it)
        assert copy_object(str(dest), str(tmp_path / "store" / "q")) in ("copy", "reflink")
        assert os.stat(tmp_path / "store" / "q").st_ino != dest.stat().st_ino
    finally:
        shutil.rmtree(shm, ignore_errors=True)


def test_a_cache_on_another_filesystem_than_the_store(tmp_path: Path) -> None:
    shm = Path("/dev/shm") / f"satchel-test-{uuid.uuid4().hex[:8]}"
    try:
        services = local_services(cache_dir=str(shm / "cache"), store=str(tmp_path / "store"))
        data = write_tree(
            tmp_path / "data", {**FILES, **{f"m/{i}": bytes([i]) * 99 for i in range(20)}}
        )
        big = tmp_path / "big.bin"
        big.write_bytes(os.urandom(2 << 20))
        art = Artifact("ds", "dataset", services=services)
        art.add_dir(data)
        art.add_file(big)
        art.save(PROJECT)
        _assert_nothing_shared(tmp_path / "store", shm / "cache")
        assert os.listdir(shm / "cache" / "tmp") == []
        assert check_store(open_store(str(tmp_path / "store")), deep=True).problems == ()
    finally:
        shutil.rmtree(shm, ignore_errors=True)


def test_copies_between_local_stores_and_collaborative_parts_share_no_inode(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    import satchel

    data = write_tree(tmp_path / "data", FILES)
    art = _commit(local_services(), data)
    other = open_store(str(tmp_path / "other"))
    api = satchel_env.api(PROJECT)
    copied = api.copy_artifact_version(art.qualified_name, project="p2", store=other)
    assert copied.version == "v0"
    draft = api.artifact(art.qualified_name).new_draft()
    draft.add(b"more", "more.bin")
    draft.save(store=str(tmp_path / "third"))
    for root in (satchel_env.store, tmp_path / "other", tmp_path / "third"):
        _assert_nothing_shared(root, satchel_env.cache)
    mine = _inodes(satchel_env.store)
    assert not set(_inodes(tmp_path / "other")) & set(mine)  # separate copies, not links
    with satchel.init(project=PROJECT, group="g1") as run:
        part = Artifact("collab", "dataset")
        part.add_dir(data)
        run.upsert_artifact(part)
    with satchel.init(project=PROJECT, group="g1") as run:
        run.finish_artifact(Artifact("collab", "dataset"))
    _assert_nothing_shared(satchel_env.store, satchel_env.cache)


def test_a_corrupt_source_object_is_never_copied_or_removed(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    data = write_tree(tmp_path / "data", FILES)
    art = _commit(local_services(), data)
    entry = art.get_entry("b/c.bin")
    src_obj = _object_path(satchel_env.store, entry.alg, entry.oid)
    _damage_in_place(src_obj)
    target = open_store(str(tmp_path / "other"))
    with pytest.raises(
        DigestMismatchError,
        match=(
            rf"b/c.bin: the store object {layout.object_key(entry.alg, entry.oid)} in "
            rf"{re.escape(str(satchel_env.store))} is corrupt \(its bytes hash to .*, expected "
            rf"{re.escape(entry.digest)}\); nothing was copied and the object was left as it is. "
            rf"Run 'satchel --store {re.escape(str(satchel_env.store))} fsck --deep'"
        ),
    ):
        source = satchel_env.open_store()
        copy_version(
            local_services(),
            source,
            source.version(PROJECT, "ds", art.version_index),
            target=target,
            project="p2",
        )
    assert src_obj.read_bytes() == b"\xee" * src_obj.stat().st_size  # kept, not deleted
    assert target.live_versions("p2", "ds") == []


# -- failed reads leave nothing wrong under a final name -------------------------------------


@pytest.mark.parametrize("read", ["download", "checkout", "get", "file", "cli"])
def test_a_corrupt_store_object_fails_every_read_and_is_kept(
    quick_store_case: StoreCase,
    tmp_path: Path,
    read: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = quick_store_case
    files = {"only.bin": FILES["b/c.bin"]} if read == "file" else FILES
    logical = "only.bin" if read == "file" else "b/c.bin"
    data = write_tree(tmp_path / "data", files)
    art = _commit(_services(case, tmp_path / "c1"), data)
    entry = art.get_entry(logical)
    store = case.open()
    _corrupt_store_object(case, store, entry.alg, entry.oid, entry.size or 0)
    corrupt = _stored_bytes(store, entry.alg, entry.oid)
    fresh = _services(case, tmp_path / "c2")
    committed = Api(store, PROJECT, services=fresh).artifact("ds:v0")
    out = tmp_path / ("co" if read == "checkout" else "dl")
    old = write_tree(out, {logical: b"a stale file the download would replace"})
    before = (old / logical).read_bytes()
    local = case.kind == "local"
    where = (
        rf"the store object {re.escape(str(store.local_object_path(entry.alg, entry.oid)))}"
        if local
        else rf"the store object {layout.object_key(entry.alg, entry.oid)} in "
        rf"{re.escape(store.url)}"
    )
    message = (
        rf"{PROJECT}/ds:v0: {logical}: {where} is corrupt: its bytes hash to .*, the manifest "
        rf"says {re.escape(entry.digest)}; nothing was written"
        + (
            r", and the object was left as it is \(it may be the only copy\)"
            if local
            else r" or cached"
        )
        + r". Run 'satchel fsck --deep' to list every damaged object"
    )
    if read == "cli":  # in this process (a memory:// store lives in it), as the shell does
        monkeypatch.setenv("SATCHEL_STORE", case.url)
        monkeypatch.setenv("SATCHEL_CACHE_DIR", str(tmp_path / "c2"))
        if case.options:
            monkeypatch.setenv("SATCHEL_STORAGE_OPTIONS", json.dumps({"s3": case.options}))
        code = main(["--project", PROJECT, "get", "ds:v0", "--root", str(out)])
        err = capsys.readouterr().err
        assert code == 1 and re.fullmatch(rf"satchel: error: {message}\n", err), err
    else:
        call = {
            "download": lambda: committed.download(out),
            "checkout": lambda: committed.checkout(out),
            "get": lambda: committed.get(logical),
            "file": lambda: committed.file(out),
        }[read]
        with pytest.raises(DigestMismatchError, match=message):
            call()
    if read != "get":
        assert (out / logical).read_bytes() == before  # never replaced by the wrong bytes
        assert _leftovers(out) == []
    assert _stored_bytes(store, entry.alg, entry.oid) == corrupt  # the only copy is kept
    assert fresh.cache.get(entry.alg, entry.oid) is None  # nothing corrupt entered the cache


@pytest.mark.parametrize("read", ["download", "checkout", "get", "file"])
def test_a_corrupt_cache_object_is_fetched_again_on_every_read(
    quick_store_case: StoreCase, tmp_path: Path, read: str
) -> None:
    case = quick_store_case
    files = {"only.bin": FILES["b/c.bin"]} if read == "file" else FILES
    logical = "only.bin" if read == "file" else "b/c.bin"
    data = write_tree(tmp_path / "data", files)
    services = _services(case, tmp_path / "c1")
    art = _commit(services, data)
    entry = art.get_entry(logical)
    cached = Path(services.cache.object_path(entry.alg, entry.oid))
    if case.kind == "local":  # nothing to damage: the cache holds no copy of it
        assert not cached.exists()
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(b"\xee" * (entry.size or 0))  # a stray one is simply not used
    else:
        _damage_in_place(cached)
    committed = Api(case.open(), PROJECT, services=_services(case, tmp_path / "c1")).artifact(
        "ds:v0"
    )
    out = tmp_path / "out"
    if read == "get":
        assert committed.get(logical) == files[logical]
    elif read == "file":
        assert Path(committed.file(out)).read_bytes() == files[logical]
    else:
        root = committed.download(out) if read == "download" else committed.checkout(out)
        assert read_tree(root) == files
    if case.kind != "local":
        assert cached.read_bytes() == files[logical]  # repaired from the store
    assert check_store(case.open(), deep=True).problems == ()


def test_a_refetch_that_fails_leaves_nothing_under_the_final_name(
    quick_store_case: StoreCase, tmp_path: Path
) -> None:
    """The issue's checkout.py bug: a corrupt cache object is evicted, the re-fetch raises
    (the store object is corrupt too), and the wrong bytes stayed in the target."""
    case = quick_store_case
    data = write_tree(tmp_path / "data", FILES)
    services = _services(case, tmp_path / "c1")
    art = _commit(services, data)
    entry = art.get_entry("b/c.bin")
    cached = Path(services.cache.object_path(entry.alg, entry.oid))
    if case.kind == "local":  # no cache copy (reads are in place); a stray one is not used
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(b"\xee" * (entry.size or 0))
    else:
        _damage_in_place(cached)
    store = case.open()
    _corrupt_store_object(case, store, entry.alg, entry.oid, entry.size or 0)
    committed = Api(store, PROJECT, services=_services(case, tmp_path / "c1")).artifact("ds:v0")
    with pytest.raises(DigestMismatchError, match="is corrupt: .*; nothing was written"):
        committed.download(tmp_path / "out")
    assert not (tmp_path / "out" / "b" / "c.bin").exists()
    assert _leftovers(tmp_path / "out") == []
    if case.kind != "local":
        assert services.cache.get(entry.alg, entry.oid) is None


def test_a_missing_local_store_object_is_reported_like_any_missing_object(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    data = write_tree(tmp_path / "data", FILES)
    art = _commit(local_services(), data)
    entry = art.get_entry("a.txt")
    _object_path(satchel_env.store, entry.alg, entry.oid).unlink()
    store = satchel_env.open_store()
    with pytest.raises(FileNotFoundError) as expected:  # what Store.open_object raises
        store.open_object(entry.alg, entry.oid, what=f"{PROJECT}/ds:v0 file a.txt")
    with pytest.raises(type(expected.value)) as got:
        satchel_env.api(PROJECT).artifact("ds").download(tmp_path / "out")
    assert str(got.value) == str(expected.value)
    assert not (tmp_path / "out" / "a.txt").exists()


# -- drafts --------------------------------------------------------------------------------


def test_get_on_a_draft_checks_the_bytes_it_holds(tmp_path: Path, satchel_env: SatchelEnv) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 << 20))  # a cached copy (too big for a pack)
    frozen = tmp_path / "frozen.txt"
    frozen.write_bytes(b"immutable bytes")
    small = write_tree(tmp_path / "small", {f"f{i}.txt": f"pack {i}".encode() for i in range(20)})
    draft = Artifact("ds", "dataset")
    cached = draft.add_file(big)
    draft.add_file(frozen, policy="immutable")
    draft.add_dir(small, name="small")
    cpath = Path(Cache(str(satchel_env.cache)).object_path(cached.alg, cached.oid))
    _damage_in_place(cpath)
    with pytest.raises(
        DigestMismatchError,
        match=(
            rf"ds: big.bin: its cached copy {re.escape(str(cpath))} is damaged \(its bytes hash "
            rf"to .*, not {re.escape(cached.digest)}\) and was not used; add the file again"
        ),
    ):
        draft.get("big.bin")
    assert not cpath.exists()  # evicted: a save reads the original file instead
    frozen.write_bytes(b"immutable bytes, changed")
    with pytest.raises(
        SourceFileChangedError,
        match=(
            r"frozen.txt \(.*frozen.txt\) changed since it was added with policy='immutable' "
            r"\(it hashes to .*, not .*\); add it again"
        ),
    ):
        draft.get("frozen.txt")
    pack = next(
        p
        for p in Path(Cache(str(satchel_env.cache)).tmp_dir()).iterdir()
        if p.name.startswith("pack-")
    )
    os.chmod(pack, 0o644)
    pack.write_bytes(b"\x00" * pack.stat().st_size)
    with pytest.raises(
        DigestMismatchError,
        match=(
            r"ds: small/f0.txt: its snapshot in .*pack-.* is damaged \(its bytes hash to .*, "
            r"not .*\) and was not used; add the file again"
        ),
    ):
        draft.get("small/f0.txt")


def test_a_staged_write_that_fails_its_check_keeps_nothing(tmp_path: Path) -> None:
    cache = Cache(str(tmp_path / "c"))
    dest = cache.ref_path("s3://b/k", "v1")

    def reject(_digest: str, size: int) -> None:
        raise DigestMismatchError(f"refused {size} bytes")

    with pytest.raises(DigestMismatchError, match="refused 5 bytes"):
        cache.put_stream(
            io.BytesIO(b"bytes"), dest, alg="md5", expected_digest=None, what="x", check=reject
        )
    assert not os.path.exists(dest) and _leftovers(Path(cache.root)) == []
    with pytest.raises(DigestMismatchError, match=r"y has digest .* expected .*nothing was kept"):
        cache.stage_stream(io.BytesIO(b"bytes"), alg="md5", expected_digest="AAAA", what="y")
    assert os.listdir(cache.tmp_dir()) == []


# -- references ----------------------------------------------------------------------------


class MirrorHandler:
    """A third-party handler (``mirror:///path``) that trusts its source: it copies the file's
    current bytes into the cache unchecked and records an MD5 the download holds it to."""

    def __init__(self, context: Any) -> None:
        self.context = context

    def entries(
        self, uri: str, *, name: str | None, checksum: bool, max_objects: int
    ) -> list[ManifestEntry]:
        data = Path(uri.removeprefix("mirror://")).read_bytes()
        return [ManifestEntry(name or "mirrored.bin", hash_bytes(data), len(data), uri)]

    def load(self, entry: ManifestEntry, dest_root: str | None = None) -> list[tuple[str, str]]:
        assert entry.ref is not None
        cache: Cache = self.context.cache
        dest = cache.ref_path(entry.ref, entry.digest)
        with open(entry.ref.removeprefix("mirror://"), "rb") as f:
            cache.put_stream(f, dest, alg="md5", expected_digest=None, what=entry.ref)
        return [("", dest)]

    def content_digest(self, entry: ManifestEntry) -> tuple[str, str] | None:
        return ("md5", entry.digest)


def test_reference_bytes_that_stay_wrong_are_never_written(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(b"recorded bytes")
    services = local_services()
    services.handlers.register("mirror", f"{__name__}:MirrorHandler")
    art = Artifact("refs", "dataset", services=services)
    (entry,) = art.add_reference(f"mirror://{source}")
    art.save()
    source.write_bytes(b"changed bytes!")  # same size, other content
    committed = Api(services=services).artifact("refs")
    out = write_tree(tmp_path / "out", {"mirrored.bin": b"what was there"})
    message = (
        rf"default/refs:v0: mirrored.bin: the bytes of reference mirror://{re.escape(str(source))}"
        rf" hash to {re.escape(hash_bytes(b'changed bytes!'))}, not to the recorded "
        rf"{re.escape(entry.digest)}, even when fetched again; nothing was written or kept. The "
        r"referenced object changed or is damaged: re-add the reference"
    )
    with pytest.raises(DigestMismatchError, match=message):
        committed.download(out)
    assert (out / "mirrored.bin").read_bytes() == b"what was there"
    with pytest.raises(DigestMismatchError, match=message):
        committed.get("mirrored.bin")
    assert not os.path.exists(services.cache.ref_path(entry.ref or "", entry.digest))


# -- re-adding what a local store holds -------------------------------------------------------


def test_re_adding_an_unchanged_folder_reads_nothing_the_store_holds(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    from tests.conftest import count_opens

    many = {f"d/f{i:03d}.bin": f"file {i}\n".encode() * 50 for i in range(30)}
    data = write_tree(tmp_path / "data", {**many, "big.bin": os.urandom(2 << 20)})
    first = Artifact("ds", "dataset")
    first.add_dir(data)
    first.save()
    (data / "d" / "f007.bin").write_bytes(b"changed")
    again = Artifact("ds", "dataset")
    with count_opens(data) as opened:
        again.add_dir(data)  # the stat cache knows the files; the store holds their bytes
    assert sorted({os.path.relpath(p, data) for p in opened.paths}) == [
        os.path.join("d", "f007.bin")
    ]
    again.save()
    assert again.version == "v1"
    assert read_tree(again.download(tmp_path / "out")) == read_tree(data)
    _assert_nothing_shared(satchel_env.store, satchel_env.cache)
    other = again.new_draft()  # and into another store: copied from this one, checked
    other.save(store=str(tmp_path / "other"))
    assert check_store(open_store(str(tmp_path / "other")), deep=True).problems == ()
    assert read_tree(Api(str(tmp_path / "other")).artifact("ds").download(tmp_path / "o2")) == (
        read_tree(data)
    )


def test_a_corrupt_store_object_found_by_an_add_is_never_copied(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    data = write_tree(tmp_path / "data", FILES)
    first = Artifact("ds", "dataset")
    first.add_dir(data)
    first.save()
    entry = first.get_entry("b/c.bin")
    obj = _object_path(satchel_env.store, entry.alg, entry.oid)
    again = Artifact("ds2", "dataset")
    again.add_dir(data)  # finds the store's objects
    _damage_in_place(obj)
    with pytest.raises(
        DigestMismatchError,
        match=(
            rf"ds2: b/c.bin: the store object {re.escape(str(obj))} is corrupt: its bytes hash "
            rf"to .*, the manifest says {re.escape(entry.digest)}; nothing was read, and the "
            r"object was left as it is. Run 'satchel fsck --deep' to list every damaged object"
        ),
    ):
        again.get("b/c.bin")
    with pytest.raises(
        DigestMismatchError,
        match=(
            rf"b/c.bin: the store object {re.escape(str(obj))} is corrupt \(its bytes hash to "
            rf".*, expected {re.escape(entry.digest)}\); nothing was copied and the object was "
            r"left as it is. Run 'satchel fsck --deep' on its store"
        ),
    ):
        again.save(store=str(tmp_path / "other"))
    assert obj.read_bytes() == b"\xee" * obj.stat().st_size  # kept
    assert open_store(str(tmp_path / "other")).live_versions("default", "ds2") == []


def test_get_on_a_new_draft_reads_inherited_entries_in_place_and_checks_them(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    data = write_tree(tmp_path / "data", FILES)
    art = _commit(local_services(), data)
    draft = satchel_env.api(PROJECT).artifact("ds").new_draft()
    assert draft.get("b/c.bin") == FILES["b/c.bin"]
    entry = art.get_entry("b/c.bin")
    obj = _object_path(satchel_env.store, entry.alg, entry.oid)
    _damage_in_place(obj)
    with pytest.raises(
        DigestMismatchError,
        match=(rf"^ds \(draft\): b/c.bin: the store object {re.escape(str(obj))} is corrupt: "),
    ):
        draft.get("b/c.bin")
    assert obj.exists()


def test_a_cache_copy_moved_away_by_another_commit_is_read_again_from_its_file(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 << 20))
    a = Artifact("a", "dataset")
    a.add_file(big)
    b = Artifact("b", "dataset")
    b.add_file(big)  # the same cache copy (a stat-cache hit)
    c = Artifact("c", "dataset")
    c.add_file(big)
    a.save()  # takes the cache copy over
    b.save(store=str(tmp_path / "other"))  # its snapshot is gone: the unchanged file is read
    c.save()  # the same store: the object is already there
    entry = a.get_entry("big.bin")
    for root in (satchel_env.store, tmp_path / "other"):
        assert _object_path(root, entry.alg, entry.oid).read_bytes() == big.read_bytes()
        assert check_store(open_store(str(root)), deep=True).problems == ()
    _assert_nothing_shared(tmp_path / "other", satchel_env.cache)
