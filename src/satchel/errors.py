"""The one exception tree of satchel.

Every error satchel raises on purpose derives from :class:`SatchelError`. Where a caller would
naturally catch a builtin (``KeyError`` for a missing entry, ``ValueError`` for a bad name,
``FileNotFoundError`` for a missing local file, ``LookupError`` for an unknown artifact), the
satchel error inherits that builtin too, so ``except KeyError`` keeps working.

Backend errors (botocore, gcsfs, the Azure SDK, requests, OS errors) are translated where they
cross into satchel, with ``raise ... from exc`` so the original stays visible.

::

    SatchelError
    ├── InvalidNameError            (ValueError)   bad artifact/project/type/alias/tag/version
    ├── InvalidPathError            (ValueError)   logical path that is absolute, has .., NUL, ...
    ├── InvalidMetadataError        (ValueError)   metadata not JSON-able or too many keys
    ├── ConfigError                 (ValueError)   unusable configuration value
    ├── ManifestError               (ValueError)   malformed or tampered manifest
    │   └── RecordMismatchError                    a version record and its manifest disagree
    ├── InvalidQueryError           (ValueError)   bad filter, sort, page, size, gc grace...
    ├── InvalidSpecError            (ValueError)   an apply spec that cannot be applied
    ├── InvalidAttributeError       (ValueError)   bad stage, time to live or other attribute
    ├── ArtifactStateError                         illegal lifecycle transition
    │   ├── ArtifactFinalizedError                 change to a finalized/committed artifact
    │   ├── ArtifactNotLoggedError                 committed-only attribute read on a draft
    │   └── AliasProtectedError                    delete of a version that aliases still name
    ├── ArtifactTypeMismatchError   (ValueError)   a name committed with another type
    ├── RunFinishedError                           a finished run was asked to do more
    ├── ArtifactNotFoundError       (LookupError)  no such collection/version/alias
    │   └── ArtifactDeletedError                   the version existed and was deleted
    ├── EntryNotFoundError          (KeyError)     no such logical path in an artifact
    ├── EntryConflictError          (ValueError)   same path added twice with other content
    │   └── PartConflictError                      collaborative parts disagree on a path
    ├── SourceFileNotFoundError     (FileNotFoundError) a local file given to add_* is missing
    ├── SourceFileChangedError                     immutable-policy file changed before save
    ├── SerializerError             (TypeError)    no serializer for an object / bad payload
    ├── DigestMismatchError                        bytes did not hash to their recorded digest
    ├── ArtifactVerificationError                  a folder does not match a manifest
    ├── DownloadObstacleError       (FileExistsError) a file, folder or link in a download's way
    ├── DiskFullError               (OSError)      a local disk or quota is full
    ├── LocalAccessError            (PermissionError) a local path may not be read or written
    ├── ReferenceError_                            (base for reference problems)
    │   ├── ReferenceNotFoundError  (FileNotFoundError) referenced object vanished
    │   ├── ReferenceChangedError                  referenced object changed, no version kept
    │   ├── ReferenceAccessError    (PermissionError) credentials refused
    │   ├── ReferenceNetworkError   (ConnectionError) server unreachable
    │   ├── TooManyObjectsError     (ValueError)   prefix holds more than max_objects
    │   └── UnsupportedReferenceError              a URI satchel can only track, not fetch
    ├── HandlerUnavailableError     (ImportError)  optional dependency (extra) not installed
    └── StoreError                                 the store cannot do what was asked
        ├── StoreNotWritableError                  filesystem lacks atomic create/replace
        ├── StoreFormatError                       not a satchel store / newer format
        ├── ConcurrentUpdateError                  compare-and-swap lost too many times
        ├── StoreAccessError        (PermissionError) credentials refused by the store
        ├── StoreNotFoundError                     the bucket/container does not exist
        └── StoreUnavailableError   (ConnectionError) still failing after retries
"""

from __future__ import annotations

from collections.abc import Sequence


class SatchelError(Exception):
    """Base class of every error satchel raises on purpose."""


class InvalidNameError(SatchelError, ValueError):
    """A project, artifact name, type, alias, tag or version string is not valid."""


class InvalidPathError(SatchelError, ValueError):
    """A logical path is unsafe or malformed (absolute, ``..``, NUL, drive letter, empty)."""


