#!/usr/bin/env python3
"""Snapshot and restore through a local store: what keeping the cache apart from the store costs.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_snapshot.py                      # A, C, B; 3 repeats
    .venv/bin/python benchmarks/bench_snapshot.py --datasets A --repeat 5
    .venv/bin/python benchmarks/bench_snapshot.py --impl before=/tmp/old/src \\
        --impl before-copy=/tmp/old/src:copy --impl after=src         # designs side by side

Each ``--impl LABEL=SRC`` runs the satchel sources below ``SRC`` (default: this tree's
``src``). A ``:copy`` suffix makes a satchel that still hard-links store objects to cache
objects (issue 10, before the fix) copy them instead, which is how the "copy" design (or
"reflink" on a filesystem without reflinks, such as ext4) would behave; on newer sources the
suffix changes nothing.

Measurements, each in a fresh process with the state folders of its run (``harness.child_env``):

``snapshot``
    ``Artifact("ds", "dataset").add_dir(DATA)`` (default ``mutable`` policy) + ``save()`` into
    an empty local store with an empty cache; ``add_s`` and ``save_s`` split the time.
``readd``
    the same folder, unchanged, added and saved again with the state the snapshot left (the
    stat cache knows every file; the result is the existing version, nothing is uploaded).
``restore``
    ``Api().artifact("ds:latest").download(EMPTY_FOLDER)`` with the cache as the snapshot (and
    the re-add) left it.
``restore-cold``
    the same after the cache folder was deleted (on a bucket store this is the slow case; on a
    local store it shows whether downloads need the cache at all).

After the snapshot the child also reports the disk used by store and cache (each inode counted
once) and ``shared``: how many store objects are the same inode as a cache file (must be 0
for the cache to be disposable).

Datasets (``datasets.py``): A = 10,000 x 4 KiB, C = 100,000 x 1 KiB, B = 20 x 50 MiB.
The table prints wall-time medians with min-max and, in brackets, the median CPU time (of the
process and its helper processes; on a shared machine it varies far less than the wall time);
one ``JSON {...}`` line per measurement follows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import datasets
import harness

SCRIPT = os.path.abspath(__file__)
REPO = os.path.dirname(os.path.dirname(SCRIPT))
KINDS = ("snapshot", "readd", "restore", "restore-cold")


# =============================================================================== children
def _import_satchel(cfg: dict[str, Any]) -> Any:
    sys.path.insert(0, cfg["src"])
    import satchel

    if not os.path.abspath(satchel.__file__).startswith(os.path.abspath(cfg["src"])):
        raise SystemExit(f"imported satchel from {satchel.__file__}, not from {cfg['src']}")
    if cfg.get("copy"):
        from satchel.store import local

        linker = getattr(local, "link_or_copy", None)
        if linker is not None:  # sources that still hard-link: make them copy

            def copy_only(src: str, dest: str, *, allow_link: bool = True) -> str:
                return str(linker(src, dest, allow_link=False))

            local.link_or_copy = copy_only  # type: ignore[attr-defined]
    return satchel


def _usage(store: str, cache: str) -> dict[str, Any]:
    """Disk used by store and cache, each inode once; store objects sharing a cache inode."""
    inodes: dict[tuple[int, int], int] = {}
    cache_inodes: set[tuple[int, int]] = set()
    store_objects: list[tuple[int, int]] = []
    for root, is_cache in ((store, False), (cache, True)):
        for dirpath, _dirs, names in os.walk(root):
            for n in names:
                try:
                    st = os.lstat(os.path.join(dirpath, n))
                except OSError:
                    continue
                key = (st.st_dev, st.st_ino)
                inodes[key] = st.st_blocks * 512
                if is_cache:
                    cache_inodes.add(key)
                elif f"{os.sep}objects{os.sep}" in dirpath:
                    store_objects.append(key)
    return {
        "disk_mb": round(sum(inodes.values()) / 2**20, 1),
        "store_objects": len(store_objects),
        "shared": sum(1 for k in store_objects if k in cache_inodes),
    }


def child_snapshot(cfg: dict[str, Any]) -> dict[str, Any]:
    """``add_dir`` + ``save`` of the dataset (first snapshot or an unchanged re-add)."""
    satchel = _import_satchel(cfg)
    res: dict[str, Any] = {}
    with harness.Probe() as probe:
        t0 = time.perf_counter()
        art = satchel.Artifact("ds", "dataset")
        art.add_dir(cfg["data"])
        t1 = time.perf_counter()
        art.save()
        t2 = time.perf_counter()
    res.update(probe.result)
    res.update(
        add_s=t1 - t0, save_s=t2 - t1, version=art.version, files=art.file_count, digest=art.digest
    )
    res.update(_usage(os.environ["SATCHEL_STORE"], os.environ["SATCHEL_CACHE_DIR"]))
    return res


def child_restore(cfg: dict[str, Any]) -> dict[str, Any]:
    """Download the latest version into an empty folder."""
    satchel = _import_satchel(cfg)
    if os.path.exists(cfg["out"]):
        shutil.rmtree(cfg["out"])
    with harness.Probe() as probe:
        root = satchel.Api().artifact("ds:latest").download(cfg["out"])
    res: dict[str, Any] = dict(probe.result)
    files = sum(len(names) for _d, _s, names in os.walk(root))
    res.update(files=files)
    shutil.rmtree(root)
    return res


CHILDREN = {"snapshot": child_snapshot, "restore": child_restore}


def child(cfg: dict[str, Any]) -> dict[str, Any]:
    """Dispatch one child measurement."""
    return CHILDREN[cfg["kind"]](cfg)


# ================================================================================= parent
def _parse_impl(text: str) -> tuple[str, str, bool]:
    label, sep, rest = text.partition("=")
    if not sep or not label:
        raise argparse.ArgumentTypeError(f"--impl wants LABEL=SRC[:copy], got {text!r}")
    copy = rest.endswith(":copy")
    src = os.path.abspath(rest[: -len(":copy")] if copy else rest)
    if not os.path.isdir(os.path.join(src, "satchel")):
        raise argparse.ArgumentTypeError(f"{src} holds no satchel package")
    return label, src, copy


def run_all(args: argparse.Namespace) -> tuple[dict[tuple[str, str, str], list[dict]], list[str]]:
    results: dict[tuple[str, str, str], list[dict]] = {}
    errors: list[str] = []
    work = os.path.join(args.root, f"snapshot-run-{os.getpid()}")
    os.makedirs(work)

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    def run(
        kind: str, key: tuple[str, str, str], cfg: dict[str, Any], state: str, src: str
    ) -> None:
        env = harness.child_env(state, {"PYTHONPATH": src})
        res = harness.run_child(
            sys.executable, SCRIPT, {**cfg, "kind": kind, "src": src}, env, sync=not args.quick
        )
        if "error" in res:
            errors.append(f"{key}: {res['error']}")
            log(f"# ERROR {key}: {res['error']}")
        else:
            results.setdefault(key, []).append(res)
            log(f"# {'/'.join(key)}: {res['wall_s']:.3f} s")

    try:
        for name in args.datasets:
            folder, spec = datasets.ensure(name, root=args.root, quick=args.quick, log=log)
            datasets.warm(folder, spec)
            for r in range(args.repeat):
                for label, src, copy in args.impl:
                    state = os.path.join(work, f"{name}-{label}-{r}")
                    os.makedirs(state)
                    base = {"data": folder, "copy": copy}
                    run("snapshot", (name, label, "snapshot"), base, state, src)
                    run("snapshot", (name, label, "readd"), base, state, src)
                    out = os.path.join(state, "restored")
                    run("restore", (name, label, "restore"), {**base, "out": out}, state, src)
                    shutil.rmtree(os.path.join(state, "satchel-cache"))
                    run("restore", (name, label, "restore-cold"), {**base, "out": out}, state, src)
                    shutil.rmtree(state)
                    if not args.quick:
                        os.sync()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results, errors


def report(args: argparse.Namespace, results: dict[tuple[str, str, str], list[dict]]) -> None:
    agg = {k: harness.aggregate(v) for k, v in results.items()}
    for (ds, label, kind), rec in agg.items():
        harness.emit({"bench": kind, "dataset": ds, "impl": label, **rec})
    rows = []
    for ds in args.datasets:
        for label, _src, _copy in args.impl:
            snap = agg.get((ds, label, "snapshot"))
            cells = [ds, label]
            for kind in KINDS:
                rec = agg.get((ds, label, kind))
                cells.append(f"{harness.fmt_s(rec)} [{rec['cpu_s']:.2f}]" if rec else "-")
            if snap:
                cells += [
                    f"{snap['add_s']:.3f} + {snap['save_s']:.3f}",
                    f"{snap['disk_mb']:.0f}",
                    str(snap["shared"]),
                ]
            else:
                cells += ["-", "-", "-"]
            rows.append(cells)
    print(
        "### snapshot (add_dir + save) and restore (download into an empty folder), local "
        "store, wall s: median (min-max) [CPU s of the process and its helpers, median]"
    )
    print(
        harness.table(
            [
                "data",
                "impl",
                "snapshot s",
                "re-add s",
                "restore s",
                "restore, no cache s",
                "add + save s",
                "store+cache MB",
                "shared inodes",
            ],
            rows,
        )
    )


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the measurements, print the table and JSON lines."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="A,C,B", help="comma list of A, B, C")
    ap.add_argument("--repeat", type=int, default=None, help="fresh runs per measurement")
    ap.add_argument(
        "--impl",
        action="append",
        type=_parse_impl,
        default=[],
        help="LABEL=SRC[:copy]: satchel sources to measure (repeatable)",
    )
    ap.add_argument("--quick", action="store_true", help="small sizes, one repeat (smoke test)")
    ap.add_argument("--root", default=datasets.DEFAULT_ROOT, help="datasets and scratch folder")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    ap.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._child is not None:
        return harness.child_main(child)
    args.datasets = [d for d in args.datasets.split(",") if d]
    for d in args.datasets:
        if d not in datasets.FULL:
            ap.error(f"unknown dataset {d!r}; choose from A, B, C")
    if not args.impl:
        args.impl = [_parse_impl(f"this={os.path.join(REPO, 'src')}")]
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    harness.emit(
        {
            "bench": "machine",
            **harness.machine(),
            "quick": args.quick,
            "repeat": args.repeat,
            "argv": sys.argv[1:],
        }
    )
    os.makedirs(args.root, exist_ok=True)
    t0 = time.perf_counter()
    results, errors = run_all(args)
    if not args.quiet:
        print(f"# took {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    report(args, results)
    for e in errors:
        print(f"ERROR {e}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
