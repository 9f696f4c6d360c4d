"""Store types for the conformance suite, and the multi-process workers it drives.

``store_case`` (imported by the test modules that use it) gives each test a fresh, empty store
of one type: ``local`` (a folder), ``memory`` (``memory://``), ``s3`` (moto), ``gcs``
(fake-gcs-server) and ``azure`` (Azurite), each below a ``team`` prefix.

Workers run in real processes: :func:`run_workers` starts ONE Python process
(``python -m tests.store.conftest SPEC``) that imports everything once and then ``fork``\\ s one
child per job, so a job costs a fork (milliseconds), not an interpreter start with s3fs, gcsfs
and adlfs imports (1-2 s each). The parent never opens a filesystem before forking, so no
event-loop thread is duplicated. ``memory://`` lives inside one process, so its jobs run as
threads of the test process instead.

The crash jobs wrap the real backend in :class:`KillSwitch`, which delegates every call and
SIGKILLs its own process at a named step of the commit protocol (a deliberate test hook: the
library has none). ``memory://`` jobs raise :class:`SimulatedCrash` there instead.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from satchel.artifact import Artifact
from satchel.services import Services, local_services
from satchel.store import Store, open_store
from satchel.store.backend import StoreBackend

PROJECT = "conf"
STORE_KINDS = ("local", "memory", "s3", "gcs", "azure")
REPO = Path(__file__).resolve().parents[2]

#: named steps of the commit protocol where a crash job dies
STEPS = ("upload", "after-manifest", "before-record", "after-record")


@dataclass(frozen=True)
class StoreCase:
    """One store to test: where it is and how to open it (in this or another process)."""

    kind: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)

    def open(self, wrap: Callable[[StoreBackend], StoreBackend] | None = None) -> Store:
        """A fresh :class:`Store` object on the store (optionally with a wrapped backend)."""
        store = open_store(self.url, storage_options=self.options or None)
        return Store(wrap(store.backend)) if wrap is not None else store

    def services(self, cache_dir: Path | str, store: Store | None = None) -> Services:
        """Services with their own cache folder, on this store."""
        return local_services(cache_dir=str(cache_dir), store=store or self.open())

    @property
    def in_process(self) -> bool:
        """True for stores other processes cannot see (``memory://``)."""
        return self.kind == "memory"

    def spec(self) -> dict[str, Any]:
        """JSON-able description, for a worker process."""
        return {"kind": self.kind, "url": self.url, "options": self.options}


def _case(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> Iterator[StoreCase]:
    if kind == "local":
        yield StoreCase(kind, str(tmp_path / "store"))
    elif kind == "memory":
        root = f"memory://satchel-{uuid.uuid4().hex[:12]}"
        yield StoreCase(kind, f"{root}/team")
        import fsspec

        fs = fsspec.filesystem("memory")
        if fs.exists(root):
            fs.rm(root, recursive=True)
    else:
        bucket = request.getfixturevalue(
            {"s3": "s3_bucket", "gcs": "gcs_bucket", "azure": "azure_container"}[kind]
        )
        yield StoreCase(kind, f"{bucket.url}/team", dict(bucket.storage_options))


@pytest.fixture(
    name="store_case",
    params=[
        pytest.param("local"),
        pytest.param("memory"),
        pytest.param("s3", marks=pytest.mark.s3),
        pytest.param("gcs", marks=pytest.mark.gcs),
        pytest.param("azure", marks=pytest.mark.azure),
    ],
)
def store_case_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreCase]:
    """``store_case``: a fresh, empty store of each type, below a ``team`` prefix.

    Import ``store_case_fixture`` into a test module to use it."""
    yield from _case(request, request.param, tmp_path)


@pytest.fixture(
    name="quick_store_case",
    params=[
        pytest.param("local"),
        pytest.param("memory"),
        pytest.param("s3", marks=pytest.mark.s3),
    ],
)
def quick_store_case_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreCase]:
    """``quick_store_case``: a fresh store on local disk, ``memory://`` and S3 only, for tests of
    logic above the backend (the conformance suite covers every backend)."""
    yield from _case(request, request.param, tmp_path)


def overwrite(store: Store, key: str, data: bytes) -> None:
    """Replace the bytes at ``key`` behind satchel's back (to damage a store on purpose)."""
    local = store.backend.local_path(key)
    if local is not None:
        if os.path.exists(local):
            os.chmod(local, 0o644)
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        Path(local).write_bytes(data)
    else:
        backend: Any = store.backend
        backend.fs.pipe_file(backend.path(key), data)


