"""What ``s3://`` references record and how they fail, against moto's S3 server.

The behaviours every scheme shares are in ``tests/references/test_references_conformance.py``; this file
checks the S3 specifics: the recorded ETag/versionID, multipart objects, ``?versionId=``
pins, versioning switched on after the reference, O(pages) listing requests, a download
served from the cache, requester-pays, options, and the error kinds (missing bucket, refused
credentials, unreachable endpoint).
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from satchel.artifact import Artifact
from satchel.errors import (
    InvalidPathError,
    ReferenceAccessError,
    ReferenceChangedError,
    ReferenceNetworkError,
    ReferenceNotFoundError,
)
from satchel.handlers.s3 import S3Handler, parse_uri
from tests.conftest import SatchelEnv
from tests.references.conftest import services_for

MiB = 1 << 20


def _artifact(env: SatchelEnv, options: dict[str, Any]) -> tuple[Artifact, S3Handler, list[str]]:
    svc, warnings = services_for(env, {"s3": options})
    handler = svc.handlers.for_scheme("s3")
    assert isinstance(handler, S3Handler)
    return Artifact("refs", "dataset", services=svc), handler, warnings


class RequestLog:
    """Every S3 operation a handler's client sends, by name (botocore event hook)."""

    def __init__(self, handler: S3Handler) -> None:
        self.ops: list[str] = []
        self.headers: list[dict[str, str]] = []
        handler.client.meta.events.register("before-send.s3", self._record)

    def _record(self, request: Any, **kwargs: Any) -> None:
        self.ops.append(kwargs["event_name"].rsplit(".", 1)[-1])
        self.headers.append(
            {
                k.lower(): v.decode() if isinstance(v, bytes) else str(v)
                for k, v in request.headers.items()
            }
        )

    def count(self, op: str) -> int:
        return self.ops.count(op)


def _read(root: str | Path) -> dict[str, bytes]:
    root = Path(root)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_parse_uri_reads_only_a_trailing_version_id() -> None:
    assert parse_uri("s3://b/k?versionId=abc") == parse_uri("s3://b/k?versionId=abc")
    assert parse_uri("s3://b/k?versionId=abc").version_id == "abc"
    assert parse_uri("s3://b/dir/a?b#c").key == "dir/a?b#c"
    assert parse_uri("s3://b").key == ""
    with pytest.raises(InvalidPathError, match="names no bucket"):
        parse_uri("s3:///key")


def test_unversioned_object_records_etag_as_digest(s3_bucket: Any, satchel_env: SatchelEnv) -> None:
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key="k.bin", Body=b"payload")
    art, handler, _ = _artifact(satchel_env, s3_bucket.storage_options)
    (entry,) = art.add_reference(f"s3://{s3_bucket.name}/k.bin")
    md5 = hashlib.md5(b"payload").hexdigest()
    assert entry.digest == md5
    assert entry.extra == {"etag": md5}
    assert handler.content_digest(entry) is not None


def test_versioned_object_records_version_id(
    s3_versioned_bucket: Any, satchel_env: SatchelEnv
) -> None:
    b = s3_versioned_bucket
    put = b.client.put_object(Bucket=b.name, Key="dir/k.bin", Body=b"v1")
    art, _, _ = _artifact(satchel_env, b.storage_options)
    (single,) = art.add_reference(f"s3://{b.name}/dir/k.bin", name="single.bin")
    (listed,) = art.add_reference(f"s3://{b.name}/dir/", name="listed")
    for entry in (single, listed):
        assert entry.extra == {
            "etag": hashlib.md5(b"v1").hexdigest(),
            "versionID": put["VersionId"],
        }
        assert entry.ref == f"s3://{b.name}/dir/k.bin"