class InvalidMetadataError(SatchelError, ValueError):
    """Metadata is not JSON-serialisable or has too many top-level keys."""


class ConfigError(SatchelError, ValueError):
    """A configuration value (argument or environment variable) cannot be used."""


class ManifestError(SatchelError, ValueError):
    """A manifest is malformed, of an unknown version, or was tampered with."""


class RecordMismatchError(ManifestError):
    """A version record (or a collaborative part) names a manifest whose artifact digest or
    file count is not the one the record states: the record or the manifest was changed
    outside satchel, and reading the version would serve another artifact's content.

    Attributes:
        record: the store key of the record.
        manifest_id: the manifest the record names.
        recorded: the artifact digest the record states.
        actual: the artifact digest of that manifest.
    """

    def __init__(
        self, message: str, *, record: str, manifest_id: str, recorded: str, actual: str
    ) -> None:
        super().__init__(message)
        self.record = record
        self.manifest_id = manifest_id
        self.recorded = recorded
        self.actual = actual


class InvalidQueryError(SatchelError, ValueError):
    """A listing filter, sort key, page number or size, or another query argument (a gc grace
    period, a lineage depth) is not valid."""


class InvalidSpecError(SatchelError, ValueError):
    """An apply spec (YAML/JSON) is missing a field, has a wrong type, or names a bad source."""


class InvalidAttributeError(SatchelError, ValueError):
    """A stage, time to live or other version attribute value is not valid."""


class ArtifactStateError(SatchelError):
    """An operation is not allowed in the artifact's current lifecycle state."""


class ArtifactFinalizedError(ArtifactStateError):
    """A finalized or committed artifact was changed; changes need ``new_draft()``."""


class ArtifactNotLoggedError(ArtifactStateError):
    """An attribute that exists only once committed was read on a draft.

    Deliberately *not* an ``AttributeError``: ``hasattr(draft, "version")`` must not quietly
    answer ``False`` for an attribute that exists but has no value yet.
    """


