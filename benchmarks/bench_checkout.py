"""What checkout's guard rails cost: the plan (scan, stat-cache look-ups) before a checkout.

Commits one artifact of N small files into a private store, checks it out once, then times,
on that up-to-date folder (the common re-run, where the plan is pure overhead):

* ``download``: writes nothing, deletes nothing, makes no plan (the floor);
* ``checkout``: the guard checks, the plan, then the same download;
* ``dry run``: the guard checks and the plan alone;

and the same three after 1% of the files were replaced by files satchel never saw (so the
plan has something to delete: the checkout runs with ``force=True``). Each figure is the
median of ``--repeat`` runs (min-max in brackets), wall time in seconds.

    python benchmarks/bench_checkout.py [--files 20000] [--size 1024] [--repeat 5] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))


def _time(fn: Callable[[], object], repeat: int, before: Callable[[], None] | None = None) -> str:
    runs = []
    for _ in range(repeat):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return f"{statistics.median(runs):.3f} [{min(runs):.3f}-{max(runs):.3f}]"


def main() -> None:
    """Run the measurements and print a table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--size", type=int, default=1024, help="bytes per file")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="2,000 files, 2 repeats")
    args = ap.parse_args()
    if args.quick:
        args.files, args.repeat = 2_000, 2
    work = tempfile.mkdtemp(prefix="bench-checkout-")
    os.environ["SATCHEL_STORE"] = os.path.join(work, "store")
    os.environ["SATCHEL_CACHE_DIR"] = os.path.join(work, "cache")
    os.environ["SATCHEL_NO_PROGRESS"] = "1"
    import satchel

    try:
        src = os.path.join(work, "src")
        for i in range(args.files):
            path = os.path.join(src, f"d{i % 100:02}", f"f{i:06}.bin")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(i.to_bytes(8, "little") * (args.size // 8))
        art = satchel.Artifact("bench", "dataset")
        art.add_dir(src)
        art.save()
        got = satchel.Api().artifact("bench:v0")
        out = os.path.join(work, "out")
        got.checkout(out)
        unseen = max(1, args.files // 100)

        def strangers() -> None:  # 1% of the files replaced by files satchel never saw
            for i in range(unseen):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(out, f"d{i % 100:02}", f"f{i:06}.bin"))
                with open(os.path.join(out, f"d{i % 100:02}", f"mine{i:06}.txt"), "w") as f:
                    f.write("mine")

        rows = [
            ("up to date", "download", _time(lambda: got.download(out), args.repeat)),
            ("up to date", "checkout", _time(lambda: got.checkout(out), args.repeat)),
            ("up to date", "dry run", _time(lambda: got.checkout(out, dry_run=True), args.repeat)),
        ]
        strangers()
        rows.append(
            ("1% unseen", "dry run", _time(lambda: got.checkout(out, dry_run=True), args.repeat))
        )
        rows.append(
            (
                "1% unseen",
                "checkout --force",
                _time(lambda: got.checkout(out, force=True), args.repeat, before=strangers),
            )
        )
        print(
            f"checkout of {args.files:,} files of {args.size} B, median of {args.repeat} "
            "[min-max], seconds"
        )
        print("| folder | operation | wall s |\n| --- | --- | --- |")
        for folder, op, figure in rows:
            print(f"| {folder} | {op} | {figure} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
