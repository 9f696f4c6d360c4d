"""Shared pytest set-up for satchel's tests.

Everything above the marker line below is test-server infrastructure (owned with
``tests/servers/``). Other developers: append your own fixtures and hooks BELOW the
``# --- project fixtures below ---`` line, and keep the environment settings at the top,
because they must run before botocore, gcsfs or adlfs are imported.

Below the marker line: the isolation every test gets. ``satchel_env`` is autouse: for EVERY
test it points ``SATCHEL_STORE`` and ``SATCHEL_CACHE_DIR`` at fresh private folders, hides
progress bars, drops ``SATCHEL_PROJECT`` / ``SATCHEL_STORAGE_OPTIONS`` (and the download-folder
and entity variables, W&B's included) inherited from the shell, forgets runs an earlier test
left active (``satchel.run``), and makes ``tmp_path`` the working directory (so
``./artifacts/...`` downloads stay inside it). The store and cache live in their own temporary
folder, not in ``tmp_path``, so a test that checks an artifact out into ``tmp_path`` can never
delete them. The folders below mirror the package (``core/``, ``store/``, ``references/``,
``registry/``, ``cli/``, ``wandb/``) plus ``damage/`` and ``soak/``; each folder's
``conftest.py`` holds its fixtures and helpers.
"""

from __future__ import annotations

import logging
import os

# gcsfs 2026.x probes for zonal/HNS buckets and stalls ~60 s per bucket against an emulator
# unless this is off before gcsfs is imported.
os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
# Fake AWS credentials, and no probing of the network or of a developer's real profile.
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
for _name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)
# Loopback traffic must never go through a developer's proxy.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = ",".join(
    filter(None, [os.environ.get("NO_PROXY", ""), "127.0.0.1", "localhost"])
)
# moto's server logs every request through werkzeug at INFO level.
logging.getLogger("werkzeug").setLevel(logging.ERROR)

pytest_plugins = ["tests.servers.fixtures"]

# --- project fixtures below ---
# (imported after the environment above is set, on purpose)

import contextlib
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from satchel.api import Api
from satchel.runs import deactivate_all
from satchel.services import Services, local_services
from satchel.store import Store, open_store

__all__ = ["OpenLog", "SatchelEnv", "count_opens", "read_tree", "satchel_env", "write_tree"]


@dataclass(frozen=True)
class SatchelEnv:
    """The isolated folders of one test.

    Attributes:
        store: the local store folder (``$SATCHEL_STORE``).
        cache: the cache folder (``$SATCHEL_CACHE_DIR``).
        work: the working directory (the test's ``tmp_path``).
    """

    store: Path
    cache: Path
    work: Path

    def open_store(self) -> Store:
        """A fresh :class:`Store` object on the test's store folder."""
        return open_store(str(self.store))

    def services(self) -> Services:
        """A fresh dependency bundle on the test's cache and store."""
        return local_services(cache_dir=str(self.cache), store=str(self.store))

    def api(self, project: str | None = None) -> Api:
        """An :class:`Api` on the test's store."""
        return Api(str(self.store), project, cache_dir=str(self.cache))


@pytest.fixture(autouse=True)
def satchel_env(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SatchelEnv]:
    """Point satchel's store, cache and working directory at temporary folders."""
    private = tmp_path_factory.mktemp("satchel-env")
    env = SatchelEnv(store=private / "store", cache=private / "cache", work=tmp_path)
    monkeypatch.setenv("SATCHEL_STORE", str(env.store))
    monkeypatch.setenv("SATCHEL_CACHE_DIR", str(env.cache))
    monkeypatch.setenv("SATCHEL_NO_PROGRESS", "1")
    monkeypatch.delenv("SATCHEL_PROJECT", raising=False)
    monkeypatch.delenv("SATCHEL_STORAGE_OPTIONS", raising=False)
    monkeypatch.chdir(tmp_path)
    for name in (
        "SATCHEL_ARTIFACT_DIR",
        "WANDB_ARTIFACT_DIR",
        "SATCHEL_ENTITY",
        "WANDB_ENTITY",
        "WANDB_PROJECT",
    ):
        monkeypatch.delenv(name, raising=False)
    deactivate_all()  # a run another test left unfinished must not log this test's saves
    yield env
    deactivate_all()


def write_tree(root: Path | str, files: dict[str, bytes | str]) -> Path:
    """Create ``files`` (logical path -> content) below ``root``; return ``root``."""
    root = Path(root)
    for rel, content in files.items():
        p = root.joinpath(*rel.split("/"))
        p.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        p.write_bytes(data)
    return root


def read_tree(root: Path | str) -> dict[str, bytes]:
    """Every file below ``root`` as logical path -> bytes."""
    root = Path(root)
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath, name)
            out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


@dataclass
class OpenLog:
    """Files below ``root`` opened by this process while :func:`count_opens` was active."""

    root: str
    paths: list[str] = field(default_factory=list)
    threads: list[str] = field(default_factory=list)  # name of the opening thread, per path

    def opened(self, name: str) -> int:
        """How many times a path whose file name is ``name`` was opened."""
        return sum(1 for p in self.paths if os.path.basename(p) == name)


_ACTIVE: list[OpenLog] = []
_LOCK = threading.Lock()
_HOOKED: list[bool] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event != "open" or not _ACTIVE:
        return
    path = args[0]
    if isinstance(path, (str, bytes, os.PathLike)):
        text = os.fsdecode(path)
        for log in _ACTIVE:
            if text.startswith(log.root):
                with _LOCK:
                    log.paths.append(text)
                    log.threads.append(threading.current_thread().name)


@contextlib.contextmanager
def count_opens(root: Path | str) -> Iterator[OpenLog]:
    """Record every ``open`` (builtin ``open``, ``io.open``, ``os.open``) of a path below
    ``root`` made by this process, using a ``sys.addaudithook`` hook (installed once)."""
    if not _HOOKED:
        sys.addaudithook(_audit)
        _HOOKED.append(True)
    log = OpenLog(os.path.abspath(root))
    _ACTIVE.append(log)
    try:
        yield log
    finally:
        _ACTIVE.remove(log)
