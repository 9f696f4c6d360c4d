"""satchel's own folders: ``add_dir``/``put`` never version the store or the cache, relative
store and cache paths are resolved once, and reads of a store folder that does not exist warn.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
import warnings
from pathlib import Path

import pytest

from satchel import Api, Artifact, ArtifactNotFoundError, ProtectedFolderError, settings
from satchel.cli import main
from satchel.services import local_services
from tests.conftest import SatchelEnv, write_tree
from tests.store.conftest import StoreCase, quick_store_case_fixture  # noqa: F401

DATA = {"data/a.txt": "alpha", "data/b.txt": "beta", "notes.md": "n"}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def cli(
    cwd: Path, *argv: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m satchel ARGV`` in a real process started in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "satchel", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )


def skipped(path: Path, root: Path, role: str, name: str = "ds") -> str:
    return (
        f"skipped {path} while adding {root} to {name}: it is the {role}, which satchel "
        "does not version (it changes with every commit)"
    )


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder holding its own store and cache (``SATCHEL_STORE=<project>/store``)."""
    root = write_tree(tmp_path / "project", DATA)
    monkeypatch.setenv("SATCHEL_STORE", str(root / "store"))
    monkeypatch.setenv("SATCHEL_CACHE_DIR", str(root / "cache"))
    monkeypatch.chdir(root)
    return root


def _add(root: Path | str, name: str = "ds", **kwargs: object) -> tuple[Artifact, list[str]]:
    art = Artifact(name, "dataset", **kwargs)  # type: ignore[arg-type]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        art.add_dir(root)
    return art, [str(w.message) for w in caught]


# -- add_dir skips the store, the cache and the default download folders -------------------


def test_add_dir_skips_a_store_and_a_cache_inside_the_folder_and_says_so(project: Path) -> None:
    first, said = _add(project)
    first.save()
    # the cache exists now (it was created before the scan), the store only after the commit
    assert said == [skipped(project / "cache", project, "satchel cache")]
    assert sorted(first.manifest.entries) == sorted(DATA)
    again, said = _add(project)
    assert sorted(said) == sorted(
        [
            skipped(project / "cache", project, "satchel cache"),
            skipped(project / "store", project, "satchel store"),
        ]
    )
    assert sorted(again.manifest.entries) == sorted(DATA)
    again.save()
    assert again.version == "v0"  # the same content: no version grows with the store


def test_add_dir_skips_a_cache_created_while_it_scans(project: Path) -> None:
    assert not (project / "cache").exists()
    art, said = _add(project)
    assert (project / "cache" / "tmp").is_dir()
    assert said == [skipped(project / "cache", project, "satchel cache")]
    assert not [p for p in art.manifest.entries if p.startswith("cache/")]


