#!/usr/bin/env python3
"""Core benchmarks of issue 2: satchel next to W&B 0.31 on the same data, in the same run.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_core.py                 # everything, 3 repeats
    .venv/bin/python benchmarks/bench_core.py --quick --impls satchel   # smoke test, seconds
    .venv/bin/python benchmarks/bench_core.py --bench add_dir --datasets A --repeat 5

Measurements (``--bench``, comma-separated; default all):

``add_dir``
    ``Artifact("ds", "dataset").add_dir(DATA, policy=P)`` for datasets A, B, C (see
    ``datasets.py``), policies ``mutable`` (the default of both libraries) and ``immutable``,
    for satchel and W&B, each run in a fresh process with empty caches.
``md5``
    the floor: a plain single-threaded ``open`` + ``read()`` + ``hashlib.md5`` loop over the same
    files (file list given, no directory walk), and, separately, the walk with one stat per file.
    For datasets of large files (B), also the disk's floor of a mutable add: the same files
    copied by satchel's own copy path and pool with no hashing, once with ``O_DIRECT`` writes
    (satchel's way) and once buffered (``shutil.copyfile``, the page-cache copy W&B makes).
``readd``
    re-adding an unchanged folder (dataset A) into a new draft in a fresh process, after one
    earlier add in the same cache/state folder: for satchel ``add_dir`` + ``save()`` (the stat
    cache knows every file and the cache holds every object, as after any commit); for W&B
    ``add_dir`` (it cannot commit offline without a run, and its re-add rehashes and, by
    default, re-copies every file whether or not something was logged before).
``manifest``
    a 1,000,000-entry manifest: write it to a local store (canonical JSON, SHA-256, gzip), read
    it back through a fresh ``Store`` (gunzip, SHA-256 check, parse, validate paths), and
    compute the artifact digest; then, as every read of a version does, read it once more
    checked against the record's digest (``checked read``: read + digest). Targets: write + read + digest under 3 s, peak memory of the
    whole process under 600 MB. Building the ``Manifest`` from a list of entries (validate and
    sort the paths) is timed and shown separately (``build``), as W&B's figures do.
``new_draft``
    ``Api().artifact("big:latest").new_draft()`` of a committed 100,000-file artifact (dataset C),
    replace one file, ``save()``. Target: under 2 s.

Method: datasets are generated once into ``.bench/data`` (gitignored) and read once so the page
cache is warm. Every measurement runs in a fresh child process with its own cache and state
folders (see ``harness.child_env``); after each child the parent calls ``os.sync()`` and removes
its folders (``--quick`` skips the syncs). Repeats are interleaved across implementations and
policies. The table shows medians with min-max; one ``JSON {...}`` line per measurement follows, then the ratios and the
targets. W&B runs only when ``import wandb`` works in ``--wandb-python`` (default: this
interpreter); it runs offline, without a run or a login.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import datasets
import harness

BENCHES = ("add_dir", "md5", "readd", "manifest", "new_draft")
POLICIES = ("mutable", "immutable")
COPY_MODES = ("direct", "buffered")
SCRIPT = os.path.abspath(__file__)


# =============================================================================== children
def _state_usage(root: str) -> tuple[int, float]:
    files = size = 0
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            try:
                size += os.lstat(os.path.join(dirpath, n)).st_size
                files += 1
            except OSError:
                continue
    return files, round(size / 2**20, 2)


def _artifact_factory(impl: str):  # type: ignore[no-untyped-def]
    if impl == "satchel":
        import satchel

        return satchel.Artifact
    import wandb

    return wandb.Artifact


def child_add_dir(cfg: dict[str, Any]) -> dict[str, Any]:
    """Time ``Artifact(...).add_dir(DATA, policy=...)`` for one implementation."""
    res: dict[str, Any] = {}
    t0 = time.perf_counter()
    factory = _artifact_factory(cfg["impl"])
    res["import_s"] = time.perf_counter() - t0
    with harness.Probe() as probe:
        art = factory("ds", "dataset")
        art.add_dir(cfg["data"], policy=cfg["policy"])
    res.update(probe.result)
    t0 = time.perf_counter()
    res["digest"] = str(art.digest)
    res["digest_s"] = time.perf_counter() - t0
    res["entries"] = len(art.manifest.entries)
    if cfg.get("save") and cfg["impl"] == "satchel":  # warm-up of the re-add benchmark
        t0 = time.perf_counter()
        art.save()
        res["save_s"] = time.perf_counter() - t0
    res["state_files"], res["state_mb"] = _state_usage(cfg["state"])
    return res


def child_md5(cfg: dict[str, Any]) -> dict[str, Any]:
    """The floor: a plain single-threaded md5 loop over the dataset's files."""
    spec = datasets.Spec(**{**cfg["spec"], "fanout": tuple(cfg["spec"]["fanout"])})
    paths = datasets.file_list(cfg["data"], spec)
    md5 = hashlib.md5
    with harness.Probe(sample=False) as probe:
        out = []
        for p in paths:
            with open(p, "rb", buffering=0) as f:
                out.append(md5(f.read()).digest())
    res = dict(probe.result)
    with harness.Probe("walk_", sample=False) as walk:
        n = 0
        for dirpath, _dirs, names in os.walk(cfg["data"]):
            for name in names:
                os.stat(os.path.join(dirpath, name))
                n += 1
    res["walk_s"] = walk.result["walk_wall_s"]
    res["files"] = n
    # The hardware ceiling: md5 of bytes already in memory, one core (x2 for both cores).
    blob = os.urandom(64 << 20)
    t0 = time.process_time()
    for _ in range(2):
        md5(blob).digest()
    res["md5_core_GBps"] = 2 * len(blob) / 1e9 / (time.process_time() - t0)
    return res


