"""The part of ``Api``'s surface that follows W&B 0.31's public API.

A mixin of :class:`satchel.api.Api`: ``artifacts(type_name, name)``, ``artifact_collection``,
``artifact_collections``, ``artifact_collection_exists``, ``artifact_type(s)``, ``projects``,
``run`` and ``runs`` (``api.project(name)`` is :class:`~satchel.catalog.ProjectName`), with W&B's signatures and result objects
(:class:`~satchel.collection.ArtifactCollection`, :class:`~satchel.catalog.ArtifactType`,
:class:`~satchel.catalog.Project`, :class:`~satchel.runs.Run`, and complete
:class:`~satchel.results.Results` lists where W&B returns paginators).

Paths are W&B's: ``"entity/project/name"``, ``"project/name"`` or ``"name"`` (the Api's
project); satchel has no entities, so an entity is accepted and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from satchel import naming
from satchel.artifact import Artifact
from satchel.catalog import ArtifactType, Project, ProjectName, artifact_type
from satchel.collection import ArtifactCollection
from satchel.errors import ArtifactNotFoundError, InvalidNameError, InvalidQueryError
from satchel.results import Results, check_per_page, start_index

if TYPE_CHECKING:
    from satchel.runs import Run
    from satchel.services import Services
    from satchel.store import Store

#: W&B's ``order`` strings for artifact versions -> satchel's ``sort_by``
_VERSION_ORDERS = {
    "createdAt": "created",
    "created_at": "created",
    "updatedAt": "updated",
    "versionIndex": "version",
    "version": "version",
}


def split_path(path: str, default_project: str, what: str) -> tuple[str, str]:
    """``(project, name)`` of ``entity/project/name``, ``project/name`` or ``name``.

    Raises:
        InvalidNameError: more than three parts, or an empty part.
    """
    parts = path.split("/")
    if len(parts) > 3 or not all(parts):
        raise InvalidNameError(
            f"{what} path {path!r} is not 'name', 'project/name' or 'entity/project/name'"
        )
    if len(parts) == 1:
        return default_project, parts[0]
    return parts[-2], parts[-1]


def project_of(path: str | None, default_project: str) -> str:
    """The project of ``entity/project``, ``project`` or ``None`` (the default).

    Raises:
        InvalidNameError: more than two parts.
    """
    if not path:
        return default_project
    parts = path.split("/")
    if len(parts) > 2 or not all(parts):
        raise InvalidNameError(f"project path {path!r} is not 'project' or 'entity/project'")
    return naming.validate_name(parts[-1], kind="project")


class WandbApiMixin:
    """W&B's public-API methods of :class:`satchel.api.Api` (see the module docstring)."""

    if TYPE_CHECKING:  # what the mixin uses of Api
        project: ProjectName

        @property
        def store(self) -> Store: ...
        @property
        def services(self) -> Services: ...
        def artifact(self, name: str, type: str | None = None) -> Artifact: ...
        def _reading(self, stacklevel: int = 3) -> Store: ...

    # -- artifacts ------------------------------------------------------------------------
    def artifacts(
        self,
        type_name: str,
        name: str,
        order: str | None = None,
        per_page: int = 50,
        tags: Sequence[str] | str | None = None,
        start: str | None = None,
    ) -> Results[Artifact]:
        """Every live version of collection ``name`` (of type ``type_name``), newest first.

        Args:
            type_name: the collection's type.
            name: ``"name"``, ``"project/name"`` or ``"entity/project/name"``.
            order: W&B's ``"createdAt"``/``"versionIndex"``/``"updatedAt"`` with ``+``
                (ascending, the default when a sign is missing) or ``-``.
            per_page: page size for ``.cursor`` (everything is returned).
            tags: only versions having all of these tags.
            start: the ``.cursor`` of an earlier result to resume from.

        Raises:
            ArtifactNotFoundError: no such collection of that type.
            InvalidQueryError: a bad ``order``, ``per_page`` or ``start``.
        """
        from satchel.registry.listing import list_versions
        from satchel.registry.query import VersionQuery

        check_per_page(per_page)
        skip = start_index(start)
        project, collection = split_path(name, self.project, "artifact collection")
        ArtifactCollection.load(
            self.services, self.store, project, collection, type_name, artifact_of=Artifact._of
        )
        sort_by = "-version"
        if order is not None:
            key = _VERSION_ORDERS.get(order.lstrip("+-"))
            if key is None:
                raise InvalidQueryError(
                    f"order {order!r} is not supported; use createdAt, updatedAt or "
                    "versionIndex, with '+' or '-'"
                )
            sort_by = ("-" if order.startswith("-") else "") + key
        query = VersionQuery.build(
            project=project,
            name=collection,
            type=type_name,
            sort_by=sort_by,
            tags=[tags] if isinstance(tags, str) else tags,
        )
        services = self.services
        items = [
            Artifact._of(v, services) for v in list_versions(self.store, query, every_page=True)
        ]
        return Results(items[skip:], per_page=per_page, offset=skip)

    def artifact_collection(self, type_name: str, name: str) -> ArtifactCollection:
        """The collection ``name`` (``"name"``, ``"project/name"``, ``"entity/project/name"``)
        of type ``type_name``.

        Raises:
            ArtifactNotFoundError: no such collection of that type.
        """
        project, collection = split_path(name, self.project, "artifact collection")
        return ArtifactCollection.load(
            self.services, self.store, project, collection, type_name, artifact_of=Artifact._of
        )

    def artifact_collection_exists(self, name: str, type: str) -> bool:
        """Whether :meth:`artifact_collection` would find collection ``name`` of ``type``."""
        try:
            self.artifact_collection(type, name)
        except ArtifactNotFoundError:
            return False
        return True

    def artifact_collections(
        self,
        project_name: str | None = None,
        type_name: str | None = None,
        order: str | None = None,
        per_page: int = 50,
        start: str | None = None,
        *,
        project: str | None = None,
        type: str | None = None,
    ) -> Results[ArtifactCollection]:
        """Every collection of a project (of one type, when given) with a live version.

        Args:
            project_name: ``"project"`` or ``"entity/project"`` (W&B; default: the Api's).
            type_name: only collections of this type (W&B's name for ``type``).
            order: ``"name"`` or ``"createdAt"``, with ``+`` or ``-`` (default: by name).
            per_page: page size for ``.cursor``. start: resume from a ``.cursor``.
            project, type: satchel's names for ``project_name`` and ``type_name``.

        Raises:
            InvalidQueryError: a bad ``order``, ``per_page`` or ``start``.
        """
        from satchel.catalog import _collections

        proj = project_of(project_name or project, self.project)
        return _collections(
            self.services,
            self._reading(),
            proj,
            type_name or type,
            filters=None,
            order=order,
            per_page=per_page,
            start=start,
        )

    def artifact_type(self, type_name: str, project: str | None = None) -> ArtifactType:
        """The type ``type_name`` of a project (``"project"`` or ``"entity/project"``).

        Raises:
            ArtifactNotFoundError: no collection of the project has that type.
        """
        return artifact_type(
            self.services, self.store, project_of(project, self.project), type_name
        )

    def artifact_types(
        self, project: str | None = None, start: str | None = None
    ) -> list[ArtifactType]:
        """The artifact types used in a project, sorted (each equal to its name).

        Raises:
            InvalidQueryError: a bad ``start``.
        """
        from satchel.registry.listing import list_types

        proj = project_of(project, self.project)
        skip = start_index(start)
        return [
            ArtifactType(t, services=self.services, store=self.store, project=proj)
            for t in list_types(self._reading(), proj)
        ][skip:]

    # -- projects -------------------------------------------------------------------------
    def projects(self, entity: str | None = None, per_page: int = 200) -> list[Project]:
        """Every project in the store (each equal to its name; ``entity`` is ignored)."""
        check_per_page(per_page)
        store = self._reading()
        return [Project(p, services=self.services, store=store) for p in store.projects()]

    # -- runs -----------------------------------------------------------------------------
    def run(self, path: str = "") -> Run:
        """The recorded run ``entity/project/run_id``, ``project/run_id`` or ``run_id``
        (``entity/project/runs/run_id``, as in W&B URLs, too).

        Raises:
            ArtifactNotFoundError: no such run (a ``CommError``, as W&B raises).
            InvalidNameError: a malformed path.
        """
        from satchel.registry import lineage
        from satchel.runs import Run

        parts = [p for p in path.split("/") if p]
        if len(parts) == 4 and parts[2] == "runs":
            parts = [parts[0], parts[1], parts[3]]
        if not parts or len(parts) > 3:
            raise InvalidNameError(
                f"run path {path!r} is not 'run_id', 'project/run_id' or 'entity/project/run_id'"
            )
        project = parts[-2] if len(parts) > 1 else self.project
        run_id = naming.validate_name(parts[-1], kind="run id")
        record = lineage.read_run(self.store, naming.validate_name(project, kind="project"), run_id)
        if record is None:
            raise ArtifactNotFoundError(
                f"no run {project}/{run_id} in store {self.store.url}; check the id and project"
            )
        return Run._from_record(record, self.services)

    def runs(
        self,
        path: str | None = None,
        filters: Mapping[str, Any] | None = None,
        order: str = "+created_at",
        per_page: int = 50,
        include_sweeps: bool = False,
        lazy: bool = True,
    ) -> Results[Run]:
        """The recorded runs of a project (``"project"`` or ``"entity/project"``).

        Args:
            path: the project (default: the Api's).
            filters: MongoDB-style filters on ``name`` (the id), ``display_name``,
                ``job_type``, ``group``, ``state``, ``tags`` and ``config.<key>``, with
                ``$and``/``$or``/``$nor`` and ``$eq``, ``$ne``, ``$in``, ``$nin``,
                ``$exists``, ``$regex``, ``$gt``, ``$gte``, ``$lt``, ``$lte``
                (:mod:`satchel.runquery`).
            order: ``created_at`` or ``name``/``display_name``, with ``+`` or ``-``.
            per_page: page size for ``.cursor``. include_sweeps, lazy: accepted for W&B
                compatibility (satchel has no sweeps; everything is read).

        Raises:
            InvalidQueryError: an unsupported filter or order.
        """
        from satchel.registry import lineage
        from satchel.runquery import matches, order_key
        from satchel.runs import Run

        check_per_page(per_page)
        key, descending = order_key(order)
        records = lineage.list_runs(self.store, project_of(path, self.project))
        runs = [Run._from_record(r, self.services) for r in records]
        chosen = [r for r in runs if filters is None or matches(r, filters)]
        chosen.sort(key=key, reverse=descending)
        return Results(chosen, per_page=per_page)
