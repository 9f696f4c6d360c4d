#!/usr/bin/env python3
"""Team-store benchmarks of issue 4: commits to and downloads from a bucket.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_store.py                    # S3 and Azure, datasets A and B
    .venv/bin/python benchmarks/bench_store.py --quick            # smoke test, seconds
    .venv/bin/python benchmarks/bench_store.py --stores s3 --datasets A --repeat 3

For each store (``s3``: moto's server; ``azure``: Azurite; ``gcs``: fake-gcs-server, on request)
and dataset (A: 10,000 x 4 KiB; B: 20 x 50 MiB; see ``datasets.py``), in a fresh bucket:

``commit``
    ``Artifact.add_dir(DATA)`` + ``save()`` into an empty store with an empty cache; the table
    shows the save (hash + upload) time, files/s and MB/s of the save.
``recommit``
    the same content committed again from a fresh draft (stat cache warm): the no-op rule makes
    it transfer nothing. Target: its save under 5 % of the first save.
``dedup``
    the same content under another artifact name: every object is already in the store, so
    only the bulk existence check runs (one listing per fan-out folder).
``download``
    ``Api().artifact("ds:latest").download(DIR)`` into an empty cache: files/s and MB/s.
``cached``
    the same download into a new folder with the cache warm, counting store requests from
    ``Api.artifact`` on. Target: at most 3.

Requests are counted twice: per backend call (every satchel store operation; a listing counts
one per page) and, on S3, per HTTP request the client really sent (botocore ``before-send``,
retries included). Servers run as separate processes so they do not share the client's GIL.
Every measurement runs in this process with a fresh ``Store`` (and fresh cache where stated);
one ``JSON {...}`` line is printed per measurement as it completes, the table at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
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

#: backend methods that each make (at least) one request
REQUESTING = (
    "read",
    "read_token",
    "create_if_absent",
    "replace_if_unchanged",
    "delete",
    "exists",
    "size",
    "put_file",
    "open",
    "modified_time",
    "touch",
    "delete_if_old",
)


class CountingBackend:
    """Delegates to a store backend and counts the requests its methods make."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.url = inner.url
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._listing_calls = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name in REQUESTING:

            def counted(*args: Any, **kwargs: Any) -> Any:
                with self._lock:
                    self.calls[name] += 1
                return attr(*args, **kwargs)

            return counted
        if name in ("list", "list_detailed", "walk", "walk_detailed"):

            def listed(*args: Any, **kwargs: Any) -> Any:
                result = attr(*args, **kwargs)
                items = list(result) if name.startswith("walk") else result
                with self._lock:
                    self.calls[name] += max(1, -(-len(items) // 1000))  # one request per page
                return iter(items) if name.startswith("walk") else items

            return listed
        return attr

    def existing(self, keys: Any) -> set[str]:
        # run the real strategy, through this wrapper, so its listings and HEADs are counted
        from satchel.store.remote import FsspecBackend

        inner = self._inner
        if isinstance(inner, FsspecBackend):
            return FsspecBackend.existing(self, keys)  # type: ignore[arg-type]
        with self._lock:
            self.calls["existing"] += 1
        return set(inner.existing(keys))

    def _head_many(self, keys: Any) -> set[str]:
        from satchel.store.remote import FsspecBackend

        return FsspecBackend._head_many(self, keys)  # type: ignore[arg-type]

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def reset(self) -> None:
        self.calls.clear()


# ----------------------------------------------------------------------------- servers
class Servers:
    """The storage servers of this run, started on demand and stopped at exit."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._stops: list[Any] = []
        self.s3: str | None = None
        self.azure: Any = None
        self.gcs: Any = None

    def start(self, kind: str) -> None:
        from tests.servers.process import free_port, spawn, wait_for_http

        if kind == "s3" and self.s3 is None:
            port = free_port()
            binary = Path(sys.executable).with_name("moto_server")
            proc = spawn(
                [str(binary), "-H", "127.0.0.1", "-p", str(port)],
                cwd=self.workdir,
                log_path=self.workdir / "moto.log",
            )
            self.s3 = f"http://127.0.0.1:{port}"
            wait_for_http(f"{self.s3}/moto-api/", proc, timeout=30)
            self._stops.append(lambda: proc.terminate())
        if kind == "azure" and self.azure is None:
            from tests.servers.azure import start_azure_server

            self.azure = start_azure_server()
            self._stops.append(self.azure.stop)
        if kind == "gcs" and self.gcs is None:
            from tests.servers.gcs import start_gcs_server

            self.gcs = start_gcs_server()
            self._stops.append(self.gcs.stop)

    def new_store(self, kind: str) -> tuple[str, dict[str, Any]]:
        """A fresh bucket/container: ``(store URL, storage options)``."""
        self.start(kind)
        name = f"bench-{uuid.uuid4().hex[:12]}"
        if kind == "s3":
            import boto3

            boto3.client("s3", endpoint_url=self.s3, region_name="us-east-1").create_bucket(
                Bucket=name
            )
            return f"s3://{name}/team", {"endpoint_url": self.s3, "skip_instance_cache": True}
        if kind == "azure":
            from azure.storage.blob import BlobServiceClient

            conn = self.azure.connection_string
            BlobServiceClient.from_connection_string(conn).create_container(name)
            return f"az://{name}/team", {"connection_string": conn, "skip_instance_cache": True}
        import requests

        session = requests.Session()
        session.trust_env = False
        session.post(
            f"{self.gcs.endpoint_url}/storage/v1/b",
            params={"project": "b"},
            json={"name": name},
            timeout=30,
        ).raise_for_status()
        return f"gs://{name}/team", {
            "endpoint_url": self.gcs.endpoint_url,
            "token": "anon",
            "skip_instance_cache": True,
        }

    def stop(self) -> None:
        for stop in reversed(self._stops):
            with contextlib.suppress(Exception):  # best effort at exit
                stop()


# -------------------------------------------------------------------------- measurements
def _open(url: str, options: dict[str, Any]) -> tuple[Any, CountingBackend, list[int]]:
    """A fresh Store on a counting backend, plus a live count of HTTP requests (S3 only)."""
    from satchel.store import Store, open_store

    inner = open_store(url, storage_options=options).backend
    counting = CountingBackend(inner)
    http = [0]
    if url.startswith("s3://"):
        inner.fs.connect()
        inner.fs.s3.meta.events.register(
            "before-send.s3", lambda **kw: http.__setitem__(0, http[0] + 1)
        )
    return Store(counting), counting, http


def _services(cache: Path, store: Any) -> Any:
    from satchel.services import local_services

    return local_services(cache_dir=str(cache), store=store)


def _commit(data: str, name: str, url: str, options: dict[str, Any], cache: Path) -> dict[str, Any]:
    import satchel

    store, counting, http = _open(url, options)
    services = _services(cache, store)
    t0 = time.perf_counter()
    art = satchel.Artifact(name, "dataset", services=services)
    art.add_dir(data)
    t1 = time.perf_counter()
    art.save("bench")
    t2 = time.perf_counter()
    return {
        "add_dir_s": t1 - t0,
        "save_s": t2 - t1,
        "wall_s": t2 - t0,
        "version": art.version,
        "requests": counting.total,
        "puts": counting.calls["put_file"],
        "http": http[0],
        "calls": dict(counting.calls),
    }


def _download(url: str, options: dict[str, Any], cache: Path, root: Path) -> dict[str, Any]:
    import satchel

    store, counting, http = _open(url, options)
    api = satchel.Api(store, "bench", services=_services(cache, store))
    t0 = time.perf_counter()
    art = api.artifact("ds:latest")
    art.download(root)
    wall = time.perf_counter() - t0
    return {
        "wall_s": wall,
        "requests": counting.total,
        "http": http[0],
        "calls": dict(counting.calls),
    }


def run_one(
    kind: str, name: str, servers: Servers, quick: bool, workdir: Path
) -> list[dict[str, Any]]:
    folder, spec = datasets.ensure(name, quick=quick, log=print)
    datasets.warm(folder, spec)
    url, options = servers.new_store(kind)
    mb = spec.total_bytes / 1e6
    base = {"store": kind, "dataset": spec.name, "files": spec.files, "mb": round(mb, 1)}
    out = []
    cache = workdir / f"cache-{uuid.uuid4().hex[:6]}"
    first = _commit(folder, "ds", url, options, cache)
    first.update(files_per_s=spec.files / first["save_s"], mb_per_s=mb / first["save_s"])
    out.append({**base, "bench": "commit", **first})
    again = _commit(folder, "ds", url, options, cache)
    again["ratio_to_first_save"] = again["save_s"] / first["save_s"]
    out.append({**base, "bench": "recommit", **again})
    dedup = _commit(folder, "ds-copy", url, options, cache)
    out.append({**base, "bench": "dedup", **dedup})
    empty = workdir / f"cache-{uuid.uuid4().hex[:6]}"
    down = _download(url, options, empty, workdir / f"dl-{uuid.uuid4().hex[:6]}")
    down.update(files_per_s=spec.files / down["wall_s"], mb_per_s=mb / down["wall_s"])
    out.append({**base, "bench": "download", **down})
    cached = _download(url, options, empty, workdir / f"dl-{uuid.uuid4().hex[:6]}")
    out.append({**base, "bench": "cached", **cached})
    for d in workdir.glob("dl-*"):
        shutil.rmtree(d, ignore_errors=True)
    for d in (cache, empty):
        shutil.rmtree(d, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stores", default="s3,azure", help="comma-separated: s3, azure, gcs")
    ap.add_argument("--datasets", default="A,B", help="comma-separated: A, B, C")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="small datasets, a smoke test")
    args = ap.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="satchel-bench-store-"))
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
    rows = []
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["store"], r["dataset"], r["bench"]), []).append(r)
    for (store, ds, bench), rs in groups.items():

        def med(k: str, rs: list[dict[str, Any]] = rs) -> Any:
            return statistics.median(r[k] for r in rs) if all(k in r for r in rs) else None

        secs = med("save_s") if bench in ("commit", "recommit", "dedup") else med("wall_s")
        rows.append(
            [
                store,
                ds,
                bench,
                f"{secs:.3f}",
                f"{med('files_per_s'):,.0f}" if med("files_per_s") else "-",
                f"{med('mb_per_s'):,.1f}" if med("mb_per_s") else "-",
                f"{med('ratio_to_first_save') * 100:.1f} %"
                if med("ratio_to_first_save") is not None
                else "-",
                int(med("requests")),
                int(med("http")) if store == "s3" else "-",
            ]
        )
    print(
        harness.table(
            [
                "store",
                "data",
                "step",
                "seconds",
                "files/s",
                "MB/s",
                "of 1st save",
                "store requests",
                "S3 HTTP requests",
            ],
            rows,
        )
    )
    failures = []
    for r in records:
        if r["bench"] == "recommit" and r["ratio_to_first_save"] >= 0.05:
            failures.append(
                f"{r['store']} {r['dataset']}: recommit took {r['ratio_to_first_save']:.1%} of the first save"
            )
        if r["bench"] == "recommit" and r["puts"]:
            failures.append(f"{r['store']} {r['dataset']}: recommit uploaded {r['puts']} objects")
        if r["bench"] == "cached" and r["requests"] > 3:
            failures.append(
                f"{r['store']} {r['dataset']}: cached download made {r['requests']} requests"
            )
    print("# targets: " + ("all met" if not failures else "; ".join(failures)))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
