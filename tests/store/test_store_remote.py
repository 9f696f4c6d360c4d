"""Remote store backends: what is refused, what is retried, what fails fast, and how many
requests bulk checks and uploads make.

Transient and permission failures are produced by real HTTP servers: the suite's HTTP file
server stands in for an S3 or GCS endpoint whose answers the test controls (503, 403).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import pytest

import satchel
from satchel.errors import (
    ConfigError,
    DigestMismatchError,
    HandlerUnavailableError,
    StoreAccessError,
    StoreNotFoundError,
    StoreNotWritableError,
    StoreUnavailableError,
)
from satchel.store import Store, layout, open_store
from satchel.store.remote import open_remote_backend
from satchel.store.retry import RetryPolicy
from tests.servers.fixtures import AzureContainer, GCSBucket, HTTPSite, S3Bucket
from tests.store.conftest import PROJECT, commit_files, overwrite


def _count_s3_requests(store: Store) -> list[str]:
    """Record the operation name of every call the store's S3 client makes."""
    backend: Any = store.backend
    backend.fs.connect()
    seen: list[str] = []
    backend.fs.s3.meta.events.register(
        "before-call.s3", lambda model, **kw: seen.append(model.name)
    )
    return seen


class TestReadOnlyFilesystems:
    def test_a_store_without_conditional_writes_reads_but_refuses_writes(
        self, tmp_path: Path
    ) -> None:
        services = satchel.Api(str(tmp_path / "store")).services
        commit_files(services.with_store(str(tmp_path / "store")), "ds", {"f": b"x"}, {})
        url = f"local://{tmp_path / 'store'}"  # fsspec's LocalFileSystem: no atomic primitives
        api = satchel.Api(url, PROJECT, cache_dir=str(tmp_path / "cache2"))
        root = api.artifact("ds:latest").download(tmp_path / "out")
        assert (Path(root) / "f").read_bytes() == b"x"

        draft = satchel.Artifact("ds", "dataset")
        draft.add(b"y", "f")
        with pytest.raises(StoreNotWritableError) as info:
            draft.save(PROJECT, store=url)
        message = str(info.value)
        assert message.startswith("cannot create leases/")  # the commit's first write
        assert message.endswith(
            f" in store {url}: the local:// filesystem offers no atomic create-if-absent / "
            "replace-if-unchanged, so concurrent commits could overwrite each other. Reading "
            "works; to write use a local folder, s3://, gs://, az:// or memory://"
        )
        assert satchel.Api(url, PROJECT).store.live_versions(PROJECT, "ds") == [0]


class TestOpening:
    def test_an_unknown_scheme_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError) as info:
            open_store("nosuchfs://bucket/prefix")
        assert str(info.value).startswith("cannot open store nosuchfs://bucket/prefix: ")
        assert str(info.value).endswith(
            ". Check the URL and the filesystem's options (satchel.configure(storage_options=...) "
            "or SATCHEL_STORAGE_OPTIONS)"
        )

    def test_a_filesystem_whose_package_is_missing_says_what_to_install(self) -> None:
        with pytest.raises(HandlerUnavailableError) as info:
            open_store("smb://server/share/store")  # fsspec knows smb; smbprotocol is absent
        assert str(info.value) == (
            "store smb://server/share/store needs the smb:// filesystem, which is not "
            "installed: install its fsspec package"
        )


class TestMissingBucket:
    def _urls(
        self, s3_bucket: S3Bucket, gcs_bucket: GCSBucket, azure_container: AzureContainer
    ) -> list[tuple[str, dict[str, Any]]]:
        return [
            ("s3://satchel-no-such-bucket/team", s3_bucket.storage_options),
            ("gs://satchel-no-such-bucket/team", gcs_bucket.storage_options),
            ("az://satchel-no-such-container/team", azure_container.storage_options),
        ]

    def test_reads_listings_and_writes_fail_fast_with_a_clear_message(
        self, s3_bucket: S3Bucket, gcs_bucket: GCSBucket, azure_container: AzureContainer
    ) -> None:
        for url, options in self._urls(s3_bucket, gcs_bucket, azure_container):
            store = open_store(url, storage_options=options)
            message = (
                f"the bucket or container of store {url} does not exist; create it (satchel "
                "never creates buckets) or fix the store URL"
            )
            backend = store.backend
            for action, args in (
                (backend.read, ("satchel.json",)),
                (backend.list, ("projects",)),
                (backend.create_if_absent, ("satchel.json", b"{}")),
            ):
                with pytest.raises(StoreNotFoundError) as info:
                    action(*args)
                assert str(info.value) == message, url

    def test_a_missing_bucket_never_passes_for_an_empty_store(self, s3_bucket: S3Bucket) -> None:
        store = open_store("s3://satchel-no-such-bucket", storage_options=s3_bucket.storage_options)
        api = satchel.Api(store, PROJECT)
        with pytest.raises(StoreNotFoundError):
            api.artifact("ds:latest")


