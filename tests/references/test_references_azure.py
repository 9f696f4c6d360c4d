"""What Azure blob references record and how they fail, against Azurite.

Shared behaviours are in ``tests/references/test_references_conformance.py``; this file covers the
Azure specifics: ETag/Content-MD5 records (Content-MD5 present for single-shot uploads, absent
for block-list uploads), the ``https://<account>.blob.core.windows.net`` form, version pinning,
the changed-blob message, and the error kinds.

Azurite has no blob versioning and silently ignores ``versionid``, so a versioned download
cannot be shown to return old bytes here. Version pinning is tested another way: the SDK's
``raw_request_hook`` (passed through the ``client_kwargs`` option) records the requests the
handler sends, and the tests check that a pinned URI and a recorded ``versionID`` put
``versionid=<id>`` on the request (and drop ``If-Match``, since a version never changes).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
import pytest

from satchel.artifact import Artifact
from satchel.errors import (
    InvalidPathError,
    ReferenceAccessError,
    ReferenceChangedError,
    ReferenceNetworkError,
    ReferenceNotFoundError,
)
from satchel.handlers.azure import AzureHandler, parse_uri
from tests.conftest import SatchelEnv
from tests.references.conftest import b64md5, services_for


def _artifact(env: SatchelEnv, options: dict[str, Any]) -> tuple[Artifact, AzureHandler, list[str]]:
    svc, warnings = services_for(env, {"az": options})
    handler = svc.handlers.for_scheme("az")
    assert isinstance(handler, AzureHandler)
    return Artifact("refs", "dataset", services=svc), handler, warnings


def _read(root: str | Path) -> dict[str, bytes]:
    root = Path(root)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


class Requests:
    """``raw_request_hook`` recording ``(method, query, headers)`` of every request."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []

    def __call__(self, request: Any) -> None:
        http = request.http_request
        query = parse_qs(urlsplit(http.url).query)
        self.seen.append((http.method, query, {k.lower(): v for k, v in http.headers.items()}))


def test_parse_uri_forms() -> None:
    loc = parse_uri("az://c/dir/b.txt")
    assert (loc.style, loc.account_url, loc.container, loc.blob) == ("az", None, "c", "dir/b.txt")
    loc = parse_uri("abfs://c@acct.dfs.core.windows.net/p/q")
    assert (loc.account_url, loc.container, loc.blob) == (
        "https://acct.blob.core.windows.net",
        "c",
        "p/q",
    )
    loc = parse_uri("https://acct.blob.core.windows.net/c/a%20b.txt?versionid=2024-01-01T00:00:00Z")
    assert (loc.container, loc.blob, loc.version_id) == ("c", "a b.txt", "2024-01-01T00:00:00Z")
    assert loc.ref() == "https://acct.blob.core.windows.net/c/a%20b.txt"
    with pytest.raises(InvalidPathError, match="names no container"):
        parse_uri("az:///blob")


def test_single_shot_blob_records_etag_and_content_md5(
    azure_container: Any, satchel_env: SatchelEnv
) -> None:
    c = azure_container
    c.client.upload_blob("d/one.bin", b"azure bytes")
    etag = c.client.get_blob_client("d/one.bin").get_blob_properties().etag.strip('"')
    art, handler, _ = _artifact(satchel_env, c.storage_options)
    (single,) = art.add_reference(f"az://{c.name}/d/one.bin")
    (listed,) = art.add_reference(f"abfs://{c.name}/d/", name="listed")
    assert single.ref == f"az://{c.name}/d/one.bin"
    assert listed.ref == f"abfs://{c.name}/d/one.bin"
    for entry in (single, listed):
        assert entry.digest == etag
        assert entry.extra == {"etag": etag, "md5": b64md5(b"azure bytes")}
        assert handler.content_digest(entry) == ("md5", b64md5(b"azure bytes"))
    root = art.save().download(satchel_env.work / "o")
    assert art.verify(root).verified == 2


def test_block_list_blob_has_no_md5_and_is_checked_by_etag(
    azure_container: Any, satchel_env: SatchelEnv
) -> None:
    c = azure_container
    blob = c.client.get_blob_client("blocks.bin")
    blob.stage_block("AAAA", b"first-")
    blob.stage_block("AAAB", b"second")
    blob.commit_block_list(["AAAA", "AAAB"])
    art, handler, _ = _artifact(satchel_env, c.storage_options)
    (entry,) = art.add_reference(f"az://{c.name}/blocks.bin")
    assert entry.extra is not None and "md5" not in entry.extra
    assert handler.content_digest(entry) is None
    root = art.save().download(satchel_env.work / "o")
    assert _read(root) == {"blocks.bin": b"first-second"}
    assert art.verify(root).unverifiable == ("blocks.bin",)


