"""What the bucket handlers (s3, gs, azure) and the http handler share.

* **Prefix semantics.** :class:`PrefixEntries` turns listed keys into entries the same way on
  every scheme: a prefix ``foo`` lists ``foo/...`` and never ``foobar/...``; entry paths are
  relative to the prefix, under ``name`` when given; keys ending in ``/`` (directory markers)
  are skipped and zero-byte objects kept; the ``max_objects + 1``-th object stops the listing
  with :class:`TooManyObjectsError`, so nothing is added and nothing is silently truncated.
* **checksum=False entries.** One entry per URI whose digest is the URI itself and whose size
  is ``None`` (:func:`unchecked_entry`, :func:`is_unchecked`), as ``FileHandler`` writes them.
* **Fetching into the cache.** :func:`stream_to_cache` writes a stream to ``Cache.ref_path``
  while hashing it, checks a known MD5 (and any extra checksum) and the size before the file
  gets its name, and leaves nothing behind on a mismatch.
* **Error translation.** :func:`reference_error` builds the satchel error for one
  :class:`~satchel.errorcodes.ErrorKind` (the vocabulary the store backends use too, read from
  each cloud's one error-code table in :mod:`satchel.errorcodes`) with a message that names the URI and says what to do, so a permission
  problem, a missing bucket, a missing object and a network failure read differently on every
  scheme. Handlers call it with ``raise reference_error(...) from exc``.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO, cast

from satchel import paths
from satchel.cache import Cache
from satchel.errorcodes import ErrorKind
from satchel.errors import (
    DigestMismatchError,
    ExternalReferenceError,
    InvalidPathError,
    ReferenceAccessError,
    ReferenceChangedError,
    ReferenceNetworkError,
    ReferenceNotFoundError,
    TooManyObjectsError,
)
from satchel.hashing import MD5, hex_to_b64
from satchel.manifest import NO_EXTRA, ManifestEntry

_HEX_MD5 = re.compile(r"[0-9a-f]{32}")


def reference_error(
    kind: ErrorKind,
    uri: str,
    detail: str,
    *,
    hint: str = "",
    recorded: str | None = None,
    current: str | None = None,
) -> ExternalReferenceError:
    """The satchel error for a failed call on ``uri``.

    Args:
        kind: what went wrong.
        uri: the reference URI the call was about.
        detail: what the service or library said (an error code, a status, a message).
        hint: what the user can do, appended to the message (credentials, endpoint...).
        recorded: the ETag/version recorded in the manifest (for ``CONFLICT``/``NOT_FOUND``).
        current: the ETag/version the object has now (for ``CONFLICT``).

    Returns:
        The error to raise (with ``raise ... from exc``).
    """
    tail = f"; {hint}" if hint else ""
    if kind is ErrorKind.PERMISSION:
        return ReferenceAccessError(f"access to {uri} was refused ({detail}){tail}")
    if kind is ErrorKind.BUCKET_MISSING:
        return ReferenceNotFoundError(
            f"{uri}: the bucket or container does not exist ({detail}); check its name and "
            f"the endpoint{tail}"
        )
    if kind is ErrorKind.NOT_FOUND:
        was = f" (recorded ETag/version {recorded})" if recorded else ""
        return ReferenceNotFoundError(f"reference {uri} no longer exists{was} ({detail}){tail}")
    if kind is ErrorKind.CONFLICT:
        return ReferenceChangedError(
            f"reference {uri} changed since it was recorded: recorded ETag {recorded}, current "
            f"ETag {current or 'unknown'}, and the recorded version cannot be read; re-add the "
            "reference, or pass allow_missing_references=True to skip it"
        )
    # TRANSIENT (and OTHER, which handlers translate themselves before calling this)
    return ReferenceNetworkError(
        f"could not read {uri} from its storage service ({detail}); check the network and the "
        f"endpoint, then retry{tail}"
    )


#: query parameters that make a URL carry its own credentials (presigned S3/GCS, Azure SAS)
_SIGNATURE_PARAMS = ("x-amz-signature", "x-amz-credential", "x-goog-signature", "signature", "sig")


def reject_signed_url(uri: str) -> None:
    """Refuse a URL whose query carries a signature: it would write a credential into a manifest.

    Raises:
        InvalidPathError: the URL has a signature parameter (presigned URL, SAS token).
    """
    query = uri.partition("?")[2].partition("#")[0]
    names = {part.partition("=")[0].lower() for part in query.split("&") if part}
    found = sorted(names.intersection(_SIGNATURE_PARAMS))
    if found:
        raise InvalidPathError(
            f"reference URL {uri.partition('?')[0]}?... carries a signature ({found[0]}=...), "
            "a credential satchel would write into the manifest. Reference the object without "
            "it and give credentials in storage options instead (an s3://, gs:// or az:// URI, "
            "an Azure sas_token, or an HTTP 'headers' option)"
        )


def unquote_etag(etag: str) -> str:
    """An ETag without its surrounding quotes (a ``W/`` weakness prefix is kept)."""
    weak = etag.startswith("W/")
    core = etag[2:] if weak else etag
    if len(core) >= 2 and core[0] == core[-1] == '"':
        core = core[1:-1]
    return ("W/" if weak else "") + core


def md5_of_etag(etag: str) -> str | None:
    """The base64 MD5 an (unquoted) ETag stands for, when it is a plain hex MD5."""
    return hex_to_b64(etag) if _HEX_MD5.fullmatch(etag) else None


def unchecked_entry(uri: str, name: str | None, default_name: str) -> ManifestEntry:
    """The single entry of a ``checksum=False`` reference: digest = URI, size unknown."""
    return ManifestEntry(paths.normalize(name or default_name or "root"), uri, None, uri)


def is_unchecked(entry: ManifestEntry) -> bool:
    """Whether ``entry`` was recorded with ``checksum=False`` (nothing read or listed)."""
    return entry.size is None and entry.digest == entry.ref


def prefix_of(key: str) -> str:
    """The listing prefix for ``key``: ``""`` for a bucket root, else ``key`` ending in ``/``."""
    key = key.strip("/")
    return f"{key}/" if key else ""


def single_name(key: str, name: str | None) -> str:
    """The logical path of a single object: ``name``, else the key's last segment."""
    return paths.normalize(name or posixpath.basename(key.rstrip("/")))


