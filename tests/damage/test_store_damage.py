"""A store that survives damage: one stray or damaged file takes down no more than what it
names; listings skip and report it, fsck names it and goes on, gc keeps what it cannot read,
and ``satchel fsck --repair`` quarantines bad records and puts lost objects back.

Every damage is applied by hand with :mod:`tests.damage.conftest`; commands run as real
subprocesses where the absence of a traceback is the point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from satchel import Api, Artifact
from satchel.errors import (
    ArtifactNotFoundError,
    DamagedRecordError,
    ManifestError,
    ObjectMissingError,
    SourceFileNotFoundError,
    StoreDamageWarning,
    UnsafeManifestPathError,
)
from satchel.fsck import check_store, describe
from satchel.registry import collect_garbage
from satchel.repair import repair_store
from satchel.store import Store, layout
from tests.conftest import SatchelEnv, write_tree
from tests.damage import conftest as dmg
from tests.store.conftest import (
    PROJECT,
    StoreCase,
    commit_files,
    overwrite,
    quick_store_case_fixture,  # noqa: F401 - provides the quick_store_case fixture
    store_case_fixture,  # noqa: F401 - provides the store_case fixture
)

LATER = time.time() + 7200
V0 = {"a.txt": b"alpha", "big.bin": b"B" * 2000}
V1 = {"a.txt": b"alpha", "big.bin": b"C" * 2000, "new.txt": b"new"}
OTHER = {"o.txt": b"other artifact"}


@pytest.fixture
def two(quick_store_case: StoreCase, tmp_path: Path) -> tuple[StoreCase, Store, Api]:
    """``conf/ds`` v0 and v1, and ``conf/other`` v0."""
    services = quick_store_case.services(tmp_path / "cache")
    commit_files(services, "ds", V0, {})
    commit_files(services, "ds", V1, {}, aliases=("prod",))
    commit_files(services, "other", OTHER, {})
    store = quick_store_case.open()
    return quick_store_case, store, Api(store, PROJECT, services=services)


def _fresh(case: StoreCase, tmp_path: Path, cache: str = "cache-fresh") -> Api:
    return Api(case.open(), PROJECT, cache_dir=str(tmp_path / cache))


def _versions(api: Api, name: str) -> list[str]:
    return [a.version for a in api.artifact_versions(name)]


def _kinds(store: Store) -> list[tuple[str, str]]:
    return [(p.kind, p.key) for p in check_store(store).problems]


def _other_still_works(case: StoreCase, tmp_path: Path) -> None:
    api = _fresh(case, tmp_path, "cache-other")
    folder = api.artifact("other").download(str(tmp_path / "other-out"))
    assert (Path(folder) / "o.txt").read_bytes() == OTHER["o.txt"]


# -- stray files in versions/ ------------------------------------------------------------------
def test_a_record_copied_to_01_json_is_a_stray(
    two: tuple[StoreCase, Store, Api], tmp_path: Path
) -> None:
    case, store, _api = two
    key = dmg.copy_record_to_stray(store, PROJECT, "ds", 0, "01.json")
    api = _fresh(case, tmp_path)
    with pytest.warns(StoreDamageWarning, match=rf"^skipped {key}: not a file satchel writes"):
        assert _versions(api, "ds") == ["v1", "v0"]
    assert api.artifact("ds").version == "v1" and api.artifact("ds:v1").version == "v1"
    art = Artifact("ds", "dataset", services=api.services)
    with art.new_file("x.txt", mode="w") as f:
        f.write("x")
    assert art.save(PROJECT).version == "v2"
    assert _kinds(store) == [("stray-file", key)]


@pytest.mark.parametrize("stray", ["abc.json", "3.json~", "v1.json", "1.JSON", "sub"])
def test_other_strays_are_skipped_and_reported(satchel_env: SatchelEnv, stray: str) -> None:
    services = satchel_env.services()
    commit_files(services, "ds", V0, {})
    store = satchel_env.open_store()
    key = f"{layout.versions_folder(PROJECT, 'ds')}/{stray}"
    if stray == "sub":
        key = dmg.stray_file(store, PROJECT, "ds", "sub/inner.json", b"{}")
        key = key.rsplit("/", 1)[0]
    else:
        dmg.stray_file(store, PROJECT, "ds", stray)
    with pytest.warns(StoreDamageWarning, match=rf"skipped {key}:"):
        assert _versions(satchel_env.api(PROJECT), "ds") == ["v0"]
    assert _kinds(store) == [("stray-file", key)]
    result = repair_store(store, cache=services.cache)
    assert result.after.ok and result.after.quarantined == 1


def test_temporaries_of_killed_writers_are_no_problem(satchel_env: SatchelEnv) -> None:
    commit_files(satchel_env.services(), "ds", V0, {})
    folder = satchel_env.store / layout.versions_folder(PROJECT, "ds")
    (folder / ".1.json.0123456789ab.tmp").write_bytes(b'{"id": "half')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _versions(satchel_env.api(PROJECT), "ds") == ["v0"]
    assert check_store(satchel_env.open_store()).ok


# -- records that disagree with their file name ------------------------------------------------
def test_a_truncated_latest_record_blocks_nothing(
    two: tuple[StoreCase, Store, Api], tmp_path: Path
) -> None:
    case, store, _api = two
    key = dmg.truncate_record(store, PROJECT, "ds", 1)
    damaged = store.backend.read(key)
    api = _fresh(case, tmp_path)
    with pytest.warns(StoreDamageWarning, match=rf"^skipped {key}: not a valid version record"):
        assert api.artifact("ds").version == "v0"  # latest skips it
    with pytest.warns(StoreDamageWarning):
        assert _versions(api, "ds") == ["v0"]
    with pytest.raises(
        DamagedRecordError,
        match=rf"^record {key} is damaged: not a valid "
        r"version record \(.*\); run 'satchel fsck', and 'satchel fsck "
        r"--repair' to move it to quarantine$",
    ):
        api.artifact("ds:v1")
    with pytest.raises(DamagedRecordError):  # the alias names the damaged version
        api.artifact("ds:prod")
    # a commit still finds the next free number and never writes over the damaged one
    art = Artifact("ds", "dataset", services=api.services)
    with art.new_file("z.txt", mode="w") as f:
        f.write("z")
    with pytest.warns(StoreDamageWarning):
        assert art.save(PROJECT).version == "v2"
    assert store.backend.read(key) == damaged
    _other_still_works(case, tmp_path)
    problems = check_store(store).problems
    assert [(p.kind, p.key, p.ref) for p in problems] == [
        ("dangling-alias", layout.alias_key(PROJECT, "ds", "prod"), None),
        ("bad-record", key, f"{PROJECT}/ds:v1"),
    ]
    assert problems[0].message == f"alias {PROJECT}/ds:prod names damaged version v1"


def test_a_record_claiming_another_number(
    two: tuple[StoreCase, Store, Api], tmp_path: Path
) -> None:
    case, store, _api = two
    key = dmg.edit_version_field(store, PROJECT, "ds", 1, claims=0)
    api = _fresh(case, tmp_path)
    reason = "it says it is v0, but its file name makes it v1"
    with pytest.warns(StoreDamageWarning, match=rf"^skipped {key}: {reason}"):
        assert _versions(api, "ds") == ["v0"]  # v0 once, not twice
    with pytest.warns(StoreDamageWarning):
        assert api.artifact("ds").version == "v0"
    with pytest.raises(DamagedRecordError, match=reason):
        api.artifact("ds:v1")
    problems = check_store(store).problems
    assert [(p.kind, p.key) for p in problems] == [
        ("dangling-alias", layout.alias_key(PROJECT, "ds", "prod")),
        ("bad-record", key),
    ]
    assert problems[1].message == f"{PROJECT}/ds:v1: {reason}"


def test_a_record_copied_to_a_new_number(two: tuple[StoreCase, Store, Api], tmp_path: Path) -> None:
    case, store, _api = two
    key = dmg.duplicate_record(store, PROJECT, "ds", 0, to=2)
    api = _fresh(case, tmp_path)
    with pytest.warns(StoreDamageWarning, match="it says it is v0, but its file name makes it v2"):
        assert api.artifact("ds").version == "v1"
    assert _kinds(store) == [("bad-record", key)]


def test_a_consistent_duplicate_is_reported_and_repaired(
    two: tuple[StoreCase, Store, Api], tmp_path: Path
) -> None:
    case, store, api = two
    key = dmg.duplicate_record(store, PROJECT, "ds", 0, to=2, consistent=True)
    problems = check_store(store).problems
    assert [(p.kind, p.key) for p in problems] == [("duplicate-record", key)]
    assert problems[0].message == (
        f"{PROJECT}/ds:v2: its record repeats the id of v0 (a copy of that record, not a commit)"
    )
    result = repair_store(store, cache=api.services.cache)
    assert result.moved == (key,) and result.after.ok
    assert _versions(_fresh(case, tmp_path), "ds") == ["v1", "v0"]


def test_a_record_of_another_collection(two: tuple[StoreCase, Store, Api], tmp_path: Path) -> None:
    case, store, _api = two
    key = dmg.foreign_record(store, PROJECT, "ds", 0)
    with pytest.raises(
        DamagedRecordError,
        match=f"it belongs to {PROJECT}/elsewhere, but it lies in the folder of {PROJECT}/ds",
    ):
        _fresh(case, tmp_path).artifact("ds:v0")
    assert _kinds(store) == [("bad-record", key)]


def test_an_index_cached_before_the_check_is_not_trusted(satchel_env: SatchelEnv) -> None:
    services = satchel_env.services()
    commit_files(services, "ds", V0, {})
    commit_files(services, "ds", V1, {})
    api = satchel_env.api(PROJECT)
    assert _versions(api, "ds") == ["v1", "v0"]  # the index now caches both records
    store = satchel_env.open_store()
    dmg.edit_version_field(store, PROJECT, "ds", 1, claims=0)
    os.utime(satchel_env.store / layout.version_key(PROJECT, "ds", 1), (1, 1))
    with pytest.warns(StoreDamageWarning):
        assert _versions(satchel_env.api(PROJECT), "ds") == ["v0"]


# -- attributes, aliases, collection records, pending parts -----------------------------------
def test_damaged_attributes(two: tuple[StoreCase, Store, Api], tmp_path: Path) -> None:
    case, store, api = two
    art = api.artifact("ds:v0")
    art.tags = ["gold"]
    art.save()
    key = dmg.bad_attrs(store, PROJECT, "ds", 0)
    fresh = _fresh(case, tmp_path)
    with pytest.warns(StoreDamageWarning, match=rf"skipped {key}: not a valid record"):
        assert _versions(fresh, "ds") == ["v1", "v0"]  # listed, with its record's attributes
    assert _kinds(store) == [("bad-record", key)]
    result = repair_store(store, cache=api.services.cache)
    assert result.moved == (key,) and result.after.ok


def test_a_damaged_alias(two: tuple[StoreCase, Store, Api], tmp_path: Path) -> None:
    case, store, _api = two
    key = dmg.bad_alias(store, PROJECT, "ds", "prod")
    fresh = _fresh(case, tmp_path)
    with pytest.warns(StoreDamageWarning, match=rf"skipped {key}"):
        assert _versions(fresh, "ds") == ["v1", "v0"]
    with pytest.raises(DamagedRecordError, match=rf"^record {key} is damaged"):
        fresh.artifact("ds:prod")
    assert _kinds(store) == [("bad-record", key)]


def test_no_version_expires_where_a_record_is_damaged(satchel_env: SatchelEnv) -> None:
    import datetime as dt

    services = satchel_env.services()
    commit_files(services, "ds", V0, {})
    commit_files(services, "ds", V1, {})
    api = satchel_env.api(PROJECT)
    art = api.artifact("ds:v0")
    art.ttl = dt.timedelta(minutes=1)
    art.save()
    dmg.bad_alias(satchel_env.open_store(), PROJECT, "ds", "keep")  # it might have named v0
    with pytest.warns(StoreDamageWarning):
        assert (
            collect_garbage(satchel_env.open_store(), grace=0, force=True, now=LATER).expired == ()
        )
    assert api.artifact("ds:v0").version == "v0"


def test_a_lost_collection_record(two: tuple[StoreCase, Store, Api], tmp_path: Path) -> None:
    case, store, api = two
    key = dmg.delete_collection(store, PROJECT, "ds")
    assert [c.name for c in _fresh(case, tmp_path).artifact_collections()] == ["other"]
    assert _kinds(store) == [("missing-collection", key)]
    gc = collect_garbage(store, grace=0, force=True, now=LATER)
    assert gc.objects == () and gc.manifests == ()
    result = repair_store(store, cache=api.services.cache)
    assert result.rewritten == (key,) and result.after.ok
    assert _versions(_fresh(case, tmp_path, "c2"), "ds") == ["v1", "v0"]


def test_a_malformed_collection_record(two: tuple[StoreCase, Store, Api], tmp_path: Path) -> None:
    case, store, api = two
    key = dmg.bad_collection(store, PROJECT, "ds")
    fresh = _fresh(case, tmp_path)
    with pytest.warns(StoreDamageWarning, match=rf"skipped {key}"):
        assert [c.name for c in fresh.artifact_collections()] == ["other"]
    assert _kinds(store) == [("bad-record", key)]
    with pytest.warns(StoreDamageWarning, match=rf"skipped {key}"):
        assert collect_garbage(store, grace=0, force=True, now=LATER).objects == ()
    result = repair_store(store, cache=api.services.cache)
    assert result.moved == (key,) and result.rewritten == (key,) and result.after.ok
    assert _versions(_fresh(case, tmp_path, "c2"), "ds") == ["v1", "v0"]


def test_a_stray_file_among_collections(two: tuple[StoreCase, Store, Api], tmp_path: Path) -> None:
    case, store, api = two
    key = dmg.stray_collection_file(store, PROJECT)
    assert sorted(c.name for c in _fresh(case, tmp_path).artifact_collections()) == ["ds", "other"]
    assert _kinds(store) == [("stray-file", key)]
    assert repair_store(store, cache=api.services.cache).after.ok


def test_a_truncated_pending_part(two: tuple[StoreCase, Store, Api]) -> None:
    _case, store, api = two
    key = dmg.bad_pending_part(store, PROJECT, "ds")
    assert _kinds(store) == [("bad-record", key)]
    gc = collect_garbage(store, grace=0, force=True, now=LATER)
    assert len(gc.unreadable) == 1
    assert gc.unreadable[0].startswith(f"pending part {key} cannot be read (Unterminated string")
    result = repair_store(store, cache=api.services.cache)
    assert result.moved == (key,) and result.after.ok


# -- gc keeps what it cannot read --------------------------------------------------------------
def test_gc_keeps_everything_an_unreadable_record_might_name(
    two: tuple[StoreCase, Store, Api], tmp_path: Path
) -> None:
    case, store, api = two
    api.artifact("other:v0").delete()  # its content is garbage ...
    key = dmg.truncate_record(store, PROJECT, "ds", 0)  # ... but v0's record could name it
    objects = {k for k, _s in store.backend.walk("objects")}
    with pytest.warns(StoreDamageWarning):
        report = collect_garbage(case.open(), grace=0, force=True, now=LATER)
    assert report.objects == () and report.manifests == ()
    assert report.unreadable == (
        f"{key} cannot be read as a version record (Input data was truncated)",
    )
    # other's manifest and object, ds:v0's manifest and its own object
    assert report.kept_unreadable == 4
    assert {k for k, _s in store.backend.walk("objects")} == objects
    # once the record is in quarantine (it is too short to name its manifest), gc sweeps again
    repair_store(store, cache=api.services.cache)
    report = collect_garbage(case.open(), grace=0, force=True, now=LATER)
    assert report.unreadable == () and len(report.objects) == 2 and len(report.manifests) == 2
    folder = _fresh(case, tmp_path).artifact("ds:v1").download(str(tmp_path / "v1"))
    assert (Path(folder) / "big.bin").read_bytes() == V1["big.bin"]


def test_gc_keeps_what_a_stray_record_copy_names(satchel_env: SatchelEnv) -> None:
    services = satchel_env.services()
    commit_files(services, "ds", V0, {})
    commit_files(services, "ds", V1, {})
    store = satchel_env.open_store()
    dmg.copy_record_to_stray(store, PROJECT, "ds", 0, "0.json.bak")
    satchel_env.api(PROJECT).artifact("ds:v0").delete()
    with pytest.warns(StoreDamageWarning):
        report = collect_garbage(store, grace=0, force=True, now=LATER)
    assert report.objects == () and report.manifests == () and report.unreadable == ()


def test_an_unsafe_manifest_stops_nothing_else(
    two: tuple[StoreCase, Store, Api], tmp_path: Path
) -> None:
    case, store, _api = two
    missing = dmg.delete_object(store, PROJECT, "other", 0, "o.txt")
    key = dmg.unsafe_manifest(store, PROJECT, "ds", 0)
    mid = key.split("/")[1] + key.split("/")[2][: -len(".json.gz")]
    problems = check_store(store).problems
    assert [(p.kind, p.key, p.ref) for p in problems] == [
        ("corrupt-manifest", key, f"{PROJECT}/ds:v0"),
        ("missing-object", missing, f"{PROJECT}/other:v0"),
    ]
    assert problems[0].message == (
        f"{PROJECT}/ds:v0: manifest {mid} in {store.url} cannot be used: logical path "
        "'../escape.txt' contains '..'; paths may not leave the artifact root. Run 'satchel fsck'"
    )
    fresh = _fresh(case, tmp_path)
    with pytest.raises(UnsafeManifestPathError, match=rf"^manifest {mid} in .* cannot be used"):
        fresh.artifact("ds:v0").download(str(tmp_path / "evil"))
    assert fresh.artifact("ds:v1").download(str(tmp_path / "good"))
    report = collect_garbage(case.open(), grace=0, force=True, now=LATER)
    assert report.objects == () and report.unreadable[0].startswith(f"{PROJECT}/ds:v0: manifest")


# -- lost and corrupt objects ------------------------------------------------------------------
def test_a_missing_object_is_one_line_on_every_store(store_case: StoreCase, tmp_path: Path) -> None:
    commit_files(store_case.services(tmp_path / "cache"), "ds", V0, {})
    store = store_case.open()
    key = dmg.delete_object(store, PROJECT, "ds", 0, "big.bin")
    api = _fresh(store_case, tmp_path)
    with pytest.raises(ObjectMissingError) as info:
        api.artifact("ds").download(str(tmp_path / "out"))
    assert str(info.value) == (
        f"{PROJECT}/ds:v0 file big.bin: its content is missing from store {store.url} (object "
        f"{key}); run 'satchel fsck' to list what else is damaged, and 'satchel fsck --repair "
        "--from DIR' to put the files back from a folder that holds them"
    )
    assert isinstance(info.value, FileNotFoundError) and info.value.key == key


def test_repair_puts_objects_back_from_the_cache(
    two: tuple[StoreCase, Store, Api], tmp_path: Path
) -> None:
    case, store, api = two
    key = dmg.delete_object(store, PROJECT, "ds", 1, "new.txt")
    # this machine has the bytes in its cache (a commit to a local store keeps no cache copy,
    # so put them there, as a download from a bucket store would)
    api.services.cache.add_bytes(V1["new.txt"], alg="md5")
    result = repair_store(store, cache=api.services.cache)
    assert [k for k, _src in result.restored] == [key] and result.after.ok
    assert result.restored[0][1] == api.services.cache.object_path("md5", key[12:14] + key[15:])
    out = _fresh(case, tmp_path).artifact("ds:v1").download(str(tmp_path / "out"))
    assert (Path(out) / "new.txt").read_bytes() == V1["new.txt"]


def test_repair_never_trusts_a_corrupt_cache_copy(satchel_env: SatchelEnv) -> None:
    services = satchel_env.services()
    commit_files(services, "ds", V0, {})
    store = satchel_env.open_store()
    key = dmg.delete_object(store, PROJECT, "ds", 0, "big.bin")
    cached = Path(services.cache.object_path("md5", key[12:14] + key[15:]))
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(b"X" * 2000)  # right size, wrong bytes
    result = repair_store(store, cache=services.cache)
    assert result.restored == () and result.not_found == (key,)
    assert not cached.exists()  # evicted
    assert [p.kind for p in result.after.problems] == ["missing-object"]


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_repair_puts_objects_back_from_a_folder(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if kind == "local":
        case = StoreCase("local", str(tmp_path / "store"))
    else:
        bucket = request.getfixturevalue("s3_bucket")
        case = StoreCase("s3", f"{bucket.url}/team", dict(bucket.storage_options))
    commit_files(case.services(tmp_path / "cache"), "ds", V1, {})
    store = case.open()
    lost = dmg.delete_object(store, PROJECT, "ds", 0, "big.bin")
    rotten = dmg.corrupt_object(store, PROJECT, "ds", 0, "new.txt", b"rotten")
    source = write_tree(
        tmp_path / "backup",
        {"copy/of/big": V1["big.bin"], "n": b"new", "decoy": b"C" * 1999 + b"D"},
    )
    empty_cache = case.services(tmp_path / "empty-cache").cache
    result = repair_store(store, cache=empty_cache, sources=[source])
    assert dict(result.restored) == {lost: str(source / "copy/of/big"), rotten: str(source / "n")}
    assert result.moved == (rotten,) and result.quarantine is not None
    assert store.backend.read(f"{result.quarantine}/{rotten}") == b"rotten"  # kept, not deleted
    assert result.after.ok and result.after.quarantined == 1
    out = _fresh(case, tmp_path, "c3").artifact("ds").download(str(tmp_path / "out"))
    assert (Path(out) / "big.bin").read_bytes() == V1["big.bin"]
    assert (Path(out) / "new.txt").read_bytes() == b"new"
    # the user's file was copied, never linked into the store
    assert (source / "copy/of/big").stat().st_nlink == 1


def test_repair_refuses_a_missing_source_folder(satchel_env: SatchelEnv) -> None:
    services = satchel_env.services()
    commit_files(services, "ds", V0, {})
    store = satchel_env.open_store()
    dmg.stray_file(store, PROJECT, "ds")
    with pytest.raises(
        SourceFileNotFoundError,
        match=r"^source folder .*nowhere does not exist; "
        r"give a folder that holds the lost files \(nothing was repaired\)$",
    ):
        repair_store(store, cache=services.cache, sources=[satchel_env.work / "nowhere"])
    assert _kinds(store)[0][0] == "stray-file"


def test_a_dry_run_repair_changes_nothing(two: tuple[StoreCase, Store, Api]) -> None:
    _case, store, api = two
    stray = dmg.copy_record_to_stray(store, PROJECT, "ds", 0)
    lost = dmg.delete_object(store, PROJECT, "ds", 1, "new.txt")
    api.services.cache.add_bytes(V1["new.txt"], alg="md5")  # a cached copy to put back
    result = repair_store(store, cache=api.services.cache, dry_run=True)
    assert result.moved == (stray,) and [k for k, _s in result.restored] == [lost]
    assert sorted(_kinds(store)) == [("missing-object", lost), ("stray-file", stray)]


def test_quarantined_records_keep_their_content_from_gc(satchel_env: SatchelEnv) -> None:
    services = satchel_env.services()
    commit_files(services, "ds", V0, {})
    commit_files(services, "ds", V1, {})
    store = satchel_env.open_store()
    dmg.duplicate_record(store, PROJECT, "ds", 0, to=5)  # a copy of v0's record ...
    with pytest.warns(StoreDamageWarning, match="makes it v5"):
        satchel_env.api(PROJECT).artifact("ds:v0").delete()  # ... whose version is deleted
    repair_store(store, cache=services.cache)
    report = collect_garbage(store, grace=0, force=True, now=LATER)
    assert report.objects == () and report.manifests == ()
    assert check_store(store).unreferenced_objects == ()


# -- the command line: no traceback, one line naming the damaged item --------------------------
def _cli(env: SatchelEnv, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "satchel", *args],
        cwd=env.work,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "SATCHEL_PROJECT": PROJECT},
    )


#: every command, in an order where the ones that change the store come last
COMMANDS = {
    "ls": ["ls"],
    "ls-name": ["ls", "ds"],
    "show": ["show", "ds"],
    "get": ["get", "ds", "--root", "got"],
    "verify": ["verify", "ds", "src"],
    "checkout": ["checkout", "ds", "co"],
    "gc-dry-run": ["gc", "--dry-run", "--grace", "0s"],
    "fsck": ["fsck"],
    "put": ["put", "src", "--name", "ds", "--type", "dataset"],
    "gc": ["gc", "--grace", "0s", "--force"],
}


def _damaged_store(env: SatchelEnv, damage: str) -> str:
    services = env.services()
    commit_files(services, "ds", V0, {})
    commit_files(services, "ds", V1, {})
    write_tree(env.work / "src", {**V1, "more.txt": b"more"})
    store = env.open_store()
    if damage == "stray-01":
        return dmg.copy_record_to_stray(store, PROJECT, "ds", 0)
    if damage == "truncated-latest":
        return dmg.truncate_record(store, PROJECT, "ds", 1)
    if damage == "unsafe-manifest":
        return dmg.unsafe_manifest(store, PROJECT, "ds", 1)
    if damage == "missing-object":
        (Path(env.cache) / "objects").rename(Path(env.cache) / "gone")
        return dmg.delete_object(store, PROJECT, "ds", 1, "new.txt")
    raise AssertionError(damage)


@pytest.mark.parametrize(
    "damage", ["stray-01", "truncated-latest", "unsafe-manifest", "missing-object"]
)
def test_no_command_prints_a_traceback(
    satchel_env: SatchelEnv,
    damage: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # in-process, so that 40 commands stay cheap: an exception escaping main() would fail the
    # test just as a traceback would (the subprocess tests below run the real executable)
    from satchel.cli import main

    monkeypatch.setenv("SATCHEL_PROJECT", PROJECT)
    key = _damaged_store(satchel_env, damage)
    name = key.rsplit("/", 1)[-1]
    failed = []
    for command, args in COMMANDS.items():
        returncode = main(args)
        done = capsys.readouterr()
        what = f"{command}: {done.err}"
        assert "Traceback" not in done.err and "Errno" not in done.err, what
        assert returncode in (0, 1), what
        lines = done.err.splitlines()
        errors = [ln for ln in lines if ln.startswith("satchel: error: ")]
        assert len(errors) <= 1, what
        # (verify's error lists the files that differ on indented lines below its one line)
        assert all(
            ln.startswith(("satchel: error: ", "satchel: warning: ", "  ")) for ln in lines
        ), what
        if errors and command not in ("verify",):  # the error names the damaged item
            assert key in errors[0] or name[:8] in errors[0], what
        if returncode:
            failed.append(command)
        if command == "fsck":
            assert returncode == 1 and key in done.out, done.out
    # one damaged file takes down only what it names: listing and committing go on
    assert not {"ls", "ls-name", "put"} & set(failed), failed
    # nothing was lost: the sound version still downloads
    again = _cli(satchel_env, "get", "ds:v0", "--root", "v0")
    assert again.returncode == 0, again.stderr
    assert (satchel_env.work / "v0" / "big.bin").read_bytes() == V0["big.bin"]


def test_fsck_repair_on_the_command_line(satchel_env: SatchelEnv) -> None:
    key = _damaged_store(satchel_env, "truncated-latest")
    done = _cli(satchel_env, "fsck", "--repair", "--dry-run")
    assert done.returncode == 1 and done.stdout.startswith("would move 1 file(s) to quarantine/")
    done = _cli(satchel_env, "fsck", "--repair")
    lines = done.stdout.splitlines()
    assert lines[0].startswith("move 1 file(s) to quarantine/") and lines[1] == f"  {key}"
    assert "after the repair:" in lines and "no problems found" in lines
    assert done.returncode == 0
    done = _cli(satchel_env, "fsck")
    assert done.returncode == 0 and done.stdout.splitlines()[1] == "no problems found", done.stdout
    assert "1 file(s) set aside in quarantine/" in done.stdout
    # the quarantined record's number stays taken (a tombstone holds it)
    assert _cli(satchel_env, "put", "src", "--name", "ds", "--type", "dataset").stdout.startswith(
        f"committed {PROJECT}/ds:v2"
    )
    assert (
        "was moved to quarantine/"
        in json.loads((satchel_env.store / layout.tombstone_key(PROJECT, "ds", 1)).read_bytes())[
            "reason"
        ]
    )


def test_fsck_options_that_need_repair(satchel_env: SatchelEnv) -> None:
    satchel_env.store.mkdir()  # a store folder that does not exist adds a warning line
    done = _cli(satchel_env, "fsck", "--from", "x")
    assert done.returncode == 1 and done.stderr == (
        "satchel: error: --from only goes with --repair; e.g. 'satchel fsck --repair --from DIR'\n"
    )


def test_describe_gives_advice_per_kind(satchel_env: SatchelEnv) -> None:
    commit_files(satchel_env.services(), "ds", V0, {})
    store = satchel_env.open_store()
    dmg.delete_manifest(store, PROJECT, "ds", 0)
    lines = describe(check_store(store))
    at = lines.index("what to do:")
    assert lines[at : at + 2] == [
        "what to do:",
        (
            "  missing-manifest: a version lost its file list: restore the manifest from a backup, "
            "or delete the version ('satchel delete REF')"
        ),
    ]


def test_gc_on_the_command_line_names_what_it_kept(satchel_env: SatchelEnv) -> None:
    key = _damaged_store(satchel_env, "truncated-latest")
    # gc keeps what changed in its own starting second as young (stores date to the second):
    # let that second pass, so the test does not depend on how fast the gc follows the commits
    time.sleep(1.1)
    done = _cli(satchel_env, "gc", "--grace", "0s", "--force")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    # v1's manifest and two objects only its unreadable record names
    assert lines[-2] == (
        "kept 3 unreferenced item(s) that these unreadable files might name "
        "(run 'satchel fsck', then 'satchel fsck --repair'):"
    )
    assert lines[-1] == f"  {key} cannot be read as a version record (Input data was truncated)"
    assert json.loads(_cli(satchel_env, "gc", "--json", "--grace", "0s", "--force").stdout)[
        "unreadable"
    ]


def test_a_deleted_versions_damaged_record_is_no_problem(satchel_env: SatchelEnv) -> None:
    services = satchel_env.services()
    commit_files(services, "ds", V0, {})
    commit_files(services, "ds", V1, {})
    satchel_env.api(PROJECT).artifact("ds:v0").delete()
    dmg.truncate_record(satchel_env.open_store(), PROJECT, "ds", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _versions(satchel_env.api(PROJECT), "ds") == ["v1"]
    with pytest.raises(ArtifactNotFoundError, match="ds:v0 was deleted"):
        satchel_env.api(PROJECT).artifact("ds:v0")
    assert check_store(satchel_env.open_store()).ok


def test_same_content_over_a_damaged_latest_manifest_commits_anew(satchel_env: SatchelEnv) -> None:
    services = satchel_env.services()
    commit_files(services, "ds", V0, {})
    store = satchel_env.open_store()
    dmg.unsafe_manifest(store, PROJECT, "ds", 0)
    with pytest.warns(
        StoreDamageWarning,
        match=rf"^{PROJECT}/ds:v0 holds this content but cannot "
        r"be read \(manifest .* cannot be used: .*\); committing it again as a "
        r"new version$",
    ):
        again = commit_files(satchel_env.services(), "ds", V0, {})
    assert again.version == "v1"
    out = satchel_env.api(PROJECT).artifact("ds").download(str(satchel_env.work / "out"))
    assert (Path(out) / "big.bin").read_bytes() == V0["big.bin"]


# -- every message a damaged store can produce -------------------------------------------------
def test_fsck_names_every_kind_of_damage_in_one_store(satchel_env: SatchelEnv) -> None:
    services = satchel_env.services()
    for name in ("ds", "att", "ali", "nocol", "badcol", "pend"):
        commit_files(services, name, V0, {})
    store = satchel_env.open_store()
    stray = dmg.stray_file(store, PROJECT, "ds", "notes.txt")
    alias_stray = f"{layout.aliases_folder(PROJECT, 'ds')}/readme.md"
    overwrite(store, alias_stray, b"x")
    attrs = dmg.bad_attrs(store, PROJECT, "att", 0)
    alias = dmg.bad_alias(store, PROJECT, "ali", "prod")
    nocol = dmg.delete_collection(store, PROJECT, "nocol")
    badcol = dmg.bad_collection(store, PROJECT, "badcol")
    part = dmg.bad_pending_part(store, PROJECT, "pend")
    file_col = dmg.stray_collection_file(store, PROJECT)
    (satchel_env.store / "projects" / "notes.txt").write_bytes(b"x")
    (satchel_env.store / layout.collection_folder(PROJECT, "empty") / "junk").mkdir(parents=True)
    (satchel_env.store / layout.collection_folder(PROJECT, "empty") / "junk" / "f").write_text("f")
    report = check_store(store)
    got = {(p.kind, p.key): p.message for p in report.problems}
    assert got == {
        ("stray-file", stray): f"{PROJECT}/ds: 'notes.txt' is not a record name; listings skip it",
        ("stray-file", alias_stray): f"{PROJECT}/ds: 'readme.md' is not an alias record name; "
        "listings skip it",
        ("bad-record", attrs): f"{PROJECT}/att:v0: its attributes: not a valid record (Input "
        "data was truncated)",
        ("bad-record", alias): f"alias {PROJECT}/ali:prod: not a valid record (Expected `int`, "
        "got `str` - at `$.version`)",
        ("missing-collection", nocol): f"{PROJECT}/nocol has 1 version record(s) but no "
        "collection record, so listings skip it",
        ("bad-record", badcol): f"{PROJECT}/badcol: not a valid record (JSON is malformed: "
        "object keys must be strings (byte 1))",
        ("bad-record", part): got[("bad-record", part)],
        ("stray-file", file_col): "a file where only artifact folders belong",
        ("stray-file", "projects/notes.txt"): "a file where only project folders belong",
        (
            "stray-file",
            layout.collection_folder(PROJECT, "empty"),
        ): "a folder without a collection record or versions",
    }
    assert got[("bad-record", part)].startswith(f"pending part {part} cannot be read (")
    lines = describe(report)
    advice = lines[lines.index("what to do:") + 1 :]
    assert advice[:3] == [
        (
            "  bad-record: a record cannot be read or contradicts its file name; 'satchel fsck "
            "--repair' moves it to quarantine/"
        ),
        (
            "  missing-collection: versions without their collection record are not listed; "
            "'satchel fsck --repair' writes it again from the versions"
        ),
        (
            "  stray-file: a file satchel did not write sits among its records; 'satchel fsck "
            "--repair' moves it to quarantine/"
        ),
    ]
    result = repair_store(store, cache=services.cache)
    assert result.after.ok, result.after.problems
    assert sorted(result.rewritten) == [
        layout.collection_key(PROJECT, n) for n in ("badcol", "nocol")
    ]
    assert len(result.moved) == 9


def test_fsck_advice_for_what_needs_a_person(satchel_env: SatchelEnv) -> None:
    from satchel.fsck import ADVICE

    assert ADVICE["hidden-name"] == (
        "a name starts with '.', which satchel no longer accepts (such entries look like "
        "temporary files); it stays readable: copy its versions to a valid name ('satchel copy "
        "REF PROJECT/NAME') and delete them; for an alias, add a valid one ('satchel alias add "
        "REF ALIAS') and remove it ('satchel alias rm NAME .ALIAS')"
    )
    assert ADVICE["dangling-alias"] == (
        "an alias names no live version: 'satchel alias rm NAME ALIAS', or point it elsewhere "
        "('satchel alias add REF ALIAS')"
    )
    assert ADVICE["corrupt-manifest"].startswith("a version's file list is damaged")
    assert ADVICE["missing-object"] == (
        "content is gone; 'satchel fsck --repair' puts it back from the cache, '--from DIR' "
        "also from a folder holding the files"
    )
    assert ADVICE["size-mismatch"].endswith("(the bad copy goes to quarantine/)")
    assert ADVICE["digest-mismatch"].startswith(
        "a stored object is corrupt; 'satchel fsck --deep --repair' replaces it"
    )
    assert ADVICE["duplicate-record"].endswith("moves the copy to quarantine/")
    assert ADVICE["missing-format"] == 'restore satchel.json from a backup (it holds {"format": 1})'
    commit_files(satchel_env.services(), "ds", V0, {})
    store = satchel_env.open_store()
    dmg.legacy_hidden(store, PROJECT, "ds")
    lines = describe(check_store(store))
    assert lines[1:4] == [
        "1 problem(s):",
        (
            f"  hidden-name: {layout.collection_folder(PROJECT, '.ds')}: artifact name "
            f"{PROJECT}/.ds starts with '.': satchel reads it, but no longer creates such names, "
            "and an older satchel's gc and fsck did not see it"
        ),
        "what to do:",
    ]


def test_a_malformed_format_record(satchel_env: SatchelEnv) -> None:
    commit_files(satchel_env.services(), "ds", V0, {})
    (satchel_env.store / layout.FORMAT_KEY).write_bytes(b"{")
    report = check_store(satchel_env.open_store())
    assert [(p.kind, p.key) for p in report.problems] == [("bad-record", layout.FORMAT_KEY)]
    assert report.problems[0].message.startswith(
        f"store record {layout.FORMAT_KEY} is malformed: "
    ) and report.problems[0].message.endswith("; run 'satchel fsck'")


def test_open_object_without_an_owner(satchel_env: SatchelEnv) -> None:
    store = satchel_env.open_store()
    key = layout.object_key("md5", "ab" * 16)
    with pytest.raises(ObjectMissingError) as info:
        store.open_object("md5", "ab" * 16)
    assert str(info.value).startswith(f"object {key} is missing from store {store.url} (object ")


def test_a_manifest_that_is_not_a_manifest(satchel_env: SatchelEnv) -> None:
    import gzip
    import hashlib

    commit_files(satchel_env.services(), "ds", V0, {})
    store = satchel_env.open_store()
    data = b'{"contents": 3}'
    mid = hashlib.sha256(data).hexdigest()
    Path(satchel_env.store / layout.manifest_key(mid)).parent.mkdir(parents=True, exist_ok=True)
    Path(satchel_env.store / layout.manifest_key(mid)).write_bytes(gzip.compress(data))
    with pytest.raises(
        ManifestError,
        match=rf"^manifest {mid} in {store.url} cannot be used: "
        r".*Run 'satchel fsck'$",
    ) as info:
        store.get_manifest(mid)
    assert not isinstance(info.value, UnsafeManifestPathError)


def test_fsck_repair_messages_on_the_command_line(satchel_env: SatchelEnv) -> None:
    services = satchel_env.services()
    commit_files(services, "ds", V0, {})
    assert _cli(satchel_env, "fsck", "--repair").stdout.splitlines()[0] == (
        "nothing to repair automatically"
    )
    store = satchel_env.open_store()
    lost = dmg.delete_object(store, PROJECT, "ds", 0, "big.bin")
    gone = dmg.delete_object(store, PROJECT, "ds", 0, "a.txt")
    nocol = dmg.delete_collection(store, PROJECT, "ds")
    # the cache holds big.bin (as after a download from a bucket), not a.txt
    services.cache.add_bytes(V0["big.bin"], alg="md5")
    Path(services.cache.object_path("md5", gone[12:14] + gone[15:])).unlink(missing_ok=True)
    write_tree(satchel_env.work / "backup", {"big": V0["big.bin"]})
    done = _cli(satchel_env, "fsck", "--repair", "--from", "backup")
    lines = done.stdout.splitlines()
    assert lines[:3] == [
        f"write {nocol} again from its versions",
        f"put back {lost} from {services.cache.object_path('md5', lost[12:14] + lost[15:])}",
        f"no good copy of {gone} in the cache or the --from folders",
    ]
    assert done.returncode == 1
    done = _cli(satchel_env, "fsck", "--repair")
    assert done.stdout.splitlines()[0] == f"no good copy of {gone} in the cache; try --from DIR"
    data = json.loads(_cli(satchel_env, "fsck", "--repair", "--json").stdout)
    assert data["not_found"] == [gone] and data["after"]["ok"] is False
    assert _cli(satchel_env, "fsck", "--dry-run").stderr == (
        "satchel: error: --dry-run only goes with --repair; e.g. 'satchel fsck --repair --from "
        "DIR'\n"
    )
