"""Stores on fsspec filesystems: S3, GCS, Azure Blob, ``memory://``, and read-only others.

:func:`open_remote_backend` picks the backend by URL scheme:

==========================  ======================================  ==========================
scheme                      backend                                 atomic primitives
==========================  ======================================  ==========================
``s3://``, ``s3a://``       :class:`satchel.store.s3.S3Backend`      ``If-None-Match: *`` /
                                                                    ``If-Match: <etag>``
``gs://``, ``gcs://``       :class:`satchel.store.gcs.GCSBackend`    ``ifGenerationMatch=0`` /
                                                                    ``=<generation>``
``az://``, ``abfs[s]://``   :class:`satchel.store.azure.AzureBackend` ``If-None-Match: *`` /
                                                                    ``If-Match: <etag>``
``memory://``               :class:`satchel.store.memory.MemoryBackend` a process-wide lock
anything else fsspec knows  :class:`FsspecBackend`                  none: read-only
==========================  ======================================  ==========================

:class:`FsspecBackend` holds what every filesystem shares: keys become ``<root>/<key>`` paths,
every request runs through :func:`satchel.store.retry.call` (transient errors retried with
backoff, permission and missing-bucket errors translated at once), and

* a conditional write that reports a conflict is *settled by reading the key back*: if it
  holds exactly our bytes, the write was ours (a client-level retry of a request that had in
  fact succeeded) or an identical one, and counts as done. Version records carry a unique id,
  so this never mistakes another writer's commit for ours;
* :meth:`FsspecBackend.existing` checks many keys with as few requests as possible: keys are
  grouped by fan-out folder; the folder with most wanted keys is listed first and its size
  tells what a listing costs (one request per page); each other folder is then listed when
  that is cheaper than one HEAD per wanted key, else HEADed. Both run in a bounded pool;
* content objects go up with the filesystem's own ``put_file`` (multipart / chunked for large
  files); every service here publishes an object only when its upload completes, so a
  partial object is never visible under its key;
* downloads stream from a single GET where the service allows (S3, Azure), instead of
  fsspec's HEAD plus ranged reads: one request per object.

A filesystem without conditional writes is refused for writing with
:class:`~satchel.errors.StoreNotWritableError`; reading such a store works.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import importlib
import io
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, BinaryIO, TypeVar

from satchel.errors import ConfigError, HandlerUnavailableError, StoreNotWritableError
from satchel.parallel import run_parallel
from satchel.store.backend import BackendDefaults, Token
from satchel.store.retry import ErrorKind, PreconditionFailed, RetryPolicy, call

T = TypeVar("T")

#: scheme -> (module, class, pip extra)
BACKENDS: dict[str, tuple[str, str, str | None]] = {
    "s3": ("satchel.store.s3", "S3Backend", "s3"),
    "s3a": ("satchel.store.s3", "S3Backend", "s3"),
    "gs": ("satchel.store.gcs", "GCSBackend", "gcs"),
    "gcs": ("satchel.store.gcs", "GCSBackend", "gcs"),
    "az": ("satchel.store.azure", "AzureBackend", "azure"),
    "abfs": ("satchel.store.azure", "AzureBackend", "azure"),
    "abfss": ("satchel.store.azure", "AzureBackend", "azure"),
    "memory": ("satchel.store.memory", "MemoryBackend", None),
}

#: one name of a folder listing: (name, change fingerprint or None, modification time or None)
FolderItem = tuple[str, "str | None", "float | None"]
#: one object of a recursive listing: (filesystem path, size, modification time or None)
Walked = tuple[str, int, "float | None"]
#: what a HEAD tells: (size, modification time or None)
Head = tuple[int, "float | None"]

#: requests in flight at once for bulk HEADs and listings
CONCURRENCY = 32
#: keys one listing request returns (S3 and GCS: 1,000; Azure: 5,000)
LIST_PAGE = 1000
#: a folder with fewer wanted keys than this is never listed (HEADs are cheaper)
LIST_MIN_KEYS = 4
#: read-ahead block of streamed downloads
OPEN_BLOCK = 8 << 20


def open_remote_backend(
    url: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
    retry: RetryPolicy | None = None,
) -> FsspecBackend:
    """Open the backend of a store on an fsspec URL.

    Args:
        url: ``s3://bucket/prefix``, ``gs://...``, ``az://container/prefix``, ``memory://...``
            or any other fsspec URL (read-only).
        storage_options: keyword options of the fsspec filesystem (endpoint, credentials...).
        retry: how transient errors are retried (default :class:`RetryPolicy`).

    Returns:
        The backend; nothing is requested until it is used.

    Raises:
        HandlerUnavailableError: the filesystem's package (an extra of satchel) is missing.
        ConfigError: an unknown scheme, or options the filesystem rejects.
    """
    import fsspec  # type: ignore[import-untyped]

    scheme = url.split("://", 1)[0].lower()
    options = dict(storage_options or {})
    module_name, class_name, extra = BACKENDS.get(scheme, ("", "", None))
    try:
        fs = fsspec.filesystem(scheme, **options)
    except ImportError as exc:
        hint = f'pip install "satchel[{extra}]"' if extra else "install its fsspec package"
        raise HandlerUnavailableError(
            f"store {url} needs the {scheme}:// filesystem, which is not installed: {hint}"
        ) from exc
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"cannot open store {url}: {exc}. Check the URL and the filesystem's options "
            "(satchel.configure(storage_options=...) or SATCHEL_STORAGE_OPTIONS)"
        ) from exc
    policy = retry or RetryPolicy()
    if not module_name:
        return FsspecBackend(fs, url, retry=policy)
    cls = getattr(importlib.import_module(module_name), class_name)
    backend: FsspecBackend = cls(fs, url, retry=policy)
    return backend


class FsspecBackend(BackendDefaults):
    """A store on any fsspec filesystem; read-only unless a subclass adds atomic writes.

    Subclasses override the primitives ``_get``, ``_head``, ``_put``, ``_list``, ``_walk``,
    ``_delete`` (paths are full filesystem paths) and :meth:`classify`.
    """

    #: whether the filesystem offers create-if-absent and replace-if-unchanged
    writable = False
    #: object transfers worth running at once: network latency, not CPU, bounds them
    io_workers: int | None = 16

    def __init__(self, fs: Any, url: str, *, retry: RetryPolicy) -> None:
        """Use filesystem ``fs`` for the store at ``url``."""
        self.fs = fs
        self.url = url.rstrip("/")
        self.root = str(fs._strip_protocol(self.url)).rstrip("/")
        self.retry = retry

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    # -- plumbing -------------------------------------------------------------------------
    def path(self, key: str) -> str:
        """The filesystem path of store key ``key``."""
        return f"{self.root}/{key}" if key else self.root

    def key(self, path: str) -> str:
        """The store key of filesystem path ``path`` (inverse of :meth:`path`)."""
        path = path.lstrip("/") if not self.root.startswith("/") else path
        return path[len(self.root) + 1 :] if path.startswith(self.root + "/") else path

    def classify(self, exc: BaseException) -> ErrorKind:
        """Sort a filesystem exception into an :class:`ErrorKind`."""
        if isinstance(exc, FileNotFoundError):
            return ErrorKind.NOT_FOUND
        if isinstance(exc, FileExistsError):
            return ErrorKind.CONFLICT
        if isinstance(exc, PermissionError):
            return ErrorKind.PERMISSION
        if isinstance(exc, (TimeoutError, ConnectionError)):
            return ErrorKind.TRANSIENT
        return ErrorKind.OTHER

    def _call(self, fn: Callable[[], T], what: str) -> T:
        return call(fn, classify=self.classify, policy=self.retry, what=what, url=self.url)

    def _refuse(self, what: str) -> StoreNotWritableError:
        scheme = self.url.split("://", 1)[0]
        return StoreNotWritableError(
            f"cannot {what} in store {self.url}: the {scheme}:// filesystem offers no atomic "
            "create-if-absent / replace-if-unchanged, so concurrent commits could overwrite "
            "each other. Reading works; to write use a local folder, s3://, gs://, az:// or "
            "memory://"
        )

    # -- primitives (generic fsspec; subclasses use the service's own requests) -----------
    def _get(self, path: str) -> tuple[bytes, str]:
        data = bytes(self.fs.cat_file(path))
        return data, hashlib.sha256(data).hexdigest()

    def _head(self, path: str) -> Head | None:
        try:
            info = self.fs.info(path)
        except FileNotFoundError:
            return None
        if info.get("type", "file") != "file":
            return None
        return int(info["size"]), _mtime(info)

    def _put(self, path: str, data: bytes, token: Token) -> None:
        """Write only if the key is absent (``token`` None) or still at ``token``; a failed
        precondition raises an exception :meth:`classify` calls ``CONFLICT``."""
        raise self._refuse("write")

    def _list(self, path: str) -> list[FolderItem]:
        self.fs.invalidate_cache(path)
        try:
            entries = self.fs.ls(path, detail=True)
        except FileNotFoundError:
            return []
        return [(str(e["name"]).rstrip("/").rsplit("/", 1)[-1], None, None) for e in entries]

    def _walk(self, path: str) -> list[Walked]:
        self.fs.invalidate_cache(path)
        try:
            found = self.fs.find(path, detail=True)
        except FileNotFoundError:
            return []
        return [
            (p, int(i.get("size") or 0), _mtime(i))
            for p, i in found.items()
            if i.get("type") == "file"
        ]

    def _delete(self, path: str) -> None:
        raise self._refuse("delete")

    def _put_file(self, path: str, local_path: str) -> None:
        raise self._refuse("upload")

    # -- StoreBackend ---------------------------------------------------------------------
    def read(self, key: str) -> bytes:
        """Return the bytes at ``key``; raise ``FileNotFoundError`` when absent."""
        return self._call(lambda: self._get(self.path(key)), f"read {key}")[0]

    def read_token(self, key: str) -> tuple[bytes | None, Token]:
        """Return ``(bytes, token)``, or ``(None, None)`` when ``key`` is absent."""
        try:
            return self._call(lambda: self._get(self.path(key)), f"read {key}")
        except FileNotFoundError:
            return None, None

    def _read_or_none(self, key: str) -> bytes | None:
        return self.read_token(key)[0]

    def create_if_absent(self, key: str, data: bytes) -> bool:
        """Write ``key`` only if it does not exist. Returns ``False`` when it existed."""
        if not self.writable:
            raise self._refuse(f"create {key}")
        try:
            self._call(lambda: self._put(self.path(key), data, None), f"create {key}")
            return True
        except PreconditionFailed:
            return self._read_or_none(key) == data

    def replace_if_unchanged(self, key: str, data: bytes, token: Token) -> bool:
        """Write ``key`` only if its state still matches ``token`` (``None``: still absent)."""
        if not self.writable:
            raise self._refuse(f"replace {key}")
        if token is None:
            return self.create_if_absent(key, data)
        try:
            self._call(lambda: self._put(self.path(key), data, token), f"replace {key}")
            return True
        except PreconditionFailed:
            return self._read_or_none(key) == data
        except FileNotFoundError:  # deleted since it was read (S3/Azure report 404, not 412)
            return False

    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""
        if not self.writable:
            raise self._refuse(f"delete {key}")
        try:
            self._call(lambda: self._delete(self.path(key)), f"delete {key}")
        except FileNotFoundError:
            pass

    def exists(self, key: str) -> bool:
        """Tell whether ``key`` exists."""
        return self.size(key) is not None

    def _stat(self, key: str) -> Head | None:
        try:
            return self._call(lambda: self._head(self.path(key)), f"look up {key}")
        except FileNotFoundError:
            return None

    def size(self, key: str) -> int | None:
        """The size of ``key`` in bytes, or ``None`` when absent."""
        head = self._stat(key)
        return None if head is None else head[0]

    def modified_time(self, key: str) -> float | None:
        """When ``key`` was last written (seconds since the epoch), ``None`` when absent."""
        head = self._stat(key)
        return None if head is None else head[1]

    def list_detailed(
        self, prefix: str, *, hidden: bool = False
    ) -> dict[str, tuple[str | None, float | None]]:
        """Names directly below folder ``prefix`` -> ``(fingerprint, mtime)``.

        The fingerprint (S3 ETag, GCS generation, Azure ETag) changes whenever the content
        does; sub-folders have ``(None, None)``. Empty when the folder does not exist. Names
        starting with ``.`` are left out unless ``hidden``.
        """
        path = self.path(prefix.rstrip("/"))
        try:
            entries = self._call(lambda: self._list(path), f"list {prefix}")
        except FileNotFoundError:
            return {}
        return {n: (fp, mt) for n, fp, mt in entries if n and (hidden or not n.startswith("."))}

    def list(self, prefix: str, *, hidden: bool = False) -> list[str]:
        """Names (not keys) directly below folder ``prefix``; empty when it does not exist
        (names starting with ``.`` only with ``hidden``)."""
        return sorted(self.list_detailed(prefix, hidden=hidden))

    def walk_detailed(
        self, prefix: str, *, hidden: builtins.list[str] | None = None
    ) -> Iterator[tuple[str, int, float | None]]:
        """Yield ``(key, size, mtime)`` for every object at any depth below folder ``prefix``
        (hidden names are left out; nothing is added to ``hidden``: a bucket keeps no
        temporaries)."""
        path = self.path(prefix.rstrip("/"))
        try:
            found = self._call(lambda: self._walk(path), f"list {prefix} recursively")
        except FileNotFoundError:
            return
        for p, size, mtime in found:
            key = self.key(p)
            if not key.rsplit("/", 1)[-1].startswith("."):
                yield key, size, mtime

    def walk(self, prefix: str) -> Iterator[tuple[str, int]]:
        """Yield ``(key, size)`` for every object at any depth below folder ``prefix``."""
        for key, size, _mtime in self.walk_detailed(prefix):
            yield key, size

    def put_file(self, key: str, local_path: str) -> None:
        """Upload ``local_path`` to ``key``; the object appears only once complete."""
        if not self.writable:
            raise self._refuse(f"upload {key}")
        self._call(lambda: self._put_file(self.path(key), local_path), f"upload {key}")

    def open(self, key: str) -> BinaryIO:
        """Open ``key`` for streaming reads; raise ``FileNotFoundError`` when absent."""
        path = self.path(key)
        f: BinaryIO = self._call(
            lambda: self.fs.open(path, "rb", block_size=OPEN_BLOCK, cache_type="readahead"),
            f"open {key}",
        )
        return f

    def local_path(self, key: str) -> str | None:
        """``None``: a remote store has no local paths."""
        return None

    # -- bulk existence -------------------------------------------------------------------
    def existing(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` that exist, found with as few requests as possible."""
        by_folder: dict[str, list[str]] = {}
        for k in dict.fromkeys(keys):
            by_folder.setdefault(k.rpartition("/")[0], []).append(k)
        if not by_folder:
            return set()
        order = sorted(by_folder, key=lambda f: -len(by_folder[f]))
        first = order[0]
        found: set[str] = set()
        if len(by_folder[first]) < LIST_MIN_KEYS:  # few keys everywhere: HEADs are cheapest
            return self._head_many([k for f in order for k in by_folder[f]])
        names = set(self.list_detailed(first))
        found.update(k for k in by_folder[first] if k.rpartition("/")[2] in names)
        pages = max(1, math.ceil(len(names) / LIST_PAGE))
        to_list = [f for f in order[1:] if len(by_folder[f]) > pages]
        to_head = [k for f in order[1:] if len(by_folder[f]) <= pages for k in by_folder[f]]

        def listed(folder: str) -> set[str]:
            present = set(self.list_detailed(folder))
            return {k for k in by_folder[folder] if k.rpartition("/")[2] in present}

        for part in run_parallel(listed, to_list, workers=CONCURRENCY):
            found |= part
        return found | self._head_many(to_head)

    def _head_many(self, keys: Sequence[str]) -> set[str]:
        flags = run_parallel(self.exists, keys, workers=CONCURRENCY)
        return {k for k, present in zip(keys, flags) if present}


