"""Check a store: every live version must be complete and intact.

:func:`check_store` lists the store's objects and manifests once (one recursive listing
each), then checks every collection:

* every live (committed, not deleted) version record decodes, its manifest exists and hashes to
  its id, and every stored-content entry of that manifest has its object, of the right size;
* every alias names a live version;
* every pending collaborative part names an existing manifest;
* with ``deep=True``, every referenced object is read and must hash to its name.

Objects and manifests that no live version or pending part names are reported separately as
*unreferenced*: they are what an interrupted commit or a deleted version leaves behind, are not
errors, and ``satchel gc`` removes them. Deleted versions are not checked (gc may already have
removed their content).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from satchel.errors import ManifestError, SatchelError
from satchel.hashing import ALGORITHMS, new_hasher
from satchel.manifest import Manifest
from satchel.progress import ProgressFactory, null_factory
from satchel.store import Store, layout
from satchel.store.records import AliasRecord, FormatRecord, VersionRecord, decode
from satchel.transfer import run_parallel

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
#: version checks and deep hashes in flight at once (I/O bound on a bucket)
WORKERS = 16


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a store.

    Attributes:
        kind: ``missing-format``, ``bad-record``, ``missing-manifest``, ``corrupt-manifest``,
            ``missing-object``, ``size-mismatch``, ``digest-mismatch`` or ``dangling-alias``.
        key: the store key concerned.
        message: what is wrong, for people.
    """

    kind: str
    key: str
    message: str


@dataclass(frozen=True)
class FsckReport:
    """What :func:`check_store` found.

    Attributes:
        store: the store URL.
        versions: live versions checked.
        objects: distinct objects referenced by them (and by pending parts).
        deep: whether objects were hashed.
        problems: everything wrong; empty when the store is sound.
        unreferenced_objects: ``(key, size)`` of objects nothing names (not errors).
        unreferenced_manifests: keys of manifests nothing names (not errors).
    """

    store: str
    versions: int
    objects: int
    deep: bool
    problems: tuple[Problem, ...] = ()
    unreferenced_objects: tuple[tuple[str, int], ...] = ()
    unreferenced_manifests: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when there are no problems (unreferenced content is fine)."""
        return not self.problems

    @property
    def unreferenced_bytes(self) -> int:
        """Bytes held by unreferenced objects."""
        return sum(size for _key, size in self.unreferenced_objects)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-able data."""
        return {
            "store": self.store,
            "ok": self.ok,
            "deep": self.deep,
            "versions": self.versions,
            "objects": self.objects,
            "problems": [
                {"kind": p.kind, "key": p.key, "message": p.message} for p in self.problems
            ],
            "unreferenced": {
                "objects": [{"key": k, "size": s} for k, s in self.unreferenced_objects],
                "manifests": list(self.unreferenced_manifests),
                "bytes": self.unreferenced_bytes,
            },
        }


@dataclass
class _Scan:
    """Mutable state of one check."""

    objects: dict[str, int]
    manifests: set[str]
    problems: list[Problem] = field(default_factory=list)
    used_objects: dict[str, str] = field(default_factory=dict)  # key -> who names it
    used_manifests: set[str] = field(default_factory=set)
    versions: int = 0


def check_store(
    store: Store, *, deep: bool = False, progress: ProgressFactory = null_factory
) -> FsckReport:
    """Check every live version of ``store``.

    Args:
        store: the store.
        deep: also read every referenced object and check that it hashes to its name.
        progress: progress bars (default: none).

    Returns:
        The report; :attr:`FsckReport.ok` is false when anything is wrong.

    Raises:
        StoreError: the store cannot be read at all (missing bucket, no access...).
    """
    backend = store.backend
    store = Store(backend)  # a fresh instance: no manifest cached by an earlier commit
    scan = _Scan(
        objects=dict(backend.walk("objects")),
        manifests={k for k, _size in backend.walk("manifests")},
    )
    _check_format(store, scan)
    collections = [(p, n) for p in store.projects() for n in store.collections(p)]
    for project, name in collections:
        _check_collection(store, project, name, scan)
    if deep:
        _hash_objects(store, scan, progress)
    unref_objects = tuple(sorted((k, s) for k, s in scan.objects.items() if k not in scan.used_objects))
    unref_manifests = tuple(sorted(scan.manifests - scan.used_manifests))
    return FsckReport(
        store=store.url,
        versions=scan.versions,
        objects=len(scan.used_objects),
        deep=deep,
        problems=tuple(sorted(scan.problems, key=lambda p: (p.key, p.kind))),
        unreferenced_objects=unref_objects,
        unreferenced_manifests=unref_manifests,
    )