class TestPermission:
    def test_wrong_credentials_fail_fast(self, azure_container: AzureContainer) -> None:
        bad = azure_container.connection_string.replace("AccountKey=", "AccountKey=AAAA")
        url = f"{azure_container.url}/team"
        calls: list[float] = []
        backend = open_remote_backend(
            url, storage_options={"connection_string": bad},
            retry=RetryPolicy(sleep=calls.append),
        )  # fmt: skip
        with pytest.raises(StoreAccessError) as info:
            backend.read("satchel.json")
        assert isinstance(info.value, PermissionError)
        assert str(info.value).startswith(f"store {url} refused access (")
        assert str(info.value).endswith(
            ") to read satchel.json; check the credentials (storage options or the environment) "
            "and their permissions"
        )
        assert calls == []  # not retried

    def test_forbidden_from_an_s3_endpoint(self, http_site: HTTPSite) -> None:
        http_site.put("bkt/team/satchel.json", b'{"format": 1}')
        http_site.behave("bkt/team/satchel.json", status=403)
        backend = _fake_s3(http_site, RetryPolicy(sleep=lambda s: None))
        with pytest.raises(StoreAccessError, match="refused access"):
            backend.read("satchel.json")
        assert len(http_site.received()) == 1

    def test_forbidden_from_a_gcs_endpoint(self, http_site: HTTPSite) -> None:
        http_site.put("storage/v1/b/bkt/o/team/satchel.json", b"{}")
        http_site.behave("storage/v1/b/bkt/o/team/satchel.json", status=403)
        backend = open_remote_backend(
            "gs://bkt/team",
            storage_options={"endpoint_url": http_site.base_url, "token": "anon"},
        )
        with pytest.raises(StoreAccessError, match="refused access"):
            backend.read("satchel.json")
        assert len(http_site.received()) == 1


def _fake_s3(site: HTTPSite, retry: RetryPolicy) -> Any:
    """An S3 backend whose endpoint is the test's HTTP site (client-side retries off)."""
    return open_remote_backend(
        "s3://bkt/team",
        storage_options={
            "endpoint_url": site.base_url, "key": "testing", "secret": "testing",
            "config_kwargs": {"retries": {"total_max_attempts": 1}},
            "skip_instance_cache": True,
        },
        retry=retry,
    )  # fmt: skip


class TestTransientErrors:
    def test_5xx_is_retried_with_backoff_then_reported(self, http_site: HTTPSite) -> None:
        http_site.put("bkt/team/satchel.json", b'{"format": 1}')
        http_site.behave("bkt/team/satchel.json", status=503)
        waits: list[float] = []
        backend = _fake_s3(http_site, RetryPolicy(attempts=4, base_delay=0.5, sleep=waits.append))
        with pytest.raises(StoreUnavailableError) as info:
            backend.read("satchel.json")
        assert isinstance(info.value, ConnectionError)
        assert str(info.value).startswith(
            "could not read satchel.json in store s3://bkt/team: still failing after 4 attempts ("
        )
        assert str(info.value).endswith("); check the network and the service, then retry")
        assert len(http_site.received()) == 4
        assert len(waits) == 3 and all(0 <= w <= 0.5 * 2**i for i, w in enumerate(waits))

    def test_a_transient_error_that_clears_is_invisible(self, http_site: HTTPSite) -> None:
        http_site.put("bkt/team/satchel.json", b'{"format": 1}')
        http_site.behave("bkt/team/satchel.json", status=500)

        def recover(_seconds: float) -> None:
            http_site.behave("bkt/team/satchel.json")  # the service is back

        backend = _fake_s3(http_site, RetryPolicy(sleep=recover))
        assert backend.read("satchel.json") == b'{"format": 1}'
        assert len(http_site.received()) == 2


