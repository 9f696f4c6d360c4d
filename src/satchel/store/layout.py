"""The store layout, format 1: every key a store reads or writes is built here.

::

    satchel.json                                   {"format": 1}
    objects/<alg>/<oid[:2]>/<oid[2:]>              file content, content-addressed, write-once
    manifests/<id[:2]>/<id[2:]>.json.gz            manifests, id = sha256 of canonical JSON
    projects/<project>/artifacts/<name>/
        collection.json                            type, description, created_at
        versions/<n>.json                          immutable version record: the commit point
        versions/<n>.attrs.json                    mutable: description, metadata, tags, stage...
        versions/<n>.deleted                       tombstone of a deleted version
        aliases/<alias>.json                       {"version": n}
        pending/<distributed_id>/<part>.json       collaborative parts before finish
        used_by/<n>/<run_project>/<run_id>.json    marker: a run used version n (lineage index)
        index.json.gz                              rebuildable listing index (satchel.registry)
    projects/<project>/runs/<run_id>.json          lineage: a run's inputs and outputs
    quarantine/<UTC time>-<6 hex>/<key>            damaged records ``satchel fsck --repair`` set
                                                   aside (never read as records; gc keeps what
                                                   they name)
    leases/<id>.json                               a commit in flight (satchel.store.leases)

``<n>`` is a decimal number without leading zeros: ``versions/01.json`` is not the record of v1
but a stray file, which listings skip and ``satchel fsck`` reports (:func:`classify_versions`).
``latest`` is never stored: it is the highest committed version without a tombstone. Keys are
POSIX paths relative to the store root; names are validated before they reach this module
(:mod:`satchel.naming`), so no key can climb out of its folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FORMAT = 1
FORMAT_KEY = "satchel.json"


def object_key(alg: str, oid: str) -> str:
    """Key of a content object."""
    return f"objects/{alg}/{oid[:2]}/{oid[2:]}"


_OBJECT_KEY = re.compile(r"^objects/[a-z0-9]+/[0-9a-f]{2}/[0-9a-f]+$")
_MANIFEST_KEY = re.compile(r"^manifests/[0-9a-f]{2}/[0-9a-f]{62}\.json\.gz$")


def is_content_key(key: str) -> bool:
    """Whether ``key`` has the shape of a key satchel writes below ``objects/`` or
    ``manifests/`` (:func:`object_key`, :func:`manifest_key`); anything else there is a file
    satchel did not write: gc keeps it, fsck reports it as a stray file."""
    return bool(_OBJECT_KEY.match(key) or _MANIFEST_KEY.match(key))


def object_folder(alg: str, fanout: str) -> str:
    """Folder of the content objects whose oid starts with ``fanout``."""
    return f"objects/{alg}/{fanout}"


def manifest_key(manifest_id: str) -> str:
    """Key of a stored manifest."""
    return f"manifests/{manifest_id[:2]}/{manifest_id[2:]}.json.gz"


def projects_folder() -> str:
    """Folder holding every project."""
    return "projects"


def artifacts_folder(project: str) -> str:
    """Folder holding a project's collections."""
    return f"projects/{project}/artifacts"


def collection_folder(project: str, name: str) -> str:
    """Folder of one collection."""
    return f"projects/{project}/artifacts/{name}"


def collection_key(project: str, name: str) -> str:
    """Key of a collection record."""
    return f"{collection_folder(project, name)}/collection.json"


def versions_folder(project: str, name: str) -> str:
    """Folder of a collection's version records."""
    return f"{collection_folder(project, name)}/versions"


def version_key(project: str, name: str, version: int) -> str:
    """Key of an immutable version record."""
    return f"{versions_folder(project, name)}/{version}.json"


def attrs_key(project: str, name: str, version: int) -> str:
    """Key of a version's mutable attributes."""
    return f"{versions_folder(project, name)}/{version}.attrs.json"


def tombstone_key(project: str, name: str, version: int) -> str:
    """Key of a deleted version's tombstone."""
    return f"{versions_folder(project, name)}/{version}.deleted"


def aliases_folder(project: str, name: str) -> str:
    """Folder of a collection's aliases."""
    return f"{collection_folder(project, name)}/aliases"


def alias_key(project: str, name: str, alias: str) -> str:
    """Key of one alias pointer."""
    return f"{aliases_folder(project, name)}/{alias}.json"