class _NoHash:
    """Stands in for a hasher: the copy floor measures everything but the md5."""

    def update(self, data: object) -> None:
        pass


def child_copy(cfg: dict[str, Any]) -> dict[str, Any]:
    """The disk's floor for a mutable add of large files: copy them with satchel's own pool and
    copy path, minus the hashing.

    ``mode="direct"`` is :func:`satchel.fsutil.copy_direct` (what ``Cache.add_file`` does for
    files of 8 MiB and more) with a hasher that does nothing; ``mode="buffered"`` is
    ``shutil.copyfile`` (the kernel's copy into the page cache, what W&B does). Both run on
    :func:`satchel.parallel.run_parallel`, as the mutable add does, into the child's state
    folder (the same filesystem as the cache).
    """
    from satchel.fsutil import copy_direct
    from satchel.parallel import run_parallel

    spec = datasets.Spec(**{**cfg["spec"], "fanout": tuple(cfg["spec"]["fanout"])})
    paths = datasets.file_list(cfg["data"], spec)
    out = os.path.join(cfg["state"], "copy-floor")
    os.makedirs(out)

    fell_back = []

    def direct(i: int) -> int:
        with open(paths[i], "rb") as src:
            n = copy_direct(src, os.path.join(out, str(i)), _NoHash())  # type: ignore[arg-type]
        if n is None:  # no O_DIRECT here (e.g. tmpfs): satchel copies buffered, so does this
            fell_back.append(i)
            return buffered(i)
        return n

    def buffered(i: int) -> int:
        shutil.copyfile(paths[i], os.path.join(out, str(i)))
        return spec.size

    with harness.Probe(sample=False) as probe:
        total = sum(
            run_parallel(direct if cfg["mode"] == "direct" else buffered, range(len(paths)))
        )
    return {**probe.result, "bytes": total, "o_direct": not fell_back}


