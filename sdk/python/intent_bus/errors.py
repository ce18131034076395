"""Exceptions raised by the Intent Bus SDK.

Every error the bus answers with has the shape
``{"error": {"code": "snake_case", "message": "..."}}`` (Intent Protocol v2.1,
section 10). The SDK turns it into one exception class per protocol error code,
all subclasses of :class:`IntentBusError`, which carries the HTTP status, the
code and the message.

=============================  ======  ===========================================
class                          status  code(s)
=============================  ======  ===========================================
IntentBusAuthError             401     ``unauthorized`` (also: no usable API key)
                               403     ``invalid_signature``
IntentBusForbiddenError        403     ``forbidden``
IntentBusNotFoundError         404     ``not_found``
IntentBusLeaseLostError        404     ``not_found`` on extend / fulfill / fail
IntentBusValidationError       400     ``invalid_request``, ``invalid_json``,
                                       every other ``invalid_*`` field code
IntentBusInvalidPayloadError   400     ``invalid_payload``
IntentBusPayloadTooLargeError  413     ``payload_too_large``
IntentBusIdempotencyConflictError 422  ``idempotency_conflict``
IntentBusRateLimitError        429     ``rate_limited`` (``retry_after`` set)
IntentBusLimitExceededError    429     ``limit_exceeded`` (open-intent cap)
IntentBusUnavailableError      503     any other 503 (``storage_read_only``,
                                       ``storage_io_error``)
                               507     ``insufficient_storage`` (disk full)
IntentBusDatabaseBusyError     503     ``database_busy``
IntentBusMaintenanceError      503     ``maintenance``
IntentBusServerError           5xx     ``internal_error`` and other 5xx
IntentBusConnectionError       --      no HTTP answer (refused, reset, timeout)
=============================  ======  ===========================================
"""

from __future__ import annotations

from typing import Dict, Optional, Type

__all__ = [
    "IntentBusError",
    "IntentBusConnectionError",
    "IntentBusAuthError",
    "IntentBusForbiddenError",
    "IntentBusNotFoundError",
    "IntentBusLeaseLostError",
    "IntentBusValidationError",
    "IntentBusInvalidPayloadError",
    "IntentBusPayloadTooLargeError",
    "IntentBusIdempotencyConflictError",
    "IntentBusRateLimitError",
    "IntentBusLimitExceededError",
    "IntentBusUnavailableError",
    "IntentBusDatabaseBusyError",
    "IntentBusMaintenanceError",
    "IntentBusServerError",
    "error_from_response",
]


class IntentBusError(Exception):
    """Base class of every SDK error.

    Attributes:
        status: the HTTP status of the bus's answer, or ``None`` when there was
            no answer (connection errors) or the error was detected locally.
        code: the protocol error code (``"not_found"``, ``"invalid_priority"``...).
        message: the human-readable message (the server's, when it sent one).
        retry_after: seconds from the ``Retry-After`` header, when present.
    """

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        code: str = "error",
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(message)
        self.status: Optional[int] = status
        self.code: str = code
        self.message: str = message
        self.retry_after: Optional[float] = retry_after

    def __str__(self) -> str:
        where = f"HTTP {self.status} " if self.status is not None else ""
        return f"{where}{self.code}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r})"
        )


class IntentBusConnectionError(IntentBusError):
    """The bus could not be reached or did not answer (refused, reset, timeout).

    For an operation that changes state (claim, fulfill, fail, extend, publish
    without an idempotency key) the outcome is then unknown: the server may or
    may not have applied it.
    """


class IntentBusAuthError(IntentBusError):
    """401 ``unauthorized``: missing or wrong API key; or 403
    ``invalid_signature``: a refused signature (bad, stale, replayed, missing).

    Also raised locally (``status`` is ``None``) when no API key can be found or
    ``~/.apikey`` is readable by other users.
    """


class IntentBusForbiddenError(IntentBusError):
    """403 ``forbidden``: a valid key without the permission (e.g. claiming for
    another publisher, or plain HTTP when the bus enforces HTTPS)."""


class IntentBusNotFoundError(IntentBusError):
    """404 ``not_found``: the intent (or endpoint) does not exist or is not
    visible to this key."""


