"""Collaborative versions: runs upsert parts, one finish commits their union.

Multi-run tests upsert from real processes at the same time (threads on ``memory://``), on
every store type; the merge rules are checked on local disk, ``memory://`` and S3.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import satchel
from satchel.errors import (
    ArtifactStateError,
    ArtifactTypeMismatchError,
    ConfigError,
    PartConflictError,
    RunFinishedError,
)
from satchel.runs import RunState
from satchel.services import Services
from satchel.store import layout
from tests.store.conftest import (
    PROJECT,
    KillSwitch,
    SimulatedCrash,
    StoreCase,
    md5_b64,
    quick_store_case_fixture,  # noqa: F401 - provides the quick_store_case fixture
    run_workers,
    store_case_fixture,  # noqa: F401 - provides the store_case fixture
)


def _draft(services: Services, files: dict[str, str], name: str = "collab") -> satchel.Artifact:
    art = satchel.Artifact(name, "dataset", services=services)
    for path, text in files.items():
        with art.new_file(path, mode="w") as f:
            f.write(text)
    return art


def _contents(art: satchel.Artifact) -> dict[str, str]:
    return {e.path: e.digest for e in art.manifest}


def _pending(case: StoreCase, group: str) -> list[str]:
    return case.open().backend.list(layout.pending_folder(PROJECT, "collab", group))


class TestRun:
    def test_init_gives_a_running_run_with_its_fields(self, tmp_path: Path) -> None:
        run = satchel.init(
            project="proj", group="g", job_type="train", name="first", config={"lr": 0.1},
            store=str(tmp_path / "store"),
        )  # fmt: skip
        assert (run.project, run.group, run.job_type, run.name) == ("proj", "g", "train", "first")
        assert run.config == {"lr": 0.1}
        assert len(run.id) == 12 and run.state is RunState.RUNNING
        assert run.started_at.endswith("Z") and run.finished_at is None

    def test_context_manager_finishes_the_run(self, tmp_path: Path) -> None:
        with satchel.init(group="g", store=str(tmp_path / "store")) as run:
            assert run.state is RunState.RUNNING
        assert run.state is RunState.FINISHED and run.finished_at is not None

    def test_a_finished_run_refuses_upserts(self, tmp_path: Path) -> None:
        run = satchel.init(group="g", name="done", store=str(tmp_path / "store"))
        run.finish()
        run.finish()  # twice is fine
        with pytest.raises(RunFinishedError, match="run done is finished; upsert_artifact needs"):
            run.upsert_artifact(satchel.Artifact("x", "dataset"))

    def test_upsert_needs_a_distributed_id_or_a_group(self, tmp_path: Path) -> None:
        run = satchel.init(store=str(tmp_path / "store"))
        with pytest.raises(
            ConfigError, match=r"needs a distributed_id: pass distributed_id=\.\.\."
        ):
            run.upsert_artifact(satchel.Artifact("x", "dataset"))

    def test_init_rejects_a_bad_group(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="group 'a/b' is not valid"):
            satchel.init(group="a/b", store=str(tmp_path / "store"))


class TestCollaborativeVersions:
    def test_parts_upserted_at_once_finish_as_one_version(
        self, store_case: StoreCase, tmp_path: Path
    ) -> None:
        workers = 4
        jobs = [
            ("upsert", [str(tmp_path / f"c{w}"), f"worker-{w}", "epoch-1",
                        {f"shard-{w}.txt": f"rows of worker {w}", "schema.json": '{"v": 1}'}])
            for w in range(workers)
        ]  # fmt: skip
        results = run_workers(store_case, jobs)
        assert all(r.exit == 0 for r in results), [r.error for r in results]
        assert len(_pending(store_case, "epoch-1")) == workers

        services = store_case.services(tmp_path / "finisher")
        with satchel.init(
            project=PROJECT, group="epoch-1", name="finisher", services=services
        ) as run:
            final = run.finish_artifact(_draft(services, {"README": "merged"}, "collab"))
        assert final.version == "v0"
        expected = {
            f"shard-{w}.txt": md5_b64(f"rows of worker {w}".encode()) for w in range(workers)
        }
        expected |= {"schema.json": md5_b64(b'{"v": 1}'), "README": md5_b64(b"merged")}
        assert _contents(final) == expected
        record = store_case.open().version(PROJECT, "collab", 0)
        assert record.distributed_id == "epoch-1" and record.run_id == run.id
        assert _pending(store_case, "epoch-1") == []

        # the merged version downloads like any other
        got = satchel.Api(store_case.open(), PROJECT, services=store_case.services(tmp_path / "r"))
        root = got.artifact("collab:latest").download(tmp_path / "out")
        assert (Path(root) / "shard-2.txt").read_text() == "rows of worker 2"

    def test_same_path_with_different_content_fails_and_commits_nothing(
        self, store_case: StoreCase, tmp_path: Path
    ) -> None:
        jobs = [
            ("upsert", [str(tmp_path / "c0"), "alice", "g", {"labels.csv": "a,b", "a.txt": "a"}]),
            ("upsert", [str(tmp_path / "c1"), "bob", "g", {"labels.csv": "a,c", "b.txt": "b"}]),
        ]
        results = run_workers(store_case, jobs)
        assert all(r.exit == 0 for r in results), [r.error for r in results]
        services = store_case.services(tmp_path / "f")
        run = satchel.init(project=PROJECT, group="g", name="carol", services=services)
        art = _draft(services, {})
        with pytest.raises(PartConflictError) as info:
            run.finish_artifact(art)
        message = str(info.value)
        assert "'labels.csv' was upserted with different content by run " in message
        assert "run alice (" in message and "run bob (" in message
        assert "nothing was committed" in message
        assert info.value.path == "labels.csv"
        assert sorted(r.split(" (")[0] for r in info.value.runs) == ["run alice", "run bob"]
        assert store_case.open().live_versions(PROJECT, "collab") == []
        assert art.is_draft()
        assert len(_pending(store_case, "g")) == 3  # alice, bob and carol's own (empty) part

    def test_a_later_upsert_from_the_same_run_wins(
        self, quick_store_case: StoreCase, tmp_path: Path
    ) -> None:
        services = quick_store_case.services(tmp_path / "c")
        run = satchel.init(project=PROJECT, group="g", services=services)
        art = _draft(services, {"model.bin": "draft"})
        run.upsert_artifact(art)
        art2 = _draft(services, {"model.bin": "final", "eval.txt": "ok"})
        run.upsert_artifact(art2)
        final = run.finish_artifact(_draft(services, {}))
        assert _contents(final) == {"model.bin": md5_b64(b"final"), "eval.txt": md5_b64(b"ok")}

    def test_upserts_after_finish_start_a_new_version(
        self, quick_store_case: StoreCase, tmp_path: Path
    ) -> None:
        services = quick_store_case.services(tmp_path / "c")
        run = satchel.init(project=PROJECT, group="g", services=services)
        run.upsert_artifact(_draft(services, {"a.txt": "1"}))
        first = run.finish_artifact(_draft(services, {}))
        run.upsert_artifact(_draft(services, {"b.txt": "2"}))
        second = run.finish_artifact(_draft(services, {}))
        assert (first.version, second.version) == ("v0", "v1")
        assert _contents(second) == {"b.txt": md5_b64(b"2")}

    def test_explicit_distributed_id_overrides_the_group(
        self, quick_store_case: StoreCase, tmp_path: Path
    ) -> None:
        services = quick_store_case.services(tmp_path / "c")
        run = satchel.init(project=PROJECT, group="g", services=services)
        run.upsert_artifact(_draft(services, {"x": "1"}), distributed_id="other")
        run.upsert_artifact(_draft(services, {"y": "2"}))
        done = run.finish_artifact(_draft(services, {}), distributed_id="other")
        assert set(_contents(done)) == {"x"}
        assert len(_pending(quick_store_case, "g")) == 1

    def test_finish_commits_the_artifact_object(
        self, quick_store_case: StoreCase, tmp_path: Path
    ) -> None:
        services = quick_store_case.services(tmp_path / "c")
        run = satchel.init(project=PROJECT, group="g", services=services)
        art = _draft(services, {"x": "1"})
        art.description = "together"
        art.metadata = {"epochs": 3}
        out = run.finish_artifact(art)
        assert out is art and not art.is_draft() and art.version == "v0"
        assert art.description == "together" and art.metadata == {"epochs": 3}
        with pytest.raises(ArtifactStateError, match="upsert_artifact needs a draft"):
            run.upsert_artifact(art)

    def test_a_part_of_another_type_is_refused(
        self, quick_store_case: StoreCase, tmp_path: Path
    ) -> None:
        services = quick_store_case.services(tmp_path / "c")
        run = satchel.init(project=PROJECT, group="g", services=services)
        run.upsert_artifact(_draft(services, {"x": "1"}))
        model = satchel.Artifact("collab", "model", services=services)
        with pytest.raises(ArtifactTypeMismatchError, match="has type 'dataset', not 'model'"):
            run.finish_artifact(model)

    def test_parts_left_by_a_crashed_finish_are_not_committed_twice(
        self, quick_store_case: StoreCase, tmp_path: Path
    ) -> None:
        services = quick_store_case.services(tmp_path / "c")
        run = satchel.init(project=PROJECT, group="g", name="r1", services=services)
        run.upsert_artifact(_draft(services, {"a.txt": "1"}))

        class NoCleanup(KillSwitch):  # dies when the finish starts deleting merged parts
            def delete(self, key: str) -> None:
                if "/pending/" not in key:  # a lease released: not the clean-up yet
                    return super().__getattr__("delete")(key)  # type: ignore[no-any-return]
                raise SimulatedCrash(key)

        crashing = quick_store_case.open(lambda b: NoCleanup(b, "none", hard=False))  # type: ignore[arg-type,return-value]
        crash_services = quick_store_case.services(tmp_path / "c", crashing)
        crash_run = satchel.init(project=PROJECT, group="g", name="r2", services=crash_services)
        with pytest.raises(SimulatedCrash):
            crash_run.finish_artifact(_draft(crash_services, {"b.txt": "2"}))
        assert quick_store_case.open().live_versions(PROJECT, "collab") == [0]
        assert len(_pending(quick_store_case, "g")) == 2  # both merged parts are still there

        run.upsert_artifact(_draft(services, {"c.txt": "3"}))
        again = run.finish_artifact(_draft(services, {}))
        assert again.version == "v1"
        assert _contents(again) == {"c.txt": md5_b64(b"3")}
        assert _pending(quick_store_case, "g") == []
