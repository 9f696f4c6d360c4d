#!/usr/bin/env python3
"""What the post-commit check costs (issue 10 item 4): the bulk existence check every commit,
and every no-op re-commit, runs after its commit point (``Store.complete``).

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_commit_check.py                      # local, s3, azure; A
    .venv/bin/python benchmarks/bench_commit_check.py --stores local --datasets A,C --repeat 3
    .venv/bin/python benchmarks/bench_commit_check.py --quick              # smoke test

For each store (``local``: a folder; ``s3``: moto's server; ``azure``: Azurite; ``gcs``:
fake-gcs-server) and dataset (A: 10,000 x 4 KiB; C: 100,000 x 1 KiB; see ``datasets.py``), in a
fresh store:

``commit``
    ``add_dir`` + ``save()`` into the empty store (the save includes the check).
``noop``
    the same folder saved again (stat cache warm): the no-op rule commits nothing, and the
    check confirms the version is whole. This is the price of "saving the same files again
    repairs a version".
``check``
    the check alone (``Store.complete`` on the version: one bulk existence check of every
    object and of the manifest), timed and with its store requests counted; subtracted from
    ``noop`` it gives what a no-op cost before the check existed.
``repair``
    100 of the version's objects deleted behind satchel's back, then the folder saved again:
    the no-op finds and sends the 100 back.

Prints one ``JSON {...}`` line per measurement, then a table of medians.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

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

import datasets
import harness
from bench_store import CountingBackend, Servers


def _open(url: str, options: dict[str, Any]) -> tuple[Any, CountingBackend]:
    from satchel.store import Store, open_store

    counting = CountingBackend(open_store(url, storage_options=options or None).backend)
    return Store(counting), counting


def _save(folder: Path, url: str, options: dict[str, Any], cache: Path) -> dict[str, Any]:
    import satchel
    from satchel.services import local_services

    store, counting = _open(url, options)
    art = satchel.Artifact(
        "ds", "dataset", services=local_services(cache_dir=str(cache), store=store)
    )
    art.add_dir(folder)
    counting.reset()
    t0 = time.perf_counter()
    art.save("bench")
    return {
        "seconds": time.perf_counter() - t0,
        "requests": counting.total,
        "puts": counting.calls["put_file"],
        "version": art.version,
    }


def _check(url: str, options: dict[str, Any]) -> dict[str, Any]:
    store, counting = _open(url, options)
    record = store.latest("bench", "ds")
    assert record is not None
    manifest = store.get_manifest(record.manifest)
    counting.reset()
    t0 = time.perf_counter()
    sent = store.complete(manifest, record.manifest, "bench/ds:v0")
    return {
        "seconds": time.perf_counter() - t0,
        "requests": counting.total,
        "sent": sent,
        "objects": len(manifest),
    }


def _damage(url: str, options: dict[str, Any], count: int) -> None:
    from satchel.store import layout

    store, _counting = _open(url, options)
    record = store.latest("bench", "ds")
    assert record is not None
    for entry in list(store.get_manifest(record.manifest))[:count]:
        store.backend.delete(layout.object_key(entry.alg, entry.oid))


def run_one(
    kind: str, name: str, servers: Servers, quick: bool, workdir: Path
) -> list[dict[str, Any]]:
    folder, spec = datasets.ensure(name, quick=quick, log=print)
    datasets.warm(folder, spec)
    if kind == "local":
        url, options = str(workdir / f"store-{uuid.uuid4().hex[:6]}"), {}
    else:
        url, options = servers.new_store(kind)
    base = {"bench": "commit_check", "store": kind, "dataset": spec.name, "files": spec.files}
    cache = workdir / f"cache-{uuid.uuid4().hex[:6]}"
    out = [{**base, "step": "commit", **_save(folder, url, options, cache)}]
    out.append({**base, "step": "noop", **_save(folder, url, options, cache)})
    out.append({**base, "step": "check", **_check(url, options)})
    damaged = min(100, spec.files)
    _damage(url, options, damaged)
    out.append({**base, "step": "repair", "damaged": damaged, **_save(folder, url, options, cache)})
    out.append({**base, "step": "check-after-repair", **_check(url, options)})
    shutil.rmtree(cache, ignore_errors=True)
    if kind == "local":
        shutil.rmtree(url, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the measurements; print JSON lines and a table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--stores", default="local,s3,azure", help="comma-separated: local, s3, azure, gcs"
    )
    ap.add_argument("--datasets", default="A", help="comma-separated: A, C")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="small datasets, a smoke test")
    args = ap.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="satchel-bench-check-"))
    servers = Servers(workdir)
    records: list[dict[str, Any]] = []
    try:
        for _ in range(args.repeat):
            for kind in args.stores.split(","):
                for name in args.datasets.split(","):
                    for record in run_one(kind, name, servers, args.quick, workdir):
                        harness.emit(record)
                        records.append(record)
    finally:
        servers.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"# machine: {harness.machine()}")
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["store"], r["dataset"], r["step"]), []).append(r)
    rows = []
    for (store, ds, step), rs in groups.items():
        secs = [r["seconds"] for r in rs]
        rows.append(
            [
                store,
                ds,
                step,
                f"{statistics.median(secs):.3f}",
                f"{min(secs):.3f}-{max(secs):.3f}",
                int(statistics.median(r["requests"] for r in rs)),
                int(statistics.median(r.get("puts", r.get("sent", 0)) for r in rs)),
            ]
        )
    print(
        harness.table(
            [
                "store",
                "data",
                "step",
                "seconds (median)",
                "min-max",
                "store requests",
                "objects sent",
            ],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
