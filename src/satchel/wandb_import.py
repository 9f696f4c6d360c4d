"""Register the entries of a W&B ``wandb_manifest.json`` as a satchel version.

W&B manifests list two kinds of entry:

* **references** (``ref`` set: ``s3://``, ``gs://``, ``https://``, ``file://``...): kept as they
  are, with W&B's recorded digest, size and extras (ETag, version id), so satchel downloads and
  checks the same bytes W&B would;
* **stored files** (no ``ref``; W&B kept the bytes in its own storage): satchel needs the bytes.
  Each is looked for under the given *roots*, in order: a local folder (``root/<path>`` is added
  and must hash to W&B's digest; the digests are the same base64 MD5), or a URI prefix
  (``s3://bucket/prefix``: ``<prefix>/<path>`` is added as a reference). An entry found under
  no root is an error that lists the missing paths.

The artifact digest of the result equals W&B's for the same entries (same definition).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from satchel.errors import DigestMismatchError, SourceFileNotFoundError
from satchel.manifest import Manifest
from satchel.services import Services

if TYPE_CHECKING:
    from satchel.artifact import Artifact


def build_from_wandb(
    services: Services,
    manifest: Manifest | str | os.PathLike[str] | Mapping[str, Any],
    *,
    name: str,
    type: str,
    roots: Sequence[str] = (),
    description: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Artifact:
    """A draft artifact holding the entries of a W&B manifest (not saved yet).

    Args:
        services: the bundle (cache, handlers) the draft uses.
        manifest: a :class:`Manifest`, a path to ``wandb_manifest.json`` or its parsed dict.
        name, type: the artifact.
        roots: where stored files are fetched from: local folders or URI prefixes, in order.
        description, metadata: attributes of the new version.

    Returns:
        The draft; call ``save()`` on it.

    Raises:
        ManifestError: not a W&B manifest.
        SourceFileNotFoundError: stored entries found under no root (all listed).
        DigestMismatchError: a local file's content differs from W&B's digest.
    """
    from satchel.artifact import Artifact

    wb = manifest if isinstance(manifest, Manifest) else Manifest.from_wandb(manifest)
    art = Artifact(name, type, description=description, metadata=metadata, services=services)
    draft = art._editable()
    missing: list[str] = []
    for entry in wb:
        if entry.is_reference:
            draft.put(msgspec.structs.replace(entry, birth_artifact_id=None), None, overwrite=False)
            continue
        if not _from_roots(art, entry.path, entry.digest, roots):
            missing.append(entry.path)
    if missing:
        shown = ", ".join(missing[:20]) + (
            f" (+{len(missing) - 20} more)" if len(missing) > 20 else ""
        )
        where = ", ".join(roots) if roots else "no --root given"
        raise SourceFileNotFoundError(
            f"{len(missing)} file(s) stored by W&B were found under no root ({where}): {shown}. "
            "Download the W&B artifact and pass its folder as a root"
        )
    return art


def _from_roots(art: Artifact, path: str, digest: str, roots: Sequence[str]) -> bool:
    for root in roots:
        if "://" in root and not root.startswith("file://"):
            art.add_reference(f"{root.rstrip('/')}/{path}", name=path)
            return True
        folder = root.removeprefix("file://")
        local = os.path.join(folder, *path.split("/"))
        if not os.path.isfile(local):
            continue
        entry = art.add_file(local, name=path)
        if entry.digest != digest:
            art.remove(path)
            raise DigestMismatchError(
                f"{local} does not hold the content W&B recorded for {path!r} (digest "
                f"{entry.digest}, expected {digest}); point --root at the downloaded artifact"
            )
        return True
    return False
