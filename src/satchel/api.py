"""``Api``: look up, list and compare committed artifacts in a store.

``Api(store=None, project=None)`` resolves its store and project from arguments, then the
environment (``SATCHEL_STORE``, ``SATCHEL_PROJECT``), then defaults. W&B's
``Api(overrides={...})`` works too, and W&B's public-API methods live in
:mod:`satchel.api_wandb`.

A local store whose folder does not exist holds nothing, which is almost always a mistyped
path: the read methods (look-ups and listings) warn once per ``Api``, naming the folder, before
answering. Writes create the folder, as before.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from satchel import naming, settings
from satchel.api_wandb import WandbApiMixin, split_path
from satchel.artifact import Artifact
from satchel.catalog import ProjectName
from satchel.errors import (
    ArtifactNotFoundError,
    ArtifactTypeMismatchError,
    DamagedRecordError,
    InvalidQueryError,
    UnsupportedError,
)
from satchel.manifest import ManifestDiff
from satchel.services import Services, local_services
from satchel.store import Store
from satchel.store.damage import warn_skipped
from satchel.store.records import VersionRecord
from satchel.version import Version

if TYPE_CHECKING:
    from satchel.apply import ApplyResult
    from satchel.registry.query import Page

#: keys of W&B's ``Api(overrides=...)`` satchel understands
_OVERRIDES = ("entity", "project", "run", "organization", "base_url")


class Api(WandbApiMixin):
    """Entry point for reading a store.

    Args:
        store: a :class:`Store` or URL (default: configured store). A dict here is taken as
            W&B's ``overrides`` (W&B's first argument).
        project: default project for references without one.
        overrides: W&B's settings dict: ``project`` (as ``project=``), ``entity`` (what
            artifacts report as their entity), ``run`` and ``organization`` (ignored);
            ``base_url`` is refused (satchel has no server).
        timeout: accepted for W&B compatibility (the store's own retries apply).
        api_key: refused: satchel has no server and no login.
        cache_dir: cache folder (default: configured cache).
        services: a complete dependency bundle (overrides ``cache_dir``).

    Attributes:
        project: the default project, a ``str`` that is also callable as W&B's
            ``api.project(name)`` (see :class:`~satchel.catalog.ProjectName`).
        settings: W&B's ``api.settings`` dict (``entity``, ``project``, ``base_url``).

    Raises:
        UnsupportedError: ``api_key``, ``base_url`` or an unknown override.
    """

    def __init__(
        self,
        store: Store | str | Mapping[str, Any] | None = None,
        project: str | None = None,
        *,
        overrides: Mapping[str, Any] | None = None,
        timeout: int | None = None,
        api_key: str | None = None,
        cache_dir: str | None = None,
        services: Services | None = None,
    ) -> None:
        if isinstance(store, Mapping):  # W&B's Api(overrides) passed positionally
            overrides, store = store, None
        over = dict(overrides or {})
        _check_overrides(over, api_key)
        base = services or local_services(cache_dir=cache_dir)
        if over.get("entity"):
            base = replace(base, entity=str(over["entity"]))
        self._services = (
            base.with_store(store) if (store is not None or base.store is None) else base
        )
        self.project = ProjectName(settings.project(project or over.get("project")), api=self)
        self.settings: dict[str, Any] = {
            "entity": self._services.entity_name(),
            "project": str(self.project),
            "base_url": None,
        }
        self._warned_missing = False

    if not TYPE_CHECKING:  # a __getattr__ would make type checkers accept any attribute

        def __getattr__(self, name: str) -> Any:
            """A W&B ``Api`` method satchel lacks (``api.registries``...) raises
            :class:`~satchel.errors.NotInSatchelError` saying why; others an ``AttributeError``."""
            from satchel.wandb_names import missing_on

            error = missing_on("Api", name) if not name.startswith("_") else None
            if error is not None:
                raise error
            raise AttributeError(f"'Api' object has no attribute {name!r}")

    @property
    def default_entity(self) -> str:
        """W&B's default entity: the configured one (satchel has no entities)."""
        return self._services.entity_name()

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

    def artifact(self, name: str, type: str | None = None) -> Artifact:
        """Fetch a committed version: ``"name"``, ``"name:v3"``, ``"project/name:alias"`` or
        W&B's ``"entity/project/name:alias"`` (the entity is ignored).

        Args:
            name: the reference (a bare name means ``latest``).
            type: when given, the artifact must have this type.

        Raises:
            ArtifactNotFoundError: no such artifact, version or alias.
            ArtifactDeletedError: the version was deleted.
            ArtifactTypeMismatchError: ``type`` given and different.
            InvalidNameError: malformed reference.
        """
        return self._artifact(name, type, warn=True)

    def _artifact(self, ref: str, type: str | None, *, warn: bool) -> Artifact:
        parsed = naming.parse_ref(ref, project=self.project, hidden_ok=True)
        assert parsed.project is not None
        store = self._reading(stacklevel=4) if warn else self.store
        record = store.resolve(parsed.project, parsed.name, parsed.selector)
        if type is not None and record.type != type:
            raise ArtifactTypeMismatchError(
                f"artifact {parsed.project}/{parsed.name} has type {record.type!r}, not {type!r}"
            )
        return Artifact._of(Version(self.store, record), self._services)

    def artifact_exists(self, name: str, type: str | None = None) -> bool:
        """Whether :meth:`artifact` would find ``name`` (no warning for a missing store
        folder: asking before a first commit is normal)."""
        try:
            self._artifact(name, type, warn=False)
        except (ArtifactNotFoundError, ArtifactTypeMismatchError):
            return False
        return True

    def collections(self, project: str | None = None) -> list[str]:
        """Every artifact name in a project."""
        return self._reading().collections(settings.project(project or self.project))

    def versions(self, name: str, project: str | None = None) -> list[Artifact]:
        """Every live version of an artifact, oldest first (a damaged record is skipped with a
        :class:`~satchel.errors.StoreDamageWarning`).

        Raises:
            ArtifactNotFoundError: no such artifact.
        """
        proj = settings.project(project or self.project)
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
            out.append(Artifact._of(Version(store, record), self._services))
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
        name_or_type: str | None = None,
        wandb_name: str | None = None,
        per_page: int | None = None,
        /,
        *,
        name: str | None = None,
        type_name: str | None = None,
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
        """List live versions: satchel's filtered, paged listing, or W&B's form.

        **W&B's form** ``artifact_versions(type_name, name[, per_page])`` (two positional
        arguments, or ``type_name=`` with ``name=``) is :meth:`artifacts`: *every* version of
        collection ``name`` of that type, newest first (W&B deprecated it for ``artifacts``).

        **satchel's form** ``artifact_versions([name], **filters)`` (at most one positional
        argument) returns one :class:`~satchel.registry.query.Page`, filtered and sorted
        (ZenML/Polyaxon-style).

        Args:
            name_or_type: satchel's form: the collection (``"name"``, ``"project/name"``);
                W&B's form: the type.
            wandb_name: W&B's form: the collection (second positional argument).
            per_page: W&B's form: page size for ``.cursor``.
            name: one collection (``"name"`` or ``"project/name"``; default: every
                collection), or with ``type_name``, W&B's form.
            type_name: W&B's form: the type.
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
            ``max_size``, ``total``, ``total_pages``; iterable); in W&B's form one page
            holding every version.

        Raises:
            InvalidQueryError: a bad filter, sort, page or size (a ``ValueError``), or both
                forms mixed.
            InvalidNameError: a bad name, project, type, tag or alias.
            ArtifactNotFoundError: W&B's form, and no such collection of that type.
        """
        from satchel.registry.listing import list_versions
        from satchel.registry.query import Page, VersionQuery

        if wandb_name is not None or type_name is not None:
            wb_type = type_name if type_name is not None else name_or_type
            wb_name = wandb_name if wandb_name is not None else name
            if wb_type is None or wb_name is None or (wandb_name is not None and name):
                raise InvalidQueryError(
                    "artifact_versions takes W&B's (type_name, name) or satchel's (name, "
                    "**filters); give both type_name and name, or only satchel's arguments"
                )
            every = tuple(self.artifacts(wb_type, wb_name, per_page=per_page or 50))
            return Page(every, 1, max(1, len(every)), len(every), 1)
        if per_page is not None:
            raise InvalidQueryError(
                "per_page is W&B's artifact_versions(type_name, name, per_page); satchel's "
                "filtered form pages with page= and size="
            )
        if name_or_type is not None:
            if name is not None:
                raise InvalidQueryError(
                    f"artifact_versions got the collection twice ({name_or_type!r} and "
                    f"name={name!r})"
                )
            name = name_or_type
        if name is not None and "/" in name:
            project, name = split_path(name, self.project, "artifact collection")
        query = VersionQuery.build(
            project=settings.project(project or self.project),
            name=name,
            type=type,
            tags=tags,
            tag=tag,
            alias=alias,
            stage=stage,
            version=version,
            digest=digest,
            created_after=created_after,
            created_before=created_before,
            updated_after=updated_after,
            updated_before=updated_before,
            metadata=metadata,
            produced_by=produced_by,
            used_by=used_by,
            only_unused=only_unused,
            logical_operator=logical_operator,
            sort_by=sort_by,
            page=page,
            size=size,
        )
        services = self._services
        return list_versions(self._reading(), query).map(lambda v: Artifact._of(v, services))

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
            return self.transfer_artifact_version(
                art.qualified_name, project=art.project, name=name
            )
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
        return Artifact._of(Version(self.store, record), self._services)

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
            self._services,
            self.store,
            record,
            target=target,
            project=project,
            name=name,
            aliases=aliases,
        )
        return Artifact._of(Version(target, result.record), self._services)

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
        return Artifact._of(Version(target, result.record), self._services)

    def _target(self, store: Store | str | None) -> Store:
        if store is None:
            return self.store
        return self._services.with_store(store).require_store()

    def apply(self, spec: Mapping[str, Any], *, base_dir: str | None = None) -> ApplyResult:
        """Apply a version spec (TrueFoundry-style; see :mod:`satchel.apply`).

        Args:
            spec: ``name``, ``type``, ``source`` and optionally ``project``, ``description``,
                ``metadata``, ``version_alias``, ``aliases``, ``tags``.
            base_dir: folder local ``src`` paths are relative to (default: working directory).

        Returns:
            The version and what was done (``created``, ``updated`` or ``unchanged``).

        Raises:
            InvalidSpecError: a missing or malformed field.
        """
        from satchel.apply import apply_spec

        return apply_spec(self._services, spec, default_project=self.project, base_dir=base_dir)


