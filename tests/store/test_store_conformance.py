"""One store conformance suite, run against every store type on its real server.

Each test runs on ``local`` (a folder), ``memory`` (``memory://``), ``s3`` (moto), ``gcs``
(fake-gcs-server) and ``azure`` (Azurite); see :mod:`tests.store.conftest`. Concurrency and
crash tests use real processes (forked from one worker process), except on ``memory://``,
which exists only inside one process and therefore uses threads (and, for crashes, an
exception where a process would be killed).
"""

from __future__ import annotations

import random
import threading
from pathlib import Path

from satchel.api import Api
from satchel.fsck import check_store
from satchel.parallel import run_parallel
from satchel.store import layout
from tests.store.conftest import (
    PROJECT,
    STEPS,
    StoreCase,
    commit_files,
    crash_files,
    md5_b64,
    run_workers,
    store_case_fixture,  # noqa: F401 - provides the store_case fixture
    writer_files,
)


def _api(case: StoreCase, cache: Path) -> Api:
    services = case.services(cache)
    return Api(services.store, PROJECT, services=services)


class TestStoreConformance:
    """The behaviour every store must have, whatever filesystem is under it."""

    def test_commit_then_read_back(self, store_case: StoreCase, tmp_path: Path) -> None:
        services = store_case.services(tmp_path / "cache-a")
        files = {"a.txt": b"alpha", "dir/b.bin": bytes(range(256)) * 5000, "empty": b""}
        art = commit_files(services, "ds", files, {"k": 1})
        assert art.version == "v0"

        other = _api(store_case, tmp_path / "cache-b").artifact("ds:latest")
        root = other.download(tmp_path / "out")
        got = {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in Path(root).rglob("*")
            if p.is_file()
        }
        assert got == files
        assert other.metadata == {"k": 1}
        assert other.verify(root).verified == 3

    def test_versions_are_numbered_in_order(self, store_case: StoreCase, tmp_path: Path) -> None:
        services = store_case.services(tmp_path / "cache")
        for i in range(3):
            commit_files(services, "ds", {"f": f"{i}".encode()}, {})
        api = _api(store_case, tmp_path / "cache2")
        assert [a.version for a in api.versions("ds")] == ["v0", "v1", "v2"]
        assert api.artifact("ds:v1").get_entry("f").digest == md5_b64(b"1")

    def test_same_content_is_not_a_new_version(self, store_case: StoreCase, tmp_path: Path) -> None:
        services = store_case.services(tmp_path / "cache")
        first = commit_files(services, "ds", {"f": b"same"}, {})
        again = commit_files(services, "ds", {"f": b"same"}, {})
        assert (first.version, again.version) == ("v0", "v0")
        assert store_case.open().live_versions(PROJECT, "ds") == [0]

    def test_alias_names_one_version_and_moves(self, store_case: StoreCase, tmp_path: Path) -> None:
        services = store_case.services(tmp_path / "cache")
        commit_files(services, "ds", {"f": b"0"}, {})
        art = commit_files(services, "ds", {"f": b"1"}, {}, aliases=("best",))
        assert art.version == "v1"
        api = _api(store_case, tmp_path / "cache2")
        assert api.artifact("ds:best").version == "v1"
        v0 = api.artifact("ds:v0")
        v0.aliases = ["best"]
        v0.save()
        fresh = _api(store_case, tmp_path / "cache3")
        assert fresh.artifact("ds:best").version == "v0"
        assert "best" not in fresh.artifact("ds:v1").aliases
        assert fresh.store.aliases(PROJECT, "ds") == {"best": 0}

    def test_tags_and_description_persist(self, store_case: StoreCase, tmp_path: Path) -> None:
        services = store_case.services(tmp_path / "cache")
        commit_files(services, "ds", {"f": b"x"}, {})
        art = _api(store_case, tmp_path / "c1").artifact("ds:v0")
        art.tags = ["raw", "eu"]
        art.description = "first cut"
        art.save()
        again = _api(store_case, tmp_path / "c2").artifact("ds:v0")
        assert again.tags == ["eu", "raw"]
        assert again.description == "first cut"

    def test_create_if_absent_has_exactly_one_winner(self, store_case: StoreCase) -> None:
        backend = store_case.open().backend
        results = run_parallel(
            lambda i: backend.create_if_absent("race/key.json", f"writer {i}".encode()),
            range(8), workers=8,
        )  # fmt: skip
        assert results.count(True) == 1
        assert backend.read("race/key.json") == f"writer {results.index(True)}".encode()

    def test_replace_if_unchanged_refuses_a_stale_token(self, store_case: StoreCase) -> None:
        backend = store_case.open().backend
        assert backend.read_token("k.json") == (None, None)
        assert backend.replace_if_unchanged("k.json", b"1", None)  # None: must be absent
        assert not backend.replace_if_unchanged("k.json", b"other", None)
        data, token = backend.read_token("k.json")
        assert data == b"1"
        assert backend.replace_if_unchanged("k.json", b"2", token)
        assert not backend.replace_if_unchanged("k.json", b"3", token)
        assert backend.read("k.json") == b"2"

    def test_listing_and_bulk_existence(self, store_case: StoreCase, tmp_path: Path) -> None:
        backend = store_case.open().backend
        src = tmp_path / "obj"
        src.write_bytes(b"12345")
        keys = [f"objects/md5/{i:02x}/{'0' * 30}" for i in range(6)]
        for key in keys[:4]:
            backend.put_file(key, str(src))
        assert backend.existing(keys + keys[:2]) == set(keys[:4])
        assert sorted(backend.list("objects/md5")) == ["00", "01", "02", "03"]
        assert backend.list("nothing/here") == []
        assert sorted(backend.walk("objects")) == [(k, 5) for k in keys[:4]]
        assert backend.size(keys[0]) == 5 and backend.size(keys[5]) is None
        with backend.open(keys[0]) as f:
            assert f.read() == b"12345"
        backend.delete(keys[0])
        backend.delete(keys[0])  # absent: fine
        assert not backend.exists(keys[0])

    def test_concurrent_commits_get_gapless_unique_versions(
        self, store_case: StoreCase, tmp_path: Path
    ) -> None:
        writers, commits = 4, 10
        jobs = [("commits", [str(tmp_path / f"cache-{w}"), w, commits]) for w in range(writers)]
        results = run_workers(store_case, jobs)
        assert all(r.exit == 0 for r in results), [r.error for r in results]

        store = store_case.open()
        assert store.live_versions(PROJECT, "race") == list(range(writers * commits))
        seen = set()
        for n in range(writers * commits):
            record = store.version(PROJECT, "race", n)
            who = (record.metadata["writer"], record.metadata["commit"])
            seen.add(who)
            manifest = store.get_manifest(record.manifest)
            expected = {p: md5_b64(d) for p, d in writer_files(*who).items()}
            assert {e.path: e.digest for e in manifest} == expected, f"v{n} by {who}"
        assert seen == {(w, k) for w in range(writers) for k in range(commits)}
        # each writer's versions appear in the order it committed them
        for w in range(writers):
            mine = [
                store.version(PROJECT, "race", n).metadata["commit"]
                for n in range(40)
                if store.version(PROJECT, "race", n).metadata["writer"] == w
            ]
            assert mine == sorted(mine)

    def test_concurrent_tag_edits_and_alias_moves_lose_nothing(
        self, store_case: StoreCase, tmp_path: Path
    ) -> None:
        services = store_case.services(tmp_path / "cache")
        versions = 3
        for i in range(versions):
            commit_files(services, "edits", {"f": f"{i}".encode()}, {})
        store = store_case.open()
        store.set_alias(PROJECT, "edits", "hot", 0)
        writers, edits = 4, 3
        bad: list[object] = []
        stop = threading.Event()

        def watch() -> None:  # the shared alias must always name one valid version
            reader = store_case.open()
            while not stop.wait(0.01):
                target = reader.alias_target(PROJECT, "edits", "hot")
                if target not in range(versions):
                    bad.append(target)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            jobs = [
                ("edits", [str(tmp_path / f"c{w}"), w, edits, versions]) for w in range(writers)
            ]
            results = run_workers(store_case, jobs)
        finally:
            stop.set()
            watcher.join()
        assert all(r.exit == 0 for r in results), [r.error for r in results]
        assert bad == []

        art = _api(store_case, tmp_path / "check").artifact("edits:v0")
        assert set(art.tags) == {f"w{w}-e{k}" for w in range(writers) for k in range(edits)}
        assert art.metadata == {f"w{w}": edits - 1 for w in range(writers)}
        aliases = store.aliases(PROJECT, "edits")
        for w in range(writers):
            assert aliases[f"own-{w}"] == (w + edits - 1) % versions
        assert aliases["hot"] in {(w + edits - 1) % versions for w in range(writers)}

    def test_crash_at_any_step_leaves_no_partial_version(
        self, store_case: StoreCase, tmp_path: Path
    ) -> None:
        rng = random.Random(4)
        jobs = []
        for i in range(20):  # every named step, five times, in random places
            step = STEPS[i % len(STEPS)]
            jobs.append(("crash", [str(tmp_path / "cache"), i, step, rng.randint(1, 4), 0.0]))
        if not store_case.in_process:  # and a few kills at random moments
            for i in range(20, 22):
                jobs.append(("crash", [str(tmp_path / "cache"), i, "", 0, rng.uniform(0.02, 0.3)]))
        results = run_workers(store_case, jobs, at_once=3)
        killed = [r for r in results[:20] if r.signal is not None]
        assert len(killed) == 20, [r.error for r in results if r.signal is None]
        assert all(r.exit in (0, None) for r in results), [r.error for r in results]

        store = store_case.open()
        live = store.live_versions(PROJECT, "crash")
        assert live == list(range(len(live)))
        committed_after_record = sum(
            1 for i in range(20) if STEPS[i % len(STEPS)] == "after-record"
        )
        assert len(live) >= committed_after_record
        api = _api(store_case, tmp_path / "fresh-cache")
        for n in live:
            art = api.artifact(f"crash:v{n}")
            root = art.download(tmp_path / f"v{n}")
            assert art.verify(root).verified == len(crash_files(0))
            iteration = art.metadata["iteration"]
            for path, data in crash_files(iteration).items():
                assert (Path(root) / path).read_bytes() == data
        report = check_store(store)
        assert report.problems == ()
        assert report.versions == len(live)
        # what crashes leave behind is only unreferenced content
        assert all(k.startswith("objects/") for k, _s in report.unreferenced_objects)
        assert not any(
            k.startswith(layout.collection_folder(PROJECT, "crash"))
            for k in report.unreferenced_manifests
        )
