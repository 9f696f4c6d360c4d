"""Names, aliases, tags and artifact references (satchel.naming)."""

from __future__ import annotations

import re

import pytest

from satchel import naming
from satchel.errors import InvalidNameError


@pytest.mark.parametrize("good", ["ds", "my-data_set.v2", "A" * 128, "x.y", "0", "a..", "_.a"])
def test_valid_names_are_returned(good: str) -> None:
    assert naming.validate_name(good) == good


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("", "artifact name is empty; give 1-128 characters"),
        ("a" * 129, "is 129 characters long; the limit is 128"),
        (
            "has space",
            (
                "artifact name 'has space' contains a space; satchel names become folder "
                "and object names in the store, so use '-' or '_' instead"
            ),
        ),
        ("has+plus", "use only letters, digits, '_', '-' and '.'"),
        ("slash/name", "use only letters, digits"),
        ("colon:name", "use only letters, digits"),
        ("ünicode", "use only letters, digits"),
        (".", "may not consist of dots only"),
        ("..", "may not consist of dots only"),
    ],
)
def test_invalid_names_raise_with_reason(bad: str, message: str) -> None:
    with pytest.raises(InvalidNameError, match=re.escape(message)):
        naming.validate_name(bad)


def test_kind_appears_in_message_and_non_str_is_rejected() -> None:
    with pytest.raises(InvalidNameError, match="^project 'a,b' is not valid"):
        naming.validate_name("a,b", kind="project")
    with pytest.raises(InvalidNameError, match="type must be a str, got int"):
        naming.validate_name(3, kind="type")  # type: ignore[arg-type]


def test_invalid_name_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        naming.validate_name("")


@pytest.mark.parametrize("good", ["best", "prod", "v1.0.0", "v3-prod", "version3", "v", "V3"])
def test_assignable_aliases(good: str) -> None:
    assert naming.validate_alias(good) == good


def test_latest_is_not_assignable() -> None:
    with pytest.raises(InvalidNameError, match="alias 'latest' is computed"):
        naming.validate_alias("latest")


@pytest.mark.parametrize("bad", ["v0", "v3", "v12", "v007"])
def test_version_like_aliases_are_not_assignable(bad: str) -> None:
    with pytest.raises(InvalidNameError, match="looks like a version number.*'v1.0.0'"):
        naming.validate_alias(bad)


def test_alias_and_tag_character_rules() -> None:
    with pytest.raises(InvalidNameError, match="^alias 'a:b' is not valid"):
        naming.validate_alias("a:b")
    assert naming.validate_tag("needs-review") == "needs-review"
    with pytest.raises(InvalidNameError, match="^tag 'a/b' is not valid"):
        naming.validate_tag("a/b")


@pytest.mark.parametrize("good", ["needs review", "a  b", "v1.0 gold", "ünïcode tag", "x_y-z"])
def test_tags_may_hold_spaces_between_words_as_in_wandb(good: str) -> None:
    assert naming.validate_tag(good) == good


@pytest.mark.parametrize("bad", [" lead", "trail ", " "])
def test_tags_may_not_start_or_end_with_a_space(bad: str) -> None:
    if bad.strip():
        with pytest.raises(
            InvalidNameError,
            match=rf"^tag {bad!r} starts or ends with a space; "
            "remove it$",
        ):
            naming.validate_tag(bad)
    else:
        with pytest.raises(InvalidNameError, match=re.escape("tag ' ' contains a space")):
            naming.validate_tag(bad)


def test_parse_ref_accepts_and_ignores_a_wandb_entity() -> None:
    parsed = naming.parse_ref("team/vision/ds:prod")
    assert (parsed.entity, parsed.project, parsed.name, parsed.selector) == (
        "team",
        "vision",
        "ds",
        "prod",
    )
    assert str(parsed) == "vision/ds:prod"


def test_parse_version() -> None:
    assert naming.parse_version("v0") == 0
    assert naming.parse_version("v42") == 42
    assert naming.parse_version("v1.0") is None
    assert naming.parse_version("best") is None
    assert naming.parse_version("v01") is None


@pytest.mark.parametrize(
    ("ref", "project", "name", "selector", "version"),
    [
        ("ds", "p", "ds", "latest", None),
        ("ds:v3", "p", "ds", "v3", 3),
        ("ds:best", "p", "ds", "best", None),
        ("other/ds:prod", "other", "ds", "prod", None),
        ("other/ds", "other", "ds", "latest", None),
        ("ds:latest", "p", "ds", "latest", None),
    ],
)
def test_parse_ref(ref: str, project: str, name: str, selector: str, version: int | None) -> None:
    parsed = naming.parse_ref(ref, project="p")
    assert (parsed.project, parsed.name, parsed.selector) == (project, name, selector)
    assert parsed.version == version
    assert str(parsed) == f"{project}/{name}:{selector}"


def test_parse_ref_without_project() -> None:
    parsed = naming.parse_ref("ds:v1")
    assert parsed.project is None
    assert str(parsed) == "ds:v1"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("", "artifact reference is empty"),
        ("ds:", "ends with ':'; add a version or alias"),
        (
            "a/b/c/d",
            (
                r"has too many '/'; use 'project/name:alias' \(or W&B's "
                r"'entity/project/name:alias'\)"
            ),
        ),
        ("/p/ds", "has an empty entity; use 'project/name:alias'"),
        ("bad name", "artifact name 'bad name' contains a space"),
        ("bad proj/ds", "project 'bad proj' contains a space"),
        ("ds:bad alias", "alias 'bad alias' contains a space"),
        ("bad+name", "artifact name 'bad\\+name' is not valid"),
    ],
)
def test_parse_ref_errors(ref: str, message: str) -> None:
    with pytest.raises(InvalidNameError, match=message):
        naming.parse_ref(ref, project="p")
