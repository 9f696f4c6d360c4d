"""Tracking-only references: any URI satchel has no handler for.

The entry records the URI as its digest and cannot be downloaded or verified; a ``name`` is
required because nothing can be listed to derive one.
"""

from __future__ import annotations

from satchel import paths
from satchel.errors import InvalidPathError, UnsupportedReferenceError
from satchel.handlers.base import HandlerContext
from satchel.manifest import ManifestEntry


class TrackingHandler:
    """Records a URI without reading it."""

    def __init__(self, context: HandlerContext) -> None:
        """Create the handler (it needs nothing from ``context``)."""
        self.context = context

    def entries(
        self, uri: str, *, name: str | None, checksum: bool, max_objects: int
    ) -> list[ManifestEntry]:
        """One entry whose digest is the URI itself.

        Raises:
            InvalidPathError: no ``name`` given.
        """
        if not name:
            raise InvalidPathError(
                f"reference {uri!r} has a scheme satchel cannot read, so it needs a name: "
                "add_reference(uri, name='...')"
            )
        return [ManifestEntry(paths.normalize(name), uri, None, uri)]

    def load(self, entry: ManifestEntry, dest_root: str | None = None) -> list[tuple[str, str]]:
        """Always raises: the URI can only be tracked.

        Raises:
            UnsupportedReferenceError: always.
        """
        raise UnsupportedReferenceError(
            f"{entry.path} is a reference to {entry.ref}, whose scheme satchel cannot download; "
            "fetch it yourself, or pass allow_missing_references=True to skip it"
        )

    def content_digest(self, entry: ManifestEntry) -> tuple[str, str] | None:
        """No content hash is known for a tracked URI."""
        return None
