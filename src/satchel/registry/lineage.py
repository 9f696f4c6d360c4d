"""Lineage: which run produced a version, which runs used it, and the graph around it.

Two kinds of record carry it:

* the run record ``projects/<p>/runs/<run_id>.json`` (:class:`RunRecord`): the truth about a
  run's inputs and outputs, created when the run starts and updated with compare-and-swap
  writes (so concurrent ``use``/``log`` calls of one run never lose each other);
* a *usage marker* ``<collection>/used_by/<n>/<run_project>/<run_id>.json`` written (create if
  absent) **before** the run record gains the input: it lets ``used_by()`` and the
  ``only_unused`` filter find the runs of one version with one listing instead of reading every
  run of every project. A marker whose run record does not list the input (a crash between the
  two writes) is ignored by ``used_by()``, and counts as a use for ``only_unused`` (the safe side
  for clean-ups).

The producing run is ``VersionRecord.run_id``, written in the version record at commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from satchel.errors import DamagedRecordError, InvalidQueryError, StoreError
from satchel.store import Store, layout
from satchel.store.damage import warn_skipped
from satchel.store.records import VersionRecord, decode, encode, utcnow


class RunRecord(msgspec.Struct, frozen=True, kw_only=True):
    """``runs/<run_id>.json``: one run and the versions it used and logged.

    ``inputs`` and ``outputs`` hold ``project/name:vN`` references, in the order first seen.
    """

    id: str
    project: str
    name: str | None = None
    job_type: str | None = None
    group: str | None = None
    config: dict[str, Any] = {}
    inputs: list[str] = []
    outputs: list[str] = []
    started_at: str
    finished_at: str | None = None
    created_by: str | None = None
    notes: str | None = None
    tags: list[str] = []
    #: the ``exit_code`` given to ``finish()`` (1 when the run's ``with`` block raised)
    exit_code: int | None = None


class UsageMarker(msgspec.Struct, frozen=True, kw_only=True):
    """``used_by/<n>/<run_project>/<run_id>.json``: a run used version ``n``."""

    run: str
    at: str


def version_ref(record: VersionRecord) -> str:
    """``project/name:vN`` of a version record."""
    return f"{record.project}/{record.name}:v{record.version}"


def parse_version_ref(ref: str) -> tuple[str, str, int]:
    """Split ``project/name:vN`` into its parts."""
    head, _, sel = ref.rpartition(":v")
    project, _, name = head.partition("/")
    return project, name, int(sel)


# -- run records ---------------------------------------------------------------------------
def read_run(store: Store, project: str, run_id: str) -> RunRecord | None:
    """The run record, or ``None`` when there is none."""
    key = layout.run_key(project, run_id)
    try:
        rec: RunRecord = decode(store.backend.read(key), RunRecord, key)
    except FileNotFoundError:
        return None
    return rec


def list_runs(store: Store, project: str) -> list[RunRecord]:
    """Every run record of ``project``, ordered by start time (one listing, one read each)."""
    out = []
    for fname in store.backend.list(layout.runs_folder(project)):
        if fname.endswith(".json"):
            run = read_run(store, project, fname[: -len(".json")])
            if run is not None:
                out.append(run)
    out.sort(key=lambda r: (r.started_at, r.id))
    return out


def jsonable(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` as plain JSON data; values JSON cannot hold become their ``str``."""
    data: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(value, enc_hook=str))
    return data


def start_run(store: Store, record: RunRecord) -> RunRecord:
    """Write a new run record, or return the existing one when the id is taken (a resumed
    run keeps its inputs and outputs)."""
    store.check_format(create=True)
    record = msgspec.structs.replace(record, config=jsonable(record.config))
    if store.backend.create_if_absent(layout.run_key(record.project, record.id), encode(record)):
        return record
    existing = read_run(store, record.project, record.id)
    if existing is None:  # pragma: no cover - deleted between the two calls
        return record
    if existing.finished_at is not None:
        existing = update_run(
            store,
            record.project,
            record.id,
            lambda r: msgspec.structs.replace(r, finished_at=None),
        )
    return existing


def finish_run(
    store: Store,
    project: str,
    run_id: str,
    finished_at: str,
    *,
    config: dict[str, Any] | None = None,
    exit_code: int | None = None,
) -> None:
    """Stamp a run record's ``finished_at`` (and its ``exit_code``; ``config``, when given,
    replaces the recorded one: a run's configuration may change while it runs)."""
    new_config = jsonable(config) if config is not None else None

    def change(r: RunRecord) -> RunRecord:
        return msgspec.structs.replace(
            r,
            finished_at=finished_at,
            exit_code=exit_code,
            config=new_config if new_config is not None else r.config,
        )

    update_run(store, project, run_id, change)


