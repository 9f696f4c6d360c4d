"""``gs://`` (and ``gcs://``) references: objects and prefixes in Google Cloud Storage.

What an entry records: digest = ``md5Hash`` (base64) when the object has one, otherwise its
``crc32c`` (composite objects have no MD5); size; ``extra["etag"]``, ``extra["versionID"]`` =
the object's generation (every GCS object has one), and ``extra["crc32c"]``. A URI ending in
``#<generation>`` pins that generation.

Requests made by :meth:`GCSHandler.entries`: a URI without a trailing ``/`` costs one object
``GET`` (metadata); when no such object exists it is a prefix, which costs one listing request
per page of 1,000 objects, with md5Hash, crc32c, etag, size and generation taken from the
listing itself.

Downloads (:meth:`GCSHandler.load`) read ``alt=media`` at the recorded generation, so a
versioned bucket still yields the recorded bytes after the object changed or was deleted.
When the generation is gone (an unversioned bucket overwrote or deleted the object), one
metadata ``GET`` tells :class:`ReferenceChangedError` (naming the recorded and current ETag
and generation) from :class:`ReferenceNotFoundError`. The bytes are hashed as they stream:
MD5 when recorded, else CRC32C (with ``google-crc32c``), and a mismatch is an error.

Why the JSON API over requests rather than gcsfs: the handler needs the raw listing pages,
the error status and message (a missing bucket from a missing object, 403 from 401 from a
network failure), and its own retry policy; gcsfs folds 404s into ``FileNotFoundError`` and
retries a refused connection for ~30 s with no way to turn that down. Credentials come from
google-auth, using gcsfs's option names so one options dict serves the store and the
references: ``token`` (``None``: the standard chain, i.e. ``GOOGLE_APPLICATION_CREDENTIALS``,
gcloud, the metadata server, falling back to anonymous; ``"anon"``; ``"google_default"``;
``"cloud"``; a path to a service-account or authorized-user JSON file; such a JSON as a dict;
or a google-auth ``Credentials`` object), ``project``, ``endpoint_url`` (default
``$STORAGE_EMULATOR_HOST``, else Google's endpoint; an emulator endpoint means anonymous
unless a token is given), ``requester_pays`` (``True``: bill ``project``; or a project id), plus
``retries`` (default 3) and ``timeout`` / ``requests_timeout`` (seconds).
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from satchel.errorcodes import ErrorKind, gcs_kind
from satchel.errors import ExternalReferenceError, InvalidPathError, ReferenceNotFoundError
from satchel.handlers._common import (
    PrefixEntries,
    cached_ref,
    is_unchecked,
    prefix_of,
    reference_error,
    single_name,
    stream_to_cache,
    unchecked_entry,
    unchecked_name,
)
from satchel.handlers.base import DEFAULT_MAX_OBJECTS, HandlerContext
from satchel.hashing import MD5
from satchel.manifest import ManifestEntry

_GOOGLE = "https://storage.googleapis.com"
_READ_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
_CHUNK = 1 << 20
_USED = frozenset(
    {
        "token",
        "project",
        "endpoint_url",
        "requester_pays",
        "retries",
        "timeout",
        "requests_timeout",
    }
)
#: gcsfs options that tune gcsfs itself and mean nothing to reading references
_GCSFS_ONLY = frozenset(
    {
        "access",
        "consistency",
        "cache_timeout",
        "secure_serialize",
        "check_connection",
        "block_size",
        "session_kwargs",
        "default_location",
        "version_aware",
        "on_google",
        "skip_instance_cache",
        "use_listings_cache",
        "listings_expiry_time",
        "asynchronous",
        "loop",
        "timeout_in_seconds",
    }
)
_ACCESS_HINT = (
    "check the Google credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud, or "
    "satchel.configure(storage_options={'gs': {'token': ...}})); public buckets need "
    "{'gs': {'token': 'anon'}}"
)


@dataclass(frozen=True, slots=True)
class GCSLocation:
    """A parsed ``gs://bucket/key[#generation]``."""

    bucket: str
    key: str
    generation: str | None = None

    @property
    def uri(self) -> str:
        """``gs://bucket/key`` (without the generation)."""
        return f"gs://{self.bucket}/{self.key}"


