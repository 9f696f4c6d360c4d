"""What ``gs://`` references record and how they fail, against fake-gcs-server.

Shared behaviours are in ``tests/references/test_references_conformance.py``; this file covers the GCS
specifics: md5Hash/etag/generation/crc32c records, ``#<generation>`` pins, objects without
an MD5 (composite objects, checked by CRC32C), the changed-object message, requests per
page, and error kinds. fake-gcs-server gives every object an MD5 and checks no credentials, so
the composite-object and 403 cases go through :class:`tests.references.conftest.GCSProxy`,
which forwards to fake-gcs-server and changes only those answers to what real GCS sends.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import google_crc32c
import msgspec
import pytest

from satchel.api import Api
from satchel.artifact import Artifact
from satchel.errors import (
    DigestMismatchError,
    InvalidPathError,
    ReferenceAccessError,
    ReferenceChangedError,
    ReferenceNetworkError,
    ReferenceNotFoundError,
)
from satchel.handlers.gcs import GCSHandler, parse_uri
from tests.conftest import SatchelEnv
from tests.references.conftest import GCSProxy, b64md5, gcs_put, services_for


def _artifact(env: SatchelEnv, options: dict[str, Any]) -> tuple[Artifact, GCSHandler, list[str]]:
    svc, warnings = services_for(env, {"gs": options})
    handler = svc.handlers.for_scheme("gs")
    assert isinstance(handler, GCSHandler)
    return Artifact("refs", "dataset", services=svc), handler, warnings


def _read(root: str | Path) -> dict[str, bytes]:
    root = Path(root)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _crc(data: bytes) -> str:
    return base64.b64encode(google_crc32c.Checksum(data).digest()).decode()


@pytest.fixture
def proxy(gcs_server: Any) -> Iterator[GCSProxy]:
    p = GCSProxy(gcs_server.endpoint_url)
    yield p
    p.stop()


def test_parse_uri_reads_only_a_numeric_generation() -> None:
    assert parse_uri("gs://b/k#123").generation == "123"
    assert parse_uri("gs://b/k#tag").key == "k#tag"
    assert parse_uri("gcs://b/dir/").key == "dir/"
    with pytest.raises(InvalidPathError, match="names no bucket"):
        parse_uri("gs:///k")


def test_object_records_md5_etag_generation_and_crc32c(
    gcs_bucket: Any, satchel_env: SatchelEnv
) -> None:
    item = gcs_put(gcs_bucket, "d/o.bin", b"gcs bytes")
    art, handler, _ = _artifact(satchel_env, gcs_bucket.storage_options)
    (single,) = art.add_reference(f"gs://{gcs_bucket.name}/d/o.bin")
    (listed,) = art.add_reference(f"gcs://{gcs_bucket.name}/d", name="listed")
    for entry in (single, listed):
        assert entry.digest == b64md5(b"gcs bytes") == item["md5Hash"]
        assert entry.extra == {
            "etag": item["etag"],
            "versionID": item["generation"],
            "crc32c": _crc(b"gcs bytes"),
        }
        assert entry.ref == f"gs://{gcs_bucket.name}/d/o.bin"
        assert handler.content_digest(entry) == ("md5", b64md5(b"gcs bytes"))


def test_generation_in_uri_pins_that_generation(
    gcs_versioned_bucket: Any, satchel_env: SatchelEnv
) -> None:
    b = gcs_versioned_bucket
    first = gcs_put(b, "g.txt", b"first")["generation"]
    gcs_put(b, "g.txt", b"second")
    art, _, _ = _artifact(satchel_env, b.storage_options)
    (entry,) = art.add_reference(f"gs://{b.name}/g.txt#{first}")
    assert (entry.path, entry.digest) == ("g.txt", b64md5(b"first"))
    assert entry.extra is not None and entry.extra["versionID"] == first
    assert _read(art.save().download(satchel_env.work / "o")) == {"g.txt": b"first"}


def test_pinned_generation_that_does_not_exist_is_not_found(
    gcs_bucket: Any, satchel_env: SatchelEnv
) -> None:
    gcs_put(gcs_bucket, "g.txt", b"x")
    art, _, _ = _artifact(satchel_env, gcs_bucket.storage_options)
    with pytest.raises(ReferenceNotFoundError, match="generation 1 does not exist"):
        art.add_reference(f"gs://{gcs_bucket.name}/g.txt#1")


def test_changed_object_error_names_both_etags_and_generations(
    gcs_bucket: Any, satchel_env: SatchelEnv
) -> None:
    old = gcs_put(gcs_bucket, "c.txt", b"old")
    art, _, _ = _artifact(satchel_env, gcs_bucket.storage_options)
    art.add_reference(f"gs://{gcs_bucket.name}/c.txt")
    art.save()
    new = gcs_put(gcs_bucket, "c.txt", b"new")
    with pytest.raises(ReferenceChangedError) as info:
        art.download(satchel_env.work / "o")
    message = str(info.value)
    assert f"gs://{gcs_bucket.name}/c.txt" in message
    assert f"recorded ETag {old['etag']} (generation {old['generation']})" in message
    assert f"current ETag {new['etag']} (generation {new['generation']})" in message


def test_object_without_md5_is_recorded_by_crc32c_and_verified_by_it(
    gcs_bucket: Any, satchel_env: SatchelEnv, proxy: GCSProxy
) -> None:
    gcs_put(gcs_bucket, "comp/whole.bin", b"composite object bytes")
    proxy.strip_md5.add("comp/whole.bin")
    options = {**gcs_bucket.storage_options, "endpoint_url": proxy.url}
    art, handler, _ = _artifact(satchel_env, options)
    (entry,) = art.add_reference(f"gs://{gcs_bucket.name}/comp/whole.bin")
    assert entry.digest == _crc(b"composite object bytes")
    assert handler.content_digest(entry) is None
    root = art.save().download(satchel_env.work / "o")
    assert _read(root) == {"whole.bin": b"composite object bytes"}
    assert art.verify(root).unverifiable == ("whole.bin",)


def test_crc32c_mismatch_is_an_error(
    gcs_bucket: Any, satchel_env: SatchelEnv, proxy: GCSProxy
) -> None:
    gcs_put(gcs_bucket, "comp/x.bin", b"12345")
    proxy.strip_md5.add("comp/x.bin")
    options = {**gcs_bucket.storage_options, "endpoint_url": proxy.url}
    art, handler, _ = _artifact(satchel_env, options)
    (entry,) = art.add_reference(f"gs://{gcs_bucket.name}/comp/x.bin")
    # a manifest whose checksum no longer matches the generation it names
    tampered = msgspec.structs.replace(
        entry, digest=_crc(b"other"), extra={**(entry.extra or {}), "crc32c": _crc(b"other")}
    )
    with pytest.raises(DigestMismatchError, match=r"comp/x.bin: crc32c is .*, expected"):
        handler.load(tampered)


def test_prefix_listing_costs_one_request_per_page(
    gcs_bucket: Any, satchel_env: SatchelEnv, proxy: GCSProxy
) -> None:
    for i in range(5):
        gcs_put(gcs_bucket, f"many/{i}", b"x")
    options = {**gcs_bucket.storage_options, "endpoint_url": proxy.url}
    art, handler, _ = _artifact(satchel_env, options)
    handler.page_size = 2  # GCS pages hold 1,000 objects; 2 shows the paging with 5
    assert len(art.add_reference(f"gs://{gcs_bucket.name}/many")) == 5
    kinds = ["metadata" if "/o/" in p else "list" for p in proxy.paths]
    assert kinds == ["metadata", "list", "list", "list"]


def test_missing_bucket_is_told_apart_from_missing_object(
    gcs_bucket: Any, satchel_env: SatchelEnv
) -> None:
    art, _, _ = _artifact(satchel_env, gcs_bucket.storage_options)
    with pytest.raises(ReferenceNotFoundError, match="bucket or container does not exist"):
        art.add_reference("gs://no-such-bucket-anywhere/x.txt")
    with pytest.raises(ReferenceNotFoundError, match="no object of that name"):
        art.add_reference(f"gs://{gcs_bucket.name}/x.txt")


def test_refused_request_is_an_access_error(
    gcs_bucket: Any, satchel_env: SatchelEnv, proxy: GCSProxy
) -> None:
    proxy.deny.add(f"/b/{gcs_bucket.name}/")
    options = {**gcs_bucket.storage_options, "endpoint_url": proxy.url}
    art, _, _ = _artifact(satchel_env, options)
    with pytest.raises(ReferenceAccessError) as info:
        art.add_reference(f"gs://{gcs_bucket.name}/x.txt")
    assert str(info.value).startswith(
        f"access to gs://{gcs_bucket.name}/x.txt was refused (HTTP 403: Permission denied); "
        "check the Google credentials"
    )


def test_unreachable_endpoint_is_a_network_error(satchel_env: SatchelEnv) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    art, _, _ = _artifact(
        satchel_env, {"endpoint_url": f"http://127.0.0.1:{port}", "token": "anon", "retries": 0}
    )
    with pytest.raises(
        ReferenceNetworkError, match="could not read gs://b/x.txt .*ConnectionError"
    ):
        art.add_reference("gs://b/x.txt")


def test_versioned_object_deleted_later_downloads_into_a_fresh_cache(
    gcs_versioned_bucket: Any, satchel_env: SatchelEnv, tmp_path: Path
) -> None:
    b = gcs_versioned_bucket
    gcs_put(b, "keep/a.bin", b"kept")
    art, _, _ = _artifact(satchel_env, b.storage_options)
    art.add_reference(f"gs://{b.name}/keep/")
    art.save()
    gcs_put(b, "keep/a.bin", b"replaced")
    svc, _ = services_for(satchel_env, {"gs": b.storage_options}, cache_dir=tmp_path / "c2")
    root = Api(services=svc).artifact("refs:latest").download(tmp_path / "o")
    assert _read(root) == {"a.bin": b"kept"}


def test_requester_pays_bills_the_given_project(
    gcs_bucket: Any, satchel_env: SatchelEnv, proxy: GCSProxy
) -> None:
    gcs_put(gcs_bucket, "rp.txt", b"rp")
    options = {**gcs_bucket.storage_options, "endpoint_url": proxy.url}
    art, _, _ = _artifact(satchel_env, {**options, "requester_pays": "billing-project"})
    art.add_reference(f"gs://{gcs_bucket.name}/rp.txt")
    art.save().download(satchel_env.work / "o")
    assert proxy.paths and all("userProject=billing-project" in p for p in proxy.paths)
    art2, _, _ = _artifact(satchel_env, {**options, "requester_pays": True})
    with pytest.raises(ReferenceAccessError, match="requester_pays needs a project to bill"):
        art2.add_reference(f"gs://{gcs_bucket.name}/rp.txt")