# --- content ------------------------------------------------------------------------------


def md5_b64(data: bytes) -> str:
    """The W&B-style digest of ``data``."""
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def writer_files(writer: int, commit: int) -> dict[str, bytes]:
    """The distinct content writer ``writer`` commits as its ``commit``-th version."""
    return {
        f"w{writer}/c{commit}.txt": f"writer {writer} commit {commit}\n".encode(),
        "shared.txt": f"last written by {writer}/{commit}\n".encode(),
    }


def crash_files(iteration: int) -> dict[str, bytes]:
    """The content of crash job ``iteration``: four files, one of 256 KiB."""
    seed = hashlib.sha256(f"crash {iteration}".encode()).digest()
    files = {f"part-{i}.bin": seed * (64 * (i + 1)) + bytes([i]) for i in range(3)}
    files["big.bin"] = seed * 8192 + str(iteration).encode()
    return files


def commit_files(
    services: Services,
    name: str,
    files: dict[str, bytes],
    metadata: dict[str, Any],
    aliases: tuple[str, ...] = (),
) -> Artifact:
    """Commit ``files`` as the next version of ``PROJECT/name``."""
    art = Artifact(name, "dataset", metadata=metadata, services=services)
    for path, data in files.items():
        with art.new_file(path, mode="wb") as f:
            f.write(data)
    return art.save(PROJECT, aliases=list(aliases))


# --- crash hook ---------------------------------------------------------------------------


class SimulatedCrash(BaseException):
    """Raised by :class:`KillSwitch` in-process (``memory://``) where a process would die."""


class KillSwitch:
    """A backend that delegates everything and dies at one named step of a commit.

    Args:
        inner: the real backend.
        step: one of :data:`STEPS`.
        nth: for ``upload``, die when the ``nth`` object upload starts (others may be in
            flight; there are four).
        hard: SIGKILL the process (else raise :class:`SimulatedCrash`).
    """

    def __init__(self, inner: StoreBackend, step: str, nth: int = 1, *, hard: bool = True) -> None:
        self._inner = inner
        self._step = step
        self._nth = nth
        self._hard = hard
        self._uploads = 0
        self._lock = threading.Lock()
        self.url = inner.url

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _die(self) -> None:
        if self._hard:
            os.kill(os.getpid(), signal.SIGKILL)
        raise SimulatedCrash(self._step)

    def put_file(self, key: str, local_path: str) -> None:
        self._upload_starts()
        self._inner.put_file(key, local_path)

    def move_file(self, key: str, local_path: str) -> None:
        """A local store takes over a cache file (``LocalBackend.move_file``); other stores
        upload it (``BackendDefaults.move_file``)."""
        self._upload_starts()
        self._inner.move_file(key, local_path)

    def _upload_starts(self) -> None:
        with self._lock:
            self._uploads += 1
            due = self._step == "upload" and self._uploads == self._nth
        if due:
            self._die()

    def create_if_absent(self, key: str, data: bytes) -> bool:
        is_record = "/versions/" in key and key.endswith(".json") and ".attrs." not in key
        if is_record and self._step == "before-record":
            self._die()
        created = self._inner.create_if_absent(key, data)
        if key.startswith("manifests/") and self._step == "after-manifest":
            self._die()
        if is_record and created and self._step == "after-record":
            self._die()
        return created


# --- jobs ---------------------------------------------------------------------------------


def job_commits(case: StoreCase, cache: str, writer: int, commits: int) -> None:
    """Commit ``commits`` distinct versions of ``race`` as writer ``writer``."""
    services = case.services(cache)
    for k in range(commits):
        commit_files(services, "race", writer_files(writer, k), {"writer": writer, "commit": k})


def job_edits(case: StoreCase, cache: str, writer: int, edits: int, versions: int) -> None:
    """Add tags to ``edits:v0`` and move aliases, ``edits`` times, as writer ``writer``."""
    from satchel.api import Api

    services = case.services(cache)
    api = Api(services.store, PROJECT, services=services)
    for k in range(edits):
        art = api.artifact("edits:v0")
        art.tags = [*art.tags, f"w{writer}-e{k}"]
        art.metadata = {**art.metadata, f"w{writer}": k}
        art.save()
        target = (writer + k) % versions
        store = services.require_store()
        store.set_alias(PROJECT, "edits", "hot", target)
        store.set_alias(PROJECT, "edits", f"own-{writer}", target)