def parse_uri(uri: str) -> GCSLocation:
    """Split a ``gs://`` / ``gcs://`` URI into bucket, key and pinned generation.

    Only a trailing ``#<digits>`` is read as a generation; any other ``#`` belongs to the key.

    Raises:
        InvalidPathError: not a ``gs://`` URI with a bucket.
    """
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme.lower() not in ("gs", "gcs"):
        raise InvalidPathError(f"{uri!r} is not a gs:// URI")
    generation = None
    head, hsep, tail = rest.rpartition("#")
    if hsep and tail.isdigit():
        rest, generation = head, tail
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise InvalidPathError(f"{uri!r} names no bucket; use gs://<bucket>/<key or prefix>")
    return GCSLocation(bucket, key, generation)


def _credentials(token: Any, project: str | None) -> tuple[Any, str | None]:
    """google-auth credentials (or ``None`` for anonymous) and the project they belong to."""
    import google.auth
    import google.auth.exceptions

    if token == "anon":
        return None, project
    if token is None:
        try:
            creds, found = google.auth.default(scopes=[_READ_SCOPE])
        except google.auth.exceptions.DefaultCredentialsError:
            return None, project  # public buckets still work; a refusal says what to do
        return creds, project or found
    if token == "google_default":
        creds, found = google.auth.default(scopes=[_READ_SCOPE])
        return creds, project or found
    if token == "cloud":
        from google.auth import compute_engine

        return compute_engine.Credentials(), project  # type: ignore[no-untyped-call]
    if isinstance(token, dict):
        load = google.auth.load_credentials_from_dict
        creds, found = load(token, scopes=[_READ_SCOPE])  # type: ignore[no-untyped-call]
        return creds, project or found
    if isinstance(token, (str, os.PathLike)):
        creds, found = google.auth.load_credentials_from_file(
            os.fspath(token), scopes=[_READ_SCOPE]
        )  # type: ignore[no-untyped-call]
        return creds, project or found
    return token, project  # a google-auth Credentials object


