"""Building a draft: add_file/add_dir/add_reference/add/new_file/remove, policies, conflicts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from satchel import Artifact, Cache
from satchel.errors import (
    ArtifactNotFoundError,
    EntryConflictError,
    EntryNotFoundError,
    InvalidArgumentError,
    InvalidPathError,
    ReferenceNotFoundError,
    SerializerError,
    SkippedFilesWarning,
    SourceFileChangedError,
    SourceFileNotFoundError,
    TooManyObjectsError,
)
from satchel.hashing import hash_bytes
from tests.conftest import SatchelEnv, read_tree, write_tree


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_tree(
        tmp_path / "data",
        {"a.txt": "alpha", "b.txt": "beta", "sub/c.txt": "gamma", "sub/deeper/d.bin": b"\x00d"},
    )


def _versions(env: SatchelEnv, name: str = "ds") -> list[int]:
    return env.open_store().live_versions("default", name)


# -- add_file ----------------------------------------------------------------------------


def test_add_file_default_and_explicit_name(data: Path) -> None:
    art = Artifact("ds", "dataset")
    e1 = art.add_file(data / "a.txt")
    e2 = art.add_file(str(data / "sub" / "c.txt"), name="./x/./y.txt")
    assert (e1.path, e1.digest, e1.size) == ("a.txt", hash_bytes(b"alpha"), 5)
    assert e2.path == "x/y.txt"
    assert list(art.manifest.entries) == ["a.txt", "x/y.txt"]
    assert art.get_entry("x/y.txt") == e2
    assert art.get_entry("./x/y.txt") == e2
    assert art.file_count == 2 and art.size == 10


def test_add_file_bad_logical_name(data: Path) -> None:
    art = Artifact("ds", "dataset")
    with pytest.raises(InvalidPathError, match="contains '..'"):
        art.add_file(data / "a.txt", name="../escape.txt")
    assert len(art.manifest) == 0


def test_add_file_missing_or_folder(data: Path) -> None:
    art = Artifact("ds", "dataset")
    with pytest.raises(SourceFileNotFoundError, match="does not exist"):
        art.add_file(data / "nope.txt")
    with pytest.raises(FileNotFoundError):
        art.add_file(data / "nope.txt")
    with pytest.raises(SourceFileNotFoundError, match="is not a regular file; use add_dir"):
        art.add_file(data / "sub")


def test_add_file_unknown_policy(data: Path) -> None:
    with pytest.raises(
        InvalidArgumentError,
        match=r"^policy must be 'mutable' or 'immutable', "
        r"got 'copy'; 'immutable' checks the file is unchanged at save, 'mutable' "
        r"copies it now$",
    ):
        Artifact("ds", "dataset").add_file(data / "a.txt", policy="copy")
    with pytest.raises(ValueError, match="policy must be"):  # an InvalidArgumentError is one
        Artifact("ds", "dataset").add_dir(data, policy="reference")


def test_add_file_is_tmp_names_file_by_digest(data: Path) -> None:
    art = Artifact("ds", "dataset")
    entry = art.add_file(data / "sub" / "c.txt", name="tmp/file.tar.gz", is_tmp=True)
    assert entry.path == f"tmp/{entry.oid[:20]}.tar.gz"
    assert art.add_file(data / "a.txt", is_tmp=True).path == f"{hash_bytes_hex(b'alpha')[:20]}.txt"


def hash_bytes_hex(data: bytes) -> str:
    import hashlib

    return hashlib.md5(data).hexdigest()


def test_same_path_same_content_is_noop_other_content_conflicts(data: Path) -> None:
    art = Artifact("ds", "dataset")
    art.add_file(data / "a.txt", name="f.txt")
    art.add_file(data / "a.txt", name="f.txt")  # same content: no-op
    with pytest.raises(EntryConflictError, match="'f.txt' is already in the artifact with other"):
        art.add_file(data / "b.txt", name="f.txt")
    assert art.get_entry("f.txt").digest == hash_bytes(b"alpha")
    art.add_file(data / "b.txt", name="f.txt", overwrite=True)
    assert art.get_entry("f.txt").digest == hash_bytes(b"beta")


def test_get_added_local_path_name(data: Path) -> None:
    art = Artifact("ds", "dataset")
    art.add_file(data / "a.txt", name="renamed.txt")
    art.add_dir(data / "sub", name="s")
    assert art.get_added_local_path_name(data / "a.txt") == "renamed.txt"
    assert art.get_added_local_path_name(str(data / "sub" / "deeper" / "d.bin")) == "s/deeper/d.bin"
    assert art.get_added_local_path_name(data / "b.txt") is None


# -- add_dir -----------------------------------------------------------------------------


def test_add_dir_with_and_without_prefix(data: Path) -> None:
    art = Artifact("ds", "dataset")
    art.add_dir(data)
    assert list(art.manifest.entries) == ["a.txt", "b.txt", "sub/c.txt", "sub/deeper/d.bin"]
    art2 = Artifact("ds", "dataset")
    art2.add_dir(str(data / "sub"), name="./pre/")
    assert list(art2.manifest.entries) == ["pre/c.txt", "pre/deeper/d.bin"]


def test_add_dir_missing(tmp_path: Path) -> None:
    with pytest.raises(SourceFileNotFoundError) as info:
        Artifact("ds", "dataset").add_dir(tmp_path / "nope")
    assert str(info.value) == f"folder {tmp_path / 'nope'} does not exist"
    (tmp_path / "file").write_text("x")
    with pytest.raises(SourceFileNotFoundError) as info:
        Artifact("ds", "dataset").add_dir(tmp_path / "file")
    assert str(info.value) == f"{tmp_path / 'file'} is a file, not a folder"


def test_add_dir_does_not_follow_folder_symlinks(data: Path, tmp_path: Path) -> None:
    outside = write_tree(tmp_path / "outside", {"secret.txt": "s"})
    os.symlink(outside, data / "link")
    os.symlink(data / "a.txt", data / "file-link.txt")
    art = Artifact("ds", "dataset")
    with pytest.warns(SkippedFilesWarning, match="'link' \\(a symbolic link to a folder, not"):
        art.add_dir(data)
    assert "link/secret.txt" not in art.manifest
    assert art.get_entry("file-link.txt").digest == hash_bytes(b"alpha")  # file links followed


def test_add_dir_conflicts_listed_before_anything_is_added(data: Path, tmp_path: Path) -> None:
    other = write_tree(
        tmp_path / "other",
        {"a.txt": "ALPHA", "b.txt": "beta", "new.txt": "n", "sub/c.txt": "GAMMA"},
    )
    art = Artifact("ds", "dataset")
    art.add_dir(data)
    with pytest.raises(EntryConflictError, match=r"2 path\(s\) .*a.txt, sub/c.txt.*merge=True"):
        art.add_dir(other)
    assert "new.txt" not in art.manifest
    art.add_dir(other, merge=True)
    assert art.get_entry("a.txt").digest == hash_bytes(b"ALPHA")
    assert art.get_entry("sub/deeper/d.bin").digest == hash_bytes(b"\x00d")  # kept
    assert "new.txt" in art.manifest


def test_add_dir_same_content_is_noop(data: Path) -> None:
    art = Artifact("ds", "dataset")
    art.add_dir(data)
    before = art.manifest
    art.add_dir(data)
    assert art.manifest == before


# -- policies ----------------------------------------------------------------------------


def test_mutable_commits_add_time_bytes_even_if_changed_or_deleted(
    data: Path, tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    art = Artifact("ds", "dataset")
    art.add_dir(data)  # policy="mutable" is the default
    (data / "a.txt").write_text("CHANGED after add")
    os.unlink(data / "sub" / "c.txt")
    art.save()
    out = satchel_env.api().artifact("ds:v0").download(tmp_path / "out")
    files = read_tree(out)
    assert files["a.txt"] == b"alpha"
    assert files["sub/c.txt"] == b"gamma"


def test_mutable_add_file_then_delete_source(data: Path, satchel_env: SatchelEnv) -> None:
    art = Artifact("ds", "dataset")
    art.add_file(data / "b.txt")
    os.unlink(data / "b.txt")
    art.save()
    assert art.get("b.txt") == b"beta"


def test_immutable_unchanged_files_commit(
    data: Path, tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    art = Artifact("ds", "dataset")
    art.add_dir(data, policy="immutable")
    os.utime(data / "a.txt", ns=(1, 1))  # touched but same content: still fine
    art.save()
    out = satchel_env.api().artifact("ds:v0").download(tmp_path / "out")
    assert read_tree(out) == read_tree(data)


@pytest.mark.parametrize("change", ["edit", "delete", "edit-same-size"])
def test_immutable_changed_file_fails_and_commits_nothing(
    data: Path, satchel_env: SatchelEnv, change: str
) -> None:
    art = Artifact("ds", "dataset")
    art.add_dir(data, policy="immutable")
    target = data / "sub" / "c.txt"
    if change == "edit":
        target.write_text("a different, longer content")
    elif change == "edit-same-size":
        target.write_text("GAMMA")
        os.utime(target, ns=(1, 10**18))
    else:
        os.unlink(target)
    with pytest.raises(
        SourceFileChangedError,
        match=r"1 file\(s\) added with policy='immutable'"
        r" changed before save: sub/c.txt .*Nothing was committed",
    ) as info:
        art.save()
    assert len(info.value.paths) == 1 and info.value.paths[0].startswith("sub/c.txt")
    assert _versions(satchel_env) == []
    with pytest.raises(ArtifactNotFoundError):
        satchel_env.api().artifact("ds:latest")
    assert art.is_draft()


def test_immutable_change_lists_every_changed_file(data: Path) -> None:
    art = Artifact("ds", "dataset")
    art.add_dir(data, policy="immutable")
    (data / "a.txt").write_text("new a!")
    os.unlink(data / "b.txt")
    with pytest.raises(SourceFileChangedError) as info:
        art.save()
    assert len(info.value.paths) == 2
    assert (
        "a.txt" in str(info.value)
        and "b.txt" in str(info.value)
        and "was deleted" in str(info.value)
    )


def test_immutable_failed_save_can_be_retried_after_readding(data: Path) -> None:
    art = Artifact("ds", "dataset")
    art.add_file(data / "a.txt", policy="immutable")
    (data / "a.txt").write_text("v2 content")
    with pytest.raises(SourceFileChangedError):
        art.save()
    art.add_file(data / "a.txt", policy="immutable", overwrite=True)
    art.save()
    assert art.version == "v0"
    assert art.get("a.txt") == b"v2 content"


# -- references --------------------------------------------------------------------------


def test_add_reference_file_uri_file_and_folder(data: Path) -> None:
    art = Artifact("ds", "dataset")
    (one,) = art.add_reference(data.joinpath("a.txt").as_uri())
    assert (one.path, one.digest, one.size, one.ref) == (
        "a.txt",
        hash_bytes(b"alpha"),
        5,
        data.joinpath("a.txt").as_uri(),
    )
    many = art.add_reference(data.joinpath("sub").as_uri(), name="refs")
    assert [e.path for e in many] == ["refs/c.txt", "refs/deeper/d.bin"]
    assert all(e.is_reference for e in many)
    assert art.get("refs/c.txt") == b"gamma"


def test_add_reference_file_errors(data: Path) -> None:
    art = Artifact("ds", "dataset")
    with pytest.raises(ReferenceNotFoundError, match="does not exist"):
        art.add_reference(data.joinpath("nope").as_uri())
    with pytest.raises(TooManyObjectsError, match="holds 4 files, more than max_objects=3"):
        art.add_reference(data.as_uri(), max_objects=3)
    with pytest.raises(
        InvalidArgumentError,
        match=r"^max_objects must be at least 1, got 0; pass "
        r"a positive limit, or None for the default$",
    ):
        art.add_reference(data.as_uri(), max_objects=0)
    with pytest.raises(InvalidPathError, match="names host 'server'; use file:///absolute/path"):
        art.add_reference("file://server/share/x")
    assert len(art.manifest) == 0


def test_add_reference_unknown_scheme_tracks_uri(data: Path, satchel_env: SatchelEnv) -> None:
    art = Artifact("ds", "dataset")
    with pytest.raises(InvalidPathError, match="needs a name: add_reference"):
        art.add_reference("ftp://example.invalid/data.csv")
    (e,) = art.add_reference("ftp://example.invalid/data.csv", name="data.csv")
    assert (e.path, e.digest, e.ref, e.size) == (
        "data.csv",
        "ftp://example.invalid/data.csv",
        "ftp://example.invalid/data.csv",
        None,
    )
    art.add_file(data / "a.txt")
    art.save()
    fetched = satchel_env.api().artifact("ds:v0")
    assert fetched.get_entry("data.csv").ref == "ftp://example.invalid/data.csv"


def test_add_reference_rejects_credentials() -> None:
    art = Artifact("ds", "dataset")
    with pytest.raises(InvalidPathError, match=r"contains credentials; remove them") as info:
        art.add_reference("https://alice:s3cret@example.invalid/x.csv", name="x.csv")
    assert "s3cret" not in str(info.value)


def test_same_reference_twice_is_noop_other_conflicts(data: Path) -> None:
    art = Artifact("ds", "dataset")
    art.add_reference(data.joinpath("a.txt").as_uri(), name="r")
    art.add_reference(data.joinpath("a.txt").as_uri(), name="r")
    with pytest.raises(EntryConflictError):
        art.add_reference(data.joinpath("b.txt").as_uri(), name="r")


# -- objects -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    ["text ✓", b"\x00raw", bytearray(b"ba"), {"k": [1, 2.5, None, True]}, [1, "two"], 7],
)
def test_add_and_get_objects_round_trip(obj: object, satchel_env: SatchelEnv) -> None:
    art = Artifact("ds", "dataset")
    art.add(obj, "obj")
    expected = bytes(obj) if isinstance(obj, bytearray) else obj
    assert art.get("obj") == expected
    assert art["obj"] == expected
    art.save()
    assert satchel_env.api().artifact("ds:v0")["obj"] == expected


def test_setitem_overwrites_and_add_conflicts() -> None:
    art = Artifact("ds", "dataset")
    art["cfg.json"] = {"lr": 0.1}
    art["cfg.json"] = {"lr": 0.2}
    assert art["cfg.json"] == {"lr": 0.2}
    with pytest.raises(EntryConflictError):
        art.add({"lr": 0.3}, "cfg.json")
    art.add({"lr": 0.2}, "cfg.json")  # same content: no-op
    art.add({"lr": 0.3}, "cfg.json", overwrite=True)
    assert art["cfg.json"] == {"lr": 0.3}


def test_add_unsupported_object() -> None:
    with pytest.raises(SerializerError, match="cannot add an object of type object; supported:"):
        Artifact("ds", "dataset").add(object(), "x")
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        Artifact("ds", "dataset").add({"x": {1, 2}}, "x.json")
    with pytest.raises(SerializerError, match="not JSON-serialisable"):
        Artifact("ds", "dataset").add([float("nan")], "x.json")


def test_get_plain_file_returns_bytes_and_missing_is_key_error(data: Path) -> None:
    art = Artifact("ds", "dataset")
    art.add_file(data / "a.txt")
    art.add_file(data / "b.txt", policy="immutable")
    assert art.get("a.txt") == b"alpha"
    assert art.get("b.txt") == b"beta"
    with pytest.raises(EntryNotFoundError, match="artifact ds has no entry 'zzz'"):
        art.get("zzz")
    with pytest.raises(KeyError):
        art["zzz"]
    with pytest.raises(EntryNotFoundError):
        art.get_entry("zzz")


def test_get_with_unregistered_serializer(satchel_env: SatchelEnv) -> None:
    import ast

    from satchel.serialization import SerializerRegistry
    from satchel.services import Services

    base = satchel_env.services()
    registry = SerializerRegistry()
    registry.register(
        "pairs", (tuple,), lambda t: repr(t).encode(), lambda b: ast.literal_eval(b.decode())
    )
    custom = Services(base.cache, base.handlers, registry, base.progress, base.store)
    art = Artifact("ds", "dataset", services=custom)
    art.add((1, 2), "pair")
    assert art.get("pair") == (1, 2)
    art.save()
    plain = satchel_env.api().artifact("ds:v0")
    with pytest.raises(SerializerError, match="serializer 'pairs', which is not registered"):
        plain.get("pair")


# -- new_file ----------------------------------------------------------------------------


def test_new_file_text_and_binary() -> None:
    art = Artifact("ds", "dataset")
    with art.new_file("notes/readme.md") as f:
        f.write("héllo")
    with art.new_file("blob.bin", mode="xb") as fb:
        fb.write(b"\x01\x02")
    with art.new_file("latin.txt", encoding="latin-1") as f:
        f.write("é")
    assert art.get("notes/readme.md") == "héllo".encode()
    assert art.get("blob.bin") == b"\x01\x02"
    assert art.get("latin.txt") == "é".encode("latin-1")


def test_new_file_modes_and_conflicts() -> None:
    art = Artifact("ds", "dataset")
    with art.new_file("f.txt") as f:
        f.write("one")
    conflict = "'f.txt' is already in the artifact; use mode='w'"
    with pytest.raises(EntryConflictError, match=conflict), art.new_file("f.txt") as f:
        f.write("two")
    with art.new_file("f.txt", mode="w") as f:
        f.write("three")
    assert art.get("f.txt") == b"three"
    bad_mode = (
        r"^mode must be 'x', 'w', 'xb' or 'wb', got 'a'; new_file\(\) writes a new file "
        r"\(use download\(\) to read one\)$"
    )
    with pytest.raises(InvalidArgumentError, match=bad_mode), art.new_file("g.txt", mode="a"):
        pass


def test_new_file_failure_adds_nothing() -> None:
    art = Artifact("ds", "dataset")
    with pytest.raises(RuntimeError), art.new_file("f.txt") as f:
        f.write("partial")
        raise RuntimeError("boom")
    assert "f.txt" not in art.manifest


# -- remove ------------------------------------------------------------------------------


def test_remove_file_folder_and_entry(data: Path) -> None:
    art = Artifact("ds", "dataset")
    art.add_dir(data)
    art.remove("a.txt")
    art.remove(art.get_entry("b.txt"))
    art.remove("sub/")
    assert len(art.manifest) == 0
    with pytest.raises(EntryNotFoundError, match="nothing at 'a.txt' in the artifact"):
        art.remove("a.txt")


def test_remove_folder_prefix_is_not_a_string_prefix(data: Path) -> None:
    art = Artifact("ds", "dataset")
    art.add_dir(data / "sub", name="sub")
    art.add_file(data / "a.txt", name="subway.txt")
    art.remove("sub")
    assert list(art.manifest.entries) == ["subway.txt"]


# -- skip_cache --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_skip_cache_drops_cached_copies_after_save(
    data: Path, satchel_env: SatchelEnv, kind: str
) -> None:
    import uuid

    cache = Cache(str(satchel_env.cache))
    art = Artifact("ds", "dataset")
    art.add_file(data / "a.txt", skip_cache=True)
    art.add_dir(data / "sub", name="sub", skip_cache=True)
    art.add_file(data / "b.txt")
    art.save(store=None if kind == "local" else f"memory://skip-{uuid.uuid4().hex[:8]}/s")
    for path in ("a.txt", "sub/c.txt", "sub/deeper/d.bin"):
        e = art.get_entry(path)
        assert cache.get(e.alg, e.oid) is None, path
    b = art.get_entry("b.txt")
    # a bucket-like store leaves the cache its copy; a local store takes every copy over (the
    # cache never holds a second name of a local store's object)
    assert (cache.get(b.alg, b.oid) is not None) is (kind == "memory")
    assert art.get("a.txt") == b"alpha"  # still fetchable from the store


def test_xxh128_entries_are_marked(data: Path, tmp_path: Path, satchel_env: SatchelEnv) -> None:
    import xxhash

    art = Artifact("ds", "dataset", digest_algorithm="xxh128")
    art.add_dir(data)
    art.add("text", "t.txt")
    e = art.get_entry("a.txt")
    assert e.extra == {"alg": "XXH128"} and e.alg == "xxh128"
    assert art.get_entry("t.txt").extra == {"serializer": "text", "alg": "XXH128"}
    import base64

    assert e.digest == base64.b64encode(xxhash.xxh3_128(b"alpha").digest()).decode()
    art.save()
    out = satchel_env.api().artifact("ds:v0").download(tmp_path / "out")
    assert read_tree(out)["sub/c.txt"] == b"gamma"
    satchel_env.api().artifact("ds:v0").verify(out)


def test_add_reference_malformed_uri() -> None:
    with pytest.raises(InvalidPathError, match=r"reference 'http://\[::1/x' is not a valid URI"):
        Artifact("ds", "dataset").add_reference("http://[::1/x", name="x")
