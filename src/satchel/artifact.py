"""The user-facing :class:`Artifact`, modelled on W&B's ``wandb.Artifact``.

An artifact is a *draft* (being built), *pending* (finalized or being committed), *committed*
(an immutable version in a store) or *deleted*: one :class:`ArtifactState`, one error per
illegal transition. It holds its state plus exactly one of a :class:`~satchel.draft.Draft`
(drafting) or a :class:`~satchel.version.Version` (committed: the record, attributes and
aliases). The class stays thin: drafting lives in :mod:`satchel.draft`, committing in
:mod:`satchel.store` and :mod:`satchel.commit`, fetching bytes in :mod:`satchel.fetch`, writing
folders in :mod:`satchel.checkout`. It is long because the W&B surface it mirrors is wide, not
because it does the work itself.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime as _dt
import enum
import functools
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any, Literal, TypeVar, overload

import msgspec

from satchel import naming, protected
from satchel import paths as logical_paths
from satchel import settings as _settings
from satchel.artifact_wandb import WandbArtifactMixin
from satchel.checkout import (
    CheckoutPlan,
    CheckoutResult,
    MaterializeResult,
    VerificationReport,
    check_deletions,
    delete_extras,
    plan_checkout,
    read_entry,
    selected,
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
    ArtifactVerificationError,
    DigestMismatchError,
    EntryNotFoundError,
    InvalidArgumentError,
    InvalidAttributeError,
    InvalidMetadataError,
    InvalidNameError,
    InvalidPathError,
    NotASingleFileError,
    SkippedFilesWarning,
    SourceFileChangedError,
    UnsupportedError,
)
from satchel.fetch import Fetcher
from satchel.fsutil import local_errors_typed
from satchel.handlers import DEFAULT_MAX_OBJECTS
from satchel.hashing import check_algorithm, hash_bytes
from satchel.ingest.tree import skipped_message, stat_file
from satchel.livelists import NameList
from satchel.manifest import Manifest, ManifestEntry
from satchel.progress import Bar
from satchel.serialization import SERIALIZER_KEY
from satchel.services import Services, local_services
from satchel.store import CommitRequest, Store, open_store
from satchel.store.records import VersionRecord, parse_time
from satchel.version import Version, check_alias

if TYPE_CHECKING:
    from satchel.entries import BoundEntry
    from satchel.registry.stages import StageEvent
    from satchel.results import Results
    from satchel.runs import Run

MAX_METADATA_KEYS = 100


class ArtifactState(str, enum.Enum):
    """Where an artifact is in its life. Values are strings, as W&B's ``state`` is."""

    DRAFT = "DRAFT"
    PENDING = "PENDING"
    COMMITTED = "COMMITTED"
    DELETED = "DELETED"


@dataclasses.dataclass(frozen=True, slots=True)
class SaveResult:
    """What the last :meth:`Artifact.save` did (:attr:`Artifact.save_result`).

    Attributes:
        created: a new version was committed. ``False`` when the content equalled the latest
            version's (the no-op rule: the artifact became that version) or when a committed
            artifact's attributes were saved. Computed from the commit itself, so of several
            processes saving the same content at once exactly one sees ``True``.
        updated: attributes this save changed on an existing version (``"description"``,
            ``"metadata"``, ``"ttl"``, ``"tags"``), in that order; aliases are not listed (a
            save always points the requested aliases at the version).
    """

    created: bool
    updated: tuple[str, ...] = ()


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
        raise InvalidMetadataError(f"metadata must be a dict, got {type(metadata).__name__}")
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


