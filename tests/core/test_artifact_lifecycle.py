"""The lifecycle of an Artifact: one state enum, frozen after finalize/commit, committed-only
attributes, and validation of names, types, aliases, tags and metadata."""

from __future__ import annotations

from pathlib import Path

import pytest

from satchel import Artifact, ArtifactState
from satchel.errors import (
    ArtifactFinalizedError,
    ArtifactNotLoggedError,
    ArtifactStateError,
    InvalidMetadataError,
    InvalidNameError,
    SourceFileChangedError,
)
from tests.conftest import SatchelEnv

COMMITTED_ONLY = [
    "version",
    "version_index",
    "qualified_name",
    "project",
    "created_at",
    "updated_at",
    "commit_hash",
    "based_on",
    "created_by",
    "entity",
    "source_entity",
    "source_project",
    "source_version",
    "source_qualified_name",
    "url",
    "history_step",
    "collection",
    "source_collection",
]


@pytest.fixture
def src(tmp_path: Path) -> Path:
    p = tmp_path / "f.txt"
    p.write_text("content")
    return p


def test_state_enum_values() -> None:
    assert [s.value for s in ArtifactState] == ["DRAFT", "PENDING", "COMMITTED", "DELETED"]
    assert ArtifactState.DRAFT == "DRAFT"  # a str, as W&B's state is


def test_draft_to_committed(src: Path) -> None:
    art = Artifact("ds", "dataset")
    assert art.state is ArtifactState.DRAFT and art.is_draft()
    art.add_file(src)
    art.save()
    assert art.state is ArtifactState.COMMITTED and not art.is_draft()
    assert art.wait() is art


def test_finalize_freezes_then_save_commits(src: Path) -> None:
    art = Artifact("ds", "dataset")
    art.add_file(src)
    art.finalize()
    art.finalize()  # idempotent
    assert art.state is ArtifactState.PENDING and art.is_draft()
    with pytest.raises(
        ArtifactFinalizedError,
        match=r"artifact ds is pending and can no longer "
        r"be changed; call new_draft\(\)",
    ):
        art.add_file(src, name="other.txt")
    art.save()
    assert art.state is ArtifactState.COMMITTED


