"""A small HTTP file server whose validators and misbehaviours tests control.

:class:`FileServer` serves the files below a folder with what satchel's HTTP handler
relies on: a strong ``ETag`` (the quoted hex MD5 of the content), ``Content-Length``,
``Last-Modified``, single byte ranges (206/416), ``If-Match`` (412) and ``If-None-Match``
(304). Each URL path can be given a :class:`PathBehaviour` at run time through
``server.behaviours[path]`` to send a weak or no ETag, add ``Content-MD5``, redirect,
refuse ``HEAD`` with 405, answer with an error status, or serve other bytes than the
file's. It never logs to stderr.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import html
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal

__all__ = ["FileServer", "PathBehaviour", "RequestRecord", "start_http_server"]

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass(frozen=True)
class PathBehaviour:
    """How the server answers for one URL path.

    Attributes:
        etag: ``"strong"`` sends ``"<md5>"``, ``"weak"`` sends ``W/"<md5>"``, ``"none"``
            sends no ETag (and ``If-Match`` then only matches ``*``).
        etag_value: Send this ETag (quoted, as it goes on the wire) instead of the one
            computed from the content; e.g. the old ETag of content that changed.
        content_md5: Send ``Content-MD5`` (base64 of the MD5 of the content).
        redirect_to: Answer ``redirect_status`` with this ``Location`` (a path on this
            server or an absolute URL) instead of content.
        redirect_status: The status used for ``redirect_to``.
        refuse_head: Answer ``HEAD`` with 405 Method Not Allowed.
        body: Serve these bytes instead of the file's (content changed on the server);
            the path does not need to exist on disk.
        status: Answer every request with this status and no content (e.g. 500, 403).
    """

    etag: Literal["strong", "weak", "none"] = "strong"
    etag_value: str | None = None
    content_md5: bool = False
    redirect_to: str | None = None
    redirect_status: int = 302
    refuse_head: bool = False
    body: bytes | None = None
    status: int | None = None


@dataclass(frozen=True)
class RequestRecord:
    """One request the server received.

    Attributes:
        method: ``GET`` or ``HEAD`` (or whatever was sent).
        path: The decoded URL path, query left out.
        headers: The request headers, names lower-cased.
    """

    method: str
    path: str
    headers: dict[str, str]


_DEFAULT = PathBehaviour()


class FileServer(ThreadingHTTPServer):
    """Serves ``root`` on 127.0.0.1; see the module docstring for what it does.

    Attributes:
        root: The folder served; URL ``/a/b`` is file ``root/a/b``.
        behaviours: URL path (decoded, starting with ``/``) to its :class:`PathBehaviour`;
            paths not in it get the default (strong ETag, no ``Content-MD5``).
        requests: Every request received, oldest first.
    """

    daemon_threads = True

    def __init__(self, root: Path) -> None:
        """Bind a free port on 127.0.0.1; call :meth:`start` to serve.

        Args:
            root: The folder to serve.
        """
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root.resolve()
        self.behaviours: dict[str, PathBehaviour] = {}
        self.requests: list[RequestRecord] = []
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, without a trailing slash."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def behaviour(self, path: str) -> PathBehaviour:
        """Return the behaviour for a decoded URL path."""
        return self.behaviours.get(path, _DEFAULT)

    def start(self) -> None:
        """Serve requests in a daemon thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="satchel-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket. Safe to call twice."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
            self.server_close()

    def handle_error(self, request: object, client_address: object) -> None:
        """Stay quiet when a client hangs up early (the default prints a traceback)."""


