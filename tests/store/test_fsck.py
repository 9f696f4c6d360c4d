"""``satchel fsck``: every problem a damaged store can have is found and explained; what a crash
leaves behind is reported as unreferenced, which is not an error."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from satchel.cli import main
from satchel.fsck import check_store, describe
from satchel.store import Store, layout
from satchel.store.records import AliasRecord, encode
from tests.conftest import SatchelEnv
from tests.store.conftest import (
    PROJECT,
    StoreCase,
    commit_files,
    overwrite,
    quick_store_case_fixture,  # noqa: F401 - provides the quick_store_case fixture
)

FILES = {"a.txt": b"alpha", "dir/b.bin": b"b" * 1000}


@pytest.fixture
def committed(quick_store_case: StoreCase, tmp_path: Path) -> tuple[StoreCase, Store]:
    """A store holding ``conf/ds:v0`` with :data:`FILES`."""
    commit_files(quick_store_case.services(tmp_path / "cache"), "ds", FILES, {})
    return quick_store_case, quick_store_case.open()


def _object_key(store: Store, path: str) -> str:
    record = store.version(PROJECT, "ds", 0)
    entry = store.get_manifest(record.manifest).get(path)
    assert entry is not None
    return layout.object_key(entry.alg, entry.oid)


def _kinds(store: Store, deep: bool = False) -> list[tuple[str, str]]:
    return [(p.kind, p.key) for p in check_store(store, deep=deep).problems]


def test_a_sound_store_has_no_problems(committed: tuple[StoreCase, Store]) -> None:
    _case, store = committed
    report = check_store(store, deep=True)
    assert report.ok and report.problems == ()
    assert (report.versions, report.objects) == (1, 2)
    assert report.unreferenced_objects == () and report.unreferenced_manifests == ()
    assert describe(report)[-1] == "no problems found"


def test_an_empty_store_is_fine(quick_store_case: StoreCase) -> None:
    report = check_store(quick_store_case.open())
    assert report.ok and report.versions == 0


def test_a_missing_object_is_a_problem(committed: tuple[StoreCase, Store]) -> None:
    _case, store = committed
    key = _object_key(store, "dir/b.bin")
    store.backend.delete(key)
    report = check_store(store)
    assert [(p.kind, p.key) for p in report.problems] == [("missing-object", key)]
    assert report.problems[0].message.startswith(
        f"{PROJECT}/ds:v0: the content of dir/b.bin (digest "
    )
    assert report.problems[0].message.endswith(") is missing")


def test_a_corrupt_object_of_the_same_size_needs_deep(committed: tuple[StoreCase, Store]) -> None:
    _case, store = committed
    key = _object_key(store, "dir/b.bin")
    overwrite(store, key, b"c" * 1000)
    assert check_store(store).ok
    report = check_store(store, deep=True)
    assert [(p.kind, p.key) for p in report.problems] == [("digest-mismatch", key)]
    assert "the object's bytes hash to " in report.problems[0].message
    assert report.problems[0].message.endswith("not to its name; the store copy is corrupt")


def test_an_object_of_the_wrong_size_is_a_problem(committed: tuple[StoreCase, Store]) -> None:
    _case, store = committed
    key = _object_key(store, "a.txt")
    overwrite(store, key, b"alphabet")
    report = check_store(store)
    assert [(p.kind, p.key) for p in report.problems] == [("size-mismatch", key)]
    assert report.problems[0].message == (
        f"{PROJECT}/ds:v0: a.txt should be 5 bytes, the stored object has 8"
    )


def test_a_missing_manifest_is_a_problem(committed: tuple[StoreCase, Store]) -> None:
    _case, store = committed
    manifest_id = store.version(PROJECT, "ds", 0).manifest
    store.backend.delete(layout.manifest_key(manifest_id))
    report = check_store(store)
    assert [p.kind for p in report.problems] == ["missing-manifest"]
    assert report.problems[0].message == f"{PROJECT}/ds:v0: its manifest {manifest_id} is missing"


def test_a_tampered_manifest_is_a_problem(committed: tuple[StoreCase, Store]) -> None:
    _case, store = committed
    manifest_id = store.version(PROJECT, "ds", 0).manifest
    key = layout.manifest_key(manifest_id)
    data = json.loads(gzip.decompress(store.backend.read(key)))
    data["contents"]["a.txt"]["size"] = 6
    overwrite(store, key, gzip.compress(json.dumps(data).encode()))
    report = check_store(store)
    assert [(p.kind, p.key) for p in report.problems] == [("corrupt-manifest", key)]
    assert "does not match its checksum" in report.problems[0].message


def test_a_malformed_version_record_is_a_problem(committed: tuple[StoreCase, Store]) -> None:
    _case, store = committed
    key = layout.version_key(PROJECT, "ds", 0)
    overwrite(store, key, b"{not json")
    assert _kinds(store) == [("bad-record", key)]


def test_an_alias_to_a_missing_version_is_a_problem(committed: tuple[StoreCase, Store]) -> None:
    _case, store = committed
    key = layout.alias_key(PROJECT, "ds", "prod")
    store.backend.create_if_absent(key, encode(AliasRecord(7)))
    report = check_store(store)
    assert [(p.kind, p.key) for p in report.problems] == [("dangling-alias", key)]
    assert report.problems[0].message == f"alias {PROJECT}/ds:prod names missing version v7"


def test_what_a_crash_leaves_is_unreferenced_not_a_problem(
    committed: tuple[StoreCase, Store], tmp_path: Path
) -> None:
    _case, store = committed
    orphan = tmp_path / "orphan"
    orphan.write_bytes(b"uploaded, then the commit died")
    store.put_object("md5", "ab" * 16, str(orphan))
    report = check_store(store)
    assert report.ok
    assert report.unreferenced_objects == ((layout.object_key("md5", "ab" * 16), 30),)
    assert describe(report)[-1] == (
        "unreferenced (not errors; 'satchel gc' removes them): 1 object(s), 30 bytes; 0 manifest(s)"
    )


def test_a_commit_killed_before_its_first_record_leaves_no_problem(
    satchel_env: SatchelEnv,
) -> None:
    """A local commit killed between taking the collection record's lock and writing it
    leaves a folder holding only that lock (and perhaps a temporary): not damage. (Local
    stores only: buckets have no folders, nothing is left before the first record.)"""
    commit_files(satchel_env.services(), "ds", FILES, {})
    folder = satchel_env.store / layout.collection_folder(PROJECT, "killed")
    folder.mkdir(parents=True)
    (folder / "collection.json.lock").touch()
    (folder / ".collection.json.0123456789ab.tmp").write_bytes(b"{")
    store = satchel_env.open_store()
    assert check_store(store).problems == ()
    (folder / "notes.txt").write_text("mine")  # a file satchel never writes
    assert [(p.kind, p.message) for p in check_store(store).problems] == [
        ("stray-file", "a folder without a collection record or versions")
    ]


def test_a_deleted_versions_content_is_unreferenced(committed: tuple[StoreCase, Store]) -> None:
    _case, store = committed
    store.backend.create_if_absent(layout.tombstone_key(PROJECT, "ds", 0), b"{}")
    report = check_store(store)
    assert report.ok and report.versions == 0
    assert len(report.unreferenced_objects) == 2 and len(report.unreferenced_manifests) == 1


def test_a_store_without_its_format_record_is_a_problem(committed: tuple[StoreCase, Store]) -> None:
    _case, store = committed
    store.backend.delete(layout.FORMAT_KEY)
    assert _kinds(store) == [("missing-format", layout.FORMAT_KEY)]


class TestCommand:
    def _run(self, case: StoreCase, args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
        if case.options:
            monkeypatch.setenv(
                "SATCHEL_STORAGE_OPTIONS", json.dumps({case.url.split("://")[0]: case.options})
            )
        return main(["--store", case.url, "fsck", *args])

    def test_exit_zero_and_summary_on_a_sound_store(
        self,
        committed: tuple[StoreCase, Store],
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        case, _store = committed
        assert self._run(case, ["--deep"], monkeypatch) == 0
        out = capsys.readouterr().out.splitlines()
        assert out == [
            f"checked 1 version(s) and 2 object(s) in {case.url} (deep: every object hashed)",
            "no problems found",
        ]

    def test_exit_one_and_problems_listed(
        self,
        committed: tuple[StoreCase, Store],
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        case, store = committed
        key = _object_key(store, "a.txt")
        store.backend.delete(key)
        assert self._run(case, [], monkeypatch) == 1
        out = capsys.readouterr().out.splitlines()
        assert out[1] == "1 problem(s):"
        assert out[2].startswith(f"  missing-object: {key}: {PROJECT}/ds:v0: the content of a.txt")

    def test_json_output(
        self,
        committed: tuple[StoreCase, Store],
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        case, store = committed
        store.backend.delete(_object_key(store, "a.txt"))
        assert self._run(case, ["--json"], monkeypatch) == 1
        data = json.loads(capsys.readouterr().out)
        assert data["ok"] is False and data["versions"] == 1 and data["deep"] is False
        assert [p["kind"] for p in data["problems"]] == ["missing-object"]
        assert data["unreferenced"] == {"objects": [], "manifests": [], "bytes": 0}
