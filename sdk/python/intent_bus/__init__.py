"""Intent Bus SDK for Python: a client of the Intent Protocol v2.1.

    from intent_bus import IntentClient, WorkerRuntime

    with IntentClient() as bus:                    # INTENT_BUS_URL / INTENT_API_KEY / ~/.apikey
        published = bus.publish("send_notification", {"message": "hi"})
        job = bus.claim("send_notification")
        if job is not None:
            bus.fulfill(job.id, job.claim_token, {"sent": True})
        print(bus.result(published.id).result)

Standard library only; requests are HMAC-signed by default.
"""

__version__ = "1.0.0"

import logging as _logging

from .errors import (
    IntentBusAuthError,
    IntentBusConnectionError,
    IntentBusDatabaseBusyError,
    IntentBusError,
    IntentBusForbiddenError,
    IntentBusIdempotencyConflictError,
    IntentBusInvalidPayloadError,
    IntentBusLeaseLostError,
    IntentBusLimitExceededError,
    IntentBusMaintenanceError,
    IntentBusNotFoundError,
    IntentBusPayloadTooLargeError,
    IntentBusRateLimitError,
    IntentBusServerError,
    IntentBusUnavailableError,
    IntentBusValidationError,
)
from .models import (
    BatchItemResult,
    ExtendResult,
    FailResult,
    FulfillResult,
    IntentResult,
    IntentStatus,
    Job,
    PublishedIntent,
    SetResult,
)
from .signing import canonical_path, compute_signature, sign_request
from .client import IntentClient, resolve_api_key, resolve_base_url
from .worker import WorkerRuntime

_logging.getLogger("intent_bus").addHandler(_logging.NullHandler())

__all__ = [
    "__version__",
    # client and worker
    "IntentClient",
    "WorkerRuntime",
    "resolve_api_key",
    "resolve_base_url",
    # answers
    "PublishedIntent",
    "BatchItemResult",
    "Job",
    "IntentStatus",
    "IntentResult",
    "ExtendResult",
    "FulfillResult",
    "FailResult",
    "SetResult",
    # signing
    "canonical_path",
    "compute_signature",
    "sign_request",
    # errors
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
]
