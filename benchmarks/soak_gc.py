#!/usr/bin/env python3
"""The gc-vs-commit soak, long: gc with no grace while writer processes commit (issue 10).

Usage (from the repository root)::

    .venv/bin/python benchmarks/soak_gc.py --seconds 60                   # every store kind
    .venv/bin/python benchmarks/soak_gc.py --seconds 300 --stores local,s3 --writers 4

For each store (``local``: a folder; ``memory``: ``memory://``, threads; ``s3``: moto's server;
``gcs``: fake-gcs-server; ``azure``: Azurite), in a fresh bucket: ``--writers`` processes
commit overlapping content, save new_drafts of each other's versions, re-commit unchanged
content and delete versions for ``--seconds``, while one process runs
``collect_garbage(grace=0, force=True)`` in a loop (the worst case: anything unreferenced goes
the moment gc sees it). Afterwards every version committed and not deleted is downloaded from
an empty cache, verified and compared with what its writer committed, and ``fsck`` runs. What
the writers and gc do is ``tests/soak/conftest.py`` (the same code the test suite runs for a
few seconds per store kind).

Prints one ``JSON {...}`` line per store as it completes (cases run, what gc removed, versions
checked, losses), then a table. Exits 1 if anything was lost, fsck found a problem or a writer
hit an unexpected error.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
os.environ.setdefault("SATCHEL_NO_PROGRESS", "1")
for _k, _v in {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}.items():
    os.environ.setdefault(_k, _v)

from bench_store import Servers
from tests.soak.conftest import SoakReport, run_soak
from tests.store.conftest import StoreCase

KINDS = ("local", "memory", "s3", "gcs", "azure")
COLUMNS = (
    "kind",
    "seconds",
    "writers",
    "commits",
    "new_drafts",
    "no_ops",
    "deletes",
    "gc_runs",
    "in_flight_seen",
    "removed_objects",
    "removed_manifests",
    "versions_checked",
    "files_checked",
    "lost",
    "fsck",
    "errors",
    "check_s",
)


def _case(kind: str, servers: Servers, workdir: Path) -> StoreCase:
    if kind == "local":
        return StoreCase(kind, str(workdir / "store"))
    if kind == "memory":
        return StoreCase(kind, f"memory://soak-{int(time.time() * 1000)}/team")
    url, options = servers.new_store(kind)
    return StoreCase(kind, url, options)


def _row(report: SoakReport) -> list[str]:
    d = report.to_dict()
    d["lost"], d["fsck"], d["errors"] = (
        len(report.lost),
        len(report.fsck_problems),
        len(report.errors),
    )
    d["check_s"] = report.check_seconds
    return [str(d[c]) for c in COLUMNS]


def main(argv: list[str] | None = None) -> int:
    """Run the soak on each store; return 1 if anything was lost."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="soak time per store")
    parser.add_argument("--writers", type=int, default=3, help="writer processes per store")
    parser.add_argument("--stores", default=",".join(KINDS), help=f"any of {', '.join(KINDS)}")
    parser.add_argument("--keep", action="store_true", help="keep the work folders")
    args = parser.parse_args(argv)
    kinds = [k for k in args.stores.split(",") if k]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        parser.error(f"unknown store kind(s): {', '.join(unknown)}")
    root = Path(tempfile.mkdtemp(prefix="satchel-soak-"))
    servers = Servers(root)
    reports: list[SoakReport] = []
    try:
        for kind in kinds:
            workdir = root / kind
            workdir.mkdir()
            case = _case(kind, servers, workdir)
            report = run_soak(case, workdir, seconds=args.seconds, writers=args.writers)
            reports.append(report)
            print("JSON " + json.dumps({"bench": "soak_gc", **report.to_dict()}), flush=True)
            for item in report.lost + report.fsck_problems + report.errors:
                print(f"  {kind}: {item}", flush=True)
    finally:
        servers.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print("\n### gc (grace 0, forced) against committing processes")
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for report in reports:
        print("| " + " | ".join(_row(report)) + " |")
    bad = sum(len(r.lost) + len(r.fsck_problems) + len(r.errors) for r in reports)
    cases = sum(r.commits + r.no_ops + r.deletes for r in reports)
    print(
        f"\n{cases} commits, re-commits and deletes against {sum(r.gc_runs for r in reports)} "
        f"gc runs; {sum(r.versions_checked for r in reports)} versions checked; "
        f"{sum(len(r.lost) for r in reports)} lost"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
