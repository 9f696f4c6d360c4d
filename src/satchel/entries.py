"""Entries that know their artifact: what ``artifact.get_entry()`` and ``files()`` return.

W&B code calls ``artifact.get_entry("model.pt").download()`` and ``entry.ref_url()``; a plain
:class:`~satchel.manifest.ManifestEntry` is a frozen value with no artifact to download from.
:class:`BoundEntry` is the same entry plus the artifact it came from. It compares equal to the
plain entry with the same fields (manifests, drafts and diffs keep working with either), and
satchel never stores one: manifests hold plain entries.

``ref_url()`` names an entry of a committed version as
``satchel-artifact://<project>/<name>:v<N>/<path>``; ``add_reference`` of such a URL adds that
entry's content to another artifact of the same store without copying it
(:func:`resolve_ref_url`). W&B's ``wandb-artifact://<id>/...`` URLs name W&B server ids and are
refused with a message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

import msgspec

from satchel import naming
from satchel import paths as logical_paths
from satchel.errors import EntryNotFoundError, InvalidPathError, UnsupportedReferenceError
from satchel.manifest import ManifestEntry
from satchel.store import Store

if TYPE_CHECKING:
    from satchel.artifact import Artifact

SCHEME = "satchel-artifact"


class BoundEntry(ManifestEntry, frozen=True, gc=True):
    """A :class:`ManifestEntry` with the artifact it belongs to (``parent_artifact()``)."""

    _parent: Any = None

    def parent_artifact(self) -> Artifact:
        """The artifact this entry belongs to."""
        return self._parent  # type: ignore[no-any-return]

    def download(
        self, root: str | None = None, skip_cache: bool | None = None, executor: Any = None
    ) -> str:
        """Download just this entry into ``root`` (default: the artifact's download folder)
        and return the file's path (W&B's ``entry.download``).

        Args:
            root: the folder the artifact's files go below.
            skip_cache: drop satchel's cached copy afterwards.
            executor: accepted for W&B compatibility (unused).

        Raises:
            ArtifactNotLoggedError: the artifact is a draft. See ``Artifact.download``.
        """
        return self._parent._download_entry(self, root, skip_cache=bool(skip_cache))  # type: ignore[no-any-return]

    def ref_url(self) -> str:
        """``satchel-artifact://<project>/<name>:v<N>/<path>``: a URL another artifact of the
        same store can ``add_reference`` (see the module docstring).

        Raises:
            ArtifactNotLoggedError: the artifact is a draft.
        """
        rec = self._parent._committed("ref_url")
        return f"{SCHEME}://{rec.project}/{rec.name}:v{rec.version}/{quote(self.path)}"

    def __eq__(self, other: object) -> bool:
        """Equal to any entry with the same fields (bound or not)."""
        if isinstance(other, ManifestEntry):
            return _fields(self) == _fields(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            "ManifestEntry(" + ", ".join(f"{k}={v!r}" for k, v in zip(_NAMES, _fields(self))) + ")"
        )


_NAMES = ("path", "digest", "size", "ref", "extra", "birth_artifact_id")


def _fields(e: ManifestEntry) -> tuple[Any, ...]:
    return (e.path, e.digest, e.size, e.ref, e.extra, e.birth_artifact_id)


def bind(entry: ManifestEntry, artifact: Artifact) -> BoundEntry:
    """``entry`` bound to ``artifact``."""
    return BoundEntry(*_fields(entry), artifact)  # type: ignore[call-arg]


def resolve_ref_url(store: Store, url: str, name: str | None) -> ManifestEntry:
    """The entry a ``satchel-artifact://`` URL names, as a stored entry of a new artifact
    (called ``name``, default the entry's file name); its content is already in ``store``.

    Raises:
        UnsupportedReferenceError: a ``wandb-artifact://`` URL (a W&B server id).
        InvalidPathError: a malformed URL. ArtifactNotFoundError: no such version.
        EntryNotFoundError: the version has no such entry.
    """
    parts = urlsplit(url)
    if parts.scheme == "wandb-artifact":
        raise UnsupportedReferenceError(
            f"{url} names an artifact by its W&B server id, which satchel cannot look up; "
            "use the ref_url() of a satchel artifact entry (satchel-artifact://...)"
        )
    head, sep, path = parts.path.lstrip("/").partition("/")
    if not parts.netloc or not sep or not path or ":" not in head:
        raise InvalidPathError(
            f"{url} is not an artifact entry URL; expected "
            f"{SCHEME}://<project>/<name>:v<N>/<path> (from entry.ref_url())"
        )
    ref = naming.parse_ref(f"{parts.netloc}/{head}")
    assert ref.project is not None
    record = store.resolve(ref.project, ref.name, ref.selector)
    manifest = store.get_manifest(record.manifest)
    logical = logical_paths.normalize(unquote(path))
    entry = manifest.get(logical)
    if entry is None:
        raise EntryNotFoundError(
            f"{ref.project}/{ref.name}:{ref.selector} has no entry {logical!r}"
        )
    new_path = logical_paths.normalize(name or logical.rsplit("/", 1)[-1])
    return msgspec.structs.replace(entry, path=new_path)


def artifact_entry_reference(
    store: Callable[[], Store], uri: str | ManifestEntry, name: str | None
) -> ManifestEntry | None:
    """What ``add_reference(uri)`` adds when ``uri`` is an artifact entry or its
    ``ref_url()`` (see :func:`resolve_ref_url`); ``None`` for any other URI.

    Raises:
        InvalidPathError: an entry that is not bound to an artifact. See
            :func:`resolve_ref_url`.
    """
    if isinstance(uri, ManifestEntry):
        if not isinstance(uri, BoundEntry):
            raise InvalidPathError(
                f"entry {uri.path!r} is not bound to an artifact; pass "
                "artifact.get_entry(path) (or its ref_url())"
            )
        uri = uri.ref_url()
    if not uri.startswith((f"{SCHEME}://", "wandb-artifact://")):
        return None
    return resolve_ref_url(store(), uri, name)
