"""Helpers shared by the subprocess-backed test servers (fake-gcs-server, Azurite).

A server subprocess must never outlive the test run that started it, so every child is
stopped three ways:

1. the session fixture's teardown calls :func:`stop_process`;
2. an :mod:`atexit` hook stops whatever is still registered when the interpreter exits
   (a run that crashed, or a fixture that never reached its teardown);
3. on Linux the child asks the kernel for ``SIGTERM`` when its parent dies
   (``PR_SET_PDEATHSIG``), which covers a worker killed with ``SIGKILL``.

Output goes to a log file instead of a pipe, so nobody has to keep draining a pipe and a
failed start can quote the server's own words.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = [
    "INSTALL_HINT",
    "ServerStartError",
    "free_port",
    "log_tail",
    "make_workdir",
    "spawn",
    "stop_process",
    "wait_for_http",
]

INSTALL_HINT = "bash tools/setup-test-env.sh"
"""The command that installs everything the test servers need."""

_PR_SET_PDEATHSIG = 1
_live: set[subprocess.Popen[bytes]] = set()
_live_lock = threading.Lock()


class ServerStartError(RuntimeError):
    """A test server could not be started; the message names the missing piece and the fix."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    Returns:
        The port number. Another process may take it before the caller binds it, so
        callers that spawn a server on it retry on failure.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> Callable[[], None] | None:
    """Return a ``preexec_fn`` that makes the child get SIGTERM when this thread dies.

    The kernel sends the signal when the *thread* that forked the child exits, so this is
    only used when spawning from the main thread; elsewhere it returns ``None``.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    prctl = libc.prctl

    def preexec() -> None:
        """Runs in the forked child before exec: ask for SIGTERM when the parent dies."""
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)

    return preexec


def spawn(argv: Sequence[str], *, cwd: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """Start a server subprocess that is stopped at the latest when Python exits.

    Args:
        argv: The program and its arguments.
        cwd: The working folder of the child.
        log_path: File that receives the child's stdout and stderr.

    Returns:
        The running process, in a session of its own so its whole group can be signalled.

    Raises:
        OSError: The program could not be executed.
    """
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent(),  # noqa: PLW1509 - only calls prctl, fork-safe
        )
    with _live_lock:
        _live.add(proc)
    return proc


def stop_process(proc: subprocess.Popen[bytes], *, timeout: float = 5.0) -> None:
    """Stop a process started by :func:`spawn`: SIGTERM to its group, then SIGKILL.

    Args:
        proc: The process to stop. Stopping one that already exited is a no-op.
        timeout: Seconds to wait after SIGTERM before killing.
    """
    with _live_lock:
        _live.discard(proc)
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@atexit.register
def _stop_all() -> None:
    """Stop every server subprocess still running when the interpreter exits."""
    with _live_lock:
        procs = list(_live)
    for proc in procs:
        stop_process(proc, timeout=2.0)


def make_workdir(prefix: str) -> Path:
    """Create a temporary working folder for a server, removed at exit at the latest.

    Args:
        prefix: Start of the folder's name, e.g. ``"satchel-azurite-"``.
    """
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    return workdir


def log_tail(log_path: Path, *, max_chars: int = 2000) -> str:
    """Return the end of a server's log file, or a note that there is none.

    Args:
        log_path: The log file given to :func:`spawn`.
        max_chars: How many characters to keep from the end.
    """
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return text[-max_chars:].strip() or "(empty log)"


def wait_for_http(
    url: str, proc: subprocess.Popen[bytes], *, timeout: float, interval: float = 0.02
) -> None:
    """Poll ``url`` until it answers 200 while ``proc`` keeps running.

    Args:
        url: A URL the server answers with 200 once it is ready.
        proc: The server process; its exit ends the wait early.
        timeout: Seconds to wait in all.
        interval: Seconds between attempts.

    Raises:
        ServerStartError: The process exited, or the URL did not answer 200 in time.
    """
    # No proxy: a developer's HTTP_PROXY must not swallow loopback requests.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerStartError(f"exited with code {proc.returncode} before {url} answered")
        try:
            with opener.open(url, timeout=1.0) as response:
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(interval)
    raise ServerStartError(f"{url} did not answer 200 within {timeout:.1f} s ({last_error})")
