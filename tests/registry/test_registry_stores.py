"""The registry on every quick store kind (local disk, ``memory://``, S3 on moto): listing and
its index, stages, delete and gc, copy within and across stores, links, apply, lineage."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import satchel
from satchel import Api
from satchel.errors import ArtifactDeletedError
from satchel.fsck import check_store
from satchel.registry import collect_garbage
from satchel.registry.scan import modified_time
from satchel.store import Store, layout
from tests.registry.conftest import commit, versions
from tests.store.conftest import StoreCase, _case, quick_store_case_fixture  # noqa: F401 - fixture

LATER = time.time() + 7200


@pytest.fixture
def api(quick_store_case: StoreCase, tmp_path: Path) -> Api:
    store = quick_store_case.open()
    return Api(store, "p", services=quick_store_case.services(tmp_path / "cache", store))


def count_objects(store: Store) -> int:
    return sum(1 for _ in store.backend.walk("objects"))


def test_listing_filters_pages_and_sees_changes(api: Api, quick_store_case: StoreCase) -> None:
    for i in range(7):
        commit(
            api, "ds", {"f": str(i)}, tags=["even"] if i % 2 == 0 else ["odd"], metadata={"i": i}
        )
    page = api.artifact_versions("ds", tag="even", sort_by="version", size=3)
    assert versions(page) == ["ds:v0", "ds:v2", "ds:v4"] and page.total_pages == 2
    assert versions(api.artifact_versions("ds", metadata={"i": 5})) == ["ds:v5"]
    assert api.store.backend.exists(layout.index_key("p", "ds"))
    # a second client changes things; the first one's listing (through the index) sees it all
    other = Api(quick_store_case.open(), "p", services=api.services)
    other.update_artifact_version("ds:v1", add_tags=["even"])
    other.artifact("ds:v0").delete()
    art = other.artifact("ds:v3")
    art.aliases = ["pick"]
    art.save()
    assert versions(api.artifact_versions("ds", tag="even", sort_by="version")) == [
        "ds:v1",
        "ds:v2",
        "ds:v4",
        "ds:v6",
    ]
    assert versions(api.artifact_versions("ds", alias="pick")) == ["ds:v3"]


def test_stages_delete_and_gc(api: Api) -> None:
    commit(api, "ds", {"keep": "k", "own": "zero"})
    commit(api, "ds", {"keep": "k", "own": "one"})
    api.stage_artifact_version("ds:v1", "production", reason="good")
    assert [e.to_stage for e in api.artifact("ds:v1").stage_history] == ["production"]
    own = api.artifact("ds:v0").get_entry("own")
    api.artifact("ds:v0").delete()
    with pytest.raises(ArtifactDeletedError, match=r"p/ds:v0 was deleted"):
        api.artifact("ds:v0")
    assert collect_garbage(api.store).objects == ()  # young: protected by the grace period
    report = collect_garbage(api.store, grace="1h", now=LATER)
    assert report.objects == (layout.object_key("md5", own.oid),)
    assert report.bytes_freed > own.size
    art = api.artifact("ds:v1")
    art.verify(art.download(skip_cache=True))
    assert commit(api, "ds", {"own": "two"}).version == "v2"


def test_copy_within_a_store_uploads_nothing(api: Api) -> None:
    commit(api, "ds", {"a": "alpha", "b": "beta"}, tags=["t"], metadata={"m": 1})
    before = count_objects(api.store)
    copy = api.copy_artifact_version("ds:v0", project="q", name="ds-copy", aliases=["first"])
    assert copy.qualified_name == "q/ds-copy:v0" and count_objects(api.store) == before
    assert copy.digest == api.artifact("ds:v0").digest
    assert copy.tags == ["t"] and copy.metadata == {"m": 1} and "first" in copy.aliases
    copy.verify(copy.download(skip_cache=True))
    again = api.copy_artifact_version("ds:v0", project="q", name="ds-copy")
    assert again.version == "v0"  # the no-op rule: same content as the target's latest


def test_copy_and_transfer_across_stores(
    api: Api, quick_store_case: StoreCase, tmp_path: Path
) -> None:
    commit(api, "ds", {"a": "alpha", "b": "beta"}, aliases=["prod"])
    other = satchel.open_store(str(tmp_path / "other-store"))
    copy = api.copy_artifact_version("ds:v0", project="q", store=other)
    assert count_objects(other) == 2
    fresh = Api(other, "q", cache_dir=str(tmp_path / "fresh-cache"))  # nothing cached
    got = fresh.artifact("ds:v0")
    got.verify(got.download())
    assert copy.digest == got.digest
    moved = api.transfer_artifact_version("ds:prod", project="q", name="moved", store=other)
    assert sorted(moved.aliases) == ["latest", "prod"]
    assert not api.artifact_exists("ds:v0")
    back = fresh.copy_artifact_version("q/moved:prod", project="p", name="back", store=api.store)
    back.verify(back.download(skip_cache=True))


def test_links_resolve_to_the_source_without_copying(api: Api) -> None:
    src = commit(api, "model", {"w": "weights"}, type="model")
    before = count_objects(api.store)
    link = src.link("registry/best-models", aliases=["production"])
    assert link.qualified_name == "registry/best-models:v0" and link.is_link
    assert link.linked_from == "p/model:v0" and link.source_artifact.digest == src.digest
    assert count_objects(api.store) == before
    got = api.artifact("registry/best-models:production")
    got.verify(got.download(skip_cache=True))
    assert src.link("registry/best-models").version == "v0"  # linking again: the same link
    got.unlink()
    assert not api.artifact_exists("registry/best-models:production")
    assert api.artifact("model:v0").digest == src.digest  # the source stays


def test_apply_is_idempotent(api: Api, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.txt").write_text("x")
    spec = {
        "name": "applied",
        "type": "dataset",
        "metadata": {"v": 1},
        "aliases": ["a"],
        "source": {"type": "local", "paths": [{"src": str(data), "dest": "d"}]},
    }
    assert api.apply(spec).action == "created"
    assert api.apply(spec).action == "unchanged"
    changed = api.apply({**spec, "metadata": {"v": 2}})
    assert changed.action == "updated" and changed.artifact.metadata == {"v": 2}
    assert api.artifact_versions("applied").total == 1


def test_lineage_of_runs(api: Api) -> None:
    with satchel.init(project="p", job_type="prep", services=api.services) as run:
        raw = satchel.Artifact("raw", "dataset", services=api.services)
        with raw.new_file("r.txt") as f:
            f.write("raw")
        run.log_artifact(raw)
    with satchel.init(project="p", job_type="train", services=api.services) as train:
        train.use_artifact("raw:latest")
        model = satchel.Artifact("model", "model", services=api.services)
        with model.new_file("w") as f:
            f.write("w")
        train.log_artifact(model)
    assert api.artifact("model").logged_by().id == train.id  # type: ignore[union-attr]
    assert [r.id for r in api.artifact("raw").used_by()] == [train.id]
    assert versions(api.artifact_versions(used_by=train.id)) == ["raw:v0"]
    assert versions(api.artifact_versions(produced_by=run.id)) == ["raw:v0"]
    assert versions(api.artifact_versions(only_unused=True)) == ["model:v0"]


_S3_COMMITTER = textwrap.dedent(
    """
    import os, sys
    import satchel

    for i in range(int(sys.argv[1])):
        art = satchel.Artifact("race", "dataset")
        with art.new_file("shared.txt") as f:
            f.write("shared")
        with art.new_file(f"own-{i}.bin", mode="xb") as f:
            f.write(os.urandom(2000 + i))
        art.save()
        print(art.version, flush=True)
        if i % 3 == 1:
            satchel.Api().artifact(f"race:{art.version}").delete()
            print("deleted", art.version, flush=True)
    """
)


def test_gc_racing_a_committing_process_on_s3(s3_bucket: Any, tmp_path: Path) -> None:
    """The local-disk version (two committers, content reuse) is in test_registry_delete_gc."""
    quick_store_case = StoreCase("s3", f"{s3_bucket.url}/team", dict(s3_bucket.storage_options))
    store = quick_store_case.open()
    api = Api(store, "p", services=quick_store_case.services(tmp_path / "cache", store))
    script = tmp_path / "committer.py"
    script.write_text(_S3_COMMITTER)
    env = dict(
        os.environ,
        SATCHEL_STORE=quick_store_case.url,
        SATCHEL_PROJECT="p",
        SATCHEL_CACHE_DIR=str(tmp_path / "committer-cache"),
        SATCHEL_STORAGE_OPTIONS=json.dumps({"s3": quick_store_case.options}),
    )
    proc = subprocess.Popen(
        [sys.executable, str(script), "7"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    runs = removed = 0
    while proc.poll() is None:
        removed += len(collect_garbage(api.store, grace="2s", force=True).objects)
        runs += 1
        time.sleep(0.1)  # leave moto some time for the committer
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert runs >= 1
    lines = out.splitlines()
    deleted = {line.split()[1] for line in lines if line.startswith("deleted")}
    committed = {line for line in lines if not line.startswith("deleted")}
    time.sleep(2.1)
    removed += len(collect_garbage(api.store, grace="2s", force=True).objects)
    assert removed == len(deleted)  # each deleted version's own object went, nothing else
    live = api.artifact_versions("race", size=100)
    assert {a.version for a in live} == committed - deleted
    for art in live:
        art.verify(art.download(str(tmp_path / "dl" / art.version), skip_cache=True))


# -- freshening: content a commit reuses survives a gc that runs meanwhile ------------------


@pytest.fixture(
    name="freshening_case",
    params=[
        pytest.param("local"),
        pytest.param("memory"),
        pytest.param("s3", marks=pytest.mark.s3),
        pytest.param("gcs", marks=pytest.mark.gcs),
        pytest.param("azure", marks=pytest.mark.azure),
    ],
)
def freshening_case_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Every store kind (``memory://`` freshens by writing the bytes again)."""
    yield from _case(request, request.param, tmp_path)


