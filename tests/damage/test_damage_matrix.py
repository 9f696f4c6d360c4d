"""The store-damage matrix (:mod:`tests.damage.damage_matrix`): every damage x every command.

One test runs all cells in-process and checks what the issue asks of each (no traceback, at
most one error line and it names the damaged item, the unaffected artifact keeps working,
nothing sound is lost, the repair leaves only what needs a person) and that the committed
report ``docs/damage-matrix.md`` is what this run renders, so it cannot go stale. A second
test runs the rows of a few damages again with every command a real ``python -m satchel``
subprocess and checks that they come out exactly as the committed report says.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from satchel.errors import ArtifactNotFoundError
from satchel.fsck import check_store
from satchel.registry import collect_garbage
from satchel.repair import repair_store
from tests.conftest import SatchelEnv
from tests.damage import conftest as dmg
from tests.damage import damage_matrix as matrix
from tests.store.conftest import (
    PROJECT,
    StoreCase,
    commit_files,
    overwrite,
    quick_store_case_fixture,  # noqa: F401 - provides the quick_store_case fixture
)

#: what only a person can mend (fsck's advice says how); every other damage repairs clean
NEEDS_A_PERSON = {
    "record names v0's manifest": "left: corrupt-manifest",
    "record digest edited": "left: corrupt-manifest",
    "tampered manifest": "left: corrupt-manifest",
    "unsafe manifest": "left: corrupt-manifest",
    "missing manifest": "left: missing-manifest",
    "legacy dot-name": "left: hidden-name",
    "legacy dot-alias": "left: hidden-name",
}
#: damages whose item the command itself needs: the only ones where it may fail
BLOCKS = {
    "ls NAME": {"missing collection.json", "truncated collection.json"},
    "put": {"truncated collection.json"},  # the name's type lives there
}


def _report_rows(text: str) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith(("| damage", "| ---")):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows.setdefault(cells[0], []).append(" | ".join(cells[1:]))
    return rows


def test_every_command_on_every_damage(tmp_path: Path) -> None:
    rows = matrix.run_matrix(tmp_path)
    assert [r.damage.name for r in rows] == [d.name for d in matrix.DAMAGES]
    assert sum(len(r.cells) for r in rows) == len(matrix.DAMAGES) * len(matrix.COMMANDS) >= 200
    for row in rows:
        name = row.damage.name
        for command, cell in row.cells.items():
            what = f"{name} / {command}: {cell}"
            assert not cell.traceback and cell.code in (0, 1), what
            assert len(cell.errors) <= 1 and not cell.stray_lines, what
            if cell.errors or cell.warnings:  # what it says names the damaged file or version
                assert cell.names_it, what
            if cell.code and command not in (
                "verify",
                "show",
                "get",
                "checkout",
                "fsck",
                "gc",
                "gc --dry-run",
            ):
                assert name in BLOCKS.get(command, set()), what
        # fsck finds every damage but the cache's (the cache is not the store)
        assert row.cells["fsck"].names_it or name in (
            "corrupt object, same size",
            "corrupt cache object",
        ), name
        assert row.cells["ls"].code == 0, name  # one damaged file never hides the project
        assert row.other_ok, name
        assert row.after[0] == row.after[1], (name, row.after)
        assert row.repaired[0] == row.repaired[1], (name, row.repaired)
        assert row.repair == NEEDS_A_PERSON.get(name, "clean"), (name, row.repair)
    assert matrix.render(rows) == matrix.REPORT.read_text(), (
        "docs/damage-matrix.md is stale: run PYTHONPATH=src python -m tests.damage.damage_matrix"
    )


def test_the_matrix_as_real_subprocesses(tmp_path: Path) -> None:
    rows = matrix.run_matrix(tmp_path, subprocess_=True, only=matrix.SUBPROCESS_DAMAGES)
    committed = _report_rows(matrix.REPORT.read_text())
    rendered = _report_rows(matrix.render(rows))
    assert sorted(rendered) == sorted(matrix.SUBPROCESS_DAMAGES)
    for name in matrix.SUBPROCESS_DAMAGES:
        assert rendered[name] == committed[name], name
    assert not any(c.traceback for r in rows for c in r.cells.values())


# -- what the matrix found ---------------------------------------------------------------------
def test_ls_of_a_name_without_its_collection_record_names_the_record(
    satchel_env: SatchelEnv, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from satchel.cli import main

    commit_files(satchel_env.services(), "ds", matrix.V0, {})
    key = dmg.delete_collection(satchel_env.open_store(), PROJECT, "ds")
    monkeypatch.setenv("SATCHEL_PROJECT", PROJECT)
    assert main(["ls", "ds"]) == 1
    assert capsys.readouterr().err == (
        f"satchel: error: {PROJECT}/ds has versions but its collection record {key} is "
        "missing, so listings skip it; run 'satchel fsck --repair' to write it again\n"
    )
    assert main(["ls", "nothing"]) == 1  # a name that was never committed is still unknown
    assert "no artifact named 'nothing'" in capsys.readouterr().err
    assert issubclass(ArtifactNotFoundError, LookupError)


@pytest.mark.parametrize(
    "key",
    ["objects/zz/notes.txt", "objects/md5/ab/README", "manifests/zz/notes.txt", "objects/x.txt"],
)
def test_files_satchel_did_not_write_among_its_content(
    quick_store_case: StoreCase, tmp_path: Path, key: str
) -> None:
    # gc used to delete a stray file below objects/ as unreferenced content, and fsck counted
    # it (or one below manifests/) as unreferenced instead of naming it
    services = quick_store_case.services(tmp_path / "cache")
    commit_files(services, "ds", matrix.V0, {})
    store = quick_store_case.open()
    overwrite(store, key, b"a note\n")
    report = check_store(store)
    assert [(p.kind, p.key, p.message) for p in report.problems] == [
        ("stray-file", key, "a file where only satchel's content belongs")
    ]
    assert report.unreferenced_objects == () and report.unreferenced_manifests == ()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gc = collect_garbage(store, grace=0, force=True, now=matrix.time.time() + 7200)
    assert key not in gc.objects and store.backend.read(key) == b"a note\n"
    result = repair_store(store, cache=services.cache)
    assert result.moved == (key,) and result.after.ok
    assert store.backend.read(f"{result.quarantine}/{key}") == b"a note\n"