def missing_store_message(folder: str) -> str:
    """The warning for a local store folder that does not exist."""
    return (
        f"store {folder} does not exist, so it holds nothing yet; check the store path "
        "(--store, SATCHEL_STORE or Api(store=...)). The first commit creates it"
    )


def _check_overrides(over: Mapping[str, Any], api_key: str | None) -> None:
    if api_key is not None:
        raise UnsupportedError(
            "Api(api_key=...): satchel has no server and no login; remove api_key (a bucket's "
            "credentials come from satchel.configure(storage_options=...) or the environment)"
        )
    unknown = sorted(set(over) - set(_OVERRIDES))
    if unknown:
        raise UnsupportedError(
            f"Api(overrides=...) keys {unknown} mean nothing without a W&B server; satchel "
            "understands project and entity (run and organization are ignored)"
        )
    if over.get("base_url"):
        raise UnsupportedError(
            f"Api(overrides={{'base_url': {over['base_url']!r}}}): satchel has no server; "
            "point it at a store instead (Api(store=...) or SATCHEL_STORE)"
        )


def use_artifact(
    artifact_or_name: Artifact | str,
    type: str | None = None,
    aliases: Sequence[str] | None = None,
    use_as: str | None = None,
    *,
    store: Store | str | None = None,
    project: str | None = None,
) -> Artifact:
    """Use a version: inside an active run (``satchel.init()``), the run records it as an
    input (W&B's ``wandb.use_artifact``); without one, it is only fetched
    (``Api(store, project).artifact(name, type)``).

    Args:
        artifact_or_name: ``"name"``, ``"name:v3"``, ``"project/name:alias"``,
            ``"entity/project/name:alias"``, or an :class:`Artifact`.
        type: when given, the artifact must have this type.
        aliases: for a draft given inside a run: aliases of the version the run logs.
        use_as: accepted for W&B compatibility; does nothing.
        store, project: where to look without a run (a run uses its own).

    Raises:
        ArtifactNotFoundError, ArtifactTypeMismatchError, InvalidNameError.
        ArtifactNotLoggedError: a draft given without an active run.
    """
    from satchel.runs import active_run

    run = active_run()
    if run is not None and store is None and project is None:
        return run.use_artifact(artifact_or_name, type, aliases)
    if isinstance(artifact_or_name, Artifact):
        artifact_or_name._committed("use_artifact")
        return artifact_or_name
    return Api(store, project).artifact(artifact_or_name, type)