class GCSHandler:
    """Handler for ``gs://`` and ``gcs://`` URIs (see the module docstring)."""

    #: objects asked for per listing request (the service's maximum is 1,000 or more)
    page_size: int = 1000

    def __init__(self, context: HandlerContext) -> None:
        """Use ``context.options("gcs")`` merged with ``context.options("gs")``."""
        self.context = context
        self._lock = threading.Lock()
        self._local = threading.local()
        self._setup: tuple[Any, str, dict[str, str], Any] | None = None

    # -- session --------------------------------------------------------------------------
    def _configure(self) -> tuple[Any, str, dict[str, str], Any]:
        """``(credentials, api base, extra query params, timeout)``, resolved once."""
        with self._lock:
            if self._setup is not None:
                return self._setup
            opts = {**self.context.options("gcs"), **self.context.options("gs")}
            unknown = sorted(set(opts) - _USED - _GCSFS_ONLY)
            if unknown:
                self.context.warn(
                    f"gs storage options {unknown} are not used by satchel's gs reference handler"
                )
            emulator = os.environ.get("STORAGE_EMULATOR_HOST", "")
            endpoint = opts.get("endpoint_url") or (
                emulator if emulator not in ("", "default") else _GOOGLE
            )
            if "://" not in endpoint:
                endpoint = f"http://{endpoint}"
            token = opts.get("token")
            if token is None and endpoint.rstrip("/") != _GOOGLE:
                token = "anon"  # emulators take no credentials
            try:
                creds, project = _credentials(token, opts.get("project"))
            except Exception as exc:  # google-auth raises many kinds; all mean "no usable creds"
                raise reference_error(
                    ErrorKind.PERMISSION, "gs://", f"{type(exc).__name__}: {exc}", hint=_ACCESS_HINT
                ) from exc
            params: dict[str, str] = {}
            payer = opts.get("requester_pays")
            if payer:
                billed = payer if isinstance(payer, str) else project
                if not billed:
                    raise reference_error(
                        ErrorKind.PERMISSION,
                        "gs://",
                        "requester_pays needs a project to bill",
                        hint="set {'gs': {'project': ...}}",
                    )
                params["userProject"] = billed
            timeout = opts.get("timeout", opts.get("requests_timeout", (10, 60)))
            self._setup = (
                (creds, opts.get("retries", 3)),
                endpoint.rstrip("/") + "/storage/v1",
                params,
                tuple(timeout) if isinstance(timeout, list) else timeout,
            )
            return self._setup

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is not None:
            return session  # type: ignore[no-any-return]
        (creds, retries), _base, _params, _timeout = self._configure()
        if creds is None:
            session = requests.Session()
        else:
            from google.auth.transport.requests import AuthorizedSession

            session = AuthorizedSession(creds)  # type: ignore[no-untyped-call]
        retry = Retry(
            total=int(retries),
            connect=int(retries),
            read=int(retries),
            status=int(retries),
            backoff_factor=0.2,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"GET"}),
            raise_on_status=False,
        )
        session.mount("http://", HTTPAdapter(max_retries=retry))
        session.mount("https://", HTTPAdapter(max_retries=retry))
        session.headers["Accept-Encoding"] = (
            "identity"  # cache the stored bytes, not a gzip of them
        )
        self._local.session = session
        return session

    def _get(
        self, uri: str, path: str, *, stream: bool = False, **params: str | None
    ) -> requests.Response:
        """GET ``<api>/<path>``; network failures become :class:`ReferenceNetworkError`."""
        _creds, base, extra, timeout = self._configure()
        query = {**extra, **{k: v for k, v in params.items() if v is not None}}
        try:
            return self._session().get(
                f"{base}/{path}", params=query, stream=stream, timeout=timeout
            )
        except requests.RequestException as exc:
            raise reference_error(ErrorKind.TRANSIENT, uri, f"{type(exc).__name__}: {exc}") from exc

    def _fail(
        self,
        resp: requests.Response,
        uri: str,
        *,
        listing: bool = False,
        recorded: str | None = None,
    ) -> ExternalReferenceError:
        """The satchel error for a failed response."""
        resp.close()
        status = resp.status_code
        try:
            message = resp.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = resp.reason or ""
        detail = f"HTTP {status}: {message}".rstrip(": ")
        kind = gcs_kind(status)  # the table store/gcs.py reads too
        if kind is ErrorKind.NOT_FOUND:
            kind = ErrorKind.BUCKET_MISSING if listing else ErrorKind.NOT_FOUND
            return reference_error(kind, uri, detail, recorded=recorded)
        if kind is ErrorKind.PERMISSION:
            return reference_error(kind, uri, detail, hint=_ACCESS_HINT)
        if status == 400 and "requester pays" in str(message).lower():
            return reference_error(
                ErrorKind.PERMISSION,
                uri,
                detail,
                hint="the bucket is requester-pays: set {'gs': {'requester_pays': True, "
                "'project': <project to bill>}}",
            )
        if kind is ErrorKind.TRANSIENT:
            return reference_error(kind, uri, detail)
        return ExternalReferenceError(f"Cloud Storage refused the request for {uri} ({detail})")

    def _metadata(self, loc: GCSLocation, uri: str) -> dict[str, Any] | None:
        """The object's resource, or ``None`` when it (or its generation) does not exist."""
        resp = self._get(uri, f"b/{_q(loc.bucket)}/o/{_q(loc.key)}", generation=loc.generation)
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise self._fail(resp, uri)
        item: dict[str, Any] = resp.json()
        return item

    def _list(self, bucket: str, prefix: str, uri: str) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            resp = self._get(
                uri,
                f"b/{_q(bucket)}/o",
                prefix=prefix or None,
                pageToken=token,
                maxResults=str(self.page_size),
            )
            if resp.status_code != 200:
                raise self._fail(resp, uri, listing=True)
            page = resp.json()
            yield from page.get("items", ())
            token = page.get("nextPageToken")
            if not token:
                return

    # -- entries --------------------------------------------------------------------------
    def entries(
        self, uri: str, *, name: str | None, checksum: bool, max_objects: int
    ) -> list[ManifestEntry]:
        """Entries for one object, or for every object under a prefix.

        Raises:
            ReferenceNotFoundError: no such bucket, or no object and nothing under the prefix.
            ReferenceAccessError / ReferenceNetworkError: refused, or unreachable.
            TooManyObjectsError: more than ``max_objects`` objects under the prefix.
        """
        loc = parse_uri(uri)
        if not checksum:
            return [unchecked_entry(uri, name, unchecked_name(loc.bucket, loc.key))]
        if loc.key and not loc.key.endswith("/"):
            item = self._metadata(loc, uri)
            if item is not None:
                digest, extra = _facts(item)
                return [
                    ManifestEntry(
                        single_name(loc.key, name), digest, int(item["size"]), loc.uri, extra
                    )
                ]
            if loc.generation:
                raise reference_error(
                    ErrorKind.NOT_FOUND, uri, f"generation {loc.generation} does not exist"
                )
        collected = PrefixEntries(uri, prefix_of(loc.key), name, max_objects)
        for item in self._list(loc.bucket, prefix_of(loc.key), uri):
            digest, extra = _facts(item)
            collected.add(
                item["name"], digest, int(item["size"]), f"gs://{loc.bucket}/{item['name']}", extra
            )
        return collected.finish()

    # -- load -----------------------------------------------------------------------------
    def load(self, entry: ManifestEntry, dest_root: str | None = None) -> list[tuple[str, str]]:
        """Fetch the recorded generation into the cache, verifying MD5 or CRC32C.

        Raises:
            ReferenceChangedError: the recorded generation is gone and the object changed.
            ReferenceNotFoundError: the object is gone.
            DigestMismatchError: the bytes do not match the recorded checksum or size.
        """
        assert entry.ref is not None
        if is_unchecked(entry):
            return self._load_unchecked(entry)
        loc = parse_uri(entry.ref)
        extra = entry.extra or {}
        generation = str(extra.get("versionID") or loc.generation or "") or None
        etag = str(extra.get("etag") or "")
        if generation is None:  # a manifest written elsewhere: take the current generation
            item = self._metadata(loc, loc.uri)
            if item is None:
                raise reference_error(ErrorKind.NOT_FOUND, loc.uri, "HTTP 404", recorded=etag)
            if etag and item.get("etag") != etag:
                raise reference_error(
                    ErrorKind.CONFLICT, loc.uri, "", recorded=etag, current=item.get("etag")
                )
            generation = str(item["generation"])
        hit = cached_ref(self.context.cache, loc.uri, generation, entry.size)
        if hit is not None:
            return [("", hit)]
        pinned = GCSLocation(loc.bucket, loc.key, generation)
        resp = self._get(loc.uri, _media(pinned), stream=True, alt="media", generation=generation)
        if resp.status_code == 404:
            resp.close()
            current = self._metadata(GCSLocation(loc.bucket, loc.key), loc.uri)
            was = f"{etag} (generation {generation})"
            if current is None:
                raise reference_error(ErrorKind.NOT_FOUND, loc.uri, "HTTP 404", recorded=was)
            raise reference_error(
                ErrorKind.CONFLICT,
                loc.uri,
                "",
                recorded=was,
                current=f"{current.get('etag')} (generation {current.get('generation')})",
            )
        if resp.status_code != 200:
            raise self._fail(resp, loc.uri)
        md5, crc = _content_hashes(entry)
        return [("", self._stream(resp, loc.uri, generation, md5, crc, entry.size))]

    def _stream(
        self,
        resp: requests.Response,
        uri: str,
        generation: str,
        md5: str | None,
        crc: str | None,
        size: int | None,
    ) -> str:
        check = _crc32c_check(crc) if md5 is None and crc else None
        try:
            return stream_to_cache(
                self.context.cache,
                _Body(resp, uri),
                uri=uri,
                version=generation,
                md5=md5,
                size=size,
                extra_check=check,
            )
        finally:
            resp.close()

    def _load_unchecked(self, entry: ManifestEntry) -> list[tuple[str, str]]:
        """Fetch whatever the URI holds now: the object, or every object under the prefix."""
        assert entry.ref is not None
        loc = parse_uri(entry.ref)
        self.context.warn(
            f"{entry.path}: {entry.ref} was added with checksum=False; downloading what it "
            "holds now, not verified"
        )
        if loc.key and not loc.key.endswith("/"):
            item = self._metadata(loc, entry.ref)
            if item is not None:
                return [("", self._fetch_current(loc.bucket, item, entry.ref))]
            if loc.generation:
                raise reference_error(ErrorKind.NOT_FOUND, entry.ref, "HTTP 404")
        listing = PrefixEntries(entry.ref, prefix_of(loc.key), None, DEFAULT_MAX_OBJECTS)
        out = []
        for item in self._list(loc.bucket, prefix_of(loc.key), entry.ref):
            rel = listing.relative(item["name"])
            if rel is not None:
                out.append((rel, self._fetch_current(loc.bucket, item, entry.ref)))
        if not out:
            raise ReferenceNotFoundError(
                f"reference {entry.ref} no longer exists: no object and nothing under the prefix"
            )
        return out

    def _fetch_current(self, bucket: str, item: dict[str, Any], uri: str) -> str:
        digest, extra = _facts(item)
        one = ManifestEntry("x", digest, int(item["size"]), f"gs://{bucket}/{item['name']}", extra)
        return self.load(one)[0][1]

    def content_digest(self, entry: ManifestEntry) -> tuple[str, str] | None:
        """The recorded MD5 (``None`` for composite objects and unchecked entries)."""
        if is_unchecked(entry):
            return None
        md5, _crc = _content_hashes(entry)
        return (MD5, md5) if md5 else None


