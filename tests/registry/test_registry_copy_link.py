"""Copy, transfer and link edge cases on the local store: errors, damaged stores, type clashes
(the happy paths on every store kind are in test_registry_stores)."""

from __future__ import annotations

import pytest

from satchel import Api
from satchel.errors import (
    ArtifactStateError,
    ArtifactTypeMismatchError,
    InvalidNameError,
    StoreError,
)
from satchel.store import layout
from tests.conftest import SatchelEnv
from tests.registry.conftest import commit


@pytest.fixture
def api(satchel_env: SatchelEnv) -> Api:
    api = satchel_env.api("p")
    commit(api, "ds", {"a": "alpha"}, aliases=["prod"])
    commit(api, "model", {"w": "w"}, type="model")
    return api


def test_transfer_onto_itself_is_refused(api: Api) -> None:
    with pytest.raises(
        InvalidNameError,
        match=r"cannot transfer p/ds:v0 onto itself; give "
        r"another project or name",
    ):
        api.transfer_artifact_version("ds:v0", project="p")


def test_copy_into_a_name_of_another_type_is_refused(api: Api) -> None:
    with pytest.raises(
        ArtifactTypeMismatchError,
        match=r"artifact p/model has type 'model', "
        r"not 'dataset'",
    ):
        api.copy_artifact_version("ds:v0", project="p", name="model")


def test_copy_from_a_damaged_store_says_so(api: Api, satchel_env: SatchelEnv) -> None:
    oid = api.artifact("ds:v0").get_entry("a").oid
    (satchel_env.store / layout.object_key("md5", oid)).unlink()
    with pytest.raises(
        StoreError,
        match=r"1 object\(s\) of the source version are missing from "
        r".*the store is damaged, run 'satchel fsck'",
    ):
        api.copy_artifact_version("ds:v0", project="q")


def test_link_errors(api: Api) -> None:
    with pytest.raises(InvalidNameError, match=r"cannot link p/ds:v0 into its own collection"):
        api.artifact("ds:v0").link("ds")
    with pytest.raises(InvalidNameError, match=r"link target 'folio:best' names a version"):
        api.artifact("ds:v0").link("folio:best")
    api.artifact("ds:v0").link("folio")
    with pytest.raises(ArtifactTypeMismatchError, match=r"artifact p/folio has type 'dataset'"):
        api.artifact("model:v0").link("folio")
    with pytest.raises(
        ArtifactStateError,
        match=r"p/ds:v0 is not a link; unlink\(\) removes a "
        r"linked version from a portfolio",
    ):
        api.artifact("ds:v0").unlink()


def test_linking_a_link_links_its_source(api: Api) -> None:
    first = api.artifact("ds:v0").link("folio")
    second = first.link("other-folio", aliases=["x"])
    assert second.linked_from == "p/ds:v0"
    assert api.artifact("other-folio:x").source_artifact.qualified_name == "p/ds:v0"


def test_a_link_outlives_its_deleted_source(api: Api, satchel_env: SatchelEnv) -> None:
    link = api.artifact("ds:v0").link("folio")
    api.artifact("ds:v0").delete(delete_aliases=True)
    got = api.artifact("folio:v0")
    got.verify(got.download(str(satchel_env.work / "out")))
    from satchel.errors import ArtifactDeletedError

    with pytest.raises(ArtifactDeletedError, match=r"p/ds:v0 was deleted"):
        _ = link.source_artifact
