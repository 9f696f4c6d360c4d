"""Check a store: every live version must be complete and intact, every file where it belongs.

:func:`check_store` lists the store's objects and manifests once (one recursive listing
each), then checks every project and collection, including names an older satchel let start
with ``.``:

* every record file sits under its canonical name: a file in ``versions/`` or ``aliases/``
  that is not ``<n>.json``, ``<n>.attrs.json``, ``<n>.deleted`` or ``<alias>.json``
  (``01.json``, ``abc.json``, ``notes.txt``), and a file where a project or collection
  folder belongs, is a *stray* (listings skip it);
* every live (committed, not deleted) version record decodes and agrees with its file name
  (its ``version``, ``project`` and ``name``); a record with the id of a lower-numbered one is
  a *duplicate* (a copy under a consistent number); its attributes decode;
* its manifest exists, hashes to its id and has only safe paths, and every stored-content
  entry has its object, of the right size;
* the collection record exists and decodes; every alias decodes and names a live version;
  every pending collaborative part decodes and names an existing manifest;
* with ``deep=True``, every referenced object is read and must hash to its name.

Each problem names the file (``key``) and, where there is one, the version (``ref``); one
bad file never stops the check of the rest. Objects and manifests that no live version,
pending part or quarantined record names are reported separately as *unreferenced*: they are
what an interrupted commit or a deleted version leaves behind, are not errors, and
``satchel gc`` removes them. Deleted versions are not checked (gc may already have removed
their content). :mod:`satchel.repair` fixes what can be fixed without guessing.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from satchel.errors import DamagedRecordError, ManifestError, SatchelError
from satchel.hashing import ALGORITHMS, new_hasher
from satchel.manifest import Manifest
from satchel.parallel import run_parallel
from satchel.progress import ProgressFactory, null_factory
from satchel.registry.marking import hex_ids
from satchel.store import Store, layout
from satchel.store.backend import StoreBackend
from satchel.store.local import is_writer_leftover
from satchel.store.records import (
    AliasRecord,
    FormatRecord,
    VersionAttrs,
    VersionRecord,
    decode,
    decode_version,
)

_HEX64_IN = re.compile(rb"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
#: version checks and deep hashes in flight at once (I/O bound on a bucket)
WORKERS = 16

#: what each kind of problem means and what to do about it (printed under the problems)
ADVICE = {
    "bad-record": "a record cannot be read or contradicts its file name; "
    "'satchel fsck --repair' moves it to quarantine/",
    "stray-file": "a file satchel did not write sits among its records; "
    "'satchel fsck --repair' moves it to quarantine/",
    "duplicate-record": "a record repeats another version's id (a copy); "
    "'satchel fsck --repair' moves the copy to quarantine/",
    "missing-collection": "versions without their collection record are not listed; "
    "'satchel fsck --repair' writes it again from the versions",
    "missing-object": "content is gone; 'satchel fsck --repair' puts it back from the cache, "
    "'--from DIR' also from a folder holding the files",
    "size-mismatch": "a stored object is corrupt; 'satchel fsck --repair' replaces it from the "
    "cache or '--from DIR' (the bad copy goes to quarantine/)",
    "digest-mismatch": "a stored object is corrupt; 'satchel fsck --deep --repair' replaces it "
    "from the cache or '--from DIR' (the bad copy goes to quarantine/)",
    "missing-manifest": "a version lost its file list: restore the manifest from a backup, or "
    "delete the version ('satchel delete REF')",
    "corrupt-manifest": "a version's file list is damaged: restore the manifest from a backup, "
    "or delete the version ('satchel delete REF')",
    "dangling-alias": "an alias names no live version: 'satchel alias rm NAME ALIAS', or point "
    "it elsewhere ('satchel alias add REF ALIAS')",
    "hidden-name": "a name starts with '.', which satchel no longer accepts (such entries "
    "look like temporary files); it stays readable: copy its versions to a valid name "
    "('satchel copy REF PROJECT/NAME') and delete them; for an alias, add a valid one "
    "('satchel alias add REF ALIAS') and remove it ('satchel alias rm NAME .ALIAS')",
    "missing-format": 'restore satchel.json from a backup (it holds {"format": 1})',
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a store.

    Attributes:
        kind: one of the keys of :data:`ADVICE`: ``missing-format``, ``bad-record``,
            ``stray-file``, ``duplicate-record``, ``missing-collection``, ``hidden-name``,
            ``missing-manifest``, ``corrupt-manifest``, ``missing-object``, ``size-mismatch``,
            ``digest-mismatch`` or ``dangling-alias``.
        key: the store key concerned (a file, or the folder of a name).
        message: what is wrong, for people.
        ref: ``"project/name:vN"`` of the version concerned, when there is one.
        size: for object problems, the size the object must have.
    """

    kind: str
    key: str
    message: str
    ref: str | None = None
    size: int | None = None


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
        quarantined: files in the store's ``quarantine/`` folder (set aside by a repair;
            not errors).
    """

    store: str
    versions: int
    objects: int
    deep: bool
    problems: tuple[Problem, ...] = ()
    unreferenced_objects: tuple[tuple[str, int], ...] = ()
    unreferenced_manifests: tuple[str, ...] = field(default=())
    quarantined: int = 0

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
                {"kind": p.kind, "key": p.key, "message": p.message, "ref": p.ref}
                for p in self.problems
            ],
            "unreferenced": {
                "objects": [{"key": k, "size": s} for k, s in self.unreferenced_objects],
                "manifests": list(self.unreferenced_manifests),
                "bytes": self.unreferenced_bytes,
            },
            "quarantined": self.quarantined,
        }


@dataclass
class _Scan:
    """Mutable state of one check."""

    objects: dict[str, int]
    manifests: set[str]
    problems: list[Problem] = field(default_factory=list)
    used_objects: dict[str, str] = field(default_factory=dict)  # key -> who names it
    used_sizes: dict[str, int] = field(default_factory=dict)  # key -> size it must have
    used_manifests: set[str] = field(default_factory=set)
    versions: int = 0

    def add(self, kind: str, key: str, message: str, ref: str | None = None) -> None:
        self.problems.append(Problem(kind, key, message, ref))


def check_store(
    store: Store, *, deep: bool = False, progress: ProgressFactory = null_factory
) -> FsckReport:
    """Check every project, collection and live version of ``store``.

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
    listed = [*backend.walk("objects"), *backend.walk("manifests")]
    scan = _Scan(
        objects={k: s for k, s in listed if k.startswith("objects/") and layout.is_content_key(k)},
        manifests={
            k for k, _s in listed if k.startswith("manifests/") and layout.is_content_key(k)
        },
    )
    for key, _size in listed:
        if not layout.is_content_key(key):  # gc keeps it too; not a sign of lost content
            scan.add("stray-file", key, "a file where only satchel's content belongs")
    _check_format(store, scan)
    for project in store.projects():
        _check_project(store, project, scan)
    quarantined = _use_quarantined(store, scan)
    if deep:
        _hash_objects(store, scan, progress)
    unref_objects = tuple(
        sorted((k, s) for k, s in scan.objects.items() if k not in scan.used_objects)
    )
    unref_manifests = tuple(sorted(scan.manifests - scan.used_manifests))
    return FsckReport(
        store=store.url,
        versions=scan.versions,
        objects=len(scan.used_objects),
        deep=deep,
        problems=tuple(sorted(scan.problems, key=lambda p: (p.key, p.kind))),
        unreferenced_objects=unref_objects,
        unreferenced_manifests=unref_manifests,
        quarantined=quarantined,
    )


