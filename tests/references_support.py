"""Helpers of the reference tests: one :class:`Remote` per scheme, over the real test servers.

A :class:`Remote` hides how a test puts, overwrites and deletes objects on one scheme's
server and which URI names them, so ``tests/test_references_conformance.py`` runs the same
behaviours against ``file``, ``http``, ``s3``, ``gs`` and ``azure``. :func:`services_for`
builds an isolated :class:`Services` whose handlers use the remote's storage options and
collect warnings in a list.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from satchel.cache import Cache
from satchel.handlers import HandlerContext, HandlerRegistry
from satchel.services import Services
from tests.core_fixtures import SatchelEnv


def b64md5(data: bytes) -> str:
    """Base64 MD5 of ``data`` (a satchel file digest)."""
    return base64.b64encode(hashlib.md5(data).digest()).decode()


@dataclass
class Remote:
    """One scheme's storage as the conformance tests see it.

    Attributes:
        scheme: the options key (``"s3"``, ``"gs"``, ...).
        versioned: a changed or deleted object keeps its recorded version readable.
        lists: prefixes can be listed (false for http).
        options: storage options per scheme for the handlers.
    """

    scheme: str
    versioned: bool = False
    lists: bool = True
    options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def uri(self, key: str) -> str:
        """The reference URI of ``key`` (a trailing ``/`` kept)."""
        raise NotImplementedError

    def put(self, key: str, data: bytes) -> None:
        """Create or overwrite object ``key``."""
        raise NotImplementedError

    def delete(self, key: str) -> None:
        """Delete object ``key``."""
        raise NotImplementedError

    def marker(self, key: str) -> None:
        """Create the directory marker of folder ``key`` (an empty ``key/`` object)."""
        self.put(key.rstrip("/") + "/", b"")


@dataclass
class FileRemote(Remote):
    """A local folder."""

    root: Path = Path()

    def uri(self, key: str) -> str:
        uri = (self.root / key).as_uri()
        return uri + "/" if key.endswith("/") else uri

    def put(self, key: str, data: bytes) -> None:
        p = self.root / key
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    def delete(self, key: str) -> None:
        (self.root / key).unlink()

    def marker(self, key: str) -> None:
        (self.root / key).mkdir(parents=True, exist_ok=True)


@dataclass
class HTTPRemote(Remote):
    """A folder served by the suite's HTTP server."""

    site: Any = None

    def uri(self, key: str) -> str:
        return str(self.site.url(key))

    def put(self, key: str, data: bytes) -> None:
        self.site.put(key, data)

    def delete(self, key: str) -> None:
        (self.site.root / key).unlink()


@dataclass
class S3Remote(Remote):
    """A bucket on moto."""

    bucket: Any = None

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket.name}/{key}"

    def put(self, key: str, data: bytes) -> None:
        self.bucket.client.put_object(Bucket=self.bucket.name, Key=key, Body=data)

    def delete(self, key: str) -> None:
        self.bucket.client.delete_object(Bucket=self.bucket.name, Key=key)


def s3_remote(bucket: Any) -> S3Remote:
    """The remote of a ``tests.servers.fixtures.S3Bucket``."""
    return S3Remote("s3", bucket.versioned, True, {"s3": bucket.storage_options}, bucket)


def services_for(
    env: SatchelEnv,
    options: dict[str, dict[str, Any]],
    *,
    cache_dir: str | Path | None = None,
) -> tuple[Services, list[str]]:
    """An isolated bundle on the test's store whose handlers use ``options``.

    Args:
        env: the test's folders.
        options: storage options per scheme.
        cache_dir: another cache folder (a "fresh machine"); default the test's cache.

    Returns:
        ``(services, warnings)``: the bundle and the list handler warnings are appended to.
    """
    base = env.services()
    cache = Cache(str(cache_dir)) if cache_dir is not None else base.cache
    warnings: list[str] = []
    lookup: Callable[[str], dict[str, Any]] = lambda scheme: dict(options.get(scheme, {}))
    handlers = HandlerRegistry(
        HandlerContext(cache=cache, options=lookup, warn=warnings.append),
        load_entry_points=False,
    )
    return dataclasses.replace(base, cache=cache, handlers=handlers), warnings
