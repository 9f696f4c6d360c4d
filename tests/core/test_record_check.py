"""Reads do not trust version records (issue 10, item 5): a record edited to name another
artifact's manifest, or with an edited digest or file count, is refused with
:class:`RecordMismatchError` on every read path (API and command line) instead of serving and
approving other content. Real stores; the records are edited behind satchel's back."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import satchel
from satchel import Api, Artifact, ManifestError, RecordMismatchError
from satchel.cli import main
from satchel.store import Store, layout
from tests.conftest import SatchelEnv, read_tree, write_tree
from tests.store.conftest import (
    PROJECT,
    StoreCase,
    overwrite,
    quick_store_case_fixture,  # noqa: F401 - provides the quick_store_case fixture
)

MINE = {"a.txt": b"mine", "b/c.txt": b"my c"}
THEIRS = {"x.txt": b"theirs", "y/z.txt": b"their z", "w.txt": b"w"}


def _commit(
    root: Path,
    name: str,
    files: dict[str, bytes],
    store: Store | None = None,
    project: str = "default",
) -> Artifact:
    art = Artifact(name, "dataset")
    art.add_dir(write_tree(root / name, files))
    return art.save(project, store=store)


def _edit_record(store: Store, project: str, name: str, version: int, **changes: Any) -> str:
    key = layout.version_key(project, name, version)
    record = json.loads(store.backend.read(key))
    record.update(changes)
    overwrite(store, key, json.dumps(record).encode())
    return key


def _message(key: str, store: Store, what: str, said: str, manifest: str, found: str) -> str:
    return (
        rf"{re.escape(what)}: the record {re.escape(key)} in {re.escape(store.url)} states "
        rf"{said}, but the manifest it names \({manifest}\) has {found}: the record or the "
        r"manifest was changed outside satchel, so the version was not read. Run 'satchel fsck'"
    )


@pytest.fixture()
def tampered(tmp_path: Path, satchel_env: SatchelEnv) -> tuple[str, Artifact, Artifact]:
    """``ds:v0`` whose record names ``other:v0``'s manifest (its own digest left as it was)."""
    mine = _commit(tmp_path, "ds", MINE)
    theirs = _commit(tmp_path, "other", THEIRS)
    store = satchel_env.open_store()
    key = _edit_record(store, "default", "ds", 0, manifest=theirs.commit_hash)
    message = _message(
        key,
        store,
        "default/ds:v0",
        f"artifact digest {mine.digest}",
        theirs.commit_hash,
        f"digest {theirs.digest}",
    )
    return message, mine, theirs


READS: dict[str, Callable[[Artifact, Path], object]] = {
    "download": lambda a, t: a.download(t / "dl"),
    "verify": lambda a, t: a.verify(t / "theirs"),  # a folder holding the other content
    "checkout": lambda a, t: a.checkout(t / "co"),
    "files": lambda a, t: a.files(),
    "get_entry": lambda a, t: a.get_entry("x.txt"),
    "get": lambda a, t: a.get("x.txt"),
    "file": lambda a, t: a.file(t / "one"),
    "new_draft": lambda a, t: a.new_draft(),
    "manifest": lambda a, t: a.manifest,
}


@pytest.mark.parametrize("read", sorted(READS))
def test_every_api_read_refuses_a_record_naming_another_manifest(
    tampered: tuple[str, Artifact, Artifact], tmp_path: Path, satchel_env: SatchelEnv, read: str
) -> None:
    message, _mine, _theirs = tampered
    write_tree(tmp_path / "theirs", THEIRS)
    art = satchel_env.api().artifact("ds:v0")
    with pytest.raises(RecordMismatchError, match=message) as info:
        READS[read](art, tmp_path)
    assert isinstance(info.value, ManifestError)
    assert not (tmp_path / "dl").exists() and not (tmp_path / "co").exists()


def test_the_error_names_the_record_and_both_digests(
    tampered: tuple[str, Artifact, Artifact], satchel_env: SatchelEnv
) -> None:
    _, mine, theirs = tampered
    with pytest.raises(RecordMismatchError) as info:
        satchel_env.api().artifact("ds").download()
    err = info.value
    assert err.record == layout.version_key("default", "ds", 0)
    assert (err.manifest_id, err.recorded, err.actual) == (
        theirs.commit_hash,
        mine.digest,
        theirs.digest,
    )


