"""The user-facing :class:`Artifact`, modelled on W&B's ``wandb.Artifact``.

An artifact is a *draft* (being built), *pending* (finalized or being committed), *committed*
(an immutable version in a store) or *deleted*: one :class:`ArtifactState`, one error per
illegal transition. The class stays thin: drafting lives in :mod:`satchel.draft`, committing in
:mod:`satchel.store` and :mod:`satchel.commit`, reading in :mod:`satchel.checkout`. It is long
because the W&B surface it mirrors is wide, not because it does the work itself.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import enum
import functools
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any, TypeVar

import msgspec

from satchel import config, naming
from satchel import paths as logical_paths
from satchel.checkout import (
    MaterializeResult,
    VerificationReport,
    materialize,
    read_entry,
    remove_extras,
    verify_folder,
)
from satchel.commit import Uploader
from satchel.draft import (
    POLICIES,
    CachedSource,
    Draft,
    LocalSource,
    PackedSource,
    Source,
    StoredSource,
    StoreObjects,
)
from satchel.errors import (
    ArtifactFinalizedError,
    ArtifactNotLoggedError,
    ArtifactStateError,
    DigestMismatchError,
    EntryNotFoundError,
    InvalidAttributeError,
    InvalidMetadataError,
    InvalidPathError,
    SourceFileChangedError,
)
from satchel.fsutil import local_errors_typed
from satchel.handlers import DEFAULT_MAX_OBJECTS
from satchel.hashing import check_algorithm, hash_bytes
from satchel.localfiles import stat_file
from satchel.manifest import Manifest, ManifestEntry
from satchel.materializers import SERIALIZER_KEY
from satchel.progress import Bar
from satchel.services import Services, local_services
from satchel.store import CommitRequest, Store, layout, open_store
from satchel.store.records import VersionAttrs, VersionRecord, parse_time

if TYPE_CHECKING:
    from satchel.registry.stages import StageEvent
    from satchel.run import Run

MAX_METADATA_KEYS = 100


class ArtifactState(str, enum.Enum):
    """Where an artifact is in its life. Values are strings, as W&B's ``state`` is."""

    DRAFT = "DRAFT"
    PENDING = "PENDING"
    COMMITTED = "COMMITTED"
    DELETED = "DELETED"


_ALLOWED = {
    ArtifactState.DRAFT: {ArtifactState.PENDING},
    ArtifactState.PENDING: {ArtifactState.DRAFT, ArtifactState.COMMITTED},
    ArtifactState.COMMITTED: {ArtifactState.DELETED},
    ArtifactState.DELETED: set(),
}


def _check_metadata(metadata: Any) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidMetadataError(
            f"metadata must be a dict, got {type(metadata).__name__}"
        )
    if len(metadata) > MAX_METADATA_KEYS:
        raise InvalidMetadataError(
            f"metadata has {len(metadata)} top-level keys; the limit is {MAX_METADATA_KEYS}. "
            "Nest related values under fewer keys"
        )
    try:
        # The standard json module, not msgspec: msgspec quietly turns sets into lists, bytes
        # into base64, datetimes into strings and NaN into null, which is not "JSON-able".
        return json.loads(json.dumps(metadata, allow_nan=False))  # type: ignore[no-any-return]
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidMetadataError(
            f"metadata is not JSON-serialisable: {exc}. Use only dicts, lists, str, int, "
            "finite float, bool and None"
        ) from exc


_M = TypeVar("_M", bound=Callable[..., Any])


def _local_errors_typed(doing: str, *, takes_root: bool = False) -> Callable[[_M], _M]:
    """Decorate a method that reads and writes local files: a write that finds no space (or
    no quota) raises :class:`~satchel.errors.DiskFullError`, one the OS refuses (permission,
    read-only filesystem) :class:`~satchel.errors.LocalAccessError`, instead of a bare
    ``OSError`` (see :func:`satchel.fsutil.local_errors_typed`). ``doing`` may use ``{name}``
    (the artifact's name); ``takes_root``: the method's first argument (or ``root=``) is the
    folder it writes into."""

    def wrap(method: _M) -> _M:
        @functools.wraps(method)
        def run(self: Artifact, *args: Any, **kwargs: Any) -> Any:
            what = doing.format(name=self._name)
            root = kwargs.get("root", args[0] if args else None) if takes_root else None
            with local_errors_typed(what, lambda: self._local_folders(root, kwargs)):
                return method(self, *args, **kwargs)

        return run  # type: ignore[return-value]

    return wrap


