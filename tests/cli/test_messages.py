"""Messages a user meets by mistake: a missing path to put, a missing folder to verify, special
files in a folder (one policy: warn and skip, listing them), and control characters in file
names (refused when added, escaped wherever printed, so no name can forge an output line)."""

from __future__ import annotations

import json
import os
import socket
import warnings
from pathlib import Path

import pytest

from satchel import Artifact
from satchel.cli import main
from satchel.errors import (
    ArtifactVerificationError,
    InvalidPathError,
    SkippedFilesWarning,
)
from satchel.hashing import hash_bytes
from satchel.manifest import Manifest, ManifestEntry
from satchel.paths import printable
from satchel.store import CommitRequest
from tests.conftest import SatchelEnv, read_tree, write_tree


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- put and verify of paths that are not there ------------------------------------------------
def test_put_of_a_missing_path_says_it_does_not_exist(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "put", "no-such-folder", "--name", "ds", "--type", "dataset")
    assert (code, out) == (1, "")
    assert err == "satchel: error: no-such-folder does not exist; put a file or a folder\n"
    os.symlink(tmp_path / "gone", tmp_path / "dangling")
    code, out, err = run(capsys, "put", str(tmp_path / "dangling"), "--name", "ds", "--type", "x")
    assert err == (
        f"satchel: error: {tmp_path / 'dangling'} is a dangling symbolic link, "
        "neither a regular file nor a folder; put a file or a folder\n"
    )


def test_verify_of_a_missing_folder_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    data = write_tree(tmp_path / "data", {"a.txt": "alpha", "b/c.txt": "gamma"})
    run(capsys, "put", str(data), "--name", "ds", "--type", "dataset")
    code, out, err = run(capsys, "verify", "ds", "not-there")
    assert (code, out) == (1, "")
    assert err == (
        f"satchel: error: folder {tmp_path / 'not-there'} does not exist, so none of the 2 "
        "file(s) of default/ds:v0 is there; download them with 'satchel get default/ds:v0 "
        "--root DIR' (download(root)) first\n"
    )
    code, out, _ = run(capsys, "verify", "ds", "not-there", "--json")
    report = json.loads(out)
    assert code == 1 and report["missing"] == ["a.txt", "b/c.txt"]
    assert report["folder_exists"] is False
    with pytest.raises(ArtifactVerificationError, match="is not a folder") as info:
        satchel_env.api().artifact("ds").verify(data / "a.txt")
    assert info.value.missing == ["a.txt", "b/c.txt"]


# -- special files: warn and skip, listing them ------------------------------------------------
def _special_tree(root: Path) -> Path:
    write_tree(root, {"a.txt": "alpha", "sub/b.txt": "beta"})
    (root / "loop").symlink_to("loop")
    (root / "dangling").symlink_to("nowhere")
    (root / "folder-link").symlink_to(root / "sub")
    (root / "file-link").symlink_to(root / "a.txt")  # a link to a file is added
    os.mkfifo(root / "sub" / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "sock"))
    sock.close()
    return root


SKIPPED = [
    ("dangling", "a symbolic link to 'nowhere', which does not exist"),
    ("folder-link", "a symbolic link to a folder, not followed"),
    ("loop", "a symbolic link loop"),
    ("sock", "a socket"),
    ("sub/fifo", "a FIFO"),
]


def _skipped_text(root: Path, doing: str) -> str:
    listed = "; ".join(f"'{rel}' ({reason})" for rel, reason in SKIPPED)
    return (
        f"{doing} skipped 5 entries of {root} that are not a regular file or folder: "
        f"{listed}. Only regular files (and symbolic links to them) are added; copy what "
        "you need into the folder as regular files"
    )


@pytest.mark.parametrize("policy", ["mutable", "immutable"])
def test_add_dir_skips_special_files_with_one_warning_listing_them(
    tmp_path: Path, policy: str
) -> None:
    root = _special_tree(tmp_path / "data")
    art = Artifact("ds", "dataset")
    with pytest.warns(SkippedFilesWarning) as caught:
        art.add_dir(root, policy=policy)
    assert len(caught) == 1
    warning = caught[0].message
    assert isinstance(warning, SkippedFilesWarning)
    assert str(warning) == _skipped_text(root, "add_dir")
    assert warning.folder == str(root) and sorted(warning.skipped) == SKIPPED
    assert sorted(art.manifest.entries) == ["a.txt", "file-link", "sub/b.txt"]
    art.save()
    assert art.get("file-link") == b"alpha"


def test_a_file_reference_to_a_folder_follows_the_same_policy(tmp_path: Path) -> None:
    root = _special_tree(tmp_path / "data")
    art = Artifact("ds", "dataset")
    with pytest.warns(SkippedFilesWarning) as caught:
        art.add_reference(root.as_uri())
    assert str(caught[0].message) == _skipped_text(root, f"add_reference('{root.as_uri()}')")
    assert sorted(art.manifest.entries) == ["a.txt", "file-link", "sub/b.txt"]


