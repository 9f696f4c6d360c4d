"""``s3://`` references: objects and prefixes in Amazon S3 and S3-compatible services.

What an entry records: digest = the ETag without quotes, size, ``extra["etag"]``, and
``extra["versionID"]`` when the bucket is versioned (or suspended with real version ids) or the
URI pins one with ``?versionId=``. A single-part ETag is the hex MD5 of the bytes, so those
downloads are hashed while they stream and a mismatch is an error; multipart ETags
(``<md5>-<parts>``) are not content hashes and are checked by ETag/version only.

Requests made by :meth:`S3Handler.entries`: a URI without a trailing ``/`` first costs one
``HeadObject``; when no such object exists it is a prefix, which costs one
``GetBucketVersioning`` plus one ``ListObjectVersions`` (versioned buckets) or
``ListObjectsV2`` (otherwise) request per page of 1,000 keys: ETag, size and version id come
from the listing pages, never from a request per object.

Downloads (:meth:`S3Handler.load`): a recorded version is fetched with ``VersionId`` (so a
changed object in a versioned bucket still yields the recorded bytes); without one the
``GetObject`` carries ``If-Match: <recorded ETag>``; when that fails, a version holding the
recorded ETag is looked for (versioning enabled later), else :class:`ReferenceChangedError` or
:class:`ReferenceNotFoundError` names the URI and both ETags. Objects encrypted with SSE-KMS or
SSE-C have ETags that are not MD5s; satchel cannot tell that from a listing, so such objects
fail the content check on download (known limitation; reference them with ``checksum=False``).

Why boto3 rather than s3fs: the handler needs the raw ``ListObjectsV2``/``ListObjectVersions``
pages (``IsLatest``, delete markers, version ids), conditional ``GetObject``, and botocore's
precise error codes (``NoSuchBucket`` vs ``NoSuchKey`` vs ``AccessDenied``), which s3fs folds
into ``FileNotFoundError``/``PermissionError``. The options are the s3fs keyword arguments the
store uses for the same scheme, translated to a boto3 client (see :func:`client_from_options`);
anything not given comes from boto3's standard chain (environment, profiles, instance roles,
``AWS_ENDPOINT_URL_S3``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3  # type: ignore[import-untyped]
import botocore.exceptions  # type: ignore[import-untyped]
from botocore import UNSIGNED
from botocore.config import Config  # type: ignore[import-untyped]

from satchel.errorcodes import ErrorKind, s3_kind
from satchel.errors import (
    ConfigError,
    ExternalReferenceError,
    InvalidPathError,
    ReferenceAccessError,
    ReferenceChangedError,
    ReferenceNotFoundError,
)
from satchel.handlers._common import (
    PrefixEntries,
    cached_ref,
    is_unchecked,
    md5_of_etag,
    prefix_of,
    reference_error,
    single_name,
    stream_to_cache,
    unchecked_entry,
    unchecked_name,
    unquote_etag,
)
from satchel.handlers.base import DEFAULT_MAX_OBJECTS, HandlerContext
from satchel.hashing import MD5, default_workers
from satchel.manifest import ManifestEntry

#: s3fs options that tune s3fs itself and mean nothing to reading references
_S3FS_ONLY = frozenset(
    {
        "default_block_size",
        "default_fill_cache",
        "default_cache_type",
        "version_aware",
        "cache_regions",
        "asynchronous",
        "loop",
        "skip_instance_cache",
        "use_listings_cache",
        "listings_expiry_time",
        "max_paths",
        "max_concurrency",
        "fixed_upload_size",
        "s3_additional_kwargs",
        "session",
        "username",
        "password",
        "retries",
    }
)
_NETWORK_EXC = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionError,
    botocore.exceptions.HTTPClientError,
    botocore.exceptions.IncompleteReadError,
    botocore.exceptions.ResponseStreamingError,
)
_NO_CREDENTIALS_EXC = (
    botocore.exceptions.NoCredentialsError,
    botocore.exceptions.PartialCredentialsError,
    botocore.exceptions.CredentialRetrievalError,
    botocore.exceptions.ProfileNotFound,
)
_ACCESS_HINT = (
    "check the AWS credentials (environment, profile or instance role, or "
    "satchel.configure(storage_options={'s3': {'key': ..., 'secret': ...}})); public buckets "
    "need {'s3': {'anon': True}}"
)


@dataclass(frozen=True, slots=True)
class S3Location:
    """A parsed ``s3://bucket/key[?versionId=V]``."""

    bucket: str
    key: str
    version_id: str | None = None

    @property
    def uri(self) -> str:
        """``s3://bucket/key`` (without the version)."""
        return f"s3://{self.bucket}/{self.key}"


