"""Helpers of the reference tests: one :class:`Remote` per scheme, over the real test servers.

A :class:`Remote` hides how a test puts, overwrites and deletes objects on one scheme's
server and which URI names them, so ``tests/references/test_references_conformance.py`` runs the same
behaviours against ``file``, ``http``, ``s3``, ``gs`` and ``azure``. :func:`services_for`
builds an isolated :class:`Services` whose handlers use the remote's storage options and
collect warnings in a list.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from satchel.cache import Cache
from satchel.handlers import HandlerContext, HandlerRegistry
from satchel.services import Services
from tests.conftest import SatchelEnv


def b64md5(data: bytes) -> str:
    """Base64 MD5 of ``data`` (a satchel file digest)."""
    return base64.b64encode(hashlib.md5(data).digest()).decode()


@dataclass
class Remote:
    """One scheme's storage as the conformance tests see it.

    Attributes:
        scheme: the options key (``"s3"``, ``"gs"``, ...).
        versioned: a changed or deleted object keeps its recorded version readable.
        lists: prefixes can be listed (false for http).
        options: storage options per scheme for the handlers.
    """

    scheme: str
    versioned: bool = False
    lists: bool = True
    options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def uri(self, key: str) -> str:
        """The reference URI of ``key`` (a trailing ``/`` kept)."""
        raise NotImplementedError

    def put(self, key: str, data: bytes) -> None:
        """Create or overwrite object ``key``."""
        raise NotImplementedError

    def delete(self, key: str) -> None:
        """Delete object ``key``."""
        raise NotImplementedError

    def marker(self, key: str) -> None:
        """Create the directory marker of folder ``key`` (an empty ``key/`` object)."""
        self.put(key.rstrip("/") + "/", b"")


@dataclass
class FileRemote(Remote):
    """A local folder."""

    root: Path = Path()

    def uri(self, key: str) -> str:
        uri = (self.root / key).as_uri()
        return uri + "/" if key.endswith("/") else uri

    def put(self, key: str, data: bytes) -> None:
        p = self.root / key
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    def delete(self, key: str) -> None:
        (self.root / key).unlink()

    def marker(self, key: str) -> None:
        (self.root / key).mkdir(parents=True, exist_ok=True)


@dataclass
class HTTPRemote(Remote):
    """A folder served by the suite's HTTP server."""

    site: Any = None

    def uri(self, key: str) -> str:
        return str(self.site.url(key))

    def put(self, key: str, data: bytes) -> None:
        self.site.put(key, data)

    def delete(self, key: str) -> None:
        (self.site.root / key).unlink()


@dataclass
class S3Remote(Remote):
    """A bucket on moto."""

    bucket: Any = None

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket.name}/{key}"

    def put(self, key: str, data: bytes) -> None:
        self.bucket.client.put_object(Bucket=self.bucket.name, Key=key, Body=data)

    def delete(self, key: str) -> None:
        self.bucket.client.delete_object(Bucket=self.bucket.name, Key=key)


def s3_remote(bucket: Any) -> S3Remote:
    """The remote of a ``tests.servers.fixtures.S3Bucket``."""
    return S3Remote("s3", bucket.versioned, True, {"s3": bucket.storage_options}, bucket)


def services_for(
    env: SatchelEnv,
    options: dict[str, dict[str, Any]],
    *,
    cache_dir: str | Path | None = None,
) -> tuple[Services, list[str]]:
    """An isolated bundle on the test's store whose handlers use ``options``.

    Args:
        env: the test's folders.
        options: storage options per scheme.
        cache_dir: another cache folder (a "fresh machine"); default the test's cache.

    Returns:
        ``(services, warnings)``: the bundle and the list handler warnings are appended to.
    """
    base = env.services()
    cache = Cache(str(cache_dir)) if cache_dir is not None else base.cache
    warnings: list[str] = []
    lookup: Callable[[str], dict[str, Any]] = lambda scheme: dict(options.get(scheme, {}))
    handlers = HandlerRegistry(
        HandlerContext(cache=cache, options=lookup, warn=warnings.append),
        load_entry_points=False,
    )
    return dataclasses.replace(base, cache=cache, handlers=handlers), warnings