def test_put_prints_one_warning_line_and_commits_the_rest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    root = _special_tree(tmp_path / "data")
    code, out, err = run(capsys, "put", str(root), "--name", "ds", "--type", "dataset")
    assert code == 0 and out.startswith("committed default/ds:v0: 3 files")
    assert err == f"satchel: warning: {_skipped_text(root, 'add_dir')}\n"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean folder warns about nothing
        clean = write_tree(tmp_path / "clean", {"a": "1"})
        Artifact("clean", "dataset").add_dir(clean)


# -- control characters ------------------------------------------------------------------------
@pytest.mark.parametrize("char", ["\t", "\x1b", "\x7f", "\x85", "\x01"])
def test_control_characters_are_refused_in_new_paths(tmp_path: Path, char: str) -> None:
    src = write_tree(tmp_path / "f", {"ok.txt": "x"})
    art = Artifact("ds", "dataset")
    name = f"bad{char}name.txt"
    with pytest.raises(InvalidPathError) as info:
        art.add_file(src / "ok.txt", name)
    assert str(info.value) == (
        f"logical path {name!r} contains the control character U+{ord(char):04X}; rename the "
        "file (control characters are refused in new paths)"
    )
    with pytest.raises(InvalidPathError, match="contains the control character"):
        art.add(b"x", name)
    (src / name).write_text("y")
    with pytest.raises(InvalidPathError, match="contains the control character"):
        art.add_dir(src)
    assert list(art.manifest.entries) == []


def _commit_old_manifest(satchel_env: SatchelEnv, paths: dict[str, bytes]) -> None:
    """Commit a manifest holding names an older satchel (or W&B) accepted, through the store's
    own commit protocol (adding such files is refused now)."""
    store = satchel_env.open_store()
    staged = write_tree(
        satchel_env.work / "staged", {f"f{i}": c for i, c in enumerate(paths.values())}
    )
    entries = [ManifestEntry(p, hash_bytes(c), len(c)) for p, c in paths.items()]
    manifest = Manifest(entries)

    def upload(m: Manifest, _latest: object) -> None:
        for i, e in enumerate(entries):
            store.put_object(e.alg, e.oid, str(staged / f"f{i}"))

    store.commit(
        CommitRequest(
            project="default",
            name="old",
            type="dataset",
            build=lambda _latest: manifest,
            upload=upload,
        )
    )


def test_stored_names_with_control_characters_load_and_print_escaped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    evil = "tab\there\x1b[2J"
    _commit_old_manifest(satchel_env, {evil: b"one", "plain.txt": b"two"})
    art = satchel_env.api().artifact("old:v0")
    assert art.get_entry(evil).size == 3  # look-ups accept what loading accepts
    root = art.download(tmp_path / "out")
    assert read_tree(root) == {evil: b"one", "plain.txt": b"two"}
    art.verify(root)
    code, out, _ = run(capsys, "show", "old:v0", "--files")
    assert code == 0 and "\t" not in out and "\x1b" not in out
    assert f"  {printable(evil)}  3  " in out and "tab\\there\\x1b[2J" in out
    code, out, _ = run(capsys, "show", "old:v0", "--files", "--json")
    assert [f["path"] for f in json.loads(out)["files"]] == sorted([evil, "plain.txt"])


def test_a_file_name_with_a_line_break_cannot_forge_output_lines(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = write_tree(tmp_path / "data", {"a.txt": "alpha"})
    run(capsys, "put", str(data), "--name", "ds", "--type", "dataset")
    (data / "x\nsatchel: ok: everything matches").write_text("forged")
    code, out, err = run(capsys, "verify", "ds", str(data))
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"satchel: error: folder {data} does not match default/ds:v0:",
        "  1 extra: x\\nsatchel: ok: everything matches",
        (
            f"  run 'satchel checkout ds {data}' to make the folder match (it deletes the extra "
            "files)"
        ),
    ]
    # adding it is refused, and the error is one line too
    code, _out, err = run(capsys, "put", str(data), "--name", "ds", "--type", "dataset")
    assert code == 1 and err.count("\n") == 1
    assert err == (
        "satchel: error: logical path 'x\\nsatchel: ok: everything matches' "
        "contains a line break; rename the file\n"
    )


def test_every_line_of_human_output_stays_one_line() -> None:
    import io

    from satchel.cli.context import CliContext

    ctx = CliContext(None, None, None, out=io.StringIO())
    ctx.print("fsck: objects/x: entry a\nb\x1b[31m is missing")
    ctx.print("plain C:\\path stays as it is")
    assert ctx.out.getvalue() == (  # type: ignore[attr-defined]
        "fsck: objects/x: entry a\\nb\\x1b[31m is missing\nplain C:\\path stays as it is\n"
    )
