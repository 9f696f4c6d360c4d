"""The core benchmark script runs end to end (``--quick`` sizes, satchel only, no timing checks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "benchmarks", "bench_core.py")


@pytest.mark.timeout(120)
def test_bench_core_quick_prints_every_measurement_and_target(tmp_path):
    cp = subprocess.run(
        [
            sys.executable,
            SCRIPT,
            "--quick",
            "--impls",
            "satchel",
            "--datasets",
            "A,B",
            "--quiet",
            "--root",
            str(tmp_path),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert cp.returncode == 0, cp.stderr[-2000:]
    records = [json.loads(ln[5:]) for ln in cp.stdout.splitlines() if ln.startswith("JSON ")]
    by_bench: dict[str, list[dict]] = {}
    for rec in records:
        by_bench.setdefault(rec["bench"], []).append(rec)
    assert set(by_bench) >= {
        "machine",
        "add_dir",
        "md5",
        "copy",
        "readd",
        "manifest",
        "new_draft",
        "target",
    }
    adds = {(r["dataset"], r["policy"]) for r in by_bench["add_dir"]}
    assert adds == {(d, p) for d in "AB" for p in ("mutable", "immutable")}
    for rec in by_bench["add_dir"] + by_bench["readd"]:
        for key in ("wall_s", "cpu_s", "peak_rss_mb", "digest", "entries"):
            assert key in rec, (key, rec)
    # both policies hash the same bytes to the same artifact digest
    for ds in "AB":
        digests = {r["digest"] for r in by_bench["add_dir"] if r["dataset"] == ds}
        assert len(digests) == 1
    # the disk's floor of a mutable add is measured for the big-file dataset, both ways
    copies = {(r["dataset"], r["policy"]): r for r in by_bench["copy"]}
    assert set(copies) == {("B", "direct"), ("B", "buffered")}
    assert all(r["bytes"] == 2 * (9 << 20) and r["wall_s"] > 0 for r in copies.values())
    assert "### floor: copy the files without hashing" in cp.stdout
    manifest = by_bench["manifest"][0]
    assert manifest["digest_matches"] is True
    for key in (
        "build_s",
        "write_s",
        "read_s",
        "digest_s",
        "total_s",
        "checked_read_s",
        "process_peak_rss_mb",
    ):
        assert key in manifest
    new_draft = by_bench["new_draft"][0]
    assert new_draft["version"] == "v1" and new_draft["based_on"] == "v0"
    assert "### targets" in cp.stdout and "| data |" in cp.stdout


@pytest.mark.timeout(120)
def test_bench_checkout_quick_prints_every_row() -> None:
    script = os.path.join(ROOT, "benchmarks", "bench_checkout.py")
    cp = subprocess.run(
        [sys.executable, script, "--quick"],
        check=False,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert cp.returncode == 0, cp.stderr[-2000:]
    rows = [
        ln
        for ln in cp.stdout.splitlines()
        if ln.startswith("| ") and " s |" not in ln and "---" not in ln
    ]
    assert [r.split(" | ")[:2] for r in rows] == [
        ["| up to date", "download"],
        ["| up to date", "checkout"],
        ["| up to date", "dry run"],
        ["| 1% unseen", "dry run"],
        ["| 1% unseen", "checkout --force"],
    ]


@pytest.mark.timeout(120)
def test_bench_snapshot_quick_prints_every_measurement(tmp_path):
    script = os.path.join(ROOT, "benchmarks", "bench_snapshot.py")
    cp = subprocess.run(
        [sys.executable, script, "--quick", "--datasets", "A", "--quiet", "--root", str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert cp.returncode == 0, cp.stderr[-2000:]
    records = [json.loads(ln[5:]) for ln in cp.stdout.splitlines() if ln.startswith("JSON ")]
    by_bench = {r["bench"]: r for r in records if r.get("impl") == "this"}
    assert set(by_bench) == {"snapshot", "readd", "restore", "restore-cold"}
    snap = by_bench["snapshot"]
    assert snap["files"] == 300 and snap["version"] == "v0" and snap["wall_s"] > 0
    assert snap["store_objects"] == 300 and snap["shared"] == 0  # the cache is disposable
    assert by_bench["readd"]["version"] == "v0"  # unchanged: the same version
    assert by_bench["restore"]["files"] == by_bench["restore-cold"]["files"] == 300
    assert "| data | impl" in cp.stdout


@pytest.mark.timeout(180)
def test_bench_peers_quick_satchel_only_checks_restores_and_prints_the_table(tmp_path) -> None:
    script = os.path.join(ROOT, "benchmarks", "bench_peers.py")
    out = tmp_path / "rows.jsonl"
    cp = subprocess.run(
        [
            sys.executable,
            script,
            "--quick",
            "--datasets",
            "A",
            "--reps",
            "1",
            "--tools",
            "satchel",
            "dvc",
            "--peers-python",
            sys.executable,
            "--work",
            str(tmp_path / "work"),
            "--data-root",
            str(tmp_path / "data"),
            "--json",
            str(out),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert cp.returncode == 0, cp.stderr[-2000:]
    import importlib.util

    if importlib.util.find_spec("dvc") is None:  # this venv has no DVC: skipped, said so
        assert f"# skipped dvc: 'dvc' is not importable by {sys.executable}" in cp.stdout
    rows = [json.loads(ln) for ln in out.read_text().splitlines()]
    got = {(r["tool"], r["op"]) for r in rows}
    assert {("satchel", "snapshot"), ("satchel", "restore"), ("cp -r", "restore")} <= got
    assert all(r["ok"] and r["op_s"] > 0 for r in rows), rows
    assert "| A-quick | restore |" in cp.stdout and "satchel / cp -r" in cp.stdout
    assert not (tmp_path / "work" / "A-quick" / "r0").exists()  # scratch removed per rep


@pytest.mark.timeout(60)
def test_bench_peers_fails_a_restore_that_differs(tmp_path) -> None:
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        import bench_peers
    finally:
        sys.path.pop(0)
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        (d / "x").mkdir(parents=True)
        (d / "x" / "f").write_bytes(b"same")
    assert bench_peers.same_tree(str(a), str(b)) is None
    (b / "x" / "f").write_bytes(b"diff")
    assert bench_peers.same_tree(str(a), str(b)) == "1 differ, e.g. x/f"
    (b / "x" / "g").write_bytes(b"")
    assert bench_peers.same_tree(str(a), str(b)) == "0 missing, 1 extra"
