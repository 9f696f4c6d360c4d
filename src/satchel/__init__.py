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
    EntryConflictError,
    EntryNotFoundError,
    HandlerUnavailableError,
    InvalidMetadataError,
    InvalidNameError,
    InvalidPathError,
    ManifestError,
    ReferenceAccessError,
    ReferenceChangedError,
    ReferenceNetworkError,
    ReferenceNotFoundError,
    SatchelError,
    SerializerError,
    SourceFileChangedError,
    SourceFileNotFoundError,
    StoreError,
    StoreFormatError,
    StoreNotWritableError,
    TooManyObjectsError,
    UnsupportedReferenceError,
)
from satchel.manifest import Manifest, ManifestDiff, ManifestEntry
from satchel.materializers import serializers
from satchel.store import Store, open_store

__version__ = "0.1.0"

__all__ = [
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
    "EntryConflictError",
    "EntryNotFoundError",
    "HandlerUnavailableError",
    "InvalidMetadataError",
    "InvalidNameError",
    "InvalidPathError",
    "Manifest",
    "ManifestDiff",
    "ManifestEntry",
    "ManifestError",
    "ReferenceAccessError",
    "ReferenceChangedError",
    "ReferenceNetworkError",
    "ReferenceNotFoundError",
    "SatchelError",
    "SerializerError",
    "SourceFileChangedError",
    "SourceFileNotFoundError",
    "Store",
    "StoreError",
    "StoreFormatError",
    "StoreNotWritableError",
    "TooManyObjectsError",
    "UnsupportedReferenceError",
    "__version__",
    "configure",
    "log_artifact",
    "open_store",
    "serializers",
    "use_artifact",
]
