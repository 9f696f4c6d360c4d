"""Pytest plugin: the storage servers of the test suite and a fresh bucket per test.

Registered by ``tests/conftest.py`` (``pytest_plugins``). Session fixtures start each
server once per test process (once per xdist worker) on 127.0.0.1 and stop it at the
end; function fixtures give each test its own bucket, container or folder, removed after.

==========================  ========  =========================================
fixture                     scope     gives
==========================  ========  =========================================
``s3_server``               session   :class:`~tests.servers.s3.S3Server`
``gcs_server``              session   :class:`~tests.servers.gcs.GCSServer`
``azure_server``            session   :class:`~tests.servers.azure.AzureServer`
``http_server``             session   :class:`~tests.servers.http.FileServer`
``s3_bucket``               function  :class:`S3Bucket`, versioning off
``s3_versioned_bucket``     function  :class:`S3Bucket`, versioning on
``gcs_bucket``              function  :class:`GCSBucket`, versioning off
``gcs_versioned_bucket``    function  :class:`GCSBucket`, versioning on
``azure_container``         function  :class:`AzureContainer`
``http_site``               function  :class:`HTTPSite`, a fresh folder on the server
==========================  ========  =========================================

A server that cannot start fails every test that needs it with a message naming the
missing piece and ``bash tools/setup-test-env.sh``; nothing is skipped. Tests that use a
server fixture get the matching marker (``s3``, ``gcs``, ``azure``, ``http``), so
``-m "not azure"`` deselects them explicitly.

While a server runs, ``AWS_ENDPOINT_URL_S3``, ``STORAGE_EMULATOR_HOST`` and
``AZURE_STORAGE_CONNECTION_STRING`` point at it, for code that builds its own clients.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import pytest

from tests.servers.azure import AzureServer, start_azure_server
from tests.servers.gcs import GCSServer, start_gcs_server
from tests.servers.http import FileServer, PathBehaviour, RequestRecord, start_http_server
from tests.servers.process import ServerStartError
from tests.servers.s3 import REGION, S3Server, start_s3_server

if TYPE_CHECKING:
    import adlfs
    import gcsfs
    import requests
    import s3fs
    from azure.storage.blob import BlobServiceClient, ContainerClient

__all__ = ["AzureContainer", "GCSBucket", "HTTPSite", "S3Bucket"]

AWS_KEY = "testing"
"""The fake AWS access key id (and secret) the fixtures use; moto accepts any."""

_MARKERS = {
    "s3_server": "s3",
    "gcs_server": "gcs",
    "azure_server": "azure",
    "http_server": "http",
}
_ServerT = TypeVar("_ServerT", S3Server, GCSServer, AzureServer)


def _unique_name() -> str:
    """A bucket/container name valid on S3, GCS and Azure (3-63 lower-case chars)."""
    return f"satchel-test-{uuid.uuid4().hex[:16]}"


def _serve(
    start: Callable[[], _ServerT], env: Callable[[_ServerT], tuple[str, str]]
) -> Iterator[_ServerT]:
    """Start a server, export its env var while it runs, stop it afterwards.

    Raises:
        pytest.fail.Exception: The server could not start (the message says why and how
            to install what is missing).
    """
    failure: str | None = None
    try:
        server = start()
    except ServerStartError as exc:
        failure = str(exc)
    if failure is not None:  # outside the except block: no chained traceback in the report
        pytest.fail(failure, pytrace=False)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(*env(server))
            yield server
    finally:
        server.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with the protocols whose server fixtures it uses."""
    for item in items:
        for fixture_name in getattr(item, "fixturenames", ()):
            if fixture_name in _MARKERS:
                item.add_marker(_MARKERS[fixture_name])


# --- S3 (moto) --------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Bucket:
    """A fresh, empty bucket on the moto server.

    Attributes:
        endpoint_url: The server's ``http://127.0.0.1:PORT``.
        name: The bucket's name.
        fs: An ``s3fs.S3FileSystem`` for the server (no instance cache).
        client: A boto3 S3 client for the server.
        versioned: Whether bucket versioning is on.
    """

    endpoint_url: str
    name: str
    fs: s3fs.S3FileSystem = field(repr=False)
    client: Any = field(repr=False)
    versioned: bool = False

    @property
    def url(self) -> str:
        """``s3://<name>``."""
        return f"s3://{self.name}"

    @property
    def storage_options(self) -> dict[str, Any]:
        """Keyword arguments that build an ``s3fs.S3FileSystem`` for this server."""
        return {"endpoint_url": self.endpoint_url, "key": AWS_KEY, "secret": AWS_KEY}

    def path(self, key: str) -> str:
        """``<name>/<key>``, the form fsspec methods take."""
        return f"{self.name}/{key}"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server, once per test process."""
    yield from _serve(start_s3_server, lambda s: ("AWS_ENDPOINT_URL_S3", s.endpoint_url))


@pytest.fixture(scope="session")
def _s3_client(s3_server: S3Server) -> Any:
    """One boto3 client for the session (clients are thread-safe and slow to build)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint_url,
        region_name=REGION,
        aws_access_key_id=AWS_KEY,
        aws_secret_access_key=AWS_KEY,
    )


