"""Declare a version in a spec file and apply it, idempotently (TrueFoundry-style).

A spec (YAML, or JSON)::

    name: mnist                     # required
    type: dataset                   # required
    project: vision                 # default: the Api's project
    description: MNIST, 28x28       # enforced when present
    metadata: {split: train}        # enforced (replaced) when present
    version_alias: v1.0.0           # names this version; not of the form v<digits>
    aliases: [candidate]            # added (moved to this version); others are left alone
    tags: [raw, images]             # enforced (exactly these) when present
    source:
      type: local                   # or: {type: external, uri: s3://bucket/prefix/, dest: x}
      paths:
        - {src: data/train, dest: train}   # src relative to the spec file; dest optional

Applying works out the manifest of the source first (hashing local files through the stat
cache; references are listed, not downloaded), then:

* when ``version_alias`` names a version with that content, or (without ``version_alias``) the
  latest version has that content, no version is created: the spec's description, metadata,
  tags and aliases are brought onto that version (``updated``), or nothing changes
  (``unchanged``);
* otherwise the content is committed as a new version (``created``) and ``version_alias`` moves
  to it.

So applying the same spec twice creates one version; editing only metadata or aliases updates
it; editing the content commits a new one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from satchel import naming, settings
from satchel.errors import (
    ArtifactNotFoundError,
    HandlerUnavailableError,
    InvalidSpecError,
)
from satchel.services import Services
from satchel.store import Store
from satchel.store.records import VersionAttrs, VersionRecord

_KEYS = {
    "name",
    "type",
    "project",
    "description",
    "metadata",
    "version_alias",
    "aliases",
    "tags",
    "source",
}


@dataclass(frozen=True)
class ApplyResult:
    """The outcome of applying one spec.

    Attributes:
        artifact: the version the spec now describes.
        action: ``"created"`` (new version), ``"updated"`` (attributes or aliases changed on an
            existing version) or ``"unchanged"``.
    """

    artifact: Any
    action: str


def load_specs(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read one spec (or several, as YAML documents or a JSON list) from a file.

    Raises:
        FileNotFoundError: no such file.
        InvalidSpecError: not valid YAML/JSON, or not mappings.
        HandlerUnavailableError: a YAML file and pyyaml is not installed.
    """
    with open(path, encoding="utf-8") as f:
        text = f.read()
    docs: list[Any]
    if str(path).lower().endswith(".json"):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidSpecError(f"{path} is not valid JSON: {exc}") from exc
        docs = loaded if isinstance(loaded, list) else [loaded]
    else:
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            try:
                loaded = json.loads(text)
            except json.JSONDecodeError:
                raise HandlerUnavailableError(
                    f"reading the YAML spec {path} needs pyyaml; install it with "
                    "pip install 'satchel[yaml]' (or write the spec as JSON)"
                ) from None
            docs = loaded if isinstance(loaded, list) else [loaded]
        else:
            try:
                docs = [d for d in yaml.safe_load_all(text) if d is not None]
            except yaml.YAMLError as exc:
                raise InvalidSpecError(f"{path} is not valid YAML: {exc}") from exc
            if len(docs) == 1 and isinstance(docs[0], list):
                docs = docs[0]
    if not docs:
        raise InvalidSpecError(f"{path} holds no spec")
    for d in docs:
        if not isinstance(d, dict):
            raise InvalidSpecError(f"{path}: a spec must be a mapping, got {type(d).__name__}")
    return docs


def _str_list(spec: Mapping[str, Any], key: str) -> list[str]:
    value = spec.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidSpecError(f"spec field {key!r} must be a list of strings, got {value!r}")
    return value


def _check(spec: Mapping[str, Any]) -> None:
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise InvalidSpecError(
            f"spec has unknown field(s) {', '.join(unknown)}; known fields: "
            f"{', '.join(sorted(_KEYS))}"
        )
    for key in ("name", "type"):
        if not isinstance(spec.get(key), str) or not spec.get(key):
            raise InvalidSpecError(f"spec field {key!r} is required and must be a string")
    if spec.get("metadata") is not None and not isinstance(spec["metadata"], dict):
        raise InvalidSpecError("spec field 'metadata' must be a mapping")
    if spec.get("description") is not None and not isinstance(spec["description"], str):
        raise InvalidSpecError("spec field 'description' must be a string")
    if not isinstance(spec.get("source"), dict):
        raise InvalidSpecError(
            "spec field 'source' is required: {type: local, paths: [{src, dest}]} or "
            "{type: external, uri}"
        )


def _add_source(art: Any, source: Mapping[str, Any], base_dir: str) -> None:
    kind = source.get("type")
    if kind == "local":
        paths = source.get("paths")
        if not isinstance(paths, list) or not paths:
            raise InvalidSpecError("a local source needs 'paths': a list of {src, dest}")
        for item in paths:
            if isinstance(item, str):
                item = {"src": item}
            if not isinstance(item, dict) or not isinstance(item.get("src"), str):
                raise InvalidSpecError(f"each local path needs a 'src' string, got {item!r}")
            extra = sorted(set(item) - {"src", "dest"})
            if extra:
                raise InvalidSpecError(f"local path has unknown field(s) {', '.join(extra)}")
            src = os.path.join(base_dir, os.path.expanduser(item["src"]))
            dest = item.get("dest")
            if os.path.isdir(src):
                art.add_dir(src, name=dest or None)
            elif os.path.isfile(src):
                art.add_file(src, name=dest or None)
            else:
                raise InvalidSpecError(
                    f"local source path {item['src']!r} ({os.path.abspath(src)}) does not exist"
                )
    elif kind == "external":
        uri = source.get("uri")
        if not isinstance(uri, str) or not uri:
            raise InvalidSpecError("an external source needs 'uri': the reference to track")
        extra = sorted(set(source) - {"type", "uri", "dest", "name"})
        if extra:
            raise InvalidSpecError(f"external source has unknown field(s) {', '.join(extra)}")
        art.add_reference(uri, name=source.get("dest") or source.get("name"))
    else:
        raise InvalidSpecError(f"source type must be 'local' or 'external', got {kind!r}")


