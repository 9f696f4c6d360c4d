"""Azurite, Microsoft's Azure Blob Storage emulator, as a subprocess.

Azurite is an npm package pinned in ``tools/azurite/package.json`` and installed into
``tools/azurite/node_modules`` by ``tools/setup-test-env.sh``. It binds port 0 and prints
the port it got ("successfully listens on http://127.0.0.1:PORT"; ``--silent`` only turns
off the access log), so there is no race for a free port.

Azurite has no blob versioning and ignores ``?versionid=``.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

from tests.servers.process import (
    INSTALL_HINT,
    ServerStartError,
    log_tail,
    make_workdir,
    spawn,
    stop_process,
)

__all__ = [
    "ACCOUNT_KEY",
    "ACCOUNT_NAME",
    "AzureServer",
    "connection_string",
    "find_binary",
    "start_azure_server",
]

ACCOUNT_NAME = "devstoreaccount1"
"""Azurite's well-known development account."""
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
"""Azurite's well-known (public, not secret) development account key."""

_REPO_ROOT = Path(__file__).resolve().parents[2]
_DEFAULT_BINARY = _REPO_ROOT / "tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
_BINARY_ENV = "SATCHEL_AZURITE_BLOB"
_LISTENING = re.compile(rb"successfully listens on https?://[^:/\s]+:(\d+)")


@dataclass(frozen=True)
class AzureServer:
    """A running Azurite blob service.

    Attributes:
        blob_endpoint: ``http://127.0.0.1:PORT/devstoreaccount1``.
        connection_string: Connection string for the well-known development account.
        port: The TCP port it listens on.
        start_seconds: How long the start took.
    """

    blob_endpoint: str
    connection_string: str
    port: int
    start_seconds: float
    _proc: Popen[bytes] = field(repr=False)
    _workdir: Path = field(repr=False)

    @property
    def pid(self) -> int:
        """The process id of the server."""
        return self._proc.pid

    def stop(self) -> None:
        """Stop Azurite and remove its working folder. Safe to call twice."""
        stop_process(self._proc)
        shutil.rmtree(self._workdir, ignore_errors=True)


def connection_string(blob_endpoint: str) -> str:
    """Return an http connection string for Azurite's development account.

    A connection string is used because adlfs' ``account_host=`` forces https and then
    retries for about 80 s against a plain-http emulator.

    Args:
        blob_endpoint: ``http://127.0.0.1:PORT/devstoreaccount1``.
    """
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint={blob_endpoint};"
    )


def find_binary() -> Path:
    """Locate ``azurite-blob``: ``$SATCHEL_AZURITE_BLOB``, else ``tools/azurite/node_modules``.

    Returns:
        The path of the ``azurite-blob`` launcher.

    Raises:
        ServerStartError: Node.js or Azurite is not installed.
    """
    binary = Path(os.environ.get(_BINARY_ENV) or _DEFAULT_BINARY)
    if not binary.is_file():
        raise ServerStartError(
            f"Azurite is missing: {binary} does not exist. Install it (npm package "
            f"azurite@3.37.0 into tools/azurite) with `{INSTALL_HINT}`."
        )
    if shutil.which("node") is None:
        raise ServerStartError(
            "Azurite cannot run: Node.js (`node`) is not on PATH. Install Node.js 20 or "
            f"newer, then run `{INSTALL_HINT}`."
        )
    return binary


def start_azure_server(*, timeout: float = 60.0) -> AzureServer:
    """Start Azurite's blob service on 127.0.0.1 with in-memory storage.

    Args:
        timeout: Seconds to wait for Azurite to report its port (about 2 s on an idle
            2-core machine; far more when the machine is saturated).

    Returns:
        The running server; call :meth:`AzureServer.stop` when done.

    Raises:
        ServerStartError: Node.js or Azurite is missing, or Azurite did not come up.
    """
    binary = find_binary()
    began = time.monotonic()
    workdir = make_workdir("satchel-azurite-")
    log_path = workdir / "azurite.log"
    argv = [
        str(binary), "--blobHost", "127.0.0.1", "--blobPort", "0",
        "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--silent",
    ]  # fmt: skip
    proc = spawn(argv, cwd=workdir, log_path=log_path)
    deadline = began + timeout
    while time.monotonic() < deadline:
        match = _LISTENING.search(log_path.read_bytes())
        if match:
            port = int(match[1])
            endpoint = f"http://127.0.0.1:{port}/{ACCOUNT_NAME}"
            return AzureServer(
                blob_endpoint=endpoint,
                connection_string=connection_string(endpoint),
                port=port,
                start_seconds=time.monotonic() - began,
                _proc=proc,
                _workdir=workdir,
            )
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    exit_code = proc.poll()
    stop_process(proc)
    reason = (
        f"exited with code {exit_code}"
        if exit_code is not None
        else f"did not report its port within {timeout:.0f} s"
    )
    tail = log_tail(log_path)
    shutil.rmtree(workdir, ignore_errors=True)
    raise ServerStartError(f"Azurite ({binary}) {reason}. Its log: {tail}")
