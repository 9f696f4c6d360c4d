"""moto's S3 server, run in a thread of the test process.

moto keeps every bucket in process memory, shared by all servers of the process, so
:meth:`S3Server.reset` wipes the lot; the fixtures call it between tests (each xdist
worker is its own process with its own server).

moto honours ``IfNoneMatch="*"`` and ``IfMatch=<etag>`` on ``PutObject`` (412 when they
fail) but not conditions on ``CopyObject``: don't build commits on conditional copies.
"""

from __future__ import annotations

import logging
import time
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tests.servers.process import INSTALL_HINT, ServerStartError

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

__all__ = ["REGION", "S3Server", "start_s3_server"]

REGION = "us-east-1"
"""The region buckets are created in (no ``LocationConstraint`` needed)."""


@dataclass(frozen=True)
class S3Server:
    """A running moto server.

    Attributes:
        endpoint_url: ``http://127.0.0.1:PORT``, for boto3/s3fs ``endpoint_url``.
        port: The TCP port it listens on.
        start_seconds: How long the start took, imports included.
    """

    endpoint_url: str
    port: int
    start_seconds: float
    _server: ThreadedMotoServer = field(repr=False)

    def reset(self) -> None:
        """Forget every bucket and object (moto's ``/moto-api/reset``)."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with opener.open(request, timeout=30):
            pass

    def stop(self) -> None:
        """Shut the server thread down. Safe to call twice."""
        self._server.stop()


def start_s3_server() -> S3Server:
    """Start moto's S3 server on 127.0.0.1 on a port the OS picks.

    Returns:
        The running server; call :meth:`S3Server.stop` when done.

    Raises:
        ServerStartError: moto (with its ``server`` extra) is not installed.
    """
    began = time.monotonic()
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise ServerStartError(
            f"moto's S3 server is missing ({exc}): the Python package moto[server] is not "
            f"installed. Install the test dependencies with `{INSTALL_HINT}`."
        ) from exc
    # werkzeug logs every request at INFO level.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return S3Server(f"http://{host}:{port}", port, time.monotonic() - began, server)
