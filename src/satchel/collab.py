"""Collaborative versions: many runs contribute parts, one finish commits them as one version.

This is W&B's ``upsert_artifact`` / ``finish_artifact``, without a server. Parts live in the
store below ``projects/<p>/artifacts/<name>/pending/<distributed_id>/``:

* :func:`upsert_part` uploads the draft's objects the store lacks, stores the draft's manifest
  (content-addressed, like any commit's) and then creates one *part record*
  ``<run_id>-<seq>-<random>.json`` naming that manifest. A part is never rewritten: a run that
  upserts again writes a new part with a higher ``seq``, which overrides its earlier ones.
* :func:`finish_parts` upserts the finishing draft too, reads every part of the id and merges
  them: the union of entries; within one run the latest part wins; between runs the same path
  with the same content is fine, the same path with other content fails with
  :class:`~satchel.errors.PartConflictError` naming the path and the runs, and nothing is
  committed. The merged manifest is committed through :meth:`Store.commit` (so version numbers
  and the no-op rule work as for any commit) with the ``distributed_id`` recorded, and then
  exactly the parts that were merged are deleted. A part written while a finish runs is not
  deleted: it starts the next pending version of that id, as does any later upsert.

A crash after the commit and before the clean-up leaves merged parts behind; the next finish
skips parts created before the latest version of that id whose entries that version already
holds, so nothing is committed twice and nothing is lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from satchel.cache import Cache
from satchel.commit import Uploader
from satchel.draft import Draft
from satchel.errors import PartConflictError
from satchel.manifest import Manifest, ManifestEntry
from satchel.parallel import run_parallel
from satchel.store import CommitRequest, CommitResult, Store, layout, leases
from satchel.store.records import VersionRecord, decode, encode, utcnow, who


class PartRecord(msgspec.Struct, frozen=True, kw_only=True):
    """``pending/<distributed_id>/<part>.json``: one run's contribution."""

    run_id: str
    run_name: str
    seq: int
    type: str
    manifest: str
    digest: str
    created_at: str
    created_by: str


@dataclass(frozen=True, slots=True)
class Contributor:
    """Who writes parts: a run's id and name, and a counter ordering its parts."""

    run_id: str
    run_name: str
    seq: int


@dataclass(frozen=True, slots=True)
class Contribution:
    """A draft contributed to a collaborative version, and what a finish commits with it.

    Attributes:
        name, type: the collection and its type.
        draft: the entries and their sources.
        cache: the cache the sources' copies are in.
        origin: the store the draft's inherited entries came from (``new_draft``), if any.
        description, metadata, tags: the finished version's attributes (a finish only).
    """

    name: str
    type: str
    draft: Draft
    cache: Cache
    origin: Store | None = None
    description: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()

    @property
    def manifest(self) -> Manifest:
        """The draft's entries as a manifest."""
        return Manifest(self.draft.entries, digest_algorithm=self.draft.alg)

    def uploader(self, store: Store) -> Uploader:
        """The uploader sending the draft's objects ``store`` lacks."""
        return Uploader(self.draft, store, self.cache, origin=self.origin)


def upsert_part(
    store: Store, part: Contribution, *, project: str, distributed_id: str, by: Contributor
) -> str:
    """Upload a draft's content and record it as one part of ``distributed_id``.

    Returns:
        The part's key.

    Raises:
        ArtifactTypeMismatchError: the name exists with another type.
        StoreError: the store cannot be written.
    """
    manifest = part.manifest
    name, type_ = part.name, part.type
    store.check_format(create=True)
    store.ensure_collection(project, name, type_)
    uploader = part.uploader(store)
    with leases.held(store.backend, f"upsert {project}/{name} ({distributed_id})"):
        uploader(manifest)
        manifest_id = store.put_manifest(manifest)
        record = PartRecord(
            run_id=by.run_id, run_name=by.run_name, seq=by.seq, type=type_, manifest=manifest_id,
            digest=manifest.digest, created_at=utcnow(), created_by=who(),
        )  # fmt: skip
        key = (
            f"{layout.pending_folder(project, name, distributed_id)}/"
            f"{by.run_id}-{by.seq:06d}-{uuid.uuid4().hex[:8]}.json"
        )
        store.backend.create_if_absent(key, encode(record))
        # the part names its manifest from now on, so gc keeps it: check it is whole
        uploader.confirm(manifest, manifest_id, f"part {key}")
    return key


