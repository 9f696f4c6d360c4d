"""Stores: where committed versions live (a local folder or a bucket reached through fsspec).

Use :func:`open_store` to get a :class:`Store` from a URL; see :mod:`satchel.store.layout` for the
layout and :mod:`satchel.store.store` for the commit protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from satchel.store.store import CommitRequest, CommitResult, Store

__all__ = ["CommitRequest", "CommitResult", "Store", "open_store"]


def open_store(url: str, *, storage_options: Mapping[str, Any] | None = None) -> Store:
    """Open the store at ``url``.

    Args:
        url: a folder path or ``file://`` URL (local disk), or an fsspec URL
            (``s3://bucket/prefix``, ``gs://``, ``az://``/``abfs://``, ``memory://``).
        storage_options: keyword options for the fsspec filesystem of a remote store.

    Returns:
        The store; nothing is created until the first commit.
    """
    from urllib.parse import urlsplit

    scheme = urlsplit(url).scheme if "://" in url else ""
    if scheme in ("", "file") or (len(scheme) == 1 and url[1] == ":"):  # C:\ on Windows
        from satchel.store.local import LocalBackend

        path = url[len("file://") :] if scheme == "file" else url
        return Store(LocalBackend(path))
    from satchel.store.remote import open_remote_backend

    return Store(open_remote_backend(url, storage_options=storage_options))
