#!/usr/bin/env python3
"""satchel next to DVC, quilt3 and Oxen: snapshot and restore of one folder of many small files.

Installs nothing. A peer whose package the ``--peers-python`` interpreter cannot import is
skipped with one line saying so; satchel runs from this checkout (``src/`` first on the path).
Peers go into their own virtual environment (their dependencies clash with satchel's)::

    python3 -m venv .venv-peers && .venv-peers/bin/pip install -e '.[peers]'
    .venv/bin/python benchmarks/bench_peers.py --peers-python .venv-peers/bin/python \
        --datasets A C --reps 3
    .venv/bin/python benchmarks/bench_peers.py --quick --tools satchel --reps 1   # smoke

What each tool runs (the timed part; each op is a fresh process, timed inside it after the
tool's import, setup untimed):

=========  =================================================  ===============================
tool       snapshot                                           restore (into an empty folder)
=========  =================================================  ===============================
satchel    ``Artifact("ds","dataset").add_dir(data); save()`` ``Api().artifact("ds:latest")
           into an empty local store and cache                .download(root=dest)``
DVC        ``dvc add data`` (after ``dvc init --no-scm``)      ``dvc checkout`` (data/ deleted)
quilt3     ``Package().set_dir(...).build(..., registry=      ``Package.install(..., dest=)``
           file://...)`` (``push`` refuses file://)
Oxen       ``Repo.init(); add("data"); commit("x")``          ``Repo.restore("data")`` (data/
                                                              deleted)
``cp -r``  the tree copied into an empty folder: the floor    the same, from the snapshot's
           of a snapshot that keeps its own copy              source: the floor of a restore
=========  =================================================  ===============================

Within a repetition every tool does the snapshot, then every tool the restore (interleaved,
tool order rotated per repetition, ``os.sync()`` before each measurement), so the ratios come
from one run even on a shared machine. A restore is compared byte by byte with the dataset;
a wrong restore is a failure whatever its time. The table gives medians (min-max) and the
fastest peer's time over satchel's; the load average before each measurement is recorded.
``--json FILE`` writes one JSON line per measurement.
"""

from __future__ import annotations

import argparse
import filecmp
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SCRIPT = os.path.abspath(__file__)
PEERS = ("dvc", "quilt3", "oxen")
TOOLS = ("satchel", *PEERS)
#: the module a peer's interpreter must import for the peer to run
MODULES = {"satchel": "satchel", "dvc": "dvc", "quilt3": "quilt3", "oxen": "oxen"}
OPS = ("snapshot", "restore")
RESULT = "BENCH_PEERS_RESULT "


# ------------------------------------------------------------------ child (one tool, one op)
def _satchel(op: str, c: dict[str, str]) -> float:
    import satchel

    t = time.perf_counter()
    if op == "snapshot":
        art = satchel.Artifact("ds", "dataset")
        art.add_dir(c["data"])
        art.save()
    else:
        satchel.Api().artifact("ds:latest").download(root=c["dest"])
    return time.perf_counter() - t


def _dvc(op: str, c: dict[str, str]) -> float:
    from dvc.cli import main

    os.chdir(c["repo"])

    def run(*argv: str) -> None:
        if main(list(argv)):
            raise RuntimeError(f"dvc {' '.join(argv)} failed")

    if op == "setup":
        run("init", "--no-scm", "-q")
        run("config", "core.analytics", "false")
        run("config", "core.check_update", "false")
        run("config", "core.site_cache_dir", os.path.join(c["root"], "dvc-site"))
        return 0.0
    t = time.perf_counter()
    run("add", "data") if op == "snapshot" else run("checkout")
    return time.perf_counter() - t


def _quilt3(op: str, c: dict[str, str]) -> float:
    import quilt3

    registry = "file://" + os.path.join(c["root"], "registry")
    t = time.perf_counter()
    if op == "snapshot":
        quilt3.Package().set_dir("data", c["data"]).build("bench/ds", registry=registry)
    else:
        quilt3.Package.install("bench/ds", registry=registry, dest=c["dest"])
    return time.perf_counter() - t


def _oxen(op: str, c: dict[str, str]) -> float:
    import oxen
    from oxen import user

    os.chdir(c["repo"])
    if op == "setup":
        user.config_user("bench", "bench@example.com")
        return 0.0
    t = time.perf_counter()
    repo = oxen.Repo(c["repo"])
    if op == "snapshot":
        repo.init()
        repo.add(c["data"])
        repo.commit("x")
    else:
        repo.restore("data")
    return time.perf_counter() - t


DRIVERS = {"satchel": _satchel, "dvc": _dvc, "quilt3": _quilt3, "oxen": _oxen}


def child(cfg: dict[str, str]) -> int:
    """Run one op of one tool; print its time (or its error) as one JSON line."""
    try:
        out: dict[str, Any] = {"ok": True, "op_s": DRIVERS[cfg["tool"]](cfg["op"], cfg)}
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the row
        out = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:1500]}
    print(RESULT + json.dumps(out), flush=True)
    return 0


