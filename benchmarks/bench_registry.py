"""Registry listing speed: a filtered page of a 10,000-version collection on the local store.

Builds a store with ``--versions`` versions of one artifact (every 10th tagged, every 100th
staged, a few aliases; version records written through the store's atomic primitives, all
sharing one small manifest, since listing never reads manifests), then times, each ``--repeat``
times with a fresh ``Api`` (no in-memory state carried over):

* ``cold``: the page with the index deleted first: it reads every record and builds the index
  (what every listing would cost without one);
* ``warm``: a filtered, sorted page (``tag="t0"``, ``sort_by="-created"``, 20 items) through the
  index, right after it was built (recently written attributes are still re-read: the index's
  racy-entry rule);
* ``warm-aged``: the same once those entries aged past the racy window;
* ``after-edits``: the same page after 50 attributes files and 5 aliases changed (the index
  re-reads exactly those).

Usage::

    python benchmarks/bench_registry.py [--versions 10000] [--repeat 3] [--keep DIR]

Prints one line per measurement (median, min, max in seconds) and a JSON line each.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable

import msgspec

from satchel import Api, Artifact
from satchel.registry.stages import set_stage
from satchel.store import layout, open_store
from satchel.store.records import encode, utcnow


def build(root: str, n: int) -> None:
    """A store with ``n`` versions of ``p/big``."""
    store = open_store(os.path.join(root, "store"))
    api = Api(store, "p", cache_dir=os.path.join(root, "cache"))
    first = Artifact("big", "dataset", services=api.services)
    with first.new_file("x.txt") as f:
        f.write("x")
    first.save("p", store=store)
    base = store.version("p", "big", 0)
    t0 = time.perf_counter()
    for i in range(1, n):
        rec = msgspec.structs.replace(
            base,
            id=uuid.uuid4().hex,
            version=i,
            created_at=utcnow(),
            metadata={"i": i, "split": ("train", "test", "val")[i % 3]},
            tags=[f"t{i % 10}"] if i % 10 == 0 else [],
        )
        store.backend.create_if_absent(layout.version_key("p", "big", i), encode(rec))
    for i in range(0, n, 100):
        set_stage(store, store.version("p", "big", i), "staging", reason="bench")
    for i in range(0, n, 2000):
        store.set_alias("p", "big", f"milestone-{i}", i)
    print(f"built {n} versions in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


def timed(
    fn: Callable[[], object], repeat: int, before: Callable[[], None] | None = None
) -> list[float]:
    out = []
    for _ in range(repeat):
        if before is not None:
            before()
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", help="build (or reuse) the store in this folder")
    args = parser.parse_args(argv)
    root = args.keep or tempfile.mkdtemp(prefix="satchel-bench-registry-")
    store_dir = os.path.join(root, "store")
    try:
        if not os.path.exists(
            os.path.join(store_dir, layout.version_key("p", "big", args.versions - 1))
        ):
            shutil.rmtree(store_dir, ignore_errors=True)
            build(root, args.versions)
        index = os.path.join(store_dir, layout.index_key("p", "big"))

        def api() -> Api:
            return Api(open_store(store_dir), "p", cache_dir=os.path.join(root, "cache"))

        def page() -> None:
            got = api().artifact_versions("big", tag="t0", sort_by="-created", size=20)
            assert got.total == len(range(10, args.versions, 10)) and len(got.items) == 20

        def drop_index() -> None:
            if os.path.exists(index):
                os.unlink(index)

        def edit() -> None:
            store = open_store(store_dir)
            stamp = uuid.uuid4().hex[:6]
            for i in range(1, args.versions, max(1, args.versions // 50))[:50]:
                store.update_attrs(
                    store.version("p", "big", i),
                    lambda a: msgspec.structs.replace(a, description=f"edited {stamp}"),
                )
            for i in range(5):
                store.set_alias("p", "big", f"moving-{i}", (i * 37 + len(stamp)) % args.versions)

        results = {
            "cold": timed(page, args.repeat, before=drop_index),
            "warm": timed(page, args.repeat),
        }
        page()  # let young attrs entries age into the index's trusted state (racy rule)
        time.sleep(2.5)
        page()
        results["warm-aged"] = timed(page, args.repeat)
        results["after-edits"] = timed(page, args.repeat, before=edit)
        for name, values in results.items():
            med = statistics.median(values)
            print(
                f"{name:12} median {med:.3f} s  (min {min(values):.3f}, max {max(values):.3f})"
                f"  {args.versions} versions"
            )
            print(
                json.dumps(
                    {
                        "bench": "registry_listing",
                        "case": name,
                        "versions": args.versions,
                        "median_s": round(med, 4),
                        "min_s": round(min(values), 4),
                        "max_s": round(max(values), 4),
                    }
                )
            )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