def _check_format(store: Store, scan: _Scan) -> None:
    try:
        data = store.backend.read(layout.FORMAT_KEY)
    except FileNotFoundError:
        if store.projects() or scan.objects:
            scan.problems.append(Problem(
                "missing-format", layout.FORMAT_KEY,
                f"{layout.FORMAT_KEY} is missing although the store holds data; the store was "
                "copied incompletely or modified outside satchel",
            ))  # fmt: skip
        return
    try:
        decode(data, FormatRecord, layout.FORMAT_KEY)
    except SatchelError as exc:
        scan.problems.append(Problem("bad-record", layout.FORMAT_KEY, str(exc)))


def _check_collection(store: Store, project: str, name: str, scan: _Scan) -> None:
    committed, deleted = store.version_numbers(project, name)
    live = [n for n in committed if n not in deleted]

    def check(n: int) -> list[tuple[str, str, Manifest]]:
        return _check_version(store, project, name, n, scan)

    for found in run_parallel(check, live, workers=WORKERS):
        for who, manifest_key, manifest in found:
            _use_manifest(manifest_key, manifest, who, scan)
    scan.versions += len(live)
    _check_aliases(store, project, name, set(live), set(committed), scan)
    _check_pending(store, project, name, scan)


def _check_version(
    store: Store, project: str, name: str, n: int, scan: _Scan
) -> list[tuple[str, str, Manifest]]:
    key = layout.version_key(project, name, n)
    who = f"{project}/{name}:v{n}"
    try:
        record: VersionRecord = decode(store.backend.read(key), VersionRecord, key)
    except FileNotFoundError:  # deleted between listing and reading
        return []
    except SatchelError as exc:
        scan.problems.append(Problem("bad-record", key, str(exc)))
        return []
    manifest = _load_manifest(store, record.manifest, who, scan)
    if manifest is None:
        return []
    if manifest.digest != record.digest:
        scan.problems.append(Problem(
            "corrupt-manifest", layout.manifest_key(record.manifest),
            f"{who}: manifest digest {manifest.digest} differs from the recorded {record.digest}",
        ))  # fmt: skip
    return [(who, layout.manifest_key(record.manifest), manifest)]


def _load_manifest(store: Store, manifest_id: str, who: str, scan: _Scan) -> Manifest | None:
    key = layout.manifest_key(manifest_id)
    if key not in scan.manifests:
        scan.problems.append(Problem(
            "missing-manifest", key, f"{who}: its manifest {manifest_id} is missing",
        ))  # fmt: skip
        return None
    try:
        return store.get_manifest(manifest_id)
    except ManifestError as exc:
        scan.problems.append(Problem("corrupt-manifest", key, f"{who}: {exc}"))
        return None


def _use_manifest(manifest_key: str, manifest: Manifest, who: str, scan: _Scan) -> None:
    scan.used_manifests.add(manifest_key)
    for entry in manifest:
        if entry.is_reference:
            continue
        key = layout.object_key(entry.alg, entry.oid)
        scan.used_objects.setdefault(key, f"{who} ({entry.path})")
        size = scan.objects.get(key)
        if size is None:
            scan.problems.append(Problem(
                "missing-object", key,
                f"{who}: the content of {entry.path} (digest {entry.digest}) is missing",
            ))  # fmt: skip
        elif entry.size is not None and size != entry.size:
            scan.problems.append(Problem(
                "size-mismatch", key,
                f"{who}: {entry.path} should be {entry.size} bytes, the stored object has {size}",
            ))  # fmt: skip