def child_manifest(cfg: dict[str, Any]) -> dict[str, Any]:
    """Build, write, read back and digest an N-entry manifest through a local store."""
    import gc

    from satchel.manifest import Manifest, ManifestEntry
    from satchel.store import open_store

    n = cfg["entries"]
    md5 = hashlib.md5
    import base64

    entries = [
        ManifestEntry(
            f"d{i // 10000:03d}/s{(i // 100) % 100:03d}/f{i:07d}.bin",
            base64.b64encode(md5(i.to_bytes(8, "little")).digest()).decode(),
            1024 + i % 4096,
        )
        for i in range(n)
    ]
    gc.collect()
    res: dict[str, Any] = {"entries": n, "setup_rss_mb": harness.process_peak_rss_mb()}
    url = os.path.join(cfg["state"], "store")
    with harness.Probe() as total:
        t0 = time.perf_counter()
        manifest = Manifest(entries)
        t1 = time.perf_counter()
        mid = open_store(url).put_manifest(manifest)
        t2 = time.perf_counter()
        written_digest = manifest.digest
        del manifest, entries
        t3 = time.perf_counter()
        loaded = open_store(url).get_manifest(mid)
        t4 = time.perf_counter()
        digest = loaded.digest
        t5 = time.perf_counter()
    del loaded
    gc.collect()
    # what every read of a version pays: the manifest read back and checked against the
    # record's digest (Store.checked_manifest, issue 10 item 5), i.e. read + digest
    t6 = time.perf_counter()
    loaded = open_store(url).checked_manifest(
        mid, digest=written_digest, record_key="bench", what="bench"
    )
    t7 = time.perf_counter()
    res.update(total.result)
    res.update(
        checked_read_s=t7 - t6,
        build_s=t1 - t0,
        write_s=t2 - t1,
        read_s=t4 - t3,
        digest_s=t5 - t4,
        total_s=(t2 - t1) + (t4 - t3) + (t5 - t4),  # the target: write + read back + digest
        process_peak_rss_mb=harness.process_peak_rss_mb(),
        digest=digest,
        digest_matches=digest == written_digest,
        loaded_entries=len(loaded),
    )
    res["stored_mb"] = round(_state_usage(url)[1], 2)
    return res


def child_commit_setup(cfg: dict[str, Any]) -> dict[str, Any]:
    """Commit dataset C as ``big:v0`` (setup of the ``new_draft`` benchmark)."""
    import satchel

    t0 = time.perf_counter()
    art = satchel.Artifact("big", "dataset")
    art.add_dir(cfg["data"], policy="immutable")
    art.save(store=cfg["store"])
    return {"setup_s": time.perf_counter() - t0, "version": art.version, "files": art.file_count}


def child_new_draft(cfg: dict[str, Any]) -> dict[str, Any]:
    """``new_draft()`` of the latest ``big``, replace one file, ``save()``."""
    t0 = time.perf_counter()
    import satchel

    res: dict[str, Any] = {"import_s": time.perf_counter() - t0}
    changed = os.path.join(cfg["scratch"], "changed.bin")
    os.makedirs(cfg["scratch"], exist_ok=True)
    with open(changed, "wb") as f:
        f.write(random.Random(cfg["seed"]).randbytes(1024))
    with harness.Probe() as probe:
        t0 = time.perf_counter()
        art = satchel.Api(store=cfg["store"]).artifact("big:latest")
        t1 = time.perf_counter()
        draft = art.new_draft()
        t2 = time.perf_counter()
        draft.add_file(changed, name=cfg["logical"], overwrite=True)
        t3 = time.perf_counter()
        draft.save()
        t4 = time.perf_counter()
    res.update(probe.result)
    res.update(
        fetch_s=t1 - t0,
        new_draft_s=t2 - t1,
        add_file_s=t3 - t2,
        save_s=t4 - t3,
        version=draft.version,
        files=draft.file_count,
        based_on=draft.based_on,
    )
    return res


CHILDREN = {
    "add_dir": child_add_dir,
    "md5": child_md5,
    "manifest": child_manifest,
    "commit_setup": child_commit_setup,
    "new_draft": child_new_draft,
    "copy": child_copy,
}