def unchecked_name(bucket: str, key: str) -> str:
    """The default logical path of a ``checksum=False`` entry: the last segment, or the bucket."""
    return posixpath.basename(key.rstrip("/")) or bucket


class PrefixEntries:
    """Collects the entries of one prefix listing, page by page.

    Args:
        uri: the reference URI (for messages).
        prefix: the listed prefix (``""`` or ending in ``/``).
        name: the logical folder the entries go under (``None``: the artifact root).
        max_objects: the most objects allowed.
    """

    def __init__(self, uri: str, prefix: str, name: str | None, max_objects: int) -> None:
        """Start an empty collection."""
        self.uri = uri
        self.prefix = prefix
        self.name = name
        self.max_objects = max_objects
        self.entries: list[ManifestEntry] = []
        self._keys: dict[str, str] = {}

    def relative(self, key: str) -> str | None:
        """The key relative to the prefix, or ``None`` for a key to skip (marker, outside)."""
        if not key.startswith(self.prefix) or key.endswith("/"):
            return None
        rel = key[len(self.prefix) :]
        return rel or None

    def add(self, key: str, digest: str, size: int, ref: str, extra: dict[str, Any] | None) -> None:
        """Add the entry of one listed object (markers and keys outside the prefix skipped).

        Raises:
            TooManyObjectsError: this object is one more than ``max_objects``.
            InvalidPathError: the key makes no valid logical path, or collides with another.
        """
        rel = self.relative(key)
        if rel is None:
            return
        if len(self.entries) >= self.max_objects:
            raise TooManyObjectsError(
                f"{self.uri} holds more than max_objects={self.max_objects} objects; nothing "
                "was added. Raise max_objects or reference a smaller prefix"
            )
        try:
            logical = paths.join(self.name, rel)
        except InvalidPathError as exc:
            raise InvalidPathError(f"object {ref} cannot be added from {self.uri}: {exc}") from exc
        other = self._keys.get(logical)
        if other is not None:
            raise InvalidPathError(
                f"objects {other!r} and {key!r} under {self.uri} both become logical path "
                f"{logical!r}; reference them separately with name=..."
            )
        self._keys[logical] = key
        self.entries.append(ManifestEntry(logical, digest, size, ref, extra or NO_EXTRA))

    def finish(self) -> list[ManifestEntry]:
        """The entries.

        Raises:
            ReferenceNotFoundError: the prefix held no object.
        """
        if not self.entries:
            raise ReferenceNotFoundError(
                f"reference {self.uri} does not exist: no object of that name and no objects "
                f"under the prefix {self.prefix!r}; check the URI"
            )
        return self.entries


def cached_ref(cache: Cache, uri: str, version: str | None, size: int | None) -> str | None:
    """The cache path of ``uri`` at ``version`` when already cached with the right size."""
    dest = cache.ref_path(uri, version)
    try:
        st = os.stat(dest)
    except FileNotFoundError:
        return None
    if size is not None and st.st_size != size:
        cache.evict(dest)
        return None
    cache.touch(dest)
    return dest


class _CheckedReader:
    """A read-only stream wrapper that feeds every chunk to extra checkers."""

    def __init__(self, src: Any, checkers: Iterable[Callable[[bytes], None]]) -> None:
        self._src = src
        self._checkers = list(checkers)

    def read(self, n: int = -1) -> bytes:
        chunk: bytes = self._src.read(n)
        for check in self._checkers:
            check(chunk)
        return chunk


def stream_to_cache(
    cache: Cache,
    src: BinaryIO | Any,
    *,
    uri: str,
    version: str | None,
    md5: str | None,
    size: int | None,
    extra_check: tuple[Callable[[bytes], None], Callable[[], str | None]] | None = None,
) -> str:
    """Write ``src`` to the cache slot of ``uri`` at ``version``, verifying as it streams.

    Args:
        cache: the cache.
        src: a readable binary stream (``read(n)``).
        uri: the object's URI (cache key and messages).
        version: the ETag/version id that keys the slot.
        md5: base64 MD5 the bytes must hash to, or ``None``.
        size: byte count the object must have, or ``None``.
        extra_check: ``(update, mismatch)``: ``update`` sees every chunk, ``mismatch()``
            returns a description when the bytes do not match (e.g. a CRC32C check).

    Returns:
        The cache path.

    Raises:
        DigestMismatchError: the bytes do not match the recorded checksum or size; nothing
            is kept.
    """
    dest = cache.ref_path(uri, version)
    reader = cast(BinaryIO, _CheckedReader(src, [extra_check[0]] if extra_check else []))

    def check(_digest: str, got: int) -> None:  # before the file gets its name
        problem = None
        if size is not None and got != size:
            problem = f"received {got} bytes, expected {size}"
        elif extra_check is not None:
            problem = extra_check[1]()
        if problem:
            raise DigestMismatchError(
                f"{uri}: {problem}; the transfer was corrupted or the object changed. Nothing "
                "was kept; retry the download"
            )

    cache.put_stream(reader, dest, alg=MD5, expected_digest=md5, what=uri, check=check)
    return dest