def test_version_id_in_uri_pins_that_version(
    s3_versioned_bucket: Any, satchel_env: SatchelEnv
) -> None:
    b = s3_versioned_bucket
    first = b.client.put_object(Bucket=b.name, Key="m.bin", Body=b"first")["VersionId"]
    b.client.put_object(Bucket=b.name, Key="m.bin", Body=b"second")
    art, _, _ = _artifact(satchel_env, b.storage_options)
    (entry,) = art.add_reference(f"s3://{b.name}/m.bin?versionId={first}")
    assert entry.path == "m.bin"
    assert entry.extra == {"etag": hashlib.md5(b"first").hexdigest(), "versionID": first}
    assert _read(art.save().download(satchel_env.work / "o")) == {"m.bin": b"first"}


def test_pinned_version_that_does_not_exist_is_not_found(
    s3_versioned_bucket: Any, satchel_env: SatchelEnv
) -> None:
    b = s3_versioned_bucket
    b.client.put_object(Bucket=b.name, Key="m.bin", Body=b"x")
    art, _, _ = _artifact(satchel_env, b.storage_options)
    with pytest.raises(ReferenceNotFoundError, match="m.bin"):
        art.add_reference(f"s3://{b.name}/m.bin?versionId=nonexistent-version")


def test_multipart_object_is_checked_by_etag_not_content_hash(
    s3_bucket: Any, satchel_env: SatchelEnv
) -> None:
    b = s3_bucket
    parts = [b"a" * (5 * MiB), b"tail"]
    up = b.client.create_multipart_upload(Bucket=b.name, Key="big.bin")
    done = []
    for n, data in enumerate(parts, 1):
        r = b.client.upload_part(
            Bucket=b.name, Key="big.bin", UploadId=up["UploadId"], PartNumber=n, Body=data
        )
        done.append({"ETag": r["ETag"], "PartNumber": n})
    b.client.complete_multipart_upload(
        Bucket=b.name, Key="big.bin", UploadId=up["UploadId"], MultipartUpload={"Parts": done}
    )
    art, handler, _ = _artifact(satchel_env, b.storage_options)
    (entry,) = art.add_reference(f"s3://{b.name}/big.bin")
    assert entry.digest.endswith("-2") and entry.size == 5 * MiB + 4
    assert handler.content_digest(entry) is None
    root = art.save().download(satchel_env.work / "o")
    assert (Path(root) / "big.bin").read_bytes() == b"".join(parts)
    assert art.verify(root).unverifiable == ("big.bin",)


def test_changed_unversioned_object_error_names_uri_and_both_etags(
    s3_bucket: Any, satchel_env: SatchelEnv
) -> None:
    b = s3_bucket
    b.client.put_object(Bucket=b.name, Key="c.txt", Body=b"old")
    art, _, _ = _artifact(satchel_env, b.storage_options)
    art.add_reference(f"s3://{b.name}/c.txt")
    art.save()
    b.client.put_object(Bucket=b.name, Key="c.txt", Body=b"new")
    with pytest.raises(ReferenceChangedError) as info:
        art.download(satchel_env.work / "o")
    message = str(info.value)
    assert f"s3://{b.name}/c.txt" in message
    assert hashlib.md5(b"old").hexdigest() in message
    assert hashlib.md5(b"new").hexdigest() in message
    assert "allow_missing_references=True" in message


def test_deleted_unversioned_object_error_names_recorded_etag(
    s3_bucket: Any, satchel_env: SatchelEnv
) -> None:
    b = s3_bucket
    b.client.put_object(Bucket=b.name, Key="d.txt", Body=b"d")
    art, _, _ = _artifact(satchel_env, b.storage_options)
    art.add_reference(f"s3://{b.name}/d.txt")
    art.save()
    b.client.delete_object(Bucket=b.name, Key="d.txt")
    with pytest.raises(ReferenceNotFoundError, match=hashlib.md5(b"d").hexdigest()):
        art.download(satchel_env.work / "o")


