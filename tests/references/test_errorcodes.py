"""One error vocabulary per cloud (:mod:`satchel.errorcodes`), read by the store backends and by
the reference handlers alike.

Before the table was shared, the S3 store and the S3 reference handler disagreed: the store
retried ``RequestTimeTooSkewed`` as transient while the handler called the same 403 refused
access, and the handler called ``Throttling`` / ``ThrottlingException`` / ``RequestTimeout``
(HTTP 400) a refused request while the store retried them; ``NoSuchVersion``, ``NotFound``,
``Forbidden``, ``TokenRefreshRequired``, ``InvalidSecurity`` and ``UnauthorizedAccess`` were
known to the handler only. A clock far off the service's is now ``PERMISSION`` on both sides
(botocore corrects a skew and retries itself; what gets through needs the clock fixed), and
throttling is ``TRANSIENT`` on both.
"""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest

from satchel.errorcodes import (
    AZURE_CODES,
    S3_CODES,
    ErrorKind,
    azure_kind,
    gcs_kind,
    http_kind,
    s3_kind,
)
from satchel.errors import StoreAccessError, StoreUnavailableError
from satchel.store import open_store
from satchel.store.retry import RetryPolicy, call


def _client_error(code: str, status: int) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": f"the service said {code}"},
         "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetObject",
    )  # fmt: skip


def test_the_s3_disagreement_is_settled_one_way() -> None:
    # the store asks with the code alone, the handler with code and status: one answer
    assert s3_kind("RequestTimeTooSkewed") is ErrorKind.PERMISSION
    assert s3_kind("RequestTimeTooSkewed", 403) is ErrorKind.PERMISSION
    for code in ("Throttling", "ThrottlingException", "RequestTimeout"):
        assert s3_kind(code) is s3_kind(code, 400) is ErrorKind.TRANSIENT
    for code in ("NoSuchVersion", "NotFound"):
        assert s3_kind(code) is ErrorKind.NOT_FOUND
    for code in ("Forbidden", "TokenRefreshRequired", "InvalidSecurity", "UnauthorizedAccess"):
        assert s3_kind(code) is ErrorKind.PERMISSION


@pytest.mark.parametrize(
    ("code", "status"),
    [("404", None), ("412", None), ("409", None), ("", 503), ("", 403), ("Unheard", 400)],
)
def test_s3_falls_back_on_the_status(code: str, status: int | None) -> None:
    expected = {"404": ErrorKind.NOT_FOUND, "412": ErrorKind.CONFLICT, "409": ErrorKind.TRANSIENT}
    by_status = {503: ErrorKind.TRANSIENT, 403: ErrorKind.PERMISSION, 400: ErrorKind.OTHER}
    want = expected[code] if code in expected else by_status[status or 0]
    assert s3_kind(code, status) is want


@pytest.mark.s3
def test_the_s3_store_classifies_by_the_shared_table(s3_bucket: Any) -> None:
    backend: Any = open_store(
        f"{s3_bucket.url}/team", storage_options=dict(s3_bucket.storage_options)
    ).backend
    for code, kind in S3_CODES.items():
        assert backend.classify(_client_error(code, 400)) is kind, code
    attempts: list[float] = []
    policy = RetryPolicy(attempts=5, sleep=attempts.append)

    def skewed() -> None:
        raise _client_error("RequestTimeTooSkewed", 403)

    with pytest.raises(StoreAccessError, match=r"refused access \(.*RequestTimeTooSkewed"):
        call(skewed, classify=backend.classify, policy=policy, what="read k", url="s3://b")
    assert attempts == []  # not retried: waiting does not fix a clock

    def throttled() -> None:
        raise _client_error("Throttling", 400)

    with pytest.raises(StoreUnavailableError, match="still failing after 5 attempts"):
        call(throttled, classify=backend.classify, policy=policy, what="read k", url="s3://b")
    assert len(attempts) == 4


def test_azure_reads_code_then_exception_then_status() -> None:
    assert azure_kind("ContainerNotFound", 404, "ResourceNotFoundError") is ErrorKind.BUCKET_MISSING
    assert azure_kind("BlobNotFound", 404, "ResourceNotFoundError") is ErrorKind.NOT_FOUND
    assert azure_kind(None, None, "ServiceRequestError") is ErrorKind.TRANSIENT
    assert azure_kind(None, 412, "HttpResponseError") is ErrorKind.CONFLICT
    assert azure_kind(None, 429, "HttpResponseError") is ErrorKind.TRANSIENT
    assert azure_kind(None, 400, "HttpResponseError") is ErrorKind.OTHER
    assert all(isinstance(kind, ErrorKind) for kind in AZURE_CODES.values())


@pytest.mark.parametrize("kind_of", [gcs_kind, http_kind])
def test_status_only_services_share_one_status_table(kind_of: Any) -> None:
    assert [kind_of(s) for s in (401, 403, 404, 408, 412, 429, 500, 503, 400, None)] == [
        ErrorKind.PERMISSION, ErrorKind.PERMISSION, ErrorKind.NOT_FOUND, ErrorKind.TRANSIENT,
        ErrorKind.CONFLICT, ErrorKind.TRANSIENT, ErrorKind.TRANSIENT, ErrorKind.TRANSIENT,
        ErrorKind.OTHER, ErrorKind.OTHER,
    ]  # fmt: skip