class AliasProtectedError(ArtifactStateError):
    """A version cannot be deleted while aliases point at it (pass ``delete_aliases=True``)."""

    def __init__(self, message: str, *, aliases: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.aliases: list[str] = list(aliases)


class RunFinishedError(SatchelError):
    """A run was used after ``finish()`` (start another with ``satchel.init()``)."""


class ArtifactTypeMismatchError(SatchelError, ValueError):
    """An artifact name already committed with one type was saved with another."""


class ArtifactNotFoundError(SatchelError, LookupError):
    """No collection, version or alias of that name exists in the store."""


class ArtifactDeletedError(ArtifactNotFoundError):
    """The requested version existed but was deleted."""


class EntryNotFoundError(SatchelError, KeyError):
    """An artifact has no entry at that logical path."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class EntryConflictError(SatchelError, ValueError):
    """A logical path was added again with different content without ``overwrite=True``."""


class PartConflictError(EntryConflictError):
    """Collaborative parts of one distributed id hold the same path with different content.

    Attributes:
        path: the logical path in conflict.
        runs: the runs whose parts disagree.
    """

    def __init__(self, message: str, *, path: str, runs: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.path = path
        self.runs: list[str] = list(runs)


class SourceFileNotFoundError(SatchelError, FileNotFoundError):
    """A local file or folder passed to ``add_file``/``add_dir`` does not exist."""


class SourceFileChangedError(SatchelError):
    """A file added with ``policy="immutable"`` changed between add and save."""

    def __init__(self, message: str, *, paths: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.paths: list[str] = list(paths)


class SerializerError(SatchelError, TypeError):
    """No serializer handles an object, or stored bytes cannot be turned back into one."""


class DigestMismatchError(SatchelError):
    """Bytes read from a store, cache or reference did not hash to their recorded digest.

    Nothing with the wrong bytes is left under a final name (in a download folder or the
    cache), and a store object is never deleted for it: it may be the only copy.

    Attributes:
        digest: what the bytes hashed to (``None`` when the check was not a digest, e.g. a
            size or CRC32C mismatch).
        expected: the recorded digest (``None`` when unknown).
    """

    def __init__(
        self, message: str, *, digest: str | None = None, expected: str | None = None
    ) -> None:
        super().__init__(message)
        self.digest = digest
        self.expected = expected


class ArtifactVerificationError(SatchelError):
    """A folder does not match an artifact's manifest.

    Attributes:
        missing: logical paths the manifest has and the folder lacks.
        extra: files in the folder the manifest does not list.
        changed: logical paths whose content differs from the manifest.
        unverifiable: reference entries without a content hash (reported, not failed).
    """

    def __init__(
        self,
        message: str,
        *,
        missing: Sequence[str] = (),
        extra: Sequence[str] = (),
        changed: Sequence[str] = (),
        unverifiable: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.missing: list[str] = list(missing)
        self.extra: list[str] = list(extra)
        self.changed: list[str] = list(changed)
        self.unverifiable: list[str] = list(unverifiable)


class DownloadObstacleError(SatchelError, FileExistsError):
    """Something in the download folder stands where an artifact's file or folder must go.

    ``download`` keeps files it does not own, so it refuses, rather than deletes, a file where
    the artifact needs a folder, a folder where it needs a file, and a symbolic link on the way
    (writing through one could leave the download folder). ``checkout`` replaces them.

    Attributes:
        path: the logical path that could not be written.
        obstacle: the filesystem path in the way.
    """

    def __init__(self, message: str, *, path: str = "", obstacle: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.obstacle = obstacle


class DiskFullError(SatchelError, OSError):
    """A local disk (the cache, a local store or a download folder) has no space left, or the
    user's quota there is used up.

    Raised instead of the bare ``OSError`` (``ENOSPC``/``EDQUOT``); ``errno`` keeps the
    original number, so ``except OSError`` code that checks it still works. What was being
    written is removed again (temporary files, packs), so nothing half-written stays.

    Attributes:
        folder: the folder whose disk is full, as best known (``None`` when unknown).
    """

    def __init__(self, message: str, *, errno: int, folder: str | None = None) -> None:
        super().__init__(errno, message)
        self.folder = folder

    def __str__(self) -> str:
        return str(self.strerror)


class LocalAccessError(SatchelError, PermissionError):
    """A local path the operation needs (the cache, a local store, a download folder, a file
    to add) may not be read or written: permission denied, or a read-only filesystem.

    ``errno`` keeps the original number (``EACCES``, ``EPERM`` or ``EROFS``).

    Attributes:
        path: the path the OS refused (``None`` when it did not say).
    """

    def __init__(self, message: str, *, errno: int, path: str | None = None) -> None:
        super().__init__(errno, message)
        self.path = path

    def __str__(self) -> str:
        return str(self.strerror)


class ReferenceError_(SatchelError):
    """Base class of problems with a referenced external object."""


class ReferenceNotFoundError(ReferenceError_, FileNotFoundError):
    """A referenced object, bucket or prefix does not exist (any more)."""


class ReferenceChangedError(ReferenceError_):
    """A referenced object changed since it was recorded and no old version can be read."""


class ReferenceAccessError(ReferenceError_, PermissionError):
    """The storage service refused access to a referenced object."""


class ReferenceNetworkError(ReferenceError_, ConnectionError):
    """The storage service of a reference could not be reached."""


class TooManyObjectsError(ReferenceError_, ValueError):
    """A referenced prefix holds more objects than ``max_objects`` allows."""


class UnsupportedReferenceError(ReferenceError_):
    """A URI satchel can track but not download (unknown scheme)."""


class HandlerUnavailableError(SatchelError, ImportError):
    """A scheme's handler needs an optional dependency that is not installed."""


class StoreError(SatchelError):
    """The store cannot do what was asked."""


class StoreNotWritableError(StoreError):
    """The store's filesystem offers no atomic create-if-absent / replace-if-unchanged."""


class StoreFormatError(StoreError):
    """The location is not a satchel store, or uses a format this version cannot read."""


class ConcurrentUpdateError(StoreError):
    """A compare-and-swap update kept losing to other writers and gave up."""


class StoreAccessError(StoreError, PermissionError):
    """The store's service refused the credentials (permission denied, bad key, expired token)."""


class StoreNotFoundError(StoreError):
    """The bucket or container a store URL names does not exist.

    Deliberately *not* a ``FileNotFoundError``: the store reads a missing key as "absent", and
    a missing bucket must never pass for an empty store.
    """


class StoreUnavailableError(StoreError, ConnectionError):
    """The store kept failing with transient errors (timeouts, 5xx, throttling) after retries."""
