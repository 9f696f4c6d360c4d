"""The dependencies an artifact works with, bundled and injected.

A :class:`Services` holds the cache, the reference handlers, the serializers and the progress
factory, plus a store once one is known. :func:`local_services` builds the default bundle from
configuration (arguments, then environment, then defaults) when first needed; nothing is read
at import time. Tests and applications can build their own bundle and pass it to ``Api`` or
``Artifact.save``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, replace

from satchel import settings
from satchel.cache import Cache
from satchel.handlers import HandlerContext, HandlerRegistry
from satchel.progress import ProgressFactory, default_factory
from satchel.serialization import SerializerRegistry, serializers
from satchel.store import Store, open_store

log = logging.getLogger("satchel")


def _warn(message: str | Warning) -> None:
    warnings.warn(message, stacklevel=3)


@dataclass(frozen=True)
class Services:
    """Everything an artifact needs besides its own data."""

    cache: Cache
    handlers: HandlerRegistry
    serializers: SerializerRegistry
    progress: ProgressFactory
    store: Store | None = None
    #: the W&B entity artifacts report (``Api(overrides={"entity": ...})``); ``None``: the
    #: configured one
    entity: str | None = None

    def entity_name(self) -> str:
        """The entity W&B code reads from artifacts and runs (see :func:`settings.entity`)."""
        return self.entity or settings.entity()

    def with_store(self, store: Store | str | None) -> Services:
        """This bundle with ``store`` (a :class:`Store` or URL; ``None``: the configured one)."""
        if isinstance(store, Store):
            return replace(self, store=store)
        url = settings.store_url(store)
        if self.store is not None and store is None:
            return self
        options = settings.settings().options_for(_scheme(url))
        return replace(self, store=open_store(url, storage_options=options or None))

    def require_store(self) -> Store:
        """The store, opening the configured one when none was given."""
        return self.store if self.store is not None else self.with_store(None).store  # type: ignore[return-value]


def _scheme(url: str) -> str:
    return url.split("://", 1)[0] if "://" in url else "file"


def local_services(*, cache_dir: str | None = None, store: Store | str | None = None) -> Services:
    """The default bundle: configured cache, default handlers and serializers, tty progress."""
    cache = Cache(settings.cache_dir(cache_dir))
    handlers = HandlerRegistry(
        HandlerContext(cache=cache, options=settings.settings().options_for, warn=_warn)
    )
    services = Services(cache, handlers, serializers(), default_factory())
    return services.with_store(store) if store is not None else services
