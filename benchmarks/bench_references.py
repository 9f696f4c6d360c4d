#!/usr/bin/env python3
"""Reference benchmark of issue 3: adding a large S3 prefix and a large local folder by reference.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_references.py               # 10,000 objects, 1 repeat
    .venv/bin/python benchmarks/bench_references.py --quick       # 1,000 objects, smoke test
    .venv/bin/python benchmarks/bench_references.py --repeat 3 --impls satchel

Measurements:

``s3``
    ``Artifact("refs", "dataset").add_reference("s3://bench-refs/data")`` on a prefix of
    ``--objects`` (default 10,000) objects of 100 bytes held by moto's S3 server, for satchel
    and, when ``import wandb`` works, for W&B's ``wandb.Artifact(...).add_reference`` on the
    same prefix in the same run. Printed: seconds, objects per second, and the requests the
    server received during the add, by kind (counted on the server from its request log, so
    both libraries are counted the same way). Targets: satchel makes O(pages) requests, at most
    ~1 per 1,000 objects plus a constant, and is at least 10x faster than W&B (which sends one
    ``HeadObject`` per object).
``file``
    ``add_reference("file:///.../A")`` of dataset A (10,000 x 4 KiB in 100 folders, see
    ``datasets.py``; 300 files with ``--quick``), both libraries, objects per second.

Method: moto runs in a thread of this (parent) process and is filled straight through its
in-memory backend (10,000 PUT requests would take minutes and are not what is measured). Each
add runs in a fresh child process (``harness.run_child``) with empty caches; the parent counts
the requests moto logs while the child runs. moto is slow per request (about 0.6 s per
1,000-key listing page and ~10 ms per HEAD on a 2-core machine), so absolute times say more
about moto than about S3; the request counts and the ratio are the point. W&B runs offline,
without a run or a login.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import sys
import tempfile
from collections import Counter
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import datasets
import harness

SCRIPT = os.path.abspath(__file__)
BUCKET = "bench-refs"
PREFIX = "data"
KEY = "testing"
# werkzeug colours some request lines (ANSI escapes inside the quotes)
_REQUEST_LINE = re.compile(r'"(?:\x1b\[[0-9;]*m)?(GET|HEAD|PUT|POST|DELETE) (\S+) HTTP/')


# ------------------------------------------------------------------------------ child side
def _child(cfg: dict[str, Any]) -> dict[str, Any]:
    impl, uri = cfg["impl"], cfg["uri"]
    if impl == "satchel":
        import satchel

        satchel.configure(
            storage_options={"s3": {"endpoint_url": cfg["endpoint"], "key": KEY, "secret": KEY}}
        )
        with harness.Probe() as probe:
            art = satchel.Artifact("refs", "dataset")
            count = len(art.add_reference(uri, max_objects=cfg["max_objects"]))
    else:
        import wandb

        with harness.Probe() as probe:
            art = wandb.Artifact("refs", "dataset")
            count = len(art.add_reference(uri, max_objects=cfg["max_objects"]))
    return {**probe.result, "objects": count}


# ----------------------------------------------------------------------------- parent side
class RequestCounter(logging.Handler):
    """Counts the requests moto's werkzeug server logs, by kind."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.kinds: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        match = _REQUEST_LINE.search(record.getMessage())
        if match:
            self.kinds[_kind(match.group(1), match.group(2))] += 1

    def take(self) -> Counter[str]:
        """The counts so far, then start again from zero."""
        out, self.kinds = self.kinds, Counter()
        return out


def _kind(method: str, target: str) -> str:
    """The S3 operation a logged request line stands for."""
    path, _, query = target.partition("?")
    if method == "HEAD":
        return "HeadObject"
    if "list-type=2" in query:
        return "ListObjectsV2"
    if "versioning" in query:
        return "GetBucketVersioning"
    if "versions" in query:
        return "ListObjectVersions"
    if method == "GET":
        return "GetObject" if "/" in path.strip("/") else "ListObjects"
    return method


