"""The exception tree, and the error messages of the core that no other test file reaches.

The tree drawn in ``satchel.errors``' docstring is the specification: every class in it exists,
derives from the parent drawn above it and from the builtin named in parentheses, and every
error class of the module is drawn.
"""

from __future__ import annotations

import gzip
import hashlib
import inspect
import json
import os
import re
from pathlib import Path

import pytest

import satchel
from satchel import Api, Artifact, errors
from satchel.errors import (
    ArtifactDeletedError,
    ConcurrentUpdateError,
    ConfigError,
    HandlerUnavailableError,
    InvalidNameError,
    InvalidPathError,
    ManifestError,
    ReferenceNotFoundError,
    SatchelError,
    SourceFileChangedError,
    StoreFormatError,
)
from tests.conftest import SatchelEnv, write_tree

_LINE = re.compile(
    r"^(?P<indent>[│ ]*)(?:├── |└── )?(?P<name>[A-Za-z_]+)\s*(?:\((?P<builtin>[A-Za-z]+)\))?"
)


def _drawn_tree() -> list[tuple[str, str | None, str | None]]:
    """``(class, parent, builtin)`` for every class drawn in the docstring tree."""
    doc = errors.__doc__ or ""
    lines = [ln[4:] for ln in doc.splitlines() if ln.startswith("    ") and ln.strip()]
    out: list[tuple[str, str | None, str | None]] = []
    stack: list[tuple[int, str]] = []
    for line in lines:
        m = _LINE.match(line)
        assert m, line
        depth = len(m.group("indent")) + (4 if "── " in line else 0)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1][1] if stack else None
        out.append((m.group("name"), parent, m.group("builtin")))
        stack.append((depth, m.group("name")))
    return out


TREE = _drawn_tree()


def test_tree_is_drawn_and_rooted() -> None:
    assert TREE[0] == ("SatchelError", None, None)
    assert len(TREE) >= 30
    assert all(parent is not None for _n, parent, _b in TREE[1:])


@pytest.mark.parametrize(("name", "parent", "builtin"), TREE[1:], ids=[t[0] for t in TREE[1:]])
def test_each_error_inherits_parent_and_builtin(
    name: str, parent: str, builtin: str | None
) -> None:
    cls = getattr(errors, name)
    assert issubclass(cls, getattr(errors, parent))
    assert issubclass(cls, SatchelError)
    if builtin is not None:
        assert issubclass(cls, getattr(__import__("builtins"), builtin)), (name, builtin)
    assert cls.__doc__ and cls.__doc__.strip()


def test_every_error_class_is_drawn() -> None:
    drawn = {n for n, _p, _b in TREE}
    defined = {
        n
        for n, obj in vars(errors).items()
        if inspect.isclass(obj) and issubclass(obj, SatchelError) and obj.__name__ == n
    }
    assert defined == drawn


def test_wandb_error_names_are_satchel_classes() -> None:
    # W&B code catches wandb.errors.Error / CommError / UsageError...: the same names exist
    assert errors.Error is SatchelError and satchel.Error is SatchelError
    assert issubclass(errors.ArtifactNotFoundError, errors.CommError)
    assert issubclass(errors.ArtifactDeletedError, errors.CommError)
    assert issubclass(errors.ArtifactTypeMismatchError, errors.CommError)
    assert issubclass(errors.StoreUnavailableError, errors.CommError)
    assert issubclass(errors.StoreAccessError, errors.AuthenticationError)
    assert issubclass(errors.RunFinishedError, errors.UsageError)
    assert issubclass(errors.NotInSatchelError, errors.UnsupportedError)
    assert issubclass(errors.UnsupportedError, errors.UsageError)


def test_every_public_error_is_exported() -> None:
    for name, _parent, _builtin in TREE:
        if not name.endswith("_"):
            assert getattr(satchel, name, None) is getattr(errors, name), name


def test_state_errors_are_attribute_errors_as_in_wandb() -> None:
    assert issubclass(errors.ArtifactNotLoggedError, AttributeError)
    assert issubclass(errors.ArtifactFinalizedError, AttributeError)


def test_entry_not_found_message_is_not_repr_quoted() -> None:
    err = errors.EntryNotFoundError("artifact ds has no entry 'x'")
    assert str(err) == "artifact ds has no entry 'x'"
    assert isinstance(err, KeyError)


def test_error_attributes() -> None:
    v = errors.ArtifactVerificationError(
        "m", missing=["a"], extra=("b",), changed=["c"], unverifiable=["d"]
    )
    assert (v.missing, v.extra, v.changed, v.unverifiable) == (["a"], ["b"], ["c"], ["d"])
    s = SourceFileChangedError("m", paths=("p",))
    assert s.paths == ["p"]


# -- store records and manifests tampered with or damaged --------------------------------