# ------------------------------------------------------------------------------ parent side
def _datasets() -> Any:
    spec = importlib.util.spec_from_file_location(
        "bench_datasets", os.path.join(HERE, "datasets.py")
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_datasets"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def available(tool: str, python: str) -> bool:
    """Whether ``python`` can import ``tool``'s package (without importing it here)."""
    code = (
        f"import importlib.util,sys; sys.exit(importlib.util.find_spec({MODULES[tool]!r}) is None)"
    )
    env = {**os.environ, "PYTHONPATH": os.path.join(REPO, "src")} if tool == "satchel" else None
    return (
        subprocess.run([python, "-c", code], env=env, capture_output=True, check=False).returncode
        == 0
    )


def _env(tool: str, st: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SATCHEL_", "DVC_", "QUILT_", "OXEN_", "XDG_"))
    }
    home = os.path.join(st["root"], "home")
    env.update(
        HOME=home,
        XDG_CACHE_HOME=os.path.join(home, ".cache"),
        XDG_CONFIG_HOME=os.path.join(home, ".config"),
        XDG_DATA_HOME=os.path.join(home, ".local", "share"),
        PYTHONUNBUFFERED="1",
    )
    if tool == "satchel":
        env.update(
            SATCHEL_STORE=os.path.join(st["root"], "store"),
            SATCHEL_NO_PROGRESS="1",
            SATCHEL_CACHE_DIR=os.path.join(st["root"], "cache"),
            PYTHONPATH=os.path.join(REPO, "src"),
        )
    elif tool == "dvc":
        env["DVC_NO_ANALYTICS"] = "1"
    elif tool == "quilt3":
        env.update(QUILT_DISABLE_USAGE_METRICS="true", QUILT_MINIMIZE_STDOUT="true")
    elif tool == "oxen":
        env["OXEN_CONFIG_DIR"] = os.path.join(st["root"], "oxen-config")
    return env


def run_child(
    python: str, tool: str, op: str, st: dict[str, str], timeout: float
) -> dict[str, Any]:
    """One op of one tool in a fresh process."""
    cfg = {"tool": tool, "op": op, **st}
    cp = subprocess.run(
        [python, SCRIPT, "--child", json.dumps(cfg)],
        cwd=st["root"],
        env=_env(tool, st),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    for line in reversed(cp.stdout.splitlines()):
        if line.startswith(RESULT):
            res: dict[str, Any] = json.loads(line[len(RESULT) :])
            return res
    return {"ok": False, "error": f"exit {cp.returncode}: {(cp.stderr or cp.stdout)[-1500:]}"}


def cp_r(src: str, dest: str) -> float:
    """``cp -r`` of ``src`` to the new folder ``dest``, timed."""
    t = time.perf_counter()
    subprocess.run(["cp", "-r", src, dest], check=True)
    return time.perf_counter() - t


def same_tree(expected: str, actual: str) -> str | None:
    """``None`` when ``actual`` holds exactly ``expected``'s files, byte for byte; else why not."""

    def files(top: str) -> set[str]:
        return {os.path.relpath(os.path.join(d, n), top) for d, _s, ns in os.walk(top) for n in ns}

    want, got = files(expected), files(actual)
    if want != got:
        return f"{len(want - got)} missing, {len(got - want)} extra"
    bad = [
        r
        for r in sorted(want)
        if not filecmp.cmp(os.path.join(expected, r), os.path.join(actual, r), shallow=False)
    ]
    return f"{len(bad)} differ, e.g. {bad[0]}" if bad else None


class Bench:
    """Interleaved repetitions over the datasets; rows collected for the table."""

    def __init__(self, args: argparse.Namespace, tools: list[str]) -> None:
        self.a = args
        self.tools = tools
        self.rows: list[dict[str, Any]] = []
        self.out = open(args.json, "a") if args.json else None  # noqa: SIM115 - closed in run

    def emit(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if self.out:
            self.out.write(json.dumps(row) + "\n")
            self.out.flush()
        if not row["ok"]:
            print(
                f"# FAILED {row['dataset']} {row['tool']} {row['op']}: {row.get('error')}",
                file=sys.stderr,
            )

    def measure(
        self, base: dict[str, Any], tool: str, op: str, st: dict[str, str], src: str
    ) -> None:
        os.sync()
        load1 = os.getloadavg()[0]
        if tool == "cp -r":
            res: dict[str, Any] = {"ok": True, "op_s": cp_r(src, st["dest"])}
        else:
            python = sys.executable if tool == "satchel" else self.a.peers_python
            res = run_child(python, tool, op, st, self.a.timeout)
        if res["ok"] and op == "restore":
            where = {
                "dvc": st["data"],
                "oxen": st["data"],  # their working tree
                "quilt3": os.path.join(st["dest"], "data"),
            }.get(tool, st["dest"])
            problem = same_tree(src, where)
            if problem:
                res = {"ok": False, "error": f"restore differs from the dataset: {problem}"}
        self.emit({**base, "tool": tool, "op": op, "load1": load1, **res})

    def rep(self, name: str, src: str, n: int) -> None:
        order = self.tools[n % len(self.tools) :] + self.tools[: n % len(self.tools)]
        states: dict[str, dict[str, str]] = {}
        for tool in order:
            root = os.path.join(self.a.work, name, f"r{n}", tool.replace(" ", "_"))
            shutil.rmtree(root, ignore_errors=True)
            st = {
                "root": root,
                "repo": os.path.join(root, "repo"),
                "data": os.path.join(root, "repo", "data"),
                "dest": os.path.join(root, "restore"),
            }
            os.makedirs(os.path.join(root, "home"))
            if tool != "cp -r":
                shutil.copytree(src, st["data"])  # every tool works on its own copy
            if tool in ("dvc", "oxen"):
                run_child(self.a.peers_python, tool, "setup", st, self.a.timeout)
            states[tool] = st
        base = {"dataset": name, "rep": n}
        for op in OPS:
            for tool in order:
                st = states[tool]
                if op == "restore" and tool in ("dvc", "oxen"):
                    shutil.rmtree(st["data"])  # they restore into their working tree
                if op == "restore" and tool == "cp -r":
                    shutil.rmtree(st["dest"], ignore_errors=True)
                self.measure(base, tool, op, st, src)
        shutil.rmtree(os.path.join(self.a.work, name, f"r{n}"), ignore_errors=True)

    def run(self) -> str:
        ds = _datasets()
        for name in self.a.datasets:
            src, spec = ds.ensure(name, root=self.a.data_root, quick=self.a.quick, log=print)
            ds.warm(src, spec)
            for n in range(self.a.reps):
                print(f"# {spec.name} rep {n}", flush=True)
                self.rep(spec.name, src, n)
        if self.out:
            self.out.close()
        return table(self.rows, self.tools)


def _cell(vals: list[float]) -> str:
    if not vals:
        return "-"
    med = statistics.median(vals)
    return f"{med:.2f} s" if len(vals) == 1 else f"{med:.2f} s ({min(vals):.2f}-{max(vals):.2f})"


def table(rows: list[dict[str, Any]], tools: list[str]) -> str:
    """The markdown table: medians (min-max) per dataset, op and tool, with the ratios."""
    shown = [t for t in tools if t != "cp -r"]
    head = ["data", "op", *shown, "cp -r", "fastest peer / satchel", "satchel / cp -r"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for name in dict.fromkeys(r["dataset"] for r in rows):
        for op in OPS:

            def times(tool: str, name: str = name, op: str = op) -> list[float]:
                return [
                    r["op_s"]
                    for r in rows
                    if r["dataset"] == name and r["op"] == op and r["tool"] == tool and r["ok"]
                ]

            failed = {
                r["tool"] for r in rows if r["dataset"] == name and r["op"] == op and not r["ok"]
            }
            cells = [("FAILED" if t in failed else _cell(times(t))) for t in shown]
            sat = statistics.median(times("satchel")) if times("satchel") else None
            peers = [statistics.median(times(p)) for p in shown if p in PEERS and times(p)]
            cp = statistics.median(times("cp -r")) if times("cp -r") else None
            ratio = f"{min(peers) / sat:.2f}x" if sat and peers else "-"
            to_cp = f"{sat / cp:.2f}x" if sat and cp else "-"
            lines.append(
                f"| {name} | {op} | "
                + " | ".join(cells)
                + f" | {_cell(times('cp -r'))} | {ratio} | {to_cp} |"
            )
    loads = [r["load1"] for r in rows]
    if loads:
        lines.append("")
        lines.append(
            f"1-minute load average before the measurements: {min(loads):.1f}-"
            f"{max(loads):.1f} (median {statistics.median(loads):.1f}) on "
            f"{os.cpu_count()} CPUs"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse the options, skip what is not installed, run, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--datasets", nargs="+", default=["A", "C"], choices=["A", "B", "C"])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS)
    ap.add_argument(
        "--peers-python",
        default=sys.executable,
        help="interpreter with dvc, quilt3 and oxenai installed (pip install "
        "'satchel[peers]' in its own venv); default: this one",
    )
    ap.add_argument("--quick", action="store_true", help="the datasets' smoke sizes")
    ap.add_argument("--no-cp", action="store_true", help="leave out the cp -r floor")
    ap.add_argument(
        "--data-root",
        default=os.path.join(REPO, ".bench"),
        help="benchmarks/datasets.py --root (datasets are made once and reused)",
    )
    ap.add_argument(
        "--work",
        default=os.path.join(REPO, ".bench", "peers-work"),
        help="scratch folder (removed per repetition)",
    )
    ap.add_argument("--json", help="append one JSON line per measurement to this file")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per child")
    args = ap.parse_args(argv)
    if args.child:
        return child(json.loads(args.child))
    tools: list[str] = []
    for tool in args.tools:
        python = sys.executable if tool == "satchel" else args.peers_python
        if available(tool, python):
            tools.append(tool)
        else:
            print(
                f"# skipped {tool}: {MODULES[tool]!r} is not importable by {python} "
                "(see the module docstring for the venv)",
                flush=True,
            )
    if not args.no_cp:
        tools.append("cp -r")
    bench = Bench(args, tools)
    print(bench.run())
    return 0 if all(r["ok"] for r in bench.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
