"""Azure Blob Storage references: ``az://``, ``abfs://`` and ``https://<account>.blob...`` URLs.

URI forms: ``az://<container>/<blob or prefix>`` and ``abfs://<container>/<...>`` (the account
comes from the options or the environment; ``abfs://<container>@<account>.dfs.core.windows.net/
<...>`` names it), and ``https://<account>.blob.core.windows.net/<container>/<...>`` (recognised
by its host in the registry). A trailing ``?versionid=<id>`` pins a blob version.

What an entry records: digest = the ETag without quotes, size, ``extra["etag"]`` (the same),
``extra["md5"]`` = the base64 ``Content-MD5`` when the blob has one (single-shot uploads do;
block-list uploads usually do not), and ``extra["versionID"]`` when the account keeps blob
versions (or the URI pins one). Listing a prefix costs one ``List Blobs`` request per page of
1,000 blobs, which carries the ETag, size, Content-MD5 and version id of each blob; a URI
without a trailing ``/`` first costs one ``Get Blob Properties``. ADLS Gen2 directory markers
(zero-byte blobs with metadata ``hdi_isfolder=true``) are skipped.

Downloads (:meth:`AzureHandler.load`): a recorded version is read with ``versionid`` (so a
changed blob in a versioned account still yields the recorded bytes); otherwise the download
carries ``If-Match: <recorded ETag>``, and a refusal becomes :class:`ReferenceChangedError`
naming both ETags (or :class:`ReferenceNotFoundError` when the blob is gone). With a recorded
Content-MD5 the bytes are hashed as they stream and a mismatch is an error.

Why the Azure SDK directly rather than adlfs: the handler needs the raw ``List Blobs`` pages
(Content-MD5 and version ids), conditional downloads, and the service's error codes
(``ContainerNotFound`` vs ``BlobNotFound`` vs ``AuthenticationFailed``), which adlfs folds into
``FileNotFoundError``. The options use adlfs's names so one dict serves the store and the
references: ``connection_string``, ``account_name``, ``account_key``, ``sas_token``,
``credential``, ``anon``, ``account_host`` (a custom blob host), ``client_id`` /
``client_secret`` / ``tenant_id`` (a service principal), plus ``client_kwargs`` passed to
``BlobServiceClient`` (for example ``retry_total`` or ``connection_timeout``). Unset values come
from ``AZURE_STORAGE_CONNECTION_STRING``, ``AZURE_STORAGE_ACCOUNT_NAME``,
``AZURE_STORAGE_ACCOUNT_KEY``, ``AZURE_STORAGE_SAS_TOKEN`` and, failing those,
``DefaultAzureCredential`` (azure-identity's standard chain).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
)
from azure.storage.blob import BlobServiceClient

from satchel.errorcodes import ErrorKind, azure_kind
from satchel.errors import ExternalReferenceError, InvalidPathError, ReferenceNotFoundError
from satchel.handlers._common import (
    PrefixEntries,
    cached_ref,
    is_unchecked,
    prefix_of,
    reference_error,
    reject_signed_url,
    single_name,
    stream_to_cache,
    unchecked_entry,
    unchecked_name,
    unquote_etag,
)
from satchel.handlers.base import DEFAULT_MAX_OBJECTS, HandlerContext
from satchel.hashing import MD5, b64
from satchel.manifest import ManifestEntry

_BLOB_HOST = ".blob.core.windows.net"
_USED = frozenset(
    {
        "connection_string",
        "account_name",
        "account_key",
        "sas_token",
        "credential",
        "anon",
        "account_host",
        "client_id",
        "client_secret",
        "tenant_id",
        "client_kwargs",
    }
)
#: adlfs options that tune adlfs itself and mean nothing to reading references
_ADLFS_ONLY = frozenset(
    {
        "blocksize",
        "socket_timeout",
        "request_session",
        "default_fill_cache",
        "default_cache_type",
        "version_aware",
        "assume_container_exists",
        "max_concurrency",
        "timeout",
        "connection_timeout",
        "read_timeout",
        "skip_instance_cache",
        "use_listings_cache",
        "listings_expiry_time",
        "asynchronous",
        "loop",
        "location_mode",
    }
)
_ACCESS_HINT = (
    "check the Azure credentials (AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT_KEY, "
    "a SAS token, azure-identity's chain, or satchel.configure(storage_options={'az': {...}}))"
)


@dataclass(frozen=True, slots=True)
class AzureLocation:
    """A parsed Azure blob URI.

    Attributes:
        style: ``"az"``, ``"abfs"`` or ``"https"`` (how refs of listed blobs are written).
        account_url: ``https://<account>.blob...`` when the URI names the account, else ``None``.
        container: the container.
        blob: the blob name or prefix (``""`` for the container root).
        version_id: a pinned version.
        netloc: the URI's host part, kept to write refs in the same form.
    """

    style: str
    account_url: str | None
    container: str
    blob: str
    version_id: str | None = None
    netloc: str = ""

    def ref(self, blob: str | None = None) -> str:
        """The URI of ``blob`` (default: this location's blob) in the same form, unpinned."""
        name = self.blob if blob is None else blob
        if self.style == "https":
            return f"https://{self.netloc}/{self.container}/{quote(name, safe='/~')}"
        return f"{self.style}://{self.netloc}/{name}"


def parse_uri(uri: str) -> AzureLocation:
    """Parse ``az://``, ``abfs://`` or ``https://<account>.blob.core.windows.net`` URIs.

    Raises:
        InvalidPathError: no container, or not an Azure blob URI.
    """
    version = None
    head, sep, tail = uri.rpartition("?")
    if sep and tail.lower().startswith("versionid=") and "/" not in tail:
        uri, version = head, tail.split("=", 1)[1] or None
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == "https":
        host = parts.netloc
        if not (parts.hostname or "").endswith(_BLOB_HOST):
            raise InvalidPathError(f"{uri!r} is not an Azure blob URL (<account>{_BLOB_HOST})")
        container, _, blob = unquote(parts.path).lstrip("/").partition("/")
        if not container:
            raise InvalidPathError(f"{uri!r} names no container")
        return AzureLocation("https", f"https://{host}", container, blob, version, host)
    if scheme not in ("az", "abfs", "abfss"):
        raise InvalidPathError(f"{uri!r} is not an az:// or abfs:// URI")
    rest = uri.split("://", 1)[1]
    netloc, _, blob = rest.partition("/")
    account_url = None
    container = netloc
    if "@" in netloc:  # abfs://container@account.dfs.core.windows.net/path
        container, _, host = netloc.partition("@")
        account_url = f"https://{host.split('.', 1)[0]}{_BLOB_HOST}"
    if not container:
        raise InvalidPathError(f"{uri!r} names no container; use {scheme}://<container>/<blob>")
    return AzureLocation(scheme, account_url, container, blob, version, netloc)


class AzureHandler:
    """Handler for Azure blob URIs (see the module docstring)."""

    #: objects asked for per listing request (the service's maximum is 1,000 or more)
    page_size: int = 1000

    def __init__(self, context: HandlerContext) -> None:
        """Use ``context.options`` of ``az``, ``abfs`` and ``azure`` (merged in that order)."""
        self.context = context
        self._lock = threading.Lock()
        self._services: dict[str | None, BlobServiceClient] = {}
        self._warned = False

    # -- clients --------------------------------------------------------------------------
    def _options(self) -> dict[str, Any]:
        opts = {
            **self.context.options("az"),
            **self.context.options("abfs"),
            **self.context.options("azure"),
        }
        unknown = sorted(set(opts) - _USED - _ADLFS_ONLY)
        if unknown and not self._warned:
            self._warned = True
            self.context.warn(
                f"azure storage options {unknown} are not used by satchel's azure reference handler"
            )
        return opts

    def service(self, account_url: str | None) -> BlobServiceClient:
        """The ``BlobServiceClient`` for ``account_url`` (``None``: the configured account).

        Raises:
            ReferenceAccessError: no account is configured for an ``az://`` URI.
        """
        with self._lock:
            client = self._services.get(account_url)
            if client is None:
                client = self._build(account_url)
                self._services[account_url] = client
            return client

    def _build(self, account_url: str | None) -> BlobServiceClient:
        opts = self._options()
        env = os.environ
        kwargs = dict(opts.get("client_kwargs") or {})
        conn = opts.get("connection_string") or env.get("AZURE_STORAGE_CONNECTION_STRING")
        name = opts.get("account_name") or env.get("AZURE_STORAGE_ACCOUNT_NAME")
        if conn and (account_url is None or _names_account(conn, account_url)):
            return BlobServiceClient.from_connection_string(conn, **kwargs)
        if account_url is None:
            host = opts.get("account_host")
            if host:
                account_url = host if "://" in host else f"https://{host}"
            elif name:
                account_url = f"https://{name}{_BLOB_HOST}"
            else:
                raise reference_error(
                    ErrorKind.PERMISSION,
                    "az://",
                    "no storage account configured",
                    hint="set {'az': {'account_name': ...}} or AZURE_STORAGE_CONNECTION_STRING",
                )
        return BlobServiceClient(account_url, credential=self._credential(opts, name), **kwargs)

    def _credential(self, opts: dict[str, Any], name: str | None) -> Any:
        env = os.environ
        if opts.get("anon"):
            return None
        if opts.get("credential") is not None:
            return opts["credential"]
        key = opts.get("account_key") or env.get("AZURE_STORAGE_ACCOUNT_KEY")
        if key:
            return {"account_name": name, "account_key": key} if name else key
        sas = opts.get("sas_token") or env.get("AZURE_STORAGE_SAS_TOKEN")
        if sas:
            return sas
        try:
            from azure import identity
        except ImportError:
            return None
        if opts.get("client_id") and opts.get("client_secret") and opts.get("tenant_id"):
            return identity.ClientSecretCredential(
                opts["tenant_id"], opts["client_id"], opts["client_secret"]
            )
        return identity.DefaultAzureCredential()

    def _container(self, loc: AzureLocation) -> Any:
        return self.service(loc.account_url).get_container_client(loc.container)

    def _call(
        self, uri: str, fn: Any, *args: Any, recorded: str | None = None, **kwargs: Any
    ) -> Any:
        """Run an SDK call, translating Azure errors for ``uri``."""
        try:
            return fn(*args, **kwargs)
        except AzureError as exc:
            raise _translate(exc, uri, recorded) from exc

    # -- entries --------------------------------------------------------------------------
    def entries(
        self, uri: str, *, name: str | None, checksum: bool, max_objects: int
    ) -> list[ManifestEntry]:
        """Entries for one blob, or for every blob under a prefix.

        Raises:
            ReferenceNotFoundError: no such container, or no blob and nothing under the prefix.
            ReferenceAccessError / ReferenceNetworkError: refused, or unreachable.
            TooManyObjectsError: more than ``max_objects`` blobs under the prefix.
            InvalidPathError: the URL carries a SAS token.
        """
        reject_signed_url(uri)
        loc = parse_uri(uri)
        if not checksum:
            return [unchecked_entry(uri, name, unchecked_name(loc.container, loc.blob))]
        container = self._container(loc)
        if loc.blob and not loc.blob.endswith("/"):
            try:
                props = self._call(
                    uri,
                    container.get_blob_client(loc.blob).get_blob_properties,
                    version_id=loc.version_id,
                )
            except ReferenceNotFoundError:
                if loc.version_id:
                    raise
            else:
                if is_folder_marker(props):  # an ADLS Gen2 directory: its blobs, not itself
                    return self._prefix_entries(container, loc, uri, name, max_objects)
                digest, extra = _facts(props, loc.version_id)
                return [
                    ManifestEntry(
                        single_name(loc.blob, name), digest, int(props.size), loc.ref(), extra
                    )
                ]
        return self._prefix_entries(container, loc, uri, name, max_objects)

    def _prefix_entries(
        self, container: Any, loc: Any, uri: str, name: str | None, max_objects: int
    ) -> list[ManifestEntry]:
        collected = PrefixEntries(uri, prefix_of(loc.blob), name, max_objects)
        for props in self._list(container, prefix_of(loc.blob), uri):
            digest, extra = _facts(props, None)
            collected.add(props.name, digest, int(props.size), loc.ref(props.name), extra)
        return collected.finish()

    def _list(self, container: Any, prefix: str, uri: str) -> Iterator[Any]:
        """The blobs under ``prefix``, without ADLS Gen2 directory markers (see
        :func:`is_folder_marker`); metadata comes with the listing, so this costs no request
        per blob."""
        pages = container.list_blobs(
            name_starts_with=prefix or None,
            results_per_page=self.page_size,
            include=["metadata"],
        )
        try:
            for page in pages.by_page():
                yield from (props for props in page if not is_folder_marker(props))
        except AzureError as exc:
            raise _translate(exc, uri, None, listing=True) from exc

    # -- load -----------------------------------------------------------------------------
    def load(self, entry: ManifestEntry, dest_root: str | None = None) -> list[tuple[str, str]]:
        """Fetch the blob (at its recorded version, or if it still has its ETag) into the cache.

        Raises:
            ReferenceChangedError: unversioned blob changed since it was recorded.
            ReferenceNotFoundError: the blob (or its recorded version) is gone.
            DigestMismatchError: the bytes do not match the recorded Content-MD5 or size.
        """
        assert entry.ref is not None
        if is_unchecked(entry):
            return self._load_unchecked(entry)
        loc = parse_uri(entry.ref)
        extra = entry.extra or {}
        etag = str(extra.get("etag") or entry.digest)
        version = extra.get("versionID") or loc.version_id
        uri = loc.ref()
        hit = cached_ref(self.context.cache, uri, version or etag, entry.size)
        if hit is not None:
            return [("", hit)]
        blob = self._container(loc).get_blob_client(loc.blob)
        if version:
            stream = self._call(uri, blob.download_blob, recorded=version, version_id=version)
        else:
            try:
                stream = self._call(
                    uri,
                    blob.download_blob,
                    recorded=etag,
                    etag=f'"{etag}"',
                    match_condition=MatchConditions.IfNotModified,
                )
            except ExternalReferenceError as exc:
                if isinstance(exc, ReferenceNotFoundError):
                    raise
                current = None
                try:
                    current = unquote_etag(self._call(uri, blob.get_blob_properties).etag)
                except ReferenceNotFoundError as gone:  # If-Match on a missing blob is a 412
                    raise reference_error(
                        ErrorKind.NOT_FOUND,
                        uri,
                        str(gone.__cause__ or gone).splitlines()[0],
                        recorded=etag,
                    ) from exc
                except ExternalReferenceError:
                    pass
                if current is None or current == etag:
                    raise
                raise reference_error(
                    ErrorKind.CONFLICT, uri, "", recorded=etag, current=current
                ) from exc
        current = unquote_etag(stream.properties.etag)
        if current != etag:  # a version's ETag never changes: anything else is not our blob
            raise reference_error(ErrorKind.CONFLICT, uri, "", recorded=etag, current=current)
        md5 = extra.get("md5")
        return [("", self._stream(stream, uri, str(version or etag), md5, entry.size))]

    def _stream(self, stream: Any, uri: str, slot: str, md5: Any, size: int | None) -> str:
        try:
            return stream_to_cache(
                self.context.cache,
                _Reader(stream, uri),
                uri=uri,
                version=slot,
                md5=str(md5) if md5 else None,
                size=size,
            )
        except AzureError as exc:
            raise _translate(exc, uri, None) from exc

    def _load_unchecked(self, entry: ManifestEntry) -> list[tuple[str, str]]:
        """Fetch whatever the URI holds now: the blob, or every blob under the prefix."""
        assert entry.ref is not None
        loc = parse_uri(entry.ref)
        self.context.warn(
            f"{entry.path}: {entry.ref} was added with checksum=False; downloading what it "
            "holds now, not verified"
        )
        container = self._container(loc)
        if loc.blob and not loc.blob.endswith("/"):
            try:
                stream = self._call(
                    entry.ref,
                    container.get_blob_client(loc.blob).download_blob,
                    version_id=loc.version_id,
                )
            except ReferenceNotFoundError:
                if loc.version_id:
                    raise
            else:
                if not is_folder_marker(stream.properties):
                    slot = loc.version_id or unquote_etag(stream.properties.etag)
                    return [("", self._stream(stream, loc.ref(), slot, None, None))]
        listing = PrefixEntries(entry.ref, prefix_of(loc.blob), None, DEFAULT_MAX_OBJECTS)
        out = []
        for props in self._list(container, prefix_of(loc.blob), entry.ref):
            rel = listing.relative(props.name)
            if rel is None:
                continue
            digest, extra = _facts(props, None)
            one = ManifestEntry(rel, digest, int(props.size), loc.ref(props.name), extra)
            out.append((rel, self.load(one)[0][1]))
        if not out:
            raise ReferenceNotFoundError(
                f"reference {entry.ref} no longer exists: no blob and nothing under the prefix"
            )
        return out

    def content_digest(self, entry: ManifestEntry) -> tuple[str, str] | None:
        """The recorded Content-MD5, else ``None``."""
        md5 = (entry.extra or {}).get("md5")
        if is_unchecked(entry) or not md5:
            return None
        return (MD5, str(md5))


def _names_account(connection_string: str, account_url: str) -> bool:
    """Whether a connection string is for the account of ``account_url``."""
    fields = dict(part.split("=", 1) for part in connection_string.split(";") if "=" in part)
    endpoint = fields.get("BlobEndpoint", "").rstrip("/")
    name = fields.get("AccountName", "")
    return (bool(endpoint) and endpoint == account_url.rstrip("/")) or (
        bool(name) and urlsplit(account_url).hostname == f"{name}{_BLOB_HOST}"
    )


def is_folder_marker(props: Any) -> bool:
    """Whether a blob is a directory marker: on storage accounts with a hierarchical namespace
    (ADLS Gen2) every directory is also a zero-byte blob with metadata ``hdi_isfolder=true``,
    named like the directory (no trailing ``/``). Markers are skipped like ``key/`` markers on
    other schemes, as W&B's azure handler does."""
    metadata = getattr(props, "metadata", None) or {}
    return str(metadata.get("hdi_isfolder", "")).lower() == "true"


def _facts(props: Any, pinned: str | None) -> tuple[str, dict[str, Any]]:
    """``(digest, extra)`` of a blob's properties."""
    etag = unquote_etag(str(props.etag))
    extra: dict[str, Any] = {"etag": etag}
    md5 = getattr(props.content_settings, "content_md5", None)
    if md5:
        extra["md5"] = b64(bytes(md5))
    version = pinned or getattr(props, "version_id", None)
    if version:
        extra["versionID"] = str(version)
    return etag, extra


def _translate(
    exc: AzureError, uri: str, recorded: str | None, *, listing: bool = False
) -> ExternalReferenceError:
    """The satchel error for an Azure SDK error on ``uri``."""
    code = str(getattr(exc, "error_code", None) or "")
    status = int(getattr(exc, "status_code", None) or 0)
    message = str(getattr(exc, "reason", None) or exc).splitlines()[0]
    detail = f"{code or status or type(exc).__name__}: {message}"
    kind = azure_kind(code, status, type(exc).__name__)  # the table store/azure.py reads too
    if kind is ErrorKind.NOT_FOUND and listing:  # a listing of a container that is not there
        kind = ErrorKind.BUCKET_MISSING
    if kind is ErrorKind.OTHER and isinstance(exc, HttpResponseError) and status == 0:
        kind = ErrorKind.TRANSIENT  # no answer at all
    if kind is ErrorKind.PERMISSION:
        return reference_error(kind, uri, detail, hint=_ACCESS_HINT)
    if kind is not ErrorKind.OTHER:
        return reference_error(kind, uri, detail, recorded=recorded)
    return ExternalReferenceError(f"Azure refused the request for {uri} ({detail})")


class _Reader:
    """``read(n)`` over a ``StorageStreamDownloader``."""

    def __init__(self, stream: Any, uri: str) -> None:
        self._stream = stream
        self._uri = uri

    def read(self, n: int = -1) -> bytes:
        data: bytes = self._stream.read(n if n > 0 else -1)
        return data