def child(cfg: dict[str, Any]) -> dict[str, Any]:
    """Dispatch one child measurement."""
    return CHILDREN[cfg["kind"]](cfg)


# ================================================================================= parent
class Runner:
    """Runs children in fresh state folders and collects their results by key."""

    def __init__(self, args: argparse.Namespace, workdir: str) -> None:
        self.args = args
        self.workdir = workdir
        self.results: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
        self.errors: dict[tuple[str, str, str, str], str] = {}
        self._n = 0

    def python(self, impl: str) -> str:
        return self.args.wandb_python if impl == "wandb" else sys.executable

    def fresh_state(self) -> str:
        self._n += 1
        path = os.path.join(self.workdir, f"state-{self._n}")
        os.makedirs(path)
        return path

    def run(
        self,
        key: tuple[str, str, str, str],
        impl: str,
        cfg: dict[str, Any],
        state: str | None = None,
        keep: bool = False,
    ) -> dict[str, Any]:
        own = state is None
        state = state or self.fresh_state()
        cfg = {**cfg, "state": state, "impl": impl}
        res = harness.run_child(
            self.python(impl),
            SCRIPT,
            cfg,
            harness.child_env(state),
            timeout=self.args.timeout,
            sync=self.sync,
        )
        if own and not keep:
            shutil.rmtree(state, ignore_errors=True)
            self.settle()
        if "error" in res:
            self.errors[key] = res["error"]
            self.log(f"# ERROR {key}: {res['error']}")
        else:
            self.results.setdefault(key, []).append(res)
            wall = res.get("wall_s", res.get("total_s"))
            self.log(f"# {'/'.join(key)}: {wall:.3f} s" if isinstance(wall, float) else f"# {key}")
        return res

    @property
    def sync(self) -> bool:
        return not self.args.quick

    def settle(self) -> None:
        """Flush what the last child wrote or deleted (not in --quick mode)."""
        if self.sync:
            os.sync()

    def log(self, msg: str) -> None:
        if not self.args.quiet:
            print(msg, file=sys.stderr, flush=True)