def _q(part: str) -> str:
    return quote(part, safe="")


def _media(loc: GCSLocation) -> str:
    return f"b/{_q(loc.bucket)}/o/{_q(loc.key)}"


def _facts(item: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(digest, extra)`` of a GCS object resource."""
    md5 = item.get("md5Hash")
    crc = item.get("crc32c")
    extra: dict[str, Any] = {"etag": item.get("etag"), "versionID": str(item["generation"])}
    if crc:
        extra["crc32c"] = crc
    digest = md5 or crc
    if not digest:  # neither checksum: fall back on the etag, which still changes with content
        digest = str(item.get("etag"))
    return str(digest), {k: v for k, v in extra.items() if v is not None}


def _content_hashes(entry: ManifestEntry) -> tuple[str | None, str | None]:
    """``(md5, crc32c)`` recorded for an entry: the digest is an MD5 when it is 16 bytes."""
    crc = (entry.extra or {}).get("crc32c")
    try:
        raw = base64.b64decode(entry.digest, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    md5 = entry.digest if len(raw) == 16 else None
    return md5, (str(crc) if crc else None)


def _crc32c_check(expected: str) -> tuple[Any, Any] | None:
    """``(update, mismatch)`` checking a base64 big-endian CRC32C, when google-crc32c exists."""
    try:
        import google_crc32c
    except ImportError:
        return None
    checksum = google_crc32c.Checksum()  # type: ignore[no-untyped-call]

    def mismatch() -> str | None:
        got = base64.b64encode(checksum.digest()).decode()  # type: ignore[no-untyped-call]
        return None if got == expected else f"crc32c is {got}, expected {expected}"

    return checksum.update, mismatch


class _Body:
    """``read(n)`` over a streamed media response; network failures are translated."""

    def __init__(self, resp: requests.Response, uri: str) -> None:
        self._resp = resp
        self._uri = uri

    def read(self, n: int = -1) -> bytes:
        try:
            data: bytes = self._resp.raw.read(n if n > 0 else _CHUNK, decode_content=False)
        except (requests.RequestException, OSError) as exc:
            raise reference_error(ErrorKind.TRANSIENT, self._uri, str(exc)) from exc
        return data