def _check_aliases(
    store: Store, project: str, name: str, live: set[int], committed: set[int], scan: _Scan
) -> None:
    for fname in store.backend.list(layout.aliases_folder(project, name)):
        if not fname.endswith(".json"):
            continue
        alias = fname[: -len(".json")]
        key = layout.alias_key(project, name, alias)
        try:
            target = decode(store.backend.read(key), AliasRecord, key).version
        except FileNotFoundError:
            continue
        except SatchelError as exc:
            scan.problems.append(Problem("bad-record", key, str(exc)))
            continue
        if target not in live:
            state = "deleted" if target in committed else "missing"
            scan.problems.append(Problem(
                "dangling-alias", key,
                f"alias {project}/{name}:{alias} names {state} version v{target}",
            ))  # fmt: skip


def _check_pending(store: Store, project: str, name: str, scan: _Scan) -> None:
    base = f"{layout.collection_folder(project, name)}/pending"
    for key, _size in store.backend.walk(base):
        if not key.endswith(".json"):
            continue
        try:
            data = store.backend.read(key)
        except FileNotFoundError:  # finished meanwhile
            continue
        who = f"pending part {key}"
        for manifest_id in _hex_ids(_json(data)):
            manifest = _load_manifest(store, manifest_id, who, scan)
            if manifest is not None:
                _use_manifest(layout.manifest_key(manifest_id), manifest, who, scan)


def _json(data: bytes) -> Any:
    import json

    try:
        return json.loads(data)
    except ValueError:
        return None


def _hex_ids(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        if _HEX64.match(value):
            yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _hex_ids(v)
    elif isinstance(value, list):
        for v in value:
            yield from _hex_ids(v)


def _hash_objects(store: Store, scan: _Scan, progress: ProgressFactory) -> None:
    todo = sorted(k for k in scan.used_objects if k in scan.objects)
    bar = progress(len(todo), "hashing objects")

    def check(key: str) -> Problem | None:
        try:
            _folder, alg, fan, rest = key.split("/")
        except ValueError:
            return None
        if alg not in ALGORITHMS:
            return None
        hasher = new_hasher(alg)
        try:
            with store.backend.open(key) as f:
                while chunk := f.read(1 << 20):
                    hasher.update(chunk)
        except FileNotFoundError:
            return Problem("missing-object", key, f"{scan.used_objects[key]}: object vanished")
        finally:
            bar.update(1)
        actual = hasher.digest().hex()
        if actual != fan + rest:
            return Problem(
                "digest-mismatch", key,
                f"{scan.used_objects[key]}: the object's bytes hash to {actual}, not to its "
                "name; the store copy is corrupt",
            )  # fmt: skip
        return None

    try:
        found = run_parallel(check, todo, workers=WORKERS)
    finally:
        bar.close()
    scan.problems.extend(p for p in found if p is not None)


def describe(report: FsckReport) -> list[str]:
    """Human-readable lines of a report (what ``satchel fsck`` prints)."""
    lines = [
        f"checked {report.versions} version(s) and {report.objects} object(s) in {report.store}"
        + (" (deep: every object hashed)" if report.deep else "")
    ]
    if report.problems:
        lines.append(f"{len(report.problems)} problem(s):")
        lines += [f"  {p.kind}: {p.key}: {p.message}" for p in report.problems]
    else:
        lines.append("no problems found")
    if report.unreferenced_objects or report.unreferenced_manifests:
        lines.append(
            f"unreferenced (not errors; 'satchel gc' removes them): "
            f"{len(report.unreferenced_objects)} object(s), {report.unreferenced_bytes} bytes; "
            f"{len(report.unreferenced_manifests)} manifest(s)"
        )
    return lines