def test_api_diff_copy_and_link_refuse_it(
    tampered: tuple[str, Artifact, Artifact], tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    message, _mine, _theirs = tampered
    api = satchel_env.api()
    with pytest.raises(RecordMismatchError, match=message):
        api.diff("ds:v0", "other:v0")
    with pytest.raises(RecordMismatchError, match=message):
        api.copy_artifact_version("ds:v0", project="elsewhere")
    with pytest.raises(RecordMismatchError, match=message):
        api.copy_artifact_version("ds:v0", project="p", store=str(tmp_path / "other-store"))
    with pytest.raises(RecordMismatchError, match=message):
        api.artifact("ds:v0").link("portfolio")
    store = satchel_env.open_store()
    assert store.collection("elsewhere", "ds") is None
    assert store.collection("default", "portfolio") is None
    assert not (tmp_path / "other-store" / "projects").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["get", "ds:v0", "--root", "{tmp}/out"],
        ["verify", "ds:v0", "{tmp}/theirs"],
        ["checkout", "ds:v0", "{tmp}/co"],
        ["show", "ds:v0"],
        ["show", "ds:v0", "--files"],
        ["diff", "ds:v0", "other:v0"],
    ],
    ids=lambda a: "-".join(a[:2] if a[0] == "show" else a[:1]),
)
def test_every_cli_read_fails_with_one_line(
    tampered: tuple[str, Artifact, Artifact],
    tmp_path: Path,
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    message, _mine, _theirs = tampered
    write_tree(tmp_path / "theirs", THEIRS)
    code = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert re.fullmatch(rf"satchel: error: {message}\n", err), err
    assert not (tmp_path / "out").exists() and not (tmp_path / "co").exists()


def test_an_edited_digest_or_file_count_is_refused(tmp_path: Path, satchel_env: SatchelEnv) -> None:
    mine = _commit(tmp_path, "ds", MINE)
    store = satchel_env.open_store()
    fake = "0" * 32
    key = _edit_record(store, "default", "ds", 0, digest=fake)
    with pytest.raises(
        RecordMismatchError,
        match=_message(
            key,
            store,
            "default/ds:v0",
            f"artifact digest {fake}",
            mine.commit_hash,
            f"digest {mine.digest}",
        ),
    ):
        satchel_env.api().artifact("ds").verify(tmp_path / "ds")  # the right files, even
    _edit_record(store, "default", "ds", 0, digest=mine.digest, file_count=5)
    with pytest.raises(
        RecordMismatchError,
        match=_message(
            key, store, "default/ds:v0", "5 file\\(s\\)", mine.commit_hash, "2 file\\(s\\)"
        ),
    ):
        satchel_env.api().artifact("ds").download(tmp_path / "out")
    _edit_record(store, "default", "ds", 0, file_count=2)  # put right again: reads work
    out = satchel_env.api().artifact("ds").download(tmp_path / "out")
    assert read_tree(out) == MINE


def test_commits_on_a_tampered_latest_are_refused(
    tampered: tuple[str, Artifact, Artifact], tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    message, _mine, _theirs = tampered
    incremental = Artifact("ds", "dataset", incremental=True)
    incremental.add(b"new", "new.bin")
    with pytest.raises(RecordMismatchError, match=message):
        incremental.save()  # would apply its change to the other artifact's entries
    same = Artifact("ds", "dataset")
    same.add_dir(tmp_path / "ds")  # the content the record claims: the no-op rule's case
    with pytest.raises(RecordMismatchError, match=message):
        same.save()
    assert satchel_env.open_store().live_versions("default", "ds") == [0]


def test_an_edited_collaborative_part_is_refused(tmp_path: Path, satchel_env: SatchelEnv) -> None:
    theirs = _commit(tmp_path, "other", THEIRS)
    with satchel.init(project="default", group="g", name="w1") as run:
        part = Artifact("collab", "dataset")
        part.add_dir(write_tree(tmp_path / "part", MINE))
        run.upsert_artifact(part)
    store = satchel_env.open_store()
    folder = layout.pending_folder("default", "collab", "g")
    (name,) = store.backend.list(folder)
    key = f"{folder}/{name}"
    record = json.loads(store.backend.read(key))
    recorded = record["digest"]
    record["manifest"] = theirs.commit_hash
    overwrite(store, key, json.dumps(record).encode())
    with (
        satchel.init(project="default", group="g", name="w2") as run,
        pytest.raises(
            RecordMismatchError,
            match=_message(
                key,
                store,
                "collaborative artifact collab (g), part of run w1",
                f"artifact digest {recorded}",
                theirs.commit_hash,
                f"digest {theirs.digest}",
            ),
        ),
    ):
        run.finish_artifact(Artifact("collab", "dataset"))
    assert store.live_versions("default", "collab") == []


def test_a_tampered_record_on_a_bucket_store_is_refused(
    quick_store_case: StoreCase, tmp_path: Path
) -> None:
    store = quick_store_case.open()
    services = quick_store_case.services(tmp_path / "cache", store)
    mine = Artifact("ds", "dataset", services=services)
    mine.add_dir(write_tree(tmp_path / "mine", MINE))
    mine.save(PROJECT)
    theirs = Artifact("other", "dataset", services=services)
    theirs.add_dir(write_tree(tmp_path / "theirs", THEIRS))
    theirs.save(PROJECT)
    key = _edit_record(store, PROJECT, "ds", 0, manifest=theirs.commit_hash)
    fresh = quick_store_case.open()
    api = Api(fresh, PROJECT, services=quick_store_case.services(tmp_path / "c2", fresh))
    message = _message(
        key,
        fresh,
        f"{PROJECT}/ds:v0",
        f"artifact digest {mine.digest}",
        theirs.commit_hash,
        f"digest {theirs.digest}",
    )
    with pytest.raises(RecordMismatchError, match=message):
        api.artifact("ds:v0").download(tmp_path / "out")
    with pytest.raises(RecordMismatchError, match=message):
        api.artifact("ds:v0").verify(tmp_path / "theirs")
    assert not (tmp_path / "out").exists()
    assert api.artifact("other:v0").verify(tmp_path / "theirs").verified == len(THEIRS)
