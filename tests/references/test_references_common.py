"""The pieces every reference handler shares (``satchel.handlers._common``), on real files."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from satchel.cache import Cache
from satchel.errorcodes import ErrorKind
from satchel.errors import (
    DigestMismatchError,
    InvalidPathError,
    ReferenceAccessError,
    ReferenceChangedError,
    ReferenceNetworkError,
    ReferenceNotFoundError,
    TooManyObjectsError,
)
from satchel.handlers._common import (
    PrefixEntries,
    md5_of_etag,
    prefix_of,
    reference_error,
    reject_signed_url,
    stream_to_cache,
    unquote_etag,
)
from tests.references.conftest import b64md5


def test_unquote_etag_keeps_weakness() -> None:
    assert unquote_etag('"abc"') == "abc"
    assert unquote_etag('W/"abc"') == "W/abc"
    assert unquote_etag("abc") == "abc"


def test_md5_of_etag_only_for_plain_hex_md5() -> None:
    assert md5_of_etag("5d41402abc4b2a76b9719d911017c592") == b64md5(b"hello")
    assert md5_of_etag("5d41402abc4b2a76b9719d911017c592-2") is None
    assert md5_of_etag("0x8DB1234") is None


def test_prefix_of_adds_exactly_one_slash() -> None:
    assert [prefix_of(k) for k in ("", "/", "a", "a/", "a/b//")] == ["", "", "a/", "a/", "a/b/"]


def test_prefix_entries_skip_markers_and_outside_keys() -> None:
    c = PrefixEntries("s3://b/p", "p/", "under", 10)
    for key in ("p/", "p/dir/", "p/x", "pq/y", "p/dir/z"):
        c.add(key, "d", 1, f"s3://b/{key}", None)
    assert [e.path for e in c.finish()] == ["under/x", "under/dir/z"]


def test_prefix_entries_stop_at_max_objects() -> None:
    c = PrefixEntries("gs://b/p", "p/", None, 2)
    c.add("p/1", "d", 1, "r1", None)
    c.add("p/2", "d", 1, "r2", None)
    with pytest.raises(TooManyObjectsError) as info:
        c.add("p/3", "d", 1, "r3", None)
    assert str(info.value) == (
        "gs://b/p holds more than max_objects=2 objects; nothing was added. Raise max_objects "
        "or reference a smaller prefix"
    )


def test_prefix_entries_refuse_keys_that_collide_after_normalisation() -> None:
    c = PrefixEntries("s3://b/p", "p/", None, 10)
    c.add("p/a/b", "d", 1, "r1", None)
    with pytest.raises(InvalidPathError, match="both become logical path 'a/b'"):
        c.add("p/a//b", "d", 1, "r2", None)


def test_prefix_entries_refuse_keys_that_climb() -> None:
    c = PrefixEntries("s3://b/p", "p/", None, 10)
    with pytest.raises(InvalidPathError, match=r"object s3://b/p/\.\./x cannot be added"):
        c.add("p/../x", "d", 1, "s3://b/p/../x", None)


def test_empty_prefix_is_not_found() -> None:
    with pytest.raises(ReferenceNotFoundError, match="no object of that name and no objects"):
        PrefixEntries("s3://b/p", "p/", None, 10).finish()


def test_stream_to_cache_verifies_md5_and_keeps_nothing_on_mismatch(tmp_path: Path) -> None:
    cache = Cache(str(tmp_path / "cache"))
    path = stream_to_cache(
        cache, io.BytesIO(b"good"), uri="s3://b/k", version="e1", md5=b64md5(b"good"), size=4
    )
    assert Path(path).read_bytes() == b"good"
    with pytest.raises(DigestMismatchError, match="s3://b/k has digest"):
        stream_to_cache(
            cache,
            io.BytesIO(b"evil"),
            uri="s3://b/k",
            version="e2",
            md5=b64md5(b"good"),
            size=4,
        )
    assert not os.path.exists(cache.ref_path("s3://b/k", "e2"))


def test_stream_to_cache_checks_size_and_extra_checksum(tmp_path: Path) -> None:
    cache = Cache(str(tmp_path / "cache"))
    with pytest.raises(
        DigestMismatchError,
        match=r"^u: received 3 bytes, expected 4; the transfer "
        r"was corrupted or the object changed. Nothing was kept; retry the "
        r"download$",
    ):
        stream_to_cache(cache, io.BytesIO(b"abc"), uri="u", version="v", md5=None, size=4)
    assert not os.path.exists(cache.ref_path("u", "v"))
    seen: list[bytes] = []
    with pytest.raises(DigestMismatchError, match="u: crc32c differs; the transfer"):
        stream_to_cache(
            cache,
            io.BytesIO(b"abc"),
            uri="u",
            version="v",
            md5=None,
            size=3,
            extra_check=(seen.append, lambda: "crc32c differs"),
        )
    assert b"".join(seen) == b"abc"


def test_reference_error_kinds_read_differently() -> None:
    uri = "s3://b/k"
    access = reference_error(ErrorKind.PERMISSION, uri, "AccessDenied", hint="fix creds")
    assert isinstance(access, ReferenceAccessError) and isinstance(access, PermissionError)
    assert str(access) == "access to s3://b/k was refused (AccessDenied); fix creds"
    bucket = reference_error(ErrorKind.BUCKET_MISSING, uri, "NoSuchBucket")
    assert isinstance(bucket, ReferenceNotFoundError)
    assert "bucket or container does not exist" in str(bucket)
    gone = reference_error(ErrorKind.NOT_FOUND, uri, "404", recorded="e1")
    assert str(gone) == "reference s3://b/k no longer exists (recorded ETag/version e1) (404)"
    changed = reference_error(ErrorKind.CONFLICT, uri, "", recorded="e1", current="e2")
    assert isinstance(changed, ReferenceChangedError)
    assert "recorded ETag e1, current ETag e2" in str(changed)
    net = reference_error(ErrorKind.TRANSIENT, uri, "refused")
    assert isinstance(net, ReferenceNetworkError) and isinstance(net, ConnectionError)
    assert str(net).startswith("could not read s3://b/k from its storage service (refused)")


def test_signed_urls_are_refused_so_no_credential_reaches_a_manifest() -> None:
    reject_signed_url("https://h.example/a.bin?download=1")  # an ordinary query is fine
    for url in (
        "https://b.s3.amazonaws.com/k?X-Amz-Credential=AK&X-Amz-Signature=abc",
        "https://storage.googleapis.com/b/k?X-Goog-Signature=abc",
        "https://acct.blob.core.windows.net/c/b?sv=2024&sig=abc",
    ):
        with pytest.raises(InvalidPathError) as info:
            reject_signed_url(url)
        assert "abc" not in str(info.value)
        assert "carries a signature" in str(info.value)
        assert "give credentials in storage options instead" in str(info.value)