def start_moto(objects: int) -> tuple[Any, str, RequestCounter]:
    """Start moto on 127.0.0.1, fill ``s3://bench-refs/data/`` and count requests from now."""
    os.environ.update(
        AWS_ACCESS_KEY_ID=KEY,
        AWS_SECRET_ACCESS_KEY=KEY,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    backend.create_bucket(BUCKET, "us-east-1")
    for i in range(objects):
        backend.put_object(BUCKET, f"{PREFIX}/{i // 100:03d}/{i:06d}.bin", b"%099d\n" % i)
    counter = RequestCounter()
    log = logging.getLogger("werkzeug")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.handlers[:] = [counter]
    return server, f"http://{host}:{port}", counter


def main(argv: list[str] | None = None) -> int:
    """Run the measurements and print tables, JSON lines and the targets."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objects", type=int, default=10_000, help="objects in the S3 prefix")
    p.add_argument("--quick", action="store_true", help="1,000 objects and a small folder")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--impls", default="satchel,wandb")
    p.add_argument("--bench", default="s3,file")
    p.add_argument("--root", default=datasets.DEFAULT_ROOT)
    p.add_argument("--wandb-python", default=sys.executable)
    args = p.parse_args(argv)
    objects = 1000 if args.quick else args.objects
    impls = [i for i in args.impls.split(",") if i]
    if "wandb" in impls and not _importable(args.wandb_python, "wandb"):
        print("wandb is not importable: W&B is not measured", flush=True)
        impls.remove("wandb")
    print("machine:", harness.machine(), flush=True)
    results: dict[tuple[str, str], dict[str, Any]] = {}
    if "s3" in args.bench:
        server, endpoint, counter = start_moto(objects)
        try:
            for _ in range(args.repeat):
                for impl in impls:
                    runs = results.setdefault(("s3", impl), {"runs": []})["runs"]
                    rec = _measure(
                        args, impl, f"s3://{BUCKET}/{PREFIX}", endpoint, objects, counter
                    )
                    runs.append(rec)
        finally:
            server.stop()
    if "file" in args.bench:
        folder, spec = datasets.ensure("A", root=args.root, quick=args.quick)
        datasets.warm(folder, spec)
        uri = "file://" + os.path.abspath(folder)
        for _ in range(args.repeat):
            for impl in impls:
                runs = results.setdefault(("file", impl), {"runs": []})["runs"]
                runs.append(_measure(args, impl, uri, "", spec.files, None))
    return _report(results, objects)


def _importable(python: str, module: str) -> bool:
    import subprocess

    return (
        subprocess.run(
            [python, "-c", f"import {module}"], check=False, capture_output=True
        ).returncode
        == 0
    )


def _measure(
    args: argparse.Namespace,
    impl: str,
    uri: str,
    endpoint: str,
    objects: int,
    counter: RequestCounter | None,
) -> dict[str, Any]:
    os.makedirs(args.root, exist_ok=True)
    state = tempfile.mkdtemp(prefix="bench-refs-", dir=args.root)
    extra = {
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": KEY,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if endpoint:
        extra["AWS_S3_ENDPOINT_URL"] = endpoint  # W&B's way to name an S3 endpoint
    env = harness.child_env(state, extra)
    cfg = {"impl": impl, "uri": uri, "endpoint": endpoint, "max_objects": objects + 10}
    if counter is not None:
        counter.take()
    python = args.wandb_python if impl == "wandb" else sys.executable
    rec = harness.run_child(python, SCRIPT, cfg, env, timeout=7200)
    if counter is not None:
        kinds = counter.take()
        rec["requests"] = sum(kinds.values())
        rec["request_kinds"] = dict(sorted(kinds.items()))
    shutil.rmtree(state, ignore_errors=True)
    harness.emit({"bench": uri.split(":", 1)[0], "impl": impl, **rec})
    return rec


def _report(results: dict[tuple[str, str], dict[str, Any]], objects: int) -> int:
    rows, agg = [], {}
    for (bench, impl), data in results.items():
        runs = [r for r in data["runs"] if "error" not in r]
        errors = [r["error"] for r in data["runs"] if "error" in r]
        if errors:
            print(f"{bench}/{impl} failed: {errors[0]}", flush=True)
        if not runs:
            continue
        a = harness.aggregate(runs)
        agg[(bench, impl)] = a
        rate = a["objects"] / a["wall_s"] if a.get("wall_s") else None
        kinds = a.get("request_kinds") or {}
        rows.append(
            [
                bench,
                impl,
                a.get("objects"),
                harness.fmt_s(a),
                f"{rate:,.0f}" if rate else "-",
                a.get("requests", "-"),
                ", ".join(f"{k} {v}" for k, v in kinds.items()) if isinstance(kinds, dict) else "-",
                a.get("peak_rss_mb"),
            ]
        )
    print()
    print(
        harness.table(
            [
                "bench",
                "impl",
                "objects",
                "add_reference s",
                "objects/s",
                "requests",
                "by kind",
                "peak RSS MB",
            ],
            rows,
        )
    )
    print()
    ok = True
    s3 = agg.get(("s3", "satchel"))
    if s3:
        budget = objects // 1000 + 3
        fine = s3.get("requests", 10**9) <= budget
        ok &= fine
        print(
            f"target: satchel S3 requests {s3.get('requests')} <= {budget} "
            f"(~1 per 1,000 objects + HEAD + versioning check): {'met' if fine else 'MISSED'}"
        )
        w = agg.get(("s3", "wandb"))
        if w:
            ratio = w["wall_s"] / s3["wall_s"]
            fine = ratio >= 10
            ok &= fine
            print(
                f"target: satchel >= 10x faster than W&B on the S3 prefix: {ratio:.1f}x "
                f"({'met' if fine else 'MISSED'}); W&B made {w.get('requests')} requests"
            )
    f_s, f_w = agg.get(("file", "satchel")), agg.get(("file", "wandb"))
    if f_s and f_w:
        print(f"file://: satchel {f_w['wall_s'] / f_s['wall_s']:.1f}x the speed of W&B")
    return 0 if ok else 1


if __name__ == "__main__":
    if "--_child" in sys.argv:
        sys.exit(harness.child_main(_child))
    sys.exit(main())