def parse_uri(uri: str) -> S3Location:
    """Split an ``s3://`` URI into bucket, key and pinned version id.

    Only a trailing ``?versionId=<id>`` is read as a query; any other ``?`` or ``#`` is part
    of the key, as S3 allows.

    Raises:
        InvalidPathError: not an ``s3://`` URI with a bucket.
    """
    if not uri.lower().startswith("s3://"):
        raise InvalidPathError(f"{uri!r} is not an s3:// URI")
    rest = uri[5:]
    version = None
    head, sep, tail = rest.rpartition("?versionId=")
    if sep and tail and "/" not in tail:
        rest, version = head, tail
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise InvalidPathError(f"{uri!r} names no bucket; use s3://<bucket>/<key or prefix>")
    return S3Location(bucket, key, version)


def client_from_options(options: dict[str, Any], warn: Any = None) -> tuple[Any, dict[str, str]]:
    """Build a boto3 S3 client from s3fs-style options.

    Understood keys: ``key``/``aws_access_key_id``, ``secret``/``aws_secret_access_key``,
    ``token``/``aws_session_token``, ``profile``, ``anon``, ``endpoint_url``, ``region_name``,
    ``use_ssl``, ``requester_pays``, ``client_kwargs`` (passed to ``client()``) and
    ``config_kwargs`` (passed to ``botocore.config.Config``). s3fs-only tuning keys are
    ignored; any other key is reported through ``warn`` (a typo must not vanish).

    Returns:
        ``(client, extra_args)``: the client and arguments every call adds
        (``RequestPayer`` for requester-pays buckets).

    Raises:
        ConfigError: an option has the wrong type.
    """
    opts = dict(options)
    key = opts.pop("key", None) or opts.pop("aws_access_key_id", None)
    secret = opts.pop("secret", None) or opts.pop("aws_secret_access_key", None)
    token = opts.pop("token", None) or opts.pop("aws_session_token", None)
    profile = opts.pop("profile", None)
    anon = bool(opts.pop("anon", False))
    requester_pays = bool(opts.pop("requester_pays", False))
    client_kwargs = dict(opts.pop("client_kwargs", None) or {})
    config_kwargs = dict(opts.pop("config_kwargs", None) or {})
    for name in ("endpoint_url", "region_name", "use_ssl"):
        if name in opts:
            client_kwargs.setdefault(name, opts.pop(name))
    unknown = sorted(k for k in opts if k not in _S3FS_ONLY)
    if unknown and warn is not None:
        warn(f"s3 storage options {unknown} are not used by satchel's s3 reference handler")
    if not isinstance(config_kwargs, dict) or not isinstance(client_kwargs, dict):
        raise ConfigError("s3 storage options client_kwargs and config_kwargs must be objects")
    config_kwargs.setdefault("max_pool_connections", max(10, default_workers() * 2))
    if anon:
        config_kwargs["signature_version"] = UNSIGNED
    session = boto3.session.Session(
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        profile_name=profile,
    )
    client = session.client("s3", config=Config(**config_kwargs), **client_kwargs)
    extra = {"RequestPayer": "requester"} if requester_pays else {}
    return client, extra


