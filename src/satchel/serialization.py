"""Serializers for ``Artifact.add(obj, name)`` and ``Artifact.get(name)``.

A :class:`SerializerRegistry` maps Python types to a named serializer; the serializer's name is
recorded on the entry (``extra["serializer"]``) so ``get`` can turn the bytes back into an
object. Defaults: ``bytes``/``bytearray`` (raw), ``str`` (UTF-8 text) and JSON-able
``dict``/``list``/``int``/``float``/``bool`` (canonical JSON: sorted keys, UTF-8, 2-space indent).
Register more with :meth:`SerializerRegistry.register`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from satchel.errors import SerializerError

SERIALIZER_KEY = "serializer"


@dataclass(frozen=True, slots=True)
class Serializer:
    """How one kind of object becomes bytes and back."""

    name: str
    types: tuple[type, ...]
    dump: Callable[[Any], bytes]
    load: Callable[[bytes], Any]


def _dump_json(obj: Any) -> bytes:
    try:
        return json.dumps(
            obj, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False
        ).encode()
    except (TypeError, ValueError) as exc:
        raise SerializerError(f"object is not JSON-serialisable: {exc}") from exc


def _load_text(data: bytes) -> str:
    return data.decode("utf-8")


def _default_serializers() -> list[Serializer]:
    return [
        Serializer("bytes", (bytes, bytearray), bytes, bytes),
        Serializer("text", (str,), lambda s: s.encode("utf-8"), _load_text),
        Serializer("json", (dict, list, tuple, int, float, bool), _dump_json, json.loads),
    ]


@dataclass
class SerializerRegistry:
    """Type -> serializer, searched in registration order (later registrations win)."""

    serializers: list[Serializer] = field(default_factory=_default_serializers)

    def register(
        self,
        name: str,
        types: tuple[type, ...],
        dump: Callable[[Any], bytes],
        load: Callable[[bytes], Any],
    ) -> None:
        """Add a serializer; it takes precedence over earlier ones for its types."""
        self.serializers.insert(0, Serializer(name, types, dump, load))

    def for_object(self, obj: Any) -> Serializer:
        """The serializer for ``obj``.

        Raises:
            SerializerError: no serializer handles its type.
        """
        for s in self.serializers:
            if isinstance(obj, s.types):
                return s
        known = ", ".join(sorted({t.__name__ for s in self.serializers for t in s.types}))
        raise SerializerError(
            f"cannot add an object of type {type(obj).__name__}; supported: {known}. "
            "Register a serializer (satchel.serializers().register) or write a file and add_file it"
        )

    def by_name(self, name: str) -> Serializer:
        """The serializer registered as ``name``.

        Raises:
            SerializerError: unknown name.
        """
        for s in self.serializers:
            if s.name == name:
                return s
        raise SerializerError(
            f"entry was written by serializer {name!r}, which is not registered here; "
            "register it before calling get()"
        )


_DEFAULT: list[SerializerRegistry] = []


def serializers() -> SerializerRegistry:
    """The process's serializer registry (created on first use)."""
    if not _DEFAULT:
        _DEFAULT.append(SerializerRegistry())
    return _DEFAULT[0]
