"""``http://`` and ``https://`` references: one resource per URL (HTTP cannot list a prefix).

What an entry records (one ``HEAD``, following redirects):

* a **strong ETag**: digest = the ETag without quotes, ``extra["etag"]`` = the ETag as sent;
* a **weak ETag** (``W/"..."``): digest = ``W/`` + the tag without quotes (so the artifact
  digest still changes when the server's tag does), ``extra["etag"]`` as sent, and a warning:
  a weak tag promises equivalent content, not identical bytes, so a download whose weak tag
  still matches is accepted but only byte-verified when an MD5 is known;
* **no ETag**: digest = the URL itself and a warning that changes cannot be detected;
* size = ``Content-Length``; ``extra["md5"]`` = the base64 MD5 from ``Content-MD5`` or a
  ``Digest: md5=...`` header when the server sends one. A server that sends no
  ``Content-Length`` is read once with ``GET`` to count (and hash) the bytes.

The ref is the URL as given, never the redirect target (redirects often lead to short-lived
signed URLs). A server that refuses ``HEAD`` (405, 501, or 403 as presigned S3 URLs do) is asked
with a streamed ``GET`` whose body is not read. A download ``GET``s the URL, compares the
current ETag with the recorded one (:class:`ReferenceChangedError` naming both when they
differ: a web server keeps no old versions), and hashes the bytes as they stream when an MD5
is recorded. ``checksum=False`` entries fetch whatever the URL serves now, unverified.

Options (``satchel.configure(storage_options={"https": {...}})``, key ``http`` or ``https``
by the URL's scheme): ``headers`` (e.g. an ``Authorization`` header; never written to a
manifest), ``timeout`` (seconds, or ``[connect, read]``), ``verify`` (TLS verification or a
CA bundle path), ``cert``, ``retries`` (connection and 502/503/504 retries, default 3), and
fsspec's ``client_kwargs`` (only its ``headers`` are used). Proxies, ``REQUESTS_CA_BUNDLE``
and ``.netrc`` come from requests' standard environment handling.

Why requests rather than fsspec's ``HTTPFileSystem``: fsspec turns every failure (refused,
TLS, 5xx, 403) into ``FileNotFoundError`` and hides the status; the handler must tell a
missing resource from a refused one and a network failure, and needs ``HEAD``-fallback and
redirect control.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
import threading
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from satchel import paths
from satchel.errorcodes import ErrorKind, http_kind
from satchel.errors import ExternalReferenceError
from satchel.handlers._common import (
    cached_ref,
    is_unchecked,
    reference_error,
    reject_signed_url,
    stream_to_cache,
    unchecked_entry,
    unquote_etag,
)
from satchel.handlers.base import HandlerContext
from satchel.hashing import MD5, b64, new_hasher
from satchel.manifest import NO_EXTRA, ManifestEntry

_KNOWN_OPTIONS = frozenset({"headers", "timeout", "verify", "cert", "retries", "client_kwargs"})
_HEAD_REFUSED = (403, 405, 501)
_DIGEST_MD5 = re.compile(r"(?:^|,)\s*md5=([A-Za-z0-9+/=]+)", re.IGNORECASE)
_ACCESS_HINT = (
    "if the server needs credentials, give them as headers: "
    "satchel.configure(storage_options={'https': {'headers': {'Authorization': ...}}})"
)
_CHUNK = 1 << 20


def _md5_header(headers: Any) -> str | None:
    """The base64 MD5 a response announces (``Content-MD5`` or ``Digest: md5=``)."""
    value = headers.get("Content-MD5")
    if not value:
        match = _DIGEST_MD5.search(headers.get("Digest", ""))
        value = match.group(1) if match else None
    if not value:
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return b64(raw) if len(raw) == 16 else None


def default_name(uri: str) -> str:
    """The logical path of a URL without ``name``: its last path segment, else its host."""
    parts = urlsplit(uri)
    return unquote(posixpath.basename(parts.path.rstrip("/"))) or parts.hostname or "index"


class HTTPHandler:
    """Handler for ``http://`` and ``https://`` URLs (see the module docstring)."""

    def __init__(self, context: HandlerContext) -> None:
        """Use ``context.options("http"/"https")`` for the sessions, built per thread."""
        self.context = context
        self._local = threading.local()

    # -- session --------------------------------------------------------------------------
    def _session(self, scheme: str) -> tuple[requests.Session, dict[str, Any]]:
        """This thread's session for ``scheme`` and the per-request keyword arguments."""
        cached = getattr(self._local, scheme, None)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        opts = dict(self.context.options(scheme))
        unknown = sorted(set(opts) - _KNOWN_OPTIONS)
        if unknown:
            self.context.warn(
                f"{scheme} storage options {unknown} are not used by satchel's http reference "
                f"handler (known: {sorted(_KNOWN_OPTIONS)})"
            )
        session = requests.Session()
        retries = int(opts.get("retries", 3))
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=0.2,
            status_forcelist=(502, 503, 504),
            allowed_methods=frozenset({"HEAD", "GET"}),
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        headers = dict((opts.get("client_kwargs") or {}).get("headers") or {})
        headers.update(opts.get("headers") or {})
        # identity: the cached bytes must be the resource itself, not a gzip transfer of it
        session.headers["Accept-Encoding"] = "identity"
        session.headers.update(headers)
        kwargs: dict[str, Any] = {"timeout": opts.get("timeout", (10, 60))}
        if isinstance(kwargs["timeout"], list):
            kwargs["timeout"] = tuple(kwargs["timeout"])
        for key in ("verify", "cert"):
            if key in opts:
                kwargs[key] = opts[key]
        setattr(self._local, scheme, (session, kwargs))
        return session, kwargs

    def _request(self, method: str, uri: str) -> requests.Response:
        """Send ``method`` (following redirects, streaming the body; see :meth:`_check_status`).

        Raises:
            ReferenceNetworkError: unreachable, timed out, TLS failure.
            ExternalReferenceError: too many redirects.
        """
        session, kwargs = self._session(urlsplit(uri).scheme.lower())
        try:
            resp = session.request(method, uri, allow_redirects=True, stream=True, **kwargs)
        except requests.TooManyRedirects as exc:
            raise ExternalReferenceError(
                f"{uri} redirects too often ({exc}); reference the final URL instead"
            ) from exc
        except requests.RequestException as exc:
            raise reference_error(ErrorKind.TRANSIENT, uri, f"{type(exc).__name__}: {exc}") from exc
        return resp

    def _check_status(
        self, resp: requests.Response, uri: str, *, recorded: str | None = None
    ) -> None:
        """Raise for an unsuccessful status (closing the response).

        Raises:
            ReferenceNotFoundError (404/410), ReferenceAccessError (401/403),
            ReferenceNetworkError (5xx, 408, 429), ExternalReferenceError (any other status >= 300).
        """
        status = resp.status_code
        if status < 300:
            return
        resp.close()
        detail = f"HTTP {status} {resp.reason or ''}".rstrip()
        kind = http_kind(status)
        if kind is ErrorKind.NOT_FOUND:
            raise reference_error(kind, uri, detail, recorded=recorded)
        if kind is ErrorKind.PERMISSION:
            raise reference_error(kind, uri, detail, hint=_ACCESS_HINT)
        if kind is ErrorKind.TRANSIENT:
            raise reference_error(kind, uri, detail)
        raise ExternalReferenceError(f"{uri} answered {detail}; satchel cannot read it")

    def _probe(self, uri: str) -> requests.Response:
        """The headers of ``uri``: ``HEAD``, or a streamed ``GET`` when ``HEAD`` is refused."""
        resp = self._request("HEAD", uri)
        if resp.status_code in _HEAD_REFUSED:
            resp.close()
            resp = self._request("GET", uri)
        self._check_status(resp, uri)
        return resp

    # -- entries --------------------------------------------------------------------------
    def entries(
        self, uri: str, *, name: str | None, checksum: bool, max_objects: int
    ) -> list[ManifestEntry]:
        """The single entry of a URL (see the module docstring).

        Raises:
            ReferenceNotFoundError / ReferenceAccessError / ReferenceNetworkError: the URL
                answered 404/410, 401/403, or could not be reached (or 5xx).
            InvalidPathError: the URL carries a signature (presigned URL, SAS token).
        """
        reject_signed_url(uri)
        logical = paths.normalize(name or default_name(uri))
        if not checksum:
            return [unchecked_entry(uri, name, default_name(uri))]
        resp = self._probe(uri)
        try:
            etag = resp.headers.get("ETag")
            md5 = _md5_header(resp.headers)
            length = resp.headers.get("Content-Length")
            if length is None or resp.headers.get("Content-Encoding", "identity") != "identity":
                if resp.request.method != "GET":
                    resp.close()
                    resp = self._request("GET", uri)
                    self._check_status(resp, uri)
                size, md5 = self._count(resp, uri, md5)
            else:
                size = int(length)
        finally:
            resp.close()
        extra: dict[str, Any] = {}
        if md5:
            extra["md5"] = md5
        if etag:
            extra["etag"] = etag
            digest = unquote_etag(etag)
            if digest.startswith("W/"):
                self.context.warn(
                    f"{uri} sends a weak ETag ({etag}): changes are detected, but identical "
                    "bytes cannot be proven" + ("" if md5 else " (the server sends no MD5)")
                )
        else:
            digest = uri
            self.context.warn(
                f"{uri} sends no ETag: satchel cannot tell if its content changes"
                + (
                    "; downloads are checked against its Content-MD5"
                    if md5
                    else ", so downloads of it cannot be verified"
                )
            )
        return [ManifestEntry(logical, digest, size, uri, extra or NO_EXTRA)]

    def _count(self, resp: requests.Response, uri: str, md5: str | None) -> tuple[int, str]:
        """Read a body without ``Content-Length`` once: its size and MD5."""
        hasher = new_hasher(MD5)
        size = 0
        try:
            for chunk in resp.raw.stream(_CHUNK, decode_content=False):
                hasher.update(chunk)
                size += len(chunk)
        except (requests.RequestException, OSError) as exc:
            raise reference_error(ErrorKind.TRANSIENT, uri, str(exc)) from exc
        return size, md5 or b64(hasher.digest())

    # -- load -----------------------------------------------------------------------------
    def load(self, entry: ManifestEntry, dest_root: str | None = None) -> list[tuple[str, str]]:
        """Fetch the URL's bytes into the cache, checking ETag and MD5 where recorded.

        Raises:
            ReferenceChangedError: the ETag differs from the recorded one.
            ReferenceNotFoundError: 404/410.
            DigestMismatchError: the bytes do not match the recorded MD5 or size.
        """
        assert entry.ref is not None
        uri = entry.ref
        extra = entry.extra or {}
        recorded = extra.get("etag")
        md5 = extra.get("md5")
        unchecked = is_unchecked(entry)
        slot = None if unchecked else (recorded or md5)
        if slot is not None:
            hit = cached_ref(self.context.cache, uri, slot, entry.size)
            if hit is not None:
                return [("", hit)]
        resp = self._request("GET", uri)
        try:
            self._check_status(resp, uri, recorded=recorded)
            current = resp.headers.get("ETag")
            if recorded and not _same_etag(recorded, current):
                raise reference_error(
                    ErrorKind.CONFLICT, uri, "", recorded=recorded, current=current or "none"
                )
            if unchecked or not (recorded and not recorded.startswith("W/")) and not md5:
                self.context.warn(
                    f"{entry.path}: {uri} "
                    + (
                        "was added with checksum=False"
                        if unchecked
                        else "has no strong ETag or MD5"
                    )
                    + "; downloaded what it serves now, not verified"
                )
            size = None if unchecked else entry.size
            if unchecked:
                slot = current or ""
            path = stream_to_cache(
                self.context.cache,
                _RawBody(resp, uri),
                uri=uri,
                version=slot,
                md5=md5,
                size=size,
            )
        finally:
            resp.close()
        return [("", path)]

    def content_digest(self, entry: ManifestEntry) -> tuple[str, str] | None:
        """The MD5 the server announced (``Content-MD5``/``Digest``), else ``None``."""
        md5 = (entry.extra or {}).get("md5")
        if is_unchecked(entry) or not md5:
            return None
        return (MD5, str(md5))


def _same_etag(recorded: str, current: str | None) -> bool:
    """Strong tags must match exactly; a weak recorded tag matches weakly (RFC 9110)."""
    if current is None:
        return False
    if recorded.startswith("W/"):
        return recorded.removeprefix("W/") == current.removeprefix("W/")
    return recorded == current


class _RawBody:
    """A ``read(n)`` view of a streamed response body that reports network failures."""

    def __init__(self, resp: requests.Response, uri: str) -> None:
        self._resp = resp
        self._uri = uri

    def read(self, n: int = -1) -> bytes:
        try:
            data: bytes = self._resp.raw.read(n if n > 0 else None, decode_content=False)
        except (requests.RequestException, OSError) as exc:
            raise reference_error(ErrorKind.TRANSIENT, self._uri, str(exc)) from exc
        return data
