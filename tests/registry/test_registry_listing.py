"""Api.artifact_versions: filters, OR, sorting, pagination, validation, and the listing index
(fast, and never wrong when stale)."""

from __future__ import annotations

import datetime as dt
import gzip
import os
import shutil
import time

import pytest

from satchel import Api
from satchel.errors import InvalidNameError, InvalidQueryError
from satchel.registry.query import Page
from satchel.store import layout, open_store
from tests.conftest import SatchelEnv, count_opens
from tests.registry.conftest import commit, versions


@pytest.fixture
def api(satchel_env: SatchelEnv) -> Api:
    """Project ``p``: ``ds`` v0..v3 (dataset) and ``model`` v0..v1 (model)."""
    api = satchel_env.api("p")
    commit(api, "ds", {"a": "0"}, tags=["raw"], metadata={"split": "train", "n": 0})
    commit(api, "ds", {"a": "1"}, tags=["raw", "clean"], metadata={"split": "test", "n": 1})
    commit(
        api, "ds", {"a": "2"}, tags=["clean"], metadata={"split": "train", "n": 2}, aliases=["best"]
    )
    commit(api, "ds", {"a": "333"}, metadata={"split": "val"})
    commit(api, "model", {"w": "0"}, type="model", tags=["raw"])
    commit(api, "model", {"w": "1"}, type="model", metadata={"split": "train"})
    api.stage_artifact_version("ds:v1", "production")
    return api


def test_page_object_has_items_index_sizes_and_iterates(api: Api) -> None:
    page = api.artifact_versions("ds")
    assert isinstance(page, Page)
    assert (page.index, page.max_size, page.total, page.total_pages) == (1, 20, 4, 1)
    assert versions(page) == ["ds:v3", "ds:v2", "ds:v1", "ds:v0"]  # default: newest first
    assert len(page) == 4 and page[0].name == "ds:v3" and list(page) == list(page.items)


def test_without_name_lists_every_collection_of_the_project(api: Api) -> None:
    page = api.artifact_versions(sort_by="name")
    assert page.total == 6
    assert [a.collection_name for a in page] == ["ds"] * 4 + ["model"] * 2
    assert api.artifact_versions(project="other").total == 0


def test_name_may_carry_the_project(api: Api, satchel_env: SatchelEnv) -> None:
    assert versions(satchel_env.api("q").artifact_versions("p/model")) == ["model:v1", "model:v0"]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"type": "model"}, ["model:v1", "model:v0"]),
        ({"tags": ["raw", "clean"]}, ["ds:v1"]),
        ({"tags": "clean"}, ["ds:v2", "ds:v1"]),
        ({"tag": "raw"}, ["model:v0", "ds:v1", "ds:v0"]),
        ({"alias": "best"}, ["ds:v2"]),
        ({"alias": "latest"}, ["model:v1", "ds:v3"]),
        ({"stage": "production"}, ["ds:v1"]),
        ({"version": "v1"}, ["model:v1", "ds:v1"]),
        ({"version": 0}, ["model:v0", "ds:v0"]),
        ({"metadata": {"split": "train"}}, ["model:v1", "ds:v2", "ds:v0"]),
        ({"metadata": {"split": "train", "n": 2}}, ["ds:v2"]),
        ({"metadata": {"missing": None}}, []),
    ],
)
def test_each_filter(api: Api, kwargs: dict, expected: list[str]) -> None:
    assert versions(api.artifact_versions(**kwargs)) == expected


def test_digest_filter(api: Api) -> None:
    digest = api.artifact("ds:v2").digest
    assert versions(api.artifact_versions(digest=digest)) == ["ds:v2"]


def test_time_filters_accept_datetimes_and_iso_strings(api: Api) -> None:
    v2 = api.artifact("ds:v2")
    after = v2.created_at
    assert versions(api.artifact_versions("ds", created_after=after)) == ["ds:v3"]
    assert versions(api.artifact_versions("ds", created_before=after.isoformat())) == [
        "ds:v1",
        "ds:v0",
    ]
    naive_future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).replace(tzinfo=None)
    assert api.artifact_versions(created_after=naive_future).total == 0
    assert api.artifact_versions(created_before="2999-01-01").total == 6
    # staging v1 updated it after every commit
    assert versions(api.artifact_versions(updated_after=api.artifact("model:v1").created_at)) == [
        "ds:v1"
    ]
    assert api.artifact_versions(updated_before=dt.date(2000, 1, 1)).total == 0