CHANGES = {
    "add_file": lambda a, p: a.add_file(p, name="new.txt"),
    "add_dir": lambda a, p: a.add_dir(p.parent),
    "add_reference": lambda a, p: a.add_reference(p.as_uri(), name="r"),
    "add": lambda a, p: a.add("x", "x.txt"),
    "setitem": lambda a, p: a.__setitem__("x.txt", "x"),
    "new_file": lambda a, p: a.new_file("n.txt").__enter__(),
    "remove": lambda a, p: a.remove("f.txt"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("how", ["finalized", "committed"])
def test_every_change_after_finalize_or_commit_raises(src: Path, change: str, how: str) -> None:
    art = Artifact("ds", "dataset")
    art.add_file(src)
    if how == "finalized":
        art.finalize()
    else:
        art.save()
    with pytest.raises(ArtifactFinalizedError, match=r"call new_draft\(\) to start a new version"):
        CHANGES[change](art, src)
    assert isinstance(ArtifactFinalizedError("x"), ArtifactStateError)


def test_fetched_artifact_is_committed_and_frozen(src: Path, satchel_env: SatchelEnv) -> None:
    art = Artifact("ds", "dataset")
    art.add_file(src)
    art.save()
    fetched = satchel_env.api().artifact("ds:v0")
    assert fetched.state is ArtifactState.COMMITTED
    with pytest.raises(ArtifactFinalizedError, match="artifact ds is committed"):
        fetched.add("x", "x.txt")


def test_failed_save_returns_to_previous_state(src: Path) -> None:
    art = Artifact("ds", "dataset")
    art.add_file(src, policy="immutable")
    src.write_text("changed before save, longer")
    with pytest.raises(SourceFileChangedError):
        art.save()
    assert art.state is ArtifactState.DRAFT
    art.add_file(src, policy="immutable", overwrite=True)  # still editable
    art.finalize()
    src.write_text("changed again")
    with pytest.raises(SourceFileChangedError):
        art.save()
    assert art.state is ArtifactState.PENDING


@pytest.mark.parametrize("attr", COMMITTED_ONLY)
def test_committed_only_attributes_raise_not_logged_on_draft(attr: str) -> None:
    art = Artifact("ds", "dataset")
    with pytest.raises(
        ArtifactNotLoggedError,
        match=rf"'{attr}' exists only once the artifact is "
        r"committed; call save\(\) first",
    ):
        getattr(art, attr)


@pytest.mark.parametrize("attr", ["version", "created_at", "entity"])
def test_committed_only_attributes_answer_getattr_as_wandb_does(attr: str) -> None:
    # W&B's ArtifactNotLoggedError is an AttributeError: getattr(draft, attr, None) is None
    art = Artifact("ds", "dataset")
    assert issubclass(ArtifactNotLoggedError, AttributeError)
    assert not hasattr(art, attr)
    assert getattr(art, attr, None) is None


def test_draft_id_is_none_and_source_name_the_bare_name_as_in_wandb() -> None:
    art = Artifact("ds", "dataset")
    assert art.id is None
    assert art.source_name == "ds" and art.name == "ds"


@pytest.mark.parametrize(
    "call",
    ["download", "checkout", "verify", "json_encode", "new_draft", "wait", "file"],
)
def test_committed_only_methods_raise_not_logged_on_draft(src: Path, call: str) -> None:
    art = Artifact("ds", "dataset")
    art.add_file(src)
    with pytest.raises(ArtifactNotLoggedError, match=r"exists only once the artifact is committed"):
        getattr(art, call)()


def test_draft_facts_available_before_commit(src: Path) -> None:
    art = Artifact("ds", "dataset", description="d", metadata={"k": 1})
    art.add_file(src)
    assert art.name == "ds" and art.type == "dataset" and art.collection_name == "ds"
    assert art.file_count == 1 and art.size == 7
    assert art.digest == art.manifest.digest
    assert art.description == "d" and art.metadata == {"k": 1}
    assert art.aliases == [] and art.tags == []
    assert not art.incremental
    assert [e.path for e in art.files()] == ["f.txt"]
    assert repr(art) == "<Artifact ds (dataset, draft)>"


def test_committed_attributes(src: Path) -> None:
    art = Artifact("ds", "dataset")
    art.add_file(src)
    art.save(project="proj")
    assert art.name == "ds:v0" and art.source_name == "ds:v0"
    assert art.qualified_name == "proj/ds:v0" and art.project == "proj"
    assert art.version == "v0" and art.version_index == 0
    assert len(art.id) >= 16 and art.commit_hash and art.created_by
    assert art.created_at.tzinfo is not None and art.updated_at >= art.created_at
    assert art.based_on is None
    assert repr(art) == "<Artifact proj/ds:v0 (dataset)>"


# -- validation --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "a b", "x/y", "a:b", "n" * 129, ".."])
def test_invalid_artifact_names(name: str) -> None:
    with pytest.raises(InvalidNameError, match="artifact name"):
        Artifact(name, "dataset")


@pytest.mark.parametrize("type_", ["", "data set", "t" * 129])
def test_invalid_types(type_: str) -> None:
    with pytest.raises(InvalidNameError, match="^type "):
        Artifact("ds", type_)


def test_invalid_project_on_save(src: Path, satchel_env: SatchelEnv) -> None:
    art = Artifact("ds", "dataset")
    art.add_file(src)
    with pytest.raises(
        InvalidNameError,
        match="^project 'my project' contains a space; satchel "
        "names become folder and object names in the "
        "store, so use '-' or '_' instead$",
    ):
        art.save(project="my project")
    assert art.is_draft()


@pytest.mark.parametrize("bad", ["v3", "v0", "bad alias", "a" * 129])
def test_unassignable_aliases_rejected_before_commit(
    src: Path, satchel_env: SatchelEnv, bad: str
) -> None:
    art = Artifact("ds", "dataset")
    art.add_file(src)
    with pytest.raises(InvalidNameError, match="alias"):
        art.save(aliases=[bad])
    assert satchel_env.open_store().live_versions("default", "ds") == []
    with pytest.raises(InvalidNameError):
        art.aliases = [bad]


def test_latest_is_implied_and_custom_version_like_aliases_are_fine(src: Path) -> None:
    art = Artifact("ds", "dataset")
    art.add_file(src)
    art.save(aliases=["latest", "v1.0.0", "v3-prod"])
    assert art.aliases == ["v1.0.0", "v3-prod", "latest"]
    art.aliases = "best"  # type: ignore[assignment]  # a single string is one alias
    assert "best" in art.aliases


@pytest.mark.parametrize("bad", ["has!bang", "", "t/t", " lead"])
def test_invalid_tags(src: Path, bad: str) -> None:
    art = Artifact("ds", "dataset")
    art.add_file(src)
    with pytest.raises(InvalidNameError, match="tag"):
        art.tags = [bad]
    with pytest.raises(InvalidNameError, match="tag"):
        art.save(tags=[bad])
    art.tags = ["ok", "ok", "also-ok"]
    assert art.tags == ["also-ok", "ok"]


def test_metadata_validation() -> None:
    Artifact("ds", "dataset", metadata={f"k{i}": i for i in range(100)})
    with pytest.raises(
        InvalidMetadataError,
        match="metadata has 101 top-level keys; the limit is 100. Nest related values",
    ):
        Artifact("ds", "dataset", metadata={f"k{i}": i for i in range(101)})
    with pytest.raises(InvalidMetadataError, match="metadata must be a dict, got list"):
        Artifact("ds", "dataset", metadata=[1, 2])  # type: ignore[arg-type]
    import datetime

    for bad in ({1, 2}, b"raw", float("nan"), float("inf"), datetime.date(2024, 1, 1)):
        # not silently turned into a list, base64, null or a string
        with pytest.raises(
            InvalidMetadataError,
            match="metadata is not JSON-serialisable: .*Use only dicts, lists, str, int",
        ):
            Artifact("ds", "dataset", metadata={"bad": bad})
    with pytest.raises(ValueError):
        Artifact("ds", "dataset", metadata={"o": object()})
    art = Artifact("ds", "dataset")
    with pytest.raises(InvalidMetadataError, match="101 top-level keys"):
        art.metadata = {str(i): i for i in range(101)}
    art.metadata = {"nested": {"a": [1, 2, {"b": None}]}, "f": 1.5}
    assert art.metadata == {"nested": {"a": [1, 2, {"b": None}]}, "f": 1.5}
    assert Artifact("ds", "dataset", metadata=None).metadata == {}
    assert Artifact("ds", "dataset", metadata={"t": (1, 2)}).metadata == {"t": [1, 2]}


def test_metadata_validated_after_commit_too(src: Path) -> None:
    art = Artifact("ds", "dataset")
    art.add_file(src)
    art.save()
    with pytest.raises(InvalidMetadataError):
        art.metadata = {str(i): i for i in range(101)}


def test_committed_to_deleted_then_nothing(src: Path, satchel_env: SatchelEnv) -> None:
    art = Artifact("ds", "dataset")
    art.add_file(src)
    art.save(aliases=["best"])
    art.delete(delete_aliases=True)
    assert art.state is ArtifactState.DELETED and not art.is_draft()
    with pytest.raises(ArtifactStateError, match="artifact ds was deleted and cannot be saved"):
        art.save()
    with pytest.raises(ArtifactStateError, match="was deleted and cannot change"):
        art.description = "too late"
    with pytest.raises(ArtifactFinalizedError, match="is deleted and can no longer be changed"):
        art.add("x", "x.txt")
    draft = Artifact("ds", "dataset")
    draft.add("y", "y.txt")
    assert draft.save().version == "v1"  # numbers are never reused
