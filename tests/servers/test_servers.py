"""Smoke tests of the suite's storage servers and of the conditional writes commits need.

Each server must store and return bytes, refuse a second create-only write of a key, and
accept a replace-if-unchanged write with the current validator but refuse a stale one.
These tests also show, per backend, which call carries the condition.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest
import requests
from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
from botocore.exceptions import ClientError

from tests.servers import INSTALL_HINT, ServerStartError
from tests.servers.azure import start_azure_server
from tests.servers.fixtures import AzureContainer, GCSBucket, HTTPSite, S3Bucket
from tests.servers.gcs import start_gcs_server


def _md5_hex(data: bytes) -> str:
    """Hex MD5 of ``data``, as in S3 ETags and ours."""
    return hashlib.md5(data).hexdigest()


def _md5_b64(data: bytes) -> str:
    """Base64 MD5 of ``data``, as in GCS ``md5Hash`` and ``Content-MD5``."""
    return base64.b64encode(hashlib.md5(data).digest()).decode()


# --- S3 (moto) --------------------------------------------------------------------------


def test_s3_write_and_read(s3_bucket: S3Bucket) -> None:
    assert s3_bucket.fs.ls(s3_bucket.name) == []
    s3_bucket.fs.pipe_file(s3_bucket.path("a/b.bin"), b"hello")
    assert s3_bucket.fs.cat_file(s3_bucket.path("a/b.bin")) == b"hello"
    head = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key="a/b.bin")
    assert head["ETag"] == f'"{_md5_hex(b"hello")}"'
    assert os.environ["AWS_ENDPOINT_URL_S3"] == s3_bucket.endpoint_url


def test_s3_create_only_write_refuses_an_existing_key(s3_bucket: S3Bucket) -> None:
    path = s3_bucket.path("ref")
    s3_bucket.fs.pipe_file(path, b"first", mode="create")
    with pytest.raises(FileExistsError):
        s3_bucket.fs.pipe_file(path, b"second", mode="create")
    with pytest.raises(ClientError) as raised:
        s3_bucket.client.put_object(Bucket=s3_bucket.name, Key="ref", Body=b"x", IfNoneMatch="*")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert s3_bucket.fs.cat_file(path) == b"first"


def test_s3_replace_if_unchanged(s3_bucket: S3Bucket) -> None:
    client, name = s3_bucket.client, s3_bucket.name
    stale = client.put_object(Bucket=name, Key="ref", Body=b"v1")["ETag"]
    current = client.put_object(Bucket=name, Key="ref", Body=b"v2", IfMatch=stale)["ETag"]
    with pytest.raises(ClientError) as raised:
        client.put_object(Bucket=name, Key="ref", Body=b"v3", IfMatch=stale)
    assert raised.value.response["Error"]["Code"] == "PreconditionFailed"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    # s3fs passes extra keywords to PutObject, but reports a failed If-Match as EINVAL.
    with pytest.raises(OSError):
        s3_bucket.fs.pipe_file(s3_bucket.path("ref"), b"v3", IfMatch=stale)
    s3_bucket.fs.pipe_file(s3_bucket.path("ref"), b"v3", IfMatch=current)
    assert s3_bucket.fs.cat_file(s3_bucket.path("ref")) == b"v3"


def test_s3_versioned_bucket_keeps_old_versions(s3_versioned_bucket: S3Bucket) -> None:
    bucket = s3_versioned_bucket
    old = bucket.client.put_object(Bucket=bucket.name, Key="k", Body=b"old")["VersionId"]
    bucket.client.put_object(Bucket=bucket.name, Key="k", Body=b"new")
    assert old
    assert bucket.fs.cat_file(bucket.path(f"k?versionId={old}")) == b"old"
    assert bucket.fs.cat_file(bucket.path("k"), version_id=old) == b"old"
    assert bucket.fs.cat_file(bucket.path("k")) == b"new"


# --- GCS (fake-gcs-server) -------------------------------------------------------------


def _gcs_upload(bucket: GCSBucket, key: str, data: bytes, *, if_generation_match: str) -> str:
    """Upload in one multipart request with ``ifGenerationMatch``; return the generation.

    fake-gcs-server 1.54 honours the precondition on multipart uploads only (simple
    ``uploadType=media`` and resumable uploads ignore it). gcsfs turns 412 into
    FileExistsError.
    """
    boundary = "satchel-boundary"
    body = (
        (
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
            f"{json.dumps({'name': key})}\r\n"
            f"--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--".encode()
    )
    out = bucket.fs.call(
        "POST",
        f"{bucket.endpoint_url}/upload/storage/v1/b/{bucket.name}/o",
        uploadType="multipart",
        ifGenerationMatch=if_generation_match,
        headers={"Content-Type": f'multipart/related; boundary="{boundary}"'},
        data=body,
        json_out=True,
    )
    return str(out["generation"])


def test_gcs_write_and_read(gcs_bucket: GCSBucket) -> None:
    assert gcs_bucket.fs.ls(gcs_bucket.name) == []
    gcs_bucket.fs.pipe_file(gcs_bucket.path("a/b.bin"), b"hello")
    assert gcs_bucket.fs.cat_file(gcs_bucket.path("a/b.bin")) == b"hello"
    info = gcs_bucket.fs.info(gcs_bucket.path("a/b.bin"))
    assert info["md5Hash"] == _md5_b64(b"hello")
    assert info["generation"]
    assert os.environ["STORAGE_EMULATOR_HOST"] == gcs_bucket.endpoint_url


def test_gcs_create_only_write_refuses_an_existing_key(gcs_bucket: GCSBucket) -> None:
    path = gcs_bucket.path("ref")
    gcs_bucket.fs.pipe_file(path, b"first", mode="create")
    with pytest.raises(FileExistsError):
        gcs_bucket.fs.pipe_file(path, b"second", mode="create")
    with pytest.raises(FileExistsError):
        _gcs_upload(gcs_bucket, "ref", b"third", if_generation_match="0")
    assert gcs_bucket.fs.cat_file(path) == b"first"


def test_gcs_replace_if_unchanged(gcs_bucket: GCSBucket) -> None:
    stale = _gcs_upload(gcs_bucket, "ref", b"v1", if_generation_match="0")
    current = _gcs_upload(gcs_bucket, "ref", b"v2", if_generation_match=stale)
    with pytest.raises(FileExistsError):
        _gcs_upload(gcs_bucket, "ref", b"v3", if_generation_match=stale)
    assert gcs_bucket.fs.info(gcs_bucket.path("ref"))["generation"] == current
    assert gcs_bucket.fs.cat_file(gcs_bucket.path("ref")) == b"v2"


def test_gcs_versioned_bucket_keeps_old_generations(gcs_versioned_bucket: GCSBucket) -> None:
    bucket = gcs_versioned_bucket
    old = _gcs_upload(bucket, "k", b"old", if_generation_match="0")
    _gcs_upload(bucket, "k", b"new", if_generation_match=old)
    assert bucket.fs.cat_file(bucket.path(f"k#{old}")) == b"old"
    assert bucket.fs.cat_file(bucket.path("k")) == b"new"


# --- Azure Blob (Azurite) --------------------------------------------------------------


def test_azure_write_and_read(azure_container: AzureContainer) -> None:
    assert azure_container.fs.ls(azure_container.name) == []
    azure_container.fs.pipe_file(azure_container.path("a/b.bin"), b"hello")
    assert azure_container.fs.cat_file(azure_container.path("a/b.bin")) == b"hello"
    props = azure_container.client.get_blob_client("a/b.bin").get_blob_properties()
    assert bytes(props.content_settings.content_md5) == hashlib.md5(b"hello").digest()
    assert props.etag.startswith('"0x')
    assert os.environ["AZURE_STORAGE_CONNECTION_STRING"] == azure_container.connection_string


def test_azure_create_only_write_refuses_an_existing_key(
    azure_container: AzureContainer,
) -> None:
    path = azure_container.path("ref")
    azure_container.fs.pipe_file(path, b"first", mode="create")
    with pytest.raises(FileExistsError):
        azure_container.fs.pipe_file(path, b"second", mode="create")
    with pytest.raises(FileExistsError), azure_container.fs.open(path, "xb") as handle:
        handle.write(b"third")
    with pytest.raises(ResourceExistsError):
        azure_container.client.upload_blob("ref", b"fourth", overwrite=False)
    assert azure_container.fs.cat_file(path) == b"first"


def test_azure_replace_if_unchanged(azure_container: AzureContainer) -> None:
    blob = azure_container.client.get_blob_client("ref")
    stale = blob.upload_blob(b"v1")["etag"]
    current = blob.upload_blob(
        b"v2", overwrite=True, etag=stale, match_condition=MatchConditions.IfNotModified
    )["etag"]
    with pytest.raises(ResourceModifiedError) as raised:
        blob.upload_blob(
            b"v3", overwrite=True, etag=stale, match_condition=MatchConditions.IfNotModified
        )
    assert raised.value.status_code == 412
    # adlfs passes etag/match_condition through pipe_file to upload_blob.
    azure_container.fs.pipe_file(
        azure_container.path("ref"),
        b"v3",
        etag=current,
        match_condition=MatchConditions.IfNotModified,
    )
    assert azure_container.fs.cat_file(azure_container.path("ref")) == b"v3"


# --- HTTP (our FileServer) -------------------------------------------------------------


def test_http_serves_files_with_strong_validators(http_site: HTTPSite) -> None:
    url = http_site.put("d/file.bin", b"0123456789")
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == b"0123456789"
    assert response.headers["ETag"] == f'"{_md5_hex(b"0123456789")}"'
    assert response.headers["Content-Length"] == "10"
    assert "Last-Modified" in response.headers
    assert "Content-MD5" not in response.headers
    http_site.behave("d/file.bin", content_md5=True)
    head = requests.head(url, timeout=10)
    assert head.headers["Content-MD5"] == _md5_b64(b"0123456789")
    assert head.headers["Content-Length"] == "10"
    assert [(r.method, r.path) for r in http_site.received()] == [
        ("GET", f"/{http_site.root.name}/d/file.bin"),
        ("HEAD", f"/{http_site.root.name}/d/file.bin"),
    ]


def test_http_ranges(http_site: HTTPSite) -> None:
    url = http_site.put("file.bin", b"0123456789")
    part = requests.get(url, headers={"Range": "bytes=2-4"}, timeout=10)
    assert (part.status_code, part.content) == (206, b"234")
    assert part.headers["Content-Range"] == "bytes 2-4/10"
    assert requests.get(url, headers={"Range": "bytes=-3"}, timeout=10).content == b"789"
    assert requests.get(url, headers={"Range": "bytes=8-"}, timeout=10).content == b"89"
    beyond = requests.get(url, headers={"Range": "bytes=20-"}, timeout=10)
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == "bytes */10"


def test_http_conditional_requests(http_site: HTTPSite) -> None:
    url = http_site.put("file.bin", b"content")
    etag = f'"{_md5_hex(b"content")}"'
    not_modified = requests.get(url, headers={"If-None-Match": etag}, timeout=10)
    assert (not_modified.status_code, not_modified.content) == (304, b"")
    assert not_modified.headers["ETag"] == etag
    assert requests.get(url, headers={"If-None-Match": '"other"'}, timeout=10).status_code == 200
    assert requests.get(url, headers={"If-Match": etag}, timeout=10).status_code == 200
    assert requests.get(url, headers={"If-Match": '"other"'}, timeout=10).status_code == 412


def test_http_weak_and_missing_etags(http_site: HTTPSite) -> None:
    weak_url = http_site.put("weak.bin", b"w")
    none_url = http_site.put("none.bin", b"n")
    http_site.behave("weak.bin", etag="weak")
    http_site.behave("none.bin", etag="none")
    weak = requests.get(weak_url, timeout=10)
    assert weak.headers["ETag"] == f'W/"{_md5_hex(b"w")}"'
    # If-Match compares strongly: a weak ETag never matches.
    strong_check = requests.get(weak_url, headers={"If-Match": weak.headers["ETag"]}, timeout=10)
    assert strong_check.status_code == 412
    assert "ETag" not in requests.get(none_url, timeout=10).headers


def test_http_redirect_head_refusal_errors_and_changed_content(http_site: HTTPSite) -> None:
    target = http_site.put("real.bin", b"real")
    http_site.behave("moved.bin", redirect_to="real.bin")
    moved = requests.get(http_site.url("moved.bin"), allow_redirects=False, timeout=10)
    assert (moved.status_code, moved.headers["Location"]) == (302, target)
    assert requests.get(http_site.url("moved.bin"), timeout=10).content == b"real"

    http_site.behave("real.bin", refuse_head=True)
    assert requests.head(target, timeout=10).status_code == 405
    assert requests.get(target, timeout=10).content == b"real"

    http_site.behave("real.bin", body=b"changed")
    changed = requests.get(target, timeout=10)
    assert changed.content == b"changed"
    assert changed.headers["ETag"] == f'"{_md5_hex(b"changed")}"'
    old_etag = f'"{_md5_hex(b"real")}"'
    http_site.behave("real.bin", body=b"changed", etag_value=old_etag)
    assert requests.get(target, timeout=10).headers["ETag"] == old_etag

    http_site.behave("real.bin", status=503)
    assert requests.get(target, timeout=10).status_code == 503
    assert requests.get(http_site.url("missing.bin"), timeout=10).status_code == 404


def test_http_fsspec_reads_validators(http_site: HTTPSite) -> None:
    import fsspec

    url = http_site.put("file.bin", b"payload")
    http_site.behave("file.bin", content_md5=True)
    fs = fsspec.filesystem("http", skip_instance_cache=True)
    info = fs.info(url)
    assert info["size"] == 7
    assert info["ETag"] == f'"{_md5_hex(b"payload")}"'
    assert info["Content-MD5"] == _md5_b64(b"payload")
    assert fs.cat_file(url, start=1, end=4) == b"ayl"
    assert fs.ls(http_site.base_url + "/", detail=False) == [url]


# --- start and stop ---------------------------------------------------------------------


def test_a_stopped_server_leaves_no_process() -> None:
    import psutil

    server = start_gcs_server()
    pid = server.pid
    assert psutil.pid_exists(pid)
    server.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_missing_server_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SATCHEL_AZURITE_BLOB", str(tmp_path / "no-azurite"))
    with pytest.raises(ServerStartError, match="Azurite is missing") as raised:
        start_azure_server()
    assert INSTALL_HINT in str(raised.value)
