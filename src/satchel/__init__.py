"""satchel: version datasets and models as artifacts, on a folder or a bucket, with no server.

The object model follows Weights & Biases' ``Artifact`` API::

    import satchel

    ds = satchel.Artifact("mnist", type="dataset")
    ds.add_dir("data/")
    ds.save()                                   # v0 in the default local store

    ds = satchel.Api().artifact("mnist:latest")
    path = ds.download()

``satchel.run`` is the active run (started with :func:`init`) or ``None`` and ``satchel.config``
its configuration, as ``wandb.run`` and ``wandb.config`` are; both are looked up when read
(module ``__getattr__``), so they always reflect the current run. W&B names satchel does not
offer (``satchel.log``, ``satchel.Table``...) raise :class:`NotInSatchelError` saying why.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from satchel.api import Api, log_artifact, use_artifact
from satchel.artifact import Artifact, ArtifactState, SaveResult
from satchel.cache import Cache
from satchel.catalog import ArtifactType, Project
from satchel.checkout import CheckoutPlan, CheckoutResult
from satchel.collection import ArtifactCollection
from satchel.errors import (
    AliasProtectedError,
    ArtifactDeletedError,
    ArtifactFinalizedError,
    ArtifactNotFoundError,
    ArtifactNotLoggedError,
    ArtifactStateError,
    ArtifactTypeMismatchError,
    ArtifactVerificationError,
    AuthenticationError,
    CommError,
    ConcurrentUpdateError,
    ConfigError,
    DamagedRecordError,
    DigestMismatchError,
    DiskFullError,
    DistributedIdMissingError,
    DownloadObstacleError,
    EntryConflictError,
    EntryNotFoundError,
    Error,
    ExternalReferenceError,
    FrozenEntryError,
    GraceTooShortError,
    HandlerUnavailableError,
    IncompleteCommitError,
    InvalidArgumentError,
    InvalidAttributeError,
    InvalidDigestError,
    InvalidMetadataError,
    InvalidNameError,
    InvalidPathError,
    InvalidQueryError,
    InvalidSpecError,
    LocalAccessError,
    ManifestError,
    NoActiveRunError,
    NotAModelError,
    NotAReferenceError,
    NotASingleFileError,
    NotInSatchelError,
    ObjectMissingError,
    PartConflictError,
    ProtectedFolderError,
    RecordMismatchError,
    ReferenceAccessError,
    ReferenceChangedError,
    ReferenceNetworkError,
    ReferenceNotFoundError,
    ResumeError,
    RunConfigKeyError,
    RunFinishedError,
    SatchelError,
    SerializerError,
    SourceFileChangedError,
    SourceFileNotFoundError,
    StoreAccessError,
    StoreDamageWarning,
    StoreError,
    StoreFormatError,
    StoreNotFoundError,
    StoreNotWritableError,
    StoreUnavailableError,
    TooManyDeletionsError,
    TooManyObjectsError,
    UnsafeManifestPathError,
    UnsupportedError,
    UnsupportedReferenceError,
    UsageError,
)
from satchel.manifest import Manifest, ManifestDiff, ManifestEntry
from satchel.runs import Run, RunConfig
from satchel.serialization import serializers
from satchel.session import NoRunConfig as _NoRunConfig
from satchel.session import finish, init, link_model, log_model, use_model
from satchel.settings import configure
from satchel.store import Store, open_store

__version__ = "0.1.0"


if _TYPE_CHECKING:
    run: Run | None  # the active run (see __getattr__)
    config: RunConfig | _NoRunConfig  # its config
else:  # looked up when read; a type checker sees the declarations above

    def __getattr__(name: str) -> _Any:
        """``satchel.run`` and ``satchel.config`` (the active run and its config); a W&B name
        satchel lacks raises :class:`NotInSatchelError` with what to do instead."""
        if name == "run":
            from satchel.runs import active_run

            return active_run()
        if name == "config":
            from satchel.session import current_config

            return current_config()
        from satchel.wandb_names import missing

        error = missing(name)
        if error is not None:
            raise error
        raise AttributeError(f"module 'satchel' has no attribute {name!r}")


__all__ = [
    "AliasProtectedError",
    "Api",
    "Artifact",
    "ArtifactCollection",
    "ArtifactDeletedError",
    "ArtifactFinalizedError",
    "ArtifactNotFoundError",
    "ArtifactNotLoggedError",
    "ArtifactState",
    "ArtifactStateError",
    "ArtifactType",
    "ArtifactTypeMismatchError",
    "ArtifactVerificationError",
    "AuthenticationError",
    "Cache",
    "CheckoutPlan",
    "CheckoutResult",
    "CommError",
    "ConcurrentUpdateError",
    "ConfigError",
    "DamagedRecordError",
    "DigestMismatchError",
    "DiskFullError",
    "DistributedIdMissingError",
    "DownloadObstacleError",
    "EntryConflictError",
    "EntryNotFoundError",
    "Error",
    "ExternalReferenceError",
    "FrozenEntryError",
    "GraceTooShortError",
    "HandlerUnavailableError",
    "IncompleteCommitError",
    "InvalidArgumentError",
    "InvalidAttributeError",
    "InvalidDigestError",
    "InvalidMetadataError",
    "InvalidNameError",
    "InvalidPathError",
    "InvalidQueryError",
    "InvalidSpecError",
    "LocalAccessError",
    "Manifest",
    "ManifestDiff",
    "ManifestEntry",
    "ManifestError",
    "NoActiveRunError",
    "NotAModelError",
    "NotAReferenceError",
    "NotASingleFileError",
    "NotInSatchelError",
    "ObjectMissingError",
    "PartConflictError",
    "Project",
    "ProtectedFolderError",
    "RecordMismatchError",
    "ReferenceAccessError",
    "ReferenceChangedError",
    "ReferenceNetworkError",
    "ReferenceNotFoundError",
    "ResumeError",
    "Run",
    "RunConfig",
    "RunConfigKeyError",
    "RunFinishedError",
    "SatchelError",
    "SaveResult",
    "SerializerError",
    "SourceFileChangedError",
    "SourceFileNotFoundError",
    "Store",
    "StoreAccessError",
    "StoreDamageWarning",
    "StoreError",
    "StoreFormatError",
    "StoreNotFoundError",
    "StoreNotWritableError",
    "StoreUnavailableError",
    "TooManyDeletionsError",
    "TooManyObjectsError",
    "UnsafeManifestPathError",
    "UnsupportedError",
    "UnsupportedReferenceError",
    "UsageError",
    "__version__",
    "config",
    "configure",
    "finish",
    "init",
    "link_model",
    "log_artifact",
    "log_model",
    "open_store",
    "run",
    "serializers",
    "use_artifact",
    "use_model",
]
