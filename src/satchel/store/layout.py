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
    leases/<id>.json                               a commit in flight (satchel.store.leases)

``latest`` is never stored: it is the highest committed version without a tombstone. Keys are
POSIX paths relative to the store root; names are validated before they reach this module
(:mod:`satchel.naming`), so no key can climb out of its folder.
"""

from __future__ import annotations

FORMAT = 1
FORMAT_KEY = "satchel.json"


def object_key(alg: str, oid: str) -> str:
    """Key of a content object."""
    return f"objects/{alg}/{oid[:2]}/{oid[2:]}"


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


def parse_version_listing(names: list[str]) -> tuple[list[int], set[int]]:
    """Split a ``versions/`` listing into (committed numbers ascending, deleted numbers)."""
    committed: list[int] = []
    deleted: set[int] = set()
    for n in names:
        stem, _dot, ext = n.partition(".")
        if not stem.isdigit():
            continue
        if ext == "json":
            committed.append(int(stem))
        elif ext == "deleted":
            deleted.add(int(stem))
    committed.sort()
    return committed, deleted
