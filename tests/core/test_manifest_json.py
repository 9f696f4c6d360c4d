"""Canonical manifest JSON written in pieces, and manifests read from JSON without building
every entry up front (satchel.manifest; the speed is measured in benchmarks/bench_core.py)."""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from satchel.hashing import hash_bytes
from satchel.manifest import Manifest, ManifestEntry


def _manifest(n: int, seed: int = 0) -> Manifest:
    rng = random.Random(seed)
    names = ["a", "Z", "é", "日本", "😀", "x y", 'q"uote', "tab\tname", "ab:c"]
    entries = []
    for i in range(n):
        path = "/".join(
            rng.choice(names) + str(rng.randint(0, 9)) for _ in range(rng.randint(1, 3))
        )
        extra: dict[str, str] = {}
        if i % 3 == 0:
            extra = {"versionID": f"v{i}", "etag": f'"{i}"', "alg": "XXH128"}  # unsorted keys
        entries.append(
            ManifestEntry(
                f"{path}/{i}",
                hash_bytes(str(i).encode()),
                None if i % 5 == 0 else i,
                f"s3://b/{i}" if i % 4 == 0 else None,
                extra,
                f"id{i}" if i % 7 == 0 else None,
            )
        )
    return Manifest(entries, storage_policy_config={"z": 1, "a": {"y": 2, "b": 3}})


def _reference_json(m: Manifest) -> bytes:
    # An independent canonical encoding: sorted keys, compact, UTF-8.
    return json.dumps(
        m.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


@pytest.mark.parametrize("chunk", [1, 3, 64, 100_000])
def test_json_in_pieces_is_the_canonical_json(chunk: int) -> None:
    m = _manifest(300)
    assert b"".join(m.iter_json(chunk)) == _reference_json(m) == m.to_json()


def test_empty_manifest_json() -> None:
    m = Manifest()
    assert m.to_json() == _reference_json(m)
    assert Manifest.from_json(m.to_json()) == m


def test_read_manifest_answers_without_building_entries_then_builds_them() -> None:
    m = _manifest(200)
    data = m.to_json()
    loaded = Manifest.from_json(data)
    first = next(iter(m.entries))
    assert loaded.digest == m.digest
    assert loaded.size == m.size and len(loaded) == len(m) and first in loaded
    assert loaded.get(first) == m.get(first) and loaded.get("nope") is None
    assert loaded.to_json() == data
    assert hashlib.sha256(loaded.to_json()).digest() == hashlib.sha256(data).digest()
    assert Manifest.from_json(data) == loaded  # both unbuilt
    assert list(loaded) == list(m)  # builds the entries
    assert loaded == m and dict(loaded.entries) == dict(m.entries)
    assert loaded.to_json() == data
    assert not loaded.diff(m)


def test_json_gzip_is_the_gzip_of_the_canonical_json_and_its_sha256() -> None:
    import gzip

    for m in (Manifest(), _manifest(500)):
        mid, compressed = m.to_json_gzip()
        assert gzip.decompress(compressed) == m.to_json()
        assert mid == hashlib.sha256(m.to_json()).hexdigest()