def test_filters_combine_with_and_by_default_and_or_on_request(api: Api) -> None:
    both = api.artifact_versions(tag="raw", metadata={"split": "train"})
    assert versions(both) == ["ds:v0"]
    either = api.artifact_versions(tag="raw", metadata={"split": "train"}, logical_operator="or")
    assert versions(either) == ["model:v1", "model:v0", "ds:v2", "ds:v1", "ds:v0"]
    assert api.artifact_versions("ds", logical_operator="OR").total == 4  # no filter: all


@pytest.mark.parametrize(
    ("sort_by", "expected"),
    [
        ("version", ["ds:v0", "ds:v1", "ds:v2", "ds:v3"]),
        ("-version", ["ds:v3", "ds:v2", "ds:v1", "ds:v0"]),
        ("created", ["ds:v0", "ds:v1", "ds:v2", "ds:v3"]),
        ("-size", ["ds:v3", "ds:v2", "ds:v1", "ds:v0"]),  # v3 is 3 bytes; ties by version
        ("-updated", ["ds:v1", "ds:v3", "ds:v2", "ds:v0"]),
    ],
)
def test_sort_keys(api: Api, sort_by: str, expected: list[str]) -> None:
    assert versions(api.artifact_versions("ds", sort_by=sort_by)) == expected


def test_pagination(api: Api) -> None:
    p1 = api.artifact_versions("ds", sort_by="version", size=3)
    p2 = api.artifact_versions("ds", sort_by="version", size=3, page=2)
    assert versions(p1) == ["ds:v0", "ds:v1", "ds:v2"] and versions(p2) == ["ds:v3"]
    assert (p2.index, p2.max_size, p2.total, p2.total_pages) == (2, 3, 4, 2)
    beyond = api.artifact_versions("ds", size=3, page=9)
    assert beyond.items == () and beyond.total == 4
    empty = api.artifact_versions("ds", tag="nope")
    assert (empty.total, empty.total_pages, empty.items) == (0, 1, ())
    assert api.artifact_versions(size=10_000).total == 6


def test_listed_artifacts_carry_their_attributes(api: Api) -> None:
    (v2,) = api.artifact_versions("ds", version="v2")
    assert v2.aliases == ["best"] and v2.tags == ["clean"] and v2.metadata["n"] == 2
    (v3,) = api.artifact_versions("ds", version="v3")
    assert v3.aliases == ["latest"]
    (v1,) = api.artifact_versions("ds", version="v1")
    assert v1.stage == "production"
    assert v1.download() and v1.manifest.get("a") is not None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 0}, r"size must be an int from 1 to 10,000, got 0"),
        ({"size": 10_001}, r"size must be an int from 1 to 10,000, got 10001"),
        ({"page": 0}, r"page must be an int of at least 1, got 0"),
        (
            {"sort_by": "-colour"},
            (
                r"sort_by '-colour' is not one of created, updated, version, "
                r"name, size \(prefix '-' for descending\)"
            ),
        ),
        ({"logical_operator": "xor"}, r"logical_operator 'xor' is not 'and' or 'or'"),
        (
            {"stage": "prod"},
            (
                r"stage 'prod' is not one of development, staging, production, "
                r"archived"
            ),
        ),
        ({"version": "3.0"}, r"version '3.0' is not 'v<n>' \(for example 'v3'\)"),
        ({"created_after": "yesterday"}, r"created_after='yesterday' is not an ISO 8601 time"),
        ({"metadata": ["split"]}, r"metadata filter must be a dict of top-level keys, got list"),
        ({"produced_by": 3}, r"produced_by must be a run id or a Run, got 3"),
    ],
)
def test_bad_values_raise_a_clear_value_error(api: Api, kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidQueryError, match=message) as info:
        api.artifact_versions(**kwargs)
    assert isinstance(info.value, ValueError)


def test_bad_names_raise_invalid_name(api: Api) -> None:
    with pytest.raises(InvalidNameError, match=r"tag 'a/b' is not valid"):
        api.artifact_versions(tag="a/b")
    assert api.artifact_versions(tag="a b").total == 0  # spaces are fine in tags (W&B's rule)


def test_deleted_versions_never_appear(api: Api) -> None:
    api.artifact("ds:v3").delete()
    assert versions(api.artifact_versions("ds")) == ["ds:v2", "ds:v1", "ds:v0"]
    assert versions(api.artifact_versions(alias="latest")) == ["model:v1", "ds:v2"]


def test_collections_and_types(api: Api) -> None:
    cols = {c.name: c for c in api.artifact_collections()}
    assert set(cols) == {"ds", "model"}
    assert cols["ds"].type == "dataset" and cols["ds"].version_count == 4
    assert cols["ds"].latest == "v3" and cols["ds"].aliases == {"best": "v2"}
    assert [c.name for c in api.artifact_collections(type="model")] == ["model"]
    assert api.artifact_types() == ["dataset", "model"]
    assert api.projects() == ["p"]
    assert api.artifact_exists("ds:best") and not api.artifact_exists("ds:v9")


