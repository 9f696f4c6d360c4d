"""Reference handlers: one module per URI scheme, dispatched by :class:`HandlerRegistry`."""

from satchel.handlers.base import DEFAULT_MAX_OBJECTS, HandlerContext, ReferenceHandler
from satchel.handlers.dispatch import HandlerRegistry, scheme_of

__all__ = [
    "DEFAULT_MAX_OBJECTS",
    "HandlerContext",
    "HandlerRegistry",
    "ReferenceHandler",
    "scheme_of",
]
