"""version.Version (a committed version read once, edits saved) and fetch.Fetcher (the read
side of a version's bytes), below the Artifact that uses them."""

from __future__ import annotations

import uuid

from satchel import Api, Artifact
from satchel.store import open_store
from satchel.version import Version, VersionState, resolve
from tests.conftest import SatchelEnv


def test_a_version_reads_its_attributes_once_and_saves_its_edits(
    satchel_env: SatchelEnv,
) -> None:
    art = Artifact("ds", "dataset", description="first", metadata={"a": 1})
    art["x.json"] = {"k": 1}
    art.save(aliases=["best"], tags=["t1"])
    store = open_store(str(satchel_env.store))
    version = resolve(store, "default", "ds:best")
    assert version.record.version == 0 and version.state is VersionState.UNREAD
    assert version.description == "first" and version.state is VersionState.READ
    assert sorted(version.aliases) == ["best", "latest"] and version.is_latest
    version.metadata["b"] = 2
    version.tags.append("t2")
    version.aliases.remove("best")
    assert version.save_edits() == ("metadata", "tags")
    assert version.state is VersionState.UNREAD  # the next use reads what was written
    again = Version(store, version.record)
    assert again.metadata == {"a": 1, "b": 2} and sorted(again.tags) == ["t1", "t2"]
    assert list(again.aliases) == ["latest"]


def test_a_new_draft_reads_an_inherited_entry_its_cache_lacks_from_a_bucket(
    satchel_env: SatchelEnv,
) -> None:
    store = open_store(f"memory://satchel-{uuid.uuid4().hex[:12]}/team")
    art = Artifact("ds", "dataset")
    art["x.json"] = {"k": 1}
    art.save(store=store)
    fresh = Api(store, cache_dir=str(satchel_env.work / "fresh-cache"))
    draft = fresh.artifact("ds").new_draft()
    # the fresh cache holds nothing: the Fetcher brings the object from the bucket
    assert draft.get("x.json") == {"k": 1}
    assert draft.is_draft()