def finish_parts(
    store: Store, part: Contribution, *, project: str, distributed_id: str, by: Contributor
) -> CommitResult:
    """Merge every part of ``distributed_id`` (plus ``part``) into one version.

    Returns:
        The commit's result (the version, its manifest, whether it was created).

    Raises:
        PartConflictError: two runs' parts hold one path with different content (nothing is
            committed; the parts stay, so a corrected upsert can follow).
        ArtifactTypeMismatchError: the name exists with another type.
    """
    upsert_part(store, part, project=project, distributed_id=distributed_id, by=by)
    name = part.name
    folder = layout.pending_folder(project, name, distributed_id)
    # hidden names too: parts of runs whose id an older satchel let start with '.'
    keys = [f"{folder}/{n}" for n in store.backend.list(folder, hidden=True) if n.endswith(".json")]
    parts = [p for p in run_parallel(lambda k: _read_part(store, k), keys) if p is not None]
    latest = store.latest(project, name)
    merged = _merge(store, part, parts, latest, distributed_id)
    uploader = part.uploader(store)
    request = CommitRequest(
        project=project, name=name, type=part.type,
        build=lambda _latest: merged, upload=uploader, confirm=uploader.confirm,
        description=part.description, metadata=dict(part.metadata), tags=part.tags,
        run_id=by.run_id, distributed_id=distributed_id,
    )  # fmt: skip
    result = store.commit(request)
    for key, _part in parts:
        store.backend.delete(key)
    return result


def _read_part(store: Store, key: str) -> tuple[str, PartRecord] | None:
    try:
        return key, decode(store.backend.read(key), PartRecord, key)
    except FileNotFoundError:  # finished by a concurrent finish
        return None


def _merge(
    store: Store,
    part_: Contribution,
    parts: list[tuple[str, PartRecord]],
    latest: VersionRecord | None,
    distributed_id: str,
) -> Manifest:
    previous = None
    if latest is not None and latest.distributed_id == distributed_id:
        previous = store.manifest_for(latest)
    by_run: dict[str, dict[str, ManifestEntry]] = {}
    names: dict[str, str] = {}
    for key, part in sorted(parts, key=lambda kp: (kp[1].run_id, kp[1].seq, kp[1].created_at)):
        entries = store.checked_manifest(
            part.manifest,
            digest=part.digest,
            record_key=key,
            what=f"collaborative artifact {part_.name} ({distributed_id}), part "
            f"of run {part.run_name}",
        ).entries
        if (
            previous is not None
            and latest is not None
            and part.created_at < latest.created_at
            and all(previous.get(p) == e for p, e in entries.items())
        ):
            continue  # merged by an earlier finish that crashed before clearing its parts
        by_run.setdefault(part.run_id, {}).update(entries)
        names[part.run_id] = part.run_name
    out: dict[str, ManifestEntry] = {}
    owner: dict[str, str] = {}
    for run_id in sorted(by_run):
        for path, entry in by_run[run_id].items():
            other = out.get(path)
            if other is not None and (other.digest, other.ref) != (entry.digest, entry.ref):
                runs = [_label(owner[path], names), _label(run_id, names)]
                raise PartConflictError(
                    f"collaborative artifact {part_.name} ({distributed_id}): "
                    f"{path!r} was upserted with different content by {runs[0]} and {runs[1]}; "
                    "nothing was committed. Upsert it again from one run with the right content",
                    path=path, runs=runs,
                )  # fmt: skip
            out[path] = entry
            owner.setdefault(path, run_id)
    return Manifest(out, digest_algorithm=part_.draft.alg)


def _label(run_id: str, names: dict[str, str]) -> str:
    name = names.get(run_id, run_id)
    return f"run {name}" if name == run_id else f"run {name} ({run_id})"