class Artifact:
    """A versioned set of files: build it, commit it, fetch and use it.

    Args:
        name: the collection name (letters, digits, ``_``, ``-``, ``.``; at most 128).
        type: what it is (``"dataset"``, ``"model"``, ...); a name keeps its first type.
        description: free text.
        metadata: JSON-serialisable dict, at most 100 top-level keys.
        incremental: commit as a change to whatever version is latest at save time.
        digest_algorithm: ``"md5"`` (W&B-compatible) or ``"xxh128"`` (faster).

    Raises:
        InvalidNameError: bad name or type.
        InvalidMetadataError: bad metadata.
    """

    def __init__(
        self,
        name: str,
        type: str,  # W&B's argument name (shadows the builtin on purpose)
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        incremental: bool = False,
        digest_algorithm: str = "md5",
        *,
        services: Services | None = None,
    ) -> None:
        self._name = naming.validate_name(name)
        self._type = naming.validate_name(type, kind="type")
        self._description = description
        self._metadata = _check_metadata(metadata)
        self._incremental = bool(incremental)
        self._alg = check_algorithm(digest_algorithm)
        self._state = ArtifactState.DRAFT
        self._draft: Draft | None = Draft(self._alg)
        self._services = services
        self._record: VersionRecord | None = None
        self._attrs: VersionAttrs | None = None
        self._manifest: Manifest | None = None
        self._aliases: list[str] = []
        self._saved_aliases: set[str] = set()
        self._tags: list[str] = []
        self._saved_tags: set[str] = set()
        self._based_on: VersionRecord | None = None
        self._origin: Store | None = None
        self._is_latest = False
        self._ttl: float | None = None
        self._run_id: str | None = None  # set by Run.log_artifact: the producing run

    # -- construction of committed artifacts (used by Api) --------------------------------
    @classmethod
    def _from_record(
        cls,
        services: Services,
        store: Store,
        record: VersionRecord,
        *,
        known: tuple[VersionAttrs, Sequence[str], bool] | None = None,
    ) -> Artifact:
        art = cls.__new__(cls)
        art._name = record.name
        art._type = record.type
        art._incremental = False
        art._alg = "md5"
        art._state = ArtifactState.COMMITTED
        art._draft = None
        art._services = services.with_store(store)
        art._based_on = None
        art._origin = store
        art._manifest = None
        art._load(record)
        if known is not None:  # (attrs, aliases, is_latest) already read by a registry listing
            art._preload(*known)
        return art

    def _load(self, record: VersionRecord) -> None:
        self._record = record
        self._extras_loaded = False

    def _extras(self) -> None:
        # Attributes and aliases are read on first use, not in _load: fetching a version and
        # downloading it from a warm cache then costs three store requests (version listing,
        # version record, manifest), which matters on a bucket.
        if getattr(self, "_extras_loaded", True):
            return
        self._extras_loaded = True
        record = self._record
        assert record is not None
        store = self._store()
        attrs = store.attrs(record)
        aliases = [
            a for a, v in store.aliases(record.project, record.name).items() if v == record.version
        ]
        latest = store.latest(record.project, record.name)
        self._preload(attrs, aliases, latest is not None and latest.version == record.version)

    def _preload(self, attrs: VersionAttrs, aliases: Sequence[str], is_latest: bool) -> None:
        self._extras_loaded = True
        self._attrs = attrs
        self._description = attrs.description
        self._metadata = dict(attrs.metadata)
        self._tags = list(attrs.tags)
        self._saved_tags = set(self._tags)
        self._ttl = attrs.ttl_seconds
        self._saved_aliases = set(aliases)
        self._is_latest = is_latest
        self._aliases = sorted(self._saved_aliases)

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def state(self) -> ArtifactState:
        """The lifecycle state."""
        return self._state

    def _transition(self, to: ArtifactState) -> None:
        if to not in _ALLOWED[self._state]:
            raise ArtifactStateError(
                f"artifact {self._name} cannot go from {self._state.value} to {to.value}"
            )
        self._state = to

    def _editable(self) -> Draft:
        if self._state is not ArtifactState.DRAFT or self._draft is None:
            raise ArtifactFinalizedError(
                f"artifact {self._name} is {self._state.value.lower()} and can no longer be "
                "changed; call new_draft() to start a new version from it"
            )
        return self._draft

    def _committed(self, attr: str) -> VersionRecord:
        if self._record is None:
            raise ArtifactNotLoggedError(
                f"{attr!r} exists only once the artifact is committed; call save() first"
            )
        return self._record

    def finalize(self) -> None:
        """Freeze the draft: later changes raise :class:`ArtifactFinalizedError`."""
        if self._state is ArtifactState.DRAFT:
            self._transition(ArtifactState.PENDING)

    def is_draft(self) -> bool:
        """True until the artifact is committed."""
        return self._state in (ArtifactState.DRAFT, ArtifactState.PENDING)

    def wait(self, timeout: float | None = None) -> Artifact:
        """Return self: satchel commits synchronously, so a saved artifact is already done.

        Raises:
            ArtifactNotLoggedError: the artifact was never saved.
        """
        self._committed("wait")
        return self

    # -- services -------------------------------------------------------------------------
    def _svc(self) -> Services:
        if self._services is None:
            self._services = local_services()
        return self._services

    def _store(self) -> Store:
        return self._svc().require_store()

    def _local_folders(self, root: Any, kwargs: dict[str, Any]) -> list[str]:
        """Local folders a call may write to, for naming a full disk: the cache, a local
        store (also one given as ``store=``), the folder the call writes into (``root``), the
        working directory (default download folders) and the temporary folder
        (:meth:`new_file`)."""
        svc = self._svc()
        folders = [svc.cache.root, os.getcwd(), tempfile.gettempdir()]
        for store in (svc.store, kwargs.get("store")):
            if isinstance(store, str) and "://" not in store:
                folders.append(store)
            store_root = getattr(getattr(store, "backend", None), "root", None)
            if isinstance(store_root, str):
                folders.append(store_root)
        if isinstance(root, (str, os.PathLike)):
            folders.append(os.fspath(root))
        return folders

    # -- drafting -------------------------------------------------------------------------
    @_local_errors_typed("adding a file to {name}")
    def add_file(
        self,
        local_path: str | os.PathLike[str],
        name: str | None = None,
        *,
        is_tmp: bool = False,
        skip_cache: bool = False,
        policy: str = "mutable",
        overwrite: bool = False,
    ) -> ManifestEntry:
        """Add one local file.

        Args:
            local_path: the file.
            name: its logical path (default: the file name).
            is_tmp: replace the file-name stem with the first 20 hex characters of its digest,
                so temporary files with clashing names do not collide (as W&B does).
            skip_cache: drop satchel's cached copy after the commit.
            policy: ``"mutable"`` (snapshot now) or ``"immutable"`` (read again at save).
            overwrite: replace an existing entry with other content.

        Returns:
            The new entry.

        Raises:
            SourceFileNotFoundError: no such file. EntryConflictError: path taken.
            ArtifactFinalizedError: not a draft. ValueError: unknown policy.
        """
        draft = self._editable()
        _check_policy(policy)
        local = stat_file(os.fspath(local_path))
        logical = logical_paths.normalize(name or os.path.basename(local.abspath))
        cache = self._svc().cache
        (entry, source), = draft.ingest(
            [local], [logical], cache=cache, policy=policy, skip_cache=skip_cache,
            stored=self._stored_objects(policy),
        )
        if is_tmp:
            folder, _, fname = entry.path.rpartition("/")
            _stem, dot, ext = fname.partition(".")
            fname = entry.oid[:20] + (dot + ext if dot else "")
            entry = msgspec.structs.replace(entry, path=f"{folder}/{fname}" if folder else fname)
        draft.put(entry, source, overwrite=overwrite)
        draft.added_local[local.abspath] = entry.path
        return entry

    def _stored_objects(self, policy: str) -> StoreObjects | None:
        """For a ``mutable`` add: finds the objects of the local store this draft will most
        likely be saved to (its origin, else the configured store). A commit to a local store
        keeps no cache copies, so an unchanged file added again is found there instead of
        being read and copied once more."""
        if policy != "mutable":
            return None
        svc = self._svc()
        store = self._origin or svc.store
        if store is None:
            url = config.store_url()
            if "://" in url and not url.startswith("file://"):
                return None  # a bucket: not opened here (its libraries are imported at save)
            store = open_store(url)
        if store.backend.local_path("") is None:
            return None

        def where(alg: str, oid: str, size: int) -> str | None:
            path = store.local_object_path(alg, oid)
            try:
                found = path is not None and os.stat(path).st_size == size
            except OSError:
                return None
            return path if found else None

        return where

    @_local_errors_typed("adding a folder to {name}")
    def add_dir(
        self,
        local_path: str | os.PathLike[str],
        name: str | None = None,
        *,
        skip_cache: bool = False,
        policy: str = "mutable",
        merge: bool = False,
    ) -> None:
        """Add every file below a folder (symlinked folders are not followed).

        Args:
            local_path: the folder.
            name: logical folder to put the files under (default: the artifact root).
            skip_cache: drop satchel's cached copies after the commit.
            policy: ``"mutable"`` or ``"immutable"`` (see :meth:`add_file`).
            merge: replace existing entries whose content differs, instead of raising.

        Raises:
            SourceFileNotFoundError: no such folder. EntryConflictError: paths taken.
        """
        draft = self._editable()
        _check_policy(policy)
        prefix = logical_paths.normalize(name) if name else None
        svc = self._svc()
        bars: list[Bar] = []

        def progress(total: int) -> Callable[[int], None]:  # once the scan has counted
            bars.append(svc.progress(total, f"adding {os.fspath(local_path)}"))
            return bars[0].update

        try:  # scans and hashes at once; paths are validated before waiting for hashes
            files, pairs = draft.ingest_dir(
                os.fspath(local_path), prefix, cache=svc.cache, policy=policy,
                skip_cache=skip_cache, progress=progress, stored=self._stored_objects(policy),
            )
        finally:
            for bar in bars:
                bar.close()
        draft.check_conflicts((e for e, _s in pairs), overwrite=merge)
        draft.put_many(pairs, [f.abspath for f in files])

    def add_reference(
        self,
        uri: str,
        name: str | None = None,
        *,
        checksum: bool = True,
        max_objects: int | None = None,
    ) -> list[ManifestEntry]:
        """Track a file, folder, object or prefix in external storage without copying it.

        Args:
            uri: ``file://``, ``http(s)://``, ``s3://``, ``gs://``, ``az://``... (unknown
                schemes are tracked by URI only and need ``name``).
            name: logical path (single object) or folder (prefix) for the entries.
            checksum: record checksums (``False``: one entry for the URI, nothing read).
            max_objects: refuse prefixes holding more objects (default 10,000,000).

        Returns:
            The entries added.

        Raises:
            InvalidPathError: credentials in the URI, or no ``name`` for an unknown scheme.
            TooManyObjectsError, ReferenceNotFoundError, ReferenceAccessError,
            ReferenceNetworkError, HandlerUnavailableError: see the handler.
        """
        draft = self._editable()
        _reject_credentials(uri)
        limit = DEFAULT_MAX_OBJECTS if max_objects is None else int(max_objects)
        if limit < 1:
            raise ValueError(f"max_objects must be at least 1, got {max_objects}")
        handler = self._svc().handlers.for_uri(uri)
        entries = handler.entries(uri, name=name, checksum=checksum, max_objects=limit)
        draft.check_conflicts(entries, overwrite=False)
        for e in entries:
            draft.put(e, None, overwrite=False)
        return entries

    @_local_errors_typed("adding an object to {name}")
    def add(self, obj: Any, name: str, *, overwrite: bool = False) -> ManifestEntry:
        """Add a Python object, serialised by the serializer registry.

        Raises:
            SerializerError: no serializer for the object's type.
        """
        draft = self._editable()
        svc = self._svc()
        serializer = svc.serializers.for_object(obj)
        data = serializer.dump(obj)
        digest, size, cpath = svc.cache.add_bytes(data, alg=self._alg)
        extra: dict[str, Any] = {SERIALIZER_KEY: serializer.name}
        if self._alg != "md5":
            extra["alg"] = "XXH128"
        entry = ManifestEntry(logical_paths.normalize(name), digest, size, None, extra)
        # verify: the cache may already have held these bytes (and they may be damaged since)
        draft.put(entry, CachedSource(cpath, verify=True), overwrite=overwrite)
        return entry

    def __setitem__(self, name: str, obj: Any) -> None:
        """``artifact[name] = obj`` is :meth:`add` with ``overwrite=True``."""
        self.add(obj, name, overwrite=True)

    @contextlib.contextmanager
    def new_file(
        self, name: str, mode: str = "x", encoding: str | None = None
    ) -> Iterator[IO[Any]]:
        """Open a new file to write; it is added when the ``with`` block ends.

        Args:
            name: its logical path.
            mode: ``"x"``/``"w"`` (text) or ``"xb"``/``"wb"`` (binary); ``x`` refuses a
                path already in the artifact, ``w`` replaces it.
            encoding: text encoding (default UTF-8).

        Raises:
            EntryConflictError: mode ``x`` and the path exists. ValueError: bad mode.
        """
        draft = self._editable()
        logical = logical_paths.normalize(name)
        if mode not in ("x", "w", "xb", "wb"):
            raise ValueError(f"mode must be 'x', 'w', 'xb' or 'wb', got {mode!r}")
        if mode.startswith("x") and logical in draft.entries:
            from satchel.errors import EntryConflictError

            raise EntryConflictError(
                f"{logical!r} is already in the artifact; use mode='w' to replace it"
            )
        folder = tempfile.mkdtemp(prefix="satchel-new-file-")
        path = os.path.join(folder, "f")
        try:
            with local_errors_typed(
                f"writing {logical} of {self._name}", lambda: self._local_folders(None, {})
            ):
                if "b" in mode:
                    with open(path, "wb") as fb:
                        yield fb
                else:
                    with open(path, "w", encoding=encoding or "utf-8") as ft:
                        yield ft
                self.add_file(path, logical, overwrite=True)
            draft.added_local.pop(os.path.abspath(path), None)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def remove(self, item: str | ManifestEntry) -> None:
        """Remove a path, everything below a folder, or an entry.

        Raises:
            EntryNotFoundError: nothing at that path. ArtifactFinalizedError: not a draft.
        """
        draft = self._editable()
        path = item.path if isinstance(item, ManifestEntry) else str(item)
        draft.remove(path, incremental=self._incremental)

    def get_entry(self, name: str) -> ManifestEntry:
        """The entry at logical path ``name``.

        Raises:
            EntryNotFoundError: no such entry.
        """
        path = logical_paths.normalize(name)
        entry = self.manifest.get(path)
        if entry is None:
            raise EntryNotFoundError(
                f"artifact {self._name} has no entry {path!r}; see artifact.manifest.entries"
            )
        return entry

    def get_added_local_path_name(self, local_path: str | os.PathLike[str]) -> str | None:
        """The logical path a local file was added as in this draft, or ``None``."""
        if self._draft is None:
            return None
        return self._draft.added_local.get(os.path.abspath(os.fspath(local_path)))

    def get(self, name: str) -> Any:
        """Read back an object added with :meth:`add` (or any entry, as bytes).

        Raises:
            EntryNotFoundError: no such entry. SerializerError: unknown serializer.
        """
        entry = self.get_entry(name)
        svc = self._svc()
        src = self._draft.sources.get(entry.path) if self._draft is not None else None
        if src is None:
            data = read_entry(
                entry, cache=svc.cache, fetch=self._fetch, content_digest=self._content_digest,
                corrupt=self._corrupt, missing=self._missing,
            )
        else:
            data = self._draft_bytes(entry, src)
        name_ = (entry.extra or {}).get(SERIALIZER_KEY, "bytes")
        return svc.serializers.by_name(name_).load(data)

    def _draft_bytes(self, entry: ManifestEntry, src: Source) -> bytes:
        """The bytes a draft holds for ``entry``, checked against its digest.

        Raises:
            DigestMismatchError: the copy taken at add time is damaged (a cached copy is
                evicted, so the save reads the original file if it still holds the bytes).
            SourceFileChangedError: an ``immutable`` file changed since it was added.
        """
        if isinstance(src, PackedSource):
            data, where = src.read(), f"its snapshot in {src.pack}"
        else:
            if isinstance(src, CachedSource):
                path = src.cache_path
            elif isinstance(src, StoredSource):
                path = src.path
            else:
                path = src.file.abspath
            with open(path, "rb") as f:
                data = f.read()
            where = f"its cached copy {path}"
        got = hash_bytes(data, entry.alg)
        if got == entry.digest:
            return data
        if isinstance(src, StoredSource):  # never touched: it may be the only copy
            raise DigestMismatchError(
                f"{self._name}: {entry.path}: the store object {path} is corrupt: its bytes "
                f"hash to {got}, the manifest says {entry.digest}; nothing was read, and the "
                "object was left as it is. Run 'satchel fsck --deep' to list every damaged "
                "object",
                digest=got, expected=entry.digest,
            )
        if isinstance(src, LocalSource):
            raise SourceFileChangedError(
                f"{entry.path} ({src.file.abspath}) changed since it was added with "
                f"policy='immutable' (it hashes to {got}, not {entry.digest}); add it again",
                paths=[entry.path],
            )
        if isinstance(src, CachedSource):
            self._svc().cache.evict(src.cache_path)
        raise DigestMismatchError(
            f"{self._name}: {entry.path}: {where} is damaged (its bytes hash to {got}, not "
            f"{entry.digest}) and was not used; add the file again",
            digest=got, expected=entry.digest,
        )

    def __getitem__(self, name: str) -> Any:
        """``artifact[name]`` is :meth:`get`."""
        return self.get(name)

    # -- derived facts --------------------------------------------------------------------
    @property
    def manifest(self) -> Manifest:
        """The manifest (for a draft, of its current entries)."""
        if self._draft is not None:
            return Manifest(self._draft.entries)
        if self._manifest is None:
            # checked against the record: a record edited to name another manifest (or with
            # another digest) must not make reads serve and approve other content
            self._manifest = self._store().manifest_for(self._committed("manifest"))
        return self._manifest

    @property
    def digest(self) -> str:
        """The artifact digest (W&B-compatible hex MD5)."""
        return self._record.digest if self._record else self.manifest.digest

    @property
    def size(self) -> int:
        """Total bytes of entries with a known size."""
        return self._record.size if self._record else self.manifest.size

    @property
    def file_count(self) -> int:
        """Number of entries."""
        return self._record.file_count if self._record else len(self.manifest)

    # -- names and identity ---------------------------------------------------------------
    @property
    def name(self) -> str:
        """``"name:v3"`` once committed; the bare name on a draft (as in W&B)."""
        return f"{self._name}:v{self._record.version}" if self._record else self._name

    @property
    def source_name(self) -> str:
        """``"name:v3"`` (committed only)."""
        return f"{self._name}:v{self._committed('source_name').version}"

    @property
    def qualified_name(self) -> str:
        """``"project/name:v3"`` (committed only)."""
        rec = self._committed("qualified_name")
        return f"{rec.project}/{rec.name}:v{rec.version}"

    @property
    def collection_name(self) -> str:
        """The collection (artifact) name without version."""
        return self._name

    @property
    def version(self) -> str:
        """``"v3"`` (committed only)."""
        return f"v{self._committed('version').version}"

    @property
    def version_index(self) -> int:
        """``3`` for ``v3`` (committed only)."""
        return self._committed("version_index").version

    @property
    def project(self) -> str:
        """The project (committed only)."""
        return self._committed("project").project

    @property
    def id(self) -> str:
        """Unique id of the version (committed only)."""
        return self._committed("id").id

    @property
    def type(self) -> str:
        """The artifact type."""
        return self._type

    @property
    def incremental(self) -> bool:
        """Whether the draft commits as a change to the latest version."""
        return self._incremental

    @property
    def created_at(self) -> _dt.datetime:
        """When the version was committed (UTC, committed only)."""
        return parse_time(self._committed("created_at").created_at)

    @property
    def updated_at(self) -> _dt.datetime:
        """When attributes last changed (UTC, committed only)."""
        rec = self._committed("updated_at")
        self._extras()
        return parse_time((self._attrs and self._attrs.updated_at) or rec.created_at)

    @property
    def commit_hash(self) -> str:
        """Id of the stored manifest (SHA-256 of its canonical JSON; committed only)."""
        return self._committed("commit_hash").manifest

    @property
    def based_on(self) -> str | None:
        """``"v2"`` when this version was made with ``new_draft()`` from v2 (committed only)."""
        rec = self._committed("based_on")
        return f"v{rec.based_on}" if rec.based_on is not None else None

    @property
    def created_by(self) -> str:
        """``user@host`` that committed the version (committed only)."""
        return self._committed("created_by").created_by

    # -- editable attributes --------------------------------------------------------------
    @property
    def description(self) -> str | None:
        """Free text; editable after commit (persist with :meth:`save`)."""
        self._extras()
        return self._description

    @description.setter
    def description(self, value: str | None) -> None:
        self._check_not_deleted()
        self._extras()
        self._description = value

    @property
    def metadata(self) -> dict[str, Any]:
        """JSON-able dict, at most 100 top-level keys; editable after commit."""
        self._extras()
        return self._metadata

    @metadata.setter
    def metadata(self, value: dict[str, Any]) -> None:
        self._check_not_deleted()
        self._extras()
        self._metadata = _check_metadata(value)

    @property
    def aliases(self) -> list[str]:
        """Aliases of the version (``latest`` included when it is the newest); editable."""
        self._extras()
        out = list(self._aliases)
        if self._is_latest and "latest" not in out:
            out.append("latest")
        return out

    @aliases.setter
    def aliases(self, value: Sequence[str]) -> None:
        self._check_not_deleted()
        self._extras()
        self._aliases = _clean_aliases(value)

    @property
    def tags(self) -> list[str]:
        """Tags of the version; editable."""
        self._extras()
        return list(self._tags)

    @tags.setter
    def tags(self, value: Sequence[str]) -> None:
        self._check_not_deleted()
        self._extras()
        self._tags = sorted({naming.validate_tag(t) for t in value})

    @property
    def ttl(self) -> _dt.timedelta | None:
        """Time to live, counted from the commit (``None``: kept for ever); editable, persisted
        by :meth:`save`. ``satchel gc`` deletes an expired version unless an alias names it."""
        self._extras()
        return None if self._ttl is None else _dt.timedelta(seconds=self._ttl)

    @ttl.setter
    def ttl(self, value: _dt.timedelta | None) -> None:
        self._check_not_deleted()
        self._extras()
        self._ttl = _ttl_seconds(value)

    # -- registry: stages, links, deletion, lineage (the work is in satchel.registry) ------
    @property
    def stage(self) -> str | None:
        """The current stage (``development``, ``staging``, ``production``, ``archived``) or
        ``None`` (committed only); change it with ``Api.stage_artifact_version``."""
        self._committed("stage")
        self._extras()
        return self._attrs.stage if self._attrs is not None else None

    @property
    def stage_history(self) -> list[StageEvent]:
        """Every stage change, oldest first: from, to, when, who, reason, message."""
        from satchel.registry.stages import history

        self._committed("stage_history")
        self._extras()
        return history(self._attrs) if self._attrs is not None else []

    @property
    def is_link(self) -> bool:
        """True when this version is a link into a portfolio (see :meth:`link`)."""
        return self._record is not None and self._record.linked_from is not None

    @property
    def linked_from(self) -> str | None:
        """``"project/name:vN"`` of the version this link points at; ``None`` if not a link."""
        return self._record.linked_from if self._record is not None else None

    @property
    def source_artifact(self) -> Artifact:
        """The version a link points at (the artifact itself when it is not a link).

        Raises:
            ArtifactDeletedError: the source was deleted (the link still downloads).
        """
        rec = self._committed("source_artifact")
        if rec.linked_from is None:
            return self
        ref = naming.parse_ref(rec.linked_from)
        assert ref.project is not None and ref.version is not None
        store = self._store()
        return Artifact._from_record(
            self._svc(), store, store.version(ref.project, ref.name, ref.version)
        )

    def delete(self, delete_aliases: bool = False) -> None:
        """Delete the version: it vanishes from ``latest``, listings and look-ups, its number
        is never reused, and ``satchel gc`` later frees content no live version uses.

        Args:
            delete_aliases: also remove the aliases naming it (otherwise they block deletion).

        Raises:
            AliasProtectedError: aliases name the version and ``delete_aliases`` is false.
            ArtifactDeletedError: already deleted.
        """
        from satchel.registry.delete import delete_version

        rec = self._committed("delete")
        delete_version(self._store(), rec, delete_aliases=delete_aliases)
        self._became_deleted()

    def link(self, target_path: str, aliases: Sequence[str] | None = None) -> Artifact:
        """Add this version to a portfolio collection without copying anything (W&B's link).

        Args:
            target_path: ``"portfolio"`` (same project) or ``"project/portfolio"``.
            aliases: portfolio aliases to point at the link.

        Returns:
            The linked version, as an artifact of the portfolio.

        Raises:
            ArtifactTypeMismatchError: the portfolio holds another type.
        """
        from satchel.registry.link import link_version

        self._check_not_deleted()
        store = self._store()
        record = link_version(store, self._committed("link"), target_path, aliases=aliases)
        return Artifact._from_record(self._svc(), store, record)

    def unlink(self) -> None:
        """Remove this linked version from its portfolio (the source stays).

        Raises:
            ArtifactStateError: this version is not a link.
        """
        from satchel.registry.link import unlink_version

        unlink_version(self._store(), self._committed("unlink"))
        self._became_deleted()

    def logged_by(self) -> Run | None:
        """The run that logged (produced) this version, or ``None``."""
        from satchel.registry.lineage import producer
        from satchel.run import Run

        record = producer(self._store(), self._committed("logged_by"))
        return Run._from_record(record, self._svc()) if record is not None else None

    def used_by(self) -> list[Run]:
        """The runs that used this version (``run.use_artifact``), oldest first."""
        from satchel.registry.lineage import consumers
        from satchel.run import Run

        records = consumers(self._store(), self._committed("used_by"))
        return [Run._from_record(r, self._svc()) for r in records]

    def _became_deleted(self) -> None:
        self._extras()
        self._transition(ArtifactState.DELETED)
        self._aliases, self._saved_aliases, self._is_latest = [], set(), False

    def _check_not_deleted(self) -> None:
        if self._state is ArtifactState.DELETED:
            raise ArtifactStateError(f"artifact {self.name} was deleted and cannot change")

    # -- committing -----------------------------------------------------------------------
    @_local_errors_typed("saving {name}")
    def save(
        self,
        project: str | None = None,
        *,
        store: Store | str | None = None,
        aliases: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
    ) -> Artifact:
        """Commit a draft as the next version, or persist a committed one's attributes.

        Args:
            project: the project (default: ``$SATCHEL_PROJECT`` or ``default``).
            store: a :class:`Store` or URL (default: the configured store, or, for a draft
                made with ``new_draft()``, the store of its parent).
            aliases: aliases to point at the version (``latest`` is implied and ignored).
            tags: tags to add.

        Returns:
            self, now committed.

        Raises:
            ArtifactTypeMismatchError, SourceFileChangedError, EntryNotFoundError (incremental
            removal of a missing path), InvalidNameError, StoreError.
        """
        self._extras()
        if aliases is not None:
            self._aliases = sorted(set(self._aliases) | set(_clean_aliases(aliases)))
        if tags is not None:
            self._tags = sorted(set(self._tags) | {naming.validate_tag(t) for t in tags})
        if self._state is ArtifactState.COMMITTED:
            self._persist_attributes()
            return self
        if self._state is ArtifactState.DELETED:
            raise ArtifactStateError(f"artifact {self._name} was deleted and cannot be saved")
        svc = self._svc()
        if store is not None or svc.store is None:
            svc = svc.with_store(store if store is not None else self._origin)
        self._services = svc
        target = svc.require_store()
        proj = config.project(project or (self._based_on.project if self._based_on else None))
        draft = self._draft
        assert draft is not None
        previous = self._state
        self._state = ArtifactState.PENDING
        uploader = Uploader(
            draft, target, svc.cache, origin=self._origin, progress=svc.progress,
            based_on=self._based_on,
        )
        incremental = self._incremental

        def build(latest: VersionRecord | None) -> Manifest:
            base = target.manifest_for(latest) if incremental and latest else None
            return draft.build(base)

        request = CommitRequest(
            project=proj,
            name=self._name,
            type=self._type,
            build=build,
            upload=uploader,
            description=self._description,
            metadata=self._metadata,
            tags=tuple(self._tags),
            aliases=tuple(self._aliases),
            ttl_seconds=self._ttl,
            run_id=self._run_id,
            based_on=self._based_on.version if self._based_on and self._based_on.project == proj and self._based_on.name == self._name else None,
        )
        try:
            result = target.commit(request)
        except BaseException:
            self._state = previous
            raise
        if result.created:
            uploader.confirm(result.manifest, result.record.manifest)
        uploader.release()
        self._transition(ArtifactState.COMMITTED)
        self._draft = None
        self._manifest = result.manifest
        self._origin = target
        wanted_tags = set(self._tags)
        self._load(result.record)
        if not result.created and not wanted_tags <= set(self.tags):
            self._tags = sorted(set(self._tags) | wanted_tags)
            self._persist_attributes()
        return self

    def _adopt_commit(self, store: Store, record: VersionRecord, manifest: Manifest) -> None:
        """Become the committed version ``record`` of ``store`` (a draft whose content was
        committed by someone else on its behalf: a collaborative ``finish_artifact``)."""
        if self._state is ArtifactState.DRAFT:
            self._transition(ArtifactState.PENDING)
        self._transition(ArtifactState.COMMITTED)
        self._draft = None
        self._manifest = manifest
        self._origin = store
        self._services = self._svc().with_store(store)
        self._load(record)

    def _persist_attributes(self) -> None:
        rec = self._committed("save")
        self._extras()
        store = self._store()
        assert self._attrs is not None
        loaded = self._attrs
        add_tags = set(self._tags) - self._saved_tags
        drop_tags = self._saved_tags - set(self._tags)
        description, metadata, ttl = self._description, self._metadata, self._ttl

        def change(cur: VersionAttrs) -> VersionAttrs:
            return msgspec.structs.replace(
                cur,
                description=description if description != loaded.description else cur.description,
                metadata=_merge_keys(loaded.metadata, metadata, cur.metadata),
                tags=sorted((set(cur.tags) | add_tags) - drop_tags),
                ttl_seconds=ttl if ttl != loaded.ttl_seconds else cur.ttl_seconds,
            )

        if (
            add_tags or drop_tags or description != loaded.description
            or metadata != loaded.metadata or ttl != loaded.ttl_seconds
        ):
            store.update_attrs(rec, change)
        for alias in set(self._aliases) - self._saved_aliases:
            store.set_alias(rec.project, rec.name, alias, rec.version)
        for alias in self._saved_aliases - set(self._aliases):
            if store.alias_target(rec.project, rec.name, alias) == rec.version:
                store.remove_alias(rec.project, rec.name, alias)
        self._load(rec)

    # -- reading --------------------------------------------------------------------------
    def _fetch(self, entry: ManifestEntry, refetch: bool) -> list[tuple[str, str]]:
        """Where an entry's bytes are: a local store's object (read in place: the cache holds
        no copy of a local store's objects), else a cache file, fetched when missing."""
        svc = self._svc()
        if entry.is_reference:
            return svc.handlers.for_uri(entry.ref).load(entry)  # type: ignore[arg-type]
        store = self._store()
        in_place = store.local_object_path(entry.alg, entry.oid)
        if in_place is not None:
            return [("", in_place)]
        cache = svc.cache
        path = None if refetch else cache.get(entry.alg, entry.oid, entry.size)
        if path is None:
            path = cache.object_path(entry.alg, entry.oid)
            try:
                with store.open_object(entry.alg, entry.oid) as f:
                    cache.put_stream(
                        f, path, alg=entry.alg, expected_digest=entry.digest,
                        what=f"{entry.path} from {store.url}",
                    )
            except DigestMismatchError as exc:
                raise self._corrupt(entry, path, exc.digest or "?", True) from exc
        return [("", path)]

    def _corrupt(
        self, entry: ManifestEntry, path: str, got: str, refetched: bool
    ) -> DigestMismatchError:
        """The error for an entry whose bytes at ``path`` hash to ``got`` (see
        :data:`satchel.checkout.Corrupt`)."""
        # a draft's inherited entries are read the same way (get() of a new_draft())
        who = f"{self.qualified_name if self._record else self._name + ' (draft)'}: {entry.path}"
        if entry.is_reference:
            return DigestMismatchError(
                f"{who}: the bytes of reference {entry.ref} hash to {got}, not to the recorded "
                f"{entry.digest}, even when fetched again; nothing was written or kept. The "
                "referenced object changed or is damaged: re-add the reference",
                digest=got, expected=entry.digest,
            )
        store = self._store()
        key = layout.object_key(entry.alg, entry.oid)
        if self._svc().cache.owns(path):  # fetched from a bucket store: corrupt there
            where = f"the store object {key} in {store.url}"
            kept = "nothing was written or cached"
        else:
            where = f"the store object {path}"
            kept = "nothing was written, and the object was left as it is (it may be the only copy)"
        return DigestMismatchError(
            f"{who}: {where} is corrupt: its bytes hash to {got}, the manifest says "
            f"{entry.digest}; {kept}. Run 'satchel fsck --deep' to list every damaged object",
            digest=got, expected=entry.digest,
        )

    def _missing(self, entry: ManifestEntry, exc: FileNotFoundError) -> Exception:
        """The error for a local store object (read in place) that is gone: the one
        :meth:`Store.open_object` raises for a missing object, so every read path names it
        the same way."""
        try:
            self._store().open_object(entry.alg, entry.oid).close()
        except Exception as typed:  # noqa: BLE001 - handed back to be raised
            return typed
        return exc  # back meanwhile: report what happened

    def _content_digest(self, entry: ManifestEntry) -> tuple[str, str] | None:
        if entry.is_reference:
            return self._svc().handlers.for_uri(entry.ref).content_digest(entry)  # type: ignore[arg-type]
        return (entry.alg, entry.digest)

    def _default_root(self) -> str:
        rec = self._committed("download")
        return os.path.abspath(os.path.join("artifacts", f"{rec.name}-v{rec.version}"))

    @_local_errors_typed("downloading {name}", takes_root=True)
    def download(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        allow_missing_references: bool = False,
        skip_cache: bool = False,
        path_prefix: str | None = None,
    ) -> str:
        """Download the version's files into ``root`` through the cache.

        Files already present with the right content are kept; other files in ``root`` are
        left alone (use :meth:`checkout` to remove them).

        Args:
            root: the folder (default ``./artifacts/<name>-v<N>``).
            allow_missing_references: skip vanished/changed references with a warning.
            skip_cache: remove the cached copies fetched for this download afterwards.
            path_prefix: only entries whose logical path starts with this.

        Returns:
            The folder's absolute path.
        """
        self._committed("download")
        folder = os.path.abspath(os.fspath(root)) if root is not None else self._default_root()
        self._materialize(folder, allow_missing_references, path_prefix, skip_cache)
        return folder

    def _materialize(
        self, folder: str, allow_missing: bool, path_prefix: str | None, skip_cache: bool = False
    ) -> MaterializeResult:
        svc = self._svc()
        manifest = self.manifest
        bar = svc.progress(len(manifest), f"downloading {self.name}")
        try:
            result = materialize(
                manifest, folder, cache=svc.cache, fetch=self._fetch,
                content_digest=self._content_digest, allow_missing_references=allow_missing,
                path_prefix=path_prefix, bar=bar, warn=bar.note,
                workers=self._download_workers(manifest),
                corrupt=self._corrupt, missing=self._missing,
            )
        finally:
            bar.close()
        if skip_cache and self._store().backend.local_path("") is None:
            # (a local store's objects are read in place: such a download cached nothing)
            for entry in manifest:
                if not entry.is_reference:
                    svc.cache.evict(svc.cache.object_path(entry.alg, entry.oid))
        return result

    def _download_workers(self, manifest: Manifest) -> int | None:
        """The remote store's transfer pool while something must come over the network; the
        local pool (``None``) when the cache holds every object, as more threads copying local
        files only contend for the GIL."""
        io_workers: int | None = getattr(self._store().backend, "io_workers", None)
        if io_workers is None:
            return None
        cache = self._svc().cache
        for entry in manifest:
            if entry.is_reference or cache.get(entry.alg, entry.oid, entry.size) is None:
                return io_workers
        return None

    @_local_errors_typed("checking out {name}", takes_root=True)
    def checkout(self, root: str | os.PathLike[str] | None = None) -> str:
        """Make ``root`` match the version exactly.

        Downloads what is missing or changed and **deletes every other file in root**.

        Returns:
            The folder's absolute path.
        """
        self._committed("checkout")
        folder = os.path.abspath(os.fspath(root)) if root is not None else self._default_root()
        # Extras first: it also clears a folder where a file must go (and the reverse).
        remove_extras(self.manifest, folder)
        self._materialize(folder, False, None)
        return folder

    def verify(self, root: str | os.PathLike[str] | None = None) -> VerificationReport:
        """Check that ``root`` holds exactly the version's files.

        Returns:
            A report (``unverifiable`` lists references without a content hash).

        Raises:
            ArtifactVerificationError: listing every missing, extra and changed file.
        """
        self._committed("verify")
        folder = os.path.abspath(os.fspath(root)) if root is not None else self._default_root()
        return verify_folder(
            self.manifest, folder, cache=self._svc().cache, content_digest=self._content_digest
        )

    def file(self, root: str | os.PathLike[str] | None = None) -> str:
        """Download a single-file artifact and return the file's path.

        Raises:
            ValueError: the artifact does not hold exactly one file.
        """
        manifest = self.manifest
        if len(manifest) != 1:
            raise ValueError(
                f"artifact {self.name} holds {len(manifest)} files; file() needs exactly one. "
                "Use download()"
            )
        folder = self.download(root)
        return os.path.join(folder, *next(iter(manifest)).path.split("/"))

    def files(self, names: Sequence[str] | None = None) -> list[ManifestEntry]:
        """The entries, or those at the given logical paths.

        Raises:
            EntryNotFoundError: a name is not in the artifact.
        """
        if names is None:
            return list(self.manifest)
        return [self.get_entry(n) for n in names]

    def new_draft(self) -> Artifact:
        """A draft holding the same entries (nothing rehashed or downloaded), committing to
        the same collection; the new version records this one as its base.

        Raises:
            ArtifactNotLoggedError: called on a draft.
        """
        rec = self._committed("new_draft")
        self._extras()
        draft = Artifact(
            self._name, self._type, self._description, self._metadata,
            services=self._svc(),
        )
        manifest = self.manifest
        first = next(iter(manifest), None)
        draft._alg = first.alg if first is not None and not first.is_reference else "md5"
        draft._draft = Draft(draft._alg, manifest)
        draft._based_on = rec
        draft._origin = self._store()
        draft._tags = []
        return draft

    def json_encode(self) -> dict[str, Any]:
        """A small JSON-able description of the version (W&B's ``artifactVersion`` shape)."""
        rec = self._committed("json_encode")
        return {
            "_type": "artifactVersion",
            "_version": "v0",
            "id": rec.id,
            "version": f"v{rec.version}",
            "sequenceName": rec.name,
            "project": rec.project,
            "qualifiedName": self.qualified_name,
            "type": rec.type,
            "digest": rec.digest,
        }

    def __repr__(self) -> str:
        if self._record:
            return f"<Artifact {self.qualified_name} ({self._type})>"
        return f"<Artifact {self._name} ({self._type}, {self._state.value.lower()})>"