def _s3_bucket(server: S3Server, client: Any, *, versioned: bool) -> Iterator[S3Bucket]:
    """Create a bucket, yield it, then wipe moto's state."""
    import s3fs

    name = _unique_name()
    client.create_bucket(Bucket=name)
    if versioned:
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    # version_aware: without it s3fs ignores "?versionId=" and silently reads the latest.
    fs = s3fs.S3FileSystem(
        endpoint_url=server.endpoint_url,
        key=AWS_KEY,
        secret=AWS_KEY,
        version_aware=versioned,
        skip_instance_cache=True,
    )
    yield S3Bucket(server.endpoint_url, name, fs, client, versioned)
    server.reset()


@pytest.fixture
def s3_bucket(s3_server: S3Server, _s3_client: Any) -> Iterator[S3Bucket]:
    """A fresh unversioned S3 bucket; every bucket is gone after the test."""
    yield from _s3_bucket(s3_server, _s3_client, versioned=False)


@pytest.fixture
def s3_versioned_bucket(s3_server: S3Server, _s3_client: Any) -> Iterator[S3Bucket]:
    """A fresh S3 bucket with versioning enabled."""
    yield from _s3_bucket(s3_server, _s3_client, versioned=True)


# --- GCS (fake-gcs-server) -------------------------------------------------------------


@dataclass(frozen=True)
class GCSBucket:
    """A fresh, empty bucket on fake-gcs-server.

    Attributes:
        endpoint_url: The server's ``http://127.0.0.1:PORT`` (JSON API root).
        name: The bucket's name.
        fs: A ``gcsfs.GCSFileSystem(token="anon", endpoint_url=...)`` (no instance cache).
        versioned: Whether object versioning is on (old generations stay readable).
    """

    endpoint_url: str
    name: str
    fs: gcsfs.GCSFileSystem = field(repr=False)
    versioned: bool = False

    @property
    def url(self) -> str:
        """``gs://<name>``."""
        return f"gs://{self.name}"

    @property
    def storage_options(self) -> dict[str, Any]:
        """Keyword arguments that build a ``gcsfs.GCSFileSystem`` for this server."""
        return {"endpoint_url": self.endpoint_url, "token": "anon"}

    def path(self, key: str) -> str:
        """``<name>/<key>``, the form fsspec methods take."""
        return f"{self.name}/{key}"


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[GCSServer]:
    """fake-gcs-server, once per test process."""
    yield from _serve(start_gcs_server, lambda s: ("STORAGE_EMULATOR_HOST", s.endpoint_url))


@pytest.fixture(scope="session")
def _gcs_session() -> Iterator[requests.Session]:
    """A requests session for bucket set-up, ignoring any proxy settings."""
    import requests

    with requests.Session() as session:
        session.trust_env = False
        yield session


def _gcs_bucket(
    server: GCSServer, session: requests.Session, *, versioned: bool
) -> Iterator[GCSBucket]:
    """Create a bucket through the JSON API, yield it, then delete it and its objects."""
    import gcsfs

    api = f"{server.endpoint_url}/storage/v1/b"
    name = _unique_name()
    body: dict[str, Any] = {"name": name, "versioning": {"enabled": versioned}}
    session.post(api, params={"project": "test"}, json=body, timeout=30).raise_for_status()
    # version_aware: without it gcsfs takes "k#<generation>" for a key with "#" in it.
    fs = gcsfs.GCSFileSystem(
        token="anon",
        endpoint_url=server.endpoint_url,
        version_aware=versioned,
        skip_instance_cache=True,
    )
    yield GCSBucket(server.endpoint_url, name, fs, versioned)
    listing = session.get(f"{api}/{name}/o", params={"versions": "true"}, timeout=30).json()
    for item in listing.get("items", []):
        session.delete(
            f"{api}/{name}/o/{quote(item['name'], safe='')}",
            params={"generation": item["generation"]},
            timeout=30,
        )
    session.delete(f"{api}/{name}", timeout=30)


@pytest.fixture
def gcs_bucket(gcs_server: GCSServer, _gcs_session: requests.Session) -> Iterator[GCSBucket]:
    """A fresh GCS bucket without versioning, deleted after the test."""
    yield from _gcs_bucket(gcs_server, _gcs_session, versioned=False)