@pytest.fixture
def saved(tmp_path: Path, satchel_env: SatchelEnv) -> Artifact:
    art = Artifact("ds", "dataset")
    art.add_dir(write_tree(tmp_path / "src", {"a.txt": "alpha", "b/c.txt": "gamma"}))
    return art.save()


def _versions_dir(env: SatchelEnv) -> Path:
    return env.store / "projects" / "default" / "artifacts" / "ds" / "versions"


def _manifest_file(env: SatchelEnv, manifest_id: str) -> Path:
    return env.store / "manifests" / manifest_id[:2] / f"{manifest_id[2:]}.json.gz"


def _overwrite(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".x")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def test_newer_store_format_is_refused(saved: Artifact, satchel_env: SatchelEnv) -> None:
    _overwrite(satchel_env.store / "satchel.json", b'{"format": 2}')
    art = Artifact("other", "dataset")
    art.add("x", "x.txt")
    with pytest.raises(
        StoreFormatError,
        match=r"uses format 2; this satchel reads format 1. "
        r"Upgrade satchel",
    ):
        art.save()


def test_malformed_version_record(saved: Artifact, satchel_env: SatchelEnv) -> None:
    _overwrite(_versions_dir(satchel_env) / "0.json", b'{"id": 1')
    with pytest.raises(
        StoreFormatError,
        match=r"record .*/versions/0.json is damaged: not a "
        r"valid version record \(.*\); run 'satchel fsck', "
        r"and 'satchel fsck --repair' to move it to "
        r"quarantine$",
    ):
        satchel_env.api().artifact("ds:v0")


def test_missing_manifest(saved: Artifact, satchel_env: SatchelEnv) -> None:
    _manifest_file(satchel_env, saved.commit_hash).unlink()
    with pytest.raises(ManifestError, match=r"manifest .* is missing from store .*satchel fsck"):
        satchel_env.api().artifact("ds:v0").download()


def test_corrupt_manifest(saved: Artifact, satchel_env: SatchelEnv) -> None:
    _overwrite(_manifest_file(satchel_env, saved.commit_hash), b"not gzip at all")
    with pytest.raises(ManifestError, match=r"manifest .* is corrupt"):
        satchel_env.api().artifact("ds:v0").manifest  # noqa: B018


def test_manifest_not_matching_its_checksum(saved: Artifact, satchel_env: SatchelEnv) -> None:
    path = _manifest_file(satchel_env, saved.commit_hash)
    data = json.loads(gzip.decompress(path.read_bytes()))
    data["contents"]["a.txt"]["size"] = 6
    _overwrite(path, gzip.compress(json.dumps(data).encode()))
    with pytest.raises(
        ManifestError, match="does not match its checksum; the store was modified outside satchel"
    ):
        satchel_env.api().artifact("ds:v0").download()


@pytest.mark.parametrize(
    "evil",
    ["../escape.txt", "/tmp/abs.txt", "b/../../escape.txt", "C:/escape.txt", "a/D:escape.txt"],
)
def test_tampered_store_cannot_write_outside_download_root(
    saved: Artifact, satchel_env: SatchelEnv, tmp_path: Path, evil: str
) -> None:
    # A consistent forgery: a manifest listing an escaping path, stored under its own checksum,
    # and a version record pointing at it. Loading it is refused before anything is written.
    entry = saved.get_entry("a.txt")
    forged = {"version": 1, "contents": {evil: {"digest": entry.digest, "size": entry.size}}}
    data = json.dumps(forged, sort_keys=True, separators=(",", ":")).encode()
    mid = hashlib.sha256(data).hexdigest()
    target = _manifest_file(satchel_env, mid)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(gzip.compress(data))
    record_path = _versions_dir(satchel_env) / "0.json"
    record = json.loads(record_path.read_bytes())
    record["manifest"] = mid
    _overwrite(record_path, json.dumps(record).encode())
    root = tmp_path / "deep" / "root"
    with pytest.raises(InvalidPathError):
        satchel_env.api().artifact("ds:v0").download(root)
    assert not (tmp_path / "deep" / "escape.txt").exists()
    assert not Path("/tmp/abs.txt").exists()
    assert not list(root.rglob("*")) if root.exists() else True


def test_deleted_version_by_tombstone(saved: Artifact, satchel_env: SatchelEnv) -> None:
    (_versions_dir(satchel_env) / "0.deleted").write_bytes(b"{}")
    with pytest.raises(
        ArtifactDeletedError,
        match=r"default/ds:v0 was deleted; pick another "
        r"version \(satchel ls ds\)",
    ):
        satchel_env.api().artifact("ds:v0")
    with pytest.raises(LookupError):
        satchel_env.api().artifact("ds:latest")


