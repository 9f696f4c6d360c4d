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
    │   └── DistributedIdMissingError (TypeError) upsert/finish_artifact without distributed_id
    ├── ManifestError               (ValueError)   malformed or tampered manifest
    │   ├── UnsafeManifestPathError                a stored manifest lists an unsafe path
    │   └── RecordMismatchError                    a version record and its manifest disagree
    ├── InvalidQueryError           (ValueError)   bad filter, sort, page, size, gc grace...
    │   └── GraceTooShortError                     gc grace below the safe minimum, no force
    ├── InvalidSpecError            (ValueError)   an apply spec that cannot be applied
    ├── InvalidAttributeError       (ValueError)   bad stage, time to live or other attribute
    ├── InvalidArgumentError        (ValueError)   an option given a value it cannot take
    ├── InvalidDigestError          (ValueError)   a digest that is not base64
    ├── NotASingleFileError         (ValueError)   file() of an artifact without exactly one file
    ├── ArtifactStateError                         illegal lifecycle transition
    │   ├── ArtifactFinalizedError  (AttributeError) change to a finalized/committed artifact
    │   ├── ArtifactNotLoggedError  (AttributeError) committed-only attribute read on a draft
    │   └── AliasProtectedError                    delete of a version that aliases still name
    ├── UsageError                                 the API was used in a way it does not allow
    │   ├── RunFinishedError                       a finished run was asked to do more
    │   ├── NoActiveRunError                       a call that needs satchel.init() first
    │   ├── ResumeError                            init(resume="must"/"never") not satisfiable
    │   ├── RunConfigKeyError       (AttributeError) run.config.<key> that the config lacks
    │   └── UnsupportedError                       a W&B feature satchel deliberately lacks
    │       └── NotInSatchelError   (AttributeError) a W&B name satchel does not offer
    ├── CommError                                  the store could not answer as asked
    │   ├── ArtifactNotFoundError   (LookupError)  no such collection/version/alias
    │   │   └── ArtifactDeletedError               the version existed and was deleted
    │   ├── ArtifactTypeMismatchError (ValueError) a name committed with another type
    │   │   └── NotAModelError      (AssertionError) a model call on a non-model artifact
    │   ├── AuthenticationError                    credentials refused
    │   └── StoreError                             the store cannot do what was asked
    │       ├── StoreNotWritableError              filesystem lacks atomic create/replace
    │       ├── StoreFormatError                   not a satchel store / newer format
    │       │   └── DamagedRecordError             a record is malformed or disagrees with its key
    │       ├── ObjectMissingError  (FileNotFoundError) a version's content object is gone
    │       ├── ConcurrentUpdateError              compare-and-swap lost too many times
    │       ├── IncompleteCommitError              committed, but objects are gone for good
    │       ├── StoreAccessError    (PermissionError) credentials refused by the store
    │       ├── StoreNotFoundError                 the bucket/container does not exist
    │       └── StoreUnavailableError (ConnectionError) still failing after retries
    ├── EntryNotFoundError          (KeyError)     no such logical path in an artifact
    ├── NotAReferenceError          (ValueError)   ref_target() of an entry that is no reference
    ├── FrozenEntryError            (TypeError)    a manifest entry's shared empty extra changed
    ├── EntryConflictError          (ValueError)   same path added twice with other content
    │   └── PartConflictError                      collaborative parts disagree on a path
    ├── SourceFileNotFoundError     (FileNotFoundError) a local file given to add_* is missing
    ├── SourceFileChangedError                     immutable-policy file changed before save
    ├── SerializerError             (TypeError)    no serializer for an object / bad payload
    ├── DigestMismatchError                        bytes did not hash to their recorded digest
    ├── ArtifactVerificationError   (ValueError)   a folder does not match a manifest
    ├── DownloadObstacleError       (FileExistsError) a file, folder or link in a download's way
    ├── ProtectedFolderError        (ValueError)   a folder touching the store, cache, home or /
    ├── TooManyDeletionsError                      checkout would delete many files satchel never saw
    ├── DiskFullError               (OSError)      a local disk or quota is full
    ├── LocalAccessError            (PermissionError) a local path may not be read or written
    ├── ExternalReferenceError                     (base for reference problems)
    │   ├── ReferenceNotFoundError  (FileNotFoundError) referenced object vanished
    │   ├── ReferenceChangedError                  referenced object changed, no version kept
    │   ├── ReferenceAccessError    (PermissionError) credentials refused
    │   ├── ReferenceNetworkError   (ConnectionError) server unreachable
    │   ├── TooManyObjectsError     (ValueError)   prefix holds more than max_objects
    │   └── UnsupportedReferenceError              a URI satchel can only track, not fetch
    └── HandlerUnavailableError     (ImportError)  optional dependency (extra) not installed