def _check_format(store: Store, scan: _Scan) -> None:
    try:
        data = store.backend.read(layout.FORMAT_KEY)
    except FileNotFoundError:
        if store.projects() or scan.objects:
            scan.add(
                "missing-format", layout.FORMAT_KEY,
                f"{layout.FORMAT_KEY} is missing although the store holds data; the store was "
                "copied incompletely or modified outside satchel",
            )  # fmt: skip
        return
    try:
        decode(data, FormatRecord, layout.FORMAT_KEY)
    except SatchelError as exc:
        scan.add("bad-record", layout.FORMAT_KEY, str(exc))


def _holds_nothing(backend: StoreBackend, key: str) -> bool:
    """Whether ``key`` is a local folder that holds no file but a writer's leftovers: what
    moving its files away leaves, or a commit killed before its first record (its lock file,
    a temporary); a bucket has no empty folders."""
    local = backend.local_path(key)
    return (
        local is not None
        and os.path.isdir(local)
        and all(is_writer_leftover(n) for _d, _s, files in os.walk(local) for n in files)
    )


def _is_file(backend: StoreBackend, key: str) -> bool:
    """Whether ``key`` is a file (where a folder belongs)."""
    local = backend.local_path(key)
    if local is not None:
        return os.path.isfile(local)
    return backend.exists(key)  # remote "folders" are prefixes: no object under the key