def log_artifact(
    artifact_or_path: Artifact | str | os.PathLike[str],
    name: str | None = None,
    type: str | None = None,
    aliases: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
    *,
    project: str | None = None,
    store: Store | str | None = None,
) -> Artifact:
    """Commit an artifact (W&B's ``wandb.log_artifact``): inside an active run, as an output
    of that run (see ``Run.log_artifact``, which also takes a path); without one, the same as
    ``artifact.save(project, store=..., aliases=..., tags=...)``.

    Args:
        artifact_or_path: a draft, a committed version, or (inside a run) a path or URI.
        name, type: for a path, the artifact's name and type.
        aliases: aliases to point at the version. tags: tags to add.
        project, store: where to commit without a run.

    Raises:
        NoActiveRunError: a path given without an active run. See ``Artifact.save``.
    """
    from satchel.runs import _check_name_argument, active_run
    from satchel.session import require_run

    _check_name_argument(name)
    run = active_run()
    if run is not None and store is None and project is None:
        return run.log_artifact(artifact_or_path, name, type, aliases, tags)
    if not isinstance(artifact_or_path, Artifact):
        return require_run("log_artifact(path)").log_artifact(
            artifact_or_path, name, type, aliases, tags
        )
    return artifact_or_path.save(project, store=store, aliases=aliases, tags=tags)
