"""The gc-vs-commit soak, shared by ``tests/soak/test_gc_soak.py`` (seconds) and
``benchmarks/soak_gc.py`` (minutes).

Several writers commit overlapping content to one store while a gc loops with **no grace at
all** (``grace=0, force=True``: the worst case; anything unreferenced is removed the moment it
is seen). Each writer, in its own process, repeatedly

* commits a fresh draft, to the shared collection ``soak`` or to its own ``soak-<n>``: a file
  every version has, three files drawn from a pool of twelve (so versions share objects,
  within a writer and across writers), one of four larger files now and then, and a file of
  fresh random bytes;
* or saves a ``new_draft()`` of the shared collection's latest version, which may be another
  writer's, with one file added or replaced (inherited objects are trusted, not looked for);
* or re-commits the content of its own collection's latest version (a no-op, which checks
  the version again);
* and deletes one of its own older versions now and then, so unreferenced content keeps
  appearing - and is reused by the next commits while gc removes it.

Afterwards one last gc runs, then every version that was committed and not deleted must be
live, download from an **empty cache** into a new folder, verify, and hold exactly the bytes
its writer committed; ``fsck`` must find no problem. A version failing any of that is *lost*.

Writers and gc run as processes forked from one interpreter (``python -m tests.soak.conftest``),
so a run pays one start-up (imports of s3fs, gcsfs, adlfs) instead of one per process;
``memory://`` lives inside one process, so there they are threads.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import random
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.store.conftest import REPO, StoreCase

NAME = "soak"
PROJECT = "soak"
POOL = 12
BIG = 4
#: each writer does at least this many rounds, however long they take on a busy machine
MIN_ROUNDS = 3


@dataclass
class SoakReport:
    """What one soak did and found.

    Attributes:
        kind: the store kind.
        seconds: how long writers and gc ran.
        writers: writer processes.
        commits: versions created (fresh drafts and new_drafts).
        new_drafts: of which saved from a ``new_draft()``.
        no_ops: re-commits of unchanged content (no version created).
        deletes: versions deleted by writers.
        gc_runs: gc passes while the writers ran (plus the final one).
        in_flight_seen: gc passes that honoured at least one commit's lease.
        removed_objects, removed_manifests: what gc removed in all.
        versions_checked: versions downloaded from an empty cache and verified.
        files_checked: files those versions hold.
        lost: versions that failed a check (``ref: reason``); must be empty.
        fsck_problems: what fsck reported; must be empty.
        errors: unexpected errors writers or gc raised; must be empty.
        check_seconds: how long the checks afterwards took.
    """

    kind: str
    seconds: float
    writers: int
    commits: int = 0
    new_drafts: int = 0
    no_ops: int = 0
    deletes: int = 0
    gc_runs: int = 0
    in_flight_seen: int = 0
    removed_objects: int = 0
    removed_manifests: int = 0
    versions_checked: int = 0
    files_checked: int = 0
    lost: list[str] = field(default_factory=list)
    fsck_problems: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    check_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


# -- content ---------------------------------------------------------------------------------


def pool_file(j: int) -> bytes:
    """The ``j``-th shared small file (a few hundred bytes)."""
    return (f"pool file {j}\n" * (8 + 3 * j)).encode()


def big_file(j: int) -> bytes:
    """The ``j``-th shared larger file (64-160 KiB)."""
    return hashlib.sha256(f"big {j}".encode()).digest() * (2048 * (2 + j)) + bytes([j])


def _digest(data: bytes) -> str:
    """The W&B-style digest (base64 MD5) of ``data``, computed here, not by satchel."""
    return base64.b64encode(hashlib.md5(data).digest()).decode()


# -- one writer ------------------------------------------------------------------------------


def writer(
    case: StoreCase,
    workdir: Path,
    index: int,
    deadline: float,
    log: Callable[[dict[str, Any]], None],
) -> None:
    """Commit, re-commit, new_draft and delete until ``deadline``, and at least
    :data:`MIN_ROUNDS` times (see the module docstring); then leave ``writer-<index>.done``."""
    from satchel import Api
    from satchel.errors import ArtifactNotFoundError

    services = case.services(workdir / f"cache-{index}")
    api = Api(services.require_store(), PROJECT, services=services)
    rng = random.Random(index * 7919 + 4)  # seeds whose first rounds hold every kind of round
    own = f"{NAME}-{index}"  # only this writer commits here: its re-commits are no-ops
    mine: list[tuple[str, str]] = []
    previous: tuple[str, dict[str, bytes]] | None = None  # own collection: version, content
    i = 0
    while time.time() < deadline or i < MIN_ROUNDS:
        i += 1
        roll = rng.random()
        try:
            if roll < 0.15 and mine:
                name = NAME
                draft = api.artifact(f"{NAME}:latest").new_draft()
                data = pool_file(rng.randrange(POOL)) + f"{index}/{i}".encode()
                with draft.new_file(f"pool/{rng.randrange(POOL)}.txt", mode="wb") as f:
                    f.write(data)
                art = draft.save(PROJECT)
                # what this save committed: the base's entries as read, and the new file
                files = {e.path: e.digest for e in art.manifest}
                kind = "new_draft"
            elif roll < 0.3 and previous is not None:
                name = own
                art = _commit(services, own, previous[1])
                files = {p: _digest(d) for p, d in previous[1].items()}
                # unchanged content is a no-op while its version is the latest live one
                kind = "no_op" if art.version == previous[0] else "commit"
                previous = (art.version, previous[1])
            else:
                name = NAME if rng.random() < 0.7 else own
                content = {"common.txt": b"in every version\n"}
                for j in rng.sample(range(POOL), 3):
                    content[f"pool/{j}.txt"] = pool_file(j)
                if rng.random() < 0.3:
                    j = rng.randrange(BIG)
                    content[f"big/{j}.bin"] = big_file(j)
                content[f"own/{index}-{i}.bin"] = os.urandom(rng.randint(1, 3000))
                art = _commit(services, name, content)
                files, kind = {p: _digest(d) for p, d in content.items()}, "commit"
                if name == own:
                    previous = (art.version, content)
            log({"event": kind, "name": name, "version": art.version, "files": files})
            if kind != "no_op":
                mine.append((name, art.version))
            if len(mine) >= 2 and rng.random() < 0.6:
                victim = mine.pop(rng.randrange(len(mine) - 1))  # never the newest of its own
                if previous is not None and victim == (own, previous[0]):
                    previous = None  # deleted: re-committing it would not be a no-op
                api.artifact(f"{victim[0]}:{victim[1]}").delete()
                log({"event": "delete", "name": victim[0], "version": victim[1]})
        except ArtifactNotFoundError as exc:  # latest deleted between listing and reading
            log({"event": "skipped", "error": str(exc)})
        except BaseException as exc:  # noqa: BLE001 - reported to the soak
            log(
                {
                    "event": "error",
                    "error": f"{type(exc).__name__}: {exc}",
                    "trace": traceback.format_exc()[-3000:],
                }
            )
    (workdir / f"writer-{index}.done").touch()


def _commit(services: Any, name: str, files: dict[str, bytes]) -> Any:
    from satchel import Artifact

    art = Artifact(name, "dataset", services=services)
    for path, data in files.items():
        with art.new_file(path, mode="wb") as f:
            f.write(data)
    return art.save(PROJECT)


def collector(
    case: StoreCase, workdir: Path, writers: int, log: Callable[[dict[str, Any]], None]
) -> None:
    """Run gc with no grace (forced) in a loop until every writer is done."""
    from satchel.registry import collect_garbage

    store = case.open()
    while len(list(workdir.glob("writer-*.done"))) < writers:
        try:
            report = collect_garbage(store, grace=0, force=True)
        except BaseException as exc:  # noqa: BLE001 - reported to the soak
            log(
                {
                    "event": "error",
                    "error": f"gc: {type(exc).__name__}: {exc}",
                    "trace": traceback.format_exc()[-3000:],
                }
            )
            time.sleep(0.05)
            continue
        log(
            {
                "event": "gc",
                "objects": len(report.objects),
                "manifests": len(report.manifests),
                "in_flight": report.in_flight,
            }
        )
        if case.in_process:
            time.sleep(0.02)  # threads: leave the writers some of the interpreter


# -- running and checking --------------------------------------------------------------------


def run_soak(case: StoreCase, workdir: Path, *, seconds: float, writers: int = 3) -> SoakReport:
    """Run the soak on ``case`` for ``seconds`` and check everything afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    if case.in_process:
        _threads(case, workdir, seconds, writers)
    else:
        spec = {
            "case": case.spec(),
            "workdir": str(workdir),
            "seconds": seconds,
            "writers": writers,
        }
        proc = subprocess.run(
            [sys.executable, "-m", "tests.soak.conftest", json.dumps(spec)], cwd=REPO,
            capture_output=True, text=True, timeout=seconds + 240, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise AssertionError(f"soak process failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return check(case, workdir, seconds, writers)


def _logger(path: Path) -> Callable[[dict[str, Any]], None]:
    lock = threading.Lock()

    def log(event: dict[str, Any]) -> None:
        line = json.dumps(event) + "\n"
        with lock, open(path, "a") as f:
            f.write(line)

    return log


def _threads(case: StoreCase, workdir: Path, seconds: float, writers: int) -> None:
    deadline = time.time() + seconds
    threads = [
        threading.Thread(
            target=writer, args=(case, workdir, i, deadline, _logger(workdir / f"writer-{i}.jsonl"))
        )
        for i in range(writers)
    ] + [
        threading.Thread(
            target=collector, args=(case, workdir, writers, _logger(workdir / "gc.jsonl"))
        )
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


#: what each store kind's filesystem imports: loaded once before forking (several seconds for
#: botocore on a busy machine), without opening a filesystem (no event-loop thread to fork)
_IMPORTS = {"s3": ("s3fs",), "gcs": ("gcsfs",), "azure": ("adlfs",)}


def _processes(spec: dict[str, Any]) -> None:
    import importlib

    import satchel.api
    import satchel.registry.gc  # noqa: F401 - loaded before forking, as the filesystem is

    case = StoreCase(**spec["case"])
    for module in _IMPORTS.get(case.kind, ()):
        importlib.import_module(module)
    workdir = Path(spec["workdir"])
    deadline = time.time() + float(spec["seconds"])
    jobs: list[Callable[[], None]] = [
        functools.partial(
            writer, case, workdir, i, deadline, _logger(workdir / f"writer-{i}.jsonl")
        )
        for i in range(int(spec["writers"]))
    ]
    jobs.append(
        functools.partial(
            collector, case, workdir, int(spec["writers"]), _logger(workdir / "gc.jsonl")
        )
    )
    pids = []
    for job in jobs:
        pid = os.fork()
        if pid == 0:  # child: nothing was opened before the fork
            code = 0
            try:
                job()
            except BaseException:  # noqa: BLE001 - reported through the exit status
                traceback.print_exc()
                code = 1
            os._exit(code)
        pids.append(pid)
    failed = 0
    for pid in pids:
        _pid, status = os.waitpid(pid, 0)
        failed += int(not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0))
    if failed:
        raise SystemExit(f"{failed} soak process(es) failed")


def _events(workdir: Path, pattern: str) -> list[dict[str, Any]]:
    out = []
    for path in sorted(workdir.glob(pattern)):
        out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


def check(case: StoreCase, workdir: Path, seconds: float, writers: int) -> SoakReport:
    """Count what the writers and gc did, run one last gc, and check every version."""
    from satchel.fsck import check_store
    from satchel.registry import collect_garbage

    started = time.monotonic()
    report = SoakReport(case.kind, seconds, writers)
    wrote = _events(workdir, "writer-*.jsonl")
    committed: dict[str, dict[str, str]] = {}  # "name:vN" -> logical path -> digest
    deleted: set[str] = set()
    for e in wrote:
        ref = f"{e.get('name')}:{e.get('version')}"
        if e["event"] in ("commit", "new_draft"):
            report.commits += 1
            report.new_drafts += e["event"] == "new_draft"
            committed[ref] = e["files"]
        elif e["event"] == "no_op":
            report.no_ops += 1
        elif e["event"] == "delete":
            report.deletes += 1
            deleted.add(ref)
        elif e["event"] == "error":
            report.errors.append(e["error"] + "\n" + e.get("trace", ""))
    for e in _events(workdir, "gc.jsonl"):
        if e["event"] == "gc":
            report.gc_runs += 1
            report.in_flight_seen += e["in_flight"] > 0
            report.removed_objects += e["objects"]
            report.removed_manifests += e["manifests"]
        else:
            report.errors.append(e["error"] + "\n" + e.get("trace", ""))
    store = case.open()
    final = collect_garbage(store, grace=0, force=True)
    report.gc_runs += 1
    report.removed_objects += len(final.objects)
    report.removed_manifests += len(final.manifests)

    expected = {ref: files for ref, files in committed.items() if ref not in deleted}
    live = {
        f"{name}:v{n}"
        for name in store.collections(PROJECT)
        for n in store.live_versions(PROJECT, name)
    }
    for ref in sorted(set(expected) - live, key=_order):
        report.lost.append(f"{ref}: committed, not deleted, but not live")
    for ref in sorted(live - set(expected), key=_order):
        report.lost.append(f"{ref}: live, but no writer committed it")
    for ref in sorted(set(expected) & live, key=_order):
        reason = _verify(case, store, workdir, ref, expected[ref])
        report.versions_checked += 1
        report.files_checked += len(expected[ref])
        if reason:
            report.lost.append(f"{ref}: {reason}")
    report.fsck_problems = [f"{p.kind}: {p.message}" for p in check_store(store).problems]
    report.check_seconds = round(time.monotonic() - started, 2)
    return report


def _order(ref: str) -> tuple[str, int]:
    name, _colon, version = ref.rpartition(":")
    return name, int(version[1:])


def _verify(case: StoreCase, store: Any, workdir: Path, ref: str, files: dict[str, str]) -> str:
    """Download ``ref`` from an empty cache into a new folder and compare it with ``files``
    (logical path -> base64 MD5); return what is wrong (empty: nothing)."""
    from satchel import Api

    folder = ref.replace(":", "-")
    services = case.services(workdir / "check-cache" / folder, store)  # a new, empty cache
    try:
        art = Api(store, PROJECT, services=services).artifact(ref)
        root = Path(art.download(workdir / "check" / folder))
        art.verify(root)
    except Exception as exc:  # noqa: BLE001 - a lost version, reported
        return f"{type(exc).__name__}: {exc}"
    got = {
        p.relative_to(root).as_posix(): _digest(p.read_bytes())
        for p in root.rglob("*")
        if p.is_file()
    }
    if got != files:
        return f"holds {sorted(got)} with other content than committed {sorted(files)}"
    return ""


if __name__ == "__main__":
    _processes(json.loads(sys.argv[1]))