def update_run(
    store: Store, project: str, run_id: str, change: Callable[[RunRecord], RunRecord]
) -> RunRecord:
    """Apply ``change`` to a run record with compare-and-swap, retrying on conflict.

    Raises:
        StoreError: no such run record.
        ConcurrentUpdateError: too many concurrent writers.
    """
    key = layout.run_key(project, run_id)
    result: list[RunRecord] = []

    def apply(old: bytes | None) -> bytes | None:
        if old is None:
            raise StoreError(
                f"run {project}/{run_id} has no record in {store.url} (deleted by hand?); "
                "start a new run with satchel.init()"
            )
        current: RunRecord = decode(old, RunRecord, key)
        new = change(current)
        result.append(new)
        return None if new == current else encode(new)

    store.compare_and_swap(key, apply, what=f"run {project}/{run_id}")
    return result[-1]


def record_input(store: Store, run_project: str, run_id: str, version: VersionRecord) -> None:
    """Record that run ``run_project/run_id`` used ``version`` (marker first, then the run)."""
    ref = version_ref(version)
    marker = layout.usage_key(version.project, version.name, version.version, run_project, run_id)
    store.backend.create_if_absent(
        marker, encode(UsageMarker(run=f"{run_project}/{run_id}", at=utcnow()))
    )
    update_run(
        store,
        run_project,
        run_id,
        lambda r: r if ref in r.inputs else msgspec.structs.replace(r, inputs=[*r.inputs, ref]),
    )


def record_output(store: Store, run_project: str, run_id: str, version: VersionRecord) -> None:
    """Record that run ``run_project/run_id`` logged ``version``."""
    ref = version_ref(version)
    update_run(
        store,
        run_project,
        run_id,
        lambda r: r if ref in r.outputs else msgspec.structs.replace(r, outputs=[*r.outputs, ref]),
    )


def run_inputs(store: Store, project: str, run_id: str) -> set[tuple[str, str, int]]:
    """``(project, name, version)`` of every input of a run (empty for an unknown run)."""
    run = read_run(store, project, run_id)
    return {parse_version_ref(r) for r in run.inputs} if run else set()


# -- per-version questions -----------------------------------------------------------------
def producer(store: Store, record: VersionRecord) -> RunRecord | None:
    """The run that logged ``record`` (looked up in its project first, then in the others)."""
    if record.run_id is None:
        return None
    projects = [record.project, *(p for p in store.projects() if p != record.project)]
    for project in projects:
        run = read_run(store, project, record.run_id)
        if run is not None:
            return run
    return None


def consumers(store: Store, record: VersionRecord) -> list[RunRecord]:
    """Every run whose record lists ``record`` as an input, ordered by start time."""
    ref = version_ref(record)
    base = f"{layout.usage_folder(record.project, record.name)}/{record.version}"
    out = []
    for run_project in store.backend.list(base):
        for fname in store.backend.list(f"{base}/{run_project}"):
            if not fname.endswith(".json"):
                continue
            run = read_run(store, run_project, fname[: -len(".json")])
            if run is not None and ref in run.inputs:
                out.append(run)
    out.sort(key=lambda r: (r.started_at, r.id))
    return out


def used_versions(store: Store, project: str, name: str) -> set[int]:
    """Numbers of a collection's versions that some run used (one listing)."""
    return {int(n) for n in store.backend.list(layout.usage_folder(project, name)) if n.isdigit()}


# -- the graph -----------------------------------------------------------------------------
@dataclass(frozen=True)
class LineageGraph:
    """Versions and runs around one version.

    Attributes:
        root: ``project/name:vN`` the graph was drawn from.
        artifacts: version ref -> type, for every version node.
        runs: ``project/run_id`` -> run record, for every run node.
        edges: ``(from, to)`` pairs: version -> run (the run used it) and run -> version (the
            run logged it).
    """

    root: str
    artifacts: dict[str, str] = field(default_factory=dict)
    runs: dict[str, RunRecord] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "root": self.root,
            "artifacts": [{"ref": k, "type": v} for k, v in sorted(self.artifacts.items())],
            "runs": [
                {
                    "ref": k,
                    "name": r.name,
                    "job_type": r.job_type,
                    "inputs": r.inputs,
                    "outputs": r.outputs,
                }
                for k, r in sorted(self.runs.items())
            ],
            "edges": [list(e) for e in sorted(self.edges)],
        }