def _hidden(scan: _Scan, key: str, what: str) -> None:
    scan.add(
        "hidden-name", key,
        f"{what} starts with '.': satchel reads it, but no longer creates such names, and an "
        "older satchel's gc and fsck did not see it",
    )  # fmt: skip


def _check_project(store: Store, project: str, scan: _Scan) -> None:
    folder = f"{layout.projects_folder()}/{project}"
    names = store.collections(project)
    if not names and _is_file(store.backend, folder):
        scan.add("stray-file", folder, "a file where only project folders belong")
        return
    live = 0
    for name in names:
        try:
            live += _check_collection(store, project, name, scan)
        except SatchelError as exc:  # keep going: one collection must not stop the check
            scan.add("bad-record", layout.collection_folder(project, name), str(exc))
    if project.startswith(".") and live:  # once nothing in it is live, it reaches nothing
        _hidden(scan, folder, f"project {project!r}")


def _check_collection(store: Store, project: str, name: str, scan: _Scan) -> int:
    """Check one collection; return how many live versions it has."""
    backend = store.backend
    folder = layout.collection_folder(project, name)
    ckey = layout.collection_key(project, name)
    try:
        collection = store.collection(project, name)
        damaged = False
    except DamagedRecordError as exc:
        scan.add("bad-record", ckey, f"{project}/{name}: {exc.reason}")
        collection, damaged = None, True
    vfolder = layout.versions_folder(project, name)
    names = backend.list(vfolder)
    listing = layout.classify_versions(names)
    if collection is None and not damaged:
        if not listing.committed and _is_file(backend, folder):
            scan.add("stray-file", folder, "a file where only artifact folders belong")
            return 0
        if not listing.committed:
            if not _holds_nothing(backend, folder):
                scan.add("stray-file", folder, "a folder without a collection record or versions")
            return 0
        scan.add(
            "missing-collection", ckey,
            f"{project}/{name} has {len(listing.committed)} version record(s) but no "
            "collection record, so listings skip it",
        )  # fmt: skip
    for stray in listing.strays:
        key = f"{vfolder}/{stray}"
        if _holds_nothing(backend, key):
            continue
        scan.add(
            "stray-file", key, f"{project}/{name}: {stray!r} is not a record name; listings skip it"
        )
        _use_salvaged(store, key, scan)
    present = set(names)
    live = listing.live

    def read(n: int) -> VersionRecord | Problem | None:
        key = layout.version_key(project, name, n)
        ref = f"{project}/{name}:v{n}"
        try:
            data = backend.read(key)
        except FileNotFoundError:  # deleted between listing and reading
            return None
        try:
            return decode_version(data, project, name, n, key)
        except DamagedRecordError as exc:
            _use_salvaged(store, key, scan, data)
            return Problem("bad-record", key, f"{ref}: {exc.reason}", ref)

    records: dict[int, VersionRecord] = {}
    for n, got in zip(live, run_parallel(read, live, workers=WORKERS)):
        if isinstance(got, Problem):
            scan.problems.append(got)
        elif got is not None:
            records[n] = got
    first_of: dict[str, int] = {}
    for n in sorted(records):
        rec = records[n]
        if rec.id in first_of:
            ref = f"{project}/{name}:v{n}"
            scan.add(
                "duplicate-record", layout.version_key(project, name, n),
                f"{ref}: its record repeats the id of v{first_of[rec.id]} (a copy of that "
                "record, not a commit)", ref,
            )  # fmt: skip
        else:
            first_of[rec.id] = n
    with_attrs = [n for n in sorted(records) if f"{n}.attrs.json" in present]
    run_parallel(lambda n: _check_attrs(store, project, name, n, scan), with_attrs, workers=WORKERS)

    def check(n: int) -> list[tuple[str, str, Manifest]]:
        return _check_version(store, records[n], scan)

    for found in run_parallel(check, sorted(records), workers=WORKERS):
        for who, manifest_key, manifest in found:
            _use_manifest(manifest_key, manifest, who, scan, ref=who)
    scan.versions += len(records)
    if name.startswith(".") and records:  # once nothing in it is live, it reaches nothing
        _hidden(scan, folder, f"artifact name {project}/{name}")
    _check_aliases(store, project, name, set(records), listing, scan)
    _check_pending(store, project, name, scan)
    return len(records)