def _existing(
    store: Store, project: str, name: str, version_alias: str | None, digest: str
) -> VersionRecord | None:
    if version_alias is not None:
        target = store.alias_target(project, name, version_alias)
        if target is not None:
            try:
                rec = store.version(project, name, target)
            except ArtifactNotFoundError:
                rec = None
            if rec is not None and rec.digest == digest:
                return rec
            return None
    latest = store.latest(project, name)
    return latest if latest is not None and latest.digest == digest else None


def apply_spec(
    services: Services,
    spec: Mapping[str, Any],
    *,
    default_project: str | None = None,
    base_dir: str | None = None,
) -> ApplyResult:
    """Apply one spec (see the module docstring).

    Args:
        services: the bundle (store, cache) to use.
        spec: the parsed spec.
        default_project: project when the spec names none.
        base_dir: folder local ``src`` paths are relative to (default: the working directory).

    Returns:
        What was done and the resulting version.

    Raises:
        InvalidSpecError: a missing or malformed field, or a local path that does not exist.
        InvalidNameError: a bad name, type, project, alias or tag.
        ArtifactTypeMismatchError: the name exists with another type.
    """
    from satchel.artifact import Artifact
    from satchel.version import Version

    _check(spec)
    store = services.require_store()
    # an apply writes into its project: a leading '.' (readable in older stores) is refused
    project = naming.validate_name(
        settings.project(spec.get("project") or default_project), kind="project"
    )
    name = naming.validate_name(spec["name"])
    version_alias = spec.get("version_alias")
    if version_alias is not None:
        if not isinstance(version_alias, str):
            raise InvalidSpecError("spec field 'version_alias' must be a string")
        naming.validate_alias(version_alias)
    aliases = [naming.validate_alias(a) for a in _str_list(spec, "aliases") if a != naming.LATEST]
    if version_alias is not None:
        aliases.append(version_alias)
    tags = sorted({naming.validate_tag(t) for t in _str_list(spec, "tags")})

    draft = Artifact(
        name,
        spec["type"],
        description=spec.get("description"),
        metadata=spec.get("metadata"),
        services=services,
    )
    _add_source(draft, spec["source"], os.path.abspath(base_dir or os.getcwd()))
    digest = draft.manifest.digest
    collection = store.collection(project, name)
    if collection is not None and collection.type != spec["type"]:
        from satchel.errors import ArtifactTypeMismatchError

        raise ArtifactTypeMismatchError(
            f"artifact {project}/{name} has type {collection.type!r}, not {spec['type']!r}; "
            "use the same type or another name"
        )
    record = _existing(store, project, name, version_alias, digest) if collection else None
    if record is not None and naming.LATEST in _str_list(spec, "aliases"):
        newest = store.latest(project, name)
        if newest is None or newest.version != record.version:  # it would be ignored
            raise InvalidSpecError(
                f"spec aliases name 'latest', but the version the spec describes, "
                f"{project}/{name}:v{record.version}, is not the newest; 'latest' is computed "
                "and cannot be assigned. Remove it from aliases"
            )
    action = "unchanged"
    if record is None:
        draft.save(project, store=store, aliases=aliases, tags=tags)
        record = store.version(project, name, draft.version_index)
        # from the commit itself: of concurrent applies of one content, one creates
        if draft.save_result is not None and draft.save_result.created:
            action = "created"
    if _enforce(store, record, spec, tags, aliases) and action == "unchanged":
        action = "updated"
    return ApplyResult(Artifact._of(Version(store, record), services), action)


def _enforce(
    store: Store,
    record: VersionRecord,
    spec: Mapping[str, Any],
    tags: Sequence[str],
    aliases: Sequence[str],
) -> bool:
    """Bring the spec's attributes and aliases onto ``record``; return whether anything
    changed."""
    changed = False
    current = store.attrs(record)
    fields: dict[str, Any] = {}
    if "description" in spec and current.description != spec["description"]:
        fields["description"] = spec["description"]
    if "metadata" in spec:
        meta = msgspec.json.decode(msgspec.json.encode(spec["metadata"] or {}))
        if current.metadata != meta:
            fields["metadata"] = meta
    if "tags" in spec and sorted(current.tags) != list(tags):
        fields["tags"] = list(tags)
    if fields:

        def change(cur: VersionAttrs) -> VersionAttrs:
            return msgspec.structs.replace(cur, **fields)

        store.update_attrs(record, change)
        changed = True
    for alias in aliases:
        if store.alias_target(record.project, record.name, alias) != record.version:
            store.set_alias(record.project, record.name, alias, record.version)
            changed = True
    return changed


def apply_file(
    services: Services, path: str | os.PathLike[str], *, default_project: str | None = None
) -> list[ApplyResult]:
    """Apply every spec in a file; local paths are relative to the file's folder.

    Raises:
        see :func:`load_specs` and :func:`apply_spec`.
    """
    base = os.path.dirname(os.path.abspath(os.fspath(path)))
    return [
        apply_spec(services, spec, default_project=default_project, base_dir=base)
        for spec in load_specs(path)
    ]
