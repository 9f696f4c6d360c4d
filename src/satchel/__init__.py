"""satchel: version datasets and models as artifacts, on a folder or a bucket, with no server.

The object model follows Weights & Biases' ``Artifact`` API::

    import satchel

    ds = satchel.Artifact("mnist", type="dataset")
    ds.add_dir("data/")
    ds.save()                                   # v0 in the default local store

    ds = satchel.Api().artifact("mnist:latest")
    path = ds.download()
"""

from satchel.api import Api, log_artifact, use_artifact
from satchel.artifact import Artifact, ArtifactState
from satchel.cache import Cache
from satchel.config import configure
from satchel.errors import (
    AliasProtectedError,
    ArtifactDeletedError,
    ArtifactFinalizedError,
    ArtifactNotFoundError,
    ArtifactNotLoggedError,
    ArtifactStateError,
    ArtifactTypeMismatchError,
    ArtifactVerificationError,
    ConcurrentUpdateError,
    ConfigError,
    DigestMismatchError,
    DiskFullError,
    DownloadObstacleError,
    EntryConflictError,
    EntryNotFoundError,
    HandlerUnavailableError,
    InvalidAttributeError,
    InvalidMetadataError,
    InvalidNameError,
    InvalidPathError,
    InvalidQueryError,
    InvalidSpecError,
    LocalAccessError,
    ManifestError,
    PartConflictError,
    RecordMismatchError,
    ReferenceAccessError,
    ReferenceChangedError,
    ReferenceNetworkError,
    ReferenceNotFoundError,
    RunFinishedError,
    SatchelError,
    SerializerError,
    SourceFileChangedError,
    SourceFileNotFoundError,
    StoreAccessError,
    StoreError,
    StoreFormatError,
    StoreNotFoundError,
    StoreNotWritableError,
    StoreUnavailableError,
    TooManyObjectsError,
    UnsupportedReferenceError,
)
from satchel.manifest import Manifest, ManifestDiff, ManifestEntry
from satchel.materializers import serializers
from satchel.run import Run, init
from satchel.store import Store, open_store

__version__ = "0.1.0"

__all__ = [
    "AliasProtectedError",
    "Api",
    "Artifact",
    "ArtifactDeletedError",
    "ArtifactFinalizedError",
    "ArtifactNotFoundError",
    "ArtifactNotLoggedError",
    "ArtifactState",
    "ArtifactStateError",
    "ArtifactTypeMismatchError",
    "ArtifactVerificationError",
    "Cache",
    "ConcurrentUpdateError",
    "ConfigError",
    "DigestMismatchError",
    "DiskFullError",
    "DownloadObstacleError",
    "EntryConflictError",
    "EntryNotFoundError",
    "HandlerUnavailableError",
    "InvalidAttributeError",
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
    "PartConflictError",
    "RecordMismatchError",
    "ReferenceAccessError",
    "ReferenceChangedError",
    "ReferenceNetworkError",
    "ReferenceNotFoundError",
    "Run",
    "RunFinishedError",
    "SatchelError",
    "SerializerError",
    "SourceFileChangedError",
    "SourceFileNotFoundError",
    "Store",
    "StoreAccessError",
    "StoreError",
    "StoreFormatError",
    "StoreNotFoundError",
    "StoreNotWritableError",
    "StoreUnavailableError",
    "TooManyObjectsError",
    "UnsupportedReferenceError",
    "__version__",
    "configure",
    "init",
    "log_artifact",
    "open_store",
    "serializers",
    "use_artifact",
]
