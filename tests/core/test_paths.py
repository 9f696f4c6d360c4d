"""Logical paths: normalisation, and rejection of every unsafe form (satchel.paths)."""

from __future__ import annotations

import pytest

from satchel import paths
from satchel.errors import InvalidPathError


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("a.txt", "a.txt"),
        ("./a/./b", "a/b"),
        ("a//b", "a/b"),
        ("a/b/", "a/b"),
        ("./x.txt", "x.txt"),
        ("deep/er/still/file.bin", "deep/er/still/file.bin"),
        ("a..b/c", "a..b/c"),  # dots inside a name are fine
        ("...", "..."),
        ("ünï cødé/ file .txt", "ünï cødé/ file .txt"),
    ],
)
def test_normalize_returns_canonical_posix_path(given: str, expected: str) -> None:
    assert paths.normalize(given) == expected
    assert paths.is_canonical(expected)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("", "is empty"),
        (".", "is empty"),
        ("./", "is empty"),
        ("/etc/passwd", "is absolute"),
        ("../x", "contains '..'"),
        ("a/../../x", "contains '..'"),
        ("a/..", "contains '..'"),
        ("C:x", "drive letter"),
        ("c:/windows", "drive letter"),
        ("a\\b", "backslash"),
        ("a\x00b", "NUL byte"),
        ("a\nb", "line break"),
        ("a\rb", "line break"),
    ],
)
def test_normalize_rejects_unsafe_paths_with_reason(bad: str, reason: str) -> None:
    with pytest.raises(InvalidPathError, match=reason):
        paths.normalize(bad)
    assert not paths.is_canonical(bad)


def test_normalize_rejects_non_str() -> None:
    with pytest.raises(InvalidPathError, match="must be a str, got bytes"):
        paths.normalize(b"a.txt")  # type: ignore[arg-type]


def test_invalid_path_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        paths.normalize("../escape")


def test_validate_many_accepts_canonical_paths() -> None:
    paths.validate_many([f"d{i % 7}/f{i}.txt" for i in range(5000)])
    paths.validate_many([])


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("a/./b", "not normalised"),
        ("a//b", "not normalised"),
        ("a/", "not normalised"),
        ("./a", "not normalised"),
        ("../a", "contains '..'"),
        ("/a", "is absolute"),
        ("D:/a", "drive letter"),
        ("a\x00", "NUL byte"),
        ("a\nb", "line break"),
        ("", "is empty"),
    ],
)
def test_validate_many_names_the_bad_path_among_good_ones(bad: str, reason: str) -> None:
    batch = ["ok/1.txt", "ok/2.txt", bad, "ok/3.txt"]
    with pytest.raises(InvalidPathError, match=reason):
        paths.validate_many(batch)


def test_validate_many_rejects_non_str() -> None:
    with pytest.raises(InvalidPathError, match="must be a str, got int"):
        paths.validate_many(["a", 3])  # type: ignore[list-item]


def test_join_and_is_under() -> None:
    assert paths.join(None, "a/b") == "a/b"
    assert paths.join("pre/", "./x") == "pre/x"
    with pytest.raises(InvalidPathError):
        paths.join("pre", "../../x")
    assert paths.is_under("a/b/c", "a/b")
    assert paths.is_under("a/b", "a/b")
    assert not paths.is_under("a/bc", "a/b")


@pytest.mark.parametrize("bad", ["a/C:x", "./a/d:/y", "x/Z:"])
def test_drive_letter_in_any_segment_is_rejected(bad: str) -> None:
    # On Windows os.path.join("root", "a", "C:x") is "C:x": a drive letter in any segment
    # would let a download escape its root, so it is refused wherever it appears.
    import ntpath

    assert not ntpath.join("root", *bad.split("/")).startswith("root")
    with pytest.raises(InvalidPathError, match="drive letter"):
        paths.normalize(bad)
    with pytest.raises(InvalidPathError, match="drive letter"):
        paths.validate_many(["ok", bad])


def test_colon_elsewhere_in_a_name_is_allowed() -> None:
    assert paths.normalize("a/ab:c") == "a/ab:c"
    paths.validate_many(["a/ab:c", "time 12:00.txt"])