def test_blob_url_form_uses_the_matching_connection_string(
    azure_container: Any, satchel_env: SatchelEnv
) -> None:
    c = azure_container
    c.client.upload_blob("dir/x y.txt", b"by url")
    url = f"https://devstoreaccount1.blob.core.windows.net/{c.name}/dir/x%20y.txt"
    art, _, _ = _artifact(satchel_env, c.storage_options)
    (entry,) = art.add_reference(url)
    assert (entry.path, entry.ref) == ("x y.txt", url)
    assert _read(art.save().download(satchel_env.work / "o")) == {"x y.txt": b"by url"}


def test_pinned_version_is_requested_with_versionid(
    azure_container: Any, satchel_env: SatchelEnv
) -> None:
    c = azure_container
    c.client.upload_blob("v.bin", b"versioned")
    hook = Requests()
    options = {**c.storage_options, "client_kwargs": {"raw_request_hook": hook}}
    art, handler, _ = _artifact(satchel_env, options)
    (entry,) = art.add_reference(f"az://{c.name}/v.bin?versionid=2025-01-01T00:00:00.0000000Z")
    assert entry.ref == f"az://{c.name}/v.bin"
    assert entry.extra is not None
    assert entry.extra["versionID"] == "2025-01-01T00:00:00.0000000Z"
    method, query, _ = hook.seen[-1]
    assert (method, query["versionid"]) == ("HEAD", ["2025-01-01T00:00:00.0000000Z"])
    # a recorded version is downloaded by id, without If-Match (a version never changes)
    recorded = msgspec.structs.replace(entry, extra={**entry.extra, "versionID": "V-123"})
    handler.load(recorded)
    method, query, headers = hook.seen[-1]
    assert (method, query["versionid"], "if-match" in headers) == ("GET", ["V-123"], False)


def test_unversioned_download_is_conditional_on_the_recorded_etag(
    azure_container: Any, satchel_env: SatchelEnv
) -> None:
    c = azure_container
    c.client.upload_blob("e.bin", b"etag")
    hook = Requests()
    options = {**c.storage_options, "client_kwargs": {"raw_request_hook": hook}}
    art, _, _ = _artifact(satchel_env, options)
    (entry,) = art.add_reference(f"az://{c.name}/e.bin")
    art.save().download(satchel_env.work / "o")
    method, query, headers = hook.seen[-1]
    assert method == "GET" and "versionid" not in query
    assert headers["if-match"] == f'"{entry.digest}"'


def test_changed_blob_error_names_uri_and_both_etags(
    azure_container: Any, satchel_env: SatchelEnv
) -> None:
    c = azure_container
    c.client.upload_blob("c.txt", b"old")
    art, _, _ = _artifact(satchel_env, c.storage_options)
    (entry,) = art.add_reference(f"az://{c.name}/c.txt")
    art.save()
    c.client.upload_blob("c.txt", b"new", overwrite=True)
    new = c.client.get_blob_client("c.txt").get_blob_properties().etag.strip('"')
    with pytest.raises(ReferenceChangedError) as info:
        art.download(satchel_env.work / "o")
    assert f"az://{c.name}/c.txt" in str(info.value)
    assert f"recorded ETag {entry.digest}, current ETag {new}" in str(info.value)


def test_missing_container_is_told_apart_from_missing_blob(
    azure_container: Any, satchel_env: SatchelEnv
) -> None:
    art, _, _ = _artifact(satchel_env, azure_container.storage_options)
    with pytest.raises(ReferenceNotFoundError, match="bucket or container does not exist") as info:
        art.add_reference("az://no-such-container/x.txt")
    assert "ContainerNotFound" in str(info.value)
    with pytest.raises(ReferenceNotFoundError, match="no object of that name"):
        art.add_reference(f"az://{azure_container.name}/x.txt")


def test_wrong_account_key_is_an_access_error(
    azure_container: Any, satchel_env: SatchelEnv
) -> None:
    conn = azure_container.connection_string
    fields = dict(p.split("=", 1) for p in conn.split(";") if "=" in p)
    fields["AccountKey"] = "d3Jvbmcga2V5IHdyb25nIGtleSB3cm9uZyBrZXk="
    bad = ";".join(f"{k}={v}" for k, v in fields.items())
    art, _, _ = _artifact(satchel_env, {"connection_string": bad})
    with pytest.raises(ReferenceAccessError) as info:
        art.add_reference(f"az://{azure_container.name}/x.txt")
    assert str(info.value).startswith(f"access to az://{azure_container.name}/x.txt was refused (")
    assert "check the Azure credentials" in str(info.value)


