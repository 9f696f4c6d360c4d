"""Aliases, tags, update_artifact_version, stages with history, and TTL."""

from __future__ import annotations

import datetime as dt

import pytest

from satchel import Api, Artifact
from satchel.errors import (
    ArtifactDeletedError,
    InvalidAttributeError,
    InvalidNameError,
)
from satchel.registry import STAGES, StageEvent
from tests.conftest import SatchelEnv
from tests.registry.conftest import commit, versions


@pytest.fixture
def api(satchel_env: SatchelEnv) -> Api:
    api = satchel_env.api("p")
    commit(api, "ds", {"a": "0"}, tags=["raw"], metadata={"k": 1}, description="first")
    commit(api, "ds", {"a": "1"})
    return api


@pytest.mark.parametrize("alias", ["v1.0.0", "v3-prod", "v2.1-rc.1", "prod", "vX"])
def test_custom_version_aliases_are_allowed(api: Api, alias: str) -> None:
    art = api.artifact("ds:v0")
    art.aliases = [alias]
    art.save()
    assert api.artifact(f"ds:{alias}").version == "v0"


@pytest.mark.parametrize("alias", ["v1", "v42", "v0"])
def test_version_number_aliases_are_refused(api: Api, alias: str) -> None:
    art = api.artifact("ds:v0")
    with pytest.raises(InvalidNameError, match=rf"alias '{alias}' looks like a version number"):
        art.aliases = [alias]


def test_aliases_and_tags_are_editable_and_saved(api: Api, satchel_env: SatchelEnv) -> None:
    art = api.artifact("ds:v0")
    art.aliases = ["golden"]
    art.tags = ["raw", "checked"]
    art.save()
    again = satchel_env.api("p").artifact("ds:golden")
    assert again.version == "v0" and again.tags == ["checked", "raw"]
    again.aliases = []
    again.save()
    assert not api.artifact_exists("ds:golden")


def test_moving_an_alias_takes_it_from_the_old_version(api: Api) -> None:
    commit(api, "ds", {"a": "2"}, aliases=["prod"])
    art = api.artifact("ds:v0")
    art.aliases = ["prod"]
    art.save()
    assert api.artifact("ds:prod").version == "v0"
    assert "prod" not in api.artifact("ds:v2").aliases


def test_update_artifact_version_edits_tags_description_metadata(api: Api) -> None:
    art = api.update_artifact_version(
        "ds:v0",
        add_tags=["a", "b"],
        remove_tags=["raw"],
        description="second",
        metadata={"k": 2},
    )
    assert art.tags == ["a", "b"] and art.description == "second" and art.metadata == {"k": 2}
    fresh = api.artifact("ds:v0")
    assert (fresh.tags, fresh.description, fresh.metadata) == (["a", "b"], "second", {"k": 2})
    untouched = api.update_artifact_version("ds:v0", add_tags=["c"])
    assert untouched.description == "second" and untouched.metadata == {"k": 2}


def test_update_artifact_version_name_moves_the_version(api: Api) -> None:
    art = api.artifact("ds:v0")
    art.aliases = ["keep"]
    art.save()
    moved = api.update_artifact_version("ds:v0", name="renamed", add_tags=["x"])
    assert moved.qualified_name == "p/renamed:v0"
    assert moved.tags == ["raw", "x"] and sorted(moved.aliases) == ["keep", "latest"]
    with pytest.raises(ArtifactDeletedError):
        api.artifact("ds:v0")


def test_stage_changes_are_kept_in_history(api: Api) -> None:
    assert STAGES == ("development", "staging", "production", "archived")
    art = api.artifact("ds:v1")
    assert art.stage is None and art.stage_history == []
    api.stage_artifact_version("ds:v1", "staging", reason="tests pass")
    art = api.stage_artifact_version("ds:v1", "production", reason="A/B won", message="+2% acc")
    assert art.stage == "production"
    history = art.stage_history
    assert [(e.from_stage, e.to_stage, e.reason) for e in history] == [
        (None, "staging", "tests pass"),
        ("staging", "production", "A/B won"),
    ]
    assert isinstance(history[0], StageEvent) and history[1].message == "+2% acc"
    assert history[0].at <= history[1].at and history[0].at.tzinfo is not None
    assert "@" in history[0].by
    # same stage again: nothing recorded
    assert len(api.stage_artifact_version("ds:v1", "production").stage_history) == 2
    assert versions(api.artifact_versions(stage="production")) == ["ds:v1"]


def test_unknown_stage_is_refused(api: Api) -> None:
    with pytest.raises(
        InvalidAttributeError,
        match=r"stage 'live' is not one of development, "
        r"staging, production, archived",
    ):
        api.stage_artifact_version("ds:v1", "live")


def test_concurrent_stage_changes_all_land_in_history(api: Api, satchel_env: SatchelEnv) -> None:
    import threading

    def worker(stage: str) -> None:
        satchel_env.api("p").stage_artifact_version("ds:v0", stage, reason=stage)

    threads = [threading.Thread(target=worker, args=(s,)) for s in STAGES]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    history = api.artifact("ds:v0").stage_history
    assert sorted(e.to_stage for e in history) == sorted(STAGES)
    assert [e.from_stage for e in history[1:]] == [e.to_stage for e in history[:-1]]


def test_ttl_set_on_a_draft_is_committed(satchel_env: SatchelEnv) -> None:
    art = Artifact("tmp", "dataset")
    art.ttl = dt.timedelta(days=7)
    with art.new_file("x") as f:
        f.write("x")
    art.save()
    assert satchel_env.api().artifact("tmp").ttl == dt.timedelta(days=7)


def test_ttl_is_editable_after_commit(api: Api) -> None:
    art = api.artifact("ds:v0")
    assert art.ttl is None
    art.ttl = dt.timedelta(hours=2)
    art.save()
    assert api.artifact("ds:v0").ttl == dt.timedelta(hours=2)
    art.ttl = None
    art.save()
    assert api.artifact("ds:v0").ttl is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (3600, r"ttl must be a datetime.timedelta or None, got int"),
        (dt.timedelta(0), r"ttl must be positive, got 0:00:00"),
    ],
)
def test_bad_ttl_is_refused(api: Api, value: object, message: str) -> None:
    with pytest.raises(InvalidAttributeError, match=message):
        api.artifact("ds:v0").ttl = value  # type: ignore[assignment]


def test_query_value_type_errors(api: Api) -> None:
    from satchel.errors import InvalidQueryError

    with pytest.raises(
        InvalidQueryError,
        match=r"created_after must be a datetime or an ISO "
        r"8601 string, got 5",
    ):
        api.artifact_versions(created_after=5)
    with pytest.raises(InvalidQueryError, match=r"version must be 'v<n>' or an int, got True"):
        api.artifact_versions(version=True)