class AsyncFsspecBackend(FsspecBackend):
    """Base of backends whose filesystem is an fsspec ``AsyncFileSystem``.

    Subclasses implement the ``_a*`` coroutines; the synchronous primitives run them on the
    filesystem's event loop (one loop thread serves every calling thread).
    """

    writable = True

    def _sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        from fsspec.asyn import sync  # type: ignore[import-untyped]

        return sync(self.fs.loop, fn, *args)

    async def _aget(self, path: str) -> tuple[bytes, str]:
        raise NotImplementedError

    async def _ahead(self, path: str) -> Head | None:
        raise NotImplementedError

    async def _aput(self, path: str, data: bytes, token: Token) -> None:
        raise NotImplementedError

    async def _alist(self, path: str) -> list[FolderItem]:
        raise NotImplementedError

    async def _awalk(self, path: str) -> list[Walked]:
        raise NotImplementedError

    async def _adelete(self, path: str) -> None:
        raise NotImplementedError

    async def _atouch(self, path: str) -> bool:
        """Rewrite an object's metadata in place so its modification time becomes now."""
        raise NotImplementedError

    async def _astamp(self, path: str) -> tuple[float | None, str] | None:
        """``(modification time, version token)`` of an object, ``None`` when absent; the
        token changes with every write *and* every freshening (see :meth:`delete_if_old`)."""
        raise NotImplementedError

    async def _adelete_if(self, path: str, token: str) -> None:
        """Delete the object only while it still carries ``token``; a failed precondition
        raises an exception :meth:`classify` calls ``CONFLICT``."""
        raise NotImplementedError

    def _delete_if_old(self, key: str, cutoff: float, listed: float | None = None) -> bool:
        """Delete ``key`` only if it last changed before ``cutoff`` (and, with ``listed``,
        still has the time gc's listing saw) and has not changed since it was looked at: the
        time and a version token come from one request, and the delete is conditional on that
        token, so a committer freshening the object in between makes the delete fail (the
        object stays) and a freshening after it fails (the committer uploads again). Returns
        whether the object was deleted."""
        path = self.path(key)
        try:
            stamp = self._call(lambda: self._sync(self._astamp, path), f"look up {key}")
        except FileNotFoundError:
            return False
        if stamp is None or stamp[0] is None or stamp[0] >= cutoff or moved(stamp[0], listed):
            return False
        token = stamp[1]
        try:
            self._call(lambda: self._sync(self._adelete_if, path, token), f"delete {key}")
        except (FileNotFoundError, PreconditionFailed):  # gone, or freshened meanwhile
            return False
        return True

    def _touch(self, key: str) -> bool:
        """Freshen ``key`` for ``gc`` (see :meth:`satchel.store.local.LocalBackend.touch`):
        one metadata request, no content transferred.

        Returns:
            ``False`` when the key is gone or the service cannot rewrite it in place (the
            caller uploads the object again).
        """
        path = self.path(key)
        try:
            done: bool = self._call(lambda: self._sync(self._atouch, path), f"freshen {key}")
        except FileNotFoundError:
            return False
        return done

    def _get(self, path: str) -> tuple[bytes, str]:
        result: tuple[bytes, str] = self._sync(self._aget, path)
        return result

    def _head(self, path: str) -> Head | None:
        result: Head | None = self._sync(self._ahead, path)
        return result

    def _put(self, path: str, data: bytes, token: Token) -> None:
        self._sync(self._aput, path, data, token)

    def _list(self, path: str) -> list[FolderItem]:
        result: list[FolderItem] = self._sync(self._alist, path)
        return result

    def _walk(self, path: str) -> list[Walked]:
        result: list[Walked] = self._sync(self._awalk, path)
        return result

    def _delete(self, path: str) -> None:
        self._sync(self._adelete, path)

    async def _aopen(
        self, path: str, start: int = 0
    ) -> tuple[Callable[[int], Any], Callable[[], Any]]:
        """Start one streaming GET from byte ``start`` to the end: ``(read(n) coroutine
        function, close function)``.

        Subclasses that can stream a download in one request implement this; the default
        falls back to fsspec's ``open`` (a HEAD, then ranged GETs).
        """
        raise NotImplementedError

    def open(self, key: str) -> BinaryIO:
        """Open ``key`` for streaming reads with one request; ``FileNotFoundError`` if absent.

        A connection that breaks in the middle (reset, truncated body, timeout) does not fail
        the read: the response is dropped and a ranged GET continues from the first byte not
        yet received, under the backend's retry policy (:class:`_ResumingStream`). Readers
        check the digest of what they stream, so bytes from two requests are verified
        together; content objects never change under their key.
        """
        if type(self)._aopen is AsyncFsspecBackend._aopen:
            return super().open(key)
        path = self.path(key)

        def opener(start: int) -> _Body:
            read, close = self._sync(self._aopen, path, start)
            return (lambda n: self._sync(read, n)), close

        raw = _ResumingStream(opener, lambda fn: self._call(fn, f"read {key}"))
        raw.begin()
        return io.BufferedReader(raw, buffer_size=1 << 20)


