"""Reading a committed version: download, checkout, verify, file(), files(), json_encode()."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from satchel import Artifact, Cache
from satchel.errors import (
    ArtifactVerificationError,
    DownloadObstacleError,
    EntryNotFoundError,
    NotASingleFileError,
    ReferenceChangedError,
    ReferenceNotFoundError,
    UnsupportedReferenceError,
)
from tests.conftest import SatchelEnv, read_tree, write_tree

FILES = {
    "a.txt": b"alpha",
    "b.txt": b"beta",
    "images/cat.png": b"\x89PNG cat",
    "images/dog.png": b"\x89PNG dog",
    "images/deep/x.bin": b"\x00" * 3000,
}


@pytest.fixture
def committed(tmp_path: Path, satchel_env: SatchelEnv) -> Artifact:
    write_tree(tmp_path / "src", FILES)
    art = Artifact("ds", "dataset")
    art.add_dir(tmp_path / "src")
    art.save()
    return satchel_env.api().artifact("ds:v0")


def test_default_root_is_under_artifacts_without_colon(
    committed: Artifact, satchel_env: SatchelEnv
) -> None:
    path = committed.download()
    assert path == str(satchel_env.work / "artifacts" / "ds-v0")
    assert ":" not in os.path.relpath(path, satchel_env.work)
    assert read_tree(path) == FILES
    assert committed.verify().verified == len(FILES)  # default root for verify too
    # checkout's default folder has no version (W&B's): one folder switched between versions
    assert committed.checkout() == str(satchel_env.work / "artifacts" / "ds")


def test_download_to_given_root_returns_absolute_path(
    committed: Artifact, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = committed.download("rel/out")
    assert path == str(tmp_path / "rel" / "out")
    assert read_tree(path) == FILES


def test_download_keeps_unrelated_files_and_repairs_changed_ones(
    committed: Artifact, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    write_tree(out, {"mine.txt": "user file", "a.txt": "edited by user"})
    committed.download(out)
    files = read_tree(out)
    assert files["mine.txt"] == b"user file"
    assert files["a.txt"] == b"alpha"


def test_download_again_leaves_unchanged_files_alone(committed: Artifact, tmp_path: Path) -> None:
    out = tmp_path / "out"
    committed.download(out)
    before = {p: os.stat(out / p).st_ino for p in FILES}
    committed.download(out)
    assert {p: os.stat(out / p).st_ino for p in FILES} == before


def test_downloaded_files_are_independent_copies(
    committed: Artifact, tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    out = Path(committed.download(tmp_path / "one"))
    with open(out / "a.txt", "wb") as f:  # writable, and editing it must not touch the cache
        f.write(b"scribble")
    again = committed.download(tmp_path / "two")
    assert read_tree(again)["a.txt"] == b"alpha"
    entry = committed.get_entry("a.txt")
    stored = satchel_env.store / "objects" / entry.alg / entry.oid[:2] / entry.oid[2:]
    assert stored.read_bytes() == b"alpha" and stored.stat().st_nlink == 1
    assert Cache(str(satchel_env.cache)).get(entry.alg, entry.oid) is None  # read in place


def test_download_from_empty_cache(
    committed: Artifact, tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    import shutil

    shutil.rmtree(satchel_env.cache)
    out = committed.download(tmp_path / "out")
    assert read_tree(out) == FILES


def test_path_prefix(committed: Artifact, tmp_path: Path) -> None:
    out = committed.download(tmp_path / "out", path_prefix="images/")
    assert sorted(read_tree(out)) == ["images/cat.png", "images/deep/x.bin", "images/dog.png"]
    out2 = committed.download(tmp_path / "out2", path_prefix="images/d")
    assert sorted(read_tree(out2)) == ["images/deep/x.bin", "images/dog.png"]


def test_skip_cache_leaves_no_cached_copies(
    committed: Artifact, tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    import shutil

    shutil.rmtree(satchel_env.cache)
    out = committed.download(tmp_path / "out", skip_cache=True)
    assert read_tree(out) == FILES
    cache = Cache(str(satchel_env.cache))
    assert all(cache.get(e.alg, e.oid) is None for e in committed.manifest)


def test_checkout_deletes_extras_and_restores(committed: Artifact, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(out, {"extra.txt": "x", "images/extra/deep.txt": "y", "b.txt": "changed"})
    (out / "empty-dir").mkdir()
    committed.checkout(out)
    assert read_tree(out) == FILES
    assert not (out / "images" / "extra").exists()
    committed.verify(out)


def test_verify_lists_every_problem(committed: Artifact, tmp_path: Path) -> None:
    out = Path(committed.download(tmp_path / "out"))
    os.unlink(out / "a.txt")
    os.unlink(out / "images" / "deep" / "x.bin")
    (out / "b.txt").write_bytes(b"BETA")
    (out / "images" / "cat.png").write_bytes(b"not a cat")
    write_tree(out, {"extra1.txt": "1", "images/extra2.txt": "2"})
    with pytest.raises(ArtifactVerificationError) as info:
        committed.verify(out)
    err = info.value
    assert sorted(err.missing) == ["a.txt", "images/deep/x.bin"]
    assert sorted(err.changed) == ["b.txt", "images/cat.png"]
    assert sorted(err.extra) == ["extra1.txt", "images/extra2.txt"]
    msg = str(err)
    assert msg.startswith(f"folder {out} does not match the artifact:")
    for p in [*err.missing, *err.changed, *err.extra]:
        assert p in msg
    assert "2 missing" in msg and "2 changed" in msg and "2 extra" in msg
    assert "satchel checkout" in msg


def test_verify_same_size_change_with_preserved_mtime_after_download(
    committed: Artifact, tmp_path: Path
) -> None:
    # A download records its files in the stat cache; a rewrite that changes the inode is
    # still noticed.
    out = Path(committed.download(tmp_path / "out"))
    tmp = out / "b.new"
    tmp.write_bytes(b"BETA")
    st = os.stat(out / "b.txt")
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp, out / "b.txt")
    with pytest.raises(ArtifactVerificationError) as info:
        committed.verify(out)
    assert info.value.changed == ["b.txt"]


def test_verify_many_problems_message_is_bounded_but_attributes_complete(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    art = Artifact("many", "dataset")
    for i in range(60):
        art.add(f"{i}", f"f{i:02d}.txt")
    art.save()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArtifactVerificationError) as info:
        art.verify(tmp_path / "empty")
    assert len(info.value.missing) == 60
    assert "60 missing" in str(info.value) and "(+10 more)" in str(info.value)


def test_file_and_files(committed: Artifact, tmp_path: Path, satchel_env: SatchelEnv) -> None:
    single = Artifact("one", "model")
    single.add(b"weights", "model/weights.bin")
    single.save()
    path = satchel_env.api().artifact("one").file(tmp_path / "m")
    assert path == str(tmp_path / "m" / "model" / "weights.bin")
    assert Path(path).read_bytes() == b"weights"
    with pytest.raises(
        NotASingleFileError,
        match="artifact ds:v0 holds 5 files; file\\(\\) needs exactly one. Use download\\(\\)",
    ):
        committed.file(tmp_path / "x")
    with pytest.raises(ValueError):  # still what code catching the builtin expects
        committed.file(tmp_path / "x")
    assert [e.path for e in committed.files()] == sorted(FILES)
    assert [e.path for e in committed.files(["b.txt", "a.txt"])] == ["b.txt", "a.txt"]
    with pytest.raises(EntryNotFoundError, match="no entry 'zzz'"):
        committed.files(["zzz"])


def test_json_encode(committed: Artifact) -> None:
    data = committed.json_encode()
    assert json.loads(json.dumps(data)) == data
    assert data["_type"] == "artifactVersion"
    assert data["id"] == committed.id and data["version"] == "v0"
    assert data["sequenceName"] == "ds" and data["type"] == "dataset"
    assert data["qualifiedName"] == "default/ds:v0" and data["digest"] == committed.digest


# -- references --------------------------------------------------------------------------


def _with_reference(tmp_path: Path) -> tuple[Artifact, Path]:
    ref_dir = write_tree(tmp_path / "refdata", {"r1.txt": "ref one", "sub/r2.txt": "ref two"})
    art = Artifact("refs", "dataset")
    art.add_reference(ref_dir.as_uri(), name="remote")
    art.add(b"stored", "stored.bin")
    art.save()
    return art, ref_dir


def test_file_references_download_and_verify(tmp_path: Path) -> None:
    art, _ = _with_reference(tmp_path)
    out = art.download(tmp_path / "out")
    assert read_tree(out) == {
        "remote/r1.txt": b"ref one",
        "remote/sub/r2.txt": b"ref two",
        "stored.bin": b"stored",
    }
    assert art.verify(out).verified == 3


def test_changed_reference_detected(tmp_path: Path) -> None:
    art, ref_dir = _with_reference(tmp_path)
    (ref_dir / "r1.txt").write_text("ref ONE")
    with pytest.raises(ReferenceChangedError, match="changed since it was recorded"):
        art.download(tmp_path / "out")


def test_missing_reference_raises_or_is_skipped(tmp_path: Path) -> None:
    art, ref_dir = _with_reference(tmp_path)
    os.unlink(ref_dir / "sub" / "r2.txt")
    with pytest.raises(ReferenceNotFoundError, match="no longer exists"):
        art.download(tmp_path / "out")
    out = art.download(tmp_path / "out2", allow_missing_references=True)
    assert sorted(read_tree(out)) == ["remote/r1.txt", "stored.bin"]


def test_tracked_only_reference(tmp_path: Path) -> None:
    art = Artifact("tracked", "dataset")
    art.add_reference("ftp://example.invalid/file.csv", name="file.csv")
    art.add(b"x", "x.bin")
    art.save()
    with pytest.raises(UnsupportedReferenceError, match="scheme satchel cannot download"):
        art.download(tmp_path / "out")
    out = art.download(tmp_path / "out2", allow_missing_references=True)
    assert sorted(read_tree(out)) == ["x.bin"]


def test_checkout_replaces_file_where_folder_must_be_and_folder_where_file_must_be(
    committed: Artifact, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    write_tree(out, {"images": "a file where a folder must be", "a.txt/inner/f": "folder"})
    (out / "b.txt").mkdir()  # an empty folder where a file must be
    committed.checkout(out)
    assert read_tree(out) == FILES
    committed.verify(out)


def test_download_refuses_a_file_where_a_folder_must_be_and_keeps_it(
    committed: Artifact, tmp_path: Path
) -> None:
    out = write_tree(tmp_path / "out", {"images": "mine"})
    with pytest.raises(
        DownloadObstacleError,
        match=r"cannot download images/\S+: .*images is a "
        r"file where the artifact needs a folder; move it away, or use checkout",
    ) as info:
        committed.download(out)
    assert isinstance(info.value, FileExistsError)
    assert info.value.path.startswith("images/")
    assert info.value.obstacle == str(out / "images")
    assert (out / "images").read_bytes() == b"mine"


def test_download_refuses_a_folder_where_a_file_must_be_and_keeps_it(
    committed: Artifact, tmp_path: Path
) -> None:
    out = write_tree(tmp_path / "out", {"a.txt/keep.me": "mine"})
    with pytest.raises(
        DownloadObstacleError,
        match=r"cannot download a.txt: .*a.txt is a folder "
        r"where the artifact needs a file",
    ) as info:
        committed.download(out)
    assert info.value.path == "a.txt"
    assert (out / "a.txt" / "keep.me").read_bytes() == b"mine"


def _images_linked_outside(tmp_path: Path) -> tuple[Path, Path]:
    """A download folder ``out`` whose ``images`` is a symlink to the empty ``outside``."""
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(outside, out / "images")
    return out, outside


def test_download_does_not_write_through_symlinked_folders(
    committed: Artifact, tmp_path: Path
) -> None:
    out, outside = _images_linked_outside(tmp_path)
    with pytest.raises(
        DownloadObstacleError,
        match=r"images is a symbolic link, which download "
        r"does not write through",
    ):
        committed.download(out)
    assert os.listdir(outside) == []
    assert os.path.islink(out / "images")


def test_download_into_a_file_is_a_clear_error(committed: Artifact, tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("mine")
    with pytest.raises(
        DownloadObstacleError,
        match=r"cannot download into .*file: it is a file, "
        r"not a folder; pick another folder",
    ):
        committed.download(target)
    assert target.read_text() == "mine"


def test_checkout_does_not_write_through_symlinked_folders(
    committed: Artifact, tmp_path: Path
) -> None:
    out, outside = _images_linked_outside(tmp_path)
    committed.checkout(out)
    assert os.listdir(outside) == []
    assert not os.path.islink(out / "images")
    assert read_tree(out) == FILES


def test_checkout_keeps_unchecked_reference_folders_of_older_manifests(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    # satchel before W&B's checksum=False rule wrote one entry per folder (digest = the URI,
    # no size); such versions still download the folder's files as they are now
    from satchel.wandb_import import build_from_wandb

    ref_dir = write_tree(tmp_path / "refdata", {"r1.txt": "one", "sub/r2.txt": "two"})
    uri = ref_dir.as_uri()
    art = build_from_wandb(
        satchel_env.services(),
        {
            "version": 1,
            "contents": {"loose": {"digest": uri, "ref": uri}},
        },
        name="loose",
        type="dataset",
    )
    art.add(b"s", "s.bin")
    art.save()
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="no recorded checksum; not verified"):
        art.checkout(out)
    write_tree(ref_dir, {"new.txt": "added later"})
    write_tree(out, {"extra.txt": "x"})
    with pytest.warns(UserWarning):
        art.checkout(out)
    assert read_tree(out) == {
        "loose/r1.txt": b"one",
        "loose/sub/r2.txt": b"two",
        "loose/new.txt": b"added later",
        "s.bin": b"s",
    }
    assert art.verify(out).unverifiable == ("loose",)


def test_checkout_of_checksum_false_file_references(tmp_path: Path) -> None:
    ref_dir = write_tree(tmp_path / "refdata", {"r1.txt": "one", "sub/r2.txt": "two"})
    art = Artifact("loose", "dataset")
    art.add_reference(ref_dir.as_uri(), name="loose", checksum=False)
    art.save()
    out = tmp_path / "out"
    write_tree(ref_dir, {"new.txt": "added later", "r1.txt": "ONE"})
    write_tree(out, {"extra.txt": "x"})
    with pytest.warns(UserWarning, match="no recorded checksum; not verified"):
        art.checkout(out)
    assert read_tree(out) == {"loose/r1.txt": b"ONE", "loose/sub/r2.txt": b"two"}
    assert art.verify(out).unverifiable == ("loose/r1.txt", "loose/sub/r2.txt")