def test_concurrent_update_gives_up_with_clear_error(
    saved: Artifact, satchel_env: SatchelEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Losing 500 races in a row cannot be provoked quickly; with no attempts allowed the
    # give-up path runs at once.
    import satchel.store.store as store_module

    monkeypatch.setattr(store_module, "MAX_ATTEMPTS", 0)
    art = Artifact("ds", "dataset")
    art.add("new", "n.txt")
    with pytest.raises(
        ConcurrentUpdateError,
        match=r"could not commit default/ds after 0 "
        r"attempts: too many concurrent writers",
    ):
        art.save()
    fetched = satchel_env.api().artifact("ds:v0")
    fetched.description = "edit"
    with pytest.raises(
        ConcurrentUpdateError,
        match=r"could not update .*too many concurrent "
        r"writers; try again",
    ):
        fetched.save()


# -- configuration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "SATCHEL_STORAGE_OPTIONS is not valid JSON"),
        ('["list"]', 'must be a JSON object like {"s3": {"anon": true}}'),
        ('{"s3": 1}', "must be a JSON object like"),
    ],
)
def test_bad_storage_options_env(monkeypatch: pytest.MonkeyPatch, value: str, message: str) -> None:
    from satchel import settings

    with pytest.raises(ConfigError, match=re.escape(message)):
        settings.storage_options({"SATCHEL_STORAGE_OPTIONS": value})
    monkeypatch.setenv("SATCHEL_STORAGE_OPTIONS", value)
    with pytest.raises(ConfigError, match=re.escape(message)):
        Api()


def test_bad_project_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_PROJECT", "no/slashes")
    with pytest.raises(InvalidNameError, match="^project 'no/slashes' is not valid"):
        Api()


# -- sources and references --------------------------------------------------------------


def test_immutable_file_rewritten_in_place_with_restored_mtime_is_caught_before_save(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    # Same inode, size and mtime: ctime still moved, so the pre-save check rehashes the file.
    f = tmp_path / "f.bin"
    f.write_bytes(b"original")
    st = os.stat(f)
    art = Artifact("ds", "dataset")
    art.add_file(f, policy="immutable")
    with open(f, "r+b") as fh:
        fh.write(b"ORIGINAL")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(
        SourceFileChangedError,
        match=r"1 file\(s\) added with policy='immutable' "
        r"changed before save: f.bin \(.*f.bin\). Nothing was committed",
    ):
        art.save()
    assert satchel_env.open_store().live_versions("default", "ds") == []


def test_immutable_file_changed_after_the_pre_save_check_is_caught_while_copying(
    tmp_path: Path, satchel_env: SatchelEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A writer that strikes between the pre-save check and the copy into the cache: the
    # bytes are hashed while they are copied and the mismatch stops the commit.
    from satchel.draft import Draft

    f = tmp_path / "f.bin"
    f.write_bytes(b"original")
    art = Artifact("ds", "dataset")
    art.add_file(f, policy="immutable")
    real_check = Draft.check_sources

    def check_then_rewrite(self: Draft, paths: object) -> None:
        real_check(self, paths)  # type: ignore[arg-type]
        f.write_bytes(b"ORIGINAL")

    monkeypatch.setattr(Draft, "check_sources", check_then_rewrite)
    with pytest.raises(
        SourceFileChangedError,
        match=r"f.bin \(.*f.bin\) changed while saving; "
        r"nothing was committed. Add it again",
    ):
        art.save()
    assert satchel_env.open_store().live_versions("default", "ds") == []


def test_unchecked_reference_that_vanished(tmp_path: Path) -> None:
    f = write_tree(tmp_path / "r", {"x.txt": "x"}) / "x.txt"
    art = Artifact("ds", "dataset")
    art.add_reference(f.as_uri(), checksum=False)
    art.save()
    f.unlink()
    with pytest.raises(ReferenceNotFoundError, match=r"reference file://.*x.txt no longer exists"):
        art.download(tmp_path / "out")


def test_handler_with_missing_dependency_names_the_extra(satchel_env: SatchelEnv) -> None:
    handlers = satchel_env.services().handlers
    handlers.register("fancy", "satchel_no_such_module:Handler", extra="fancy")
    with pytest.raises(
        HandlerUnavailableError,
        match=r"references with scheme 'fancy' need a "
        r"package that is not installed .*"
        r'pip install "satchel\[fancy\]"',
    ):
        handlers.for_uri("fancy://x/y")


def test_the_reference_error_base_has_a_real_name_and_the_old_one_warns() -> None:
    import satchel.errors as errors_module
    from satchel import ExternalReferenceError, ReferenceNotFoundError

    assert issubclass(ReferenceNotFoundError, ExternalReferenceError)
    with pytest.warns(
        DeprecationWarning,
        match=r"^satchel.errors.ReferenceError_ is deprecated; "
        r"use satchel.errors.ExternalReferenceError "
        r"\(the same class\)$",
    ):
        old = errors_module.ReferenceError_  # type: ignore[attr-defined]
    assert old is ExternalReferenceError
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchError'"):
        errors_module.NoSuchError  # type: ignore[attr-defined]  # noqa: B018
