"""What ``http(s)://`` references record and how they fail, against the suite's HTTP server.

Shared behaviours are in ``tests/references/test_references_conformance.py``; this file covers strong,
weak and missing ETags, ``Content-MD5`` (recorded, verified, mismatching), redirects, servers
that refuse ``HEAD``, servers without ``Content-Length`` semantics, request options, and the
error kinds (404, 403, 5xx, unreachable).
"""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path
from typing import Any

import pytest

from satchel.api import Api
from satchel.artifact import Artifact
from satchel.errors import (
    DigestMismatchError,
    ExternalReferenceError,
    InvalidPathError,
    ReferenceAccessError,
    ReferenceChangedError,
    ReferenceNetworkError,
    ReferenceNotFoundError,
)
from satchel.handlers.http import HTTPHandler, default_name
from tests.conftest import SatchelEnv
from tests.references.conftest import b64md5, services_for


def _artifact(
    env: SatchelEnv, options: dict[str, Any] | None = None
) -> tuple[Artifact, HTTPHandler, list[str]]:
    svc, warnings = services_for(env, {"http": options or {}})
    handler = svc.handlers.for_scheme("http")
    assert isinstance(handler, HTTPHandler)
    return Artifact("refs", "dataset", services=svc), handler, warnings


def _read(root: str | Path) -> dict[str, bytes]:
    root = Path(root)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_default_name_is_the_last_path_segment_or_host() -> None:
    assert default_name("https://h.example/a/b%20c.txt?x=1") == "b c.txt"
    assert default_name("https://h.example/") == "h.example"


def test_strong_etag_is_the_digest_and_raw_etag_is_kept(
    http_site: Any, satchel_env: SatchelEnv
) -> None:
    url = http_site.put("s.bin", b"strong")
    art, handler, warnings = _artifact(satchel_env)
    (entry,) = art.add_reference(url)
    md5 = hashlib.md5(b"strong").hexdigest()
    assert (entry.digest, entry.size, entry.extra) == (md5, 6, {"etag": f'"{md5}"'})
    assert handler.content_digest(entry) is None  # an ETag is opaque on the web
    assert warnings == []


def test_weak_etag_is_recorded_with_its_marker_and_a_warning(
    http_site: Any, satchel_env: SatchelEnv
) -> None:
    url = http_site.put("w.txt", b"weak")
    http_site.behave("w.txt", etag="weak")
    art, _, warnings = _artifact(satchel_env)
    (entry,) = art.add_reference(url)
    md5 = hashlib.md5(b"weak").hexdigest()
    assert entry.digest == f"W/{md5}"
    assert entry.extra == {"etag": f'W/"{md5}"'}
    assert warnings == [
        (
            f'{url} sends a weak ETag (W/"{md5}"): changes are detected, but identical bytes '
            "cannot be proven (the server sends no MD5)"
        )
    ]
    art.save()
    assert _read(art.download(satchel_env.work / "o")) == {"w.txt": b"weak"}
    assert any("has no strong ETag or MD5" in w for w in warnings)
    http_site.put("w.txt", b"weak but changed")
    svc, _ = services_for(satchel_env, {}, cache_dir=satchel_env.work / "fresh-cache")
    with pytest.raises(ReferenceChangedError, match=f'recorded ETag W/"{md5}"'):
        Api(services=svc).artifact("refs:latest").download(satchel_env.work / "o2")


def test_no_etag_records_the_url_and_warns(http_site: Any, satchel_env: SatchelEnv) -> None:
    url = http_site.put("n.txt", b"none")
    http_site.behave("n.txt", etag="none")
    art, _handler, warnings = _artifact(satchel_env)
    (entry,) = art.add_reference(url)
    assert (entry.digest, entry.size, entry.extra) == (url, 4, {})
    assert warnings == [
        (
            f"{url} sends no ETag: satchel cannot tell if its content changes, so downloads of it "
            "cannot be verified"
        )
    ]
    root = art.save().download(satchel_env.work / "o")
    assert _read(root) == {"n.txt": b"none"}
    assert warnings[-1] == (
        f"n.txt: {url} has no strong ETag or MD5; downloaded what it serves now, not verified"
    )
    assert art.verify(root).unverifiable == ("n.txt",)


def test_content_md5_is_recorded_and_verifies_downloads(
    http_site: Any, satchel_env: SatchelEnv
) -> None:
    url = http_site.put("m.bin", b"with md5")
    http_site.behave("m.bin", content_md5=True)
    art, handler, _ = _artifact(satchel_env)
    (entry,) = art.add_reference(url)
    assert entry.extra is not None and entry.extra["md5"] == b64md5(b"with md5")
    assert handler.content_digest(entry) == ("md5", b64md5(b"with md5"))
    root = art.save().download(satchel_env.work / "o")
    report = art.verify(root)
    assert (report.verified, report.unverifiable) == (1, ())


def test_bytes_that_do_not_match_content_md5_are_an_error(
    http_site: Any, satchel_env: SatchelEnv
) -> None:
    url = http_site.put("x.bin", b"original")
    http_site.behave("x.bin", content_md5=True)
    art, _, _ = _artifact(satchel_env)
    (entry,) = art.add_reference(url)
    art.save()
    assert entry.extra is not None
    # same ETag as recorded, other bytes: a server (or proxy) serving corrupt content
    http_site.behave("x.bin", body=b"corrupted", etag_value=entry.extra["etag"])
    with pytest.raises(DigestMismatchError, match=f"{url} has digest"):
        art.download(satchel_env.work / "o")
    assert not (satchel_env.work / "o" / "x.bin").exists()


