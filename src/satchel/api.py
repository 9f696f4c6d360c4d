"""``Api``: look up, list and compare committed artifacts in a store.

``Api(store=None, project=None)`` resolves its store and project from arguments, then the
environment (``SATCHEL_STORE``, ``SATCHEL_PROJECT``), then defaults.
"""

from __future__ import annotations

from collections.abc import Sequence

from satchel import config, naming
from satchel.artifact import Artifact
from satchel.errors import ArtifactNotFoundError, ArtifactTypeMismatchError
from satchel.manifest import ManifestDiff
from satchel.services import Services, local_services
from satchel.store import Store


class Api:
    """Entry point for reading a store.

    Args:
        store: a :class:`Store` or URL (default: configured store).
        project: default project for references without one.
        cache_dir: cache folder (default: configured cache).
        services: a complete dependency bundle (overrides ``cache_dir``).
    """

    def __init__(
        self,
        store: Store | str | None = None,
        project: str | None = None,
        *,
        cache_dir: str | None = None,
        services: Services | None = None,
    ) -> None:
        base = services or local_services(cache_dir=cache_dir)
        self._services = base.with_store(store) if (store is not None or base.store is None) else base
        self.project = config.project(project)

    @property
    def store(self) -> Store:
        """The store this Api reads."""
        return self._services.require_store()

    @property
    def services(self) -> Services:
        """The dependency bundle artifacts from this Api use."""
        return self._services

    def artifact(self, ref: str, type: str | None = None) -> Artifact:  # noqa: A002
        """Fetch a committed version: ``"name"``, ``"name:v3"``, ``"project/name:alias"``.

        Args:
            ref: the reference (a bare name means ``latest``).
            type: when given, the artifact must have this type.

        Raises:
            ArtifactNotFoundError: no such artifact, version or alias.
            ArtifactDeletedError: the version was deleted.
            ArtifactTypeMismatchError: ``type`` given and different.
            InvalidNameError: malformed reference.
        """
        parsed = naming.parse_ref(ref, project=self.project)
        assert parsed.project is not None
        record = self.store.resolve(parsed.project, parsed.name, parsed.selector)
        if type is not None and record.type != type:
            raise ArtifactTypeMismatchError(
                f"artifact {parsed.project}/{parsed.name} has type {record.type!r}, not {type!r}"
            )
        return Artifact._from_record(self._services, self.store, record)

    def artifact_exists(self, ref: str, type: str | None = None) -> bool:  # noqa: A002
        """Whether :meth:`artifact` would find ``ref``."""
        try:
            self.artifact(ref, type)
        except (ArtifactNotFoundError, ArtifactTypeMismatchError):
            return False
        return True

    def projects(self) -> list[str]:
        """Every project in the store."""
        return self.store.projects()

    def collections(self, project: str | None = None) -> list[str]:
        """Every artifact name in a project."""
        return self.store.collections(config.project(project or self.project))

    def versions(self, name: str, project: str | None = None) -> list[Artifact]:
        """Every live version of an artifact, oldest first.

        Raises:
            ArtifactNotFoundError: no such artifact.
        """
        proj = config.project(project or self.project)
        naming.validate_name(name)
        store = self.store
        if store.collection(proj, name) is None:
            raise ArtifactNotFoundError(
                f"no artifact named {name!r} in project {proj!r} of store {store.url}"
            )
        return [
            Artifact._from_record(self._services, store, store.version(proj, name, n))
            for n in store.live_versions(proj, name)
        ]

    def diff(self, ref_a: str, ref_b: str) -> ManifestDiff:
        """What changed from version ``ref_a`` to version ``ref_b``."""
        return self.artifact(ref_a).manifest.diff(self.artifact(ref_b).manifest)


def use_artifact(
    ref: str,
    *,
    type: str | None = None,  # noqa: A002
    store: Store | str | None = None,
    project: str | None = None,
) -> Artifact:
    """Fetch a committed version (same as ``Api(store, project).artifact(ref, type)``)."""
    return Api(store, project).artifact(ref, type)


def log_artifact(
    artifact: Artifact,
    aliases: Sequence[str] | None = None,
    *,
    project: str | None = None,
    store: Store | str | None = None,
    tags: Sequence[str] | None = None,
) -> Artifact:
    """Commit ``artifact`` (same as ``artifact.save(project, store=..., aliases=..., tags=...)``)."""
    return artifact.save(project, store=store, aliases=aliases, tags=tags)
