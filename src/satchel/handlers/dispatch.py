"""The registry that maps a URI to the handler of its scheme.

Handlers are named by import path and imported only when first used; a missing optional
dependency becomes a :class:`HandlerUnavailableError` naming the extra to install. Third-party
handlers register through the entry-point group ``satchel.handlers`` (name = scheme, value =
``module:Class``; the class is called with a :class:`HandlerContext`). Azure blob URLs
(``https://<account>.blob.core.windows.net/...``) are recognised by their host. Anything else
falls back to :class:`~satchel.handlers.fallback.TrackingHandler`, which only records the URI.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from satchel.errors import HandlerUnavailableError
from satchel.handlers.base import HandlerContext, ReferenceHandler

ENTRY_POINT_GROUP = "satchel.handlers"
AZURE_HOST_SUFFIX = ".blob.core.windows.net"


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """Where a scheme's handler lives and which extra it needs."""

    target: str
    extra: str | None = None


DEFAULT_SPECS: dict[str, HandlerSpec] = {
    "file": HandlerSpec("satchel.handlers.file:FileHandler"),
    "http": HandlerSpec("satchel.handlers.http:HTTPHandler"),
    "https": HandlerSpec("satchel.handlers.http:HTTPHandler"),
    "s3": HandlerSpec("satchel.handlers.s3:S3Handler", "s3"),
    "gs": HandlerSpec("satchel.handlers.gcs:GCSHandler", "gcs"),
    "gcs": HandlerSpec("satchel.handlers.gcs:GCSHandler", "gcs"),
    "az": HandlerSpec("satchel.handlers.azure:AzureHandler", "azure"),
    "abfs": HandlerSpec("satchel.handlers.azure:AzureHandler", "azure"),
    "azure-https": HandlerSpec("satchel.handlers.azure:AzureHandler", "azure"),
}
FALLBACK = HandlerSpec("satchel.handlers.fallback:TrackingHandler")


def scheme_of(uri: str) -> str:
    """The handler key of ``uri``: its scheme, or ``azure-https`` for Azure blob URLs."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == "https" and (parts.hostname or "").endswith(AZURE_HOST_SUFFIX):
        return "azure-https"
    return scheme


@dataclass
class HandlerRegistry:
    """Scheme -> handler, built lazily with one shared :class:`HandlerContext`."""

    context: HandlerContext
    specs: dict[str, HandlerSpec] = field(default_factory=lambda: dict(DEFAULT_SPECS))
    load_entry_points: bool = True
    _instances: dict[str, ReferenceHandler] = field(default_factory=dict)
    _entry_points_loaded: bool = False

    def register(self, scheme: str, target: str, *, extra: str | None = None) -> None:
        """Use ``target`` (``"module:Class"``) for ``scheme`` from now on."""
        self.specs[scheme.lower()] = HandlerSpec(target, extra)
        self._instances.pop(scheme.lower(), None)

    def for_uri(self, uri: str) -> ReferenceHandler:
        """The handler for ``uri`` (the tracking fallback for unknown schemes).

        Raises:
            HandlerUnavailableError: the scheme's optional dependency is not installed.
        """
        return self.for_scheme(scheme_of(uri))

    def for_scheme(self, scheme: str) -> ReferenceHandler:
        """The handler for a scheme key (see :func:`scheme_of`)."""
        if scheme in self._instances:
            return self._instances[scheme]
        spec = self.specs.get(scheme)
        if spec is None and self.load_entry_points and not self._entry_points_loaded:
            self._load_entry_points()
            spec = self.specs.get(scheme)
        handler = self._build(spec or FALLBACK, scheme)
        self._instances[scheme] = handler
        return handler

    def is_known(self, uri: str) -> bool:
        """Whether ``uri``'s scheme has a real handler (not the tracking fallback)."""
        scheme = scheme_of(uri)
        if scheme not in self.specs and self.load_entry_points and not self._entry_points_loaded:
            self._load_entry_points()
        return scheme in self.specs

    def _build(self, spec: HandlerSpec, scheme: str) -> ReferenceHandler:
        module_name, _, cls_name = spec.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            hint = f'; install it with: pip install "satchel[{spec.extra}]"' if spec.extra else ""
            raise HandlerUnavailableError(
                f"references with scheme {scheme!r} need a package that is not installed "
                f"({exc.name or exc}){hint}"
            ) from exc
        cls = getattr(module, cls_name)
        handler: ReferenceHandler = cls(self.context)
        return handler

    def _load_entry_points(self) -> None:
        from importlib.metadata import entry_points

        self._entry_points_loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            self.specs.setdefault(ep.name.lower(), HandlerSpec(ep.value))
