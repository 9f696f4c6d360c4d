"""satchel apply / Api.apply: YAML and JSON specs, idempotency, updates, new content,
version aliases, external sources, and every spec error."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from satchel import Api
from satchel.apply import apply_file, load_specs
from satchel.errors import ArtifactTypeMismatchError, InvalidNameError, InvalidSpecError
from tests.conftest import SatchelEnv, write_tree


@pytest.fixture
def api(satchel_env: SatchelEnv) -> Api:
    return satchel_env.api("p")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_tree(
        tmp_path / "data", {"train/a.txt": "a", "train/b.txt": "b", "meta.json": "{}"}
    )


def spec(data: Path, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "mnist",
        "type": "dataset",
        "description": "digits",
        "metadata": {"split": "train"},
        "version_alias": "v1.0.0",
        "aliases": ["candidate"],
        "tags": ["images"],
        "source": {
            "type": "local",
            "paths": [
                {"src": str(data / "train"), "dest": "train"},
                {"src": str(data / "meta.json")},
            ],
        },
    }
    base.update(changes)
    return base


def test_apply_creates_then_is_unchanged(api: Api, data: Path) -> None:
    first = api.apply(spec(data))
    assert first.action == "created"
    art = first.artifact
    assert art.qualified_name == "p/mnist:v0"
    assert sorted(e.path for e in art.manifest) == ["meta.json", "train/a.txt", "train/b.txt"]
    assert sorted(art.aliases) == ["candidate", "latest", "v1.0.0"]
    assert art.tags == ["images"] and art.metadata == {"split": "train"}
    assert art.description == "digits"
    second = api.apply(spec(data))
    assert second.action == "unchanged" and second.artifact.version == "v0"
    assert api.artifact_versions("mnist").total == 1


def test_changing_metadata_tags_or_aliases_updates_the_version(api: Api, data: Path) -> None:
    api.apply(spec(data))
    res = api.apply(
        spec(
            data,
            metadata={"split": "all"},
            tags=["images", "small"],
            aliases=["candidate", "reviewed"],
            description="all digits",
        )
    )
    assert res.action == "updated" and res.artifact.version == "v0"
    art = api.artifact("mnist:v0")
    assert art.metadata == {"split": "all"} and art.tags == ["images", "small"]
    assert art.description == "all digits"
    assert sorted(art.aliases) == ["candidate", "latest", "reviewed", "v1.0.0"]
    assert api.artifact_versions("mnist").total == 1


def test_changing_content_commits_a_new_version_and_moves_the_version_alias(
    api: Api, data: Path
) -> None:
    api.apply(spec(data))
    (data / "train" / "c.txt").write_text("c")
    res = api.apply(spec(data, version_alias="v1.1.0"))
    assert res.action == "created" and res.artifact.version == "v1"
    assert api.artifact("mnist:v1.0.0").version == "v0"
    assert api.artifact("mnist:v1.1.0").version == "v1"
    assert api.apply(spec(data, version_alias="v1.1.0")).action == "unchanged"


def test_version_alias_finds_an_older_version_with_that_content(api: Api, data: Path) -> None:
    api.apply(spec(data))
    (data / "train" / "c.txt").write_text("c")
    api.apply(spec(data, version_alias="v2.0.0"))
    (data / "train" / "c.txt").unlink()
    res = api.apply(spec(data, metadata={"split": "again"}))  # v1.0.0 content again
    assert res.action == "updated" and res.artifact.version == "v0"
    assert api.artifact_versions("mnist").total == 2


def test_external_source_is_a_reference(api: Api, data: Path) -> None:
    s = spec(data, source={"type": "external", "uri": (data / "train").as_uri(), "dest": "ext"})
    res = api.apply(s)
    assert res.action == "created"
    assert all(e.is_reference for e in res.artifact.manifest)
    assert sorted(e.path for e in res.artifact.manifest) == ["ext/a.txt", "ext/b.txt"]
    assert api.apply(s).action == "unchanged"


def test_yaml_and_json_files_with_paths_relative_to_the_file(
    api: Api, data: Path, tmp_path: Path
) -> None:
    (tmp_path / "spec.yaml").write_text(
        textwrap.dedent("""
        name: from-yaml
        type: dataset
        metadata: {split: train}
        source:
          type: local
          paths:
            - src: data/train
              dest: t
        ---
        name: second
        type: dataset
        source: {type: local, paths: [data/meta.json]}
    """)
    )
    results = apply_file(api.services, tmp_path / "spec.yaml", default_project="p")
    assert [(r.action, r.artifact.qualified_name) for r in results] == [
        ("created", "p/from-yaml:v0"),
        ("created", "p/second:v0"),
    ]
    (tmp_path / "spec.json").write_text(
        json.dumps(
            {
                "name": "from-json",
                "type": "dataset",
                "project": "q",
                "source": {"type": "local", "paths": [{"src": "data/train"}]},
            }
        )
    )
    (res,) = apply_file(api.services, tmp_path / "spec.json", default_project="p")
    assert res.artifact.qualified_name == "q/from-json:v0"
    assert sorted(e.path for e in res.artifact.manifest) == ["a.txt", "b.txt"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": None}, r"spec field 'name' is required and must be a string"),
        ({"type": 3}, r"spec field 'type' is required and must be a string"),
        ({"source": None}, r"spec field 'source' is required: \{type: local, paths"),
        ({"colour": "red"}, r"spec has unknown field\(s\) colour; known fields: aliases, "),
        ({"metadata": [1]}, r"spec field 'metadata' must be a mapping"),
        ({"description": 5}, r"spec field 'description' must be a string"),
        ({"tags": ["a", "b"] + [3]}, r"spec field 'tags' must be a list of strings"),
        ({"version_alias": 1}, r"spec field 'version_alias' must be a string"),
        ({"source": {"type": "ftp"}}, r"source type must be 'local' or 'external', got 'ftp'"),
        ({"source": {"type": "local"}}, r"a local source needs 'paths': a list of \{src, dest\}"),
        (
            {"source": {"type": "local", "paths": [{"dest": "x"}]}},
            r"each local path needs a 'src' string",
        ),
        (
            {"source": {"type": "local", "paths": [{"src": "/nope/x", "to": "y"}]}},
            r"local path has unknown field\(s\) to",
        ),
        (
            {"source": {"type": "local", "paths": [{"src": "/nope/x"}]}},
            r"local source path '/nope/x' \(/nope/x\) does not exist",
        ),
        (
            {"source": {"type": "external"}},
            r"an external source needs 'uri': the reference to track",
        ),
        (
            {"source": {"type": "external", "uri": "s3://b/k", "mode": 1}},
            r"external source has unknown field\(s\) mode",
        ),
    ],
)
def test_spec_errors(api: Api, data: Path, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpecError, match=message):
        api.apply(spec(data, **changes))


def test_version_number_as_version_alias_is_refused(api: Api, data: Path) -> None:
    with pytest.raises(InvalidNameError, match=r"alias 'v3' looks like a version number"):
        api.apply(spec(data, version_alias="v3"))


def test_type_change_is_refused(api: Api, data: Path) -> None:
    api.apply(spec(data))
    with pytest.raises(ArtifactTypeMismatchError, match=r"p/mnist has type 'dataset', not 'model'"):
        api.apply(spec(data, type="model"))


def test_spec_file_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InvalidSpecError, match=r"bad.json is not valid JSON"):
        load_specs(tmp_path / "bad.json")
    (tmp_path / "bad.yaml").write_text("a: [")
    with pytest.raises(InvalidSpecError, match=r"bad.yaml is not valid YAML"):
        load_specs(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(InvalidSpecError, match=r"a spec must be a mapping, got int"):
        load_specs(tmp_path / "list.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(InvalidSpecError, match=r"empty.yaml holds no spec"):
        load_specs(tmp_path / "empty.yaml")
    with pytest.raises(FileNotFoundError):
        load_specs(tmp_path / "missing.yaml")


def test_yaml_without_pyyaml_says_which_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from satchel.errors import HandlerUnavailableError

    monkeypatch.setitem(sys.modules, "yaml", None)  # as if pyyaml were not installed
    (tmp_path / "spec.yaml").write_text("name: x\n")
    with pytest.raises(
        HandlerUnavailableError,
        match=r"reading the YAML spec .*spec.yaml needs "
        r"pyyaml; install it with pip install "
        r"'satchel\[yaml\]'",
    ):
        load_specs(tmp_path / "spec.yaml")
    (tmp_path / "spec2.yaml").write_text('{"name": "x", "type": "dataset"}')  # JSON is YAML too
    assert load_specs(tmp_path / "spec2.yaml") == [{"name": "x", "type": "dataset"}]


def test_latest_in_aliases_is_refused_for_a_version_that_is_not_the_newest(
    api: Api, data: Path
) -> None:
    assert api.apply(spec(data, aliases=["latest"])).action == "created"  # the newest: fine
    (data / "train" / "c.txt").write_text("c")
    api.apply(spec(data, version_alias="v2.0.0"))
    (data / "train" / "c.txt").unlink()
    with pytest.raises(InvalidSpecError) as info:
        api.apply(spec(data, aliases=["latest"], metadata={"split": "again"}))
    assert str(info.value) == (
        "spec aliases name 'latest', but the version the spec describes, p/mnist:v0, is not "
        "the newest; 'latest' is computed and cannot be assigned. Remove it from aliases"
    )
    assert api.artifact("mnist:v0").metadata == {"split": "train"}  # nothing changed