class IntentBusLeaseLostError(IntentBusNotFoundError):
    """404 on ``extend``/``fulfill``/``fail``: the lease is permanently lost
    (expired and reclaimed, wrong token, or the intent is gone).

    The protocol forbids retrying the mutation; another worker may be running
    the job.
    """


class IntentBusValidationError(IntentBusError):
    """400: a request field was refused. ``code`` names it:
    ``invalid_request`` (missing field), ``invalid_json``, or a field code such
    as ``invalid_priority``, ``invalid_goal``, ``invalid_seconds``..."""


class IntentBusInvalidPayloadError(IntentBusValidationError):
    """400 ``invalid_payload``: the payload is malformed. Also raised locally
    (``status`` ``None``) when a payload, result or value is not JSON
    serializable."""


class IntentBusPayloadTooLargeError(IntentBusError):
    """413 ``payload_too_large``: the request body exceeds 8192 bytes or the
    serialized payload exceeds 7168 bytes."""


class IntentBusIdempotencyConflictError(IntentBusError):
    """422 ``idempotency_conflict``: an ``Idempotency-Key`` reused with a
    different request."""


class IntentBusRateLimitError(IntentBusError):
    """429 ``rate_limited``: too many requests. ``retry_after`` says how many
    seconds to wait before the next request is allowed."""


class IntentBusLimitExceededError(IntentBusRateLimitError):
    """429 ``limit_exceeded``: the key's open-intent cap is reached. A subclass
    of :class:`IntentBusRateLimitError` so ``except IntentBusRateLimitError``
    catches every 429; it is not retried automatically."""


class IntentBusUnavailableError(IntentBusError):
    """503 (or 507, a full disk): the bus cannot serve the request right now
    and did not run it (base of the two 503 codes). ``retry_after`` is set
    when the server sent ``Retry-After``."""


class IntentBusDatabaseBusyError(IntentBusUnavailableError):
    """503 ``database_busy``: SQLite contention; nothing was changed."""


class IntentBusMaintenanceError(IntentBusUnavailableError):
    """503 ``maintenance``: the bus is in maintenance mode."""


class IntentBusServerError(IntentBusError):
    """A 5xx other than 503 (``internal_error``), or an answer the SDK cannot
    read."""


_BY_CODE: Dict[str, Type[IntentBusError]] = {
    "unauthorized": IntentBusAuthError,
    "invalid_signature": IntentBusAuthError,
    "forbidden": IntentBusForbiddenError,
    "not_found": IntentBusNotFoundError,
    "invalid_request": IntentBusValidationError,
    "invalid_payload": IntentBusInvalidPayloadError,
    "payload_too_large": IntentBusPayloadTooLargeError,
    "idempotency_conflict": IntentBusIdempotencyConflictError,
    "rate_limited": IntentBusRateLimitError,
    "limit_exceeded": IntentBusLimitExceededError,
    "database_busy": IntentBusDatabaseBusyError,
    "maintenance": IntentBusMaintenanceError,
    "internal_error": IntentBusServerError,
}

_BY_STATUS: Dict[int, Type[IntentBusError]] = {
    400: IntentBusValidationError,
    401: IntentBusAuthError,
    403: IntentBusForbiddenError,
    404: IntentBusNotFoundError,
    413: IntentBusPayloadTooLargeError,
    422: IntentBusIdempotencyConflictError,
    429: IntentBusRateLimitError,
    503: IntentBusUnavailableError,
    507: IntentBusUnavailableError,
}


def error_from_response(
    status: int,
    code: str,
    message: str,
    *,
    retry_after: Optional[float] = None,
    lease_operation: bool = False,
) -> IntentBusError:
    """Build the exception for an error answer of the bus.

    The code decides first, then the HTTP status. ``lease_operation`` turns a
    404 into :class:`IntentBusLeaseLostError`.
    """
    cls: Type[IntentBusError]
    if status == 404 and lease_operation:
        cls = IntentBusLeaseLostError
    elif code in _BY_CODE:
        cls = _BY_CODE[code]
    elif code.startswith("invalid_") or status == 400:
        cls = IntentBusValidationError
    elif status in _BY_STATUS:
        cls = _BY_STATUS[status]
    elif status >= 500:
        cls = IntentBusServerError
    else:
        cls = IntentBusError
    return cls(message, status=status, code=code, retry_after=retry_after)