def _ttl_seconds(value: _dt.timedelta | None) -> float | None:
    if value is None:
        return None
    if not isinstance(value, _dt.timedelta):
        raise InvalidAttributeError(
            f"ttl must be a datetime.timedelta or None, got {type(value).__name__}"
        )
    if value.total_seconds() <= 0:
        raise InvalidAttributeError(f"ttl must be positive, got {value}")
    return value.total_seconds()


def _merge_keys(
    base: dict[str, Any], mine: dict[str, Any], theirs: dict[str, Any]
) -> dict[str, Any]:
    """Apply the top-level keys this editor added, changed or removed (``base`` -> ``mine``)
    to the current metadata ``theirs``, so concurrent editors of other keys lose nothing."""
    if mine == base:
        return theirs
    out = dict(theirs)
    for key, value in mine.items():
        if key not in base or base[key] != value:
            out[key] = value
    for key in base.keys() - mine.keys():
        out.pop(key, None)
    return out


def _check_policy(policy: str) -> None:
    if policy not in POLICIES:
        raise ValueError(f"policy must be 'mutable' or 'immutable', got {policy!r}")


def _clean_aliases(value: Sequence[str]) -> list[str]:
    if isinstance(value, str):
        value = [value]
    return sorted({naming.validate_alias(a) for a in value if a != naming.LATEST})


def _reject_credentials(uri: str) -> None:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(uri)
    except ValueError as exc:
        raise InvalidPathError(f"reference {uri!r} is not a valid URI: {exc}") from exc
    if parts.password is not None or (parts.username and "@" in parts.netloc):
        raise InvalidPathError(
            f"reference URI {parts.scheme}://...@{parts.hostname} contains credentials; remove "
            "them and configure access with satchel.configure(storage_options=...) or the "
            "environment. Credentials are never written into a manifest"
        )
