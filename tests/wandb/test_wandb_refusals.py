"""What a program written for W&B gets where satchel deliberately differs: every refusal is a
typed error whose message says what to do, and each message is checked here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import satchel as wandb
from satchel import Manifest, ManifestEntry, errors
from satchel.results import Results
from satchel.runs import RunConfig
from tests.conftest import SatchelEnv, write_tree


@pytest.fixture
def saved(tmp_path: Path) -> wandb.Artifact:
    art = wandb.Artifact("ds", type="dataset")
    art.add_dir(str(write_tree(tmp_path / "d", {"a.txt": "a", "b/c.txt": "c"})))
    return art.save()


# -- names satchel does not offer -------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("login", "satchel has no server and needs no login; remove the call"),
        (
            "log",
            (
                "satchel versions artifacts; it records no metrics, media or charts; log values "
                "as artifact metadata"
            ),
        ),
        ("Table", "store the object's bytes with artifact.add(obj, name) or add_file"),
        ("Settings", "satchel has no client settings; init(settings=...) is accepted and ignored"),
        ("ArtifactTTL", "set artifact.ttl to a datetime.timedelta (or None: keep for ever)"),
    ],
)
def test_wandb_names_satchel_lacks_say_why(name: str, hint: str) -> None:
    with pytest.raises(
        errors.NotInSatchelError,
        match=rf"^satchel has no '{name}' \(W&B's wandb\.{name}\): .*" + re.escape(hint),
    ):
        getattr(wandb, name)
    assert not hasattr(wandb, name)  # an AttributeError: hasattr keeps working


def test_unknown_names_are_plain_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="^module 'satchel' has no attribute 'nothing'$"):
        wandb.nothing  # noqa: B018


# -- init ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"mode": "disabled"},
            (
                "mode='disabled' is not available in satchel: a run always records "
                "its artifacts in the store (there is no server to switch off or "
                "share); leave mode unset"
            ),
        ),
        (
            {"resume_from": "r?_step=3"},
            (
                "resume_from and fork_from rewind or fork a run's metric "
                "history, which satchel does not keep; start the run with "
                "resume='allow' and an id instead"
            ),
        ),
        (
            {"save_code": True, "monitor_gym": True},
            (
                "save_code, monitor_gym asks for a W&B service "
                "satchel does not have (it versions artifacts, "
                "not code, metrics or media); remove the "
                "argument"
            ),
        ),
        (
            {"config": "config.yaml"},
            (
                "config='config.yaml': satchel does not read config files; "
                "load the file and pass the dict"
            ),
        ),
        (
            {"config": 3},
            (
                "config must be a dict or an argparse.Namespace, got int; satchel does not "
                "read config files (load it yourself and pass the dict)"
            ),
        ),
    ],
)
def test_init_refuses_what_needs_a_wandb_service(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(errors.UnsupportedError, match=f"^{re.escape(message)}$"):
        wandb.init(**kwargs)  # type: ignore[arg-type]
    assert wandb.run is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"resume": "sometimes"},
            (
                "resume must be one of (False, True, 'allow', 'never', 'must', "
                "'auto') or None, got 'sometimes'"
            ),
        ),
        (
            {"reinit": "again"},
            (
                "reinit must be one of (False, True, 'default', 'return_previous', "
                "'finish_previous', 'create_new') or None, got 'again'"
            ),
        ),
    ],
)
def test_init_refuses_unknown_resume_and_reinit(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(errors.ConfigError, match=f"^{re.escape(message)}$"):
        wandb.init(**kwargs)  # type: ignore[arg-type]


def test_resume_must_and_never(satchel_env: SatchelEnv) -> None:
    store = satchel_env.open_store().url
    with pytest.raises(
        errors.ResumeError,
        match=re.escape(
            f"resume='must' but run p/r1 does not exist in {store}; check the id, or use "
            "resume='allow'"
        ),
    ):
        wandb.init(project="p", id="r1", resume="must")
    wandb.init(project="p", id="r1").finish()
    with pytest.raises(
        errors.ResumeError,
        match=re.escape(
            f"resume='never' but run p/r1 already exists in {store}; choose another id, or use "
            "resume='allow'"
        ),
    ):
        wandb.init(project="p", id="r1", resume="never")


def test_config_and_model_calls_need_a_run(tmp_path: Path) -> None:
    assert repr(wandb.config) == "<satchel.config: no active run; call satchel.init() first>"
    with pytest.raises(
        errors.NoActiveRunError,
        match=r"^satchel\.config\.lr needs an active run; call satchel\.init\(\) "
        r"first$",
    ):
        wandb.config.lr  # noqa: B018
    with pytest.raises(errors.NoActiveRunError, match=r"^satchel\.config\['lr'\] needs"):
        wandb.config["lr"]
    with pytest.raises(errors.NoActiveRunError, match=r"^satchel\.config\['lr'\] = \.\.\. needs"):
        wandb.config["lr"] = 1
    with pytest.raises(errors.NoActiveRunError, match="^log_model needs an active run"):
        wandb.log_model(str(tmp_path))
    with pytest.raises(errors.NoActiveRunError, match="^use_model needs an active run"):
        wandb.use_model("m:latest")
    with pytest.raises(errors.NoActiveRunError, match="^link_model needs an active run"):
        wandb.link_model(str(tmp_path), "reg")
    with pytest.raises(errors.NoActiveRunError, match=r"^log_artifact\(path\) needs an active"):
        wandb.log_artifact(str(tmp_path))


def test_run_config_missing_keys() -> None:
    config = RunConfig({"lr": 1})
    with pytest.raises(
        errors.RunConfigKeyError,
        match=r"^the run's config has no key 'epochs'; set it first "
        r"\(config\.epochs = \.\.\.\)$",
    ):
        config.epochs  # noqa: B018
    with pytest.raises(
        errors.RunConfigKeyError, match="^the run's config has no key 'epochs' to delete$"
    ):
        del config.epochs
    assert getattr(config, "epochs", None) is None  # an AttributeError, as W&B's config


# -- Run -----------------------------------------------------------------------------------------
def test_run_refusals(tmp_path: Path, saved: wandb.Artifact) -> None:
    with wandb.init(project="p") as run:
        missing = tmp_path / "nope"
        with pytest.raises(
            errors.SourceFileNotFoundError,
            match=re.escape(
                f"{missing} is neither a file, a folder nor a URI (like s3://bucket/path); check "
                "the path"
            ),
        ):
            run.log_artifact(str(missing))
        with pytest.raises(
            errors.DistributedIdMissingError,
            match=re.escape(
                "upsert_artifact needs a distributed_id: pass distributed_id=... or start the run "
                "with satchel.init(group=...)"
            ),
        ):
            run.upsert_artifact(wandb.Artifact("x", "dataset"))
        assert issubclass(errors.DistributedIdMissingError, TypeError)  # as W&B raises
        with pytest.raises(
            errors.UnsupportedError,
            match=re.escape(
                "upsert_artifact cannot set aliases in satchel (a part is not a version yet); "
                "pass them to finish_artifact"
            ),
        ):
            run.upsert_artifact(
                wandb.Artifact("x", "dataset"), aliases=["best"], distributed_id="d"
            )
        with pytest.raises(
            errors.InvalidNameError,
            match=re.escape(
                "registered model name 'team/reg' has a '/'; give only the name (it is linked "
                "into the project 'model-registry')"
            ),
        ):
            run.link_model(str(tmp_path), "team/reg")
        with pytest.raises(
            errors.NotAModelError,
            match=re.escape(
                "artifact ds:v0 has type 'dataset'; use_model and link_model need an artifact "
                "whose type contains 'model' (use use_artifact for others)"
            ),
        ):
            run.use_model("default/ds:v0")
        assert issubclass(errors.NotAModelError, AssertionError)  # as W&B raises


# -- Api -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"api_key": "x" * 40},
            (
                "Api(api_key=...): satchel has no server and no login; remove "
                "api_key (a bucket's credentials come from "
                "satchel.configure(storage_options=...) or the environment)"
            ),
        ),
        (
            {"overrides": {"base_url": "https://api.wandb.ai"}},
            (
                "Api(overrides={'base_url': 'https://api.wandb.ai'}): satchel has no server; point it at "
                "a store instead (Api(store=...) or SATCHEL_STORE)"
            ),
        ),
        (
            {"overrides": {"proxy": "x"}},
            (
                "Api(overrides=...) keys ['proxy'] mean nothing without a "
                "W&B server; satchel understands project and entity (run "
                "and organization are ignored)"
            ),
        ),
    ],
)
def test_api_refuses_server_settings(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(errors.UnsupportedError, match=f"^{re.escape(message)}$"):
        wandb.Api(**kwargs)  # type: ignore[arg-type]


def test_api_accepts_overrides_positionally() -> None:
    api = wandb.Api({"project": "vision", "entity": "team", "run": "x"})
    assert api.project == "vision" and api.default_entity == "team"


def test_api_path_and_query_refusals(saved: wandb.Artifact, satchel_env: SatchelEnv) -> None:
    api = wandb.Api()
    store = satchel_env.open_store().url
    cases: list[tuple[object, type[Exception], str]] = [
        (
            lambda: api.artifacts("dataset", "a/b/c/d"),
            errors.InvalidNameError,
            (
                "artifact collection path 'a/b/c/d' is not 'name', 'project/name' or "
                "'entity/project/name'"
            ),
        ),
        (
            lambda: api.artifacts("dataset", "ds", order="size"),
            errors.InvalidQueryError,
            (
                "order 'size' is not supported; use createdAt, updatedAt or versionIndex, with '+' "
                "or '-'"
            ),
        ),
        (
            lambda: api.artifacts("dataset", "ds", per_page=0),
            errors.InvalidQueryError,
            "per_page must be a positive int, got 0",
        ),
        (
            lambda: api.artifacts("dataset", "ds", start="later"),
            errors.InvalidQueryError,
            "start='later' is not a cursor; pass the .cursor of an earlier result",
        ),
        (
            lambda: api.artifact_collections(project_name="a/b/c"),
            errors.InvalidNameError,
            "project path 'a/b/c' is not 'project' or 'entity/project'",
        ),
        (
            lambda: api.artifact_collections(order="size"),
            errors.InvalidQueryError,
            "order 'size' is not supported; use name or createdAt, with '+' or '-'",
        ),
        (
            lambda: api.artifact_type("model"),
            errors.ArtifactNotFoundError,
            (
                f"no artifact of type 'model' in project 'default' of store {store}; see "
                "'satchel ls --types'"
            ),
        ),
        (
            lambda: api.artifact_collection("model", "ds"),
            errors.ArtifactNotFoundError,
            "artifact collection default/ds has type 'dataset', not 'model'",
        ),
        (
            lambda: api.artifact_collection("dataset", "nope"),
            errors.ArtifactNotFoundError,
            (
                f"no artifact collection default/nope (with a live version) in store {store}; see "
                "'satchel ls --collections'"
            ),
        ),
        (
            lambda: api.artifact_versions("dataset", "ds", 10, name="ds"),
            errors.InvalidQueryError,
            (
                "artifact_versions takes W&B's (type_name, name) or satchel's (name, **filters); give "
                "both type_name and name, or only satchel's arguments"
            ),
        ),
        (
            lambda: api.artifact_versions("ds", None, 10),
            errors.InvalidQueryError,
            (
                "per_page is W&B's artifact_versions(type_name, name, per_page); satchel's filtered "
                "form pages with page= and size="
            ),
        ),
        (
            lambda: api.artifact_versions("ds", name="ds"),
            errors.InvalidQueryError,
            "artifact_versions got the collection twice ('ds' and name='ds')",
        ),
        (
            lambda: api.run("a/b/c/d/e"),
            errors.InvalidNameError,
            "run path 'a/b/c/d/e' is not 'run_id', 'project/run_id' or 'entity/project/run_id'",
        ),
        (
            lambda: api.run("p/nope"),
            errors.ArtifactNotFoundError,
            f"no run p/nope in store {store}; check the id and project",
        ),
        (
            lambda: api.project("my project"),
            errors.InvalidNameError,
            "project 'my project' contains a space",
        ),
    ]
    for call, kind, message in cases:
        with pytest.raises(kind, match=f"^{re.escape(message)}"):
            call()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (
            {"summary_metrics.loss": 1},
            (
                "run filter field 'summary_metrics.loss' is not supported; "
                "use name, display_name, job_type, group, state, tags, "
                "created_at or config.<key>"
            ),
        ),
        (
            {"group": {"$near": 1}},
            (
                "run filter operator '$near' is not supported; use $eq, $ne, "
                "$in, $nin, $exists, $regex, $gt, $gte, $lt, $lte"
            ),
        ),
        ({"group": {"$in": "g"}}, "$in needs a list, got 'g'"),
        ({"$or": {"group": "g"}}, "$or needs a list of filters, got {'group': 'g'}"),
    ],
)
def test_run_filters_refuse_what_they_cannot_answer(
    filters: dict[str, object], message: str
) -> None:
    wandb.init(project="p", group="g").finish()
    with pytest.raises(errors.InvalidQueryError, match=f"^{re.escape(message)}$"):
        wandb.Api().runs("p", filters=filters)


def test_run_filter_and_order_refusals() -> None:
    wandb.init(project="p").finish()
    with pytest.raises(errors.InvalidQueryError, match=r"^run filters must be a dict, got list$"):
        wandb.Api().runs("p", filters=[{"group": "g"}])  # type: ignore[arg-type]
    with pytest.raises(
        errors.InvalidQueryError,
        match=re.escape(
            "run order '+heartbeat_at' is not supported; use created_at or name, with '+' or '-'"
        ),
    ):
        wandb.Api().runs("p", order="+heartbeat_at")


def test_run_filter_operators(satchel_env: SatchelEnv) -> None:
    for i, group in enumerate(["a", "b", None]):
        wandb.init(project="p", id=f"r{i}", group=group, config={"n": i}, tags=["t"] * i).finish()
    api = wandb.Api()

    def ids(filters: dict[str, object]) -> list[str]:
        return [r.id for r in api.runs("p", filters=filters)]

    assert ids({"group": {"$in": ["a", "b"]}}) == ["r0", "r1"]
    assert ids({"group": {"$nin": ["a"]}}) == ["r1", "r2"]
    assert ids({"group": {"$exists": False}}) == ["r2"]
    assert ids({"group": {"$ne": "a"}, "config.n.value": {"$gte": 1}}) == ["r1", "r2"]
    assert ids({"display_name": {"$regex": "^r[12]$"}}) == ["r1", "r2"]
    assert ids({"tags": "t"}) == ["r1", "r2"]
    assert ids({"$nor": [{"group": "a"}, {"group": "b"}]}) == ["r2"]
    assert ids({"$and": [{"state": "finished"}, {"config.n": {"$lt": 1}}]}) == ["r0"]
    assert ids({"config.missing": {"$gt": 0}}) == []


def test_collection_and_type_refusals(saved: wandb.Artifact, satchel_env: SatchelEnv) -> None:
    api = wandb.Api()
    col = api.artifact_collection("dataset", "ds")
    with pytest.raises(
        errors.UnsupportedError,
        match=re.escape(
            "the type of artifact collection default/ds cannot change in satchel (every version "
            "records 'dataset'); copy the versions into a new artifact of the new type instead"
        ),
    ):
        col.change_type("model")
    col.type = "model"
    with pytest.raises(errors.UnsupportedError, match="cannot change in satchel"):
        col.save()
    with pytest.raises(
        errors.UnsupportedError,
        match=re.escape(
            "artifact collection default/ds cannot be renamed in satchel; move each version with "
            "Api.transfer_artifact_version(ref, project=..., name=...)"
        ),
    ):
        col.name = "other"
    with pytest.raises(errors.InvalidNameError, match="^tag 'a/b' is not valid"):
        col.tags = ["a/b"]
    t = api.artifact_type("dataset")
    with pytest.raises(
        errors.InvalidQueryError,
        match=re.escape(
            "collection filters {'name': 'ds'} are not supported; filter the list in Python "
            "(versions have Api.artifact_versions(...) filters)"
        ),
    ):
        t.collections(filters={"name": "ds"})
    fresh = api.artifact_collection("dataset", "ds")
    fresh.delete()
    with pytest.raises(
        errors.ArtifactNotFoundError,
        match=re.escape(
            f"artifact collection default/ds no longer exists in {satchel_env.open_store().url}"
        ),
    ):
        _vanished(satchel_env, fresh).save()


def _vanished(env: SatchelEnv, col: wandb.ArtifactCollection) -> wandb.ArtifactCollection:
    import shutil

    shutil.rmtree(env.store / "projects" / "default" / "artifacts" / "ds")
    return col


# -- Artifact, entries, manifests ---------------------------------------------------------------
def test_artifact_refusals(saved: wandb.Artifact) -> None:
    with pytest.raises(
        errors.UnsupportedError,
        match=re.escape(
            "storage_region='coreweave-us': satchel stores bytes where its store is (choose a "
            "bucket in that region with SATCHEL_STORE); leave it unset"
        ),
    ):
        wandb.Artifact("x", "dataset", storage_region="coreweave-us")
    with pytest.raises(
        errors.NotAReferenceError,
        match=re.escape(
            "entry 'a.txt' is stored in the artifact, not a reference; only reference entries "
            "have a ref_target()"
        ),
    ):
        saved.get_entry("a.txt").ref_target()
    assert issubclass(errors.NotAReferenceError, ValueError)  # as W&B raises
    draft = wandb.Artifact("y", "dataset")
    with pytest.raises(
        errors.InvalidPathError,
        match=re.escape(
            "entry 'a.txt' is not bound to an artifact; pass artifact.get_entry(path) (or its "
            "ref_url())"
        ),
    ):
        draft.add_reference(ManifestEntry("a.txt", "x"))
    with pytest.raises(
        errors.UnsupportedReferenceError,
        match=re.escape(
            "wandb-artifact://abc/x.txt names an artifact by its W&B server id, which satchel "
            "cannot look up; use the ref_url() of a satchel artifact entry (satchel-artifact://...)"
        ),
    ):
        draft.add_reference("wandb-artifact://abc/x.txt")
    with pytest.raises(
        errors.InvalidPathError,
        match=re.escape(
            "satchel-artifact://default/ds is not an artifact entry URL; expected "
            "satchel-artifact://<project>/<name>:v<N>/<path> (from entry.ref_url())"
        ),
    ):
        draft.add_reference("satchel-artifact://default/ds")
    with pytest.raises(
        errors.EntryNotFoundError, match=re.escape("default/ds:v0 has no entry 'zzz.txt'")
    ):
        draft.add_reference("satchel-artifact://default/ds:v0/zzz.txt")


def test_manifest_digest_algorithm_refusals() -> None:
    with pytest.raises(
        errors.ManifestError,
        match=re.escape("unknown manifest digest algorithm 'sha1'; use 'md5' or 'xxh128'"),
    ):
        Manifest([], digest_algorithm="sha1")
    with pytest.raises(
        errors.ManifestError,
        match=re.escape(
            "manifest digest algorithm 'BLAKE3' is not supported (expected MD5 or XXH128); "
            "upgrade satchel"
        ),
    ):
        Manifest.from_json(b'{"version": 1, "contents": {}, "digestAlgorithm": "BLAKE3"}')


def test_entity_variable_refusal(monkeypatch: pytest.MonkeyPatch, saved: wandb.Artifact) -> None:
    monkeypatch.setenv("WANDB_ENTITY", "team/sub")
    with pytest.raises(
        errors.ConfigError,
        match=re.escape(
            "entity 'team/sub' (SATCHEL_ENTITY / WANDB_ENTITY) may not contain '/' or ':'"
        ),
    ):
        saved.entity  # noqa: B018
    monkeypatch.setenv("SATCHEL_ENTITY", "lab")
    assert saved.entity == "lab"  # satchel's variable wins


def test_results_refusals() -> None:
    with pytest.raises(
        errors.InvalidQueryError,
        match=r"^per_page must be a positive int, "
        r"got True$",
    ):
        Results([], per_page=True)
    r = Results(list(range(5)), per_page=2)
    assert r.cursor is None and r[1:3] == [1, 2] and r.length == 5 and repr(r) == "<Results of 5>"
    next(iter(r))
    assert (r.cursor, r.more) == ("2", True)


def test_wandb_api_and_run_attributes_satchel_lacks_say_why(satchel_env: SatchelEnv) -> None:
    api = wandb.Api()
    with pytest.raises(
        errors.NotInSatchelError,
        match=re.escape(
            "satchel's Api has no 'registries' (W&B's Api.registries): satchel has no server; its "
            "Api reads artifacts, versions, collections, types, projects and runs' lineage from "
            "the store"
        ),
    ):
        api.registries()
    with pytest.raises(AttributeError, match="^'Api' object has no attribute 'nothing'$"):
        api.nothing  # noqa: B018
    with wandb.init(project="p") as run:
        with pytest.raises(
            errors.NotInSatchelError,
            match=re.escape(
                "satchel's Run has no 'log' (W&B's Run.log): a satchel run records which artifact "
                "versions it used and logged (and its config), not metrics, files or history"
            ),
        ):
            run.log({"loss": 0.1})
        with pytest.raises(AttributeError, match="^'Run' object has no attribute 'nothing'$"):
            run.nothing  # noqa: B018
        assert not hasattr(run, "summary")


def test_entry_extra_is_an_empty_dict_that_refuses_changes(saved: wandb.Artifact) -> None:
    entry = saved.get_entry("a.txt")
    assert entry.extra == {} and isinstance(entry.extra, dict)
    assert saved.manifest.entries["b/c.txt"].extra.get("etag") is None  # W&B-style reads work
    for change in (
        lambda e: e.update(x=1),
        lambda e: e.__setitem__("x", 1),
        lambda e: e.setdefault("x", 1),
        lambda e: e.pop("x"),
    ):
        with pytest.raises(
            errors.FrozenEntryError,
            match=re.escape(
                "entry.extra is read-only (entries are frozen); make a new entry with "
                "msgspec.structs.replace(entry, extra={...})"
            ),
        ):
            change(entry.extra)
    assert ManifestEntry("p", "d").extra == {}


def test_a_tag_must_be_a_string() -> None:
    with pytest.raises(errors.InvalidNameError, match="^tag must be a str, got int$"):
        wandb.Artifact("x", "dataset").tags.append(3)  # type: ignore[arg-type]


def test_aliases_given_where_wandb_takes_the_name_are_refused(saved: wandb.Artifact) -> None:
    message = re.escape(
        "name must be a str, got list: the second argument of log_artifact is the artifact "
        "name (W&B's order); pass aliases=[...] by keyword"
    )
    with pytest.raises(errors.InvalidNameError, match=f"^{message}$"):
        wandb.log_artifact(saved, ["best"])  # type: ignore[arg-type]
    with wandb.init(project="p") as run, pytest.raises(errors.InvalidNameError, match=message):
        run.log_artifact(saved, ["best"])  # type: ignore[arg-type]
    assert "best" not in wandb.Api().artifact("ds:v0").aliases
