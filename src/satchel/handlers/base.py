"""The contract every reference handler fulfils, and what it is given to do so."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from satchel.cache import Cache
from satchel.manifest import ManifestEntry

#: default limit on how many objects one reference may expand to
DEFAULT_MAX_OBJECTS = 10_000_000


@dataclass(frozen=True)
class HandlerContext:
    """What a handler receives instead of reaching for globals.

    Attributes:
        cache: the local content cache references are downloaded into.
        options: returns the fsspec/session options for a scheme (credentials, endpoint...).
        warn: reports a non-fatal problem (unverifiable download, skipped missing object), as
            a message or a warning of its own category.
    """

    cache: Cache
    options: Callable[[str], dict[str, Any]] = field(default=lambda scheme: {})
    warn: Callable[[str | Warning], None] = field(default=lambda message: None)


class ReferenceHandler(Protocol):
    """Turns URIs into manifest entries and loads entries' bytes."""

    def entries(
        self, uri: str, *, name: str | None, checksum: bool, max_objects: int
    ) -> list[ManifestEntry]:
        """The manifest entries ``uri`` stands for (one object, or every object under a prefix).

        Raises:
            ReferenceNotFoundError / ReferenceAccessError / ReferenceNetworkError: the URI
                cannot be listed; TooManyObjectsError: more than ``max_objects`` objects.
        """
        ...

    def load(self, entry: ManifestEntry, dest_root: str | None = None) -> list[tuple[str, str]]:
        """Fetch an entry's bytes into the cache, verified where a content hash is known.

        Args:
            entry: a reference entry this handler produced.
            dest_root: unused by most handlers.

        Returns:
            ``(relative_path, cache_path)`` pairs: one pair with relative path ``""`` for a
            single object; for a ``checksum=False`` prefix, one pair per object found now.

        Raises:
            ReferenceChangedError / ReferenceNotFoundError: the object changed or vanished and
                the recorded version cannot be read.
        """
        ...

    def content_digest(self, entry: ManifestEntry) -> tuple[str, str] | None:
        """``(alg, base64 digest)`` of the entry's content when recorded, else ``None``."""
        ...