def test_versioning_enabled_after_reference_still_yields_recorded_bytes(
    s3_bucket: Any, satchel_env: SatchelEnv
) -> None:
    b = s3_bucket
    b.client.put_object(Bucket=b.name, Key="late.txt", Body=b"before")
    art, _, _ = _artifact(satchel_env, b.storage_options)
    (entry,) = art.add_reference(f"s3://{b.name}/late.txt")
    assert "versionID" not in (entry.extra or {})
    art.save()
    b.client.put_bucket_versioning(Bucket=b.name, VersioningConfiguration={"Status": "Enabled"})
    b.client.put_object(Bucket=b.name, Key="late.txt", Body=b"after")
    assert _read(art.download(satchel_env.work / "o")) == {"late.txt": b"before"}


def test_prefix_listing_costs_requests_per_page_not_per_object(
    s3_bucket: Any, satchel_env: SatchelEnv
) -> None:
    for i in range(5):
        s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=f"many/{i}", Body=b"x")
    art, handler, _ = _artifact(satchel_env, s3_bucket.storage_options)
    handler.page_size = 2  # S3 pages hold 1,000 keys; 2 shows the paging with 5 objects
    log = RequestLog(handler)
    entries = art.add_reference(f"s3://{s3_bucket.name}/many")
    assert sorted(e.path for e in entries) == ["0", "1", "2", "3", "4"]
    assert log.ops == ["HeadObject", "GetBucketVersioning"] + ["ListObjectsV2"] * 3


def test_versioned_listing_pages_through_versions(
    s3_versioned_bucket: Any, satchel_env: SatchelEnv
) -> None:
    b = s3_versioned_bucket
    latest = {}
    for i in range(5):
        for body in (b"old", f"new{i}".encode()):
            latest[str(i)] = b.client.put_object(Bucket=b.name, Key=f"v/{i}", Body=body)
    art, handler, _ = _artifact(satchel_env, b.storage_options)
    handler.page_size = 3  # 10 versions: 4 pages
    log = RequestLog(handler)
    entries = art.add_reference(f"s3://{b.name}/v/")
    assert {e.path: (e.extra or {})["versionID"] for e in entries} == {
        k: r["VersionId"] for k, r in latest.items()
    }
    assert log.ops == ["GetBucketVersioning"] + ["ListObjectVersions"] * 4


def test_versioned_prefix_listing_skips_old_versions_and_deleted_keys(
    s3_versioned_bucket: Any, satchel_env: SatchelEnv
) -> None:
    b = s3_versioned_bucket
    for body in (b"1", b"22"):
        b.client.put_object(Bucket=b.name, Key="p/a", Body=body)
    b.client.put_object(Bucket=b.name, Key="p/deleted", Body=b"x")
    b.client.delete_object(Bucket=b.name, Key="p/deleted")
    art, handler, _ = _artifact(satchel_env, b.storage_options)
    log = RequestLog(handler)
    entries = art.add_reference(f"s3://{b.name}/p/")
    assert [(e.path, e.size) for e in entries] == [("a", 2)]
    assert log.ops == ["GetBucketVersioning", "ListObjectVersions"]


def test_second_download_is_served_from_the_cache(s3_bucket: Any, satchel_env: SatchelEnv) -> None:
    b = s3_bucket
    b.client.put_object(Bucket=b.name, Key="c.bin", Body=b"cached")
    art, handler, _ = _artifact(satchel_env, b.storage_options)
    art.add_reference(f"s3://{b.name}/c.bin")
    art.save()
    log = RequestLog(handler)
    art.download(satchel_env.work / "one")
    art.download(satchel_env.work / "two")
    assert log.count("GetObject") == 1
    assert _read(satchel_env.work / "two") == {"c.bin": b"cached"}