class TestConditionalWrites:
    def test_an_ambiguous_retry_of_our_own_write_counts_as_done(self, s3_bucket: S3Bucket) -> None:
        backend = open_remote_backend(
            f"{s3_bucket.url}/t", storage_options=s3_bucket.storage_options
        )
        assert backend.create_if_absent("k.json", b"mine")
        assert backend.create_if_absent("k.json", b"mine")  # the same bytes: our earlier write
        assert not backend.create_if_absent("k.json", b"theirs")
        _data, token = backend.read_token("k.json")
        assert backend.replace_if_unchanged("k.json", b"new", token)
        assert backend.replace_if_unchanged("k.json", b"new", token)  # already ours
        assert not backend.replace_if_unchanged("k.json", b"other", token)
        backend.delete("k.json")
        assert not backend.replace_if_unchanged("k.json", b"other", token)


class TestTransfers:
    def test_existence_is_checked_by_listing_busy_folders_and_heading_the_rest(
        self, s3_bucket: S3Bucket, tmp_path: Path
    ) -> None:
        store = open_store(f"{s3_bucket.url}/t", storage_options=s3_bucket.storage_options)
        src = tmp_path / "x"
        src.write_bytes(b"x")
        present = [f"objects/md5/aa/{i:030x}" for i in range(0, 40, 2)]
        for key in present + ["objects/md5/bb/" + "1" * 30]:
            store.backend.put_file(key, str(src))
        wanted = [f"objects/md5/aa/{i:030x}" for i in range(40)]
        wanted += ["objects/md5/bb/" + "1" * 30, "objects/md5/cc/" + "2" * 30]
        ops = _count_s3_requests(store)
        found = store.backend.existing(wanted)
        assert found == set(present) | {"objects/md5/bb/" + "1" * 30}
        assert sorted(o for o in ops if o != "?") == ["HeadObject", "HeadObject", "ListObjectsV2"]

    def test_large_objects_go_up_in_parts_and_come_back_whole(
        self, s3_bucket: S3Bucket, tmp_path: Path
    ) -> None:
        store = open_store(f"{s3_bucket.url}/t", storage_options=s3_bucket.storage_options)
        big = tmp_path / "big"
        big.write_bytes(os.urandom(40 << 20))
        ops = _count_s3_requests(store)
        store.backend.put_file("objects/md5/ff/big", str(big))
        assert ops.count("UploadPart") == 3 and "CompleteMultipartUpload" in ops
        digest = hashlib.sha256()
        with store.backend.open("objects/md5/ff/big") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        assert digest.hexdigest() == hashlib.sha256(big.read_bytes()).hexdigest()

    def test_a_cached_download_makes_three_requests_and_none_per_file(
        self, s3_bucket: S3Bucket, tmp_path: Path
    ) -> None:
        url = f"{s3_bucket.url}/t"
        writer = open_store(url, storage_options=s3_bucket.storage_options)
        files = {f"d/f{i}.txt": f"{i}".encode() for i in range(50)}
        commit_files(_services(tmp_path / "cache", writer), "ds", files, {}, aliases=("best",))
        requests: dict[str, int] = {}
        for ref in ("ds:latest", "ds:v0", "ds:best"):
            reader = open_store(url, storage_options=s3_bucket.storage_options)
            sent = _count_s3_requests(reader)
            api = satchel.Api(reader, PROJECT, services=_services(tmp_path / "cache", reader))
            root = api.artifact(ref).download(tmp_path / ref.replace(":", "-"))
            assert (Path(root) / "d" / "f7.txt").read_bytes() == b"7"
            requests[ref] = len(sent)
        # latest: list versions, read the record, read the manifest; v0: read the record,
        # look for a tombstone, read the manifest; an alias adds reading the alias
        assert requests == {"ds:latest": 3, "ds:v0": 3, "ds:best": 4}

    def test_a_download_into_an_empty_cache_fetches_in_the_stores_io_pool(
        self, s3_bucket: S3Bucket, tmp_path: Path
    ) -> None:
        url = f"{s3_bucket.url}/pool"
        writer = open_store(url, storage_options=s3_bucket.storage_options)
        files = {f"f{i:02d}.bin": os.urandom(64 << 10) for i in range(48)}
        commit_files(_services(tmp_path / "c1", writer), "ds", files, {})
        reader = open_store(url, storage_options=s3_bucket.storage_options)
        backend: Any = reader.backend
        backend.fs.connect()
        now = {"in_flight": 0, "most": 0}

        def started(model: Any, **_kw: Any) -> None:
            if model.name == "GetObject":
                now["in_flight"] += 1
                now["most"] = max(now["most"], now["in_flight"])

        def ended(model: Any, **_kw: Any) -> None:
            if model.name == "GetObject":
                now["in_flight"] -= 1

        backend.fs.s3.meta.events.register("before-call.s3", started)
        backend.fs.s3.meta.events.register("after-call.s3", ended)
        api = satchel.Api(reader, PROJECT, services=_services(tmp_path / "c2", reader))
        root = api.artifact("ds:v0").download(tmp_path / "out")
        assert {p.name: p.read_bytes() for p in Path(root).iterdir()} == files
        # the local pool (2 x cores, at least 4) would never have more than 4 GETs in flight here
        assert backend.io_workers == 16
        assert now["most"] > 4, now

    def test_readding_a_folder_checks_and_freshens_only_what_the_latest_version_lacks(
        self, s3_bucket: S3Bucket, tmp_path: Path
    ) -> None:
        url = f"{s3_bucket.url}/readd"
        store = open_store(url, storage_options=s3_bucket.storage_options)
        files = {f"d/f{i:02d}.txt": f"file {i}".encode() for i in range(40)}
        commit_files(_services(tmp_path / "c1", store), "ds", files, {})
        orphan = {"orphan.txt": b"only a deleted version used this"}
        commit_files(_services(tmp_path / "c1", store), "gone", orphan, {})
        satchel.Api(store, PROJECT, services=_services(tmp_path / "c1", store)).artifact(
            "gone:v0"
        ).delete()
        backend: Any = store.backend
        backend.fs.connect()
        calls: list[tuple[str, str]] = []
        backend.fs.s3.meta.events.register(  # API parameters, before serialisation
            "before-parameter-build.s3",
            lambda model, params, **kw: calls.append((model.name, str(params.get("Key", "")))),
        )
        # a fresh draft (not new_draft) of the same folder plus one new file and the orphan
        commit_files(
            _services(tmp_path / "c2", store), "ds", {**files, "d/new.txt": b"new", **orphan}, {}
        )
        on_objects = [(op, key) for op, key in calls if "/objects/" in f"/{key}"]
        copies = [key for op, key in on_objects if op == "CopyObject"]
        puts = [key for op, key in on_objects if op == "PutObject"]
        # the 40 files the latest version holds cost nothing; the orphan (only a deleted version
        # used it) is found and freshened, the new file is found missing and sent
        assert len(copies) == 1 and copies[0].endswith(layout.object_key("md5", _md5(orphan)))
        assert len(puts) == 1 and puts[0].endswith(layout.object_key("md5", _md5(b"new")))
        heads = [key for op, key in on_objects if op == "HeadObject"]
        # the two looked up before the commit point; after it, one bulk check of every object
        # the version names (Store.complete; 42 objects in as many fan-out folders: a HEAD each)
        assert len(heads) == 2 + 42
        named = {
            f"readd/{layout.object_key('md5', _md5(d))}"
            for d in [*files.values(), b"new", *orphan.values()]
        }
        assert set(heads[2:]) == named
        art = satchel.Api(store, PROJECT, services=_services(tmp_path / "c3", store)).artifact(
            "ds:v1"
        )
        art.verify(art.download(tmp_path / "out"))

    def test_a_corrupt_object_in_the_store_is_never_cached(
        self, s3_bucket: S3Bucket, tmp_path: Path
    ) -> None:
        url = f"{s3_bucket.url}/t"
        store = open_store(url, storage_options=s3_bucket.storage_options)
        commit_files(_services(tmp_path / "c1", store), "ds", {"f.bin": b"good bytes"}, {})
        entry = store.get_manifest(store.version(PROJECT, "ds", 0).manifest).get("f.bin")
        assert entry is not None
        overwrite(store, layout.object_key(entry.alg, entry.oid), b"evil bytes")
        fresh = _services(tmp_path / "c2", store)
        art = satchel.Api(store, PROJECT, services=fresh).artifact("ds:v0")
        with pytest.raises(
            DigestMismatchError,
            match=rf"{PROJECT}/ds:v0: f.bin: the store object {layout.object_key(entry.alg, entry.oid)}"
            rf" in {url} is corrupt: its bytes hash to .*, the manifest says {re.escape(entry.digest)}; "
            r"nothing was written or cached. Run 'satchel fsck --deep'",
        ):
            art.download(tmp_path / "out")
        assert fresh.cache.get(entry.alg, entry.oid) is None
        assert not (tmp_path / "out" / "f.bin").exists()


