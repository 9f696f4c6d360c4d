"""A commit that reports success is whole, on every store kind (local, memory, S3, GCS, Azure).

* After the commit point every object the version names, and its manifest, is checked once
  (Store.complete); what a gc removed meanwhile is sent again from the draft's bytes, and what
  cannot be is a typed error naming the files.
* A no-op re-commit (same content as the latest version) runs the same check: saving the same
  files again repairs a version that lost objects ("commit its files again" really works).
* A commit holds a lease while it runs (satchel.store.leases): a gc with any grace keeps what
  the commit writes and what it relies on, even a version deleted during the commit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from satchel import Api, Artifact, IncompleteCommitError, SourceFileChangedError
from satchel.cli import main as cli_main
from satchel.fsck import check_store
from satchel.manifest import Manifest
from satchel.registry import collect_garbage
from satchel.registry.delete import delete_version
from satchel.store import Store, layout
from satchel.store.backend import StoreBackend
from tests.conftest import SatchelEnv, write_tree
from tests.registry.conftest import commit
from tests.store.conftest import StoreCase, store_case_fixture  # noqa: F401 - fixture

FILES = {"a.txt": "alpha", "b/c.txt": "gamma", "b/d.txt": "delta"}


class BeforeRecord:
    """A backend that runs ``hook`` right before a commit creates its version record."""

    def __init__(self, inner: StoreBackend, hook: Callable[[StoreBackend], None]) -> None:
        self._inner = inner
        self._hook = hook
        self.url = inner.url

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def create_if_absent(self, key: str, data: bytes) -> bool:
        if "/versions/" in key and key.endswith(".json") and ".attrs." not in key:
            self._hook(self._inner)
        return self._inner.create_if_absent(key, data)


def _api(case: StoreCase, tmp_path: Path, store: Store | None = None, cache: str = "cache") -> Api:
    store = store or case.open()
    return Api(store, "p", services=case.services(tmp_path / cache, store))


def _objects(backend: StoreBackend) -> list[str]:
    return sorted(k for k, _size in backend.walk("objects"))


def _leases(backend: StoreBackend) -> list[str]:
    return sorted(k for k, _size in backend.walk(layout.leases_folder()))


def _check_whole(case: StoreCase, tmp_path: Path, ref: str, files: dict[str, str]) -> None:
    """``ref`` downloads and verifies from an empty cache with ``files``; fsck is clean."""
    fresh = _api(case, tmp_path, cache=f"empty-{ref.replace(':', '-')}")
    art = fresh.artifact(ref)
    root = Path(art.download(tmp_path / "dl" / ref.replace(":", "-")))
    art.verify(root)
    assert {
        p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*") if p.is_file()
    } == files
    assert check_store(case.open()).problems == ()


def test_objects_a_gc_removes_before_the_commit_point_are_sent_again(
    store_case: StoreCase, tmp_path: Path
) -> None:
    removed: list[str] = []

    def gc_without_a_lease(backend: StoreBackend) -> None:
        # what a gc that ignores leases with a too-short grace does (or S3's residual race)
        for key in _objects(backend):
            backend.delete(key)
            removed.append(key)
        backend.delete(next(k for k, _s in backend.walk("manifests")))

    api = _api(store_case, tmp_path, store_case.open(lambda b: BeforeRecord(b, gc_without_a_lease)))  # type: ignore[arg-type,return-value]
    # files on disk: a commit to a local store moves the draft's cached copies into the store
    # before its commit point, so there the bytes to send again come from the files added
    write_tree(tmp_path / "src", FILES)
    draft = Artifact("ds", "dataset", services=api.services)
    draft.add_dir(tmp_path / "src")
    art = draft.save("p")
    assert art.version == "v0" and len(removed) == 3
    assert _objects(store_case.open().backend) == sorted(removed)
    _check_whole(store_case, tmp_path, "ds:v0", FILES)


def test_a_no_op_re_commit_restores_what_the_version_lost(
    store_case: StoreCase, tmp_path: Path
) -> None:
    api = _api(store_case, tmp_path)
    v0 = commit(api, "ds", FILES)
    backend = store_case.open().backend
    lost = [layout.object_key("md5", v0.get_entry(p).oid) for p in ("a.txt", "b/d.txt")]
    for key in lost:
        backend.delete(key)
    backend.delete(layout.manifest_key(api.store.version("p", "ds", 0).manifest))
    kinds = sorted(p.kind for p in check_store(store_case.open()).problems)
    assert kinds == ["missing-manifest"]  # fsck cannot even see the objects behind it
    again = commit(_api(store_case, tmp_path), "ds", FILES)  # the same files, saved again
    assert again.version == "v0"  # the no-op rule: nothing new was committed ...
    assert all(backend.exists(k) for k in lost)  # ... but what v0 lost is back
    _check_whole(store_case, tmp_path, "ds:v0", FILES)


def test_a_no_op_re_commit_without_the_bytes_says_what_is_missing(
    satchel_env: SatchelEnv, tmp_path: Path
) -> None:
    api = satchel_env.api("p")
    v0 = commit(api, "ds", FILES)
    entry = v0.get_entry("b/c.txt")
    (satchel_env.store / layout.object_key("md5", entry.oid)).unlink()
    # (a commit to a local store keeps no cache copy; none may be left here either way)
    (satchel_env.cache / layout.object_key("md5", entry.oid)).unlink(missing_ok=True)
    same = v0.new_draft()  # unchanged: its save is a no-op, and it has no bytes of its own
    with pytest.raises(
        IncompleteCommitError,
        match=(
            r"^p/ds:v0 is committed, but the content of 1 of its files is missing from store "
            r".*/store and this machine has no copy to send again: b/c.txt\. Save the same files "
            r"again where they exist \(saving unchanged content restores what is missing\), or see "
            r"'satchel fsck'$"
        ),
    ):
        same.save()
    write_tree(tmp_path / "src", FILES)
    art = Artifact("ds", "dataset")
    art.add_dir(tmp_path / "src")
    assert art.save("p").version == "v0"
    assert check_store(satchel_env.open_store()).problems == ()


def test_the_error_names_at_most_five_files(satchel_env: SatchelEnv) -> None:
    api = satchel_env.api("p")
    files = {f"f{i}.txt": f"file {i}" for i in range(7)} | {"f7.txt": "file 0"}  # f0's twin
    v0 = commit(api, "ds", files)
    store = satchel_env.open_store()
    for e in v0.manifest:
        (satchel_env.store / layout.object_key("md5", e.oid)).unlink(missing_ok=True)
    manifest = store.get_manifest(store.version("p", "ds", 0).manifest)
    with pytest.raises(
        IncompleteCommitError,
        match=(
            r"content of 8 of its files is missing .*: f0.txt, f1.txt, f2.txt, f3.txt, f4.txt and 3 "
            r"more\. Save the same files"
        ),
    ) as caught:
        store.complete(manifest, store.version("p", "ds", 0).manifest, "p/ds:v0")
    assert caught.value.paths == [f"f{i}.txt" for i in range(8)]


def test_a_lost_manifest_that_this_draft_cannot_rebuild_is_an_error(
    satchel_env: SatchelEnv,
) -> None:
    api = satchel_env.api("p")
    commit(api, "ds", FILES)
    store = satchel_env.open_store()
    record = store.version("p", "ds", 0)
    manifest = store.get_manifest(record.manifest)
    (satchel_env.store / layout.manifest_key(record.manifest)).unlink()
    other = Manifest(
        {p: msgspec.structs.replace(e, extra={"note": "x"}) for p, e in manifest.entries.items()}
    )
    assert other.digest == manifest.digest  # extras are not part of the digest
    with pytest.raises(
        IncompleteCommitError,
        match=(
            rf"^p/ds:v0 is committed, but its manifest {record.manifest} is missing from store "
            r".* and cannot be rebuilt from this draft \(its entries differ in details the digest "
            r"does not cover\)\. Delete the version and commit its files again, or see "
            r"'satchel fsck'$"
        ),
    ):
        store.complete(other, record.manifest, "p/ds:v0")


def test_put_again_repairs_a_version_from_the_command_line(
    satchel_env: SatchelEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the reproduction of issue 10 item 4, in small: objects of a committed version vanish
    data = write_tree(tmp_path / "data", FILES)
    assert cli_main(["put", str(data), "--name", "ds", "--type", "dataset"]) == 0
    for path in [p for p in (satchel_env.store / "objects").rglob("*") if p.is_file()]:
        path.unlink()
    assert cli_main(["fsck"]) == 1
    capsys.readouterr()
    assert cli_main(["put", str(data), "--name", "ds", "--type", "dataset", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == "v0"
    assert cli_main(["fsck"]) == 0


def test_a_commit_holds_a_lease_until_it_is_done(store_case: StoreCase, tmp_path: Path) -> None:
    seen: list[tuple[str, bytes]] = []

    def look(backend: StoreBackend) -> None:
        seen.extend((k, backend.read(k)) for k in _leases(backend))

    api = _api(store_case, tmp_path, store_case.open(lambda b: BeforeRecord(b, look)))  # type: ignore[arg-type,return-value]
    commit(api, "ds", FILES)
    assert len(seen) == 1
    assert json.loads(seen[0][1])["what"] == "commit p/ds"
    assert _leases(store_case.open().backend) == []  # released


def test_a_failed_commit_releases_its_lease(satchel_env: SatchelEnv, tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"f.txt": "before"})
    art = Artifact("ds", "dataset")
    art.add_file(src / "f.txt", policy="immutable")
    (src / "f.txt").write_text("changed since it was added")
    with pytest.raises(SourceFileChangedError):
        art.save()
    assert not (satchel_env.store / layout.leases_folder()).exists() or not any(
        (satchel_env.store / layout.leases_folder()).iterdir()
    )


def test_gc_with_no_grace_keeps_what_a_commit_in_flight_writes_and_relies_on(
    store_case: StoreCase, tmp_path: Path
) -> None:
    api = _api(store_case, tmp_path)
    base = commit(api, "ds", FILES)  # v0: the next commit re-adds its files (held objects)
    v0_manifest = api.store.version("p", "ds", 0).manifest
    commit(api, "old", {"orphan.txt": "only a deleted version used this"}).delete()
    time.sleep(1.1)  # everything so far is older than gc's cutoff (never within this second)
    reports = []

    def gc_strikes(backend: StoreBackend) -> None:
        store = Store(backend)
        delete_version(store, store.version("p", "ds", 0))  # the version relied on goes too
        reports.append(collect_garbage(store, grace=0, force=True))

    racing = _api(store_case, tmp_path, store_case.open(lambda b: BeforeRecord(b, gc_strikes)))  # type: ignore[arg-type,return-value]
    files = {**FILES, "orphan.txt": "only a deleted version used this", "new.txt": "new"}
    art = commit(racing, "ds", files)
    assert art.version == "v1" and art.get_entry("a.txt").oid == base.get_entry("a.txt").oid
    (report,) = reports
    assert report.in_flight == 1 and report.objects == ()
    assert layout.manifest_key(v0_manifest) not in report.manifests  # v0 counted as live
    _check_whole(store_case, tmp_path, "ds:v1", files)
    # once the commit is done, nothing protects the deleted version's manifest any more
    later = collect_garbage(api.store, grace=0, force=True)
    assert later.in_flight == 0 and layout.manifest_key(v0_manifest) in later.manifests
    assert later.objects == ()  # v1 uses every object v0 had


def test_a_lease_left_by_a_killed_writer_delays_gc_until_it_is_stale(
    satchel_env: SatchelEnv,
) -> None:
    store = satchel_env.open_store()
    key = layout.lease_key("0" * 32)
    store.backend.create_if_absent(key, b"{}")  # a writer took it, then died
    api = satchel_env.api("p")
    commit(api, "ds", {"f": "content"}).delete()  # garbage younger than the lease
    time.sleep(1.1)
    young = collect_garbage(store, grace=0, force=True)
    assert young.in_flight == 1 and young.objects == () and young.temporaries == ()
    a_day_on = collect_garbage(store, grace="1h", now=time.time() + 25 * 3600)
    assert a_day_on.in_flight == 0 and len(a_day_on.objects) == 1
    assert a_day_on.temporaries == (key,) and not store.backend.exists(key)


def test_a_version_deleted_under_a_lease_whose_manifest_is_gone_does_not_stop_gc(
    satchel_env: SatchelEnv,
) -> None:
    store = satchel_env.open_store()
    store.backend.create_if_absent(layout.lease_key("2" * 32), b"{}")
    api = satchel_env.api("p")
    commit(api, "ds", {"f": "content"})
    mid = store.version("p", "ds", 0).manifest
    api.artifact("ds:v0").delete()  # after the lease: counted as live while it is held ...
    (satchel_env.store / layout.manifest_key(mid)).unlink()  # ... but its manifest is gone
    time.sleep(1.1)
    report = collect_garbage(store, grace=0, force=True)
    assert report.in_flight == 1 and report.objects == ()  # nothing to read: kept, no error
