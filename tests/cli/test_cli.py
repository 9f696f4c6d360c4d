"""The ``satchel`` command: core commands, errors as one line, --help everywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from satchel.cli import build_parser, main
from tests.conftest import SatchelEnv, read_tree, write_tree

FILES = {"a.txt": "alpha", "sub/b.txt": "beta", "sub/deep/c.bin": b"\x00\x01\x02"}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "data", FILES)


def test_put_commits_a_folder_and_reports_it(capsys, data: Path) -> None:
    code, out, _ = run(capsys, "put", str(data), "--name", "ds", "--type", "dataset")
    assert code == 0
    assert out.startswith("committed default/ds:v0: 3 files")


def test_put_same_content_twice_reports_unchanged(capsys, data: Path) -> None:
    run(capsys, "put", str(data), "--name", "ds", "--type", "dataset")
    code, out, _ = run(capsys, "put", str(data), "--name", "ds", "--type", "dataset")
    assert code == 0
    assert out.startswith("unchanged: default/ds:v0 already holds this content")


def test_put_json_records_aliases_tags_metadata_description(capsys, data: Path) -> None:
    code, out, _ = run(
        capsys,
        "put",
        str(data),
        "--name",
        "ds",
        "--type",
        "dataset",
        "--alias",
        "prod",
        "--tag",
        "raw",
        "--metadata",
        '{"split": "train"}',
        "--description",
        "first",
        "--json",
    )
    assert code == 0
    info = json.loads(out)
    assert info["created"] is True
    assert info["version"] == "v0"
    assert sorted(info["aliases"]) == ["latest", "prod"]
    assert info["tags"] == ["raw"]
    assert info["metadata"] == {"split": "train"}
    assert info["description"] == "first"


def test_put_single_file(capsys, data: Path) -> None:
    code, out, _ = run(
        capsys, "put", str(data / "a.txt"), "--name", "one", "--type", "model", "--json"
    )
    assert code == 0
    assert json.loads(out)["file_count"] == 1


def test_get_downloads_into_root_and_path_prefix_limits_it(
    capsys, data: Path, tmp_path: Path
) -> None:
    run(capsys, "put", str(data), "--name", "ds", "--type", "dataset")
    code, out, _ = run(capsys, "get", "ds:v0", "--root", str(tmp_path / "full"))
    assert code == 0 and out.strip() == str(tmp_path / "full")
    assert read_tree(tmp_path / "full") == {
        k: v.encode() if isinstance(v, str) else v for k, v in FILES.items()
    }
    run(capsys, "get", "ds", "--root", str(tmp_path / "part"), "--path-prefix", "sub/deep")
    assert list(read_tree(tmp_path / "part")) == ["sub/deep/c.bin"]
    code, out, err = run(
        capsys, "get", "ds", "--root", str(tmp_path / "none"), "--path-prefix", "sbu/"
    )
    assert (code, out) == (1, "")
    assert err == (
        "satchel: error: no file of default/ds:v0 has a path starting with 'sbu/'; "
        "nothing was downloaded. See 'satchel show ds --files'\n"
    )
    assert not (tmp_path / "none").exists()


def test_get_into_an_obstacle_prints_one_line_and_keeps_it(
    capsys, data: Path, tmp_path: Path
) -> None:
    run(capsys, "put", str(data), "--name", "ds", "--type", "dataset")
    target = write_tree(tmp_path / "out", {"sub": "my file"})
    code, out, err = run(capsys, "get", "ds", "--root", str(target))
    assert code == 1 and out == ""
    assert "Traceback" not in err
    assert "sub is a file where the artifact needs a folder; move it away, or use checkout" in err
    assert (target / "sub").read_text() == "my file"


def test_get_default_root_has_no_colon(capsys, data: Path) -> None:
    run(capsys, "put", str(data), "--name", "ds", "--type", "dataset")
    code, out, _ = run(capsys, "get", "ds:latest")
    assert code == 0
    root = out.strip()
    assert root.endswith(os.path.join("artifacts", "ds-v0"))
    assert ":" not in os.path.basename(root)


def test_checkout_deletes_extra_files_and_restores_changed(
    capsys, data: Path, tmp_path: Path
) -> None:
    run(capsys, "put", str(data), "--name", "ds", "--type", "dataset")
    target = write_tree(tmp_path / "co", {"extra.txt": "x", "a.txt": "changed"})
    code, out, _ = run(capsys, "checkout", "ds", str(target))
    assert code == 0 and "now matches default/ds:v0" in out
    assert read_tree(target) == {
        k: v.encode() if isinstance(v, str) else v for k, v in FILES.items()
    }


def test_verify_ok_and_mismatch_exit_codes(capsys, data: Path) -> None:
    run(capsys, "put", str(data), "--name", "ds", "--type", "dataset")
    code, out, _ = run(capsys, "verify", "ds", str(data))
    assert code == 0 and out.startswith("ok:")
    (data / "a.txt").write_text("other")
    (data / "new.txt").write_text("n")
    (data / "sub" / "b.txt").unlink()
    code, _, err = run(capsys, "verify", "ds", str(data))
    assert code == 1
    assert "1 missing: sub/b.txt" in err and "1 extra: new.txt" in err and "1 changed: a.txt" in err
    code, out, _ = run(capsys, "verify", "ds", str(data), "--json")
    assert code == 1
    report = json.loads(out)
    assert (report["missing"], report["extra"], report["changed"]) == (
        ["sub/b.txt"],
        ["new.txt"],
        ["a.txt"],
    )


def test_show_lists_files(capsys, data: Path) -> None:
    run(capsys, "put", str(data), "--name", "ds", "--type", "dataset")
    code, out, _ = run(capsys, "show", "ds:v0", "--files", "--json")
    assert code == 0
    info = json.loads(out)
    assert [f["path"] for f in info["files"]] == sorted(FILES)
    code, out, _ = run(capsys, "show", "ds:v0", "--files")
    assert "qualified_name  default/ds:v0" in out and "sub/deep/c.bin" in out


def test_cache_cleanup_and_info(
    capsys, data: Path, satchel_env: SatchelEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(capsys, "put", str(data), "--name", "ds", "--type", "dataset")
    code, out, _ = run(capsys, "cache", "info", "--json")
    assert code == 0 and json.loads(out)["bytes"] == 0  # a local store keeps no cache copies
    import uuid

    monkeypatch.setenv("SATCHEL_STORE", f"memory://cli-{uuid.uuid4().hex[:8]}/s")  # a bucket's
    run(capsys, "put", str(data), "--name", "ds", "--type", "dataset")
    code, out, _ = run(capsys, "cache", "info", "--json")
    before = json.loads(out)["bytes"]
    assert code == 0 and before > 0
    code, out, _ = run(capsys, "cache", "cleanup", "--target-size", "0", "--dry-run", "--json")
    assert json.loads(out)["freed_bytes"] == before
    assert json.loads(out)["dry_run"] is True
    code, out, _ = run(capsys, "cache", "cleanup", "--target-size", "0")
    assert code == 0 and out.startswith("removed ")
    _, out, _ = run(capsys, "cache", "info", "--json")
    assert json.loads(out)["bytes"] == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["get", "nope"], "no artifact named 'nope'"),
        (["get", "bad name!"], "is not valid"),
        (
            ["put", "missing-folder", "--name", "ds", "--type", "dataset"],
            "missing-folder does not exist",
        ),
        (
            ["put", ".", "--name", "ds", "--type", "dataset", "--metadata", "{oops"],
            "--metadata is not valid JSON",
        ),
        (["cache", "cleanup", "--target-size", "lots"], "is not a size"),
    ],
)
def test_user_errors_print_one_line_and_exit_1(
    capsys, satchel_env: SatchelEnv, argv: list[str], message: str
) -> None:
    satchel_env.store.mkdir()  # a store folder that does not exist adds a warning line
    code, _out, err = run(capsys, *argv)
    assert code == 1
    assert err.startswith("satchel: error: ") and message in err
    assert "Traceback" not in err


def test_every_command_has_help(capsys) -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name in commands:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0, name
        assert "usage: satchel" in capsys.readouterr().out


def test_console_script_end_to_end(data: Path, tmp_path: Path, satchel_env: SatchelEnv) -> None:
    exe = [sys.executable, "-m", "satchel"]
    env = {**os.environ}
    put = subprocess.run(
        [*exe, "put", str(data), "--name", "e2e", "--type", "dataset"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert put.returncode == 0, put.stderr
    get = subprocess.run(
        [*exe, "get", "e2e:v0", "--root", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert get.returncode == 0, get.stderr
    ver = subprocess.run(
        [*exe, "verify", "e2e", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert ver.returncode == 0 and ver.stdout.startswith("ok:")
    bad = subprocess.run(
        [*exe, "get", "e2e:v9"], capture_output=True, text=True, env=env, check=False
    )
    assert bad.returncode == 1
    assert bad.stderr.strip().count("\n") == 0 and "no version or alias 'v9'" in bad.stderr