def job_crash(
    case: StoreCase, cache: str, iteration: int, step: str, nth: int, timer: float
) -> None:
    """Commit crash content while dying at ``step`` (or, with ``timer`` > 0, at a random time)."""
    hard = not case.in_process
    if timer > 0:
        threading.Timer(timer, lambda: os.kill(os.getpid(), signal.SIGKILL)).start()
        store = case.open()
    else:
        store = case.open(lambda b: KillSwitch(b, step, nth, hard=hard))  # type: ignore[arg-type,return-value]
    services = case.services(cache, store)
    commit_files(services, "crash", crash_files(iteration), {"iteration": iteration})


def job_upsert(
    case: StoreCase, cache: str, run_name: str, group: str, files: dict[str, str]
) -> None:
    """Start a run in ``group`` and upsert a ``collab`` part holding ``files``."""
    import satchel

    services = case.services(cache)
    with satchel.init(project=PROJECT, group=group, name=run_name, services=services) as run:
        art = Artifact("collab", "dataset", services=services)
        for path, text in files.items():
            with art.new_file(path, mode="w") as f:
                f.write(text)
        run.upsert_artifact(art)


JOBS: dict[str, Callable[..., None]] = {
    "commits": job_commits,
    "edits": job_edits,
    "crash": job_crash,
    "upsert": job_upsert,
}


@dataclass(frozen=True)
class JobResult:
    """How one job ended: ``exit`` code, or the ``signal`` that killed it."""

    exit: int | None
    signal: int | None
    error: str = ""


def run_workers(
    case: StoreCase,
    jobs: list[tuple[str, list[Any]]],
    *,
    at_once: int | None = None,
    timeout: float = 240,
) -> list[JobResult]:
    """Run ``(job name, args)`` jobs, each in its own process (threads for ``memory://``).

    Args:
        case: the store.
        jobs: job names from :data:`JOBS` and their arguments after ``case``.
        at_once: how many jobs run at the same time (default: all).
        timeout: seconds for the whole batch.
    """
    at_once = at_once or len(jobs)
    if case.in_process:
        return _run_threads(case, jobs, at_once)
    spec = {"case": case.spec(), "jobs": jobs, "at_once": at_once}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.store.conftest", json.dumps(spec)],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise AssertionError(f"worker process failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return [JobResult(**r) for r in json.loads(proc.stdout.strip().splitlines()[-1])]


def _run_threads(
    case: StoreCase, jobs: list[tuple[str, list[Any]]], at_once: int
) -> list[JobResult]:
    results: list[JobResult | None] = [None] * len(jobs)

    def one(i: int) -> None:
        name, args = jobs[i]
        try:
            JOBS[name](case, *args)
            results[i] = JobResult(0, None)
        except SimulatedCrash:
            results[i] = JobResult(None, int(signal.SIGKILL))
        except BaseException:  # noqa: BLE001 - reported to the test
            results[i] = JobResult(1, None, traceback.format_exc())

    for start in range(0, len(jobs), at_once):
        threads = [
            threading.Thread(target=one, args=(i,))
            for i in range(start, min(len(jobs), start + at_once))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return [r for r in results if r is not None]


def _main(spec_json: str) -> None:
    spec = json.loads(spec_json)
    case = StoreCase(**spec["case"])
    results: list[dict[str, Any]] = []
    pending: dict[int, int] = {}
    errors: dict[int, str] = {}

    def start(i: int, name: str, args: list[Any]) -> int:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            os.close(r)
            code = 0
            try:
                JOBS[name](case, *args)
            except BaseException:  # noqa: BLE001 - reported through the pipe
                os.write(w, traceback.format_exc().encode()[-8000:])
                code = 1
            os.close(w)
            os._exit(code)
        os.close(w)
        pending[pid] = i
        errors[i] = ""
        readers[pid] = r
        return pid

    def reap() -> None:
        pid, status = os.wait()
        i = pending.pop(pid)
        with os.fdopen(readers.pop(pid), "rb") as f:
            errors[i] = f.read().decode(errors="replace")
        if os.WIFSIGNALED(status):
            results[i] = {"exit": None, "signal": os.WTERMSIG(status), "error": errors[i]}
        else:
            results[i] = {"exit": os.WEXITSTATUS(status), "signal": None, "error": errors[i]}

    readers: dict[int, int] = {}
    results = [{} for _ in spec["jobs"]]
    for i, (name, args) in enumerate(spec["jobs"]):
        if len(pending) >= spec["at_once"]:
            reap()
        start(i, name, args)
    while pending:
        reap()
    print(json.dumps(results))


if __name__ == "__main__":
    _main(sys.argv[1])