def test_add_dir_skips_the_stores_of_its_services_and_a_store_deep_below(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    root = write_tree(tmp_path / "work", DATA)
    deep = root / "data" / "runs" / "st"
    Artifact("seed", "dataset").save(store=str(deep))
    services = local_services(cache_dir=str(satchel_env.cache), store=str(deep))
    art, said = _add(root, services=services)
    assert said == [skipped(deep, root, "satchel store")]
    assert sorted(art.manifest.entries) == sorted(DATA)


def test_add_dir_finds_them_through_a_symlinked_root_and_a_relative_path(
    project: Path, tmp_path: Path
) -> None:
    Artifact("seed", "dataset").save()
    os.symlink(project, tmp_path / "link")
    art, said = _add(tmp_path / "link")
    assert sorted(said) == sorted(
        [
            skipped(
                tmp_path / "link" / "cache",
                tmp_path / "link",
                "satchel cache " + str(project / "cache"),
            ),
            skipped(
                tmp_path / "link" / "store",
                tmp_path / "link",
                "satchel store " + str(project / "store"),
            ),
        ]
    )
    assert sorted(art.manifest.entries) == sorted(DATA)
    os.chdir(project / "data")
    art, said = _add("..")
    assert len(said) == 2 and sorted(art.manifest.entries) == sorted(DATA)


def test_add_dir_skips_this_artifacts_default_download_folders_only(project: Path) -> None:
    first, _ = _add(project / "data")
    first.save()
    v0 = Api().artifact("ds:v0")
    assert v0.download() == str(project / "artifacts" / "ds-v0")
    write_tree(project / "artifacts", {"other-v0/o.txt": "o", "ds-latest/l.txt": "l"})
    art, said = _add(project)
    assert (
        f"skipped {project / 'artifacts' / 'ds-v0'} while adding {project} to ds: it is "
        "the default download folder (download() puts the versions of ds there; adding it "
        "would nest each version inside the next)"
    ) in said
    assert sorted(p for p in art.manifest.entries if p.startswith("artifacts/")) == [
        "artifacts/ds-latest/l.txt",
        "artifacts/other-v0/o.txt",
    ]
    explicit, said = _add(project / "artifacts" / "ds-v0")  # asked for by name: added
    assert sorted(explicit.manifest.entries) == ["a.txt", "b.txt"]


def test_add_dir_of_a_store_or_a_cache_or_inside_them_is_refused(project: Path) -> None:
    Artifact("seed", "dataset").save()
    store, cache = project / "store", project / "cache"
    for folder, rel, role, where in [
        (store, "is", "satchel store", store),
        (store / "objects", "is inside", "satchel store", store),
        (cache, "is", "satchel cache", cache),
        (cache / "objects", "is inside", "satchel cache", cache),
    ]:
        art = Artifact("ds", "dataset")
        with pytest.raises(ProtectedFolderError) as info:
            art.add_dir(folder)
        assert str(info.value) == (
            f"refusing to add {folder} to ds: that folder {rel} the {role} {where}, which "
            "satchel does not version (it changes with every commit). Nothing was added; add "
            "the folder that holds your data"
        )
        assert isinstance(info.value, ValueError) and info.value.role == role
        assert art.manifest.entries == {}


def test_add_dir_skips_the_cache_with_a_bucket_store(
    quick_store_case: StoreCase, tmp_path: Path
) -> None:
    root = write_tree(tmp_path / "work", DATA)
    cache = root / ".satchel-cache"
    art, said = _add(root, services=quick_store_case.services(cache))
    assert said == [skipped(cache, root, "satchel cache")]
    art.save("p")
    assert sorted(art.manifest.entries) == sorted(DATA)


def test_cli_put_dot_skips_a_project_local_store_and_cache_and_prints_it(tmp_path: Path) -> None:
    project = write_tree(tmp_path / "project", DATA)
    env = {"SATCHEL_STORE": "./store", "SATCHEL_CACHE_DIR": "./cache"}
    first = cli(project, "put", ".", "--name", "ds", "--type", "dataset", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("committed default/ds:v0: 3 files")
    second = cli(project, "put", ".", "--name", "ds", "--type", "dataset", env=env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("unchanged: default/ds:v0 already holds this content")
    assert sorted(second.stderr.splitlines()) == [
        f"satchel: warning: {skipped(project / 'cache', project, 'satchel cache')}",
        f"satchel: warning: {skipped(project / 'store', project, 'satchel store')}",
    ]
    show = cli(project, "show", "ds", "--files", "--json", env=env)
    assert sorted(f["path"] for f in json.loads(show.stdout)["files"]) == sorted(DATA)


# -- relative store and cache paths are resolved once --------------------------------------


def test_config_returns_absolute_local_paths_and_leaves_urls_alone(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    assert settings.store_url("rel/store") == str(tmp_path / "rel" / "store")
    assert settings.store_url("file://rel") == f"file://{tmp_path / 'rel'}"
    assert settings.store_url("s3://bucket/prefix") == "s3://bucket/prefix"
    assert settings.cache_dir("c") == str(tmp_path / "c")
    env = {"SATCHEL_STORE": "st", "SATCHEL_CACHE_DIR": "ca"}
    assert settings.store_url(env=env) == str(tmp_path / "st")
    assert settings.cache_dir(env=env) == str(tmp_path / "ca")


def test_relative_environment_paths_keep_their_first_meaning_after_chdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"store-{uuid.uuid4().hex[:8]}"  # a value this process has not resolved before
    cache = f"cache-{uuid.uuid4().hex[:8]}"
    first, second = tmp_path / "first", tmp_path / "second"
    write_tree(first, DATA)
    second.mkdir()
    monkeypatch.setenv("SATCHEL_STORE", name)
    monkeypatch.setenv("SATCHEL_CACHE_DIR", cache)
    monkeypatch.chdir(first)
    art = Artifact("ds", "dataset")
    art.add_dir("data")
    art.save()
    os.chdir(second)
    assert settings.store_url() == str(first / name)
    assert Api().artifact("ds").version == "v0"
    again = Artifact("ds", "dataset")
    again.add(b"new", "x.bin")
    again.save()
    assert again.version == "v1"
    assert os.listdir(second) == []  # neither a store nor a cache appeared here
    assert (first / name / "satchel.json").is_file() and (first / cache).is_dir()


def test_a_script_that_changes_directory_keeps_its_store(tmp_path: Path) -> None:
    write_tree(tmp_path / "a", DATA)
    (tmp_path / "b").mkdir()
    script = textwrap.dedent("""
        import os, satchel
        art = satchel.Artifact("ds", "dataset")
        art.add_dir("data")
        art.save()
        os.chdir("../b")
        print(satchel.Api().artifact("ds").version, satchel.Api().store.url)
    """)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path / "a",
        capture_output=True,
        text=True,
        env={**os.environ, "SATCHEL_STORE": "./store", "SATCHEL_CACHE_DIR": "./cache"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["v0", str(tmp_path / "a" / "store")]
    assert os.listdir(tmp_path / "b") == []


def test_cli_resolves_a_relative_store_option(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    write_tree(tmp_path / "d", DATA)
    code, out, _ = run(
        capsys,
        "--store",
        "st",
        "--cache-dir",
        "ca",
        "put",
        "d",
        "--name",
        "ds",
        "--type",
        "dataset",
        "--json",
    )
    assert code == 0 and json.loads(out)["file_count"] == 3
    assert (tmp_path / "st" / "satchel.json").is_file() and (tmp_path / "ca").is_dir()


# -- a local store folder that does not exist ----------------------------------------------


def missing(folder: Path) -> str:
    return (
        f"store {folder} does not exist, so it holds nothing yet; check the store path "
        "(--store, SATCHEL_STORE or Api(store=...)). The first commit creates it"
    )


def test_api_reads_of_a_missing_store_folder_warn_once(tmp_path: Path) -> None:
    typo = tmp_path / "stroe"
    api = Api(str(typo))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert api.artifact_versions().total == 0
        assert api.projects() == []
        assert api.collections() == []
    assert [str(w.message) for w in caught] == [missing(typo)]  # once per Api
    assert caught[0].category is UserWarning
    for read in (lambda a: a.artifact("ds"), lambda a: a.versions("ds")):
        with (
            pytest.warns(UserWarning, match="does not exist, so it holds nothing yet"),
            pytest.raises(ArtifactNotFoundError),
        ):
            read(Api(str(typo)))
    with pytest.warns(UserWarning, match=str(typo)):
        assert list(Api(str(typo)).artifact_collections()) == []
    with pytest.warns(UserWarning, match=str(typo)):
        assert Api(str(typo)).artifact_types() == []
    assert not typo.exists()


def test_writes_and_existence_checks_do_not_warn(tmp_path: Path) -> None:
    new = tmp_path / "new-store"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not Api(str(new)).artifact_exists("ds")
        art = Artifact("ds", "dataset")
        art.add(b"x", "x.bin")
        art.save(store=str(new))
        assert Api(str(new)).artifact("ds").version == "v0"


def test_cli_reads_of_a_missing_store_warn_and_writes_create_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    typo = tmp_path / "stroe"
    line = f"satchel: warning: {missing(typo)}\n"
    code, out, err = run(capsys, "--store", str(typo), "ls")
    assert (code, err) == (0, line)
    assert "0 version(s)" in out
    code, out, err = run(capsys, "--store", str(typo), "get", "ds")
    assert (code, out) == (1, "")
    assert err.startswith(line) and err.count("\n") == 2
    assert err.splitlines()[1].startswith("satchel: error: no artifact named 'ds'")
    for argv in (["fsck"], ["show", "ds"], ["gc", "--dry-run"]):
        _code, _out, err = run(capsys, "--store", str(typo), *argv)
        assert err.startswith(line) and err.count(line) == 1, argv
    code, _out, err = run(capsys, "--store", str(typo), "cache", "info")
    assert (code, err) == (0, "")
    assert not typo.exists()
    write_tree(tmp_path / "d", DATA)
    code, out, err = run(
        capsys,
        "--store",
        str(typo),
        "put",
        str(tmp_path / "d"),
        "--name",
        "ds",
        "--type",
        "dataset",
    )
    assert (code, err) == (0, "") and out.startswith("committed")
    code, out, err = run(capsys, "--store", str(typo), "ls")
    assert (code, err) == (0, "") and "1 version(s)" in out