def _check_attrs(store: Store, project: str, name: str, n: int, scan: _Scan) -> None:
    key = layout.attrs_key(project, name, n)
    try:
        decode(store.backend.read(key), VersionAttrs, key)
    except FileNotFoundError:
        return
    except DamagedRecordError as exc:
        ref = f"{project}/{name}:v{n}"
        scan.add("bad-record", key, f"{ref}: its attributes: {exc.reason}", ref)


def _check_version(
    store: Store, record: VersionRecord, scan: _Scan
) -> list[tuple[str, str, Manifest]]:
    who = f"{record.project}/{record.name}:v{record.version}"
    manifest = _load_manifest(store, record.manifest, who, scan, ref=who)
    if manifest is None:
        return []
    if manifest.digest != record.digest:
        scan.add(
            "corrupt-manifest", layout.manifest_key(record.manifest),
            f"{who}: manifest digest {manifest.digest} differs from the recorded {record.digest}",
            who,
        )  # fmt: skip
    return [(who, layout.manifest_key(record.manifest), manifest)]


def _load_manifest(
    store: Store, manifest_id: str, who: str, scan: _Scan, *, ref: str | None = None
) -> Manifest | None:
    key = layout.manifest_key(manifest_id)
    if key not in scan.manifests:
        scan.add("missing-manifest", key, f"{who}: its manifest {manifest_id} is missing", ref)
        return None
    try:
        return store.get_manifest(manifest_id)
    except ManifestError as exc:
        scan.add("corrupt-manifest", key, f"{who}: {exc}", ref)
        return None


def _use_manifest(
    manifest_key: str, manifest: Manifest, who: str, scan: _Scan, *, ref: str | None = None
) -> None:
    scan.used_manifests.add(manifest_key)
    for entry in manifest:
        if entry.is_reference:
            continue
        key = layout.object_key(entry.alg, entry.oid)
        scan.used_objects.setdefault(key, f"{who} ({entry.path})")
        if entry.size is not None:
            scan.used_sizes.setdefault(key, entry.size)
        size = scan.objects.get(key)
        if size is None:
            scan.problems.append(Problem(
                "missing-object", key,
                f"{who}: the content of {entry.path} (digest {entry.digest}) is missing",
                ref, entry.size,
            ))  # fmt: skip
        elif entry.size is not None and size != entry.size:
            scan.problems.append(Problem(
                "size-mismatch", key,
                f"{who}: {entry.path} should be {entry.size} bytes, the stored object has {size}",
                ref, entry.size,
            ))  # fmt: skip


def _use_salvaged(store: Store, key: str, scan: _Scan, data: bytes | None = None) -> None:
    """Count the manifest a damaged or stray record still names as used (gc keeps it too,
    see :mod:`satchel.registry.marking`), without checking it."""
    if data is None:
        try:
            data = store.backend.read(key)
        except (OSError, SatchelError):
            return
    try:
        record = msgspec.json.decode(data, type=VersionRecord)
    except msgspec.DecodeError:
        return
    _keep_quietly(store, record.manifest, scan)


