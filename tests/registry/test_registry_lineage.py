"""Lineage: runs record what they use and log; logged_by / used_by; the graph, its depth, text
and DOT forms; markers and run records stay consistent."""

from __future__ import annotations

import json

import pytest

import satchel
from satchel import Api, Artifact
from satchel.errors import RunFinishedError
from satchel.registry.lineage import build_graph, read_run, to_dot, to_text
from satchel.store import layout
from tests.conftest import SatchelEnv
from tests.registry.conftest import versions


def make(name: str, type_: str, content: str) -> Artifact:
    art = Artifact(name, type_)
    with art.new_file("data.txt") as f:
        f.write(content)
    return art


@pytest.fixture
def chain(satchel_env: SatchelEnv) -> dict[str, str]:
    """raw -> (prep) -> clean -> (train) -> model; (eval) uses model and clean."""
    with satchel.init(project="p", job_type="ingest", name="ingest") as ingest:
        ingest.log_artifact(make("raw", "dataset", "raw"))
    with satchel.init(project="p", job_type="prep", name="prep", config={"k": 1}) as prep:
        prep.use_artifact("raw:latest")
        prep.log_artifact(make("clean", "dataset", "clean"), aliases=["fresh"])
    with satchel.init(project="p", job_type="train", name="train") as train:
        train.use_artifact("clean:latest")
        train.log_artifact(make("model", "model", "weights"), tags=["cnn"])
    with satchel.init(project="p", job_type="eval", name="eval") as ev:
        ev.use_artifact(satchel.Api(project="p").artifact("model"))
        ev.use_artifact("clean:fresh")
    return {"ingest": ingest.id, "prep": prep.id, "train": train.id, "eval": ev.id}


@pytest.fixture
def api(satchel_env: SatchelEnv) -> Api:
    return satchel_env.api("p")


def test_runs_record_inputs_and_outputs(api: Api, chain: dict[str, str]) -> None:
    run = api.artifact("clean").logged_by()
    assert run is not None
    assert (run.id, run.name, run.job_type, run.config) == (chain["prep"], "prep", "prep", {"k": 1})
    assert run.inputs == ["p/raw:v0"] and run.outputs == ["p/clean:v0"]
    assert run.started_at and run.finished_at
    assert [r.name for r in api.artifact("clean").used_by()] == ["train", "eval"]
    assert api.artifact("model").used_by()[0].inputs == ["p/model:v0", "p/clean:v0"]
    assert api.artifact("model").tags == ["cnn"] and "fresh" in api.artifact("clean").aliases


def test_version_without_a_run_has_no_lineage(api: Api, chain: dict[str, str]) -> None:
    make("plain", "dataset", "x").save("p")
    assert api.artifact("plain").logged_by() is None and api.artifact("plain").used_by() == []
    assert "no recorded lineage" in to_text(build_graph(api.store, api._record("plain")))


def test_filters_by_lineage(api: Api, chain: dict[str, str]) -> None:
    assert versions(api.artifact_versions(produced_by=chain["train"])) == ["model:v0"]
    assert versions(api.artifact_versions(used_by=chain["eval"], sort_by="name")) == [
        "clean:v0",
        "model:v0",
    ]
    assert versions(api.artifact_versions(used_by=f"p/{chain['prep']}")) == ["raw:v0"]
    assert api.artifact_versions(used_by="unknown-run").total == 0
    make("plain", "dataset", "x").save("p")
    assert versions(api.artifact_versions(only_unused=True)) == ["plain:v0"]


def test_graph_depth(api: Api, chain: dict[str, str]) -> None:
    one = build_graph(api.store, api._record("clean"), depth=1)
    assert set(one.artifacts) == {"p/clean:v0", "p/raw:v0", "p/model:v0"}
    assert set(one.runs) == {f"p/{chain[k]}" for k in ("prep", "train", "eval")}
    assert (f"p/{chain['prep']}", "p/clean:v0") in one.edges
    assert ("p/clean:v0", f"p/{chain['train']}") in one.edges
    two = build_graph(api.store, api._record("clean"), depth=2)
    assert f"p/{chain['ingest']}" in two.runs  # the producer of raw, two hops up
    with pytest.raises(ValueError, match=r"depth must be at least 1, got 0"):
        build_graph(api.store, api._record("clean"), depth=0)


