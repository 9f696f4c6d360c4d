"""What the cache reports and frees: only bytes that deleting frees (hard links elsewhere keep
a file's bytes), and temporaries of killed writers (``tmp/`` and hidden ``.tmp`` files),
counted by ``cache info`` and removed by ``cache cleanup`` once old, while a live draft's packs
are kept whatever their age."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from satchel import Cache
from satchel.cache import TEMPORARY_MAX_AGE, CacheUsage
from satchel.cli import main
from tests.conftest import SatchelEnv, write_tree

REPO = Path(__file__).resolve().parents[2]
OLD = time.time() - TEMPORARY_MAX_AGE - 3600


def _age(path: Path | str) -> None:
    os.utime(path, (OLD, OLD))


def test_files_that_hard_links_outside_keep_are_not_counted_and_lose_their_cache_name(
    tmp_path: Path,
) -> None:
    cache = Cache(str(tmp_path / "c"))
    paths = [cache.add_bytes(bytes([i]) * 1000, alg="md5")[2] for i in range(3)]
    os.link(paths[0], tmp_path / "store-object")  # as a local store's object on this disk
    assert cache.usage() == CacheUsage(files=2, bytes=2000, shared_files=1, shared_bytes=1000)
    assert cache.size() == 2000
    result = cache.cleanup(0)
    assert (result.removed_files, result.freed_bytes, result.remaining_bytes) == (2, 2000, 0)
    assert (result.shared_files, result.shared_bytes) == (1, 1000)
    # the cache's name of the shared file went too (freeing nothing): the outside file stays
    # whole and is no longer tied to the disposable cache
    assert [os.path.exists(p) for p in paths] == [False, False, False]
    assert (tmp_path / "store-object").read_bytes() == bytes([0]) * 1000
    assert cache.usage() == CacheUsage()


def test_two_names_of_one_inode_in_the_cache_count_once_and_go_together(tmp_path: Path) -> None:
    cache = Cache(str(tmp_path / "c"))
    obj = cache.add_bytes(b"x" * 500, alg="md5")[2]
    ref = cache.ref_path("s3://b/k", "etag")
    os.makedirs(os.path.dirname(ref))
    os.link(obj, ref)
    assert cache.usage() == CacheUsage(files=2, bytes=500)
    assert cache.cleanup(0).freed_bytes == 500
    assert not os.path.exists(obj) and not os.path.exists(ref)


def test_temporaries_are_counted_and_removed_once_old(tmp_path: Path) -> None:
    cache = Cache(str(tmp_path / "c"))
    obj = cache.add_bytes(b"kept", alg="md5")[2]
    stale = Path(cache.tmp_dir()) / "add-1-2"
    stale.write_bytes(b"s" * 100)
    fresh = Path(cache.tmp_dir()) / "add-3-4"
    fresh.write_bytes(b"f" * 10)
    hidden = Path(os.path.dirname(obj)) / ".abcd.0123456789ab.tmp"  # an interrupted atomic write
    hidden.write_bytes(b"h" * 7)
    _age(stale)
    _age(hidden)
    assert cache.usage() == CacheUsage(files=1, bytes=4, temporaries=3, temporary_bytes=117)
    dry = cache.cleanup(10**9, dry_run=True)
    assert (dry.removed_temporaries, dry.temporary_bytes, dry.removed_files) == (2, 107, 0)
    assert stale.exists() and hidden.exists()
    result = cache.cleanup(10**9)
    assert (result.removed_temporaries, result.temporary_bytes) == (2, 107)
    assert result.remaining_bytes == 14  # the object and the fresh temporary
    assert not stale.exists() and not hidden.exists() and fresh.exists() and os.path.exists(obj)


_DRAFT = """
import os, sys, time
import satchel
art = satchel.Artifact("ds", "dataset")
art.add_dir(sys.argv[1])                    # 40 small files: snapshot packs in tmp/
print("added", flush=True)
time.sleep(600)
"""


def test_a_live_drafts_packs_are_kept_a_killed_ones_removed(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    data = write_tree(tmp_path / "data", {f"f{i:02d}.txt": f"file {i}" * 20 for i in range(40)})
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-c", _DRAFT, str(data)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "added\n"
        cache = Cache(str(satchel_env.cache))
        packs = sorted(Path(cache.tmp_dir()).glob("pack-*"))
        assert packs
        for pack in packs:
            _age(pack)  # written at add time, only read at save: age says nothing
        assert cache.usage().temporaries == len(packs)
        assert cache.cleanup(0).removed_temporaries == 0
        assert all(p.exists() for p in packs)
        proc.send_signal(signal.SIGKILL)  # a killed writer: nothing releases its packs but
        proc.wait(timeout=30)  # the kernel, which drops its locks
        result = cache.cleanup(0)
        assert result.removed_temporaries == len(packs)
        assert not any(p.exists() for p in packs)
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_cache_commands_report_temporaries_and_shared_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    cache = Cache(str(satchel_env.cache))
    own = cache.add_bytes(b"o" * 300, alg="md5")[2]
    shared = cache.add_bytes(b"s" * 200, alg="md5")[2]
    os.link(shared, tmp_path / "elsewhere")
    stale = Path(cache.tmp_dir()) / "add-9-9"
    stale.write_bytes(b"t" * 50)
    _age(stale)
    assert main(["cache", "info"]) == 0
    root = satchel_env.cache
    assert capsys.readouterr().out == (
        f"{root}: 350 bytes (1 file(s), 300 bytes; 1 temporary file(s), 50 bytes)\n"
        "not counted: 1 file(s), 200 bytes, whose bytes hard links outside the cache keep "
        "(deleting them would free nothing)\n"
    )
    assert main(["cache", "info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "root": str(root),
        "bytes": 350,
        "files": 1,
        "content_bytes": 300,
        "temporaries": 1,
        "temporary_bytes": 50,
        "shared_files": 1,
        "shared_bytes": 200,
    }
    assert main(["cache", "cleanup", "--target-size", "0"]) == 0
    assert capsys.readouterr().out == (
        f"removed 1 files, 300 bytes; 0 bytes remain in {root}\n"
        "removed 1 temporary file(s) of interrupted writers, 50 bytes\n"
        "not counted: 1 file(s), 200 bytes, whose bytes hard links outside the cache keep "
        "(deleting them would free nothing)\n"
        "their names in the cache were removed (the files outside stay whole)\n"
    )
    assert not os.path.exists(own) and not os.path.exists(shared) and not stale.exists()
    assert (tmp_path / "elsewhere").read_bytes() == b"s" * 200