def _keep_quietly(store: Store, manifest_id: str, scan: _Scan) -> None:
    mkey = layout.manifest_key(manifest_id)
    if mkey not in scan.manifests or mkey in scan.used_manifests:
        return
    scan.used_manifests.add(mkey)
    try:
        manifest = store.get_manifest(manifest_id)
    except ManifestError:
        return
    for entry in manifest:
        if not entry.is_reference:
            scan.used_objects.setdefault(
                layout.object_key(entry.alg, entry.oid), f"kept for {mkey} ({entry.path})"
            )


def _use_quarantined(store: Store, scan: _Scan) -> int:
    """Count the manifests quarantined records name as used (gc keeps them); return how many
    files the quarantine holds."""
    count = 0
    for key, _size in store.backend.walk(layout.quarantine_folder()):
        count += 1
        parts = key.split("/")
        if len(parts) < 3 or parts[2] != "projects":
            continue  # a quarantined object: never scanned
        try:
            data = store.backend.read(key)
        except FileNotFoundError:
            continue
        for m in _HEX64_IN.finditer(data):
            _keep_quietly(store, m.group().decode(), scan)
    return count


def _check_aliases(
    store: Store,
    project: str,
    name: str,
    live: set[int],
    listing: layout.VersionListing,
    scan: _Scan,
) -> None:
    folder = layout.aliases_folder(project, name)
    aliases, strays = layout.classify_aliases(store.backend.list(folder, hidden=True))
    for stray in strays:
        scan.add(
            "stray-file",
            f"{folder}/{stray}",
            f"{project}/{name}: {stray!r} is not an alias record name; listings skip it",
        )
    for alias in aliases:
        key = layout.alias_key(project, name, alias)
        try:
            target = decode(store.backend.read(key), AliasRecord, key).version
        except FileNotFoundError:
            continue
        except DamagedRecordError as exc:
            scan.add("bad-record", key, f"alias {project}/{name}:{alias}: {exc.reason}")
            continue
        if alias.startswith(".") and target in live:
            _hidden(scan, key, f"alias {project}/{name}:{alias}")
        if target not in live:
            state = (
                "deleted"
                if target in listing.deleted
                else "damaged"
                if target in listing.committed
                else "missing"
            )
            scan.add(
                "dangling-alias",
                key,
                f"alias {project}/{name}:{alias} names {state} version v{target}",
            )


def _check_pending(store: Store, project: str, name: str, scan: _Scan) -> None:
    for key in store.pending_parts(project, name):
        try:
            data = store.backend.read(key)
        except FileNotFoundError:  # finished meanwhile
            continue
        who = f"pending part {key}"
        try:
            value = json.loads(data)
        except ValueError as exc:
            scan.add("bad-record", key, f"{who} cannot be read ({exc})")
            continue
        for manifest_id in hex_ids(value):
            manifest = _load_manifest(store, manifest_id, who, scan)
            if manifest is not None:
                _use_manifest(layout.manifest_key(manifest_id), manifest, who, scan)


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
            return Problem(
                "missing-object",
                key,
                f"{scan.used_objects[key]}: object vanished",
                size=scan.used_sizes.get(key),
            )
        finally:
            bar.update(1)
        actual = hasher.digest().hex()
        if actual != fan + rest:
            return Problem(
                "digest-mismatch", key,
                f"{scan.used_objects[key]}: the object's bytes hash to {actual}, not to its "
                "name; the store copy is corrupt", size=scan.used_sizes.get(key),
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
        lines.append("what to do:")
        kinds = sorted({p.kind for p in report.problems})
        lines += [f"  {kind}: {ADVICE[kind]}" for kind in kinds if kind in ADVICE]
    else:
        lines.append("no problems found")
    if report.unreferenced_objects or report.unreferenced_manifests:
        lines.append(
            f"unreferenced (not errors; 'satchel gc' removes them): "
            f"{len(report.unreferenced_objects)} object(s), {report.unreferenced_bytes} bytes; "
            f"{len(report.unreferenced_manifests)} manifest(s)"
        )
    if report.quarantined:
        lines.append(
            f"{report.quarantined} file(s) set aside in {layout.quarantine_folder()}/ (not "
            "errors; delete them once you no longer need them)"
        )
    return lines