def test_unreachable_endpoint_is_a_network_error(satchel_env: SatchelEnv) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conn = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )
    options = {"connection_string": conn, "client_kwargs": {"retry_total": 0}}
    art, _, _ = _artifact(satchel_env, options)
    with pytest.raises(ReferenceNetworkError, match="could not read az://c1x/x.txt"):
        art.add_reference("az://c1x/x.txt")


def test_missing_account_configuration_is_an_access_error(
    satchel_env: SatchelEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_NAME"):
        monkeypatch.delenv(name, raising=False)
    art, _, _ = _artifact(satchel_env, {})
    with pytest.raises(ReferenceAccessError, match="no storage account configured"):
        art.add_reference("az://c1x/x.txt")


def test_listing_carries_content_md5_of_every_blob(
    azure_container: Any, satchel_env: SatchelEnv
) -> None:
    c = azure_container
    c.client.upload_blob("p/a", b"A")
    c.client.upload_blob("p/b", b"")
    art, _, _ = _artifact(satchel_env, c.storage_options)
    entries = {e.path: e for e in art.add_reference(f"az://{c.name}/p")}
    assert entries["a"].extra is not None and entries["a"].extra["md5"] == b64md5(b"A")
    assert entries["b"].size == 0
    assert entries["b"].extra is not None and entries["b"].extra["md5"] == b64md5(b"")


def test_prefix_listing_costs_one_request_per_page(
    azure_container: Any, satchel_env: SatchelEnv
) -> None:
    c = azure_container
    for i in range(5):
        c.client.upload_blob(f"many/{i}", b"x")
    hook = Requests()
    options = {**c.storage_options, "client_kwargs": {"raw_request_hook": hook}}
    art, handler, _ = _artifact(satchel_env, options)
    handler.page_size = 2  # List Blobs pages hold up to 5,000; 2 shows the paging with 5
    assert len(art.add_reference(f"az://{c.name}/many")) == 5
    kinds = ["list" if q.get("comp") == ["list"] else m for m, q, _ in hook.seen]
    assert kinds == ["HEAD", "list", "list", "list"]


def test_sas_token_in_the_url_is_refused(azure_container: Any, satchel_env: SatchelEnv) -> None:
    url = (
        f"https://devstoreaccount1.blob.core.windows.net/{azure_container.name}/x.bin"
        "?sv=2024-01-01&sp=r&sig=c2VjcmV0"
    )
    art, _, _ = _artifact(satchel_env, azure_container.storage_options)
    with pytest.raises(InvalidPathError, match=r"carries a signature \(sig=") as info:
        art.add_reference(url)
    assert "c2VjcmV0" not in str(info.value)


def test_adls_directory_markers_are_skipped(azure_container: Any, satchel_env: SatchelEnv) -> None:
    # ADLS Gen2 (hierarchical namespace) shows every directory as a zero-byte blob named like
    # it, with metadata hdi_isfolder=true; they are folders, not files, as W&B treats them
    c = azure_container
    for marker in ("dir", "dir/sub"):
        c.client.upload_blob(marker, b"", metadata={"hdi_isfolder": "true"})
    c.client.upload_blob("dir/a.txt", b"A")
    c.client.upload_blob("dir/sub/b.txt", b"B")
    c.client.upload_blob("dir/empty", b"", metadata={"hdi_isfolder": "false"})  # a real file
    art, _, _ = _artifact(satchel_env, c.storage_options)
    as_blob = art.add_reference(f"az://{c.name}/dir")  # the marker itself: a folder
    assert sorted(e.path for e in as_blob) == ["a.txt", "empty", "sub/b.txt"]
    root_listing = art.add_reference(f"az://{c.name}/", name="all")
    assert sorted(e.path for e in root_listing) == [
        "all/dir/a.txt",
        "all/dir/empty",
        "all/dir/sub/b.txt",
    ]
    art.add_reference(f"az://{c.name}/dir", name="loose", checksum=False)
    root = art.save().download(satchel_env.work / "o")
    files = _read(root)
    assert {k: v for k, v in files.items() if k.startswith("loose/")} == {
        "loose/a.txt": b"A",
        "loose/empty": b"",
        "loose/sub/b.txt": b"B",
    }
    assert files["sub/b.txt"] == b"B" and files["all/dir/a.txt"] == b"A"
