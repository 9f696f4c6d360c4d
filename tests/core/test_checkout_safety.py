"""Checkout's guard rails: refused roots, the dry run, the summary, the unseen-deletion limit.

Every refusal is checked for its message and for touching nothing: the whole tree around the
root (store and cache included) is compared byte for byte before and after.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from satchel import (
    Api,
    Artifact,
    CheckoutPlan,
    CheckoutResult,
    ProtectedFolderError,
    TooManyDeletionsError,
)
from satchel.checkout import UNSEEN_LIMIT
from satchel.cli import main
from tests.conftest import SatchelEnv, read_tree, write_tree
from tests.store.conftest import StoreCase, quick_store_case_fixture  # noqa: F401

FILES = {"a.txt": b"alpha", "b.txt": b"beta", "sub/c.txt": b"gamma", "sub/d.txt": b"delta"}


def snapshot(root: Path) -> dict[str, object]:
    """Every file, folder and link below ``root``: its bytes, ``"dir"`` or its link target
    (the cache's SQLite stat cache aside: opening it may add its journal files)."""
    out: dict[str, object] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + [f for f in files if not f.startswith("stat.db")]:
            p = Path(dirpath, name)
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = p.read_bytes()
    return out


@pytest.fixture
def ds(tmp_path: Path, satchel_env: SatchelEnv) -> Artifact:
    art = Artifact("ds", "dataset")
    art.add_dir(write_tree(tmp_path / "src", FILES))
    art.save()
    return satchel_env.api().artifact("ds:v0")


def _refused(
    art: Artifact, root: Path | str, around: Path, match: str | None
) -> ProtectedFolderError:
    before = snapshot(around)
    with pytest.raises(ProtectedFolderError, match=match) as info:
        art.checkout(root)
    with pytest.raises(ProtectedFolderError):
        art.checkout(root, dry_run=True)
    with pytest.raises(ProtectedFolderError):
        art.checkout(root, force=True)
    assert snapshot(around) == before
    return info.value


# -- refused roots ------------------------------------------------------------------------


def test_checkout_refuses_the_store_a_folder_inside_it_and_one_holding_it(
    ds: Artifact, satchel_env: SatchelEnv
) -> None:
    store = satchel_env.store
    private = store.parent
    err = _refused(ds, store, private, None)
    assert str(err) == (
        f"refusing to check out default/ds:v0 into {store}: that folder is the satchel store "
        f"{store}, and checkout deletes every file there that the version does not list. "
        "Nothing was changed; check out into a folder of its own (a new or empty one, or one "
        "holding only this artifact)"
    )
    assert isinstance(err, ValueError)
    assert (err.folder, err.protected, err.role) == (str(store), str(store), "satchel store")
    _refused(
        ds,
        store / "objects",
        private,
        rf"into {store / 'objects'}: that folder is inside the satchel store {store},",
    )
    _refused(ds, store / "not-yet" / "there", private, "is inside the satchel store")
    err = _refused(
        ds,
        private,
        private,
        rf"into {private}: that folder holds the satchel "
        rf"store {store}, and checkout deletes",
    )
    assert err.protected == str(store)


def test_checkout_refuses_the_cache_inside_and_above(ds: Artifact, satchel_env: SatchelEnv) -> None:
    cache = satchel_env.cache
    _refused(ds, cache, cache.parent, rf"into {cache}: that folder is the satchel cache {cache},")
    _refused(ds, cache / "objects" / "md5", cache.parent, "is inside the satchel cache")


def test_checkout_resolves_relative_paths_and_symlinks_before_comparing(
    ds: Artifact, satchel_env: SatchelEnv, tmp_path: Path
) -> None:
    store = satchel_env.store
    os.symlink(store, tmp_path / "link-to-store")
    _refused(
        ds, tmp_path / "link-to-store", store.parent, f"that folder is the satchel store {store},"
    )
    os.symlink(store.parent, tmp_path / "link-to-private")
    _refused(
        ds,
        tmp_path / "link-to-private" / "store" / "objects",
        store.parent,
        "is inside the satchel store",
    )
    _refused(ds, tmp_path / "link-to-private", store.parent, "holds the satchel store")
    relative = os.path.relpath(store, os.getcwd())
    assert not os.path.isabs(relative)
    _refused(ds, relative, store.parent, f"into {store}: that folder is the satchel store")
    _refused(ds, Path("src", "..", relative), store.parent, "is the satchel store")


def test_checkout_protects_the_configured_store_as_well_as_the_artifacts_own(
    tmp_path: Path, satchel_env: SatchelEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "elsewhere" / "store"
    art = Artifact("ds", "dataset")
    art.add_dir(write_tree(tmp_path / "src", FILES))
    art.save(store=str(other))
    got = Api(str(other)).artifact("ds")
    satchel_env.store.mkdir()  # the configured ($SATCHEL_STORE) store
    _refused(
        got,
        satchel_env.store.parent,
        satchel_env.store.parent,
        f"holds the satchel store {satchel_env.store},",
    )
    _refused(
        got, tmp_path / "elsewhere", tmp_path / "elsewhere", f"holds the satchel store {other},"
    )


def test_checkout_refuses_the_home_folder_and_above_but_not_below(
    ds: Artifact, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = write_tree(tmp_path / "people" / "me", {"thesis.tex": "years of work", "notes/x": "y"})
    monkeypatch.setenv("HOME", str(home))
    err = _refused(
        ds,
        "~",
        tmp_path / "people",
        rf"into {home}: that folder is your home folder, "
        "and checkout deletes every file there",
    )
    assert err.role == "home folder"
    _refused(
        ds,
        tmp_path / "people",
        tmp_path / "people",
        rf"into {tmp_path / 'people'}: that folder holds your home folder {home},",
    )
    assert ds.checkout("~/data") == str(home / "data")
    assert read_tree(home / "data") == FILES
    assert (home / "thesis.tex").read_text() == "years of work"


def test_checkout_refuses_a_filesystem_root(ds: Artifact) -> None:
    with pytest.raises(
        ProtectedFolderError,
        match=r"into /: that folder is a filesystem root, "
        "and checkout deletes every file there",
    ) as info:
        ds.checkout("/")
    assert info.value.role == "filesystem root"
    with pytest.raises(ProtectedFolderError, match="is a filesystem root"):
        ds.checkout("/", dry_run=True)


def test_checkout_refuses_a_folder_above_the_working_directory_but_takes_the_working_directory(
    ds: Artifact, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = write_tree(tmp_path / "project" / "run", {"log.txt": "mine"})
    monkeypatch.chdir(work)
    _refused(
        ds,
        "..",
        tmp_path / "project",
        rf"into {tmp_path / 'project'}: that folder holds the working directory {work},",
    )
    _refused(ds, tmp_path, tmp_path, "holds the working directory")
    result = ds.checkout(".", summary=True)
    assert result.root == str(work)
    assert result.deleted == ("log.txt",)
    assert read_tree(work) == FILES


# -- download -----------------------------------------------------------------------------


def test_download_refuses_the_store_and_the_cache_and_what_is_inside_them(
    ds: Artifact, satchel_env: SatchelEnv
) -> None:
    private = satchel_env.store.parent
    before = snapshot(private)
    store, cache = satchel_env.store, satchel_env.cache
    with pytest.raises(ProtectedFolderError) as info:
        ds.download(store)
    assert str(info.value) == (
        f"refusing to download default/ds:v0 into {store}: that folder is the satchel store "
        f"{store}, whose files satchel manages. Nothing was written; download into a folder "
        "outside satchel's stores and caches"
    )
    with pytest.raises(
        ProtectedFolderError,
        match=rf"into {cache / 'x'}: that folder is "
        rf"inside the satchel cache {cache},",
    ):
        ds.download(cache / "x")
    with pytest.raises(ProtectedFolderError, match="is inside the satchel store"):
        ds.download(store / "objects")
    assert snapshot(private) == before


def test_download_above_the_store_is_refused_only_when_a_file_would_land_inside_it(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    project = tmp_path / "project"
    store = project / "store"
    bad = Artifact("bad", "dataset")
    bad.add(b"evil", "store/satchel.json")
    bad.save(store=str(store))
    good = Artifact("good", "dataset")
    good.add(b"fine", "data/x.bin")
    good.save(store=str(store))
    api = Api(str(store))
    before = snapshot(project)
    with pytest.raises(ProtectedFolderError) as info:
        api.artifact("bad").download(project)
    assert str(info.value) == (
        f"refusing to download default/bad:v0 into {project}: its file store/satchel.json would "
        f"be written inside the satchel store {store}. Nothing was written; download into "
        "another folder"
    )
    assert snapshot(project) == before
    api.artifact("good").download(project)  # writes beside the store, never into it
    assert (project / "data" / "x.bin").read_bytes() == b"fine"
    assert api.artifact("bad").download(project, path_prefix="nothing") == str(project)


# -- the dry run --------------------------------------------------------------------------


def test_dry_run_lists_deletions_writes_and_keeps_and_touches_nothing(
    ds: Artifact, tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    out = write_tree(
        tmp_path / "out",
        {
            "a.txt": "alpha",
            "b.txt": "edited",
            "mine.txt": "m",
            "sub/c.txt/inner": "a folder where a file goes",
        },
    )
    os.symlink(tmp_path / "src", out / "link")
    before = snapshot(tmp_path)
    plan = ds.checkout(out, dry_run=True)
    assert isinstance(plan, CheckoutPlan)
    assert plan.root == str(out)
    assert plan.delete == ("mine.txt", "sub/c.txt/inner")  # a folder link is not followed
    assert plan.unseen == ("mine.txt", "sub/c.txt/inner")
    assert plan.clear == ("sub/c.txt",)
    assert plan.write == ("b.txt", "sub/c.txt", "sub/d.txt")
    assert plan.keep == ("a.txt",)
    assert plan.summary() == "would delete 2, write 3, keep 1"
    assert not plan.needs_force
    assert snapshot(tmp_path) == before
    result = ds.checkout(out, summary=True)
    assert (result.deleted, result.written, result.kept) == (plan.delete, plan.write, plan.keep)
    assert read_tree(out) == FILES
    assert os.readlink(out / "link") == str(tmp_path / "src")  # left, as before: not a file


def test_dry_run_into_a_missing_folder_does_not_create_it(ds: Artifact, tmp_path: Path) -> None:
    plan = ds.checkout(tmp_path / "new" / "out", dry_run=True)
    assert (plan.delete, plan.keep, plan.write) == ((), (), tuple(sorted(FILES)))
    assert not (tmp_path / "new").exists()


def test_dry_run_reports_that_a_real_run_needs_force_without_raising(
    ds: Artifact, tmp_path: Path
) -> None:
    out = write_tree(
        tmp_path / "out", {f"mine/{i:02}.txt": str(i) for i in range(UNSEEN_LIMIT + 1)}
    )
    before = snapshot(out)
    plan = ds.checkout(out, dry_run=True)
    assert plan.needs_force and len(plan.unseen) == UNSEEN_LIMIT + 1 and plan.limit == UNSEEN_LIMIT
    assert snapshot(out) == before


# -- the summary --------------------------------------------------------------------------


def test_summary_counts_what_was_deleted_written_and_kept(ds: Artifact, tmp_path: Path) -> None:
    out = write_tree(
        tmp_path / "out",
        {"a.txt": "alpha", "sub/c.txt": "gamma", "b.txt": "edited", "x.txt": "1", "y/z.txt": "2"},
    )
    result = ds.checkout(out, summary=True)
    assert isinstance(result, CheckoutResult)
    assert result.root == str(out)
    assert result.deleted == ("x.txt", "y/z.txt")
    assert result.written == ("b.txt", "sub/d.txt")
    assert result.kept == ("a.txt", "sub/c.txt")
    assert result.summary() == "deleted 2, wrote 2, kept 2"
    assert read_tree(out) == FILES
    assert not (out / "y").exists()
    again = ds.checkout(out, summary=True)
    assert again.summary() == "deleted 0, wrote 0, kept 4"
    assert ds.checkout(out) == str(out)  # the W&B return value: the folder


# -- the limit on deleting files satchel has not seen -------------------------------------


def test_more_than_the_limit_of_unseen_files_needs_force(ds: Artifact, tmp_path: Path) -> None:
    mine = {f"results/{i:02}.csv": f"row {i}" for i in range(UNSEEN_LIMIT + 2)}
    out = write_tree(tmp_path / "out", mine)
    before = snapshot(out)
    with pytest.raises(TooManyDeletionsError) as info:
        ds.checkout(out)
    assert str(info.value) == (
        f"checkout of default/ds:v0 into {out} would delete {UNSEEN_LIMIT + 2} files that "
        "satchel did not write (results/00.csv, results/01.csv, results/02.csv, results/03.csv, "
        f"results/04.csv, ...), more than the {UNSEEN_LIMIT} it deletes without being forced; "
        "nothing was changed. List them with --dry-run (checkout(root, dry_run=True)) and "
        "delete them with --force (force=True), or check out into another folder"
    )
    assert info.value.unseen == sorted(mine) and info.value.limit == UNSEEN_LIMIT
    assert snapshot(out) == before
    result = ds.checkout(out, force=True, summary=True)
    assert len(result.deleted) == UNSEEN_LIMIT + 2
    assert read_tree(out) == FILES


def test_the_limit_itself_is_deleted_without_force(ds: Artifact, tmp_path: Path) -> None:
    out = write_tree(tmp_path / "out", {f"{i:02}.tmp": "x" for i in range(UNSEEN_LIMIT)})
    assert len(ds.checkout(out, summary=True).deleted) == UNSEEN_LIMIT
    assert read_tree(out) == FILES


def test_files_satchel_wrote_do_not_count_but_edited_ones_do(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    many = {f"old/{i:03}.bin": f"v0 file {i}" for i in range(3 * UNSEEN_LIMIT)}
    v0 = Artifact("ds", "dataset")
    v0.add_dir(write_tree(tmp_path / "v0", many))
    v0.save()
    v1 = Artifact("ds", "dataset")
    v1.add_dir(write_tree(tmp_path / "v1", FILES))
    v1.save()
    api = satchel_env.api()
    out = tmp_path / "out"
    api.artifact("ds:v0").checkout(out)
    for i in range(UNSEEN_LIMIT + 1):  # the user edits some of the downloaded files
        (out / "old" / f"{i:03}.bin").write_text("my edit")
    plan = api.artifact("ds:v1").checkout(out, dry_run=True)
    assert len(plan.delete) == 3 * UNSEEN_LIMIT
    assert plan.unseen == tuple(f"old/{i:03}.bin" for i in range(UNSEEN_LIMIT + 1))
    with pytest.raises(TooManyDeletionsError, match=f"would delete {UNSEEN_LIMIT + 1} files"):
        api.artifact("ds:v1").checkout(out)
    for i in range(UNSEEN_LIMIT + 1):
        (out / "old" / f"{i:03}.bin").unlink()
    result = api.artifact("ds:v1").checkout(out, summary=True)  # satchel's own: no force
    assert len(result.deleted) == 2 * UNSEEN_LIMIT - 1
    assert read_tree(out) == FILES


def test_guard_rails_hold_on_bucket_stores_too(
    quick_store_case: StoreCase, tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    services = quick_store_case.services(satchel_env.cache)
    art = Artifact("ds", "dataset", services=services)
    art.add_dir(write_tree(tmp_path / "src", FILES))
    art.save("p")
    got = Api(services=services, project="p").artifact("ds")
    cache = satchel_env.cache
    _refused(got, cache, cache.parent, f"that folder is the satchel cache {cache},")
    _refused(got, cache.parent, cache.parent, "that folder holds the satchel ")
    with pytest.raises(ProtectedFolderError, match="is inside the satchel cache"):
        got.download(cache / "out")
    out = write_tree(tmp_path / "out", {f"{i}.txt": "x" for i in range(UNSEEN_LIMIT + 1)})
    with pytest.raises(TooManyDeletionsError):
        got.checkout(out)
    assert got.checkout(out, force=True, summary=True).summary() == (
        f"deleted {UNSEEN_LIMIT + 1}, wrote 4, kept 0"
    )


# -- the command line ---------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def put_ds(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, _ = run(
        capsys, "put", str(write_tree(tmp_path / "src", FILES)), "--name", "ds", "--type", "dataset"
    )
    assert code == 0


def test_cli_checkout_refusals_are_one_line_and_change_nothing(
    capsys: pytest.CaptureFixture[str],
    put_ds: None,
    satchel_env: SatchelEnv,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = write_tree(tmp_path / "home", {"precious.txt": "p"})
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path / "src" / "sub")
    private = satchel_env.store.parent
    before = snapshot(private), snapshot(home)
    for target, why in [
        ("~", "that folder is your home folder,"),
        (str(private), f"that folder holds the satchel store {satchel_env.store},"),
        (str(satchel_env.cache), f"that folder is the satchel cache {satchel_env.cache},"),
        ("/", "that folder is a filesystem root,"),
        ("..", f"that folder holds the working directory {tmp_path / 'src' / 'sub'},"),
    ]:
        for extra in ([], ["--dry-run"], ["--force"]):
            code, out, err = run(capsys, "checkout", "ds", target, *extra)
            assert (code, out) == (1, ""), target
            assert err.startswith("satchel: error: refusing to check out default/ds:v0 into ")
            assert why in err and err.count("\n") == 1 and "Traceback" not in err
    code, out, err = run(capsys, "get", "ds", "--root", str(satchel_env.store / "x"))
    assert (code, out) == (1, "")
    assert err.startswith("satchel: error: refusing to download default/ds:v0 into ")
    assert err.count("\n") == 1
    assert (snapshot(private), snapshot(home)) == before


def test_cli_dry_run_lists_everything_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], put_ds: None, tmp_path: Path
) -> None:
    out_dir = write_tree(tmp_path / "out", {"a.txt": "alpha", "b.txt": "edited", "mine.txt": "m"})
    before = snapshot(out_dir)
    code, out, err = run(capsys, "checkout", "ds", str(out_dir), "--dry-run")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        (
            f"dry run: checking out default/ds:v0 into {out_dir} would delete 1, write 3, keep 1; "
            "nothing was changed"
        ),
        "  delete  mine.txt  (not written by satchel)",
        "  write   b.txt",
        "  write   sub/c.txt",
        "  write   sub/d.txt",
    ]
    code, out, _ = run(capsys, "checkout", "ds", str(out_dir), "--dry-run", "--json")
    assert code == 0
    assert json.loads(out) == {
        "name": "default/ds:v0",
        "root": str(out_dir),
        "dry_run": True,
        "delete": ["mine.txt"],
        "unseen": ["mine.txt"],
        "clear": [],
        "write": ["b.txt", "sub/c.txt", "sub/d.txt"],
        "keep": 1,
        "needs_force": False,
    }
    assert snapshot(out_dir) == before
    assert not (tmp_path / "new").exists()
    run(capsys, "checkout", "ds", str(tmp_path / "new"), "--dry-run")
    assert not (tmp_path / "new").exists()


def test_cli_prints_the_summary_after_a_real_run(
    capsys: pytest.CaptureFixture[str], put_ds: None, tmp_path: Path
) -> None:
    out_dir = write_tree(tmp_path / "out", {"a.txt": "alpha", "x.txt": "extra"})
    code, out, err = run(capsys, "checkout", "ds", str(out_dir))
    assert (code, err) == (0, "")
    assert out == f"{out_dir} now matches default/ds:v0: deleted 1, wrote 3, kept 1\n"
    code, out, _ = run(capsys, "checkout", "ds", str(out_dir), "--json")
    assert json.loads(out) == {
        "name": "default/ds:v0",
        "root": str(out_dir),
        "deleted": 0,
        "written": 0,
        "kept": 4,
    }


def test_cli_needs_force_beyond_the_limit(
    capsys: pytest.CaptureFixture[str], put_ds: None, tmp_path: Path
) -> None:
    out_dir = write_tree(tmp_path / "out", {f"m{i:02}": "x" for i in range(UNSEEN_LIMIT + 1)})
    before = snapshot(out_dir)
    code, out, err = run(capsys, "checkout", "ds", str(out_dir))
    assert (code, out) == (1, "")
    assert err.startswith(
        f"satchel: error: checkout of default/ds:v0 into {out_dir} would "
        f"delete {UNSEEN_LIMIT + 1} files that satchel did not write (m00, "
    )
    assert "List them with --dry-run" in err and "--force" in err and err.count("\n") == 1
    assert snapshot(out_dir) == before
    code, out, _ = run(capsys, "checkout", "ds", str(out_dir), "--dry-run")
    assert code == 0
    assert out.splitlines()[-1] == (
        f"a real run needs --force: it deletes {UNSEEN_LIMIT + 1} "
        f"files satchel did not write (more than {UNSEEN_LIMIT})"
    )
    assert snapshot(out_dir) == before
    code, out, _ = run(capsys, "checkout", "ds", str(out_dir), "--force")
    assert code == 0 and out.endswith(f"deleted {UNSEEN_LIMIT + 1}, wrote 4, kept 0\n")
    assert read_tree(out_dir) == FILES


def test_the_plan_lists_links_and_folders_in_the_way_even_in_a_folder_without_files(
    ds: Artifact, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(tmp_path / "src", out / "sub")  # a link where the version needs a folder
    (out / "a.txt").mkdir()  # an empty folder where it needs a file
    os.symlink(tmp_path / "src" / "b.txt", out / "b.txt")  # a link where it needs a file
    before = snapshot(tmp_path)
    plan = ds.checkout(out, dry_run=True)
    assert plan.clear == ("a.txt", "b.txt", "sub")
    assert (plan.delete, plan.keep) == ((), ())
    assert plan.write == tuple(sorted(FILES))
    assert snapshot(tmp_path) == before
    result = ds.checkout(out, summary=True)
    assert (result.deleted, result.written) == ((), tuple(sorted(FILES)))
    assert read_tree(out) == FILES and not os.path.islink(out / "b.txt")
    assert read_tree(tmp_path / "src") == FILES  # the links' targets are untouched


def test_nothing_is_removed_through_a_symlinked_folder_in_the_way(
    ds: Artifact, tmp_path: Path
) -> None:
    # out/sub is a link to a folder of the user's whose c.txt is a folder, where the version
    # needs the file sub/c.txt: the link goes, the user's folder stays as it is
    theirs = write_tree(tmp_path / "theirs", {"c.txt/precious": "p", "other": "o"})
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(theirs, out / "sub")
    before = snapshot(theirs)
    plan = ds.checkout(out, dry_run=True)
    assert plan.clear == ("sub",) and plan.delete == ()
    ds.checkout(out)
    assert snapshot(theirs) == before
    assert read_tree(out) == FILES and not os.path.islink(out / "sub")
