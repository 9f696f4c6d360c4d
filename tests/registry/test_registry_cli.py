"""The registry commands of the ``satchel`` CLI: text output, --json, and one-line errors."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

import satchel
from satchel.cli import main
from tests.conftest import SatchelEnv, write_tree
from tests.registry.conftest import commit


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["--project", "p", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def store(satchel_env: SatchelEnv) -> SatchelEnv:
    api = satchel_env.api("p")
    commit(api, "ds", {"a.txt": "a"}, tags=["raw"], metadata={"split": "train"})
    commit(api, "ds", {"a.txt": "a", "b.txt": "bb"}, aliases=["prod"])
    commit(api, "ds", {"a.txt": "A", "b.txt": "bb"}, metadata={"split": "test"})
    commit(api, "model", {"w": "w"}, type="model")
    return satchel_env


def test_ls_lists_versions_newest_first_with_a_page_line(capsys: Any, store: SatchelEnv) -> None:
    code, out, _ = run(capsys, "ls", "ds")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].startswith("p/ds:v2  dataset  ") and "latest" in lines[0]
    assert lines[1].startswith("p/ds:v1") and "prod" in lines[1]
    assert lines[-1] == "page 1/1, 3 version(s)"


def test_ls_filters_sort_and_pages(capsys: Any, store: SatchelEnv) -> None:
    data = run_json(capsys, "ls", "--sort", "version", "--size", "2", "--page", "2")
    assert [i["qualified_name"] for i in data["items"]] == ["p/ds:v1", "p/ds:v2"]  # ties: name
    assert (data["index"], data["max_size"], data["total"], data["total_pages"]) == (2, 2, 4, 2)
    data = run_json(capsys, "ls", "ds", "--metadata", "split=train")
    assert [i["version"] for i in data["items"]] == ["v0"]
    data = run_json(capsys, "ls", "--tag", "raw", "--type", "model", "--or", "--sort", "name")
    assert [i["qualified_name"] for i in data["items"]] == ["p/ds:v0", "p/model:v0"]
    data = run_json(capsys, "ls", "--alias", "prod")
    assert data["items"][0]["aliases"] == ["prod"]
    data = run_json(capsys, "ls", "ds", "--created-after", "2000-01-01", "--version", "v2")
    assert data["total"] == 1


def test_ls_collections_and_types(capsys: Any, store: SatchelEnv) -> None:
    _code, out, _ = run(capsys, "ls", "--collections")
    assert "p/ds  dataset  3 version(s), latest v2  aliases: prod->v1" in out
    assert run_json(capsys, "ls", "--types") == ["dataset", "model"]
    cols = run_json(capsys, "ls", "--collections", "--type", "model")
    assert [c["name"] for c in cols] == ["model"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["ls", "nothing"],
            (
                "satchel: error: no artifact named 'nothing' in project 'p'; see "
                "'satchel ls --collections'"
            ),
        ),
        (["ls", "--size", "0"], "satchel: error: size must be an int from 1 to 10,000, got 0"),
        (["ls", "--sort", "colour"], "satchel: error: sort_by 'colour' is not one of created"),
        (["ls", "--metadata", "novalue"], "satchel: error: --metadata 'novalue' is not KEY=VALUE"),
        (["delete", "ds:prod"], "satchel: error: p/ds:v1 still has alias(es) prod"),
        (
            ["alias", "rm", "ds:v1", "prod"],
            ("satchel: error: alias rm takes the artifact name, not a version ('ds:v1')"),
        ),
        (["alias", "rm", "ds", "nope"], "satchel: error: p/ds has no alias nope"),
        (["gc", "--grace", "soon"], "satchel: error: duration 'soon' is not understood"),
        (
            ["gc", "--grace", "30m"],
            (
                "satchel: error: gc grace 30m is shorter than the safe "
                "minimum of 1h: a commit by a satchel without leases"
            ),
        ),
        (["unlink", "ds:v0"], "satchel: error: p/ds:v0 is not a link"),
        (
            ["copy", "ds:v0", "q", "--move", "--alias", "x"],
            "satchel: error: --alias cannot be combined with --move",
        ),
        (["link", "ds:v0", "best:v1"], "satchel: error: link target 'best:v1' names a version"),
        (["lineage", "ds", "--depth", "0"], "satchel: error: depth must be at least 1, got 0"),
    ],
)
def test_errors_are_one_line(capsys: Any, store: SatchelEnv, argv: list[str], message: str) -> None:
    code, _out, err = run(capsys, *argv)
    assert code == 1
    assert err.startswith(message) and err.count("\n") == 1


def test_diff(capsys: Any, store: SatchelEnv) -> None:
    code, out, _ = run(capsys, "diff", "ds:v0", "ds:v2")
    assert code == 0
    assert out.splitlines() == [
        "+ b.txt  (2 B)",
        "M a.txt  (1 B -> 1 B)",
        "1 added, 0 removed, 1 modified",
    ]
    data = run_json(capsys, "diff", "ds:v1", "ds:v0")
    assert [e["path"] for e in data["removed"]] == ["b.txt"] and data["added"] == []
    assert data["modified"] == []


def test_alias_and_tag_commands(capsys: Any, store: SatchelEnv) -> None:
    code, out, _ = run(capsys, "alias", "add", "ds:v0", "v1.0.0", "golden")
    assert code == 0 and out.strip() == "p/ds:v0 aliases: golden, v1.0.0"
    assert run_json(capsys, "alias", "rm", "ds", "golden") == {"removed": ["golden"], "absent": []}
    data = run_json(capsys, "tag", "add", "ds:v2", "checked", "final")
    assert data["tags"] == ["checked", "final"]
    code, out, _ = run(capsys, "tag", "rm", "ds:v2", "final")
    assert out.strip() == "p/ds:v2 tags: checked"
    code, _out, err = run(capsys, "alias", "add", "ds:v0", "v7")
    assert code == 1 and "alias 'v7' looks like a version number" in err


def test_stage_command(capsys: Any, store: SatchelEnv) -> None:
    _code, out, _ = run(capsys, "stage", "ds:v2", "staging", "--reason", "ci green")
    assert out.strip() == "p/ds:v2 is now in stage staging"
    data = run_json(capsys, "stage", "ds:v2", "production", "--message", "ship it")
    assert data["stage"] == "production"
    assert [(h["from"], h["to"], h["reason"], h["message"]) for h in data["stage_history"]] == [
        (None, "staging", "ci green", None),
        ("staging", "production", None, "ship it"),
    ]
    assert run_json(capsys, "ls", "--stage", "production")["total"] == 1
    with pytest.raises(SystemExit):
        main(["stage", "ds:v2", "prod"])  # argparse refuses unknown stages itself


def test_delete_and_gc(capsys: Any, store: SatchelEnv) -> None:
    code, out, _ = run(capsys, "delete", "ds:prod", "--delete-aliases")
    assert out.strip() == (
        "deleted p/ds:v1 and its alias(es) prod; run 'satchel gc' to free its content"
    )
    code, out, _ = run(capsys, "gc", "--dry-run")
    assert code == 0 and "would remove 0 manifest(s) and 0 object(s)" in out
    assert "kept as younger than 1h" in out and "temporary" not in out
    (store.store / "objects" / ".left.0123456789ab.tmp").write_bytes(b"killed writer")
    time.sleep(1.1)
    code, out, _ = run(capsys, "gc", "--grace", "1s", "--force")
    assert "removed manifest manifests/" in out
    assert "removed temporary objects/.left.0123456789ab.tmp (13 B)" in out
    assert "; 1 temporary file(s) of interrupted writers cleaned up" in out
    assert "removed 1 manifest(s) and 0 object(s), freed" in out  # b.txt is still used by v2
    assert run_json(capsys, "delete", "model")["deleted"] == "p/model:v0"
    time.sleep(1.1)
    data = run_json(capsys, "gc", "--grace", "1s", "--force")
    assert len(data["objects"]) == 1 and data["bytes_freed"] > 0 and not data["dry_run"]


def test_gc_below_the_minimum_grace_needs_force_except_for_a_dry_run(
    capsys: Any, store: SatchelEnv
) -> None:
    run(capsys, "delete", "ds:prod", "--delete-aliases")
    time.sleep(1.1)
    code, _out, err = run(capsys, "gc", "--grace", "0s")
    assert code == 1 and "--force (force=True in Python)" in err
    dry = run_json(capsys, "gc", "--grace", "0s", "--dry-run")
    assert dry["dry_run"] and len(dry["manifests"]) == 1
    data = run_json(capsys, "gc", "--grace", "0s", "--force")
    assert data["manifests"] == dry["manifests"] and data["in_flight"] == 0


def test_gc_says_when_it_kept_what_commits_in_flight_use(capsys: Any, store: SatchelEnv) -> None:
    leases = store.store / "leases"
    leases.mkdir(exist_ok=True)  # commits made it (and removed their leases)
    (leases / f"{'1' * 32}.json").write_text("{}")  # a commit in flight (or one that died)
    code, out, _ = run(capsys, "gc", "--grace", "0s", "--force")
    assert code == 0 and out.rstrip().endswith("; kept what 1 commit(s) in flight write or use")
    assert run_json(capsys, "gc", "--dry-run")["in_flight"] == 1


def test_copy_move_link_unlink(capsys: Any, store: SatchelEnv, tmp_path: Path) -> None:
    _code, out, _ = run(capsys, "copy", "ds:v2", "q/ds2", "--alias", "imported")
    assert out.strip() == "copied ds:v2 to q/ds2:v0"
    other = tmp_path / "other-store"
    data = run_json(capsys, "copy", "ds:prod", "q", "--to-store", str(other), "--move")
    assert data["qualified_name"] == "q/ds:v0" and "prod" in data["aliases"]
    assert satchel.Api(str(other), "q").artifact("ds:prod").file_count == 2
    _code, out, _ = run(capsys, "link", "ds:v2", "portfolio", "--alias", "best")
    assert out.strip() == "linked p/ds:v2 as p/portfolio:v0"
    assert run_json(capsys, "ls", "portfolio")["items"][0]["linked_from"] == "p/ds:v2"
    _code, out, _ = run(capsys, "unlink", "portfolio:best")
    assert out.strip() == "unlinked p/portfolio:v0"


def test_lineage_command(capsys: Any, store: SatchelEnv) -> None:
    with satchel.init(project="p", job_type="train", name="trainer") as r:
        r.use_artifact("ds")
    _code, out, _ = run(capsys, "lineage", "ds")
    assert out.splitlines() == ["p/ds:v2", f"  used by run p/{r.id} 'trainer' [train]"]
    _code, out, _ = run(capsys, "lineage", "ds", "--format", "dot", "--depth", "2")
    assert out.startswith("digraph lineage {") and f'"p/ds:v2" -> "p/{r.id}";' in out
    data = run_json(capsys, "lineage", "ds")
    assert data["runs"][0]["name"] == "trainer" and data["edges"] == [["p/ds:v2", f"p/{r.id}"]]


def test_apply_command(capsys: Any, store: SatchelEnv, tmp_path: Path) -> None:
    write_tree(tmp_path / "data", {"x.txt": "x"})
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: applied\ntype: dataset\ntags: [a]\n"
        "source: {type: local, paths: [{src: data, dest: d}]}\n"
    )
    code, out, _ = run(capsys, "apply", "-f", str(spec))
    assert out.strip() == "created: p/applied:v0"
    assert run(capsys, "apply", "-f", str(spec))[1].strip() == "unchanged: p/applied:v0"
    spec.write_text(spec.read_text().replace("[a]", "[a, b]"))
    data = run_json(capsys, "apply", "-f", str(spec))
    assert data[0]["action"] == "updated" and data[0]["tags"] == ["a", "b"]
    code, _out, err = run(capsys, "apply", "-f", str(tmp_path / "missing.yaml"))
    assert code == 1 and "satchel: error:" in err and "missing.yaml" in err