@pytest.fixture
def gcs_versioned_bucket(
    gcs_server: GCSServer, _gcs_session: requests.Session
) -> Iterator[GCSBucket]:
    """A fresh GCS bucket with object versioning, deleted after the test."""
    yield from _gcs_bucket(gcs_server, _gcs_session, versioned=True)


# --- Azure Blob (Azurite) --------------------------------------------------------------


@dataclass(frozen=True)
class AzureContainer:
    """A fresh, empty container on Azurite (which has no blob versioning).

    Attributes:
        connection_string: http connection string of Azurite's development account.
        name: The container's name.
        fs: An ``adlfs.AzureBlobFileSystem(connection_string=...)`` (no instance cache).
        client: An ``azure.storage.blob.ContainerClient`` for the container.
    """

    connection_string: str
    name: str
    fs: adlfs.AzureBlobFileSystem = field(repr=False)
    client: ContainerClient = field(repr=False)

    @property
    def url(self) -> str:
        """``az://<name>``."""
        return f"az://{self.name}"

    @property
    def storage_options(self) -> dict[str, Any]:
        """Keyword arguments that build an ``adlfs.AzureBlobFileSystem`` for this server."""
        return {"connection_string": self.connection_string}

    def path(self, key: str) -> str:
        """``<name>/<key>``, the form fsspec methods take."""
        return f"{self.name}/{key}"


@pytest.fixture(scope="session")
def azure_server() -> Iterator[AzureServer]:
    """Azurite's blob service, once per test process."""
    yield from _serve(
        start_azure_server, lambda s: ("AZURE_STORAGE_CONNECTION_STRING", s.connection_string)
    )


@pytest.fixture(scope="session")
def _azure_service(azure_server: AzureServer) -> Iterator[BlobServiceClient]:
    """One BlobServiceClient for the session."""
    from azure.storage.blob import BlobServiceClient

    with BlobServiceClient.from_connection_string(azure_server.connection_string) as client:
        yield client


@pytest.fixture
def azure_container(
    azure_server: AzureServer, _azure_service: BlobServiceClient
) -> Iterator[AzureContainer]:
    """A fresh Azure container, deleted after the test."""
    import adlfs

    name = _unique_name()
    client = _azure_service.create_container(name)
    fs = adlfs.AzureBlobFileSystem(
        connection_string=azure_server.connection_string, skip_instance_cache=True
    )
    yield AzureContainer(azure_server.connection_string, name, fs, client)
    client.delete_container()


# --- HTTP (our FileServer) -------------------------------------------------------------


@dataclass(frozen=True)
class HTTPSite:
    """A fresh folder served by the session's :class:`FileServer`.

    Attributes:
        base_url: URL of the folder, without a trailing slash.
        root: The folder on disk; ``root/a/b`` is served at ``base_url + "/a/b"``.
        server: The server, for its ``behaviours`` and ``requests``.
    """

    base_url: str
    root: Path
    server: FileServer = field(repr=False)

    @property
    def _prefix(self) -> str:
        """The URL path of the folder, e.g. ``/site-1a2b``."""
        return "/" + self.root.name

    def url(self, path: str) -> str:
        """The URL of ``path`` (relative to the folder)."""
        return f"{self.base_url}/{quote(path.lstrip('/'))}"

    def put(self, path: str, data: bytes) -> str:
        """Write ``data`` to ``path`` below the folder and return its URL."""
        target = self.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return self.url(path)

    def behave(self, path: str, **changes: Any) -> PathBehaviour:
        """Set how the server answers for ``path``; keywords are :class:`PathBehaviour`'s.

        Returns:
            The behaviour now in force for the path.
        """
        behaviour = PathBehaviour(**changes)
        self.server.behaviours[f"{self._prefix}/{path.lstrip('/')}"] = behaviour
        return behaviour

    def received(self) -> list[RequestRecord]:
        """The requests the server received for this folder, oldest first."""
        return [r for r in self.server.requests if r.path.startswith(self._prefix + "/")]


@pytest.fixture(scope="session")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FileServer]:
    """The suite's HTTP file server, once per test process."""
    server = start_http_server(tmp_path_factory.mktemp("http-root"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http_site(http_server: FileServer) -> Iterator[HTTPSite]:
    """A fresh served folder; its files and per-path behaviours are gone after the test."""
    root = http_server.root / f"site-{uuid.uuid4().hex[:12]}"
    root.mkdir()
    site = HTTPSite(f"{http_server.url}/{root.name}", root, http_server)
    yield site
    prefix = f"/{root.name}/"
    for path in [p for p in http_server.behaviours if p.startswith(prefix)]:
        del http_server.behaviours[path]
    http_server.requests[:] = [r for r in http_server.requests if not r.path.startswith(prefix)]
    shutil.rmtree(root, ignore_errors=True)