def test_requester_pays_option_is_sent_on_every_request(
    s3_bucket: Any, satchel_env: SatchelEnv
) -> None:
    b = s3_bucket
    b.client.put_object(Bucket=b.name, Key="r/x", Body=b"x")
    art, handler, _ = _artifact(satchel_env, {**b.storage_options, "requester_pays": True})
    log = RequestLog(handler)
    art.add_reference(f"s3://{b.name}/r")
    art.save().download(satchel_env.work / "o")
    assert log.ops == ["HeadObject", "GetBucketVersioning", "ListObjectsV2", "GetObject"]
    for op, headers in zip(log.ops, log.headers):
        if op != "GetBucketVersioning":
            assert headers.get("x-amz-request-payer") == "requester", op


def test_unknown_option_is_reported_not_ignored(s3_bucket: Any, satchel_env: SatchelEnv) -> None:
    b = s3_bucket
    b.client.put_object(Bucket=b.name, Key="x", Body=b"x")
    art, _, warnings = _artifact(satchel_env, {**b.storage_options, "endpoint_ulr": "typo"})
    art.add_reference(f"s3://{b.name}/x")
    assert any("endpoint_ulr" in w and "not used" in w for w in warnings)


def test_credentials_in_uri_are_rejected(s3_bucket: Any, satchel_env: SatchelEnv) -> None:
    art, _, _ = _artifact(satchel_env, s3_bucket.storage_options)
    with pytest.raises(InvalidPathError, match="contains credentials"):
        art.add_reference(f"s3://AKIA:secret@{s3_bucket.name}/x")


def test_missing_bucket_is_told_apart_from_missing_object(
    s3_bucket: Any, satchel_env: SatchelEnv
) -> None:
    art, _, _ = _artifact(satchel_env, s3_bucket.storage_options)
    with pytest.raises(ReferenceNotFoundError, match="bucket or container does not exist") as info:
        art.add_reference("s3://no-such-bucket-here/x.txt")
    assert "s3://no-such-bucket-here/x.txt" in str(info.value)
    assert "NoSuchBucket" in str(info.value)
    with pytest.raises(ReferenceNotFoundError, match="no object of that name") as info2:
        art.add_reference(f"s3://{s3_bucket.name}/x.txt")
    assert "bucket" not in str(info2.value).split(":")[0]


@pytest.fixture
def moto_auth(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make the in-process moto server check credentials (it accepts anything by default)."""
    from moto import settings

    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    yield


def test_refused_credentials_raise_access_error(
    s3_bucket: Any, satchel_env: SatchelEnv, moto_auth: None
) -> None:
    art, _, _ = _artifact(satchel_env, s3_bucket.storage_options)
    with pytest.raises(ReferenceAccessError, match="access to s3://.*was refused") as info:
        art.add_reference(f"s3://{s3_bucket.name}/secret.txt")
    assert "check the AWS credentials" in str(info.value)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_endpoint_raises_network_error(satchel_env: SatchelEnv) -> None:
    options = {
        "endpoint_url": f"http://127.0.0.1:{_closed_port()}",
        "key": "testing",
        "secret": "testing",
        "config_kwargs": {"retries": {"total_max_attempts": 1}, "connect_timeout": 2},
    }
    art, _, _ = _artifact(satchel_env, options)
    with pytest.raises(ReferenceNetworkError, match="could not read s3://bucket/x.txt") as info:
        art.add_reference("s3://bucket/x.txt")
    assert "check the network and the endpoint" in str(info.value)


def test_bucket_root_is_a_prefix_of_every_key(s3_bucket: Any, satchel_env: SatchelEnv) -> None:
    b = s3_bucket
    for key in ("top.txt", "dir/a.txt", "dir/"):
        b.client.put_object(Bucket=b.name, Key=key, Body=b"" if key.endswith("/") else b"x")
    art, _, _ = _artifact(satchel_env, b.storage_options)
    for uri in (f"s3://{b.name}", f"s3://{b.name}/"):
        entries = art.add_reference(uri, name=uri.endswith("/") and "slash" or "bare")
        assert sorted(e.path.split("/", 1)[1] for e in entries) == ["dir/a.txt", "top.txt"]
