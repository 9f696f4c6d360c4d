"""``ArtifactCollection``: every version of one artifact name, as W&B's public API shows it.

``api.artifact_collection(type, name)``, ``api.artifact_collections(project, type)``,
``artifact.collection`` and ``artifact.source_collection`` return one. Its ``description`` and
``tags`` are editable and :meth:`ArtifactCollection.save` writes them to the collection record
with a compare-and-swap (two editors never lose each other's change; tags merge by what each
added and removed). ``name`` and ``type`` cannot change in satchel: every version record holds
them, so a rename is a transfer of each version (``Api.transfer_artifact_version``).

Public data lives in the instance ``__dict__`` (what ``vars(collection)`` shows and the CLI's
``--json`` prints); the handles it works with live in slots.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from satchel import naming
from satchel.errors import ArtifactNotFoundError, UnsupportedError
from satchel.livelists import NameList
from satchel.registry.listing import CollectionSummary, collection_summary
from satchel.results import Results, check_per_page, start_index
from satchel.services import Services
from satchel.store import Store
from satchel.store.records import CollectionRecord

if TYPE_CHECKING:
    from satchel.artifact import Artifact
    from satchel.version import Version

#: makes the artifact of a listed version (``Artifact._of``), handed in by whoever builds the
#: collection, so that this module, which ``Artifact.collection`` imports, does not import
#: ``artifact.py`` back
ArtifactOf = Callable[["Version", Services], "Artifact"]


class ArtifactCollection:
    """One collection of a project: its versions, aliases, description and tags.

    Attributes:
        project, name, type: what it is.
        description: free text (editable; :meth:`save` persists it).
        tags: the collection's tags, a live list (editable; :meth:`save` persists them).
        created_at: when its first version was committed (a UTC ``datetime``).
        version_count: live versions.
        latest: ``"v<n>"`` of the newest live version.
        aliases: stored alias -> ``"v<n>"``; iterating it gives the alias names, as W&B's
            ``aliases`` list does.
        is_portfolio: every live version is a link to another collection's version.
    """

    __slots__ = (
        "__dict__",
        "_artifact_of",
        "_saved_description",
        "_saved_tags",
        "_services",
        "_store",
    )

    def __init__(
        self,
        services: Services,
        store: Store,
        summary: CollectionSummary,
        *,
        artifact_of: ArtifactOf,
    ) -> None:
        """Wrap a listing's summary (use :meth:`load` to read one by name); ``artifact_of``
        makes the artifacts :meth:`artifacts` returns."""
        self._artifact_of = artifact_of
        self._services = services
        self._store = store
        self.project = summary.project
        self.name = summary.name
        self.type = summary.type
        self.description = summary.description
        self.created_at: _dt.datetime = summary.created_at
        self.version_count = summary.version_count
        self.latest = summary.latest
        self.aliases: dict[str, str] = dict(summary.aliases)
        self.is_portfolio = summary.is_portfolio
        self.tags = NameList(summary.tags, naming.validate_tag)
        self._saved_description = summary.description
        self._saved_tags = set(summary.tags)

    @classmethod
    def load(
        cls,
        services: Services,
        store: Store,
        project: str,
        name: str,
        type: str | None = None,
        *,
        artifact_of: ArtifactOf,
    ) -> ArtifactCollection:
        """Read collection ``project/name``.

        Raises:
            ArtifactNotFoundError: no such collection (with a live version), or ``type`` given
                and different.
        """
        summary = collection_summary(store, project, name)
        if summary is None:
            raise ArtifactNotFoundError(
                f"no artifact collection {project}/{name} (with a live version) in store "
                f"{store.url}; see 'satchel ls --collections'"
            )
        if type is not None and summary.type != type:
            raise ArtifactNotFoundError(
                f"artifact collection {project}/{name} has type {summary.type!r}, not {type!r}"
            )
        return cls(services, store, summary, artifact_of=artifact_of)

    @property
    def entity(self) -> str:
        """The entity W&B code expects (satchel has none: the configured one)."""
        return self._services.entity_name()

    @property
    def id(self) -> str:
        """A stable id: ``"<project>/<name>"``."""
        return f"{self.project}/{self.name}"

    @property
    def updated_at(self) -> str | None:
        """When the collection record last changed: not tracked in satchel, so ``None``."""
        return None

    def is_sequence(self) -> bool:
        """True unless every version is a link (W&B: a sequence, not a portfolio)."""
        return not self.is_portfolio

    def artifacts(self, per_page: int = 50, start: str | None = None) -> Results[Artifact]:
        """Every live version, newest first.

        Args:
            per_page: page size for ``cursor`` (everything is returned).
            start: a ``cursor`` of an earlier result to resume from.

        Raises:
            InvalidQueryError: bad ``per_page`` or ``start``.
        """
        from satchel.registry.listing import list_versions
        from satchel.registry.query import VersionQuery

        check_per_page(per_page)
        skip = start_index(start)
        query = VersionQuery.build(project=self.project, name=self.name, sort_by="-version")
        services, make = self._services, self._artifact_of
        items = [make(v, services) for v in list_versions(self._store, query, every_page=True)]
        return Results(items[skip:], per_page=per_page, offset=skip)

    def versions(self, per_page: int = 50, start: str | None = None) -> Results[Artifact]:
        """:meth:`artifacts` (the name older W&B releases used)."""
        return self.artifacts(per_page, start)

    def change_type(self, new_type: str) -> None:
        """Refused: a collection keeps its type in satchel.

        Raises:
            UnsupportedError: always.
        """
        raise UnsupportedError(
            f"the type of artifact collection {self.project}/{self.name} cannot change in "
            f"satchel (every version records {self.type!r}); copy the versions into a new "
            "artifact of the new type instead"
        )

    def save(self) -> None:
        """Persist edits of ``description`` and ``tags``.

        Raises:
            UnsupportedError: ``name`` or ``type`` was changed (see the module docstring).
            InvalidNameError: a tag is not valid.
            ArtifactNotFoundError: the collection no longer exists.
        """
        stored = self._store.collection(self.project, self.name)
        if stored is None:
            raise ArtifactNotFoundError(
                f"artifact collection {self.project}/{self.name} no longer exists in "
                f"{self._store.url}"
            )
        if self.type != stored.type:
            self.change_type(self.type)
        add = set(self.tags) - self._saved_tags
        drop = self._saved_tags - set(self.tags)
        description = self.description
        changed_description = description != self._saved_description

        def change(cur: CollectionRecord) -> CollectionRecord:
            return msgspec.structs.replace(
                cur,
                description=description if changed_description else cur.description,
                tags=sorted((set(cur.tags) | add) - drop),
            )

        new = self._store.update_collection(self.project, self.name, change)
        self.description = self._saved_description = new.description
        self.tags.replace_all(new.tags)
        self._saved_tags = set(new.tags)

    def delete(self) -> None:
        """Delete every version of the collection (with their aliases); ``satchel gc`` frees
        their content later. Links in other portfolios keep their content alive."""
        from satchel.registry.delete import delete_version

        for n in self._store.live_versions(self.project, self.name):
            delete_version(
                self._store, self._store.version(self.project, self.name, n), delete_aliases=True
            )
        self.version_count, self.latest, self.aliases = 0, None, {}

    def __setattr__(self, key: str, value: Any) -> None:
        # name and tags keep their meaning: a renamed collection is refused at save(), a
        # replaced tag list is validated and stays the live list
        if key == "tags" and "tags" in self.__dict__:
            self.__dict__["tags"].replace_all([naming.validate_tag(t) for t in value])
            return
        if key == "name" and "name" in self.__dict__ and value != self.__dict__["name"]:
            raise UnsupportedError(
                f"artifact collection {self.project}/{self.__dict__['name']} cannot be renamed "
                "in satchel; move each version with Api.transfer_artifact_version(ref, "
                "project=..., name=...)"
            )
        object.__setattr__(self, key, value)

    def __repr__(self) -> str:
        return f"<ArtifactCollection {self.project}/{self.name} ({self.type})>"