def test_changed_content_error_names_url_and_both_etags(
    http_site: Any, satchel_env: SatchelEnv
) -> None:
    url = http_site.put("c.txt", b"one")
    art, _, _ = _artifact(satchel_env)
    art.add_reference(url)
    art.save()
    http_site.put("c.txt", b"two")
    with pytest.raises(ReferenceChangedError) as info:
        art.download(satchel_env.work / "o")
    old, new = (hashlib.md5(x).hexdigest() for x in (b"one", b"two"))
    assert str(info.value) == (
        f'reference {url} changed since it was recorded: recorded ETag "{old}", current ETag '
        f'"{new}", and the recorded version cannot be read; re-add the reference, or pass '
        "allow_missing_references=True to skip it"
    )


def test_redirect_is_followed_and_the_original_url_recorded(
    http_site: Any, satchel_env: SatchelEnv
) -> None:
    http_site.put("real/target.bin", b"behind a redirect")
    url = http_site.url("alias.bin")
    http_site.behave("alias.bin", redirect_to="real/target.bin", redirect_status=301)
    art, _, _ = _artifact(satchel_env)
    (entry,) = art.add_reference(url)
    assert (entry.path, entry.ref, entry.size) == ("alias.bin", url, 17)
    assert _read(art.save().download(satchel_env.work / "o")) == {"alias.bin": b"behind a redirect"}
    seen = [(r.method, r.path.rsplit("/", 1)[-1]) for r in http_site.received()]
    assert seen == [
        ("HEAD", "alias.bin"),
        ("HEAD", "target.bin"),
        ("GET", "alias.bin"),
        ("GET", "target.bin"),
    ]


def test_head_not_allowed_falls_back_to_a_streamed_get(
    http_site: Any, satchel_env: SatchelEnv
) -> None:
    url = http_site.put("nohead.bin", b"x" * 100_000)
    http_site.behave("nohead.bin", refuse_head=True)
    art, _, _ = _artifact(satchel_env)
    (entry,) = art.add_reference(url)
    assert entry.size == 100_000 and entry.digest == hashlib.md5(b"x" * 100_000).hexdigest()
    assert [r.method for r in http_site.received()] == ["HEAD", "GET"]


def test_options_headers_are_sent_and_never_recorded(
    http_site: Any, satchel_env: SatchelEnv
) -> None:
    url = http_site.put("auth.txt", b"private")
    art, _, _ = _artifact(satchel_env, {"headers": {"Authorization": "Bearer s3cr3t"}})
    art.add_reference(url)
    art.save()
    assert all(r.headers.get("authorization") == "Bearer s3cr3t" for r in http_site.received())
    assert "s3cr3t" not in repr(list(art.manifest))


def test_unknown_option_is_reported(http_site: Any, satchel_env: SatchelEnv) -> None:
    url = http_site.put("o.txt", b"o")
    art, _, warnings = _artifact(satchel_env, {"header": {"X": "1"}})
    art.add_reference(url)
    assert any("['header']" in w and "not used" in w for w in warnings)


def test_missing_url_is_not_found(http_site: Any, satchel_env: SatchelEnv) -> None:
    art, _, _ = _artifact(satchel_env)
    url = http_site.url("nothing.txt")
    with pytest.raises(ReferenceNotFoundError) as info:
        art.add_reference(url)
    assert str(info.value) == f"reference {url} no longer exists (HTTP 404 Not Found)"


def test_forbidden_url_is_an_access_error(http_site: Any, satchel_env: SatchelEnv) -> None:
    url = http_site.url("secret.txt")
    http_site.behave("secret.txt", status=403)
    art, _, _ = _artifact(satchel_env)
    with pytest.raises(ReferenceAccessError) as info:
        art.add_reference(url)
    assert str(info.value).startswith(f"access to {url} was refused (HTTP 403 Forbidden); if")
    assert "'headers': {'Authorization'" in str(info.value)


def test_server_error_is_a_network_error(http_site: Any, satchel_env: SatchelEnv) -> None:
    url = http_site.url("broken.txt")
    http_site.behave("broken.txt", status=500)
    art, _, _ = _artifact(satchel_env)
    with pytest.raises(ReferenceNetworkError, match=r"\(HTTP 500 Internal Server Error\)"):
        art.add_reference(url)


def test_unreachable_server_is_a_network_error(satchel_env: SatchelEnv) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    art, _, _ = _artifact(satchel_env, {"retries": 0})
    url = f"http://127.0.0.1:{port}/x.bin"
    with pytest.raises(ReferenceNetworkError, match=f"could not read {url}.*ConnectionError"):
        art.add_reference(url)


def test_presigned_url_is_refused(http_site: Any, satchel_env: SatchelEnv) -> None:
    url = http_site.put("p.bin", b"p") + "?X-Amz-Credential=AKIA&X-Amz-Signature=deadbeef"
    art, _, _ = _artifact(satchel_env)
    for checksum in (True, False):
        with pytest.raises(InvalidPathError, match=r"carries a signature \(x-amz-credential"):
            art.add_reference(url, checksum=checksum)
    assert http_site.received() == []


def test_redirect_loop_is_reported(http_site: Any, satchel_env: SatchelEnv) -> None:
    url = http_site.url("loop")
    http_site.behave("loop", redirect_to="loop")
    art, _, _ = _artifact(satchel_env)
    with pytest.raises(
        ExternalReferenceError, match=f"{url} redirects too often .*final URL instead"
    ):
        art.add_reference(url)


def test_unexpected_status_is_reported(http_site: Any, satchel_env: SatchelEnv) -> None:
    url = http_site.url("teapot")
    http_site.behave("teapot", status=418)
    art, _, _ = _artifact(satchel_env)
    with pytest.raises(ExternalReferenceError) as info:
        art.add_reference(url)
    assert str(info.value) == f"{url} answered HTTP 418 I'm a Teapot; satchel cannot read it"