class Artifact(WandbArtifactMixin):
    """A versioned set of files: build it, commit it, fetch and use it.

    Args:
        name: the collection name (letters, digits, ``_``, ``-``, ``.``; at most 128).
        type: what it is (``"dataset"``, ``"model"``, ...); a name keeps its first type.
        description: free text.
        metadata: JSON-serialisable dict, at most 100 top-level keys.
        incremental: commit as a change to whatever version is latest at save time.
        use_as: accepted for W&B compatibility; does nothing (deprecated in W&B).
        storage_region: W&B's storage region; only ``None`` (the store decides where bytes
            live).
        digest_algorithm: ``"md5"`` (W&B-compatible, the default) or ``"xxh128"`` (faster;
            W&B's ``"MD5"``/``"XXH128"`` spelling is accepted too).

    Raises:
        InvalidNameError: bad name or type.
        InvalidMetadataError: bad metadata.
        ConfigError: unknown digest algorithm. UnsupportedError: a ``storage_region``.
    """

    def __init__(
        self,
        name: str,
        type: str,  # W&B's argument name (shadows the builtin on purpose)
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        incremental: bool = False,
        use_as: str | None = None,
        storage_region: str | None = None,
        digest_algorithm: str = "md5",
        *,
        services: Services | None = None,
        _version: Version | None = None,  # internal: see _of
    ) -> None:
        # One state, one holder: a draft (DRAFT, PENDING) holds its Draft (entries, sources)
        # and the attribute values below; a committed (or deleted) artifact holds its Version,
        # which holds the attributes, aliases and tags (the draft fields then mean nothing).
        committed = _version is not None
        self._name = name if committed else naming.validate_name(name)
        self._type = type if committed else naming.validate_name(type, kind="type")
        self._description = description
        self._metadata = _check_metadata(metadata)
        # attributes given to this draft (not inherited by new_draft): a save whose content
        # equals the latest version's applies them to that version
        self._given: set[str] = set()
        if description is not None:
            self._given.add("description")
        if self._metadata:
            self._given.add("metadata")
        # what the draft started with, to notice in-place edits (draft.metadata["k"] = v)
        self._baseline: tuple[str | None, dict[str, Any]] = (
            self._description,
            copy.deepcopy(self._metadata),
        )
        self._save_result: SaveResult | None = None
        self._incremental = bool(incremental)
        if storage_region is not None:
            raise UnsupportedError(
                f"storage_region={storage_region!r}: satchel stores bytes where its store "
                "is (choose a bucket in that region with SATCHEL_STORE); leave it unset"
            )
        self._alg = check_algorithm(
            digest_algorithm.lower() if isinstance(digest_algorithm, str) else digest_algorithm
        )
        self._state = ArtifactState.COMMITTED if committed else ArtifactState.DRAFT
        self._draft: Draft | None = None if committed else Draft(self._alg)
        self._version: Version | None = _version
        self._services = services
        # The live lists a draft's ``aliases`` and ``tags`` return (see satchel.livelists);
        # the Version a save makes of it keeps them, so they stay the artifact's lists.
        self._aliases = NameList((), check_alias)
        self._tags = NameList((), naming.validate_tag)
        self._ttl: float | None = None
        self._based_on: VersionRecord | None = None  # new_draft: the version it started from
        self._origin: Store | None = None  # new_draft: the store of that version
        self._run_id: str | None = None  # set by Run.log_artifact: the producing run

    @classmethod
    def _of(cls, version: Version, services: Services) -> Artifact:
        """The committed artifact that is ``version`` (the one constructor of committed
        artifacts: ``Api``, runs and ``link`` build them from a :class:`Version`), reading
        ``version.store`` through ``services``."""
        rec = version.record
        return cls(
            rec.name, rec.type, services=services.with_store(version.store), _version=version
        )

    def _became(self, version: Version) -> None:
        """Turn from a draft into the committed ``version`` (given this artifact's lists)."""
        self._transition(ArtifactState.COMMITTED)
        self._draft = None
        self._version = version

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
        return self._held(attr).record

    def _held(self, attr: str) -> Version:
        """The version this artifact is, for reading ``attr``.

        Raises:
            ArtifactNotLoggedError: a draft.
        """
        if self._version is None:
            raise ArtifactNotLoggedError(
                f"{attr!r} exists only once the artifact is committed; call save() first"
            )
        return self._version

    @property
    def _record(self) -> VersionRecord | None:
        return self._version.record if self._version is not None else None

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

    @property
    def save_result(self) -> SaveResult | None:
        """What the last :meth:`save` of this object did (whether it created a version, and
        which attributes it changed on an existing one); ``None`` before any save."""
        return self._save_result

    # -- services -------------------------------------------------------------------------
    def _svc(self) -> Services:
        if self._services is None:
            self._services = local_services()
        return self._services

    def _store(self) -> Store:
        return self._svc().require_store()

    def _local_folders(self, root: Any, kwargs: dict[str, Any]) -> list[tuple[str, str]]:
        """Local folders a call may write to, with their roles, for naming a full disk: the
        cache, a local store (also one given as ``store=``), the folder the call writes into
        (``root``), the working directory (default download folders) and the temporary
        folder (:meth:`new_file`)."""
        svc = self._svc()
        folders = [
            (svc.cache.root, "cache"),
            (os.getcwd(), "workdir"),
            (tempfile.gettempdir(), "temp"),
        ]
        for store in (svc.store, kwargs.get("store")):
            if isinstance(store, str) and "://" not in store:
                folders.append((store, "store"))
            store_root = store.backend.local_path("") if isinstance(store, Store) else None
            if isinstance(store_root, str):
                folders.append((os.path.normpath(store_root), "store"))
        if isinstance(root, (str, os.PathLike)):
            folders.append((os.fspath(root), "target"))
        return folders

    # -- drafting -------------------------------------------------------------------------
    @_local_errors_typed("adding a file to {name}")
    def add_file(
        self,
        local_path: str | os.PathLike[str],
        name: str | None = None,
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
            skip_cache: keep no copy in the cache: the file is hashed now and streamed to the
                store at save, where it must still hold those bytes (as with
                ``policy="immutable"``), so a commit needs no cache room for it.
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
        ((entry, source),) = draft.ingest(
            [local],
            [logical],
            cache=cache,
            policy=policy,
            skip_cache=skip_cache,
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
            url = _settings.store_url()
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
        skip_cache: bool = False,
        policy: str = "mutable",
        merge: bool = False,
    ) -> None:
        """Add every regular file below a folder (and symbolic links to regular files).

        Anything else is skipped with a :class:`~satchel.errors.SkippedFilesWarning` listing
        it: symbolic links to folders (not followed), symbolic link loops, dangling links,
        FIFOs, sockets and devices.

        Args:
            local_path: the folder.
            name: logical folder to put the files under (default: the artifact root).
            skip_cache: keep no copies in the cache (see :meth:`add_file`).
            policy: ``"mutable"`` or ``"immutable"`` (see :meth:`add_file`).
            merge: replace existing entries whose content differs, instead of raising.

        satchel's own folders are never added: a satchel store or cache found below
        ``local_path`` (a project-local ``SATCHEL_STORE=./store``, say), and the folders
        ``./artifacts/<name>-v<N>`` where this artifact's versions download by default, are
        skipped with a warning (see :mod:`satchel.protected`).

        Raises:
            SourceFileNotFoundError: no such folder. EntryConflictError: paths taken.
            ProtectedFolderError: ``local_path`` is, or is inside, a satchel store or cache.
        """
        draft = self._editable()
        _check_policy(policy)
        prefix = logical_paths.normalize(name) if name else None
        svc = self._svc()
        folder = os.fspath(local_path)
        own = protected.satchel_folders(svc.cache.root, [svc.store])
        protected.check_source_root(folder, own, self._name)
        pruner = protected.Pruner(folder, [*own, *protected.download_folders(self._name)])
        bars: list[Bar] = []

        def progress(total: int) -> Callable[[int], None]:  # once the scan has counted
            bars.append(svc.progress(total, f"adding {os.fspath(local_path)}"))
            return bars[0].update

        skipped: list[tuple[str, str]] = []
        try:  # scans and hashes at once; paths are validated before waiting for hashes
            files, pairs = draft.ingest_dir(
                folder,
                prefix,
                cache=svc.cache,
                policy=policy,
                skip_cache=skip_cache,
                progress=progress,
                skipped=skipped,
                skip=pruner if pruner else None,
                stored=self._stored_objects(policy),
            )
        finally:
            for bar in bars:
                bar.close()
        for path, hit in pruner.skipped:
            warnings.warn(protected.skipped_message(path, hit, folder, self._name), stacklevel=3)
        draft.check_conflicts((e for e, _s in pairs), overwrite=merge)
        draft.put_many(pairs, [f.abspath for f in files])
        if skipped:
            where = os.path.abspath(folder)
            warnings.warn(
                SkippedFilesWarning(
                    skipped_message(where, skipped, "add_dir"), folder=where, skipped=skipped
                ),
                stacklevel=3,  # the caller of add_dir (through the error-typing wrapper)
            )

    def add_reference(
        self,
        uri: str | ManifestEntry,
        name: str | None = None,
        checksum: bool = True,
        max_objects: int | None = None,
    ) -> list[ManifestEntry]:
        """Track a file, folder, object or prefix in external storage without copying it.

        Args:
            uri: ``file://``, ``http(s)://``, ``s3://``, ``gs://``, ``az://``... (unknown
                schemes are tracked by URI only and need ``name``); or, as in W&B, an entry
                of a committed artifact (or its ``ref_url()``, ``satchel-artifact://...``),
                whose content is then shared, not copied (same store only).
            name: logical path (single object) or folder (prefix) for the entries.
            checksum: record checksums (``False``: W&B's entries, see the README).
            max_objects: refuse prefixes holding more objects (default 10,000,000).

        Returns:
            The entries added.

        Raises:
            InvalidPathError: credentials in the URI, or no ``name`` for an unknown scheme.
            TooManyObjectsError, ReferenceNotFoundError, ReferenceAccessError,
            ReferenceNetworkError, HandlerUnavailableError: see the handler.
            UnsupportedReferenceError: a W&B ``wandb-artifact://`` URL.
        """
        draft = self._editable()
        from satchel.entries import artifact_entry_reference

        shared = artifact_entry_reference(self._store, uri, name)
        if shared is not None:
            draft.check_conflicts([shared], overwrite=False)
            draft.put(shared, None, overwrite=False)
            return [shared]
        assert isinstance(uri, str)
        _reject_credentials(uri)
        limit = DEFAULT_MAX_OBJECTS if max_objects is None else int(max_objects)
        if limit < 1:
            raise InvalidArgumentError(
                f"max_objects must be at least 1, got {max_objects}; pass a positive limit, or None for the default"
            )
        handler = self._svc().handlers.for_uri(uri)
        entries = handler.entries(uri, name=name, checksum=checksum, max_objects=limit)
        draft.check_conflicts(entries, overwrite=False)
        for e in entries:
            draft.put(e, None, overwrite=False)
        return entries

    @_local_errors_typed("adding an object to {name}")
    def add(self, obj: Any, name: str, overwrite: bool = False) -> ManifestEntry:
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
        self, name: str, mode: str = "x", encoding: str | None = None, policy: str = "mutable"
    ) -> Iterator[IO[Any]]:
        """Open a new file to write; it is added when the ``with`` block ends.

        Args:
            name: its logical path.
            mode: ``"x"``/``"w"`` (text) or ``"xb"``/``"wb"`` (binary); ``x`` refuses a
                path already in the artifact, ``w`` replaces it.
            encoding: text encoding (default UTF-8).
            policy: ``"mutable"`` or ``"immutable"`` (W&B's argument; the file is satchel's
                own temporary file, so both keep the bytes written).

        Raises:
            EntryConflictError: mode ``x`` and the path exists. ValueError: bad mode.
        """
        draft = self._editable()
        _check_policy(policy)
        logical = logical_paths.normalize(name)
        if mode not in ("x", "w", "xb", "wb"):
            raise InvalidArgumentError(
                f"mode must be 'x', 'w', 'xb' or 'wb', got {mode!r}; new_file() writes a new file (use download() to read one)"
            )
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
                self.add_file(path, logical, overwrite=True, policy="mutable")
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

    def get_entry(self, name: str) -> BoundEntry:
        """The entry at logical path ``name``, bound to this artifact (so that, as in W&B,
        ``get_entry(name).download()`` works; see :mod:`satchel.entries`).

        Raises:
            EntryNotFoundError: no such entry.
        """
        from satchel.entries import bind

        path = logical_paths.normalize(name, stored=True)
        entry = self.manifest.get(path)
        if entry is None:
            raise EntryNotFoundError(
                f"artifact {self._name} has no entry {path!r}; see artifact.manifest.entries"
            )
        return bind(entry, self)

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
            fetcher = self._fetcher()
            data = read_entry(
                entry,
                cache=svc.cache,
                fetch=fetcher.fetch,
                content_digest=fetcher.content_digest,
                corrupt=fetcher.corrupt,
                missing=fetcher.missing,
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
                digest=got,
                expected=entry.digest,
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
            digest=got,
            expected=entry.digest,
        )

    def __getitem__(self, name: str) -> Any:
        """``artifact[name]`` is :meth:`get`."""
        return self.get(name)

    # -- derived facts --------------------------------------------------------------------
    @property
    def manifest(self) -> Manifest:
        """The manifest (for a draft, of its current entries)."""
        if self._draft is not None:
            return Manifest(self._draft.entries, digest_algorithm=self._alg)
        return self._held("manifest").manifest

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
        """``"name:v3"`` of the source version (of the version a link points at); the bare
        name on a draft, as in W&B."""
        if self._record is None:
            return self._name
        ref = self._source_ref("source_name")
        return f"{ref.name}:{ref.selector}"

    @property
    def digest_algorithm(self) -> str:
        """``"md5"`` or ``"xxh128"``: what the entries and the artifact digest hash with."""
        if self._draft is not None or self._record is None:
            return self._alg
        return self.manifest.digest_algorithm

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
    def id(self) -> str | None:
        """Unique id of the version; ``None`` on a draft (as in W&B)."""
        return self._record.id if self._record is not None else None

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
        version = self._held("updated_at")
        return parse_time(version.attrs.updated_at or version.record.created_at)

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
        return self._version.description if self._version is not None else self._description

    @description.setter
    def description(self, value: str | None) -> None:
        self._check_not_deleted()
        if self._version is not None:
            self._version.description = value
        else:
            self._description = value
        self._given.add("description")

    @property
    def metadata(self) -> dict[str, Any]:
        """JSON-able dict, at most 100 top-level keys; editable after commit."""
        return self._version.metadata if self._version is not None else self._metadata

    @metadata.setter
    def metadata(self, value: dict[str, Any]) -> None:
        self._check_not_deleted()
        checked = _check_metadata(value)
        if self._version is not None:
            self._version.metadata = checked
        else:
            self._metadata = checked
        self._given.add("metadata")

    @property
    def aliases(self) -> list[str]:
        """Aliases of the version (``latest`` included when it is the newest): the artifact's
        own live list, so ``aliases.append("best")`` / ``.remove("old")`` followed by
        :meth:`save` persists the change, as in W&B. Additions are validated at once
        (``InvalidNameError``); ``latest`` in the list is ignored by ``save`` (it is
        computed)."""
        return self._own_aliases()

    @aliases.setter
    def aliases(self, value: Sequence[str]) -> None:
        self._check_not_deleted()
        own = self._own_aliases()
        self._check_latest(value)
        # names it already has pass as they are (an older satchel allowed a leading '.')
        own.replace_all(_clean_aliases(value, keep_latest=True, kept=own))

    def _own_aliases(self) -> NameList:
        return self._version.aliases if self._version is not None else self._aliases

    def _own_tags(self) -> NameList:
        return self._version.tags if self._version is not None else self._tags

    def _check_latest(self, aliases: Sequence[str]) -> None:
        """``latest`` is computed: accepted where it is true anyway (a draft, whose commit is
        the newest version, or the newest committed version: ``art.aliases`` lists it), and
        refused where assigning it would be ignored.

        Raises:
            InvalidNameError: ``latest`` for a committed version that is not the newest.
        """
        if isinstance(aliases, str):
            aliases = [aliases]
        if naming.LATEST not in aliases or self._version is None or self._version.is_latest:
            return
        rec = self._version.record
        raise InvalidNameError(
            f"alias 'latest' is computed (it always names the newest version of "
            f"{rec.project}/{rec.name}) and cannot be assigned to "
            f"{self.qualified_name}; use another alias, such as 'best' or 'prod'"
        )

    @property
    def tags(self) -> list[str]:
        """Tags of the version: the artifact's own live list (``tags.append(...)`` then
        :meth:`save` persists it); additions are validated at once."""
        return self._own_tags()

    @tags.setter
    def tags(self, value: Sequence[str]) -> None:
        self._check_not_deleted()
        own = self._own_tags()
        kept = set(own)  # as for aliases: tags it already has pass as they are
        own.replace_all(
            sorted({t if t in kept else naming.validate_tag(t) for t in _as_list(value)})
        )

    @property
    def ttl(self) -> _dt.timedelta | None:
        """Time to live, counted from the commit (``None``: kept for ever); editable, persisted
        by :meth:`save`. ``satchel gc`` deletes an expired version unless an alias names it."""
        ttl = self._version.ttl if self._version is not None else self._ttl
        return None if ttl is None else _dt.timedelta(seconds=ttl)

    @ttl.setter
    def ttl(self, value: _dt.timedelta | None) -> None:
        self._check_not_deleted()
        seconds = _ttl_seconds(value)
        if self._version is not None:
            self._version.ttl = seconds
        else:
            self._ttl = seconds
        self._given.add("ttl")

    # -- registry: stages, links, deletion, lineage (the work is in satchel.registry) ------
    @property
    def stage(self) -> str | None:
        """The current stage (``development``, ``staging``, ``production``, ``archived``) or
        ``None`` (committed only); change it with ``Api.stage_artifact_version``."""
        return self._held("stage").attrs.stage

    @property
    def stage_history(self) -> list[StageEvent]:
        """Every stage change, oldest first: from, to, when, who, reason, message."""
        from satchel.registry.stages import history

        return history(self._held("stage_history").attrs)

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
        ref = naming.parse_ref(rec.linked_from, hidden_ok=True)
        assert ref.project is not None and ref.version is not None
        store = self._store()
        return Artifact._of(
            Version(store, store.version(ref.project, ref.name, ref.version)), self._svc()
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

        A draft is saved first (inside an active run, logged by it), as W&B does. W&B's
        ``"entity/project/portfolio"`` is accepted (the entity is ignored).

        Returns:
            The linked version, as an artifact of the portfolio.

        Raises:
            ArtifactTypeMismatchError: the portfolio holds another type.
        """
        from satchel.registry.link import link_version

        self._check_not_deleted()
        if self.is_draft():
            self.save()
        parts = target_path.split("/")
        if len(parts) == 3:  # W&B's entity/project/portfolio: satchel has no entities
            target_path = "/".join(parts[1:])
        store = self._store()
        record = link_version(store, self._committed("link"), target_path, aliases=aliases)
        return Artifact._of(Version(store, record), self._svc())

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
        from satchel.runs import Run

        record = producer(self._store(), self._committed("logged_by"))
        return Run._from_record(record, self._svc()) if record is not None else None

    def used_by(self) -> list[Run]:
        """The runs that used this version (``run.use_artifact``), oldest first."""
        from satchel.registry.lineage import consumers
        from satchel.runs import Run

        records = consumers(self._store(), self._committed("used_by"))
        return [Run._from_record(r, self._svc()) for r in records]

    def _became_deleted(self) -> None:
        self._held("delete").mark_deleted()
        self._transition(ArtifactState.DELETED)

    def _check_not_deleted(self) -> None:
        if self._state is ArtifactState.DELETED:
            raise ArtifactStateError(f"artifact {self.name} was deleted and cannot change")

    # -- committing -----------------------------------------------------------------------
    @_local_errors_typed("saving {name}")
    def save(
        self,
        project: str | None = None,
        settings: Any = None,
        *,
        store: Store | str | None = None,
        aliases: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
    ) -> Artifact:
        """Commit a draft as the next version, or persist a committed one's attributes.

        When the draft's content equals the latest version's, no version is created (the
        no-op rule): the artifact becomes that version, the aliases and tags are added to it,
        and the description, metadata and TTL given to the draft (to the constructor, set or
        edited in place on the draft; not those a ``new_draft()`` inherited unchanged, nor an
        empty metadata dict) replace the version's, as an edit would. :attr:`save_result`
        tells which happened.

        Args:
            project: the project (default: ``$SATCHEL_PROJECT`` or ``default``).
            settings: W&B's settings for the run it would start; accepted and ignored.
            store: a :class:`Store` or URL (default: the configured store, or, for a draft
                made with ``new_draft()``, the store of its parent).
            aliases: aliases to point at the version (``latest`` is implied for a draft and
                refused for a committed version that is not the newest).
            tags: tags to add.

        Returns:
            self, now committed.

        Raises:
            ArtifactTypeMismatchError, SourceFileChangedError, EntryNotFoundError (incremental
            removal of a missing path), InvalidNameError, StoreError.
            IncompleteCommitError: the version (new, or the existing one the no-op rule found)
                names objects missing from the store that this draft cannot send again; the
                draft stays a draft.
        """
        from satchel.runs import run_to_log

        run = run_to_log(self, store)
        if run is not None:  # W&B: saving inside a run logs the artifact to that run
            return run._log(self, project, aliases, tags)
        own_aliases, own_tags = self._own_aliases(), self._own_tags()
        if aliases is not None:
            self._check_latest(aliases)
            extra_aliases = [a for a in _clean_aliases(aliases) if a not in own_aliases]
            own_aliases.replace_all(sorted({*own_aliases, *extra_aliases} - {naming.LATEST}))
        if tags is not None:
            own_tags.replace_all(
                sorted(set(own_tags) | {naming.validate_tag(t) for t in _as_list(tags)})
            )
        if self._state is ArtifactState.COMMITTED:
            assert self._version is not None
            self._save_result = SaveResult(False, self._version.save_edits())
            return self
        if self._state is ArtifactState.DELETED:
            raise ArtifactStateError(f"artifact {self._name} was deleted and cannot be saved")
        svc = self._svc()
        if store is not None or svc.store is None:
            svc = svc.with_store(store if store is not None else self._origin)
        self._services = svc
        target = svc.require_store()
        proj = naming.validate_name(  # strict: a leading '.' is readable, never written
            _settings.project(project or (self._based_on.project if self._based_on else None)),
            kind="project",
        )
        draft = self._draft
        assert draft is not None
        previous = self._state
        self._state = ArtifactState.PENDING
        base = self._based_on
        same_collection = base is not None and (base.project, base.name) == (proj, self._name)
        uploader = Uploader(
            draft,
            target,
            svc.cache,
            origin=self._origin,
            progress=svc.progress,
            # saved under another name, a new_draft's base gets no trust (Uploader._inherited)
            based_on=base if same_collection else None,
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
            confirm=uploader.confirm,
            description=self._description,
            metadata=self._metadata,
            tags=tuple(sorted(set(self._tags))),
            aliases=tuple(sorted(set(self._aliases) - {naming.LATEST})),
            ttl_seconds=self._ttl,
            run_id=self._run_id,
            based_on=base.version if base is not None and same_collection else None,
        )
        try:
            result = target.commit(request)
        except BaseException:
            self._state = previous
            raise
        uploader.release()
        version = Version(
            target, result.record, manifest=result.manifest, tags=self._tags, aliases=self._aliases
        )
        self._became(version)
        wanted = {
            "description": self._description,
            "metadata": self._metadata,
            "ttl": self._ttl,
        }
        given = set(self._given)
        if self._description != self._baseline[0]:
            given.add("description")
        if self._metadata != self._baseline[1]:
            given.add("metadata")
        wanted_tags = set(self._tags)
        updated: tuple[str, ...] = ()
        if not result.created:
            # The no-op rule returned the existing version (as W&B does); what this draft was
            # given is applied to it as an edit, as apply and a committed save() would.
            if "description" in given:
                version.description = wanted["description"]  # type: ignore[assignment]
            if "metadata" in given:
                version.metadata = wanted["metadata"]  # type: ignore[assignment]
            if "ttl" in given:
                version.ttl = wanted["ttl"]  # type: ignore[assignment]
            version.tags.replace_all(sorted(set(version.tags) | wanted_tags))
            updated = version.save_edits()
        self._given = set()
        self._save_result = SaveResult(result.created, updated)
        return self

    def _adopt_commit(
        self, store: Store, record: VersionRecord, manifest: Manifest, *, created: bool = True
    ) -> None:
        """Become the committed version ``record`` of ``store`` (a draft whose content was
        committed by someone else on its behalf: a collaborative ``finish_artifact``)."""
        if self._state is ArtifactState.DRAFT:
            self._transition(ArtifactState.PENDING)
        self._became(
            Version(store, record, manifest=manifest, tags=self._tags, aliases=self._aliases)
        )
        self._services = self._svc().with_store(store)
        self._save_result = SaveResult(created)

    # -- reading --------------------------------------------------------------------------
    def _fetcher(self) -> Fetcher:
        """The :class:`~satchel.fetch.Fetcher` reading this artifact's entries (a draft's
        inherited ones too) from its store."""
        svc = self._svc()
        committed = self._version is not None
        return Fetcher(
            self._store(),
            svc.cache,
            svc.handlers,
            name=self.qualified_name if committed else self._name,
            draft=not committed,
        )

    def _root(self, root: str | os.PathLike[str] | None, *, with_version: bool = True) -> str:
        """The absolute folder a read uses: ``root`` (``~`` expanded), else the default."""
        if root is None:
            return self._default_root(with_version=with_version)
        return os.path.abspath(os.path.expanduser(os.fspath(root)))

    def _default_root(self, *, with_version: bool = True) -> str:
        """``<artifact dir>/<name>-v<N>`` (``<name>`` for ``checkout``, as W&B's): the artifact
        dir is ``$SATCHEL_ARTIFACT_DIR``, else ``$WANDB_ARTIFACT_DIR``, else ``./artifacts``."""
        rec = self._committed("download")
        folder = f"{rec.name}-v{rec.version}" if with_version else rec.name
        return os.path.join(_settings.artifact_dir(), folder)

    def _download_entry(self, entry: ManifestEntry, root: str | None, *, skip_cache: bool) -> str:
        """Download one entry (``BoundEntry.download``); the file's path."""
        self._committed("download")
        folder = os.path.abspath(os.fspath(root)) if root is not None else self._default_root()
        with local_errors_typed(
            f"downloading {entry.path} of {self._name}", lambda: self._local_folders(folder, {})
        ):
            self._materialize(folder, False, None, skip_cache, only=Manifest([entry]))
        return os.path.join(folder, *entry.path.split("/"))

    @_local_errors_typed("downloading {name}", takes_root=True)
    def download(
        self,
        root: str | os.PathLike[str] | None = None,
        allow_missing_references: bool = False,
        skip_cache: bool | None = False,
        path_prefix: str | None = None,
        multipart: bool | None = None,
    ) -> str:
        """Download the version's files into ``root`` through the cache.

        Files already present with the right content are kept; other files in ``root`` are
        left alone (use :meth:`checkout` to remove them).

        Args:
            root: the folder (default ``<artifact dir>/<name>-v<N>``, the artifact dir being
                ``$SATCHEL_ARTIFACT_DIR``, else ``$WANDB_ARTIFACT_DIR``, else ``./artifacts``).
            allow_missing_references: skip vanished/changed references with a warning.
            skip_cache: remove the cached copies fetched for this download afterwards.
            path_prefix: only entries whose logical path starts with this.
            multipart: accepted for W&B compatibility (satchel streams large objects in
                parts where the store supports it, whatever this says).

        Returns:
            The folder's absolute path.

        Raises:
            ProtectedFolderError: ``root`` is or is inside a satchel store or cache, or a file
                would be written inside one; nothing is written.
            DownloadObstacleError: something in ``root`` stands in the way.
        """
        self._committed("download")
        folder = self._root(root)
        protected.check_download_root(
            folder,
            self._own_folders(),
            (e.path for e in selected(self.manifest, path_prefix)),
            self.qualified_name,
        )
        self._materialize(folder, allow_missing_references, path_prefix, bool(skip_cache))
        return folder

    def _own_folders(self) -> list[protected.Protected]:
        """The satchel stores and caches a read of this version must not touch."""
        svc = self._svc()
        origin = self._version.store if self._version is not None else self._origin
        return protected.satchel_folders(svc.cache.root, [svc.store, origin])

    def _materialize(
        self,
        folder: str,
        allow_missing: bool,
        path_prefix: str | None,
        skip_cache: bool = False,
        *,
        only: Manifest | None = None,
    ) -> MaterializeResult:
        svc = self._svc()
        manifest = only if only is not None else self.manifest
        bar = svc.progress(len(manifest), f"downloading {self.name}")
        try:
            return self._fetcher().materialize(
                manifest,
                folder,
                allow_missing=allow_missing,
                path_prefix=path_prefix,
                skip_cache=skip_cache,
                bar=bar,
            )
        finally:
            bar.close()

    @overload
    def checkout(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        force: bool = False,
        dry_run: Literal[False] = False,
        summary: Literal[False] = False,
    ) -> str: ...

    @overload
    def checkout(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        force: bool = False,
        dry_run: Literal[True],
        summary: bool = False,
    ) -> CheckoutPlan: ...

    @overload
    def checkout(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        force: bool = False,
        dry_run: Literal[False] = False,
        summary: Literal[True],
    ) -> CheckoutResult: ...

    @_local_errors_typed("checking out {name}", takes_root=True)
    def checkout(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        force: bool = False,
        dry_run: bool = False,
        summary: bool = False,
    ) -> str | CheckoutPlan | CheckoutResult:
        """Make ``root`` match the version exactly.

        Downloads what is missing or changed and **deletes every other file in root**, within
        guard rails: a root that is, is inside or holds a satchel store or cache, that is or
        holds the home folder, that is a filesystem root, or that holds the working directory
        is refused; and more than :data:`~satchel.checkout.UNSEEN_LIMIT` deletions of files
        satchel has not seen (written or read, unchanged since) need ``force=True``.

        Args:
            root: the folder (default ``<artifact dir>/<name>``: no version, one folder
                switched between versions, as W&B's; see :func:`satchel.settings.artifact_dir`).
            force: delete however many files satchel has not seen.
            dry_run: change nothing; return the :class:`~satchel.checkout.CheckoutPlan`
                listing what would be deleted, written and kept.
            summary: return a :class:`~satchel.checkout.CheckoutResult` (what was deleted,
                written and kept) instead of the folder.

        Returns:
            The folder's absolute path (as W&B's ``checkout`` does), else the plan or the
            result asked for.

        Raises:
            ProtectedFolderError: ``root`` is one of the folders above; nothing was changed.
            TooManyDeletionsError: too many unseen files to delete without ``force``; nothing
                was changed (not raised by a dry run, whose plan says ``needs_force``).
            DownloadObstacleError: ``root`` is a file.
        """
        self._committed("checkout")
        folder = self._root(root, with_version=False)
        protected.check_checkout_root(folder, self._own_folders(), self.qualified_name)
        manifest = self.manifest
        svc = self._svc()
        plan = plan_checkout(
            manifest, folder, cache=svc.cache, content_digest=self._fetcher().content_digest
        )
        if dry_run:
            return plan
        check_deletions(plan, f"{self.qualified_name} into {folder}", force=force)
        # Extras first: it also clears a folder where a file must go (and the reverse).
        deleted = delete_extras(plan)
        # Only what the plan found missing or different is downloaded: the files it kept were
        # just checked (by the stat cache, else hashed), so checking them again is waste.
        todo = (
            manifest
            if len(plan.write) == len(manifest)
            else Manifest({p: manifest.entries[p] for p in plan.write}, _trusted=True)
        )
        done = self._materialize(folder, False, None, only=todo)
        kept = tuple(sorted(plan.keep + done.unchanged))
        result = CheckoutResult(folder, tuple(deleted), done.written, kept)
        return result if summary else folder

    def verify(self, root: str | os.PathLike[str] | None = None) -> VerificationReport:
        """Check that ``root`` holds exactly the version's files.

        Returns:
            A report (``unverifiable`` lists references without a content hash).

        Raises:
            ArtifactVerificationError: listing every missing, extra and changed file.
        """
        self._committed("verify")
        folder = self._root(root)
        if not os.path.isdir(folder):
            paths = [e.path for e in self.manifest]
            what = "is not a folder" if os.path.lexists(folder) else "does not exist"
            raise ArtifactVerificationError(
                f"folder {logical_paths.printable(folder)} {what}, so none of the "
                f"{len(paths)} file(s) of {self.qualified_name} is there; download them with "
                f"'satchel get {self.qualified_name} --root DIR' (download(root)) first",
                missing=paths,
            )
        return verify_folder(
            self.manifest,
            folder,
            cache=self._svc().cache,
            content_digest=self._fetcher().content_digest,
        )

    def file(self, root: str | os.PathLike[str] | None = None) -> str:
        """Download a single-file artifact and return the file's path.

        Raises:
            NotASingleFileError: the artifact does not hold exactly one file (a ``ValueError``).
        """
        manifest = self.manifest
        if len(manifest) != 1:
            raise NotASingleFileError(
                f"artifact {self.name} holds {len(manifest)} files; file() needs exactly one. "
                "Use download()"
            )
        folder = self.download(root)
        return os.path.join(folder, *next(iter(manifest)).path.split("/"))

    def files(
        self, names: Sequence[str] | None = None, per_page: int = 50, start: str | None = None
    ) -> Results[BoundEntry]:
        """The entries (bound to this artifact, with W&B's ``.name``), or those at the given
        logical paths, in path order; a complete list with W&B's paging attributes.

        Args:
            names: logical paths to return (default: all).
            per_page: page size for ``.cursor`` (everything is returned).
            start: the ``.cursor`` of an earlier result to resume from.

        Raises:
            EntryNotFoundError: a name is not in the artifact.
            InvalidQueryError: bad ``per_page`` or ``start``.
        """
        from satchel.entries import bind
        from satchel.results import Results, start_index

        skip = start_index(start)
        if names is None:
            found = [bind(e, self) for e in self.manifest]
        else:
            found = [self.get_entry(n) for n in names]
        return Results(found[skip:], per_page=per_page, offset=skip)

    def new_draft(self) -> Artifact:
        """A draft holding the same entries (nothing rehashed or downloaded), committing to
        the same collection; the new version records this one as its base.

        Raises:
            ArtifactNotLoggedError: called on a draft.
        """
        version = self._held("new_draft")
        rec = version.record
        draft = Artifact(
            self._name,
            self._type,
            version.description,
            version.metadata,
            services=self._svc(),
        )
        manifest = self.manifest
        first = next(iter(manifest), None)
        draft._alg = first.alg if first is not None and not first.is_reference else "md5"
        draft._draft = Draft(draft._alg, manifest)
        draft._based_on = rec
        draft._origin = self._store()
        draft._tags.replace_all([])
        draft._given = set()  # inherited, not given: a no-op save leaves them alone
        draft._baseline = (draft._description, copy.deepcopy(draft._metadata))
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


def _check_policy(policy: str) -> None:
    if policy not in POLICIES:
        raise InvalidArgumentError(
            f"policy must be 'mutable' or 'immutable', got {policy!r}; 'immutable' checks the file is unchanged at save, 'mutable' copies it now"
        )


def _clean_aliases(
    value: Sequence[str], *, keep_latest: bool = False, kept: Sequence[str] = ()
) -> list[str]:
    """Validated aliases (``latest`` dropped unless ``keep_latest``); names in ``kept`` (the
    ones the version already has, perhaps from an older satchel) pass as they are."""
    names = {a if a in kept else check_alias(a) for a in _as_list(value)}
    if not keep_latest:
        names.discard(naming.LATEST)
    return sorted(names)


def _as_list(value: Sequence[str] | str) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


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