@dataclass
class GCSRemote(Remote):
    """A bucket on fake-gcs-server, written through its JSON API."""

    bucket: Any = None

    def uri(self, key: str) -> str:
        return f"gs://{self.bucket.name}/{key}"

    def put(self, key: str, data: bytes) -> None:
        gcs_put(self.bucket, key, data)

    def delete(self, key: str) -> None:
        url = f"{self.bucket.endpoint_url}/storage/v1/b/{self.bucket.name}/o/{quote(key, safe='')}"
        with requests.Session() as s:
            s.trust_env = False
            s.delete(url, timeout=30).raise_for_status()


def gcs_put(bucket: Any, key: str, data: bytes) -> dict[str, Any]:
    """Upload ``data`` as ``key`` (one media upload); return the new object resource."""
    with requests.Session() as s:
        s.trust_env = False
        r = s.post(
            f"{bucket.endpoint_url}/upload/storage/v1/b/{bucket.name}/o",
            params={"uploadType": "media", "name": key},
            data=data,
            timeout=30,
        )
        r.raise_for_status()
        item: dict[str, Any] = r.json()
        return item


def gcs_remote(bucket: Any) -> GCSRemote:
    """The remote of a ``tests.servers.fixtures.GCSBucket``."""
    return GCSRemote("gs", bucket.versioned, True, {"gs": bucket.storage_options}, bucket)


class GCSProxy(ThreadingHTTPServer):
    """A pass-through proxy in front of fake-gcs-server that can make answers look like GCS's.

    fake-gcs-server computes an MD5 for every object, composed ones included, and checks no
    credentials. Real GCS leaves ``md5Hash`` out for composite objects and answers 403 to
    refused credentials; this proxy reproduces exactly those two answers for chosen objects,
    and forwards everything else unchanged.

    Attributes:
        upstream: fake-gcs-server's URL.
        strip_md5: object names whose ``md5Hash`` (and ``md5=`` in ``X-Goog-Hash``) is removed.
        deny: substrings of request paths answered with a GCS-shaped 403.
        paths: every request path (query included) received, oldest first.
    """

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = upstream.rstrip("/")
        self.strip_md5: set[str] = set()
        self.deny: set[str] = set()
        self.paths: list[str] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        """Stop serving."""
        self.shutdown()
        self._thread.join()
        self.server_close()


class _ProxyHandler(BaseHTTPRequestHandler):
    server: GCSProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet."""

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        if any(d in self.path for d in self.server.deny):
            body = json.dumps({"error": {"code": 403, "message": "Permission denied"}}).encode()
            return self._send(403, {"Content-Type": "application/json"}, body)
        with requests.Session() as s:
            s.trust_env = False
            r = s.get(self.server.upstream + self.path, timeout=30)
        body = r.content
        headers = {
            k: v
            for k, v in r.headers.items()
            if k.lower() not in ("content-length", "transfer-encoding", "connection")
        }
        names = self.server.strip_md5
        if "json" in r.headers.get("Content-Type", "") and names:
            doc = r.json()
            for item in [doc, *doc.get("items", [])]:
                if item.get("name") in names:
                    item.pop("md5Hash", None)
            body = json.dumps(doc).encode()
        elif "X-Goog-Hash" in headers and any(
            self.path.split("?")[0].endswith("/o/" + quote(n, safe="")) for n in names
        ):
            headers["X-Goog-Hash"] = ",".join(
                p for p in headers["X-Goog-Hash"].split(",") if not p.startswith("md5=")
            )
        return self._send(r.status_code, headers, body)

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@dataclass
class AzureRemote(Remote):
    """A container on Azurite (no blob versioning there)."""

    container: Any = None

    def uri(self, key: str) -> str:
        return f"az://{self.container.name}/{key}"

    def put(self, key: str, data: bytes) -> None:
        self.container.client.upload_blob(key, data, overwrite=True)

    def delete(self, key: str) -> None:
        self.container.client.delete_blob(key)


def azure_remote(container: Any) -> AzureRemote:
    """The remote of a ``tests.servers.fixtures.AzureContainer``."""
    return AzureRemote("az", False, True, {"az": container.storage_options}, container)
