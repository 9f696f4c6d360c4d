"""W&B-style programs, written from W&B's API reference, run with only ``import satchel as wandb``.

Each test is the kind of code a W&B user has (logging a dataset in a run, curating aliases
and tags, reading versions through the public ``Api``, linking to a registry, catching
``wandb.errors.CommError``), and asserts that it does under satchel what it does under W&B.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

import satchel as wandb
from tests.conftest import SatchelEnv, read_tree, write_tree


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_tree(
        tmp_path / "data",
        {"train/a.csv": "1,2\n", "train/b.csv": "3,4\n", "labels.json": '{"cat": 0}'},
    )


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    p = tmp_path / "model.pt"
    p.write_bytes(b"weights-v1")
    return p


# -- silent differences first --------------------------------------------------------------
def test_aliases_and_tags_lists_are_live_and_saved(data: Path) -> None:
    art = wandb.Artifact("mnist", type="dataset")
    art.add_dir(str(data))
    art.save(aliases=["old"])  # documented W&B curation code follows
    art = wandb.Api().artifact("mnist:latest")
    art.aliases.append("best")
    art.aliases.remove("old")
    art.tags.append("needs review")  # W&B allows spaces in tags
    art.tags.extend(["clean"])
    art.save()
    again = wandb.Api().artifact("mnist:v0")
    assert sorted(again.aliases) == ["best", "latest"]
    assert sorted(again.tags) == ["clean", "needs review"]
    again.tags.remove("clean")
    again.save()
    assert wandb.Api().artifact("mnist:best").tags == ["needs review"]


def test_an_invalid_alias_is_refused_when_appended_and_nothing_changes(data: Path) -> None:
    art = wandb.Artifact("mnist", type="dataset")
    art.add_dir(str(data))
    art.save()
    with pytest.raises(wandb.InvalidNameError, match="alias 'a:b' is not valid"):
        art.aliases.append("a:b")
    with pytest.raises(wandb.InvalidNameError, match="looks like a version number"):
        art.aliases += ["v7"]
    with pytest.raises(wandb.InvalidNameError, match="^tag 'x/y' is not valid"):
        art.tags.insert(0, "x/y")
    assert art.aliases == ["latest"] and art.tags == []


def test_concurrent_list_edits_keep_compare_and_swap_semantics(data: Path) -> None:
    first = wandb.Artifact("mnist", type="dataset")
    first.add_dir(str(data))
    first.save(tags=["base"])
    a = wandb.Api().artifact("mnist:v0")
    b = wandb.Api().artifact("mnist:v0")
    a.tags.append("from-a")
    a.aliases.append("a-alias")
    b.tags.append("from-b")
    b.tags.remove("base")
    a.save()
    b.save()  # b read before a saved: its edit is applied on top, a's is kept
    now = wandb.Api().artifact("mnist:v0")
    assert sorted(now.tags) == ["from-a", "from-b"]
    assert "a-alias" in now.aliases


def test_wandb_run_config_and_finish(data: Path, satchel_env: SatchelEnv) -> None:
    assert wandb.run is None
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    args = parser.parse_args([])
    run = wandb.init(
        project="vision",
        job_type="train",
        config=args,
        tags=["baseline"],
        notes="first try",
        entity="my-team",
    )
    assert wandb.run is run and run.entity == "my-team"
    assert wandb.config.lr == 0.1 and wandb.config["lr"] == 0.1
    wandb.config.epochs = 3
    wandb.config.update({"batch": 32})
    assert run.config.as_dict() == {"lr": 0.1, "epochs": 3, "batch": 32}
    wandb.finish()
    assert wandb.run is None and run.state.value == "finished"
    recorded = wandb.Api().run(f"my-team/vision/{run.id}")
    assert recorded.config == {"lr": 0.1, "epochs": 3, "batch": 32}
    assert (recorded.job_type, recorded.tags, recorded.notes) == (
        "train",
        ["baseline"],
        "first try",
    )
    assert recorded.exit_code is None


def test_artifact_save_inside_a_run_logs_it_to_the_run(data: Path) -> None:
    with wandb.init(project="vision") as run:
        art = wandb.Artifact("mnist", type="dataset")
        art.add_dir(str(data))
        art.save()  # W&B: run.log_artifact(art)
        assert art.project == "vision"
    producer = art.logged_by()
    assert producer is not None and producer.id == run.id
    assert [a.qualified_name for a in producer.logged_artifacts()] == ["vision/mnist:v0"]


def test_a_failing_run_block_records_exit_code_1(satchel_env: SatchelEnv) -> None:
    with pytest.raises(RuntimeError), wandb.init(project="p") as run:
        raise RuntimeError("boom")
    assert wandb.Api().run(f"p/{run.id}").exit_code == 1


@pytest.mark.parametrize("variable", ["WANDB_ARTIFACT_DIR", "SATCHEL_ARTIFACT_DIR"])
def test_default_download_folder_honours_the_artifact_dir_variable(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    art = wandb.Artifact("mnist", type="dataset")
    art.add_dir(str(data))
    art.save()
    monkeypatch.setenv(variable, str(tmp_path / "downloads"))
    root = wandb.Api().artifact("mnist:latest").download()
    assert root == str(tmp_path / "downloads" / "mnist-v0")
    assert read_tree(root)["labels.json"] == b'{"cat": 0}'
    checked_out = wandb.Api().artifact("mnist:v0").checkout()
    assert checked_out == str(tmp_path / "downloads" / "mnist")  # no version, as W&B's


def test_satchel_artifact_dir_wins_over_wandbs(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    art = wandb.Artifact("mnist", type="dataset")
    art.add_dir(str(data))
    art.save()
    monkeypatch.setenv("WANDB_ARTIFACT_DIR", str(tmp_path / "w"))
    monkeypatch.setenv("SATCHEL_ARTIFACT_DIR", str(tmp_path / "s"))
    assert art.download() == str(tmp_path / "s" / "mnist-v0")


# -- Api ---------------------------------------------------------------------------------
@pytest.fixture
def logged(data: Path, model_file: Path) -> dict[str, str]:
    """Two runs: one logs a dataset (v0, v1), one uses it and logs a model."""
    with wandb.init(project="vision", job_type="prep") as prep:
        ds = wandb.Artifact("mnist", type="dataset", description="digits")
        ds.add_dir(str(data))
        prep.log_artifact(ds, aliases=["first"], tags=["raw"])
        ds2 = wandb.Artifact("mnist", type="dataset")
        ds2.add_dir(str(data))
        ds2.add_file(str(model_file), name="extra.bin")
        prep.log_artifact(ds2, tags=["raw", "big"])
    with wandb.init(project="vision", job_type="train", config={"lr": 0.01}) as train:
        train.use_artifact("mnist:first")
        train.log_model(str(model_file), name="cnn", aliases=["candidate"])
    return {"prep": prep.id, "train": train.id}


def test_api_artifact_by_keyword_and_three_part_paths(logged: dict[str, str]) -> None:
    api = wandb.Api(overrides={"entity": "team", "project": "vision"})
    art = api.artifact(name="team/vision/mnist:first", type="dataset")
    assert art.version == "v0" and art.entity == "team" and art.source_entity == "team"
    assert api.artifact(name="mnist:v1").version == "v1"
    assert api.artifact("vision/mnist").version == "v1"
    assert api.artifact_exists("team/vision/cnn:candidate")
    assert not api.artifact_exists("vision/cnn:nope")
    assert api.default_entity == "team" and api.settings["project"] == "vision"


def test_api_artifacts_and_artifact_versions_list_every_version(logged: dict[str, str]) -> None:
    api = wandb.Api(overrides={"project": "vision"})
    versions = api.artifacts("dataset", "team/vision/mnist", per_page=1)
    assert [a.version for a in versions] == ["v1", "v0"] and len(versions) == 2
    assert versions.cursor == "2" and not versions.more
    assert [a.version for a in api.artifacts("dataset", "mnist", tags=["big"])] == ["v1"]
    assert [a.version for a in api.artifacts("dataset", "mnist", order="+createdAt")] == [
        "v0",
        "v1",
    ]
    rest = api.artifacts("dataset", "mnist", per_page=1, start="1")
    assert [a.version for a in rest] == ["v0"]
    assert [a.version for a in api.artifact_versions("dataset", "vision/mnist")] == ["v1", "v0"]
    assert [a.version for a in api.artifact_versions(type_name="dataset", name="mnist")] == [
        "v1",
        "v0",
    ]
    with pytest.raises(wandb.errors.CommError):
        api.artifacts("model", "mnist")  # the collection has another type


def test_api_types_collections_and_projects(logged: dict[str, str]) -> None:
    api = wandb.Api()
    types = api.artifact_types(project="vision")
    assert [t.name for t in types] == ["dataset", "model"]
    dataset = api.artifact_type("dataset", project="team/vision")
    assert dataset.name == dataset.type == "dataset"
    assert [c.name for c in dataset.collections()] == ["mnist"]
    assert dataset.collection("mnist").type == "dataset"
    cols = api.artifact_collections(project_name="vision", type_name="model")
    assert [(c.name, c.type) for c in cols] == [("cnn", "model")]
    col = api.artifact_collection("dataset", "vision/mnist")
    assert (col.name, col.type, col.description) == ("mnist", "dataset", None)
    assert sorted(col.aliases) == ["first"]
    assert [a.version for a in col.versions()] == ["v1", "v0"]
    assert api.artifact_collection_exists("vision/mnist", "dataset")
    assert not api.artifact_collection_exists("vision/mnist", "model")
    project = api.project("vision")
    assert project.name == "vision" and project.entity == api.default_entity
    assert [t.name for t in project.artifacts_types()] == ["dataset", "model"]
    assert [c.name for c in project.collections()] == ["cnn", "mnist"]
    assert [p.name for p in api.projects()] == ["vision"]


def test_collection_description_and_tags_are_saved(logged: dict[str, str]) -> None:
    api = wandb.Api(overrides={"project": "vision"})
    col = api.artifact_collection("dataset", "mnist")
    col.description = "MNIST, 28x28"
    col.tags.append("images")
    col.tags = [*col.tags, "gold"]
    col.save()
    again = api.artifact_collection("dataset", "mnist")
    assert (again.description, sorted(again.tags)) == ("MNIST, 28x28", ["gold", "images"])
    art = api.artifact("mnist:v0")
    assert art.collection.name == art.source_collection.name == "mnist"
    assert art.collection.tags == again.tags


def test_collection_delete_removes_every_version(logged: dict[str, str]) -> None:
    api = wandb.Api(overrides={"project": "vision"})
    api.artifact_collection("dataset", "mnist").delete()
    assert not api.artifact_collection_exists("mnist", "dataset")
    with pytest.raises(wandb.errors.CommError):
        api.artifact("mnist:first")


def test_api_runs_lineage_and_filters(logged: dict[str, str]) -> None:
    api = wandb.Api()
    train = api.run(f"vision/{logged['train']}")
    assert train.job_type == "train" and train.config == {"lr": 0.01}
    assert [a.name for a in train.used_artifacts()] == ["mnist:v0"]
    assert [a.name for a in train.logged_artifacts()] == ["cnn:v0"]
    assert api.run(f"some-entity/vision/runs/{logged['prep']}").id == logged["prep"]
    runs = api.runs("vision", filters={"jobType": "train"})
    assert [r.id for r in runs] == [logged["train"]]
    assert len(api.runs("vision")) == 2
    assert [r.id for r in api.runs("vision", filters={"config.lr": {"$lt": 0.1}})] == [
        logged["train"]
    ]
    both = api.runs(
        "vision", filters={"$or": [{"jobType": "train"}, {"jobType": "prep"}]}, order="-created_at"
    )
    assert [r.id for r in both] == [logged["train"], logged["prep"]]


# -- Artifact ------------------------------------------------------------------------------
def test_artifact_wandb_attributes(logged: dict[str, str], satchel_env: SatchelEnv) -> None:
    api = wandb.Api(overrides={"project": "vision"})
    art = api.artifact("mnist:v1")
    assert (art.source_version, art.source_project, art.source_name) == ("v1", "vision", "mnist:v1")
    assert art.source_qualified_name == "vision/mnist:v1"
    assert art.url.endswith("/projects/vision/artifacts/mnist/versions/1.json")
    assert art.use_as is None and art.history_step is None
    assert art.get_path("labels.json").digest == art.get_entry("labels.json").digest
    files = art.files(per_page=2)
    assert [f.name for f in files] == ["extra.bin", "labels.json", "train/a.csv", "train/b.csv"]
    assert [f.name for f in art.files(names=["labels.json"])] == ["labels.json"]
    list(files)
    assert files.cursor == "4"
    assert [f.name for f in art.files(start="3")] == ["train/b.csv"]


def test_link_on_a_draft_saves_it_first_and_link_paths_take_an_entity(
    data: Path, satchel_env: SatchelEnv
) -> None:
    draft = wandb.Artifact("model", type="model")
    draft.add_dir(str(data))
    link = draft.link("my-team/registry/best", aliases=["production"])
    assert draft.version == "v0"  # saved first
    assert link.is_link and link.collection.name == "best"
    assert link.source_collection.name == "model" and link.source_version == "v0"
    assert link.source_name == "model:v0" and link.name == "best:v0"
    assert wandb.Api().artifact("registry/best:production").digest == draft.digest


def test_run_use_artifact_of_a_draft_logs_it_then_uses_it(data: Path) -> None:
    with wandb.init(project="p") as run:
        draft = wandb.Artifact("ds", type="dataset")
        draft.add_dir(str(data))
        used = run.use_artifact(draft, aliases=["fresh"])
    assert used.version == "v0" and "fresh" in used.aliases
    assert [r.id for r in used.used_by()] == [run.id]
    logged_by = used.logged_by()
    assert logged_by is not None and logged_by.id == run.id


def test_top_level_use_and_log_artifact_go_through_the_active_run(data: Path) -> None:
    with wandb.init(project="p") as run:
        art = wandb.Artifact("ds", type="dataset")
        art.add_dir(str(data))
        wandb.log_artifact(art, aliases=["a"])
        used = wandb.use_artifact("ds:a", type="dataset")
        also = wandb.log_artifact(str(data / "labels.json"), name="labels", type="meta")
    assert run.outputs == ["p/ds:v0", "p/labels:v0"] and run.inputs == ["p/ds:v0"]
    assert used.version == "v0" and also.type == "meta"


# -- entries ---------------------------------------------------------------------------------
def test_manifest_entry_download_ref_target_ref_url_and_extra(data: Path, tmp_path: Path) -> None:
    art = wandb.Artifact("ds", type="dataset")
    art.add_dir(str(data))
    art.add_reference((data / "labels.json").as_uri(), name="ref/labels.json")
    art.save()
    art = wandb.Api().artifact("ds:latest")
    entry = art.get_entry("train/a.csv")
    assert entry.extra == {}
    path = entry.download(str(tmp_path / "one"))
    assert path == str(tmp_path / "one" / "train" / "a.csv")
    assert read_tree(tmp_path / "one") == {"train/a.csv": b"1,2\n"}
    default = entry.download()
    assert default == os.path.join(os.getcwd(), "artifacts", "ds-v0", "train", "a.csv")
    ref = art.get_entry("ref/labels.json")
    assert ref.ref_target() == (data / "labels.json").as_uri()
    url = entry.ref_url()
    assert url == "satchel-artifact://default/ds:v0/train/a.csv"
    derived = wandb.Artifact("derived", type="dataset")
    derived.add_reference(url, name="copy.csv")
    derived.add_reference(art.get_entry("labels.json"))  # W&B accepts the entry itself
    derived.save()
    out = derived.download(str(tmp_path / "derived"))
    assert read_tree(out) == {"copy.csv": b"1,2\n", "labels.json": b'{"cat": 0}'}
    assert entry.parent_artifact() is art


# -- Run --------------------------------------------------------------------------------------
def test_run_log_artifact_from_paths_and_models(
    data: Path, model_file: Path, tmp_path: Path
) -> None:
    with wandb.init(project="p", job_type="train") as run:
        folder = run.log_artifact(str(data), type="dataset", aliases=["raw"], tags=["t"])
        one = run.log_artifact(str(model_file), name="weights", type="model")
        run.log_model(str(model_file), name="cnn", aliases=["best"])
        path = run.use_model("cnn:best")
        linked = run.link_model(str(model_file), "digits", name="cnn", aliases=["prod"])
        linked_again = run.link_artifact(one, "my-team/p/registry-weights")
    assert folder.name == f"run-{run.id}-data:v0" and folder.tags == ["t"]
    assert "raw" in folder.aliases
    assert Path(path).read_bytes() == b"weights-v1" and path.endswith("model.pt")
    assert linked.is_link and linked.qualified_name == "model-registry/digits:v0"
    assert "prod" in linked.aliases and linked.source_name == "cnn:v0"
    assert linked_again.qualified_name == "p/registry-weights:v0"
    assert run.outputs == [f"p/run-{run.id}-data:v0", "p/weights:v0", "p/cnn:v0"]


def test_top_level_model_functions_use_the_active_run(model_file: Path) -> None:
    with wandb.init(project="p"):
        wandb.log_model(str(model_file), name="m")
        assert Path(wandb.use_model("m:latest")).read_bytes() == b"weights-v1"
        assert wandb.link_model(str(model_file), "reg", name="m").name == "reg:v0"


def test_init_resume_and_reinit(satchel_env: SatchelEnv) -> None:
    first = wandb.init(project="p", id="run-1", settings={"silent": True}, dir="/nowhere")
    assert wandb.init(reinit="return_previous") is first
    second = wandb.init(project="p", reinit="finish_previous")
    assert first.state.value == "finished" and wandb.run is second
    side = wandb.init(project="p", reinit="create_new")
    assert wandb.run is second and side is not second
    side.finish()
    second.finish()
    resumed = wandb.init(project="p", id="run-1", resume="must")
    assert resumed.started_at == first.started_at
    resumed.finish()
    with wandb.init(project="p", id="run-2", resume="allow") as fresh:
        assert fresh.id == "run-2"


def test_collaborative_artifacts_take_wandbs_arguments(data: Path) -> None:
    with wandb.init(project="p", group="g") as run:
        run.upsert_artifact(str(data / "train"), name="shards", type="dataset")
        final = run.finish_artifact(wandb.Artifact("shards", "dataset"), aliases=["done"])
    assert final.version == "v0" and "done" in final.aliases
    assert sorted(e.path for e in final.files()) == ["a.csv", "b.csv"]


# -- errors W&B code catches -----------------------------------------------------------------
def test_wandb_errors_catch_what_wandb_raises(data: Path) -> None:
    api = wandb.Api()
    with (
        pytest.warns(UserWarning, match="does not exist, so it holds nothing yet"),
        pytest.raises(wandb.errors.CommError, match="no artifact named 'nope'"),
    ):
        api.artifact("nope:latest")
    art = wandb.Artifact("ds", type="dataset")
    art.add_dir(str(data))
    art.save()
    try:
        api.artifact("ds:latest", type="model")
    except wandb.errors.CommError as exc:  # W&B wraps the type mismatch in CommError
        assert isinstance(exc, ValueError)
    else:  # pragma: no cover - the assertion below fails
        raise AssertionError("no error")
    draft = wandb.Artifact("x", type="dataset")
    assert getattr(draft, "version", None) is None  # ArtifactNotLoggedError: AttributeError
    with pytest.raises(AttributeError):
        art.add_file(str(data / "labels.json"))  # finalized: ArtifactFinalizedError
    with pytest.raises(wandb.errors.Error):
        wandb.Artifact("bad name", type="dataset")
    run = wandb.init(project="p")
    run.finish()
    with pytest.raises(wandb.errors.UsageError, match="is finished"):
        run.log_artifact(wandb.Artifact("y", type="dataset"))
    with pytest.raises(ValueError):  # W&B's verify raises ValueError
        art.verify(str(data / "train"))
    with pytest.raises(KeyError):
        art.get_entry("missing")
    with pytest.raises(wandb.errors.UnsupportedError, match="needs no login"):
        wandb.login()


def test_names_with_spaces(data: Path) -> None:
    art = wandb.Artifact("ds", type="dataset")
    art.add_dir(str(data))
    with pytest.raises(wandb.InvalidNameError, match="project 'my project' contains a space"):
        art.save(project="my project")
    art.save(tags=["needs review"])
    assert art.tags == ["needs review"]
    assert [a.version for a in wandb.Api().artifacts("dataset", "ds", tags=["needs review"])] == [
        "v0"
    ]


def test_wandb_project_variable_is_the_default_project(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_PROJECT", "from-wandb")
    art = wandb.Artifact("ds", type="dataset")
    art.add_dir(str(data))
    assert art.save().project == "from-wandb"
    monkeypatch.setenv("SATCHEL_PROJECT", "from-satchel")  # satchel's variable wins
    assert wandb.Api().project == "from-satchel"


def test_save_into_another_store_inside_a_run_is_not_logged_by_it(
    data: Path, tmp_path: Path
) -> None:
    other = str(tmp_path / "other-store")
    with wandb.init(project="p") as run:
        art = wandb.Artifact("ds", type="dataset")
        art.add_dir(str(data))
        art.save(store=other)  # lineage cannot point into another store
    assert run.outputs == [] and art.logged_by() is None
    assert wandb.Api(other, "default").artifact("ds:v0").digest == art.digest
