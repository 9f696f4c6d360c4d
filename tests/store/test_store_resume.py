"""Downloads from a bucket whose connection breaks in the middle of an object.

The servers are the suite's real ones (moto, fake-gcs-server, Azurite); between them and
satchel sits a TCP proxy that closes a connection after a given number of response bytes, as
a network failure mid-download does (:mod:`tests.servers.proxy`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import satchel
from satchel.errors import StoreUnavailableError
from satchel.store.retry import RetryPolicy
from tests.servers.proxy import CuttingProxy
from tests.store.conftest import PROJECT, StoreCase, commit_files

MiB = 1 << 20
KINDS = [
    pytest.param("s3", marks=pytest.mark.s3),
    pytest.param("gcs", marks=pytest.mark.gcs),
    pytest.param("azure", marks=pytest.mark.azure),
]


@pytest.fixture(params=KINDS)
def two_ways(request: pytest.FixtureRequest) -> Iterator[tuple[StoreCase, StoreCase, CuttingProxy]]:
    """A fresh bucket, reached directly and through a cutting proxy (same store, two URLs)."""
    kind = request.param
    bucket: Any = request.getfixturevalue(
        {"s3": "s3_bucket", "gcs": "gcs_bucket", "azure": "azure_container"}[kind]
    )
    options = dict(bucket.storage_options)
    if kind == "azure":
        endpoint = re.search(r"BlobEndpoint=(http://[^;/]+)", options["connection_string"])
        assert endpoint is not None, options
        server = endpoint.group(1)
    else:
        server = options["endpoint_url"]
    host, port = server.removeprefix("http://").split(":")
    proxy = CuttingProxy((host, int(port)))
    proxy.start()
    if kind == "azure":
        proxied = {"connection_string": options["connection_string"].replace(server, proxy.url)}
    else:
        proxied = {**options, "endpoint_url": proxy.url}
    if kind == "s3":
        proxied["skip_instance_cache"] = True
    url = f"{bucket.url}/team"
    try:
        yield StoreCase(kind, url, options), StoreCase(kind, url, proxied), proxy
    finally:
        proxy.stop()


def test_a_download_cut_mid_object_continues_from_the_byte_it_reached(
    two_ways: tuple[StoreCase, StoreCase, CuttingProxy], tmp_path: Path
) -> None:
    direct, proxied, proxy = two_ways
    big = os.urandom(3 * MiB + 12345)
    commit_files(direct.services(tmp_path / "c1"), "ds", {"big.bin": big, "small.txt": b"hi"}, {})
    store = proxied.open()
    api = satchel.Api(store, PROJECT, services=proxied.services(tmp_path / "c2", store))
    art = api.artifact("ds:latest")
    proxy.cut(after=1 * MiB, times=2)
    root = art.download(tmp_path / "out")
    assert (Path(root) / "big.bin").read_bytes() == big
    assert proxy.cuts_done == 2
    art.verify(root)
    if direct.kind != "azure":
        # each new request asked only for the rest, from the byte the last one reached
        sent = b"".join(proxy.requests)
        starts = [int(n) for n in re.findall(rb"(?i)\r\nrange: bytes=(\d+)-\r\n", sent)]
        assert len(starts) == 2 and 0 < starts[0] <= starts[1] < len(big), starts
    # (Azure's SDK reads a blob in chunks, the first up to 32 MiB, and repeats a broken
    # chunk itself before satchel sees an error, so there a cut costs up to one chunk.)


@pytest.mark.s3
def test_a_download_that_keeps_breaking_fails_clearly_and_leaves_nothing_half_written(
    s3_bucket: Any, tmp_path: Path
) -> None:
    direct = StoreCase("s3", f"{s3_bucket.url}/team", dict(s3_bucket.storage_options))
    host, port = s3_bucket.endpoint_url.removeprefix("http://").split(":")
    proxy = CuttingProxy((host, int(port)))
    proxy.start()
    try:
        big = os.urandom(2 * MiB)
        commit_files(direct.services(tmp_path / "c1"), "ds", {"big.bin": big}, {})
        options = {
            **s3_bucket.storage_options,
            "endpoint_url": proxy.url,
            "skip_instance_cache": True,
            "config_kwargs": {"retries": {"total_max_attempts": 1}},
        }
        store = StoreCase("s3", direct.url, options).open()
        waits: list[float] = []
        backend: Any = store.backend
        backend.retry = RetryPolicy(attempts=3, sleep=waits.append)
        backend.fs.retries = 1  # s3fs' own retries off: satchel's policy is what is tested
        cache = tmp_path / "c2"
        api = satchel.Api(store, PROJECT, services=direct.services(cache, store))
        art = api.artifact("ds:latest")
        proxy.cut(after=MiB // 2, then_down=True)  # the link goes down mid-object
        with pytest.raises(StoreUnavailableError) as info:
            art.download(tmp_path / "out")
        message = str(info.value)
        assert re.fullmatch(
            r"could not read objects/md5/[0-9a-f]{2}/[0-9a-f]{30} in store "
            + re.escape(direct.url)
            + r": still failing after 3 attempts \(.+\); check the "
            r"network and the service, then retry",
            message,
            re.DOTALL,
        ), message
        assert len(waits) == 2 and proxy.cuts_done == 1
        assert not (tmp_path / "out" / "big.bin").exists()
        leftovers = [p for p in cache.rglob("*") if p.is_file() and p.stat().st_size >= MiB // 2]
        assert leftovers == [], leftovers
    finally:
        proxy.stop()


def test_each_bucket_opens_an_object_from_a_given_byte(
    two_ways: tuple[StoreCase, StoreCase, CuttingProxy],
) -> None:
    # the request a resumed download sends, on each service (Azure's SDK usually repeats a
    # broken chunk itself, so the resume test above rarely reaches it there)
    direct, _proxied, _proxy = two_ways
    backend: Any = direct.open().backend
    data = os.urandom(300_000)
    assert backend.create_if_absent("objects/md5/ab/" + "c" * 30, data)
    path = backend.path("objects/md5/ab/" + "c" * 30)
    for start in (0, 1, 123_457, len(data) - 1):
        read, close = backend._sync(backend._aopen, path, start)
        got = b""
        try:
            while chunk := backend._sync(read, 65536):
                got += chunk
        finally:
            close()
        assert got == data[start:], (direct.kind, start, len(got))
