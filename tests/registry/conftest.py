"""Helpers shared by the registry tests (``tests/registry/test_registry_*.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from satchel import Api, Artifact
from satchel.store import Store


def commit(
    api: Api,
    name: str,
    files: Mapping[str, str | bytes],
    *,
    type: str = "dataset",
    project: str | None = None,
    aliases: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
    metadata: dict[str, Any] | None = None,
    description: str | None = None,
    store: Store | None = None,
) -> Artifact:
    """Commit ``files`` (logical path -> content) as the next version of ``name``."""
    art = Artifact(name, type, description=description, metadata=metadata, services=api.services)
    for path, content in files.items():
        mode = "xb" if isinstance(content, bytes) else "x"
        with art.new_file(path, mode=mode) as f:
            f.write(content)
    return art.save(project or api.project, store=store or api.store, aliases=aliases, tags=tags)


def versions(page: Any) -> list[str]:
    """``["name:v1", ...]`` of a page's items, in order."""
    return [a.name for a in page]
