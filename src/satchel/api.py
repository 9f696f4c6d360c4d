"""``Api``: look up, list and compare committed artifacts in a store.

``Api(store=None, project=None)`` resolves its store and project from arguments, then the
environment (``SATCHEL_STORE``, ``SATCHEL_PROJECT``), then defaults.

A local store whose folder does not exist holds nothing, which is almost always a mistyped
path: the read methods (look-ups and listings) warn once per ``Api``, naming the folder, before
answering. Writes create the folder, as before.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from satchel import config, naming
from satchel.artifact import Artifact
from satchel.errors import ArtifactNotFoundError, ArtifactTypeMismatchError, DamagedRecordError
from satchel.manifest import ManifestDiff
from satchel.services import Services, local_services
from satchel.store import Store
from satchel.store.damage import warn_skipped
from satchel.store.records import VersionRecord

if TYPE_CHECKING:
    from satchel.registry.apply import ApplyResult
    from satchel.registry.listing import ArtifactCollection
    from satchel.registry.query import Page


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
        self._warned_missing = False

    @property
    def store(self) -> Store:
        """The store this Api reads."""
        return self._services.require_store()

    def missing_store_folder(self) -> str | None:
        """The folder of a local store that does not exist (yet), else ``None``."""
        from satchel.store.local import LocalBackend

        backend = self.store.backend
        if isinstance(backend, LocalBackend) and not os.path.isdir(backend.root):
            return backend.root
        return None

    def _reading(self, stacklevel: int = 3) -> Store:
        """The store, for a read: warns (once per Api) when a local store's folder is missing."""
        if not self._warned_missing:
            missing = self.missing_store_folder()
            if missing is not None:
                self._warned_missing = True
                warnings.warn(missing_store_message(missing), stacklevel=stacklevel)
        return self.store

    @property
    def services(self) -> Services:
        """The dependency bundle artifacts from this Api use."""
        return self._services

    def artifact(self, ref: str, type: str | None = None) -> Artifact:
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
        return self._artifact(ref, type, warn=True)

    def _artifact(self, ref: str, type: str | None, *, warn: bool) -> Artifact:
        parsed = naming.parse_ref(ref, project=self.project, hidden_ok=True)
        assert parsed.project is not None
        store = self._reading(stacklevel=4) if warn else self.store
        record = store.resolve(parsed.project, parsed.name, parsed.selector)
        if type is not None and record.type != type:
            raise ArtifactTypeMismatchError(
                f"artifact {parsed.project}/{parsed.name} has type {record.type!r}, not {type!r}"
            )
        return Artifact._from_record(self._services, self.store, record)

    def artifact_exists(self, ref: str, type: str | None = None) -> bool:
        """Whether :meth:`artifact` would find ``ref`` (no warning for a missing store
        folder: asking before a first commit is normal)."""
        try:
            self._artifact(ref, type, warn=False)
        except (ArtifactNotFoundError, ArtifactTypeMismatchError):
            return False
        return True

    def projects(self) -> list[str]:
        """Every project in the store."""
        return self._reading().projects()

    def collections(self, project: str | None = None) -> list[str]:
        """Every artifact name in a project."""
        return self._reading().collections(config.project(project or self.project))

    def versions(self, name: str, project: str | None = None) -> list[Artifact]:
        """Every live version of an artifact, oldest first (a damaged record is skipped with a
        :class:`~satchel.errors.StoreDamageWarning`).

        Raises:
            ArtifactNotFoundError: no such artifact.
        """
        proj = config.project(project or self.project)
        naming.validate_name(name, hidden_ok=True)
        store = self._reading()
        if store.collection(proj, name) is None:
            raise ArtifactNotFoundError(
                f"no artifact named {name!r} in project {proj!r} of store {store.url}"
            )
        out = []
        for n in store.live_versions(proj, name):
            try:
                record = store.version(proj, name, n)
            except DamagedRecordError as exc:
                warn_skipped(exc.key, exc.reason)
                continue
            out.append(Artifact._from_record(self._services, store, record))
        return out

    def diff(self, ref_a: str, ref_b: str) -> ManifestDiff:
        """What changed from version ``ref_a`` to version ``ref_b``."""
        return self.artifact(ref_a).manifest.diff(self.artifact(ref_b).manifest)

    # -- registry (the work is done in satchel.registry) ---------------------------------
    def _record(self, ref: str) -> VersionRecord:
        parsed = naming.parse_ref(ref, project=self.project, hidden_ok=True)
        assert parsed.project is not None
        return self.store.resolve(parsed.project, parsed.name, parsed.selector)

    def artifact_versions(
        self,
        name: str | None = None,
        *,
        type: str | None = None,
        project: str | None = None,
        tags: Sequence[str] | str | None = None,
        tag: str | None = None,
        alias: str | None = None,
        stage: str | None = None,
        version: str | int | None = None,
        digest: str | None = None,
        created_after: Any = None,
        created_before: Any = None,
        updated_after: Any = None,
        updated_before: Any = None,
        metadata: Mapping[str, Any] | None = None,
        produced_by: Any = None,
        used_by: Any = None,
        only_unused: bool = False,
        logical_operator: str = "and",
        sort_by: str = "-created",
        page: int = 1,
        size: int = 20,
    ) -> Page[Artifact]:
        """List live versions, filtered, sorted and paged (ZenML/Polyaxon-style).

        Args:
            name: one collection (``"name"`` or ``"project/name"``); default: every collection.
            type: artifact type.
            project: the project (default: the Api's).
            tags: versions having all of these tags. tag: versions having this tag.
            alias: versions this alias names (``latest`` included).
            stage: ``development``, ``staging``, ``production`` or ``archived``.
            version: ``"v3"`` or ``3``. digest: the artifact digest.
            created_after, created_before, updated_after, updated_before: datetimes or ISO
                8601 strings (naive times are UTC).
            metadata: top-level key/value pairs that must all match.
            produced_by: a run (or run id) that logged the version.
            used_by: a run (or ``run_id``, ``project/run_id``) that used the version.
            only_unused: versions no run used.
            logical_operator: ``"and"`` or ``"or"`` to combine the filters given (the project
                and name only choose where to look).
            sort_by: ``created``, ``updated``, ``version``, ``name`` or ``size``; prefix ``-``
                for descending.
            page: page number from 1. size: page size, 1..10,000.

        Returns:
            A :class:`~satchel.registry.query.Page` of artifacts (``items``, ``index``,
            ``max_size``, ``total``, ``total_pages``; iterable).

        Raises:
            InvalidQueryError: a bad filter, sort, page or size (a ``ValueError``).
            InvalidNameError: a bad name, project, type, tag or alias.
        """
        from satchel.registry.listing import list_versions
        from satchel.registry.query import VersionQuery

        if name is not None and "/" in name:
            project, name = name.split("/", 1)
        query = VersionQuery.build(
            project=config.project(project or self.project), name=name, type=type, tags=tags,
            tag=tag, alias=alias, stage=stage, version=version, digest=digest,
            created_after=created_after, created_before=created_before,
            updated_after=updated_after, updated_before=updated_before, metadata=metadata,
            produced_by=produced_by, used_by=used_by, only_unused=only_unused,
            logical_operator=logical_operator, sort_by=sort_by, page=page, size=size,
        )
        return list_versions(self._services, self._reading(), query)

    def artifact_collections(
        self, project: str | None = None, type: str | None = None
    ) -> list[ArtifactCollection]:
        """Every collection of a project (of one type, when given) with a live version."""
        from satchel.registry.listing import list_collections

        return list_collections(self._reading(), config.project(project or self.project), type=type)

    def artifact_types(self, project: str | None = None) -> list[str]:
        """The artifact types used in a project, sorted."""
        from satchel.registry.listing import list_types

        return list_types(self._reading(), config.project(project or self.project))

    def update_artifact_version(
        self,
        ref: str,
        *,
        name: str | None = None,
        add_tags: Sequence[str] | None = None,
        remove_tags: Sequence[str] | None = None,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Artifact:
        """Edit a version's attributes (ZenML-style); ``None`` leaves a field alone.

        Args:
            ref: the version.
            name: move the version to collection ``name`` of the same project (a transfer:
                copy, then delete the old version; its aliases move along).
            add_tags, remove_tags: tags to add and to remove.
            description: new description.
            metadata: new metadata (replaces the old).

        Returns:
            The updated version (in its new collection, when renamed).

        Raises:
            ArtifactNotFoundError, InvalidNameError, InvalidMetadataError.
        """
        art = self.artifact(ref)
        if add_tags or remove_tags:
            art.tags = sorted((set(art.tags) | set(add_tags or ())) - set(remove_tags or ()))
        if description is not None:
            art.description = description
        if metadata is not None:
            art.metadata = dict(metadata)
        art.save()
        if name is not None and name != art.collection_name:
            return self.transfer_artifact_version(art.qualified_name, project=art.project, name=name)
        return art

    def stage_artifact_version(
        self, ref: str, stage: str, *, reason: str | None = None, message: str | None = None
    ) -> Artifact:
        """Move a version to a stage, recording the change in its history.

        Args:
            ref: the version.
            stage: ``development``, ``staging``, ``production`` or ``archived``.
            reason: short reason, kept in the history.
            message: longer message, kept in the history.

        Returns:
            The version, with ``stage`` and ``stage_history`` updated.

        Raises:
            InvalidAttributeError: unknown stage.
            ArtifactNotFoundError: no such version.
        """
        from satchel.registry.stages import set_stage

        record = self._record(ref)
        set_stage(self.store, record, stage, reason=reason, message=message)
        return Artifact._from_record(self._services, self.store, record)

    def copy_artifact_version(
        self,
        ref: str,
        *,
        project: str,
        name: str | None = None,
        store: Store | str | None = None,
        aliases: Sequence[str] = (),
    ) -> Artifact:
        """Copy a version into another project (or name, or store).

        Within one store nothing is uploaded (content is shared); across stores the objects
        the target lacks are transferred. Description, metadata and tags come along.

        Args:
            ref: the version to copy.
            project: the target project.
            name: the target name (default: the same).
            store: the target store (default: this Api's).
            aliases: aliases to set on the copy.

        Returns:
            The copy.

        Raises:
            ArtifactTypeMismatchError: the target name holds another type.
        """
        from satchel.registry.copy import copy_version

        record = self._record(ref)
        target = self._target(store)
        result = copy_version(
            self._services, self.store, record, target=target, project=project, name=name,
            aliases=aliases,
        )
        return Artifact._from_record(self._services, target, result.record)

    def transfer_artifact_version(
        self,
        ref: str,
        *,
        project: str,
        name: str | None = None,
        store: Store | str | None = None,
    ) -> Artifact:
        """Copy a version (with its aliases) to another project, name or store, then delete
        the original.

        Returns:
            The copy.
        """
        from satchel.registry.copy import transfer_version

        record = self._record(ref)
        target = self._target(store)
        result = transfer_version(
            self._services, self.store, record, target=target, project=project, name=name
        )
        return Artifact._from_record(self._services, target, result.record)

    def _target(self, store: Store | str | None) -> Store:
        if store is None:
            return self.store
        return self._services.with_store(store).require_store()

    def apply(self, spec: Mapping[str, Any], *, base_dir: str | None = None) -> ApplyResult:
        """Apply a version spec (TrueFoundry-style; see :mod:`satchel.registry.apply`).

        Args:
            spec: ``name``, ``type``, ``source`` and optionally ``project``, ``description``,
                ``metadata``, ``version_alias``, ``aliases``, ``tags``.
            base_dir: folder local ``src`` paths are relative to (default: working directory).

        Returns:
            The version and what was done (``created``, ``updated`` or ``unchanged``).

        Raises:
            InvalidSpecError: a missing or malformed field.
        """
        from satchel.registry.apply import apply_spec

        return apply_spec(self._services, spec, default_project=self.project, base_dir=base_dir)


def missing_store_message(folder: str) -> str:
    """The warning for a local store folder that does not exist."""
    return (
        f"store {folder} does not exist, so it holds nothing yet; check the store path "
        "(--store, SATCHEL_STORE or Api(store=...)). The first commit creates it"
    )


def use_artifact(
    ref: str,
    *,
    type: str | None = None,
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
