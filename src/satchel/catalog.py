"""``ArtifactType`` and ``Project``: the handles W&B's ``Api`` returns for a type and a project.

Both are ``str`` subclasses equal to their name, so satchel code that treats
``api.artifact_types()`` and ``api.projects()`` as lists of names keeps working, and W&B code
gets the attributes and methods it uses (``t.name``, ``t.collections()``, ``p.name``,
``p.artifacts_types()``...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from satchel.artifact import Artifact
from satchel.collection import ArtifactCollection
from satchel.errors import ArtifactNotFoundError, InvalidQueryError
from satchel.registry.listing import list_collections, list_types
from satchel.results import Results, check_per_page, start_index
from satchel.services import Services
from satchel.store import Store


def _collections(
    services: Services,
    store: Store,
    project: str,
    type_name: str | None,
    *,
    filters: Mapping[str, Any] | None,
    order: str | None,
    per_page: int,
    start: str | None,
) -> Results[ArtifactCollection]:
    check_per_page(per_page)
    skip = start_index(start)
    if filters:
        raise InvalidQueryError(
            f"collection filters {dict(filters)!r} are not supported; filter the list in Python "
            "(versions have Api.artifact_versions(...) filters)"
        )
    found = [
        ArtifactCollection(services, store, s, artifact_of=Artifact._of)
        for s in list_collections(store, project, type=type_name)
    ]
    if order is not None:
        key, descending = _collection_order(order)
        found.sort(key=lambda c: getattr(c, key), reverse=descending)
    return Results(found[skip:], per_page=per_page, offset=skip)


_ORDERS = {"name": "name", "createdAt": "created_at", "created_at": "created_at"}


def _collection_order(order: str) -> tuple[str, bool]:
    descending = order.startswith("-")
    key = _ORDERS.get(order.lstrip("+-"))
    if key is None:
        raise InvalidQueryError(
            f"order {order!r} is not supported; use name or createdAt, with '+' or '-'"
        )
    return key, descending


class ArtifactType(str):
    """An artifact type used in a project (equal to its name).

    Attributes:
        name, type: the type's name (W&B has both).
        project: the project.
        entity: the configured entity (satchel has none).
    """

    _services: Services
    _store: Store
    project: str

    def __new__(  # noqa: PYI034 - typing.Self needs Python 3.11
        cls, name: str, *, services: Services, store: Store, project: str
    ) -> ArtifactType:
        """The type ``name`` of ``project``."""
        obj = super().__new__(cls, name)
        obj._services, obj._store, obj.project = services, store, project
        return obj

    @property
    def name(self) -> str:
        """The type's name."""
        return str(self)

    @property
    def type(self) -> str:
        """The type's name (W&B's ``ArtifactType.type``)."""
        return str(self)

    @property
    def id(self) -> str:
        """A stable id: ``"<project>/<type>"``."""
        return f"{self.project}/{self}"

    @property
    def entity(self) -> str:
        """The configured entity."""
        return self._services.entity_name()

    def collections(
        self,
        filters: Mapping[str, Any] | None = None,
        order: str | None = None,
        per_page: int = 50,
        start: str | None = None,
    ) -> Results[ArtifactCollection]:
        """Every collection of this type in the project.

        Raises:
            InvalidQueryError: ``filters`` given (not supported), a bad ``order``,
                ``per_page`` or ``start``.
        """
        return _collections(
            self._services,
            self._store,
            self.project,
            str(self),
            filters=filters,
            order=order,
            per_page=per_page,
            start=start,
        )

    def collection(self, name: str) -> ArtifactCollection:
        """The collection ``name`` of this type.

        Raises:
            ArtifactNotFoundError: no such collection of this type.
        """
        return ArtifactCollection.load(
            self._services, self._store, self.project, name, str(self), artifact_of=Artifact._of
        )

    def __repr__(self) -> str:
        return f"<ArtifactType {self}>"


def artifact_type(services: Services, store: Store, project: str, name: str) -> ArtifactType:
    """The type ``name`` of ``project``.

    Raises:
        ArtifactNotFoundError: no collection of ``project`` has that type.
    """
    if name not in list_types(store, project):
        raise ArtifactNotFoundError(
            f"no artifact of type {name!r} in project {project!r} of store {store.url}; see "
            "'satchel ls --types'"
        )
    return ArtifactType(name, services=services, store=store, project=project)


class Project(str):
    """A project of the store (equal to its name).

    Attributes:
        name: the project's name.
        entity: the configured entity (satchel has none).
    """

    _services: Services
    _store: Store

    def __new__(cls, name: str, *, services: Services, store: Store) -> Project:  # noqa: PYI034
        """The project ``name``."""
        obj = super().__new__(cls, name)
        obj._services, obj._store = services, store
        return obj

    @property
    def name(self) -> str:
        """The project's name."""
        return str(self)

    @property
    def entity(self) -> str:
        """The configured entity."""
        return self._services.entity_name()

    @property
    def id(self) -> str:
        """The project's name (a project is identified by it)."""
        return str(self)

    @property
    def path(self) -> list[str]:
        """``[entity, name]``, as W&B's ``Project.path``."""
        return [self.entity, str(self)]

    @property
    def url(self) -> str:
        """Where the project lives in the store (satchel has no web UI)."""
        return f"{self._store.url.rstrip('/')}/projects/{self}"

    def artifacts_types(self, per_page: int = 50) -> list[ArtifactType]:
        """The artifact types used in the project (W&B's spelling)."""
        check_per_page(per_page)
        return [
            ArtifactType(t, services=self._services, store=self._store, project=str(self))
            for t in list_types(self._store, str(self))
        ]

    def collections(
        self,
        filters: Mapping[str, Any] | None = None,
        order: str | None = None,
        per_page: int = 50,
    ) -> Results[ArtifactCollection]:
        """Every collection of the project.

        Raises:
            InvalidQueryError: ``filters`` given (not supported), a bad ``order`` or
                ``per_page``.
        """
        return _collections(
            self._services,
            self._store,
            str(self),
            None,
            filters=filters,
            order=order,
            per_page=per_page,
            start=None,
        )

    def __repr__(self) -> str:
        return f"<Project {self}>"


class ProjectName(str):
    """``Api.project``: the Api's default project (a ``str``), callable as W&B's
    ``api.project(name, entity=None)``, which returns that :class:`Project`.

    satchel's ``Api`` has always had a ``project`` attribute and W&B's a ``project()``
    method; this one value serves both, so neither kind of code has to change.
    """

    _api: Any

    def __new__(cls, name: str, *, api: Any) -> ProjectName:  # noqa: PYI034
        """The default project ``name`` of ``api``."""
        obj = super().__new__(cls, name)
        obj._api = api
        return obj

    def __call__(self, name: str, entity: str | None = None) -> Project:
        """W&B's ``api.project(name)``: the project ``name`` (``entity`` is ignored; the
        project need not hold anything yet).

        Raises:
            InvalidNameError: a bad name.
        """
        from satchel import naming

        return Project(
            naming.validate_name(name, kind="project"),
            services=self._api.services,
            store=self._api.store,
        )
