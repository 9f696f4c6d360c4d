"""Names starting with '.': refused on every entry point that turns a name into a store key,
and, in stores an older satchel wrote with such names, seen by listings, fsck and gc (gc
never removes what a resolvable name reaches)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import satchel
from satchel import Api, Artifact
from satchel.apply import apply_spec
from satchel.errors import InvalidNameError
from satchel.fsck import check_store
from satchel.registry import collect_garbage
from satchel.repair import repair_store
from satchel.store import layout
from tests.conftest import SatchelEnv, write_tree
from tests.damage.conftest import legacy_hidden, legacy_hidden_alias
from tests.store.conftest import (
    PROJECT,
    StoreCase,
    commit_files,
    quick_store_case_fixture,  # noqa: F401 - provides the quick_store_case fixture
    store_case_fixture,  # noqa: F401 - provides the store_case fixture
)

LATER = time.time() + 7200
_DOT = (
    "it may not start with '.' (in the store such names look like temporary files, "
    "which listings, fsck and gc skip); start it with a letter, digit, '_' or '-'"
)


def _refused(kind: str, value: str) -> str:
    return re.escape(f"{kind} {value!r} is not valid: {_DOT}")


# -- refused where a name becomes a key --------------------------------------------------------
def test_artifact_name_and_type(satchel_env: SatchelEnv) -> None:
    with pytest.raises(InvalidNameError, match=_refused("artifact name", ".ds")):
        Artifact(".ds", "dataset")
    with pytest.raises(InvalidNameError, match=_refused("type", ".dataset")):
        Artifact("ds", ".dataset")


def test_save_into_a_hidden_project_writes_nothing(satchel_env: SatchelEnv) -> None:
    art = Artifact("ds", "dataset")
    art.add_file(str(write_tree(satchel_env.work / "d", {"a.txt": "a"}) / "a.txt"))
    with pytest.raises(InvalidNameError, match=_refused("project", ".p")):
        art.save(project=".p")
    assert not (satchel_env.store / "projects").exists()
    assert not (satchel_env.store / "objects").exists()


def test_aliases_and_tags(satchel_env: SatchelEnv) -> None:
    art = Artifact("ds", "dataset")
    with pytest.raises(InvalidNameError, match=_refused("alias", ".prod")):
        art.aliases = [".prod"]
    with pytest.raises(InvalidNameError, match=_refused("tag", ".gold")):
        art.tags = [".gold"]


def test_link_and_copy_targets(satchel_env: SatchelEnv) -> None:
    api = satchel_env.api()
    art = commit_files(satchel_env.services(), "ds", {"a.txt": b"a"}, {})
    with pytest.raises(InvalidNameError, match=_refused("artifact name", ".pf")):
        art.link(".pf")
    with pytest.raises(InvalidNameError, match=_refused("project", ".q")):
        api.copy_artifact_version(f"{PROJECT}/ds:v0", project=".q")
    with pytest.raises(InvalidNameError, match=_refused("artifact name", ".copy")):
        api.copy_artifact_version(f"{PROJECT}/ds:v0", project="q", name=".copy")
    with pytest.raises(InvalidNameError, match=_refused("alias", ".a")):
        api.copy_artifact_version(f"{PROJECT}/ds:v0", project="q", aliases=[".a"])


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [
        ("name", ".ds", "artifact name"),
        ("project", ".p", "project"),
        ("aliases", [".a"], "alias"),
        ("tags", [".t"], "tag"),
    ],
)
def test_apply_specs(satchel_env: SatchelEnv, field: str, value: object, kind: str) -> None:
    write_tree(satchel_env.work / "d", {"a.txt": "a"})
    source = {"type": "local", "paths": [{"src": "d", "dest": ""}]}
    spec = {"name": "ds", "type": "dataset", "source": source, field: value}
    shown = value[0] if isinstance(value, list) else value
    with pytest.raises(InvalidNameError, match=_refused(kind, str(shown))):
        apply_spec(satchel_env.services(), spec, base_dir=str(satchel_env.work))
    assert not (satchel_env.store / "projects").exists()


def test_runs(satchel_env: SatchelEnv) -> None:
    with pytest.raises(InvalidNameError, match=_refused("project", ".p")):
        satchel.init(project=".p")
    with pytest.raises(InvalidNameError, match=_refused("run id", ".r")):
        satchel.init(id=".r")


def _cli(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "satchel", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_command_line(satchel_env: SatchelEnv) -> None:
    write_tree(satchel_env.work / "d", {"a.txt": "a"})
    for args, env, kind, value in [
        (["put", "d", "--name", ".ds", "--type", "dataset"], None, "artifact name", ".ds"),
        (["put", "d", "--name", "ds", "--type", "dataset", "--alias", ".a"], None, "alias", ".a"),
        (
            ["--project", ".p", "put", "d", "--name", "ds", "--type", "dataset"],
            None,
            "project",
            ".p",
        ),
        (
            ["put", "d", "--name", "ds", "--type", "dataset"],
            {"SATCHEL_PROJECT": ".p"},
            "project",
            ".p",
        ),
    ]:
        done = _cli(args, satchel_env.work, env)
        assert done.returncode == 1, args
        assert done.stderr == f"satchel: error: {kind} {value!r} is not valid: {_DOT}\n"
    assert not (satchel_env.store / "projects").exists()


# -- stores an older satchel wrote -------------------------------------------------------------
FILES = {"a.txt": b"alpha", "b.bin": b"b" * 300}


def test_a_hidden_collection_is_listed_read_checked_and_kept_by_gc(
    store_case: StoreCase, tmp_path: Path
) -> None:
    services = store_case.services(tmp_path / "cache")
    commit_files(services, "ds", FILES, {})
    commit_files(services, "plain", {"c.txt": b"c"}, {})
    store = store_case.open()
    project, name = legacy_hidden(store, PROJECT, "ds")
    assert (project, name) == (PROJECT, ".ds")
    api = Api(store_case.open(), PROJECT, cache_dir=str(tmp_path / "cache2"))

    assert sorted(c.name for c in api.artifact_collections()) == [".ds", "plain"]
    assert [a.qualified_name for a in api.artifact_versions(".ds")] == [f"{PROJECT}/.ds:v0"]
    folder = api.artifact(".ds:v0").download(str(tmp_path / "out"))
    assert (Path(folder) / "b.bin").read_bytes() == FILES["b.bin"]

    report = check_store(store_case.open())
    assert [(p.kind, p.key) for p in report.problems] == [
        ("hidden-name", layout.collection_folder(PROJECT, ".ds"))
    ]
    assert report.versions == 2 and report.unreferenced_objects == ()

    gc = collect_garbage(store_case.open(), grace=0, force=True, now=LATER)
    assert gc.objects == () and gc.manifests == ()
    folder = (
        Api(store_case.open(), PROJECT, cache_dir=str(tmp_path / "cache3"))
        .artifact(".ds")
        .download(str(tmp_path / "again"))
    )
    assert (Path(folder) / "a.txt").read_bytes() == FILES["a.txt"]
    # a repair leaves it alone: it is data, not damage
    result = repair_store(store_case.open(), cache=services.cache)
    assert result.moved == () and [p.kind for p in result.after.problems] == ["hidden-name"]


def test_a_hidden_project_is_seen(satchel_env: SatchelEnv) -> None:
    services = satchel_env.services()
    commit_files(services, "ds", FILES, {})
    store = satchel_env.open_store()
    legacy_hidden(store, PROJECT, "ds", new_project=".team", new_name="ds")
    assert ".team" in satchel_env.api().projects()
    assert [a.qualified_name for a in satchel_env.api(".team").artifact_versions()] == [
        ".team/ds:v0"
    ]
    assert [(p.kind, p.key) for p in check_store(store).problems] == [
        ("hidden-name", "projects/.team")
    ]
    assert collect_garbage(store, grace=0, force=True, now=LATER).objects == ()
    done = _cli(["--project", ".team", "get", "ds", "--root", "out"], satchel_env.work)
    assert done.returncode == 0, done.stderr
    assert (satchel_env.work / "out" / "a.txt").read_bytes() == FILES["a.txt"]
    # the way out: copy it to a valid name, then delete the hidden one
    done = _cli(["copy", ".team/ds:v0", f"{PROJECT}/ds"], satchel_env.work)
    assert done.returncode == 0, done.stderr
    assert _cli(["delete", ".team/ds:v0"], satchel_env.work).returncode == 0
    assert check_store(satchel_env.open_store()).ok
    out = satchel_env.api(PROJECT).artifact("ds").download(str(satchel_env.work / "copied"))
    assert (Path(out) / "b.bin").read_bytes() == FILES["b.bin"]


def test_a_hidden_alias_protects_its_version_from_expiry(satchel_env: SatchelEnv) -> None:
    services = satchel_env.services()
    commit_files(services, "ds", {"a.txt": b"zero"}, {})
    commit_files(services, "ds", {"a.txt": b"one"}, {})
    api = satchel_env.api(PROJECT)
    art = api.artifact("ds:v0")
    art.ttl = dt.timedelta(minutes=1)
    art.save()
    store = satchel_env.open_store()
    key = legacy_hidden_alias(store, PROJECT, "ds", ".keep", 0)
    assert api.artifact("ds:.keep").version == "v0"
    assert api.artifact("ds:v0").aliases == [".keep"]
    report = collect_garbage(store, grace=0, force=True, now=LATER)
    assert report.expired == ()
    assert api.artifact("ds:.keep").download(str(satchel_env.work / "o"))
    assert [(p.kind, p.key) for p in check_store(store).problems] == [("hidden-name", key)]


def test_a_hidden_runs_pending_part_keeps_its_content(satchel_env: SatchelEnv) -> None:
    services = satchel_env.services()
    with satchel.init(project=PROJECT, group="grp", id="r1", services=services) as run:
        part = Artifact("emb", "dataset", services=services)
        with part.new_file("p1.txt", mode="w") as f:
            f.write("part one")
        run.upsert_artifact(part)
    store = satchel_env.open_store()
    folder = layout.pending_folder(PROJECT, "emb", "grp")
    (old,) = store.backend.list(folder)
    hidden = f"{folder}/.{old}"  # the part of a run an older satchel let be called '.r1'
    store.backend.create_if_absent(hidden, store.backend.read(f"{folder}/{old}"))
    store.backend.delete(f"{folder}/{old}")
    report = collect_garbage(store, grace=0, force=True, now=LATER)
    assert report.objects == () and report.manifests == ()
    assert check_store(store).unreferenced_objects == ()
    assert json.loads(store.backend.read(hidden))["run_id"] == "r1"


def test_a_hidden_file_among_projects_is_no_project(
    quick_store_case: StoreCase, tmp_path: Path
) -> None:
    commit_files(quick_store_case.services(tmp_path / "cache"), "ds", FILES, {})
    store = quick_store_case.open()
    from tests.store.conftest import overwrite

    overwrite(store, "projects/.DS_Store", b"\0\0\0\1Bud1")
    overwrite(store, f"{layout.artifacts_folder(PROJECT)}/.DS_Store", b"\0\0\0\1Bud1")
    expected = [PROJECT] if quick_store_case.kind != "memory" else [".DS_Store", PROJECT]
    assert store.projects() == expected
    if quick_store_case.kind != "memory":  # memory:// lists files and folders alike
        assert store.collections(PROJECT) == ["ds"]
        assert check_store(store).ok


def test_a_hidden_alias_is_reported_until_it_is_replaced(satchel_env: SatchelEnv) -> None:
    commit_files(satchel_env.services(), "ds", FILES, {})
    store = satchel_env.open_store()
    key = legacy_hidden_alias(store, PROJECT, "ds", ".best", 0)
    assert [(p.kind, p.key) for p in check_store(store).problems] == [("hidden-name", key)]
    done = _cli(["alias", "add", f"{PROJECT}/ds:.best", "best"], satchel_env.work)
    assert done.returncode == 0, done.stderr
    done = _cli(["alias", "rm", f"{PROJECT}/ds", ".best"], satchel_env.work)
    assert done.returncode == 0, done.stderr
    assert check_store(store).ok
    assert satchel_env.api(PROJECT).artifact("ds:best").version == "v0"


def test_names_a_version_already_has_can_be_kept_while_editing(satchel_env: SatchelEnv) -> None:
    commit_files(satchel_env.services(), "ds", FILES, {})
    store = satchel_env.open_store()
    legacy_hidden_alias(store, PROJECT, "ds", ".old", 0)
    from tests.store.conftest import overwrite

    overwrite(store, layout.attrs_key(PROJECT, "ds", 0), b'{"tags": [".legacy"]}')
    art = satchel_env.api(PROJECT).artifact("ds")
    art.tags = [*art.tags, "new"]
    art.aliases = [*art.aliases, "prod"]
    art.save()
    again = satchel_env.api(PROJECT).artifact("ds")
    assert again.tags == [".legacy", "new"] and again.aliases == [".old", "prod", "latest"]
    with pytest.raises(InvalidNameError, match=_refused("tag", ".another")):
        again.tags = [*again.tags, ".another"]
