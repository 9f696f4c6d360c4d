"""What a save reports and applies: ``save_result`` (created or not, what changed), the no-op
rule applying the draft's description, metadata and TTL to the existing version, and
``latest`` refused where assigning it would be ignored."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from satchel import Artifact, SaveResult
from satchel.errors import InvalidNameError
from tests.conftest import SatchelEnv, write_tree


def _art(tmp_path: Path, content: str, **kw: object) -> Artifact:
    folder = write_tree(tmp_path / f"src-{content}", {"f.txt": content})
    art = Artifact("ds", "dataset", **kw)  # type: ignore[arg-type]
    art.add_dir(folder)
    return art


def test_save_result_says_whether_a_version_was_created(tmp_path: Path) -> None:
    first = _art(tmp_path, "A")
    assert first.save_result is None
    first.save()
    assert first.save_result == SaveResult(created=True, updated=())
    again = _art(tmp_path, "A").save()
    assert again.version == "v0" and again.save_result == SaveResult(created=False, updated=())
    other = _art(tmp_path, "B").save()
    assert other.version == "v1" and other.save_result == SaveResult(True, ())


def test_unchanged_content_applies_the_drafts_description_metadata_and_ttl(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    _art(tmp_path, "A", description="first", metadata={"split": "train", "n": 1}).save()
    again = _art(tmp_path, "A", description="second", metadata={"n": 2})
    again.ttl = dt.timedelta(days=3)
    again.save(tags=["t"])
    assert again.version == "v0"
    assert again.save_result == SaveResult(False, ("description", "metadata", "ttl", "tags"))
    stored = satchel_env.api().artifact("ds:v0")
    assert stored.description == "second"
    assert stored.metadata == {"n": 2}  # the draft's metadata replaces the version's
    assert stored.ttl == dt.timedelta(days=3) and stored.tags == ["t"]
    assert stored.updated_at > stored.created_at


def test_unchanged_content_without_new_attributes_changes_nothing(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    _art(tmp_path, "A", description="kept", metadata={"k": 1}).save()
    again = _art(tmp_path, "A").save()  # no description, empty metadata: nothing given
    assert again.save_result == SaveResult(False, ())
    stored = satchel_env.api().artifact("ds:v0")
    assert (stored.description, stored.metadata) == ("kept", {"k": 1})
    assert stored.updated_at == stored.created_at


def test_attributes_a_new_draft_inherited_are_not_applied(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    _art(tmp_path, "A", description="of v0").save()
    v1 = _art(tmp_path, "B", description="of v1").save()
    # a draft of v0 whose content becomes v1's: the no-op returns v1, and v0's inherited
    # description must not overwrite v1's
    draft = satchel_env.api().artifact("ds:v0").new_draft()
    draft.add_file(tmp_path / "src-B" / "f.txt", "f.txt", overwrite=True)
    draft.save()
    assert draft.version == "v1" and draft.save_result == SaveResult(False, ())
    assert satchel_env.api().artifact("ds:v1").description == v1.description == "of v1"
    # ... but what is set on the draft is
    draft = satchel_env.api().artifact("ds:v0").new_draft()
    draft.add_file(tmp_path / "src-B" / "f.txt", "f.txt", overwrite=True)
    draft.description = "edited"
    draft.save()
    assert draft.save_result == SaveResult(False, ("description",))
    assert satchel_env.api().artifact("ds:v1").description == "edited"


def test_saving_a_committed_version_reports_what_changed(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    art = _art(tmp_path, "A").save()
    art.metadata = {"x": 1}
    art.save()
    assert art.save_result == SaveResult(False, ("metadata",))
    art.save()
    assert art.save_result == SaveResult(False, ())


def test_latest_is_refused_where_it_would_be_ignored(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    _art(tmp_path, "A").save()
    _art(tmp_path, "B").save()
    old = satchel_env.api().artifact("ds:v0")
    message = (
        "alias 'latest' is computed (it always names the newest version of default/ds) and "
        "cannot be assigned to default/ds:v0; use another alias, such as 'best' or 'prod'"
    )
    with pytest.raises(InvalidNameError) as info:
        old.aliases = ["latest", "x"]
    assert str(info.value) == message
    with pytest.raises(InvalidNameError) as info:
        old.save(aliases=["latest"])
    assert str(info.value) == message
    assert satchel_env.api().artifact("ds:latest").version == "v1"  # nothing moved
    assert satchel_env.api().artifact("ds:v0").aliases == []
    # where it is true anyway it is accepted: a draft (W&B code passes it) and the newest
    # version, whose aliases list it (so art.aliases = art.aliases + [...] keeps working)
    newest = satchel_env.api().artifact("ds:v1")
    newest.aliases = [*newest.aliases, "best"]
    newest.save()
    assert sorted(satchel_env.api().artifact("ds:best").aliases) == ["best", "latest"]
    draft = _art(tmp_path, "C").save(aliases=["latest", "rc"])
    assert draft.version == "v2" and sorted(draft.aliases) == ["latest", "rc"]


def test_metadata_edited_in_place_on_the_draft_counts_as_given(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    _art(tmp_path, "A", metadata={"k": {"n": 1}}).save()
    draft = satchel_env.api().artifact("ds:v0").new_draft()
    draft.metadata["k"]["n"] = 2  # nested, in place: no setter runs
    draft.save()
    assert draft.save_result == SaveResult(False, ("metadata",))
    assert satchel_env.api().artifact("ds:v0").metadata == {"k": {"n": 2}}
    fresh = _art(tmp_path, "A")
    fresh.metadata["added"] = True
    fresh.save()
    assert fresh.save_result == SaveResult(False, ("metadata",))
    assert satchel_env.api().artifact("ds:v0").metadata == {"added": True}