def _read_version(store: Store, ref: str) -> VersionRecord | None:
    project, name, n = parse_version_ref(ref)
    try:
        return store.read_version(project, name, n)
    except FileNotFoundError:
        return None
    except DamagedRecordError as exc:  # the graph goes on around a damaged record
        warn_skipped(exc.key, exc.reason)
        return None


def build_graph(store: Store, record: VersionRecord, *, depth: int = 1) -> LineageGraph:
    """Walk ``depth`` run-hops upstream (producers and their inputs) and downstream
    (consumers and their outputs) from ``record``.

    Raises:
        InvalidQueryError: ``depth`` below 1.
    """
    if depth < 1:
        raise InvalidQueryError(f"depth must be at least 1, got {depth}")
    root = version_ref(record)
    graph = LineageGraph(root, {root: record.type})
    up: list[VersionRecord] = [record]
    down: list[VersionRecord] = [record]
    for _hop in range(depth):
        next_up: list[VersionRecord] = []
        for rec in up:
            run = producer(store, rec)
            if run is None:
                continue
            rkey = f"{run.project}/{run.id}"
            graph.edges.add((rkey, version_ref(rec)))
            if rkey in graph.runs:
                continue
            graph.runs[rkey] = run
            next_up.extend(_add_versions(store, graph, run.inputs, rkey, used=True))
        next_down: list[VersionRecord] = []
        for rec in down:
            for run in consumers(store, rec):
                rkey = f"{run.project}/{run.id}"
                graph.edges.add((version_ref(rec), rkey))
                if rkey in graph.runs:
                    continue
                graph.runs[rkey] = run
                next_down.extend(_add_versions(store, graph, run.outputs, rkey, used=False))
        up, down = next_up, next_down
    return graph


def _add_versions(
    store: Store, graph: LineageGraph, refs: Iterable[str], run_key: str, *, used: bool
) -> list[VersionRecord]:
    found = []
    for ref in refs:
        graph.edges.add((ref, run_key) if used else (run_key, ref))
        if ref in graph.artifacts:
            continue
        rec = _read_version(store, ref)
        graph.artifacts[ref] = rec.type if rec else "?"
        if rec is not None:
            found.append(rec)
    return found


def _dot_id(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graph: LineageGraph) -> str:
    """Graphviz DOT of the graph: versions as boxes (the root bold), runs as ellipses."""
    lines = ["digraph lineage {", "  rankdir=LR;"]
    for ref, type_ in sorted(graph.artifacts.items()):
        style = ", style=bold" if ref == graph.root else ""
        label = f"{ref}\\n({type_})"
        lines.append(f'  {_dot_id(ref)} [shape=box, label="{label}"{style}];')
    for key, run in sorted(graph.runs.items()):
        label = run.name or run.id
        if run.job_type:
            label += f"\\n[{run.job_type}]"
        lines.append(f'  {_dot_id(key)} [shape=ellipse, label="{label}"];')
    for a, b in sorted(graph.edges):
        lines.append(f"  {_dot_id(a)} -> {_dot_id(b)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_text(graph: LineageGraph) -> str:
    """A readable listing: upstream runs with their inputs, then downstream runs with outputs."""
    lines = [graph.root]
    producers = sorted(a for a, b in graph.edges if b == graph.root and a in graph.runs)
    consumers_ = sorted(b for a, b in graph.edges if a == graph.root and b in graph.runs)
    for key in producers:
        run = graph.runs[key]
        lines.append(f"  logged by run {_run_label(key, run)}")
        for ref in run.inputs:
            lines.append(f"    which used {ref}")
    for key in consumers_:
        run = graph.runs[key]
        lines.append(f"  used by run {_run_label(key, run)}")
        for ref in run.outputs:
            lines.append(f"    which logged {ref}")
    others = sorted(set(graph.runs) - set(producers) - set(consumers_))
    for key in others:
        run = graph.runs[key]
        lines.append(
            f"  further: run {_run_label(key, run)} used {', '.join(run.inputs) or '-'}; "
            f"logged {', '.join(run.outputs) or '-'}"
        )
    if len(lines) == 1:
        lines.append("  no recorded lineage (no run logged or used this version)")
    return "\n".join(lines) + "\n"


def _run_label(key: str, run: RunRecord) -> str:
    label = key
    if run.name and run.name != run.id:
        label += f" {run.name!r}"
    if run.job_type:
        label += f" [{run.job_type}]"
    return label