class S3Handler:
    """Handler for ``s3://`` URIs (see the module docstring)."""

    #: objects asked for per listing request (the service's maximum is 1,000 or more)
    page_size: int = 1000

    def __init__(self, context: HandlerContext) -> None:
        """Use ``context.options("s3")`` for the client, built on first use."""
        self.context = context
        self._lock = threading.Lock()
        self._client: Any = None
        self._extra: dict[str, str] = {}

    @property
    def client(self) -> Any:
        """The boto3 S3 client (built from the options on first use; thread-safe)."""
        with self._lock:
            if self._client is None:
                try:
                    self._client, self._extra = client_from_options(
                        self.context.options("s3"), self.context.warn
                    )
                except _NO_CREDENTIALS_EXC as exc:
                    raise reference_error(
                        ErrorKind.PERMISSION, "s3://", str(exc), hint=_ACCESS_HINT
                    ) from exc
            return self._client

    # -- entries --------------------------------------------------------------------------
    def entries(
        self, uri: str, *, name: str | None, checksum: bool, max_objects: int
    ) -> list[ManifestEntry]:
        """Entries for one object, or for every object under a prefix.

        Raises:
            ReferenceNotFoundError: no such bucket, or no object and nothing under the prefix.
            ReferenceAccessError: credentials missing or refused.
            ReferenceNetworkError: the service could not be reached.
            TooManyObjectsError: more than ``max_objects`` objects under the prefix.
        """
        loc = parse_uri(uri)
        if not checksum:
            return [unchecked_entry(uri, name, unchecked_name(loc.bucket, loc.key))]
        denied: Exception | None = None
        if loc.key and not loc.key.endswith("/"):
            try:
                head = self._call("head_object", uri, **self._object_args(loc))
            except ExternalReferenceError as exc:
                if isinstance(exc, ReferenceAccessError):
                    denied = exc  # S3 answers 403 for a missing key without ListBucket
                elif loc.version_id or not isinstance(exc, ReferenceNotFoundError):
                    raise
            else:
                return [self._single_entry(loc, head, name)]
        collected = PrefixEntries(uri, prefix_of(loc.key), name, max_objects)
        try:
            for key, etag, size, version in self._list(loc.bucket, prefix_of(loc.key), uri):
                collected.add(key, etag, size, f"s3://{loc.bucket}/{key}", _extra(etag, version))
        except ReferenceAccessError as exc:
            if denied is not None:
                raise denied from exc
            raise
        if denied is not None and not collected.entries:
            raise denied
        return collected.finish()

    def _single_entry(
        self, loc: S3Location, head: dict[str, Any], name: str | None
    ) -> ManifestEntry:
        etag = unquote_etag(head["ETag"])
        version = loc.version_id or head.get("VersionId")
        return ManifestEntry(
            single_name(loc.key, name),
            etag,
            int(head["ContentLength"]),
            loc.uri,
            _extra(etag, version),
        )

    def _versioned(self, bucket: str, uri: str) -> bool:
        try:
            status = self._call("get_bucket_versioning", uri, Bucket=bucket).get("Status")
        except ExternalReferenceError as exc:
            if isinstance(exc, PermissionError):
                return False  # may list without being allowed to read the bucket's settings
            raise
        return status in ("Enabled", "Suspended")

    def _list(
        self, bucket: str, prefix: str, uri: str
    ) -> Iterator[tuple[str, str, int, str | None]]:
        """``(key, etag, size, version id)`` of every current object under ``prefix``."""
        if self._versioned(bucket, uri):
            args: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": self.page_size}
            while True:
                page = self._call("list_object_versions", uri, **args)
                for v in page.get("Versions", ()):
                    if v.get("IsLatest"):
                        yield v["Key"], unquote_etag(v["ETag"]), int(v["Size"]), v.get("VersionId")
                if not page.get("IsTruncated"):
                    return
                args["KeyMarker"] = page["NextKeyMarker"]
                args["VersionIdMarker"] = page.get("NextVersionIdMarker", "")
        args = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": self.page_size}
        while True:
            page = self._call("list_objects_v2", uri, **args)
            for o in page.get("Contents", ()):
                yield o["Key"], unquote_etag(o["ETag"]), int(o["Size"]), None
            if not page.get("IsTruncated"):
                return
            args["ContinuationToken"] = page["NextContinuationToken"]

    # -- load -----------------------------------------------------------------------------
    def load(self, entry: ManifestEntry, dest_root: str | None = None) -> list[tuple[str, str]]:
        """Fetch the entry's bytes into the cache (see the module docstring).

        Raises:
            ReferenceChangedError: unversioned object changed since it was recorded.
            ReferenceNotFoundError: the object (or its recorded version) is gone.
            DigestMismatchError: the bytes do not match the recorded MD5 or size.
            ReferenceAccessError / ReferenceNetworkError: as for :meth:`entries`.
        """
        assert entry.ref is not None
        if is_unchecked(entry):
            return self._load_unchecked(entry)
        loc = parse_uri(entry.ref)
        extra = entry.extra or {}
        etag = str(extra.get("etag") or entry.digest)
        version = extra.get("versionID") or loc.version_id
        hit = cached_ref(self.context.cache, loc.uri, version or etag, entry.size)
        if hit is not None:
            return [("", hit)]
        uri = loc.uri
        if version:
            resp = self._call(
                "get_object",
                uri,
                recorded=version,
                **self._object_args(S3Location(loc.bucket, loc.key, str(version))),
            )
            current = unquote_etag(resp["ETag"])
            if current != etag:
                resp["Body"].close()
                raise reference_error(ErrorKind.CONFLICT, uri, "", recorded=etag, current=current)
        else:
            resp = self._get_recorded(loc, etag)
        return [("", self._stream(resp, uri, version or etag, etag, entry.size))]

    def _get_recorded(self, loc: S3Location, etag: str) -> dict[str, Any]:
        """GET the object if it still has ``etag``, else a version of it that has."""
        uri = loc.uri
        try:
            resp: dict[str, Any] = self._call(
                "get_object", uri, recorded=etag, IfMatch=f'"{etag}"', **self._object_args(loc)
            )
            return resp
        except ExternalReferenceError as exc:
            if not isinstance(exc, (ReferenceNotFoundError, ReferenceChangedError)):
                raise
            version = self._version_with_etag(loc, etag)
            if version is not None:
                resp = self._call(
                    "get_object",
                    uri,
                    recorded=etag,
                    **self._object_args(S3Location(loc.bucket, loc.key, version)),
                )
                return resp
            if isinstance(exc, ReferenceNotFoundError):
                raise
            current = None
            try:
                current = unquote_etag(
                    self._call("head_object", uri, **self._object_args(loc))["ETag"]
                )
            except ExternalReferenceError:
                pass
            raise reference_error(
                ErrorKind.CONFLICT, uri, "", recorded=etag, current=current
            ) from exc

    def _version_with_etag(self, loc: S3Location, etag: str) -> str | None:
        """The id of a stored version of ``loc`` whose ETag is ``etag`` (one listing call)."""
        try:
            page = self._call(
                "list_object_versions",
                loc.uri,
                Bucket=loc.bucket,
                Prefix=loc.key,
                MaxKeys=self.page_size,
            )
        except ExternalReferenceError:
            return None
        for v in page.get("Versions", ()):
            vid = v.get("VersionId")
            # "null" is the id S3 gives objects written before versioning was enabled
            if v["Key"] == loc.key and unquote_etag(v["ETag"]) == etag and vid is not None:
                return str(vid)
        return None

    def _stream(
        self, resp: dict[str, Any], uri: str, slot: str, etag: str, size: int | None
    ) -> str:
        encrypted = resp.get("ServerSideEncryption", "").startswith("aws:kms") or resp.get(
            "SSECustomerAlgorithm"
        )
        md5 = None if encrypted else md5_of_etag(etag)
        body = resp["Body"]
        try:
            return stream_to_cache(
                self.context.cache, body, uri=uri, version=slot, md5=md5, size=size
            )
        except _NETWORK_EXC as exc:
            raise reference_error(ErrorKind.TRANSIENT, uri, str(exc)) from exc
        finally:
            body.close()

    def _load_unchecked(self, entry: ManifestEntry) -> list[tuple[str, str]]:
        """Fetch whatever the URI holds now: the object, or every object under the prefix."""
        assert entry.ref is not None
        loc = parse_uri(entry.ref)
        self.context.warn(
            f"{entry.path}: {entry.ref} was added with checksum=False; downloading what it "
            "holds now, not verified"
        )
        if loc.key and not loc.key.endswith("/"):
            try:
                resp = self._call("get_object", entry.ref, **self._object_args(loc))
            except ExternalReferenceError as exc:
                if loc.version_id or not isinstance(exc, ReferenceNotFoundError):
                    raise
            else:
                etag = unquote_etag(resp["ETag"])
                slot = loc.version_id or etag
                hit = cached_ref(self.context.cache, loc.uri, slot, int(resp["ContentLength"]))
                if hit is not None:
                    resp["Body"].close()
                    return [("", hit)]
                return [("", self._stream(resp, loc.uri, slot, etag, int(resp["ContentLength"])))]
        prefix = prefix_of(loc.key)
        listing = PrefixEntries(entry.ref, prefix, None, DEFAULT_MAX_OBJECTS)
        args: dict[str, Any] = {"Bucket": loc.bucket, "Prefix": prefix, "MaxKeys": self.page_size}
        out: list[tuple[str, str]] = []
        while True:
            page = self._call("list_objects_v2", entry.ref, **args)
            for o in page.get("Contents", ()):
                rel = listing.relative(o["Key"])
                if rel is None:
                    continue
                one = ManifestEntry(
                    rel,
                    unquote_etag(o["ETag"]),
                    int(o["Size"]),
                    f"s3://{loc.bucket}/{o['Key']}",
                    _extra(unquote_etag(o["ETag"]), None),
                )
                out.append((rel, self.load(one)[0][1]))
            if not page.get("IsTruncated"):
                break
            args["ContinuationToken"] = page["NextContinuationToken"]
        if not out:
            raise reference_error(
                ErrorKind.NOT_FOUND, entry.ref, "no object and nothing under the prefix"
            )
        return out

    def content_digest(self, entry: ManifestEntry) -> tuple[str, str] | None:
        """The MD5 of a single-part object (its ETag); ``None`` for multipart or unchecked."""
        if is_unchecked(entry):
            return None
        md5 = md5_of_etag(str((entry.extra or {}).get("etag") or entry.digest))
        return (MD5, md5) if md5 else None

    # -- calls ----------------------------------------------------------------------------
    def _object_args(self, loc: S3Location) -> dict[str, Any]:
        args: dict[str, Any] = {"Bucket": loc.bucket, "Key": loc.key}
        if loc.version_id:
            args["VersionId"] = loc.version_id
        return args

    def _call(self, op: str, uri: str, *, recorded: str | None = None, **kwargs: Any) -> Any:
        """Call ``client.<op>(**kwargs)``, translating botocore errors for ``uri``."""
        client = self.client
        if op not in ("get_bucket_versioning",):
            kwargs.update(self._extra)
        try:
            return getattr(client, op)(**kwargs)
        except botocore.exceptions.ClientError as exc:
            raise _translate(exc, uri, recorded) from exc
        except _NO_CREDENTIALS_EXC as exc:
            raise reference_error(ErrorKind.PERMISSION, uri, str(exc), hint=_ACCESS_HINT) from exc
        except _NETWORK_EXC as exc:
            raise reference_error(ErrorKind.TRANSIENT, uri, str(exc)) from exc


def _extra(etag: str, version: str | None) -> dict[str, Any]:
    extra: dict[str, Any] = {"etag": etag}
    if version and version != "null":
        extra["versionID"] = version
    return extra


def _translate(
    exc: botocore.exceptions.ClientError, uri: str, recorded: str | None
) -> ExternalReferenceError:
    """The satchel error for a botocore ``ClientError`` on ``uri``."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    detail = f"{code or status}: {error.get('Message') or 'no message'}"
    kind = s3_kind(code, status)  # the table store/s3.py reads too
    if kind is ErrorKind.OTHER:
        return ExternalReferenceError(f"S3 refused the request for {uri} ({detail}); check the URI")
    if kind is ErrorKind.PERMISSION:
        return reference_error(kind, uri, detail, hint=_ACCESS_HINT)
    return reference_error(kind, uri, detail, recorded=recorded)