def _md5(data: dict[str, bytes] | bytes) -> str:
    """Object id (hex MD5) of ``data`` (or of the single value of a one-file dict)."""
    raw = data if isinstance(data, bytes) else next(iter(data.values()))
    return hashlib.md5(raw).hexdigest()


def _services(cache: Path, store: Store) -> Any:
    from satchel.services import local_services

    return local_services(cache_dir=str(cache), store=store)


@pytest.mark.gcs
def test_a_gcs_download_makes_one_request_per_object(gcs_bucket: GCSBucket, tmp_path: Path) -> None:
    url = f"{gcs_bucket.url}/one-get"
    store = open_store(url, storage_options=gcs_bucket.storage_options)
    files = {f"f{i}.bin": os.urandom(3000 + i) for i in range(12)}
    commit_files(_services(tmp_path / "c1", store), "ds", files, {})
    reader = open_store(url, storage_options=gcs_bucket.storage_options)
    backend: Any = reader.backend
    metadata_gets: list[str] = []
    real_call = backend.fs._call

    async def recording_call(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        if method == "GET" and path == "b/{}/o/{}" and "/objects/" in f"/{args[1]}":
            metadata_gets.append(args[1])
        return await real_call(method, path, *args, **kwargs)

    backend.fs._call = recording_call
    api = satchel.Api(reader, PROJECT, services=_services(tmp_path / "c2", reader))
    root = api.artifact("ds:v0").download(tmp_path / "out")
    assert {p.name: p.read_bytes() for p in Path(root).iterdir()} == files
    assert metadata_gets == []  # gcsfs' open() would GET each object's metadata first
    with pytest.raises(FileNotFoundError):
        reader.backend.open("objects/md5/00/" + "0" * 30).read()


class TestUnreachableOrRefusing:
    @pytest.mark.azure
    @pytest.mark.timeout(45)
    def test_an_unreachable_azure_store_gives_up_in_seconds_not_minutes(
        self, azure_container: AzureContainer
    ) -> None:
        # Nothing listens on the port: every connection is refused. The storage SDK's own
        # retries (15, 18 and 24 s apart by default) would make one attempt take a minute.
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        conn = azure_container.connection_string
        endpoint = conn.split("BlobEndpoint=", 1)[1].split(";", 1)[0]
        dead = conn.replace(endpoint, f"http://127.0.0.1:{port}/devstoreaccount1")
        backend: Any = open_remote_backend(
            f"az://{azure_container.name}/team",
            storage_options={"connection_string": dead},
            retry=RetryPolicy(attempts=2, sleep=lambda _s: None),
        )
        policy = backend.fs.service_client._config.retry_policy
        assert (policy.initial_backoff, policy.increment_base, policy.total_retries) == (1, 2, 2)
        with pytest.raises(StoreUnavailableError) as info:
            backend.read("satchel.json")
        assert str(info.value).startswith(
            f"could not read satchel.json in store az://{azure_container.name}/team: still "
            "failing after 2 attempts ("
        )

    @pytest.mark.gcs
    def test_gcsfs_logs_no_traceback_to_a_process_that_configured_no_logging(
        self, http_site: HTTPSite, tmp_path: Path
    ) -> None:
        # gcsfs logs a request it gives up on with logger.exception; without a handler Python
        # prints that (with its traceback) to stderr, next to satchel's own one-line error.
        import subprocess
        import sys

        http_site.behave("storage/v1/b/bkt/o", status=400)
        script = (
            "from satchel.store.remote import open_remote_backend\n"
            "from satchel.store.retry import RetryPolicy\n"
            f"b = open_remote_backend('gs://bkt/team', storage_options={{'endpoint_url': "
            f"{http_site.base_url!r}, 'token': 'anon'}}, retry=RetryPolicy(attempts=1))\n"
            "try:\n    b.list('projects')\nexcept Exception as exc:\n"
            "    print('raised', type(exc).__name__)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120
        )
        assert done.stdout.startswith("raised "), done.stdout + done.stderr
        assert [r.path for r in http_site.received()] != []  # the request was made
        assert done.stderr == ""
