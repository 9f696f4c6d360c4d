#!/usr/bin/env python3
"""Deterministic synthetic datasets for the benchmarks, generated once and reused.

=======  ==========================  =================================  =========
dataset  files                       layout                             bytes
=======  ==========================  =================================  =========
A        10,000 x 4 KiB              100 leaf folders (10 x 10 nested)  40 MiB
B        20 x 50 MiB                 flat                               1000 MiB
C        100,000 x 1 KiB             1,000 leaf folders (10 x 100)      ~98 MiB
=======  ==========================  =================================  =========

The layouts are the ones of the shared referee script (``bench_artifact.py``), so numbers can
be compared with it. The bytes come from :class:`random.Random` seeded per dataset, so every
machine hashes the same content and gets the same digests.

``--quick`` sizes (A 300 x 4 KiB, B 2 x 2 MiB, C 1,000 x 1 KiB) exist for smoke tests only.

A dataset lives in ``<root>/<name>/`` with a marker ``<root>/<name>.json`` next to it (never
inside it, so ``add_dir`` does not see it). The marker is written last; a folder without a
matching marker is regenerated from scratch.

Run ``python benchmarks/datasets.py [--quick] [--root .bench/data] A B C`` to build them ahead
of time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

DEFAULT_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".bench")
GENERATOR_VERSION = 1


@dataclass(frozen=True)
class Spec:
    """What a dataset holds.

    Attributes:
        name: ``"A"``, ``"B"`` or ``"C"`` (``"A-quick"`` ... for the smoke sizes).
        files: number of files.
        size: bytes per file.
        fanout: ``(top, leaf)``: files go to ``d<top>/s<leaf>/``; ``(0, 0)`` is flat.
        seed: random seed of the content.
    """

    name: str
    files: int
    size: int
    fanout: tuple[int, int]
    seed: int

    @property
    def total_bytes(self) -> int:
        """Bytes of all files together."""
        return self.files * self.size

    def layout(self) -> Callable[[int], str]:
        """Relative path of file ``i``."""
        top, leaf = self.fanout
        if top == 0:
            return lambda i: f"f{i:03d}.bin"
        per_leaf = self.files // (top * leaf)
        per_top = per_leaf * leaf
        return lambda i: f"d{i // per_top:02d}/s{(i // per_leaf) % leaf:03d}/f{i:06d}.bin"


FULL = {
    "A": Spec("A", 10_000, 4 << 10, (10, 10), 1),
    "B": Spec("B", 20, 50 << 20, (0, 0), 2),
    "C": Spec("C", 100_000, 1 << 10, (10, 100), 3),
}
QUICK = {
    "A": Spec("A-quick", 300, 4 << 10, (3, 10), 1),
    "B": Spec("B-quick", 2, 9 << 20, (0, 0), 2),  # over 8 MiB: the big-file copy path
    "C": Spec("C-quick", 1_000, 1 << 10, (10, 10), 3),
}


def spec(name: str, *, quick: bool = False) -> Spec:
    """The :class:`Spec` of dataset ``name`` (full or ``--quick`` size).

    Raises:
        KeyError: unknown dataset.
    """
    return (QUICK if quick else FULL)[name]


def _marker(s: Spec) -> dict:
    return {"generator": GENERATOR_VERSION, **asdict(s)}


def _is_complete(folder: str, marker_path: str, s: Spec) -> bool:
    try:
        with open(marker_path) as f:
            if json.load(f) != json.loads(json.dumps(_marker(s))):
                return False
    except (OSError, ValueError):
        return False
    return os.path.isdir(folder)


def generate(s: Spec, folder: str) -> None:
    """Write dataset ``s`` into ``folder`` (which must not exist)."""
    rng = random.Random(s.seed * 1_000_003)
    layout = s.layout()
    made: set[str] = set()
    for i in range(s.files):
        rel = layout(i)
        parent = os.path.dirname(rel)
        if parent not in made:
            os.makedirs(os.path.join(folder, parent), exist_ok=True)
            made.add(parent)
        with open(os.path.join(folder, rel), "wb") as f:
            f.write(rng.randbytes(s.size))


def ensure(
    name: str, *, root: str = DEFAULT_ROOT, quick: bool = False, log=None
) -> tuple[str, Spec]:
    """Return ``(folder, spec)`` of a dataset, generating it the first time.

    Args:
        name: ``"A"``, ``"B"`` or ``"C"``.
        root: the benchmark folder (``.bench/`` at the repository root by default).
        quick: the small smoke-test size.
        log: optional ``print``-like callable for progress messages.
    """
    s = spec(name, quick=quick)
    base = os.path.join(os.path.abspath(root), "data")
    folder = os.path.join(base, s.name)
    marker_path = folder + ".json"
    if _is_complete(folder, marker_path, s):
        return folder, s
    if log:
        log(f"# generating dataset {s.name}: {s.files} x {s.size} bytes into {folder}")
    t0 = time.perf_counter()
    shutil.rmtree(folder, ignore_errors=True)
    tmp = folder + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    generate(s, tmp)
    os.rename(tmp, folder)
    if not quick:
        os.sync()  # so write-back of the fresh data does not land inside a measurement
    with open(marker_path, "w") as f:
        json.dump(_marker(s), f)
    if log:
        log(f"# generated {s.name} in {time.perf_counter() - t0:.1f} s")
    return folder, s


def file_list(folder: str, s: Spec) -> list[str]:
    """Absolute paths of the dataset's files, in generation order (no directory walk)."""
    layout = s.layout()
    return [os.path.join(folder, layout(i)) for i in range(s.files)]


def warm(folder: str, s: Spec) -> None:
    """Read every file once so the page cache holds the dataset (benchmarks run warm)."""
    for p in file_list(folder, s):
        with open(p, "rb", buffering=0) as f:
            while f.read(1 << 20):
                pass


def main(argv: list[str] | None = None) -> int:
    """Generate datasets ahead of time."""
    ap = argparse.ArgumentParser(description="generate the benchmark datasets")
    ap.add_argument("names", nargs="*", default=["A", "B", "C"], choices=["A", "B", "C"])
    ap.add_argument("--root", default=DEFAULT_ROOT)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    for n in args.names:
        folder, _ = ensure(n, root=args.root, quick=args.quick, log=print)
        print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
