"""Manifests: the frozen list of an artifact's entries, their digests and their JSON form.

Compatibility contract (see DESIGN.md):

* Entry digest: padded base64 MD5 of the bytes (``extra["alg"] = "XXH128"`` marks XXH128).
* Artifact digest: hex MD5 of ``wandb-artifact-manifest-v1\\n`` followed by
  ``f"{path}:{digest}\\n"`` per entry, sorted by path; byte-for-byte the W&B digest. A
  manifest of a ``digest_algorithm="xxh128"`` artifact hashes the same bytes with XXH128, as
  W&B 0.31 does, and says so in its JSON (``"digestAlgorithm": "XXH128"``, absent for MD5, so
  MD5 manifests are unchanged; W&B keeps this on its server, not in the manifest).
* JSON: ``{"version": 1, "storagePolicy": ..., "storagePolicyConfig": {...}, "contents":
  {path: {"digest", "ref"?, "birthArtifactID"?, "size", "extra"?}}}``, contents sorted by path.
  The canonical bytes (what a store addresses by SHA-256) are this JSON, compact, with object
  keys sorted. W&B's uploader keys ``local_path`` and ``skip_cache`` are accepted and ignored.

Entries are :mod:`msgspec` structs rather than dataclasses: frozen, slotted and invisible to the
garbage collector, they build a million entries in ~0.1 s where a frozen dataclass takes ~1.8 s,
which is what keeps a 1,000,000-entry manifest under the 3 s load+save+digest budget.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import operator
import os
from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from satchel import gzblocks
from satchel import paths as logical_paths
from satchel.errors import FrozenEntryError, ManifestError
from satchel.hashing import MD5, XXH128, b64_to_hex, new_hasher

DIGEST_HEADER = "wandb-artifact-manifest-v1\n"
STORAGE_POLICY = "satchel-store-v1"
WANDB_STORAGE_POLICY = "wandb-storage-policy-v1"
MANIFEST_VERSION = 1


class _NoExtra(dict[str, Any]):
    """The one ``extra`` of every entry that has none: an empty ``dict`` (so W&B code's
    ``entry.extra.get("etag")`` works) shared by all of them, which is why it refuses to
    change (a million entries would otherwise cost a million empty dicts, ~60 MB)."""

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise FrozenEntryError(
            "entry.extra is read-only (entries are frozen); make a new entry with "
            "msgspec.structs.replace(entry, extra={...})"
        )

    __setitem__ = __delitem__ = update = setdefault = pop = popitem = clear = _refuse  # type: ignore[assignment]
    __ior__ = _refuse  # type: ignore[assignment]


#: the shared, read-only ``extra`` of entries without one
NO_EXTRA: dict[str, Any] = _NoExtra()


class ManifestEntry(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """One file of an artifact. Frozen: edit with :func:`msgspec.structs.replace`.

    Attributes:
        path: the logical path inside the artifact.
        digest: base64 checksum of the content, or, for a reference whose content cannot be
            checksummed, the ETag or URI recorded for it.
        size: bytes, when known.
        ref: the URI of a referenced object, ``None`` for content stored in the store.
        extra: small facts about the entry (``etag``, ``versionID``, ``alg``, ``md5``, ...);
            ``{}`` when there are none (as in W&B: a shared empty dict that refuses changes,
            :data:`NO_EXTRA`); treat it as read-only.
        birth_artifact_id: id of the version whose commit first stored this content.
    """

    path: str
    digest: str
    size: int | None = None
    ref: str | None = None
    extra: dict[str, Any] = NO_EXTRA
    birth_artifact_id: str | None = None

    @property
    def name(self) -> str:
        """The logical path (W&B's ``File.name`` / deprecated ``entry.name``)."""
        return self.path

    def ref_target(self) -> str:
        """The URI a reference entry points at (W&B's ``ref_target()``).

        Raises:
            NotAReferenceError: the entry is stored content, not a reference (a
                ``ValueError``, as W&B raises).
        """
        if self.ref is None:
            from satchel.errors import NotAReferenceError

            raise NotAReferenceError(
                f"entry {self.path!r} is stored in the artifact, not a reference; only "
                "reference entries have a ref_target()"
            )
        return self.ref

    @property
    def is_reference(self) -> bool:
        """True when the entry points at external storage instead of stored content."""
        return self.ref is not None

    @property
    def alg(self) -> str:
        """The digest algorithm of stored content: ``"md5"`` or ``"xxh128"``."""
        if self.extra and self.extra.get("alg") == "XXH128":
            return XXH128
        return MD5

    @property
    def oid(self) -> str:
        """Hex form of the digest: the object key in stores and caches."""
        return b64_to_hex(self.digest)


class _WireEntry(msgspec.Struct, frozen=True, gc=False, omit_defaults=True, kw_only=True):
    # Decoding: fields in the order canonical JSON lists its keys, so msgspec finds each
    # field at the expected position.
    birthArtifactID: str | None = None
    digest: str
    extra: dict[str, Any] | None = None
    ref: str | None = None
    size: Annotated[int, msgspec.Meta(ge=0)] | None = None  # checked while decoding


class _OutEntry(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    # Encoding entries made in memory: positional (faster to build); the sorted encoder
    # writes its fields in the same order as _WireEntry's.
    digest: str
    size: int | None = None
    ref: str | None = None
    extra: dict[str, Any] | None = None
    birthArtifactID: str | None = None


class _WireManifest(msgspec.Struct, frozen=True):
    version: int
    contents: dict[str, _WireEntry]
    storagePolicy: str = STORAGE_POLICY
    storagePolicyConfig: dict[str, Any] = {}
    digestAlgorithm: str | None = None


_WIRE_ALG = {MD5: "MD5", XXH128: "XXH128"}
_ALG_OF_WIRE = {v: k for k, v in _WIRE_ALG.items()}


_ENCODER = msgspec.json.Encoder(order="sorted")
_DECODER = msgspec.json.Decoder(_WireManifest)


@dataclass(frozen=True, slots=True)
class ManifestDiff:
    """What changed from one manifest to another.

    Attributes:
        added: entries only in the newer manifest.
        removed: entries only in the older manifest.
        modified: ``(old, new)`` pairs for paths whose digest or ref changed.
    """

    added: tuple[ManifestEntry, ...]
    removed: tuple[ManifestEntry, ...]
    modified: tuple[tuple[ManifestEntry, ManifestEntry], ...]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.modified)


class Manifest:
    """An immutable, path-ordered set of :class:`ManifestEntry`.

    Build one from entries (``Manifest(entries)``), from JSON (:meth:`from_json`) or from a
    W&B manifest (:meth:`from_wandb`). The artifact digest is computed once, on first use.
    """

    # A manifest read from JSON keeps the decoded wire structs (``_contents``) and makes
    # ManifestEntry objects only when someone asks for entries: a digest, a size, a lookup or
    # writing it again never needs them, and building a million of them costs ~0.5 s. Exactly
    # one of ``_entries`` / ``_contents`` is set.
    __slots__ = (
        "_contents",
        "_digest",
        "_entries",
        "digest_algorithm",
        "storage_policy",
        "storage_policy_config",
    )

    def __init__(
        self,
        entries: Iterable[ManifestEntry] | Mapping[str, ManifestEntry] = (),
        *,
        storage_policy: str = STORAGE_POLICY,
        storage_policy_config: Mapping[str, Any] | None = None,
        digest_algorithm: str = MD5,
        _trusted: bool = False,
    ) -> None:
        """Create a manifest.

        Args:
            entries: the entries (or a mapping of path to entry); paths must be unique.
            storage_policy: recorded policy name (W&B compatibility).
            storage_policy_config: recorded policy settings.
            digest_algorithm: ``"md5"`` or ``"xxh128"``: what the artifact digest hashes with.

        Raises:
            ManifestError: two entries share a path, or an unknown digest algorithm.
            InvalidPathError: a path is not a valid, normalised logical path.
        """
        if digest_algorithm not in (MD5, XXH128):
            raise ManifestError(
                f"unknown manifest digest algorithm {digest_algorithm!r}; use 'md5' or 'xxh128'"
            )
        items: Mapping[str, ManifestEntry]
        if isinstance(entries, Mapping):
            items = entries
        else:
            seq = entries if isinstance(entries, (list, tuple)) else list(entries)
            items = {e.path: e for e in seq}
            if len(items) != len(seq):
                seen: set[str] = set()
                for e in seq:
                    if e.path in seen:
                        raise ManifestError(f"manifest lists {e.path!r} twice")
                    seen.add(e.path)
        if not _trusted:
            keys = list(items)
            logical_paths.validate_many(keys)
            if not _in_order(keys):
                items = {p: items[p] for p in sorted(keys)}
        self._entries: dict[str, ManifestEntry] | None = (
            items if items is not entries and isinstance(items, dict) else dict(items)
        )
        self._contents: dict[str, _WireEntry] | None = None
        self._digest: str | None = None
        self.storage_policy = storage_policy
        self.storage_policy_config: dict[str, Any] = dict(storage_policy_config or {})
        self.digest_algorithm = digest_algorithm

    def _materialized(self) -> dict[str, ManifestEntry]:
        if self._entries is None:
            contents = self._contents
            assert contents is not None
            self._entries = {
                p: ManifestEntry(p, w.digest, w.size, w.ref, w.extra or NO_EXTRA, w.birthArtifactID)
                for p, w in contents.items()
            }
            self._contents = None  # one copy in memory is enough
        return self._entries

    def _items(self) -> Mapping[str, ManifestEntry | _WireEntry]:
        """Path -> entry or wire struct (both have ``digest``, ``size``, ``ref``, ``extra``)."""
        return self._entries if self._entries is not None else self._contents  # type: ignore[return-value]

    # -- mapping-like reading -------------------------------------------------------------
    @property
    def entries(self) -> Mapping[str, ManifestEntry]:
        """Read-only view of path -> entry, in path order."""
        return _ReadOnlyMapping(self._materialized())

    def __len__(self) -> int:
        return len(self._items())

    def __iter__(self) -> Iterator[ManifestEntry]:
        return iter(self._materialized().values())

    def __contains__(self, path: object) -> bool:
        return path in self._items()

    def get(self, path: str) -> ManifestEntry | None:
        """Return the entry at ``path`` or ``None``."""
        if self._entries is not None:
            return self._entries.get(path)
        assert self._contents is not None
        w = self._contents.get(path)
        if w is None:
            return None
        return ManifestEntry(path, w.digest, w.size, w.ref, w.extra or NO_EXTRA, w.birthArtifactID)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Manifest):
            return False
        if self.digest_algorithm != other.digest_algorithm:
            return False
        if self._contents is not None and other._contents is not None:
            return self._contents == other._contents
        return self._materialized() == other._materialized()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Manifest({len(self)} entries, digest={self.digest})"

    # -- derived facts --------------------------------------------------------------------
    @property
    def digest(self) -> str:
        """The artifact digest: hex MD5 (or XXH128, for ``digest_algorithm="xxh128"``) over the
        header and the sorted ``path:digest`` lines, W&B's definition."""
        if self._digest is None:
            h: Any = (
                hashlib.md5(usedforsecurity=False)
                if self.digest_algorithm == MD5
                else new_hasher(XXH128)
            )
            h.update(DIGEST_HEADER.encode())
            batch: list[str] = []
            for path, entry in self._items().items():  # already in path order
                batch.append(f"{path}:{entry.digest}\n")
                if len(batch) >= 65536:
                    h.update("".join(batch).encode())
                    batch.clear()
            h.update("".join(batch).encode())
            self._digest = h.hexdigest()
        return self._digest

    @property
    def size(self) -> int:
        """Total bytes of the entries whose size is known."""
        return sum(e.size or 0 for e in self._items().values())

    # -- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The manifest as plain JSON-able data, in W&B's ``wandb_manifest.json`` shape."""
        data = {
            "version": MANIFEST_VERSION,
            "contents": msgspec.to_builtins(self._wire_contents(self._items().items())),
            "storagePolicy": self.storage_policy,
            "storagePolicyConfig": msgspec.to_builtins(self.storage_policy_config),
        }
        if self.digest_algorithm != MD5:
            data["digestAlgorithm"] = _WIRE_ALG[self.digest_algorithm]
        return data

    def to_manifest_json(self) -> dict[str, Any]:
        """The same as :meth:`to_dict`, under W&B's method name (code written for W&B ports)."""
        return self.to_dict()

    def to_json(self) -> bytes:
        """Canonical JSON bytes: compact, keys sorted, contents in path order."""
        return b"".join(self.iter_json())

    def iter_json(self, chunk: int = 65536) -> Iterator[bytes]:
        """The canonical JSON of :meth:`to_json` in pieces, about ``chunk`` entries each.

        Converting and encoding a slice at a time keeps memory flat and lets a caller hash and
        compress one piece while the next is made.
        """
        # The top-level keys in sorted order are contents, [digestAlgorithm,] storagePolicy,
        # storagePolicyConfig, version; a contents slice encodes as '{"a":{...},"b":{...}}', already in path order.
        top: dict[str, Any] = {
            "storagePolicy": self.storage_policy,
            "storagePolicyConfig": self.storage_policy_config,
            "version": MANIFEST_VERSION,
        }
        if self.digest_algorithm != MD5:
            top["digestAlgorithm"] = _WIRE_ALG[self.digest_algorithm]
        tail = _ENCODER.encode(top)
        items = self._items()
        yield b'{"contents":{'
        it = iter(items.items())
        first = True
        while True:
            part = list(itertools.islice(it, chunk))
            if not part:
                break
            body = _ENCODER.encode(self._wire_contents(part))[1:-1]
            yield body if first else b"," + body
            first = False
        yield b"}," + tail[1:]

    def to_json_gzip(self, level: int = 1) -> tuple[str, bytes]:
        """The SHA-256 (hex) of :meth:`to_json` and the gzip of it, without holding the JSON.

        Pieces of :meth:`iter_json` are hashed here and compressed, as gzip members, on two
        threads (:mod:`satchel.gzblocks`; zlib releases the GIL) while the next pieces are
        encoded.
        """
        sha = hashlib.sha256()
        compressed = gzblocks.compress(self.iter_json(), level, each=sha.update)
        return sha.hexdigest(), compressed

    @staticmethod
    def _wire_contents(
        items: Iterable[tuple[str, ManifestEntry | _WireEntry]],
    ) -> dict[str, _WireEntry | _OutEntry]:
        return {
            p: e
            if type(e) is _WireEntry
            else _OutEntry(
                e.digest,
                e.size,
                e.ref,
                e.extra or None,
                e.birth_artifact_id,  # type: ignore[union-attr]
            )
            for p, e in items
        }

    @classmethod
    def from_json(cls, data: bytes | str) -> Manifest:
        """Parse manifest JSON (satchel's or W&B's), validating every logical path.

        Raises:
            ManifestError: not JSON, wrong shape or types, or an unknown manifest version.
            InvalidPathError: a path would escape the artifact root or is not normalised.
        """
        was_enabled = gc.isenabled()
        gc.disable()  # a million fresh dicts would trigger many useless collections
        try:
            try:
                wire = _DECODER.decode(data)
            except msgspec.ValidationError as exc:
                if ">= 0" in str(exc):
                    raise ManifestError(f"manifest has a negative size: {exc}") from exc
                raise ManifestError(f"manifest is malformed: {exc}") from exc
            except msgspec.DecodeError as exc:
                raise ManifestError(f"manifest is malformed: {exc}") from exc
            return cls._from_wire(wire)
        finally:
            if was_enabled:
                gc.enable()

    @classmethod
    def _from_wire(cls, wire: _WireManifest) -> Manifest:
        if wire.version != MANIFEST_VERSION:
            raise ManifestError(
                f"manifest version {wire.version} is not supported (expected "
                f"{MANIFEST_VERSION}); upgrade satchel"
            )
        contents = wire.contents
        keys = list(contents)
        logical_paths.validate_many(keys)
        alg = _ALG_OF_WIRE.get(wire.digestAlgorithm or "MD5")
        if alg is None:
            raise ManifestError(
                f"manifest digest algorithm {wire.digestAlgorithm!r} is not supported (expected "
                "MD5 or XXH128); upgrade satchel"
            )
        manifest = cls(
            storage_policy=wire.storagePolicy,
            storage_policy_config=wire.storagePolicyConfig,
            digest_algorithm=alg,
        )
        manifest._entries = None
        manifest._contents = (  # adopted without a copy when already in path order
            contents if _in_order(keys) else {p: contents[p] for p in sorted(keys)}
        )
        return manifest

    @classmethod
    def from_wandb(
        cls,
        source: str | os.PathLike[str] | Mapping[str, Any],
        *,
        digest_algorithm: str | None = None,
    ) -> Manifest:
        """Read a W&B ``wandb_manifest.json`` (a path or the parsed dict).

        Args:
            source: the file or its parsed dict.
            digest_algorithm: the W&B artifact's ``digest_algorithm`` (``"md5"``/``"xxh128"``,
                any case), which W&B keeps on its server; by default ``xxh128`` when an entry is
                marked ``extra.alg = "XXH128"``, else ``md5``.

        Raises:
            ManifestError: the data is not a W&B v1 manifest.
            FileNotFoundError: the path does not exist.
        """
        if isinstance(source, Mapping):
            raw = msgspec.json.encode(dict(source))
        else:
            with open(source, "rb") as f:
                raw = f.read()
        manifest = cls.from_json(raw)
        if digest_algorithm is not None:
            alg = digest_algorithm.lower()
        elif any((e.extra or {}).get("alg") == "XXH128" for e in manifest._items().values()):
            alg = XXH128
        else:
            alg = manifest.digest_algorithm
        if alg != manifest.digest_algorithm:
            manifest = cls(
                manifest.entries,
                storage_policy=manifest.storage_policy,
                storage_policy_config=manifest.storage_policy_config,
                digest_algorithm=alg,
                _trusted=True,
            )
        return manifest

    def to_wandb(self) -> dict[str, Any]:
        """Return the manifest as W&B's ``wandb_manifest.json`` dict (W&B keeps the digest
        algorithm on its server, so it is not in the dict)."""
        data = self.to_dict()
        data.pop("digestAlgorithm", None)
        data["storagePolicy"] = WANDB_STORAGE_POLICY
        data["storagePolicyConfig"] = {"storageLayout": "V2"}
        return data

    # -- comparison -----------------------------------------------------------------------
    def diff(self, other: Manifest) -> ManifestDiff:
        """Compare this (older) manifest with ``other`` (newer).

        Returns:
            added / removed / modified entries going from ``self`` to ``other``.
        """
        mine, theirs = self._materialized(), other._materialized()
        added = tuple(e for p, e in theirs.items() if p not in mine)
        removed = tuple(e for p, e in mine.items() if p not in theirs)
        modified = tuple(
            (mine[p], e)
            for p, e in theirs.items()
            if p in mine and (mine[p].digest != e.digest or mine[p].ref != e.ref)
        )
        return ManifestDiff(added, removed, modified)


def _in_order(keys: list[str]) -> bool:
    """Whether ``keys`` are sorted (one pass of comparisons in C, no sorted copy)."""
    return all(map(operator.lt, keys, itertools.islice(keys, 1, None)))


class _ReadOnlyMapping(Mapping[str, ManifestEntry]):
    __slots__ = ("_d",)

    def __init__(self, d: dict[str, ManifestEntry]) -> None:
        self._d = d

    def __getitem__(self, key: str) -> ManifestEntry:
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __contains__(self, key: object) -> bool:
        return key in self._d

    def values(self) -> ValuesView[ManifestEntry]:
        return self._d.values()

    def items(self) -> ItemsView[str, ManifestEntry]:
        return self._d.items()

    def keys(self) -> KeysView[str]:
        return self._d.keys()
