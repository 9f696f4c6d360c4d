"""One error vocabulary for every storage service: what kind of failure an answer is.

Both sides that talk to a cloud read the same table here: the store backends
(:mod:`satchel.store.s3`, :mod:`~satchel.store.gcs`, :mod:`~satchel.store.azure`), which retry
a ``TRANSIENT`` failure and translate the rest (:mod:`satchel.store.retry`), and the reference
handlers (:mod:`satchel.handlers.s3`, :mod:`~satchel.handlers.gcs`,
:mod:`~satchel.handlers.azure`, :mod:`~satchel.handlers.http`), which turn a kind into a
:class:`~satchel.errors.ExternalReferenceError` subclass (:func:`satchel.handlers._common.reference_error`).
So one service answer means one thing wherever satchel meets it.

=================  ==========================================  ===============================
kind               store                                       reference
=================  ==========================================  ===============================
``TRANSIENT``      retried, then ``StoreUnavailableError``     ``ReferenceNetworkError``
``PERMISSION``     ``StoreAccessError``                        ``ReferenceAccessError``
``BUCKET_MISSING`` ``StoreNotFoundError``                      ``ReferenceNotFoundError``
``NOT_FOUND``      ``FileNotFoundError`` (an absent key)       ``ReferenceNotFoundError``
``CONFLICT``       a failed precondition (retried by the       ``ReferenceChangedError``
                   contention helpers)
``OTHER``          re-raised unchanged                         ``ExternalReferenceError`` ("refused")
=================  ==========================================  ===============================

A clock too far off the service's (S3 ``RequestTimeTooSkewed``, HTTP 403) is ``PERMISSION``, not
``TRANSIENT``: botocore already corrects the skew and retries once, so what gets through is a
clock to fix, and waiting five times does not fix it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class ErrorKind(enum.Enum):
    """What kind of failure a storage service's answer (or its absence) is."""

    #: unreachable, timed out, throttled or the service failed (5xx): worth retrying
    TRANSIENT = "transient"
    #: credentials missing, refused or not allowed (also a clock far off the service's)
    PERMISSION = "permission"
    #: the bucket or container does not exist
    BUCKET_MISSING = "bucket-missing"
    #: the object (or the version asked for) does not exist
    NOT_FOUND = "not-found"
    #: a condition failed: the object is no longer in the state it was seen in
    CONFLICT = "conflict"
    #: anything else (a request the service refused for another reason)
    OTHER = "other"


_T, _P, _B, _N, _C = (
    ErrorKind.TRANSIENT, ErrorKind.PERMISSION, ErrorKind.BUCKET_MISSING, ErrorKind.NOT_FOUND,
    ErrorKind.CONFLICT,
)  # fmt: skip

#: HTTP statuses every service answers the same way
HTTP_STATUS: dict[int, ErrorKind] = {
    401: _P, 403: _P, 404: _N, 408: _T, 410: _N, 412: _C, 429: _T,
}  # fmt: skip


def status_kind(status: int | None) -> ErrorKind:
    """The kind of an HTTP status (any 5xx is ``TRANSIENT``; ``None``/0: ``OTHER``)."""
    if not status:
        return ErrorKind.OTHER
    if status >= 500:
        return ErrorKind.TRANSIENT
    return HTTP_STATUS.get(status, ErrorKind.OTHER)


def _table(**kinds: Iterable[str]) -> dict[str, ErrorKind]:
    return {code: ErrorKind[kind] for kind, codes in kinds.items() for code in codes}


#: S3 error codes (``Error.Code`` of the response)
S3_CODES: dict[str, ErrorKind] = _table(
    PERMISSION=(
        "AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch",
        "ExpiredToken", "InvalidToken", "TokenRefreshRequired", "AccountProblem",
        "InvalidSecurity", "UnauthorizedAccess", "Forbidden", "RequestTimeTooSkewed",
    ),
    TRANSIENT=(
        "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError",
        "ServiceUnavailable", "ConditionalRequestConflict", "OperationAborted",
    ),
    BUCKET_MISSING=("NoSuchBucket",),
    NOT_FOUND=("NoSuchKey", "NoSuchVersion", "NotFound"),
    CONFLICT=("PreconditionFailed",),
)  # fmt: skip


def s3_kind(code: str | None, status: int | None = None) -> ErrorKind:
    """The kind of an S3 answer: its error code first, then its HTTP status (a HEAD answers
    with the status as its code: ``"404"``). A 409 (a conflicting request in flight on the
    bucket or key) is ``TRANSIENT`` on S3."""
    kind = S3_CODES.get(code or "")
    if kind is not None:
        return kind
    if code and code.isdigit():
        status = int(code)
    return ErrorKind.TRANSIENT if status == 409 else status_kind(status)


#: Azure Blob error codes (``x-ms-error-code``)
AZURE_CODES: dict[str, ErrorKind] = _table(
    BUCKET_MISSING=("ContainerNotFound", "ContainerBeingDeleted"),
    NOT_FOUND=("BlobNotFound",),
    CONFLICT=("ConditionNotMet", "BlobAlreadyExists"),
    PERMISSION=(
        "AuthenticationFailed", "AuthorizationFailure", "AuthorizationPermissionMismatch",
        "InsufficientAccountPermissions", "AccountIsDisabled", "InvalidAuthenticationInfo",
    ),
    TRANSIENT=("ServerBusy", "OperationTimedOut", "InternalError"),
)  # fmt: skip

#: Azure SDK exception classes (``azure.core.exceptions``) whose name says the kind
AZURE_EXCEPTIONS: dict[str, ErrorKind] = _table(
    CONFLICT=("ResourceModifiedError", "ResourceExistsError"),
    NOT_FOUND=("ResourceNotFoundError",),
    PERMISSION=("ClientAuthenticationError",),
    TRANSIENT=(
        "ServiceRequestError", "ServiceResponseError", "ServiceRequestTimeoutError",
        "ServiceResponseTimeoutError", "IncompleteReadError",
    ),
)  # fmt: skip


def azure_kind(code: str | None, status: int | None, exception: str) -> ErrorKind:
    """The kind of an Azure SDK error: its error code, then its exception class name, then
    its HTTP status."""
    kind = AZURE_CODES.get(code or "") or AZURE_EXCEPTIONS.get(exception)
    return kind if kind is not None else status_kind(status)


def gcs_kind(status: int | None) -> ErrorKind:
    """The kind of a Cloud Storage JSON API answer (GCS says it all in the HTTP status)."""
    return status_kind(status)


def http_kind(status: int | None) -> ErrorKind:
    """The kind of a plain HTTP(S) server's answer."""
    return status_kind(status)
