"""The S3 store backend (s3fs): conditional ``PutObject`` carries every commit.

* create-if-absent: ``PutObject`` with ``If-None-Match: *`` (412 when the key exists);
* replace-if-unchanged: ``PutObject`` with ``If-Match: <etag>``; the token is the ETag a
  ``GetObject`` returned together with the bytes, so bytes and token always belong together;
* content objects: s3fs ``put_file``, multipart above ``2 * MULTIPART_CHUNK`` with parts sent
  concurrently; S3 publishes an object only when its upload (or multipart completion) ends.

Requests go through s3fs' own client (credentials, endpoint and retries as configured in the
storage options); error codes are read from the ``ClientError`` s3fs keeps as ``__cause__``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from satchel.errorcodes import ErrorKind, s3_kind
from satchel.store.backend import Capabilities, Token
from satchel.store.remote import AsyncFsspecBackend, FolderItem, Head, Walked

#: part size of multipart uploads (objects of at least twice this go up in parts)
MULTIPART_CHUNK = 16 << 20
#: parts of one object sent at once
PART_CONCURRENCY = 4
#: part size of the server-side multipart copy that freshens an object too large for one
#: ``CopyObject`` (S3 takes 5 MiB to 5 GiB per part and at most 10,000 parts)
COPY_PART = 1 << 30
_MAX_PARTS = 10_000


def _touched() -> dict[str, str]:
    """The metadata a freshening writes (S3 needs *some* change to copy an object onto itself)."""
    return {"satchel-touched": f"{time.time():.3f}"}


def _code(exc: BaseException) -> str | None:
    for e in (exc, exc.__cause__):
        response = getattr(e, "response", None)
        if isinstance(response, dict):
            err = response.get("Error") or {}
            code = err.get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            return str(code) if code is not None else None
    return None


class S3Backend(AsyncFsspecBackend):
    """A store below ``s3://bucket/prefix``."""

    # no conditional delete: S3's DeleteObject takes no If-Match here (gc re-reads the time)
    capabilities = Capabilities(freshen=True, fingerprints=True)

    def classify(self, exc: BaseException) -> ErrorKind:
        kind = s3_kind(_code(exc))  # the table handlers/s3.py reads too
        if kind is not ErrorKind.OTHER:
            return kind
        name = type(exc).__name__
        if name in ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"):
            return ErrorKind.PERMISSION
        module = type(exc).__module__
        if (
            isinstance(exc, (asyncio.TimeoutError, TimeoutError, ConnectionError))
            or module.startswith("aiohttp")
            or name
            in (
                "EndpointConnectionError",
                "ConnectTimeoutError",
                "ReadTimeoutError",
                "ConnectionClosedError",
                "HTTPClientError",
                "FSTimeoutError",
                "ResponseParserError",
                "IncompleteRead",
            )
        ):
            return ErrorKind.TRANSIENT
        return super().classify(exc)

    def _split(self, path: str) -> tuple[str, str]:
        bucket, key, _version = self.fs.split_path(path)
        return bucket, key

    async def _aget(self, path: str) -> tuple[bytes, str]:
        bucket, key = self._split(path)
        resp = await self.fs._call_s3("get_object", Bucket=bucket, Key=key)
        try:
            data = await resp["Body"].read()
        finally:
            resp["Body"].close()
        return bytes(data), str(resp["ETag"])

    async def _aopen(self, path: str, start: int = 0) -> tuple[Any, Any]:
        bucket, key = self._split(path)
        ranged = {"Range": f"bytes={start}-"} if start else {}
        resp = await self.fs._call_s3("get_object", Bucket=bucket, Key=key, **ranged)
        body = resp["Body"]
        return body.read, body.close

    async def _ahead(self, path: str) -> Head | None:
        bucket, key = self._split(path)
        try:
            resp = await self.fs._call_s3("head_object", Bucket=bucket, Key=key)
        except FileNotFoundError:
            return None
        return int(resp["ContentLength"]), _timestamp(resp.get("LastModified"))

    async def _aput(self, path: str, data: bytes, token: Token) -> None:
        bucket, key = self._split(path)
        condition = {"IfNoneMatch": "*"} if token is None else {"IfMatch": token}
        await self.fs._call_s3("put_object", Bucket=bucket, Key=key, Body=data, **condition)

    def touch(self, key: str) -> bool:
        """Freshen ``key`` for ``gc``: a server-side ``CopyObject`` onto itself with new
        metadata (S3 refuses a self-copy that changes nothing), which sets ``LastModified`` to
        now without sending the content. An object over 5 GiB, which ``CopyObject`` refuses,
        is freshened by a multipart upload onto itself whose parts are server-side copies
        (:meth:`_atouch_in_parts`): still no content leaves the service."""
        return self._touch(key)

    async def _atouch(self, path: str) -> bool:
        bucket, key = self._split(path)
        try:
            await self.fs._call_s3(
                "copy_object",
                Bucket=bucket,
                Key=key,
                CopySource={"Bucket": bucket, "Key": key},
                MetadataDirective="REPLACE",
                Metadata=_touched(),
            )
        except FileNotFoundError:
            return False
        except Exception as exc:
            if _code(exc) in ("InvalidRequest", "EntityTooLarge"):  # over 5 GiB
                return await self._atouch_in_parts(bucket, key)
            raise
        return True

    async def _atouch_in_parts(self, bucket: str, key: str) -> bool:
        """Freshen an object too large for one ``CopyObject``: a multipart upload onto the same
        key whose parts (:data:`COPY_PART` bytes, :data:`PART_CONCURRENCY` at a time) are
        ``UploadPartCopy`` ranges of the object itself, each on the condition that it is still
        the version looked at (its ETag). Readers see the old object until the completion
        puts the identical new one in its place. On any failure the upload is aborted, so no
        parts are left behind.

        Returns:
            ``False`` when the object is gone or was replaced meanwhile (the caller uploads
            it again).
        """
        try:
            head = await self.fs._call_s3("head_object", Bucket=bucket, Key=key)
        except FileNotFoundError:
            return False
        size, etag = int(head["ContentLength"]), str(head["ETag"])
        part = max(COPY_PART, -(-size // _MAX_PARTS))
        upload = await self.fs._call_s3(
            "create_multipart_upload", Bucket=bucket, Key=key, Metadata=_touched()
        )
        uid = upload["UploadId"]
        gate = asyncio.Semaphore(PART_CONCURRENCY)

        async def copy(number: int, start: int) -> dict[str, Any]:
            async with gate:
                resp = await self.fs._call_s3(
                    "upload_part_copy",
                    Bucket=bucket,
                    Key=key,
                    UploadId=uid,
                    PartNumber=number,
                    CopySource={"Bucket": bucket, "Key": key},
                    CopySourceIfMatch=etag,
                    CopySourceRange=f"bytes={start}-{min(start + part, size) - 1}",
                )
            return {"PartNumber": number, "ETag": resp["CopyPartResult"]["ETag"]}

        try:
            parts = await asyncio.gather(
                *(copy(n, start) for n, start in enumerate(range(0, size, part), 1)),
                return_exceptions=True,  # every copy ends before the upload is aborted
            )
            for result in parts:
                if isinstance(result, BaseException):
                    raise result
            await self.fs._call_s3(
                "complete_multipart_upload",
                Bucket=bucket,
                Key=key,
                UploadId=uid,
                MultipartUpload={"Parts": list(parts)},
            )
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await self.fs._call_s3(
                    "abort_multipart_upload", Bucket=bucket, Key=key, UploadId=uid
                )
            if isinstance(exc, FileNotFoundError) or s3_kind(_code(exc)) is ErrorKind.CONFLICT:
                return False  # deleted or replaced since the look: upload it again
            raise
        return True

    async def _pages(self, path: str, delimiter: str | None) -> list[dict[str, Any]]:
        bucket, key = self._split(path)
        prefix = f"{key}/" if key else ""
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        pages = []
        while True:
            page = await self.fs._call_s3("list_objects_v2", **kwargs)
            pages.append(page)
            if not page.get("IsTruncated"):
                return pages
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    async def _alist(self, path: str) -> list[FolderItem]:
        out: list[FolderItem] = []
        for page in await self._pages(path, "/"):
            for p in page.get("CommonPrefixes", []):
                out.append((p["Prefix"].rstrip("/").rsplit("/", 1)[-1], None, None))
            for o in page.get("Contents", []):
                out.append((o["Key"].rsplit("/", 1)[-1], str(o.get("ETag")), None))
        return out

    async def _awalk(self, path: str) -> list[Walked]:
        bucket, _key = self._split(path)
        return [
            (f"{bucket}/{o['Key']}", int(o["Size"]), _timestamp(o.get("LastModified")))
            for page in await self._pages(path, None)
            for o in page.get("Contents", [])
            if not o["Key"].endswith("/")
        ]

    async def _adelete(self, path: str) -> None:
        bucket, key = self._split(path)
        await self.fs._call_s3("delete_object", Bucket=bucket, Key=key)

    def _put_file(self, path: str, local_path: str) -> None:
        self.fs.put_file(
            local_path, path, chunksize=MULTIPART_CHUNK, max_concurrency=PART_CONCURRENCY
        )


def _timestamp(value: Any) -> float | None:
    return value.timestamp() if hasattr(value, "timestamp") else None