def _wandb_available(python: str) -> bool:
    import subprocess

    try:
        cp = subprocess.run(
            [python, "-c", "import wandb"], check=False, capture_output=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return cp.returncode == 0


def run_all(args: argparse.Namespace, runner: Runner) -> None:
    from satchel.fsutil import DIRECT_MIN as direct_min  # files copied with O_DIRECT

    benches = args.bench
    impls = args.impls
    repeat = args.repeat
    data: dict[str, tuple[str, datasets.Spec]] = {}
    need = set(args.datasets) if ("add_dir" in benches or "md5" in benches) else set()
    if "readd" in benches:
        need.add("A")
    nd_data = args.nd_data
    if "new_draft" in benches:
        need.add(nd_data)
    for name in sorted(need):
        folder, spec = datasets.ensure(name, root=args.root, quick=args.quick, log=runner.log)
        datasets.warm(folder, spec)
        data[name] = (folder, spec)

    for name in args.datasets:
        if "add_dir" not in benches and "md5" not in benches:
            break
        folder, spec = data[name]
        for _r in range(repeat):
            if "md5" in benches:
                runner.run(
                    ("md5", name, "-", "md5-loop"),
                    "satchel",
                    {"kind": "md5", "data": folder, "spec": spec.__dict__},
                )
                if spec.size >= direct_min:  # the disk's share of a mutable add
                    for mode in COPY_MODES:
                        runner.run(
                            ("copy", name, mode, "no-hash"),
                            "satchel",
                            {"kind": "copy", "data": folder, "spec": spec.__dict__, "mode": mode},
                        )
            if "add_dir" in benches:
                for policy in POLICIES:
                    for impl in impls:
                        runner.run(
                            ("add_dir", name, policy, impl),
                            impl,
                            {"kind": "add_dir", "data": folder, "policy": policy},
                        )

    if "readd" in benches:
        folder, _spec = data["A"]
        states = {}
        for policy in POLICIES:
            for impl in impls:
                states[(impl, policy)] = runner.fresh_state()
                runner.run(
                    ("readd-first", "A", policy, impl),
                    impl,
                    {"kind": "add_dir", "data": folder, "policy": policy, "save": True},
                    state=states[(impl, policy)],
                )
        for _r in range(repeat):
            for policy in POLICIES:
                for impl in impls:
                    runner.run(
                        ("readd", "A", policy, impl),
                        impl,
                        {"kind": "add_dir", "data": folder, "policy": policy},
                        state=states[(impl, policy)],
                    )
        for st in states.values():
            shutil.rmtree(st, ignore_errors=True)
        runner.settle()

    if "manifest" in benches:
        for _r in range(repeat):
            runner.run(
                ("manifest", f"{args.manifest_entries}", "-", "satchel"),
                "satchel",
                {"kind": "manifest", "entries": args.manifest_entries},
            )

    if "new_draft" in benches:
        folder, spec = data[nd_data]
        state = runner.fresh_state()
        store = os.path.join(state, "store")
        setup = runner.run(
            ("new_draft-setup", nd_data, "-", "satchel"),
            "satchel",
            {"kind": "commit_setup", "data": folder, "store": store},
            state=state,
        )
        if "error" not in setup:
            logical = spec.layout()(spec.files // 2)
            for r in range(repeat):
                runner.run(
                    ("new_draft", nd_data, "-", "satchel"),
                    "satchel",
                    {
                        "kind": "new_draft",
                        "store": store,
                        "logical": logical,
                        "seed": 1000 + r,
                        "scratch": os.path.join(state, f"scratch-{r}"),
                    },
                    state=state,
                )
        shutil.rmtree(state, ignore_errors=True)
        runner.settle()


# ================================================================================ reports
def report(args: argparse.Namespace, runner: Runner, sizes: dict[str, datasets.Spec]) -> list[dict]:
    agg = {k: harness.aggregate(v) for k, v in runner.results.items()}
    records = []
    for (bench, ds, policy, impl), rec in agg.items():
        line = {"bench": bench, "dataset": ds, "policy": policy, "impl": impl, **rec}
        line.pop("runs", None)
        records.append(line)
        harness.emit(line)
    for key, err in runner.errors.items():
        harness.emit(
            {"bench": key[0], "dataset": key[1], "policy": key[2], "impl": key[3], "error": err}
        )

    def get(*key: str) -> dict[str, Any] | None:
        return agg.get(key)  # type: ignore[arg-type]

    out = []
    # ---- add_dir table
    rows = []
    for ds in args.datasets:
        for policy in POLICIES:
            s, w = get("add_dir", ds, policy, "satchel"), get("add_dir", ds, policy, "wandb")
            if not s and not w:
                continue
            spec = sizes.get(ds)
            mbps = (spec.total_bytes / 1e6 / s["wall_s"]) if (s and spec) else None
            ratio = (w["wall_s"] / s["wall_s"]) if (s and w) else None
            same = (s["digest"] == w["digest"]) if (s and w) else None
            rows.append(
                [
                    ds,
                    policy,
                    harness.fmt_s(s) if s else "-",
                    f"{s['cpu_s']:.2f}" if s else "-",
                    f"{s['peak_rss_mb']:.0f}" if s else "-",
                    harness.fmt_s(w) if w else "-",
                    f"{w['cpu_s']:.2f}" if w else "-",
                    f"{w['peak_rss_mb']:.0f}/{w.get('peak_anon_mb', 0):.0f}" if w else "-",
                    f"{ratio:.1f}x" if ratio else "-",
                    f"{mbps:.0f}" if mbps else "-",
                    {True: "yes", False: "NO", None: "-"}[same],
                ]
            )
    if rows:
        out.append(
            "### add_dir (wall s: median (min-max); CPU s incl. helper processes; peak RSS MB)"
        )
        out.append(
            harness.table(
                [
                    "data",
                    "policy",
                    "satchel s",
                    "cpu",
                    "rss",
                    "W&B s",
                    "cpu",
                    "rss/anon",
                    "W&B/satchel",
                    "satchel MB/s",
                    "same digest",
                ],
                rows,
            )
        )
    # ---- md5 floor
    rows = []
    for ds in args.datasets:
        m = get("md5", ds, "-", "md5-loop")
        if not m:
            continue
        s = get("add_dir", ds, "immutable", "satchel")
        spec = sizes.get(ds)
        rows.append(
            [
                ds,
                harness.fmt_s(m),
                f"{spec.total_bytes / 1e6 / m['wall_s']:.0f}" if spec else "-",
                f"{m['md5_core_GBps']:.2f}" if "md5_core_GBps" in m else "-",
                harness.fmt_s(m, "walk_s"),
                f"{s['wall_s'] / m['wall_s']:.2f}x" if s else "-",
            ]
        )
    if rows:
        out.append("### floor: plain single-threaded md5 loop (no walk), and the walk alone")
        out.append(
            harness.table(
                [
                    "data",
                    "md5 loop s",
                    "MB/s",
                    "md5 in memory GB/s/core",
                    "walk+stat s",
                    "satchel immutable / loop",
                ],
                rows,
            )
        )
    # ---- copy floor
    rows = []
    for ds in args.datasets:
        spec = sizes.get(ds)
        cells = []
        for mode in COPY_MODES:
            c = get("copy", ds, mode, "no-hash")
            cells += (
                [
                    harness.fmt_s(c),
                    f"{c['cpu_s']:.2f}",
                    f"{spec.total_bytes / 1e9 / c['wall_s']:.2f}" if spec else "-",
                ]
                if c
                else ["-", "-", "-"]
            )
        if any(x != "-" for x in cells):
            s = get("add_dir", ds, "mutable", "satchel")
            rows.append([ds, *cells, harness.fmt_s(s) if s else "-"])
    if rows:
        out.append(
            "### floor: copy the files without hashing (satchel's copy path and pool; "
            "the disk's share of a mutable add)"
        )
        out.append(
            harness.table(
                [
                    "data",
                    "O_DIRECT s",
                    "cpu",
                    "GB/s",
                    "buffered s",
                    "cpu",
                    "GB/s",
                    "satchel mutable add_dir s",
                ],
                rows,
            )
        )
    # ---- readd
    rows = []
    for policy in POLICIES:
        s, w = get("readd", "A", policy, "satchel"), get("readd", "A", policy, "wandb")
        if not s and not w:
            continue
        rows.append(
            [
                "A",
                policy,
                harness.fmt_s(s) if s else "-",
                f"{s['peak_rss_mb']:.0f}" if s else "-",
                harness.fmt_s(w) if w else "-",
                f"{w['peak_rss_mb']:.0f}" if w else "-",
                f"{w['wall_s'] / s['wall_s']:.1f}x" if (s and w) else "-",
            ]
        )
    if rows:
        out.append("### re-add an unchanged folder into a new draft (second add, caches warm)")
        out.append(
            harness.table(
                ["data", "policy", "satchel s", "rss", "W&B s", "rss", "W&B/satchel"], rows
            )
        )
    # ---- manifest
    m = get("manifest", str(args.manifest_entries), "-", "satchel")
    if m:
        out.append(f"### manifest of {args.manifest_entries:,} entries (satchel)")
        out.append(
            harness.table(
                [
                    "build s",
                    "write s",
                    "read s",
                    "digest s",
                    "write+read+digest s",
                    "checked read s (read + record check)",
                    "peak RSS MB (process)",
                    "stored MB",
                ],
                [
                    [
                        f"{m['build_s']:.3f}",
                        f"{m['write_s']:.3f}",
                        f"{m['read_s']:.3f}",
                        f"{m['digest_s']:.3f}",
                        harness.fmt_s(m, "total_s"),
                        harness.fmt_s(m, "checked_read_s"),
                        f"{m['process_peak_rss_mb']:.0f}",
                        f"{m['stored_mb']:.1f}",
                    ]
                ],
            )
        )
    # ---- new_draft
    nd = get("new_draft", args.nd_data, "-", "satchel")
    if nd:
        setup = get("new_draft-setup", args.nd_data, "-", "satchel") or {}
        out.append(
            f"### new_draft of a committed {nd.get('files', '?'):,}-file artifact, "
            "replace one file, save"
        )
        out.append(
            harness.table(
                [
                    "fetch s",
                    "new_draft s",
                    "add_file s",
                    "save s",
                    "total s",
                    "peak RSS MB",
                    "setup commit s",
                ],
                [
                    [
                        f"{nd['fetch_s']:.3f}",
                        f"{nd['new_draft_s']:.3f}",
                        f"{nd['add_file_s']:.3f}",
                        f"{nd['save_s']:.3f}",
                        harness.fmt_s(nd),
                        f"{nd['peak_rss_mb']:.0f}",
                        f"{setup.get('setup_s', 0):.1f}",
                    ]
                ],
            )
        )
    targets = check_targets(agg, sizes, args)
    if targets:
        out.append("### targets" + (" (--quick sizes: not meaningful)" if args.quick else ""))
        out.append(harness.table(["target", "measured", "ok"], targets))
        for t in targets:
            harness.emit({"bench": "target", "target": t[0], "measured": t[1], "ok": t[2]})
    print("\n\n".join(out))
    return records


def check_targets(agg: dict, sizes: dict[str, datasets.Spec], args: argparse.Namespace) -> list:
    def wall(*key: str) -> float | None:
        rec = agg.get(key)
        return rec.get("wall_s") if rec else None

    rows: list[list[str]] = []

    def ratio(name: str, key_s: tuple, key_w: tuple, need: float) -> None:
        s, w = wall(*key_s), wall(*key_w)
        if s and w:
            rows.append([name, f"{w / s:.1f}x", "yes" if w / s >= need else "NO"])

    ratio(
        "A immutable >= 5x faster than W&B immutable",
        ("add_dir", "A", "immutable", "satchel"),
        ("add_dir", "A", "immutable", "wandb"),
        5,
    )
    s, m = wall("add_dir", "A", "immutable", "satchel"), wall("md5", "A", "-", "md5-loop")
    if s and m:
        rows.append(
            [
                "A immutable within 2x of the plain md5 loop",
                f"{s / m:.2f}x",
                "yes" if s / m <= 2 else "NO",
            ]
        )
    ratio(
        "A mutable >= 5x faster than W&B default",
        ("add_dir", "A", "mutable", "satchel"),
        ("add_dir", "A", "mutable", "wandb"),
        5,
    )
    for pol in POLICIES:
        ratio(
            f"C {pol} >= 10x faster than W&B",
            ("add_dir", "C", pol, "satchel"),
            ("add_dir", "C", pol, "wandb"),
            10,
        )
    floor_b = agg.get(("md5", "B", "-", "md5-loop")) or {}
    ceiling = 2 * floor_b["md5_core_GBps"] if "md5_core_GBps" in floor_b else None
    for pol in POLICIES:
        s = wall("add_dir", "B", pol, "satchel")
        if s and "B" in sizes:
            gbps = sizes["B"].total_bytes / 1e9 / s
            note = f" (2-core md5 ceiling {ceiling:.2f})" if ceiling else ""
            copy = wall("copy", "B", "direct", "no-hash")
            if pol == "mutable" and copy:
                note += f" (copy without md5 {sizes['B'].total_bytes / 1e9 / copy:.2f})"
            rows.append(
                [
                    f"B {pol} >= 1.2 GB/s hashed",
                    f"{gbps:.2f} GB/s{note}",
                    "yes" if gbps >= 1.2 else "NO",
                ]
            )
    for pol in POLICIES:
        ratio(
            f"re-add A ({pol}) >= 20x faster than W&B",
            ("readd", "A", pol, "satchel"),
            ("readd", "A", pol, "wandb"),
            20,
        )
    m = agg.get(("manifest", str(args.manifest_entries), "-", "satchel"))
    if m:
        rows.append(
            [
                f"{args.manifest_entries:,}-entry manifest write+read+digest < 3 s",
                f"{m['total_s']:.2f} s",
                "yes" if m["total_s"] < 3 else "NO",
            ]
        )
        rows.append(
            [
                f"{args.manifest_entries:,}-entry manifest peak memory < 600 MB",
                f"{m['process_peak_rss_mb']:.0f} MB",
                "yes" if m["process_peak_rss_mb"] < 600 else "NO",
            ]
        )
    nd = agg.get(("new_draft", args.nd_data, "-", "satchel"))
    if nd:
        rows.append(
            [
                f"new_draft of {nd.get('files', 0):,} files, replace one, commit < 2 s",
                f"{nd['wall_s']:.2f} s",
                "yes" if nd["wall_s"] < 2 else "NO",
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the benchmarks, print tables, JSON lines and targets."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, one repeat (smoke test)")
    ap.add_argument("--repeat", type=int, default=None, help="fresh processes per measurement")
    ap.add_argument("--bench", default=",".join(BENCHES), help="comma list of " + ",".join(BENCHES))
    ap.add_argument("--datasets", default="A,B,C", help="datasets for add_dir/md5 (comma list)")
    ap.add_argument("--impls", default="satchel,wandb", help="satchel and/or wandb")
    ap.add_argument(
        "--wandb-python",
        default=sys.executable,
        help="interpreter that has wandb==0.31.0 installed (default: this one)",
    )
    ap.add_argument("--manifest-entries", type=int, default=None)
    ap.add_argument("--root", default=datasets.DEFAULT_ROOT, help="datasets and scratch folder")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per child")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    ap.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._child is not None:
        return harness.child_main(child)

    args.bench = [b for b in args.bench.split(",") if b]
    args.datasets = [d for d in args.datasets.split(",") if d]
    args.impls = [i for i in args.impls.split(",") if i]
    for b in args.bench:
        if b not in BENCHES:
            ap.error(f"unknown benchmark {b!r}; choose from {', '.join(BENCHES)}")
    for d in args.datasets:
        if d not in datasets.FULL:
            ap.error(f"unknown dataset {d!r}; choose from A, B, C")
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    args.nd_data = "A" if args.quick else "C"  # --quick: keep the setup commit small
    if args.manifest_entries is None:
        args.manifest_entries = 20_000 if args.quick else 1_000_000
    if "wandb" in args.impls and not _wandb_available(args.wandb_python):
        print(
            f"# W&B not importable with {args.wandb_python}; running satchel only "
            '(pip install -e ".[bench]")',
            file=sys.stderr,
        )
        args.impls = [i for i in args.impls if i != "wandb"]

    sizes = {n: datasets.spec(n, quick=args.quick) for n in "ABC"}
    info = {
        "bench": "machine",
        **harness.machine(),
        "quick": args.quick,
        "repeat": args.repeat,
        "impls": args.impls,
        "argv": sys.argv[1:],
    }
    harness.emit(info)
    os.makedirs(args.root, exist_ok=True)
    workdir = os.path.join(args.root, f"run-{os.getpid()}")
    os.makedirs(workdir)
    runner = Runner(args, workdir)
    t0 = time.perf_counter()
    try:
        run_all(args, runner)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    runner.log(f"# benchmarks took {time.perf_counter() - t0:.0f} s")
    report(args, runner, sizes)
    return 1 if runner.errors else 0


if __name__ == "__main__":
    sys.exit(main())