def test_dot_and_text_output(api: Api, chain: dict[str, str]) -> None:
    graph = build_graph(api.store, api._record("clean"))
    dot = to_dot(graph)
    assert dot.startswith("digraph lineage {") and dot.rstrip().endswith("}")
    assert '"p/clean:v0" [shape=box, label="p/clean:v0\\n(dataset)", style=bold];' in dot
    assert f'"p/{chain["prep"]}" -> "p/clean:v0";' in dot
    assert '[shape=ellipse, label="train\\n[train]"];' in dot
    text = to_text(graph)
    assert f"logged by run p/{chain['prep']} 'prep' [prep]" in text
    assert "which used p/raw:v0" in text and "which logged p/model:v0" in text
    assert json.loads(json.dumps(graph.to_dict()))["root"] == "p/clean:v0"


def test_run_record_and_markers_in_the_store(
    api: Api, chain: dict[str, str], satchel_env: SatchelEnv
) -> None:
    assert (satchel_env.store / layout.run_key("p", chain["prep"])).exists()
    assert (satchel_env.store / layout.usage_key("p", "raw", 0, "p", chain["prep"])).exists()
    assert api.artifact("clean")._record.run_id == chain["prep"]


def test_a_marker_without_its_run_entry_is_ignored_by_used_by(
    api: Api, satchel_env: SatchelEnv
) -> None:
    """A crash between the marker and the run-record update: used_by() ignores the marker,
    only_unused counts it as a use (the safe side for clean-ups)."""
    make("raw", "dataset", "raw").save("p")
    with satchel.init(project="p", name="crashy") as run:
        pass
    api.store.backend.create_if_absent(
        layout.usage_key("p", "raw", 0, "p", run.id), b'{"run": "p/x", "at": "now"}'
    )
    assert api.artifact("raw").used_by() == []
    assert api.artifact_versions(only_unused=True).total == 0


def test_resumed_run_keeps_its_lineage(api: Api) -> None:
    make("raw", "dataset", "raw").save("p")
    with satchel.init(project="p", id="run-1") as run:
        run.use_artifact("raw")
    with satchel.init(project="p", id="run-1") as again:
        assert again.inputs == ["p/raw:v0"]
        again.log_artifact(make("out", "dataset", "o"))
    record = read_run(api.store, "p", "run-1")
    assert record is not None and record.inputs == ["p/raw:v0"]
    assert record.outputs == ["p/out:v0"] and record.finished_at is not None


def test_logging_a_committed_version_records_it_as_an_output(api: Api) -> None:
    make("raw", "dataset", "raw").save("p")
    with satchel.init(project="p") as run:
        run.log_artifact(api.artifact("raw"), aliases=["seen"])
    assert run.outputs == ["p/raw:v0"] and "seen" in api.artifact("raw").aliases
    assert api.artifact("raw").logged_by() is None  # it was produced outside any run


def test_lineage_misuse_errors(api: Api) -> None:
    run = satchel.init(project="p")
    used = run.use_artifact(make("draft", "dataset", "d"))  # W&B: a draft is logged, then used
    assert used.version == "v0" and run.inputs == run.outputs == ["p/draft:v0"]
    run.finish()
    with pytest.raises(RunFinishedError, match=r"use_artifact needs a running run"):
        run.use_artifact("anything")
    with pytest.raises(RunFinishedError, match=r"log_artifact needs a running run"):
        run.log_artifact(make("late", "dataset", "l"))


def test_config_that_json_cannot_hold_is_recorded_as_text(api: Api) -> None:
    with satchel.init(project="p", config={"path": object, "n": 1}) as run:
        pass
    record = read_run(api.store, "p", run.id)
    assert record is not None and record.config["n"] == 1
    assert record.config["path"] == str(object)


def test_run_whose_record_vanished_says_so(api: Api, satchel_env: SatchelEnv) -> None:
    from satchel.errors import StoreError

    run = satchel.init(project="p")
    (satchel_env.store / layout.run_key("p", run.id)).unlink()
    with pytest.raises(
        StoreError,
        match=rf"run p/{run.id} has no record in .* \(deleted by "
        r"hand\?\); start a new run with satchel.init\(\)",
    ):
        run.finish()