#: a response being read: blocking ``read(n)`` and ``close()``
_Body = tuple[Callable[[int], bytes], Callable[[], Any]]


class _ResumingStream(io.RawIOBase):
    """A blocking, read-only file over an asynchronous response body that continues after a
    broken connection.

    Every read runs through ``call`` (the backend's retry loop): when an attempt fails, the
    response is closed and forgotten, so the next attempt opens a new one at the current
    offset. An error the retry loop does not retry (a missing object, refused access) or
    retries in vain comes out translated, as for any other request; each read gets the
    policy's full number of attempts, so a flaky link that keeps making progress never
    fails a long download.
    """

    def __init__(
        self, opener: Callable[[int], _Body], call: Callable[[Callable[[], Any]], Any]
    ) -> None:
        """``opener(start)`` sends a GET from byte ``start`` and returns its blocking
        ``(read(n), close())``; ``call(fn)`` runs ``fn`` under the retry policy."""
        self._opener = opener
        self._call = call
        self._pos = 0
        self._body: _Body | None = None

    def readable(self) -> bool:
        return True

    def begin(self) -> None:
        """Send the first request (so a missing object fails at open, not at first read)."""
        self._call(self._ensure)

    def _ensure(self) -> _Body:
        if self._body is None:
            self._body = self._opener(self._pos)
        return self._body

    def _attempt(self, n: int) -> bytes:
        read, _close = self._ensure()
        try:
            data: bytes = read(n)
        except BaseException:
            self._drop()
            raise
        self._pos += len(data)
        return data

    def _drop(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            with contextlib.suppress(Exception):
                body[1]()

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data: bytes = self._call(lambda: self._attempt(len(view)))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            try:
                self._drop()
            finally:
                super().close()


def moved(changed: float, listed: float | None) -> bool:
    """Whether a modification time differs from the one a listing reported (``listed``;
    ``None``: no listing to compare with). gc keeps an object whose time moved since it
    listed it, whatever the clocks say: a committer freshened it."""
    return listed is not None and abs(changed - listed) >= 0.001


def _mtime(info: Mapping[str, Any]) -> float | None:
    """A modification time (seconds since the epoch) from an fsspec info dict, if it has one."""
    import datetime as _dt

    for name in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(name)
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, _dt.datetime):
            return value.timestamp()
        if isinstance(value, str):
            return parse_timestamp(value)
    return None


def parse_timestamp(text: str) -> float | None:
    """Seconds since the epoch of an ISO 8601 / RFC 3339 time (``None`` when unparseable)."""
    import datetime as _dt

    try:
        value = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value.timestamp()