def test_touch_moves_the_modification_time_and_keeps_the_content(
    freshening_case: StoreCase,
) -> None:
    backend: Any = freshening_case.open().backend
    key = "objects/md5/ab/" + "c" * 30
    assert backend.create_if_absent(key, b"content")
    before = modified_time(backend, key)
    time.sleep(1.1)  # S3 and Azure report modification times in whole seconds
    assert backend.touch(key) is True
    after = modified_time(backend, key)
    assert before is not None and after is not None and after >= before + 1
    assert backend.read(key) == b"content"
    assert backend.touch("objects/md5/ab/" + "d" * 30) is False


def test_content_a_commit_reuses_survives_a_gc_between_its_check_and_its_commit_point(
    freshening_case: StoreCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = freshening_case.open()
    api = Api(store, "p", services=freshening_case.services(tmp_path / "cache", store))
    commit(api, "a", {"shared": "content the next commit reuses"})
    api.artifact("a:v0").delete()
    time.sleep(2.5)  # the orphaned object is now older than gc's 2 s grace period
    real = Store.missing_objects
    reports = []

    def check_then_gc(self: Store, objects: Any) -> set[tuple[str, str]]:
        missing = real(self, objects)  # finds (and freshens) the orphan: nothing to upload
        reports.append(collect_garbage(self, grace="2s", force=True))  # a gc strikes right now
        return missing

    monkeypatch.setattr(Store, "missing_objects", check_then_gc)
    commit(api, "b", {"shared": "content the next commit reuses", "own": "new"})
    assert len(reports) == 1 and reports[0].objects == ()  # the orphan was young again
    art = api.artifact("b:v0")
    art.verify(art.download(str(tmp_path / "out"), skip_cache=True))


class _TouchWhenMarking:
    """A backend that freshens ``key`` when gc, done listing, starts reading the projects."""

    def __init__(self, inner: Any, key: str) -> None:
        self._inner, self._key, self.url = inner, key, inner.url

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def list(self, prefix: str, *, hidden: bool = False) -> list[str]:
        if prefix == "projects":
            assert self._inner.touch(self._key)
        return list(self._inner.list(prefix, hidden=hidden))

    def list_detailed(self, prefix: str, **options: Any) -> Any:
        # buckets list the projects with their fingerprints
        if prefix == "projects":
            assert self._inner.touch(self._key)
        return self._inner.list_detailed(prefix, **options)


def test_gc_keeps_an_object_freshened_after_its_listing_whatever_its_clock_says(
    freshening_case: StoreCase, tmp_path: Path
) -> None:
    store = freshening_case.open()
    api = Api(store, "p", services=freshening_case.services(tmp_path / "cache", store))
    orphan = commit(api, "a", {"f": "reused by a commit that is not visible yet"})
    orphan.delete()
    key = layout.object_key("md5", orphan.get_entry("f").oid)
    time.sleep(1.1)  # the freshening below moves the time (S3 and Azure count whole seconds)
    racing = Store(_TouchWhenMarking(store.backend, key))  # type: ignore[arg-type]
    # a gc whose clock runs an hour ahead: by it, the freshened object looks old too
    report = collect_garbage(racing, grace=0, force=True, now=time.time() + 3600)
    assert key not in report.objects and store.backend.exists(key)
    assert collect_garbage(store, grace=0, force=True, now=time.time() + 3600).objects == (key,)


@pytest.mark.azure
def test_gc_never_deletes_an_object_freshened_between_its_look_and_its_delete(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Azure deletes on the condition that the blob is still the version gc looked at; a
    # freshening (Set Blob Metadata) in between makes a new ETag.
    backend: Any = next(_case(request, "azure", tmp_path)).open().backend
    key = "objects/md5/ab/" + "e" * 30
    assert backend.create_if_absent(key, b"orphan")
    cutoff = time.time() + 60  # counts as old
    real = type(backend)._adelete_if

    async def freshen_first(self: Any, path: str, token: str) -> None:
        assert await self._atouch(path)  # a committer reuses the object right now
        await real(self, path, token)

    monkeypatch.setattr(type(backend), "_adelete_if", freshen_first)
    assert backend.delete_if_old(key, cutoff) is False
    assert backend.read(key) == b"orphan"
    monkeypatch.undo()
    assert backend.delete_if_old(key, time.time() - 60) is False  # young: kept
    assert backend.delete_if_old(key, cutoff) is True
    assert not backend.exists(key)
    assert backend.delete_if_old(key, cutoff) is False  # already gone


@pytest.mark.gcs
def test_gc_deletes_on_gcs_only_the_generation_it_looked_at(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # fake-gcs-server ignores preconditions on DELETE (real GCS answers 412), so this checks
    # what can be checked here: a freshening makes a new generation, and gc's DELETE names
    # the generation it looked at.
    backend: Any = next(_case(request, "gcs", tmp_path)).open().backend
    key = "objects/md5/ab/" + "e" * 30
    assert backend.create_if_absent(key, b"orphan")
    path = backend.path(key)
    before = backend._sync(backend._astamp, path)
    assert backend.touch(key)
    after = backend._sync(backend._astamp, path)
    assert before[1] != after[1]  # a new generation
    sent: list[tuple[Any, ...]] = []
    real_call = backend.fs._call

    async def recording_call(method: str, *args: Any, **kwargs: Any) -> Any:
        sent.append((method, args, kwargs))
        return await real_call(method, *args, **kwargs)

    backend.fs._call = recording_call
    try:
        assert backend.delete_if_old(key, time.time() + 60) is True
    finally:
        del backend.fs._call
    deletes = [kw for method, _a, kw in sent if method == "DELETE"]
    assert deletes == [{"ifGenerationMatch": after[1]}]
    assert not backend.exists(key)


@pytest.mark.s3
def test_on_s3_a_reused_object_gc_deletes_just_after_its_freshening_is_sent_again(
    s3_bucket: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # S3 cannot delete conditionally (a self-copy keeps the ETag), so gc's delete can land
    # right after a commit freshened an object; the commit checks after its commit point.
    from satchel.store.s3 import S3Backend

    case = StoreCase("s3", f"{s3_bucket.url}/race", dict(s3_bucket.storage_options))
    store = case.open()
    api = Api(store, "p", services=case.services(tmp_path / "cache", store))
    shared = {"shared": "content the next commit reuses"}
    commit(api, "a", shared)
    api.artifact("a:v0").delete()
    real_touch = S3Backend.touch

    def touch_then_gc_deletes(self: Any, key: str) -> bool:
        done = real_touch(self, key)
        self.delete(key)  # gc read the old time a moment earlier; its delete lands now
        return done

    monkeypatch.setattr(S3Backend, "touch", touch_then_gc_deletes)
    commit(api, "b", {**shared, "own": "new"})
    monkeypatch.undo()
    art = api.artifact("b:v0")
    art.verify(art.download(str(tmp_path / "out"), skip_cache=True))
    assert check_store(case.open()).problems == ()  # the store itself is complete


@contextlib.contextmanager
def _copy_object_refused_as_too_large(backend: Any) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Make the S3 client answer ``CopyObject`` as S3 does for a copy source over 5 GiB (moto
    copies anything; a 5 GiB object is too big for this suite), and record every operation
    sent with its parameters. The refusal comes back through the real client stack, so
    s3fs turns it into the exception satchel sees from S3; everything else goes to moto.
    The handlers are removed on exit (s3fs shares its client between tests)."""
    backend.fs.connect()
    events = backend.fs.s3.meta.events
    sent: list[tuple[str, dict[str, Any]]] = []

    def record(model: Any, params: dict[str, Any], **_kw: Any) -> None:
        sent.append((model.name, params))

    def refuse(**_kw: Any) -> Any:
        error = {
            "Code": "InvalidRequest",
            "Message": "The specified copy source is larger "
            "than the maximum allowable size for a copy source: 5368709120",
        }
        return (
            type("Refused", (), {"status_code": 400, "headers": {}})(),
            {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}},
        )

    handlers = [("before-parameter-build.s3", record), ("before-call.s3.CopyObject", refuse)]
    for event, handler in handlers:
        events.register(event, handler)
    try:
        yield sent
    finally:
        for event, handler in handlers:
            events.unregister(event, handler)


@pytest.mark.s3
def test_on_s3_an_object_too_large_for_copy_object_is_freshened_by_a_server_side_copy_in_parts(
    s3_bucket: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from satchel.store import s3

    monkeypatch.setattr(s3, "COPY_PART", 5 << 20)  # S3's smallest part: 12 MiB makes 3 parts
    backend: Any = (
        StoreCase("s3", f"{s3_bucket.url}/big", dict(s3_bucket.storage_options)).open().backend
    )
    key = "objects/md5/ab/" + "f" * 30
    data = os.urandom(12 << 20)
    assert backend.create_if_absent(key, data)
    before = modified_time(backend, key)
    etag = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key=f"big/{key}")["ETag"]
    time.sleep(1.1)  # S3 reports modification times in whole seconds
    with _copy_object_refused_as_too_large(backend) as sent:
        assert backend.touch(key) is True
    names = [name for name, _params in sent]
    assert names == [
        "CopyObject",
        "HeadObject",
        "CreateMultipartUpload",
        "UploadPartCopy",
        "UploadPartCopy",
        "UploadPartCopy",
        "CompleteMultipartUpload",
    ]
    copies = [params for name, params in sent if name == "UploadPartCopy"]
    assert sorted(p["CopySourceRange"] for p in copies) == [
        "bytes=0-5242879",
        "bytes=10485760-12582911",
        "bytes=5242880-10485759",
    ]
    # each part copies the version looked at, or fails (moto does not check the condition)
    assert [p["CopySourceIfMatch"] for p in copies] == [etag] * 3
    after = modified_time(backend, key)
    assert before is not None and after is not None and after >= before + 1
    assert backend.read(key) == data
    head = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key=f"big/{key}")
    assert "satchel-touched" in head["Metadata"]
    assert s3_bucket.client.list_multipart_uploads(Bucket=s3_bucket.name).get("Uploads", []) == []


@pytest.mark.s3
def test_on_s3_a_too_large_object_deleted_during_its_copy_in_parts_is_reported_gone(
    s3_bucket: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from satchel.store import s3

    monkeypatch.setattr(s3, "COPY_PART", 5 << 20)
    backend: Any = (
        StoreCase("s3", f"{s3_bucket.url}/big", dict(s3_bucket.storage_options)).open().backend
    )
    key = "objects/md5/ab/" + "9" * 30
    assert backend.create_if_absent(key, os.urandom(11 << 20))

    def gc_deletes_it(**_kw: Any) -> None:  # a gc's delete lands after the look
        s3_bucket.client.delete_object(Bucket=s3_bucket.name, Key=f"big/{key}")

    with _copy_object_refused_as_too_large(backend):
        event = "before-call.s3.CreateMultipartUpload"
        backend.fs.s3.meta.events.register(event, gc_deletes_it)
        try:
            assert backend.touch(key) is False  # the committer uploads it again
        finally:
            backend.fs.s3.meta.events.unregister(event, gc_deletes_it)
    assert not backend.exists(key)
    assert s3_bucket.client.list_multipart_uploads(Bucket=s3_bucket.name).get("Uploads", []) == []
