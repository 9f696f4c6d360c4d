"""What the command line reports, which scripts rely on: ``put``'s ``created`` and its edits
of an unchanged version, refused ``latest`` aliases, one JSON shape for a version in ``show``
and ``ls``, and global options accepted after the command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from satchel.cli import main
from satchel.cli.views import version_json
from tests.conftest import SatchelEnv, write_tree

REPO = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "data", {"a.txt": "alpha", "sub/b.txt": "beta"})


def test_put_of_unchanged_content_applies_description_and_metadata(
    capsys: pytest.CaptureFixture[str], data: Path, satchel_env: SatchelEnv
) -> None:
    run(
        capsys,
        "put",
        str(data),
        "--name",
        "ds",
        "--type",
        "dataset",
        "--description",
        "one",
        "--metadata",
        '{"split": "train"}',
    )
    code, out, _ = run(
        capsys,
        "put",
        str(data),
        "--name",
        "ds",
        "--type",
        "dataset",
        "--description",
        "two",
        "--metadata",
        '{"split": "test"}',
    )
    assert code == 0
    digest = satchel_env.api().artifact("ds:v0").digest
    assert out == (
        f"unchanged: default/ds:v0 already holds this content (digest {digest}); "
        "updated its description, metadata\n"
    )
    stored = satchel_env.api().artifact("ds:v0")
    assert (stored.description, stored.metadata) == ("two", {"split": "test"})
    code, out, _ = run(
        capsys,
        "put",
        str(data),
        "--name",
        "ds",
        "--type",
        "dataset",
        "--description",
        "two",
        "--json",
    )
    info = json.loads(out)
    assert (info["created"], info["updated"], info["version"]) == (False, [], "v0")
    code, out, _ = run(
        capsys, "put", str(data), "--name", "ds", "--type", "dataset", "--tag", "gold", "--json"
    )
    assert json.loads(out)["updated"] == ["tags"]


def test_concurrent_puts_of_the_same_content_report_one_creation(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    # Each process has its own cache and each round new content, so every process hashes
    # and uploads 500 files: a `created` read from the store before save() saw no version
    # in every process (4 x "created" in each round, measured), the commit's own answer can
    # be true for one only.
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    for round_ in range(2):
        files = {f"f{i:03d}.bin": os.urandom(1000) for i in range(500)}
        data = write_tree(tmp_path / f"data{round_}", files)
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "satchel",
                    "put",
                    str(data),
                    "--name",
                    f"race{round_}",
                    "--type",
                    "dataset",
                    "--json",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**env, "SATCHEL_CACHE_DIR": str(tmp_path / f"cache{round_}-{n}")},
            )
            for n in range(4)
        ]
        reports = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            reports.append(json.loads(out))
        assert sorted(r["created"] for r in reports) == [False, False, False, True], reports
        assert {r["version"] for r in reports} == {"v0"}
        assert satchel_env.open_store().live_versions("default", f"race{round_}") == [0]


def test_alias_add_latest_or_a_version_number_is_refused(
    capsys: pytest.CaptureFixture[str], data: Path, satchel_env: SatchelEnv
) -> None:
    run(capsys, "put", str(data), "--name", "ds", "--type", "dataset")
    code, out, err = run(capsys, "alias", "add", "ds:v0", "best", "latest")
    assert (code, out) == (1, "")
    assert err == (
        "satchel: error: alias 'latest' is computed (it always names the newest "
        "version) and cannot be assigned; use another alias, such as 'best' or "
        "'prod'\n"
    )
    code, _out, err = run(capsys, "alias", "add", "ds:v0", "v7")
    assert code == 1 and "alias 'v7' looks like a version number" in err
    assert satchel_env.api().artifact("ds:v0").aliases == ["latest"]  # "best" was not set


def test_show_and_ls_print_one_json_shape(
    capsys: pytest.CaptureFixture[str], data: Path, satchel_env: SatchelEnv
) -> None:
    run(capsys, "put", str(data), "--name", "ds", "--type", "dataset", "--alias", "prod")
    run(capsys, "stage", "ds:v0", "staging")
    art = satchel_env.api().artifact("ds:v0")
    import datetime as dt

    art.ttl = dt.timedelta(days=2, hours=3)
    art.save()
    _, out, _ = run(capsys, "show", "ds:v0", "--json")
    shown = json.loads(out)
    _, out, _ = run(capsys, "ls", "ds", "--json")
    listed = json.loads(out)["items"][0]
    _, out, _ = run(capsys, "put", str(data), "--name", "ds", "--type", "dataset", "--json")
    put = json.loads(out)
    assert set(shown) == set(listed) == set(put) - {"created", "updated"}
    assert shown == listed
    assert set(shown) == set(version_json(satchel_env.api().artifact("ds:v0")))
    assert shown["stage"] == "staging" and shown["ttl_seconds"] == 2 * 86400 + 3 * 3600
    assert shown["expires_at"] == (art.created_at + art.ttl).isoformat()
    assert shown["updated_at"] > shown["created_at"]
    _, out, _ = run(capsys, "show", "ds:v0")
    lines = dict(line.split(None, 1) for line in out.splitlines())
    assert lines["stage"] == "staging"
    assert lines["ttl"] == f"2d3h (expires {shown['expires_at']})"
    assert lines["updated_at"] == shown["updated_at"]


def test_global_options_after_the_command_win(
    capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other-store"
    code, _out, err = run(
        capsys,
        "put",
        str(data),
        "--name",
        "ds",
        "--type",
        "dataset",
        "--store",
        str(other),
        "--project",
        "p",
    )
    assert code == 0, err
    code, out, _ = run(capsys, "ls", "--store", str(other), "--project", "p", "--json")
    assert code == 0 and [i["qualified_name"] for i in json.loads(out)["items"]] == ["p/ds:v0"]
    # before and after the command: the one after wins
    code, out, _ = run(
        capsys,
        "--store",
        str(tmp_path / "nothing"),
        "--project",
        "q",
        "ls",
        "--store",
        str(other),
        "--project",
        "p",
    )
    assert code == 0 and out.startswith("p/ds:v0  dataset")
    code, out, _ = run(capsys, "--store", str(other), "ls", "--project", "default")
    assert out == "page 1/1, 0 version(s)\n"
    # --json before the command, --cache-dir after it
    code, out, _ = run(capsys, "--json", "cache", "info", "--cache-dir", str(tmp_path / "c2"))
    assert json.loads(out)["root"] == str(tmp_path / "c2")
    code, out, _ = run(capsys, "--store", str(other), "--json", "show", "ds:v0", "--project", "p")
    assert json.loads(out)["qualified_name"] == "p/ds:v0"


def test_gc_dry_run_reports_young_unreferenced_content_apart_from_what_goes(
    capsys: pytest.CaptureFixture[str], satchel_env: SatchelEnv
) -> None:
    import time

    from satchel.registry import collect_garbage
    from satchel.store import layout
    from tests.registry.conftest import commit

    api = satchel_env.api("default")
    commit(api, "ds", {"shared": "in both", "own": "zero"})
    commit(api, "ds", {"shared": "in both", "own": "one"})
    # a healthy store whose content is all young: nothing is unreferenced
    report = collect_garbage(api.store, dry_run=True)
    assert (report.kept_young, report.young, report.objects) == (0, (), ())
    _code, out, _ = run(capsys, "gc", "--dry-run")
    assert out == (
        "would remove 0 manifest(s) and 0 object(s), would free 0 B (0 bytes); 0 "
        "expired version(s); 0 unreferenced item(s) kept as younger than 1h\n"
    )
    # a deleted version's own object and manifest are unreferenced, kept while young
    v0 = api.artifact("ds:v0")
    own = layout.object_key("md5", v0.get_entry("own").oid)
    manifest = layout.manifest_key(v0.commit_hash)
    v0.delete()
    report = collect_garbage(api.store, dry_run=True)
    assert report.young == tuple(sorted((manifest, own))) and report.kept_young == 2
    assert report.objects == () and report.manifests == ()
    size = (satchel_env.store / manifest).stat().st_size
    _code, out, _ = run(capsys, "gc", "--dry-run", "--grace", "2h")
    assert out.splitlines() == [
        f"kept manifest {manifest} ({size} B): younger than 2h",
        f"kept object {own} (4 B): younger than 2h",
        (
            "would remove 0 manifest(s) and 0 object(s), would free 0 B (0 bytes); 0 expired "
            "version(s); 2 unreferenced item(s) kept as younger than 2h"
        ),
    ]
    _, out, _ = run(capsys, "gc", "--dry-run", "--json")
    assert json.loads(out)["young"] == [manifest, own]
    # once old, the same items are what would go, and nothing is "kept"
    later = collect_garbage(api.store, dry_run=True, now=time.time() + 7200)
    assert later.young == () and later.objects == (own,) and later.manifests == (manifest,)