class _Handler(BaseHTTPRequestHandler):
    """Answers GET and HEAD for :class:`FileServer`."""

    server: FileServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Log nothing: the suite's output stays readable."""

    def do_GET(self) -> None:
        """Answer a GET."""
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        """Answer a HEAD."""
        self._answer(send_body=False)

    def _answer(self, *, send_body: bool) -> None:
        """Record the request, apply the path's behaviour, then serve, 304, 206 or 412."""
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.requests.append(RequestRecord(self.command, path, headers))
        rule = self.server.behaviour(path)
        if rule.status is not None:
            return self._empty(rule.status)
        if not send_body and rule.refuse_head:
            return self._empty(HTTPStatus.METHOD_NOT_ALLOWED, {"Allow": "GET"})
        if rule.redirect_to is not None:
            location = urllib.parse.urljoin(self.server.url + path, rule.redirect_to)
            return self._empty(rule.redirect_status, {"Location": location})
        content, modified, content_type = self._content(path, rule)
        if content is None:
            return self._empty(HTTPStatus.NOT_FOUND)
        etag = _etag(content, rule)
        validators = {"Last-Modified": email.utils.formatdate(modified, usegmt=True)}
        if etag is not None:
            validators["ETag"] = etag
        if not _if_match(self.headers.get("If-Match"), etag):
            return self._empty(HTTPStatus.PRECONDITION_FAILED)
        if _if_none_match(self.headers.get("If-None-Match"), etag):
            return self._empty(HTTPStatus.NOT_MODIFIED, validators, length=False)
        headers = {"Accept-Ranges": "bytes", **validators}
        if rule.content_md5:
            headers["Content-MD5"] = base64.b64encode(hashlib.md5(content).digest()).decode()
        status, part = HTTPStatus.OK, content
        wanted = _byte_range(self.headers.get("Range"), len(content))
        if wanted is not None and _if_range(self.headers.get("If-Range"), etag):
            if wanted == "unsatisfiable":
                return self._empty(
                    HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                    {"Content-Range": f"bytes */{len(content)}"},
                )
            start, stop = wanted
            status, part = HTTPStatus.PARTIAL_CONTENT, content[start:stop]
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{len(content)}"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(part)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if send_body:
            self.wfile.write(part)

    def _content(self, path: str, rule: PathBehaviour) -> tuple[bytes | None, float, str]:
        """Return the bytes to serve for ``path``, their modification time and type."""
        binary = "application/octet-stream"
        if rule.body is not None:
            return rule.body, time.time(), binary
        target = (self.server.root / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.server.root):
            return None, 0.0, binary
        try:
            if target.is_dir():
                return _listing(target), target.stat().st_mtime, "text/html; charset=utf-8"
            return target.read_bytes(), target.stat().st_mtime, binary
        except OSError:
            return None, 0.0, binary

    def _empty(
        self, status: int, headers: dict[str, str] | None = None, *, length: bool = True
    ) -> None:
        """Send a response without content (``length=False`` leaves out Content-Length)."""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if length:
            self.send_header("Content-Length", "0")
        self.end_headers()


def _etag(content: bytes, rule: PathBehaviour) -> str | None:
    """Return the ETag header value the rule asks for, or None for no ETag."""
    if rule.etag_value is not None:
        return rule.etag_value
    if rule.etag == "none":
        return None
    tag = f'"{hashlib.md5(content).hexdigest()}"'
    return "W/" + tag if rule.etag == "weak" else tag


def _tags(header: str) -> list[str]:
    """Split an If-Match / If-None-Match header into its entity tags."""
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def _if_match(header: str | None, etag: str | None) -> bool:
    """RFC 9110 If-Match: strong comparison; ``*`` matches any current representation."""
    if header is None:
        return True
    tags = _tags(header)
    if "*" in tags:
        return True
    return etag is not None and not etag.startswith("W/") and etag in tags


def _if_none_match(header: str | None, etag: str | None) -> bool:
    """RFC 9110 If-None-Match: True when it matches (weak comparison), i.e. answer 304."""
    if header is None:
        return False
    tags = _tags(header)
    if "*" in tags:
        return True
    if etag is None:
        return False
    return etag.removeprefix("W/") in {tag.removeprefix("W/") for tag in tags}


def _if_range(header: str | None, etag: str | None) -> bool:
    """True when a Range may be honoured: no If-Range, or it names the current strong ETag."""
    return header is None or (etag is not None and not etag.startswith("W/") and header == etag)


def _byte_range(header: str | None, size: int) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """Parse a single-range ``Range`` header into ``(start, stop)``, stop exclusive.

    Returns None when there is no usable single range (the whole content is served).
    """
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None or not (match[1] or match[2]):
        return None
    if not match[1]:  # suffix range: the last N bytes
        length = int(match[2])
        return (max(size - length, 0), size) if length else "unsatisfiable"
    start = int(match[1])
    stop = min(int(match[2]) + 1, size) if match[2] else size
    if match[2] and int(match[2]) < start:
        return None
    return (start, stop) if start < size else "unsatisfiable"


def _listing(folder: Path) -> bytes:
    """Return an HTML page linking to a folder's entries (fsspec's ``ls`` reads links)."""
    links = "".join(
        f'<a href="{urllib.parse.quote(child.name)}{"/" if child.is_dir() else ""}">'
        f"{html.escape(child.name)}</a>\n"
        for child in sorted(folder.iterdir())
    )
    return f"<html><body>\n{links}</body></html>\n".encode()


def start_http_server(root: Path) -> FileServer:
    """Start a :class:`FileServer` for ``root`` on a free port of 127.0.0.1.

    Args:
        root: The folder to serve.

    Returns:
        The running server; call :meth:`FileServer.stop` when done.
    """
    server = FileServer(root)
    server.start()
    return server