def pending_folder(project: str, name: str, distributed_id: str) -> str:
    """Folder of the collaborative parts of one distributed id."""
    return f"{collection_folder(project, name)}/pending/{distributed_id}"


def usage_folder(project: str, name: str) -> str:
    """Folder of the "used by" markers of a collection (one sub-folder per version number)."""
    return f"{collection_folder(project, name)}/used_by"


def usage_key(project: str, name: str, version: int, run_project: str, run_id: str) -> str:
    """Key of the marker saying run ``run_project/run_id`` used version ``version``."""
    return f"{usage_folder(project, name)}/{version}/{run_project}/{run_id}.json"


def index_key(project: str, name: str) -> str:
    """Key of a collection's listing index: a cache, rebuilt from the records when stale."""
    return f"{collection_folder(project, name)}/index.json.gz"


def runs_folder(project: str) -> str:
    """Folder of a project's run records."""
    return f"projects/{project}/runs"


def run_key(project: str, run_id: str) -> str:
    """Key of a run's lineage record."""
    return f"projects/{project}/runs/{run_id}.json"


def leases_folder() -> str:
    """Folder of the leases of commits in flight."""
    return "leases"


def lease_key(lease_id: str) -> str:
    """Key of one commit's lease."""
    return f"{leases_folder()}/{lease_id}.json"


def quarantine_folder() -> str:
    """Folder of everything ``satchel fsck --repair`` set aside."""
    return "quarantine"


_VERSION_FILE = re.compile(r"^(0|[1-9][0-9]*)\.(json|attrs\.json|deleted|attrs\.json\.lock)$")


@dataclass(frozen=True)
class VersionListing:
    """A ``versions/`` listing sorted into what it holds.

    Attributes:
        committed: numbers that have a record file ``<n>.json``, ascending.
        deleted: numbers that have a tombstone ``<n>.deleted``.
        strays: names that are none of satchel's files (``01.json``, ``abc.json``, an
            editor's backup...): never read as records, reported by ``satchel fsck``.
    """

    committed: list[int]
    deleted: set[int]
    strays: list[str] = field(default_factory=list)

    @property
    def live(self) -> list[int]:
        """Committed numbers without a tombstone, ascending."""
        return [n for n in self.committed if n not in self.deleted]

    @property
    def next_number(self) -> int:
        """The number a new version gets: above every record and tombstone, so neither a
        damaged record nor a tombstone without its record is ever written over."""
        return max([*self.committed, *self.deleted], default=-1) + 1


def classify_versions(names: list[str]) -> VersionListing:
    """Sort the names of a ``versions/`` listing (hidden temporaries already left out).

    Canonical names are ``<n>.json``, ``<n>.attrs.json``, ``<n>.deleted`` and the local
    store's lock files ``<n>.attrs.json.lock``, with ``<n>`` a decimal number without leading
    zeros; everything else is a stray.
    """
    committed: list[int] = []
    deleted: set[int] = set()
    strays: list[str] = []
    for name in names:
        m = _VERSION_FILE.match(name)
        if m is None:
            strays.append(name)
        elif m.group(2) == "json":
            committed.append(int(m.group(1)))
        elif m.group(2) == "deleted":
            deleted.add(int(m.group(1)))
    committed.sort()
    return VersionListing(committed, deleted, sorted(strays))


_ALIAS_FILE = re.compile(r"^([A-Za-z0-9_.\-]{1,128})\.json(\.lock)?$")


def classify_aliases(names: list[str]) -> tuple[list[str], list[str]]:
    """Sort the names of an ``aliases/`` listing into (alias names, stray names).

    ``<alias>.json`` is an alias (names starting with ``.``, which an older satchel allowed,
    included) and ``<alias>.json.lock`` a local store's lock file; anything else, and a file
    for a name that can never be an alias (``latest``, ``v3``), is a stray.
    """
    aliases: list[str] = []
    strays: list[str] = []
    for name in names:
        m = _ALIAS_FILE.match(name)
        stem = m.group(1) if m else ""
        if m is None or set(stem) == {"."} or stem == "latest" or re.fullmatch(r"v[0-9]+", stem):
            strays.append(name)
        elif m.group(2) is None:
            aliases.append(stem)
    return sorted(aliases), sorted(strays)


def parse_version_listing(names: list[str]) -> tuple[list[int], set[int]]:
    """Split a ``versions/`` listing into (committed numbers ascending, deleted numbers);
    stray names are left out (see :func:`classify_versions`)."""
    listing = classify_versions(names)
    return listing.committed, listing.deleted