# -- the index -------------------------------------------------------------------------------
def test_second_listing_reads_the_index_not_every_record(api: Api, satchel_env: SatchelEnv) -> None:
    for i in range(30):
        commit(api, "many", {"f": str(i)})
    api.artifact_versions("many")  # builds the index
    time.sleep(0)  # the racy-entry window does not matter here: no attrs files exist
    with count_opens(satchel_env.store) as log:
        page = api.artifact_versions("many", size=5, sort_by="version")
    assert versions(page) == [f"many:v{i}" for i in range(5)]
    assert log.opened("index.json.gz") == 1
    assert not [p for p in log.paths if p.endswith(".json") and "/versions/" in p]


def test_index_sees_new_versions_attrs_aliases_and_deletions(
    api: Api, satchel_env: SatchelEnv
) -> None:
    api.artifact_versions("ds")  # index written
    other = Api(open_store(str(satchel_env.store)), "p")  # a second writer, no shared state
    commit(other, "ds", {"a": "new"})
    other.update_artifact_version("ds:v0", add_tags=["fresh"])
    other.artifact("ds:v1").delete()
    art = other.artifact("ds:v0")
    art.aliases = ["best"]
    art.save()
    assert versions(api.artifact_versions("ds")) == ["ds:v4", "ds:v3", "ds:v2", "ds:v0"]
    assert versions(api.artifact_versions("ds", tag="fresh")) == ["ds:v0"]
    assert versions(api.artifact_versions("ds", alias="best")) == ["ds:v0"]


def test_index_entry_rewritten_quickly_is_never_trusted(api: Api, satchel_env: SatchelEnv) -> None:
    """Two edits within the filesystem's timestamp granularity can leave an attrs file with an
    old-looking fingerprint; entries read while young are re-read until they age (git's
    "racily clean" rule)."""
    for i in range(5):
        api.update_artifact_version("ds:v0", add_tags=[f"t{i}"])
        assert f"t{i}" in api.artifact_versions("ds", version=0)[0].tags


def test_index_trusts_aged_entries_and_notices_their_change(
    api: Api, satchel_env: SatchelEnv
) -> None:
    store = satchel_env.open_store()
    attrs = satchel_env.store / layout.attrs_key("p", "ds", 1)
    old = time.time() - 3600
    os.utime(attrs, (old, old))
    assert versions(api.artifact_versions("ds", stage="production")) == ["ds:v1"]  # cached
    with count_opens(satchel_env.store) as log:
        assert versions(api.artifact_versions("ds", stage="production")) == ["ds:v1"]
    assert log.opened("1.attrs.json") == 0  # trusted from the index
    Api(store, "p").stage_artifact_version("ds:v1", "archived")
    assert api.artifact_versions("ds", stage="production").total == 0
    assert versions(api.artifact_versions("ds", stage="archived")) == ["ds:v1"]


def test_corrupt_or_foreign_index_is_ignored_and_rebuilt(api: Api, satchel_env: SatchelEnv) -> None:
    index = satchel_env.store / layout.index_key("p", "ds")
    api.artifact_versions("ds")
    assert index.exists()
    index.write_bytes(b"not gzip")
    assert api.artifact_versions("ds").total == 4
    assert gzip.decompress(index.read_bytes())  # rewritten
    index.write_bytes(gzip.compress(b'{"format": 99}'))
    assert api.artifact_versions("ds").total == 4


def test_index_copied_from_another_history_gives_no_wrong_answer(
    api: Api, satchel_env: SatchelEnv
) -> None:
    """The collection is rebuilt by hand (records replaced) while an old index stays: record
    fingerprints differ, so the records are read again."""
    api.artifact_versions("ds")
    index = satchel_env.store / layout.index_key("p", "ds")
    saved = index.read_bytes()
    shutil.rmtree(satchel_env.store / layout.collection_folder("p", "ds"))
    commit(satchel_env.api("p"), "ds", {"other": "content"})  # a fresh process, so to speak
    index.write_bytes(saved)
    page = api.artifact_versions("ds")
    assert versions(page) == ["ds:v0"]
    assert page[0].digest == api.artifact("ds:v0").digest
    assert page[0].manifest.get("other") is not None


def test_listing_works_when_the_index_cannot_be_read_or_written(
    api: Api, satchel_env: SatchelEnv
) -> None:
    index = satchel_env.store / layout.index_key("p", "model")
    index.mkdir(parents=True)  # neither readable nor writable as a file
    assert versions(api.artifact_versions("model")) == ["model:v1", "model:v0"]
    assert index.is_dir()
