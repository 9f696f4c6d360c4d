"""The manifest engine: digests, JSON (satchel's and W&B's), diff, and tamper rejection."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import msgspec
import pytest

from satchel import Artifact, Manifest, ManifestEntry
from satchel.errors import InvalidPathError, ManifestError
from satchel.hashing import hash_bytes

HELLO_DIGEST = "XUFAKrxLKna5cZ2REBfFkg=="
HELLO_ARTIFACT_DIGEST = "a00c2239f036fb656c1dcbf9a32d89b4"
EMPTY_ARTIFACT_DIGEST = "64e7c61456b10382e2f3b571ac24b659"


def _entry(path: str, content: bytes, **kw: object) -> ManifestEntry:
    return ManifestEntry(path, hash_bytes(content), len(content), **kw)  # type: ignore[arg-type]


def test_hello_entry_and_artifact_digest_match_wandb() -> None:
    entry = _entry("file1.txt", b"hello")
    assert entry.digest == HELLO_DIGEST
    assert entry.digest == base64.b64encode(hashlib.md5(b"hello").digest()).decode()
    assert Manifest([entry]).digest == HELLO_ARTIFACT_DIGEST


def test_hello_artifact_through_add_file(tmp_path: Path) -> None:
    (tmp_path / "file1.txt").write_text("hello")
    art = Artifact("hello", "dataset")
    entry = art.add_file(tmp_path / "file1.txt")
    assert entry.digest == HELLO_DIGEST
    assert art.digest == HELLO_ARTIFACT_DIGEST


def test_empty_artifact_digest() -> None:
    assert Manifest().digest == EMPTY_ARTIFACT_DIGEST
    assert Artifact("empty", "dataset").digest == EMPTY_ARTIFACT_DIGEST


def test_artifact_digest_definition_sorted_by_path() -> None:
    entries = [_entry(p, p.encode()) for p in ["b", "a/z", "a", "a-b", "A"]]
    lines = "".join(f"{e.path}:{e.digest}\n" for e in sorted(entries, key=lambda e: e.path))
    expected = hashlib.md5(("wandb-artifact-manifest-v1\n" + lines).encode()).hexdigest()
    assert Manifest(entries).digest == expected
    assert Manifest(reversed(entries)).digest == expected
    assert [e.path for e in Manifest(entries)] == sorted(e.path for e in entries)


def test_digest_ignores_size_extra_and_refs_other_than_digest() -> None:
    a = Manifest([_entry("x", b"1")])
    b = Manifest([ManifestEntry("x", hash_bytes(b"1"), 999, extra={"etag": "e"})])
    assert a.digest == b.digest


def test_entry_is_frozen_and_edited_with_replace() -> None:
    e = _entry("a", b"a")
    with pytest.raises(AttributeError):
        e.path = "b"  # type: ignore[misc]
    f = msgspec.structs.replace(e, path="b")
    assert (f.path, e.path) == ("b", "a")
    assert e.oid == hashlib.md5(b"a").hexdigest()
    assert e.alg == "md5" and not e.is_reference
    x = ManifestEntry("a", hash_bytes(b"a"), 1, extra={"alg": "XXH128"})
    assert x.alg == "xxh128"
    r = ManifestEntry("a", "etag", 1, ref="s3://b/k")
    assert r.is_reference


def test_duplicate_paths_rejected() -> None:
    with pytest.raises(ManifestError, match="manifest lists 'a' twice"):
        Manifest([_entry("a", b"1"), _entry("a", b"2")])


def test_constructor_validates_paths() -> None:
    with pytest.raises(InvalidPathError, match="contains '..'"):
        Manifest([_entry("../x", b"1")])
    with pytest.raises(InvalidPathError, match="not normalised"):
        Manifest([_entry("a//b", b"1")])


def test_json_round_trip_is_canonical_and_sorted() -> None:
    entries = [
        _entry("z.txt", b"z"),
        ManifestEntry("a/ref.bin", "etag-1", 10, ref="s3://bucket/key", extra={"etag": "etag-1"}),
        _entry("m.txt", b"m", birth_artifact_id="abc"),
    ]
    m = Manifest(entries)
    data = m.to_json()
    parsed = json.loads(data)
    assert list(parsed["contents"]) == ["a/ref.bin", "m.txt", "z.txt"]
    assert parsed["version"] == 1
    assert parsed["contents"]["m.txt"] == {
        "birthArtifactID": "abc",
        "digest": hash_bytes(b"m"),
        "size": 1,
    }
    assert parsed["contents"]["a/ref.bin"]["ref"] == "s3://bucket/key"
    assert data == json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()
    back = Manifest.from_json(data)
    assert back == m
    assert back.digest == m.digest
    assert back.to_json() == data
    assert Manifest.from_json(data.decode()) == m


def test_to_dict_shape_and_size() -> None:
    m = Manifest([_entry("a", b"12"), _entry("b", b"345"), ManifestEntry("r", "u", None, "x://u")])
    d = m.to_dict()
    assert set(d) == {"version", "storagePolicy", "storagePolicyConfig", "contents"}
    assert m.size == 5
    assert len(m) == 3 and "a" in m and m.get("zzz") is None
    assert list(m.entries) == ["a", "b", "r"]
    with pytest.raises(TypeError):
        m.entries["new"] = _entry("new", b"")  # type: ignore[index]


WANDB_MANIFEST = {
    "version": 1,
    "storagePolicy": "wandb-storage-policy-v1",
    "storagePolicyConfig": {"storageLayout": "V2"},
    "contents": {
        "file1.txt": {
            "digest": HELLO_DIGEST,
            "size": 5,
            "local_path": "/home/me/.local/share/wandb/artifacts/staging/tmpabc",
            "skip_cache": False,
        },
        "data/ref.csv": {
            "digest": "1b2cf535f27731c974343645a3985328",
            "ref": "s3://bucket/data/ref.csv",
            "size": 42,
            "extra": {"etag": "1b2cf535f27731c974343645a3985328", "versionID": "v1"},
            "birthArtifactID": "QXJ0aWZhY3Q6MQ==",
        },
    },
}


def test_reads_wandb_manifest_ignoring_uploader_keys(tmp_path: Path) -> None:
    path = tmp_path / "wandb_manifest.json"
    path.write_text(json.dumps(WANDB_MANIFEST))
    for m in (
        Manifest.from_wandb(path),
        Manifest.from_wandb(str(path)),
        Manifest.from_wandb(WANDB_MANIFEST),
    ):
        assert [e.path for e in m] == ["data/ref.csv", "file1.txt"]
        hello = m.entries["file1.txt"]
        assert (hello.digest, hello.size, hello.ref) == (HELLO_DIGEST, 5, None)
        ref = m.entries["data/ref.csv"]
        assert ref.ref == "s3://bucket/data/ref.csv"
        assert ref.extra == {"etag": "1b2cf535f27731c974343645a3985328", "versionID": "v1"}
        assert ref.birth_artifact_id == "QXJ0aWZhY3Q6MQ=="
        assert m.storage_policy == "wandb-storage-policy-v1"
        assert "local_path" not in json.dumps(m.to_dict())
        assert "skip_cache" not in m.to_json().decode()


def test_from_wandb_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Manifest.from_wandb(tmp_path / "nope.json")


def test_writes_wandb_manifest_shape() -> None:
    m = Manifest([_entry("file1.txt", b"hello")])
    w = m.to_wandb()
    assert w == {
        "version": 1,
        "storagePolicy": "wandb-storage-policy-v1",
        "storagePolicyConfig": {"storageLayout": "V2"},
        "contents": {"file1.txt": {"digest": HELLO_DIGEST, "size": 5}},
    }
    assert Manifest.from_wandb(w) == m


def test_diff_added_removed_modified() -> None:
    old = Manifest(
        [
            _entry("keep", b"k"),
            _entry("gone", b"g"),
            _entry("edit", b"1"),
            ManifestEntry("ref", "e1", 1, "s3://b/k1"),
        ]
    )
    new = Manifest(
        [
            _entry("keep", b"k"),
            _entry("new", b"n"),
            _entry("edit", b"2"),
            ManifestEntry("ref", "e1", 1, "s3://b/k2"),
        ]
    )
    d = old.diff(new)
    assert [e.path for e in d.added] == ["new"]
    assert [e.path for e in d.removed] == ["gone"]
    assert [(a.path, a.digest, b.digest) for a, b in d.modified] == [
        ("edit", hash_bytes(b"1"), hash_bytes(b"2")),
        ("ref", "e1", "e1"),
    ]
    assert d
    assert not old.diff(old)
    back = new.diff(old)
    assert [e.path for e in back.added] == ["gone"]


# -- malformed and tampered manifests ------------------------------------------------------


def _tampered(path: str) -> bytes:
    return json.dumps(
        {
            "version": 1,
            "contents": {
                "ok.txt": {"digest": HELLO_DIGEST, "size": 5},
                path: {"digest": HELLO_DIGEST, "size": 5},
            },
        }
    ).encode()


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../../etc/passwd", "contains '..'"),
        ("a/../../b", "contains '..'"),
        ("/etc/passwd", "is absolute"),
        ("a\x00b", "NUL byte"),
        ("C:/Windows/x", "drive letter"),
        ("c:x", "drive letter"),
        ("a/C:x", "drive letter"),
        ("a\\..\\b", "backslash"),
        ("./a", "not normalised"),
        ("a//b", "not normalised"),
        ("a/./b", "not normalised"),
        ("a/", "not normalised"),
        ("", "is empty"),
        ("a\nb", "line break"),
    ],
)
def test_tampered_paths_rejected_on_load(path: str, reason: str) -> None:
    with pytest.raises(InvalidPathError, match=reason):
        Manifest.from_json(_tampered(path))
    with pytest.raises(InvalidPathError, match=reason):
        Manifest.from_wandb(json.loads(_tampered(path)))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "manifest is malformed"),
        (b"[]", "manifest is malformed"),
        (b'{"contents": {}}', "manifest is malformed"),
        (b'{"version": 1}', "manifest is malformed"),
        (b'{"version": 1, "contents": {"a": {"size": 1}}}', "manifest is malformed"),
        (b'{"version": 1, "contents": {"a": {"digest": 5}}}', "manifest is malformed"),
        (
            b'{"version": 1, "contents": {"a": {"digest": "x", "size": "big"}}}',
            "manifest is malformed",
        ),
        (b'{"version": 2, "contents": {}}', "manifest version 2 is not supported"),
        (b'{"version": 1, "contents": {"a": {"digest": "x", "size": -1}}}', "negative size"),
    ],
)
def test_malformed_manifest_rejected(data: bytes, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        Manifest.from_json(data)


def test_manifest_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        Manifest.from_json(b"{")


def test_unsorted_contents_are_sorted_on_load() -> None:
    data = json.dumps(
        {"version": 1, "contents": {"b": {"digest": HELLO_DIGEST}, "a": {"digest": HELLO_DIGEST}}}
    ).encode()
    m = Manifest.from_json(data)
    assert [e.path for e in m] == ["a", "b"]
    assert list(json.loads(m.to_json())["contents"]) == ["a", "b"]


def test_large_manifest_round_trip() -> None:
    entries = [
        ManifestEntry(f"d{i % 100}/f{i}", hash_bytes(str(i).encode()), i) for i in range(20000)
    ]
    m = Manifest(entries)
    back = Manifest.from_json(m.to_json())
    assert back == m and back.digest == m.digest and len(back) == 20000
