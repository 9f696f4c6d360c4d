"""The part of ``Artifact``'s surface that exists for code written for W&B.

A mixin of :class:`satchel.artifact.Artifact`, kept apart so that the artifact module stays
about drafting, committing and reading: W&B identity attributes (``entity``,
``source_entity``, ``source_project``, ``source_version``, ``source_qualified_name``), the
collections a version belongs to (``collection``, ``source_collection``), ``url``, and the
W&B attributes that have no meaning without a server (``use_as``, ``history_step``), plus
W&B's deprecated ``get_path``.

For a portfolio link, the plain attributes describe the link (its portfolio, its version) and
the ``source_*`` ones the version it links to, as in W&B.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from satchel import naming
from satchel.store import layout

if TYPE_CHECKING:
    from satchel.artifact import Artifact
    from satchel.collection import ArtifactCollection
    from satchel.entries import BoundEntry
    from satchel.services import Services
    from satchel.store import Store
    from satchel.store.records import VersionRecord
    from satchel.version import Version


class WandbArtifactMixin:
    """W&B attributes of an artifact (see the module docstring)."""

    if TYPE_CHECKING:  # what the mixin uses of Artifact

        def _committed(self, attr: str) -> VersionRecord: ...
        def _svc(self) -> Services: ...
        def _store(self) -> Store: ...
        @classmethod
        def _of(cls, version: Version, services: Services) -> Artifact: ...
        def get_entry(self, name: str) -> BoundEntry: ...

    @property
    def entity(self) -> str:
        """The W&B entity: satchel has none, so the configured one (``$SATCHEL_ENTITY``,
        ``$WANDB_ENTITY``, ``Api(overrides={"entity": ...})``, else the OS user name);
        committed only, as in W&B."""
        self._committed("entity")
        return self._svc().entity_name()

    @property
    def source_entity(self) -> str:
        """The entity of the source version (the same as :attr:`entity` in satchel)."""
        self._committed("source_entity")
        return self._svc().entity_name()

    def _source_ref(self, attr: str) -> naming.ArtifactRef:
        rec = self._committed(attr)
        if rec.linked_from is None:
            return naming.ArtifactRef(rec.project, rec.name, f"v{rec.version}")
        return naming.parse_ref(rec.linked_from)

    @property
    def source_project(self) -> str:
        """The project of the version a link points at (its own project otherwise)."""
        project = self._source_ref("source_project").project
        assert project is not None
        return project

    @property
    def source_version(self) -> str:
        """``"v3"`` of the version a link points at (its own version otherwise)."""
        return self._source_ref("source_version").selector

    @property
    def source_qualified_name(self) -> str:
        """``"project/name:v3"`` of the source version (satchel's qualified names have no
        entity)."""
        ref = self._source_ref("source_qualified_name")
        return f"{ref.project}/{ref.name}:{ref.selector}"

    @property
    def collection(self) -> ArtifactCollection:
        """The collection this version was fetched from (a link's portfolio, for a link).

        Raises:
            ArtifactNotLoggedError: a draft.
        """
        from satchel.collection import ArtifactCollection

        rec = self._committed("collection")
        return ArtifactCollection.load(
            self._svc(), self._store(), rec.project, rec.name, artifact_of=type(self)._of
        )

    @property
    def source_collection(self) -> ArtifactCollection:
        """The collection the source version was logged to."""
        from satchel.collection import ArtifactCollection

        ref = self._source_ref("source_collection")
        assert ref.project is not None
        return ArtifactCollection.load(
            self._svc(), self._store(), ref.project, ref.name, artifact_of=type(self)._of
        )

    @property
    def url(self) -> str:
        """Where the version's record lives: the store URL joined with
        ``projects/<p>/artifacts/<name>/versions/<n>.json`` (satchel has no web UI)."""
        rec = self._committed("url")
        key = layout.version_key(rec.project, rec.name, rec.version)
        return f"{self._store().url.rstrip('/')}/{key}"

    @property
    def use_as(self) -> str | None:
        """Always ``None`` (deprecated in W&B, where it no longer does anything)."""
        return None

    @property
    def history_step(self) -> int | None:
        """Always ``None``: satchel runs keep no metric history (committed only)."""
        self._committed("history_step")
        return None

    def get_path(self, name: str) -> BoundEntry:
        """W&B's deprecated name for :meth:`get_entry`."""
        return self.get_entry(name)