W&B's names. Code written for W&B catches ``wandb.errors.Error``, ``CommError``,
``AuthenticationError``, ``UsageError`` and ``UnsupportedError``; ``satchel.errors`` has the
same names with the same meaning: ``Error`` is :class:`SatchelError` itself; ``CommError`` is
what W&B's public API raises when its server cannot answer as asked (an unknown or deleted
artifact, a type that does not match, a failing store); ``AuthenticationError`` is refused
credentials (``StoreAccessError`` is one); ``UsageError`` and ``UnsupportedError`` are misuse
and deliberately missing features (no server, no login). Where W&B raises a builtin for a misuse,
the satchel error inherits it too (``ArtifactNotLoggedError`` is an ``AttributeError``, as
W&B's is, so ``getattr(draft, "version", None)`` is ``None`` in both).

Warnings are not errors (the operation went on) and not in this tree; each has a category of
its own, so it can be filtered (``warnings.simplefilter("error", SkippedFilesWarning)`` makes
it an error), and the command line prints each as one line: :class:`SkippedFilesWarning` (a
``UserWarning``), issued when ``add_dir`` or a ``file://`` folder reference skipped entries that
are not regular files or folders; :class:`StoreDamageWarning` (a ``UserWarning``), issued when a
listing or a look-up skips a damaged record and goes on.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any


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


class DistributedIdMissingError(ConfigError, TypeError):
    """``upsert_artifact``/``finish_artifact`` was called without a ``distributed_id`` in a run
    without a group (a ``TypeError``, as W&B raises)."""


class ManifestError(SatchelError, ValueError):
    """A manifest is malformed, of an unknown version, or was tampered with."""


class UnsafeManifestPathError(ManifestError, InvalidPathError):
    """A manifest read from the store lists a logical path that is unsafe (``..``, absolute,
    a drive letter...): the store was tampered with. Also an :class:`InvalidPathError`, which
    callers of older versions caught."""


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


class GraceTooShortError(InvalidQueryError):
    """``gc`` was given a grace period shorter than :data:`satchel.registry.gc.MIN_GRACE`
    without ``force=True`` (``--force``)."""


class InvalidSpecError(SatchelError, ValueError):
    """An apply spec (YAML/JSON) is missing a field, has a wrong type, or names a bad source."""


class InvalidAttributeError(SatchelError, ValueError):
    """A stage, time to live or other version attribute value is not valid."""


class ArtifactStateError(SatchelError):
    """An operation is not allowed in the artifact's current lifecycle state."""


class ArtifactFinalizedError(ArtifactStateError, AttributeError):
    """A finalized or committed artifact was changed; changes need ``new_draft()``.

    An ``AttributeError``, as W&B's ``ArtifactFinalizedError`` is.
    """


class ArtifactNotLoggedError(ArtifactStateError, AttributeError):
    """An attribute that exists only once committed was read on a draft.

    An ``AttributeError``, as W&B's ``ArtifactNotLoggedError`` is: code written for W&B that
    asks ``getattr(draft, "version", None)`` or ``hasattr(draft, "id")`` gets ``None`` /
    ``False`` from both libraries, and the message of the error says to call ``save()`` first.
    """


class AliasProtectedError(ArtifactStateError):
    """A version cannot be deleted while aliases point at it (pass ``delete_aliases=True``)."""

    def __init__(self, message: str, *, aliases: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.aliases: list[str] = list(aliases)


class InvalidArgumentError(SatchelError, ValueError):
    """An option was given a value it cannot take (a policy, a file mode, an object limit, a
    size); the message names the values it takes."""


class InvalidDigestError(SatchelError, ValueError):
    """A digest given as base64 (the form manifests hold) is not valid base64."""


class NotASingleFileError(SatchelError, ValueError):
    """``file()`` was asked of an artifact that does not hold exactly one file."""


class UsageError(SatchelError):
    """The API was used in a way it does not allow (W&B's ``wandb.errors.UsageError``)."""


class RunFinishedError(UsageError):
    """A run was used after ``finish()`` (start another with ``satchel.init()``)."""


class NoActiveRunError(UsageError):
    """A call that works inside a run (``satchel.config``, ``satchel.log_model``...) was made
    before ``satchel.init()`` or after the run finished."""


class ResumeError(UsageError):
    """``init(resume="must")`` named a run that does not exist, or ``resume="never"`` one that
    does."""


class RunConfigKeyError(UsageError, AttributeError):
    """``run.config.<key>`` (or ``del run.config.<key>``) for a key the config does not have;
    an ``AttributeError``, as W&B's config raises."""


class UnsupportedError(UsageError):
    """A W&B feature satchel deliberately does not have (it has no server and no login); the
    message says what to do instead (W&B's ``wandb.errors.UnsupportedError``)."""


class NotInSatchelError(UnsupportedError, AttributeError):
    """A name of W&B's top-level module that satchel does not offer (``satchel.log``,
    ``satchel.Table``...); an ``AttributeError``, so ``hasattr`` keeps working."""


class CommError(SatchelError):
    """The store could not answer as asked: W&B's ``wandb.errors.CommError``, which its public
    API raises for an unknown artifact, a type that does not match and a failing server."""


class AuthenticationError(CommError):
    """Credentials were refused (W&B's ``wandb.errors.AuthenticationError``)."""


class ArtifactTypeMismatchError(CommError, ValueError):
    """An artifact name already committed with one type was saved with another, or fetched
    with ``type=`` another."""


class NotAModelError(ArtifactTypeMismatchError, AssertionError):
    """``use_model``/``link_model`` named an artifact whose type does not contain ``model``
    (an ``AssertionError``, as W&B raises)."""


class ArtifactNotFoundError(CommError, LookupError):
    """No collection, version or alias of that name exists in the store."""


class ArtifactDeletedError(ArtifactNotFoundError):
    """The requested version existed but was deleted."""


class EntryNotFoundError(SatchelError, KeyError):
    """An artifact has no entry at that logical path."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class NotAReferenceError(SatchelError, ValueError):
    """``entry.ref_target()`` was asked of an entry stored in the artifact, not a reference."""


class FrozenEntryError(SatchelError, TypeError):
    """A manifest entry (frozen) was changed through its shared, empty ``extra``."""


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


class ArtifactVerificationError(SatchelError, ValueError):
    """A folder does not match an artifact's manifest (a ``ValueError``, as W&B's ``verify``
    raises).

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


class ProtectedFolderError(SatchelError, ValueError):
    """A folder given to ``checkout``, ``download`` or ``add_dir`` would touch a folder satchel
    protects: a satchel store or cache, the home folder, a filesystem root, or a folder above
    the working directory (see :mod:`satchel.protected` for which call refuses which).

    Nothing was deleted, written or added.

    Attributes:
        folder: the folder given (absolute).
        protected: the protected folder it touches.
        role: what the protected folder is (``"satchel store"``, ``"home folder"``, ...).
    """

    def __init__(self, message: str, *, folder: str, protected: str, role: str) -> None:
        super().__init__(message)
        self.folder = folder
        self.protected = protected
        self.role = role


class TooManyDeletionsError(SatchelError):
    """``checkout`` would delete more files that satchel has not seen (not written by a
    download or checkout, nor read by an add or verify, or changed since) than its limit
    allows; nothing was deleted. ``checkout(..., dry_run=True)`` lists them and ``force=True``
    (``--force``) deletes them.

    Attributes:
        unseen: logical paths of the files satchel has not seen that would be deleted.
        limit: the most such files a checkout deletes without ``force``.
    """

    def __init__(self, message: str, *, unseen: Sequence[str], limit: int) -> None:
        super().__init__(message)
        self.unseen: list[str] = list(unseen)
        self.limit = limit


class DiskFullError(SatchelError, OSError):
    """A local disk (the cache, a local store or a download folder) has no space left, or the
    user's quota there is used up.

    Raised instead of the bare ``OSError`` (``ENOSPC``/``EDQUOT``); ``errno`` keeps the
    original number, so ``except OSError`` code that checks it still works. What was being
    written is removed again (temporary files, packs), so nothing half-written stays.

    Attributes:
        folder: the folder whose disk is full, as best known (``None`` when unknown).
        role: what that folder is to satchel: ``"cache"``, ``"store"``, ``"target"`` (the
            download or checkout folder), ``"workdir"`` (where downloads go by default),
            ``"temp"`` (the temporary folder), or ``None`` when unknown. The message names
            it and what frees that disk.
    """

    def __init__(
        self, message: str, *, errno: int, folder: str | None = None, role: str | None = None
    ) -> None:
        super().__init__(errno, message)
        self.folder = folder
        self.role = role

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


class ExternalReferenceError(SatchelError):
    """Base class of problems with a referenced external object (an entry's ref: ``s3://``,
    ``gs://``, ``az://``, ``https://``, ``file://``).

    Formerly ``ReferenceError_``; that name still works, with a ``DeprecationWarning``.
    """


class ReferenceNotFoundError(ExternalReferenceError, FileNotFoundError):
    """A referenced object, bucket or prefix does not exist (any more)."""


class ReferenceChangedError(ExternalReferenceError):
    """A referenced object changed since it was recorded and no old version can be read."""


class ReferenceAccessError(ExternalReferenceError, PermissionError):
    """The storage service refused access to a referenced object."""


class ReferenceNetworkError(ExternalReferenceError, ConnectionError):
    """The storage service of a reference could not be reached."""


class TooManyObjectsError(ExternalReferenceError, ValueError):
    """A referenced prefix holds more objects than ``max_objects`` allows."""


class UnsupportedReferenceError(ExternalReferenceError):
    """A URI satchel can track but not download (unknown scheme)."""


class HandlerUnavailableError(SatchelError, ImportError):
    """A scheme's handler needs an optional dependency that is not installed."""


class StoreError(CommError):
    """The store cannot do what was asked."""


class StoreNotWritableError(StoreError):
    """The store's filesystem offers no atomic create-if-absent / replace-if-unchanged."""


class StoreFormatError(StoreError):
    """The location is not a satchel store, or uses a format this version cannot read."""


class DamagedRecordError(StoreFormatError):
    """A store record (a version record, its attributes, an alias, a collection record) cannot
    be read, or says something its key contradicts (``versions/3.json`` claiming to be v2).

    Listings and ``latest`` skip such a record (with a :class:`StoreDamageWarning`); reading
    it by name raises this. ``satchel fsck`` reports it and ``satchel fsck --repair`` moves it
    to the store's ``quarantine/`` folder.

    Attributes:
        key: the store key of the record.
        reason: what is wrong with it, for people.
    """

    def __init__(self, message: str, *, key: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.key = key
        self.reason = reason


class ObjectMissingError(StoreError, FileNotFoundError):
    """A content object a version needs is missing from the store (the store was damaged or
    edited outside satchel).

    ``satchel fsck`` lists every version that lost content; ``satchel fsck --repair`` puts
    objects back from the local cache or from a folder holding the files (``--from DIR``).

    Attributes:
        key: the store key of the object.
    """

    def __init__(self, message: str, *, key: str = "") -> None:
        super().__init__(message)
        self.key = key

    def __str__(self) -> str:  # OSError would print "[Errno None] ..." for some arg shapes
        return str(self.args[0]) if self.args else ""


class StoreDamageWarning(UserWarning):
    """A listing or look-up skipped a damaged record or a stray file and went on."""


class ConcurrentUpdateError(StoreError):
    """A compare-and-swap update kept losing to other writers and gave up."""


class IncompleteCommitError(StoreError):
    """A version was committed (or found, under the no-op rule), but objects it names are
    missing from the store and this machine has no copy to send again.

    The version exists; saving the same files again restores what is missing (a no-op
    re-commit checks and repairs the version), and ``satchel fsck`` lists the damage.

    Attributes:
        version: ``project/name:vN`` of the incomplete version.
        paths: the logical paths whose content is missing.
    """

    def __init__(self, message: str, *, version: str, paths: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.version = version
        self.paths: list[str] = list(paths)


class StoreAccessError(StoreError, AuthenticationError, PermissionError):
    """The store's service refused the credentials (permission denied, bad key, expired token);
    also an :class:`AuthenticationError`."""


class StoreNotFoundError(StoreError):
    """The bucket or container a store URL names does not exist.

    Deliberately *not* a ``FileNotFoundError``: the store reads a missing key as "absent", and
    a missing bucket must never pass for an empty store.
    """


class StoreUnavailableError(StoreError, ConnectionError):
    """The store kept failing with transient errors (timeouts, 5xx, throttling) after retries."""


class SkippedFilesWarning(UserWarning):
    """A folder given to ``add_dir`` (or referenced with ``file://``) held entries that are
    not regular files or folders (symbolic links to folders, symbolic link loops, dangling
    links, FIFOs, sockets, devices): they were skipped, and the rest was added.

    Attributes:
        folder: the folder scanned.
        skipped: ``(path relative to folder, reason)`` for every entry skipped.
    """

    def __init__(self, message: str, *, folder: str, skipped: Sequence[tuple[str, str]]) -> None:
        super().__init__(message)
        self.folder = folder
        self.skipped: list[tuple[str, str]] = list(skipped)


#: W&B's name for the root of its errors (``wandb.errors.Error``): satchel's root.
Error = SatchelError


def __getattr__(name: str) -> Any:
    """The deprecated names of this module (a warning, then the class they name now)."""
    if name == "ReferenceError_":
        warnings.warn(
            "satchel.errors.ReferenceError_ is deprecated; use "
            "satchel.errors.ExternalReferenceError (the same class)",
            DeprecationWarning,
            stacklevel=2,
        )
        return ExternalReferenceError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
