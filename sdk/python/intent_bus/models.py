"""Typed views of the bus's JSON answers.

Each dataclass keeps the full decoded answer in ``raw`` so fields a newer
server adds are never lost.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Type, TypeVar

__all__ = [
    "PublishedIntent",
    "BatchItemResult",
    "Job",
    "IntentStatus",
    "IntentResult",
    "ExtendResult",
    "FulfillResult",
    "FailResult",
    "SetResult",
]

T = TypeVar("T")

# Fields the SDK fills in itself, never from the server's answer.
_LOCAL_FIELDS = frozenset({"raw", "lease_lost", "claimed_at"})


def _build(cls: Type[T], data: Mapping[str, Any]) -> T:
    """Instantiate a dataclass from a JSON object, tolerating missing and extra keys."""
    names = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    names -= _LOCAL_FIELDS
    kwargs = {k: v for k, v in data.items() if k in names}
    return cls(raw=dict(data), **kwargs)  # type: ignore[call-arg]


@dataclass
class PublishedIntent:
    """The answer to :meth:`IntentClient.publish`: ``201 {"id","status","namespace"}``."""

    id: str = ""
    status: str = ""
    namespace: str = ""
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "PublishedIntent":
        """Build from the decoded JSON answer."""
        return _build(cls, data)


@dataclass
class BatchItemResult:
    """One intent's outcome in :meth:`IntentClient.publish_many` or
    :meth:`IntentClient.fulfill_many` (there: ``id`` when fulfilled, else
    ``error`` as :meth:`IntentClient.fulfill` raises it).

    Published: ``ok`` is true, with ``id`` and ``namespace`` (``replayed``
    when its ``idempotency_key`` was used before: ``id`` is the first
    publish's). Refused on its own: ``error`` is the
    :class:`~intent_bus.IntentBusError` the same intent would have raised
    from :meth:`IntentClient.publish` (``error.code``, ``error.status``).
    """

    index: int = 0
    id: Optional[str] = None
    namespace: Optional[str] = None
    replayed: bool = False
    error: Optional[Any] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Job:
    """A claimed intent (the answer to ``POST /claim``).

    ``claim_token`` proves the lease; pass it to extend / fulfill / fail.
    ``claim_timeout`` is the lease length in seconds. ``lease_lost`` is set by
    :class:`~intent_bus.WorkerRuntime` when a lease extension was refused, so a
    long handler can give up early.
    """

    id: str = ""
    namespace: str = "default"
    goal: str = ""
    payload: Any = None
    claim_attempts: int = 0
    priority: int = 100
    target_worker: Optional[str] = None
    required_capability: Optional[str] = None
    claim_token: str = ""
    claim_timeout: float = 60.0
    claim_expires_at: Optional[float] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    lease_lost: bool = field(default=False, compare=False)
    claimed_at: float = field(default_factory=time.monotonic, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Job":
        """Build from the decoded JSON answer."""
        return _build(cls, data)


@dataclass
class IntentStatus:
    """The answer to ``GET /status/<id>`` (an intent's state without its result)."""

    id: str = ""
    namespace: str = ""
    goal: str = ""
    status: str = ""
    priority: Optional[int] = None
    visibility: Optional[str] = None
    claim_attempts: Optional[int] = None
    max_attempts: Optional[int] = None
    run_at: Optional[float] = None
    claim_expires_at: Optional[float] = None
    target_worker: Optional[str] = None
    required_capability: Optional[str] = None
    created_at: Optional[float] = None
    expires_at: Optional[float] = None
    completed_at: Optional[float] = None
    error: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "IntentStatus":
        """Build from the decoded JSON answer."""
        return _build(cls, data)


@dataclass
class IntentResult(IntentStatus):
    """The answer to ``GET /result/<id>``: the status plus ``result`` and
    ``result_type`` (``"json"`` or ``"text"``; both ``None`` until fulfilled
    with a result)."""

    result: Any = None
    result_type: Optional[str] = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "IntentResult":
        """Build from the decoded JSON answer."""
        return _build(cls, data)


@dataclass
class ExtendResult:
    """The answer to ``POST /extend_claim/<id>``."""

    id: str = ""
    status: str = ""
    claim_expires_at: Optional[float] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ExtendResult":
        """Build from the decoded JSON answer."""
        return _build(cls, data)


@dataclass
class FulfillResult:
    """The answer to ``POST /fulfill/<id>``."""

    id: str = ""
    status: str = ""
    completed_at: Optional[float] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "FulfillResult":
        """Build from the decoded JSON answer."""
        return _build(cls, data)


@dataclass
class FailResult:
    """The answer to ``POST /fail/<id>``: ``status`` is ``"open"`` (will be
    retried at ``run_at``) or ``"dead"`` (attempts exhausted)."""

    id: str = ""
    status: str = ""
    claim_attempts: Optional[int] = None
    run_at: Optional[float] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "FailResult":
        """Build from the decoded JSON answer."""
        return _build(cls, data)


@dataclass
class SetResult:
    """The answer to ``POST /set/<key>``."""

    key: str = ""
    ok: bool = False
    expires_at: Optional[float] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SetResult":
        """Build from the decoded JSON answer."""
        return _build(cls, data)
