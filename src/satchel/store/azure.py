"""The Azure Blob Storage store backend (adlfs): ETag conditions carry every commit.

* create-if-absent: ``upload_blob(overwrite=False)`` (``If-None-Match: *``; 409 when it exists);
* replace-if-unchanged: ``upload_blob(etag=<etag>, match_condition=IfNotModified)``
  (``If-Match``; 412 when stale); the token is the ETag of the download that returned the bytes;
* content objects: adlfs ``put_file``, which stages blocks in parallel above the single-put
  size and commits the block list at the end; a blob appears only at that commit.

Requests use adlfs' own asynchronous service client (connection string, account key, SAS or
Azure AD as configured in the storage options).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from satchel.errorcodes import ErrorKind, azure_kind
from satchel.store.backend import Capabilities, Token
from satchel.store.remote import AsyncFsspecBackend, FolderItem, Head, Walked

#: blocks of one blob uploaded at once
BLOCK_CONCURRENCY = 4


#: the Azure SDK's retries under satchel's own: tries after the first, and the backoff
#: (seconds: ``initial + base ** n``) between them
SDK_RETRIES = 2
SDK_BACKOFF = (1, 2)


class AzureBackend(AsyncFsspecBackend):
    """A store below ``az://container/prefix``."""

    capabilities = Capabilities(freshen=True, conditional_delete=True, fingerprints=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _shorten_sdk_retries(self.fs)

    def classify(self, exc: BaseException) -> ErrorKind:
        for e in (exc, exc.__cause__):
            if e is None:
                continue
            code = str(getattr(e, "error_code", "") or "")
            status = getattr(e, "status_code", None)
            if "No such container" in str(e):  # adlfs' own words for ContainerNotFound
                return ErrorKind.BUCKET_MISSING
            # the table handlers/azure.py reads too
            kind = azure_kind(code, status if isinstance(status, int) else None, type(e).__name__)
            if kind is not ErrorKind.OTHER:
                return kind
        if isinstance(exc, (asyncio.TimeoutError, TimeoutError, ConnectionError)) or type(
            exc
        ).__module__.startswith("aiohttp"):
            return ErrorKind.TRANSIENT
        return super().classify(exc)

    def _blob(self, path: str) -> Any:
        container, blob, _version = self.fs.split_path(path)
        return self.fs.service_client.get_blob_client(container, blob)

    async def _aget(self, path: str) -> tuple[bytes, str]:
        async with self._blob(path) as bc:
            downloader = await bc.download_blob()
            data = await downloader.readall()
            return bytes(data), str(downloader.properties.etag)

    async def _aopen(self, path: str, start: int = 0) -> tuple[Any, Any]:
        # the first GET brings up to max_single_get_size; read() fetches the rest in chunks
        downloader = await self._blob(path).download_blob(offset=start or None)
        return downloader.read, lambda: None

    async def _properties(self, path: str) -> Any:
        """The blob's properties, ``None`` when it does not exist."""
        async with self._blob(path) as bc:
            try:
                return await bc.get_blob_properties()
            except Exception as exc:
                if self.classify(exc) is ErrorKind.NOT_FOUND:
                    return None
                raise

    async def _ahead(self, path: str) -> Head | None:
        props = await self._properties(path)
        return None if props is None else (int(props.size), _timestamp(props.last_modified))

    async def _aput(self, path: str, data: bytes, token: Token) -> None:
        from azure.core import MatchConditions

        async with self._blob(path) as bc:
            if token is None:
                await bc.upload_blob(data, overwrite=False)
            else:
                await bc.upload_blob(
                    data, overwrite=True, etag=token, match_condition=MatchConditions.IfNotModified
                )

    async def _alist(self, path: str) -> list[FolderItem]:
        container, key, _version = self.fs.split_path(path)
        prefix = f"{key}/" if key else ""
        out: list[FolderItem] = []
        async with self.fs.service_client.get_container_client(container) as cc:
            async for item in cc.walk_blobs(name_starts_with=prefix, delimiter="/"):
                name = item.name.rstrip("/").rsplit("/", 1)[-1]
                etag = getattr(item, "etag", None)
                out.append((name, str(etag) if etag else None, None))
        return out

    async def _awalk(self, path: str) -> list[Walked]:
        container, key, _version = self.fs.split_path(path)
        prefix = f"{key}/" if key else ""
        out: list[Walked] = []
        async with self.fs.service_client.get_container_client(container) as cc:
            async for blob in cc.list_blobs(name_starts_with=prefix):
                if not blob.name.endswith("/"):
                    out.append(
                        (
                            f"{container}/{blob.name}",
                            int(blob.size or 0),
                            _timestamp(blob.last_modified),
                        )
                    )
        return out

    async def _adelete(self, path: str) -> None:
        async with self._blob(path) as bc:
            await bc.delete_blob()

    def delete_if_old(self, key: str, cutoff: float, *, listed: float | None = None) -> bool:
        """gc's delete: ``Delete Blob`` with ``If-Match: <ETag seen>`` (setting metadata to
        freshen a blob changes its ETag, so it makes this delete fail)."""
        return self._delete_if_old(key, cutoff, listed)

    async def _astamp(self, path: str) -> tuple[float | None, str] | None:
        props = await self._properties(path)
        return None if props is None else (_timestamp(props.last_modified), str(props.etag))

    async def _adelete_if(self, path: str, token: str) -> None:
        from azure.core import MatchConditions

        async with self._blob(path) as bc:
            await bc.delete_blob(etag=token, match_condition=MatchConditions.IfNotModified)

    def touch(self, key: str) -> bool:
        """Freshen ``key`` for ``gc``: ``Set Blob Metadata``, which sets ``Last-Modified`` to
        now without sending the content."""
        return self._touch(key)

    async def _atouch(self, path: str) -> bool:
        async with self._blob(path) as bc:
            try:
                await bc.set_blob_metadata({"satchel_touched": f"{time.time():.3f}"})
            except Exception as exc:
                if self.classify(exc) is ErrorKind.NOT_FOUND:
                    return False
                raise
        return True

    def _put_file(self, path: str, local_path: str) -> None:
        self.fs.put_file(local_path, path, max_concurrency=BLOCK_CONCURRENCY)


def _timestamp(value: Any) -> float | None:
    return value.timestamp() if hasattr(value, "timestamp") else None


def _shorten_sdk_retries(fs: Any) -> None:
    """Keep the Azure SDK's own retries short: satchel retries every request itself (with its
    :class:`~satchel.store.retry.RetryPolicy`), and the storage SDK's default (3 retries after
    15, 18 and 24 s) under it made an unreachable store hang for five minutes. adlfs offers no
    option for this, so the policy object of its service client is adjusted in place (its
    attributes are the public ones of ``azure.storage.blob.ExponentialRetry``)."""
    config = getattr(getattr(fs, "service_client", None), "_config", None)
    policy = getattr(config, "retry_policy", None)
    if policy is None or not hasattr(policy, "initial_backoff"):
        return
    policy.initial_backoff, policy.increment_base = SDK_BACKOFF
    for name in ("total_retries", "connect_retries", "read_retries", "status_retries"):
        if hasattr(policy, name):
            setattr(policy, name, SDK_RETRIES)
