"""The HTTP client: :class:`IntentClient`.

Standard library only: ``http.client`` keep-alive connections (a small
thread-safe pool), ``json`` for bodies, ``hmac``/``hashlib``/``secrets`` for
request signing (docs/SIGNING.md).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import random
import select
import ssl
import stat
import threading
import time
import urllib.parse
from pathlib import Path
from types import TracebackType
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from . import __version__
from .errors import (
    IntentBusAuthError,
    IntentBusConnectionError,
    IntentBusError,
    IntentBusInvalidPayloadError,
    IntentBusServerError,
    IntentBusValidationError,
    error_from_response,
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
from .signing import encode_component, sign_request

__all__ = ["IntentClient", "resolve_api_key", "resolve_base_url", "DEFAULT_BASE_URL"]

log = logging.getLogger("intent_bus")

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
ENV_BASE_URL = "INTENT_BUS_URL"
ENV_API_KEY = "INTENT_API_KEY"
KEY_FILE_NAME = ".apikey"

# The protocol's limits (docs/PROTOCOL.md), used to keep fail() bodies sendable.
MAX_BODY_BYTES = 8192
MAX_ERROR_BYTES = 2000

# Retry policies (see the README, "Retries").
_NEVER = 0  # claim, extend, fulfill, fail: no retry at all
_REFUSED_ONLY = 1  # publish without an idempotency key: retry only what the bus provably did not run
_ALWAYS = 2  # publish with an idempotency key, set, get, result, status

BATCH_MAX = 100  # intents per publish_many, jobs per claim_many, items per fulfill_many

# A keep-alive connection idle longer than this is not reused for a request
# that must not be retried: a connection the server (or a proxy) may have
# closed meanwhile would turn into an ambiguous failure.
_IDLE_REUSE_UNSAFE = 2.0
# ... and for requests that may be retried anyway (the server closes after 60 s).
_IDLE_REUSE_SAFE = 30.0

CapabilitiesArg = Union[str, Iterable[str], None]


def resolve_base_url(base_url: Optional[str] = None) -> str:
    """The bus URL: the argument, else ``$INTENT_BUS_URL``, else ``http://127.0.0.1:8080``."""
    url = base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
    return url.rstrip("/")


def resolve_api_key(api_key: Optional[str] = None) -> str:
    """The API key: the argument, else ``$INTENT_API_KEY``, else ``~/.apikey``.

    ``~/.apikey`` is used only when no other user can read or write it (mode
    ``0600`` or stricter: ``mode & 0o077 == 0``); otherwise, or when no key is
    found at all, :class:`IntentBusAuthError` is raised.
    """
    if api_key:
        return api_key
    env_key = os.environ.get(ENV_API_KEY, "").strip()
    if env_key:
        return env_key
    path = Path.home() / KEY_FILE_NAME
    try:
        info = path.stat()
    except FileNotFoundError:
        raise IntentBusAuthError(
            f"no API key: pass IntentClient(api_key=...), set ${ENV_API_KEY}, "
            f"or write the key to {path} (chmod 600)",
            code="missing_api_key",
        ) from None
    except OSError as exc:
        raise IntentBusAuthError(f"cannot read {path}: {exc}", code="missing_api_key") from None
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise IntentBusAuthError(
            f"refusing to use {path}: its mode is {mode:04o}, readable by other users; "
            f"restrict it with: chmod 600 {path}",
            code="insecure_key_file",
        )
    try:
        key = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise IntentBusAuthError(f"cannot read {path}: {exc}", code="missing_api_key") from None
    if not key:
        raise IntentBusAuthError(f"{path} is empty", code="missing_api_key")
    return key


def _dumps(value: Any, what: str) -> bytes:
    """Compact UTF-8 JSON; a value JSON cannot express is an
    :class:`IntentBusInvalidPayloadError` raised before anything is sent."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise IntentBusInvalidPayloadError(f"{what} is not JSON serializable: {exc}", code="invalid_payload") from None


def _idempotency_header(key: Optional[str]) -> Optional[Dict[str, str]]:
    """The ``Idempotency-Key`` header; a key HTTP cannot carry (non-ASCII,
    control characters) is refused before anything is sent."""
    if key is None:
        return None
    if not isinstance(key, str) or any(ord(c) < 0x20 or ord(c) > 0x7E for c in key):
        raise IntentBusValidationError(
            "Idempotency-Key must be printable ASCII", code="invalid_idempotency_key"
        )
    return {"Idempotency-Key": key}


def _fulfill_fields(claim_token: str, result: Any, result_type: Optional[str]) -> Dict[str, Any]:
    """The body of one fulfil, single or in a batch."""
    fields: Dict[str, Any] = {"claim_token": claim_token}
    if result is not None:
        fields["result"] = result
        fields["result_type"] = result_type or "json"
    elif result_type is not None:
        fields["result_type"] = result_type
    return fields


def _truncate_utf8(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes without splitting a character."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore")


def _parse_retry_after(value: Optional[str]) -> Optional[float]:
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # an HTTP date: the bus never sends one
    return max(0.0, seconds)


def _capabilities(value: CapabilitiesArg) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return ",".join(value)


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle kept-alive connection was closed by the other side: an
    idle HTTP connection has nothing to read, so a readable socket means EOF
    (or garbage) and the connection must not carry a request."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)
    except (OSError, ValueError):
        return True


class _TransportError(Exception):
    """No HTTP answer. ``sent`` tells whether the whole request went out (the
    server may then have run it); ``reused`` whether it was on a kept-alive
    connection."""

    def __init__(self, cause: BaseException, sent: bool, reused: bool) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.sent = sent
        self.reused = reused


class _Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: Dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class _ConnectionPool:
    """Keep-alive ``http.client`` connections shared by threads (one per request
    in flight, idle ones kept for reuse)."""

    def __init__(
        self, scheme: str, host: str, port: Optional[int], ssl_context: Optional[ssl.SSLContext], max_idle: int = 8
    ) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.max_idle = max_idle
        self._idle: List[Tuple[http.client.HTTPConnection, float]] = []
        self._lock = threading.Lock()
        self._closed = False

    def _new(self, timeout: float) -> http.client.HTTPConnection:
        if self.scheme == "https":
            context = self.ssl_context or ssl.create_default_context()
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=context)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def acquire(self, timeout: float, max_idle_age: float) -> Tuple[http.client.HTTPConnection, bool]:
        """A connection and whether it is a reused one.

        An idle connection is reused only when it was used less than
        ``max_idle_age`` seconds ago and the server has not closed it.
        """
        now = time.monotonic()
        discard: List[http.client.HTTPConnection] = []
        found: Optional[http.client.HTTPConnection] = None
        with self._lock:
            if self._closed:
                raise IntentBusConnectionError("the client is closed", code="client_closed")
            while self._idle:
                conn, last_used = self._idle.pop()
                if now - last_used <= max_idle_age and not _dropped(conn):
                    found = conn
                    break
                discard.append(conn)
        for conn in discard:
            conn.close()
        if found is not None:
            try:
                found.timeout = timeout
                if found.sock is not None:
                    found.sock.settimeout(timeout)
                return found, True
            except OSError:
                found.close()
        return self._new(timeout), False

    def release(self, conn: http.client.HTTPConnection) -> None:
        """Give back a healthy connection for reuse."""
        with self._lock:
            if not self._closed and len(self._idle) < self.max_idle:
                self._idle.append((conn, time.monotonic()))
                return
        conn.close()

    def close(self) -> None:
        """Close every idle connection and refuse new requests."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()

    def request(
        self,
        method: str,
        target: str,
        body: Optional[bytes],
        headers: Mapping[str, str],
        timeout: float,
        max_idle_age: float,
    ) -> _Response:
        """Send one request and read its answer; raises :class:`_TransportError`."""
        conn, reused = self.acquire(timeout, max_idle_age)
        try:
            conn.request(method, target, body=body, headers=dict(headers))
        except (OSError, http.client.HTTPException) as exc:
            # The server never got the whole request (connect failed, or the
            # connection broke while sending): it cannot have run it.
            conn.close()
            raise _TransportError(exc, sent=False, reused=reused) from exc
        try:
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise _TransportError(exc, sent=True, reused=reused) from exc
        headers_out: Dict[str, str] = {}
        for name, value in resp.getheaders():
            name = name.lower()
            headers_out[name] = value if name not in headers_out else headers_out[name] + ", " + value
        if resp.will_close:
            conn.close()
        else:
            self.release(conn)
        return _Response(resp.status, headers_out, data)


class IntentClient:
    """A client of one Intent Bus (Intent Protocol v2.1).

    Args:
        base_url: the bus, e.g. ``"https://bus.example.com"``. Default:
            ``$INTENT_BUS_URL``, else ``http://127.0.0.1:8080``.
        api_key: the API key. Default: ``$INTENT_API_KEY``, else ``~/.apikey``
            (which must be mode ``0600``). Raises :class:`IntentBusAuthError`
            when none is found.
        timeout: socket timeout in seconds for each request (a long-poll
            ``wait`` is added to it).
        sign: HMAC-sign every request (docs/SIGNING.md). On by default; the
            bus checks signatures whenever they are present and requires them
            with ``BUS_REQUIRE_SIGNATURES=true``.
        max_tries: attempts per request for the operations that may be retried
            (1 disables retries).
        max_retry_wait: the longest the client sleeps before a retry; when the
            bus asks (``Retry-After``) for longer, the error is raised at once.
        ssl_context: TLS settings for ``https://`` URLs (default: system CAs).

    The client is thread-safe and keeps connections alive; use it as a
    context manager, or call :meth:`close`, to close them.
    """

    def __init__(
        self,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        timeout: float = 10.0,
        sign: bool = True,
        *,
        max_tries: int = 3,
        max_retry_wait: float = 30.0,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        self.base_url: str = resolve_base_url(base_url)
        parsed = urllib.parse.urlsplit(self.base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"base_url must be an http:// or https:// URL, got {self.base_url!r}")
        key = resolve_api_key(api_key)
        if any(ord(c) < 0x21 or ord(c) > 0x7E for c in key):
            raise IntentBusAuthError(
                "the API key must be printable ASCII without spaces", code="invalid_api_key"
            )
        self._api_key = key
        self.timeout: float = float(timeout)
        self.sign: bool = bool(sign)
        self.max_tries: int = max(1, int(max_tries))
        self.max_retry_wait: float = float(max_retry_wait)
        self._prefix = parsed.path.rstrip("/")
        self._pool = _ConnectionPool(parsed.scheme, parsed.hostname, parsed.port, ssl_context)
        self._user_agent = f"intent-bus-python/{__version__}"

    # ------------------------------------------------------------------ basics

    def __repr__(self) -> str:
        return f"IntentClient(base_url={self.base_url!r}, sign={self.sign!r})"

    def __enter__(self) -> "IntentClient":
        return self

    def __exit__(
        self,
        exc_type: Optional[type],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the kept-alive connections. The client cannot be used afterwards."""
        self._pool.close()

    # --------------------------------------------------------------- transport

    def _target(self, path: str, query: Optional[Sequence[Tuple[str, Optional[str]]]] = None) -> str:
        """The request-target: the URL prefix, the (already encoded) path and the
        query with every key and value RFC 3986 encoded and sorted by key,
        which is its own canonical form for signing."""
        target = self._prefix + path
        params = sorted(
            ((k, v) for k, v in (query or ()) if v is not None), key=lambda kv: kv[0].encode("utf-8")
        )
        if params:
            target += "?" + "&".join(f"{encode_component(k)}={encode_component(v)}" for k, v in params)
        return target

    def _backoff(self, attempt: int) -> float:
        return min(self.max_retry_wait, 0.25 * (2 ** attempt)) * (1.0 + random.random() * 0.5)

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Sequence[Tuple[str, Optional[str]]]] = None,
        body: Optional[bytes] = None,
        headers: Optional[Mapping[str, str]] = None,
        policy: int = _NEVER,
        lease_operation: bool = False,
        extra_timeout: float = 0.0,
        accept: Tuple[int, ...] = (200, 201),
    ) -> _Response:
        """Send a request with the retry policy; returns a response whose status
        is in ``accept`` (or 204), raises the mapped :class:`IntentBusError`."""
        target = self._target(path, query)
        timeout = self.timeout + max(0.0, extra_timeout)
        max_idle_age = _IDLE_REUSE_SAFE if policy == _ALWAYS else _IDLE_REUSE_UNSAFE
        tries = self.max_tries if policy != _NEVER else 1
        attempt = 0
        resent_stale = False
        while True:
            hdrs: Dict[str, str] = {
                "X-API-KEY": self._api_key,
                "User-Agent": self._user_agent,
                "Accept": "application/json",
            }
            if body is not None:
                hdrs["Content-Type"] = "application/json"
            if headers:
                hdrs.update(headers)
            if self.sign:
                hdrs.update(sign_request(self._api_key, method, target, body))
            try:
                resp = self._pool.request(method, target, body, hdrs, timeout, max_idle_age)
            except _TransportError as exc:
                if not exc.sent and exc.reused and not resent_stale:
                    # A kept-alive connection the server had closed: the request
                    # never reached it. Resend once on a new connection.
                    resent_stale = True
                    continue
                retryable = policy == _ALWAYS or (policy == _REFUSED_ONLY and not exc.sent)
                attempt += 1
                if retryable and attempt < tries:
                    delay = self._backoff(attempt - 1)
                    log.debug("%s %s: %s; retrying in %.2fs", method, path, exc.cause, delay)
                    time.sleep(delay)
                    continue
                outcome = "" if not exc.sent else " (the request was sent: its outcome is unknown)"
                raise IntentBusConnectionError(
                    f"{method} {self.base_url}{target}: {type(exc.cause).__name__}: {exc.cause}{outcome}",
                    code="connection_error",
                ) from exc.cause
            if resp.status in accept or resp.status == 204:
                return resp
            error = self._error(resp, lease_operation)
            # 429 rate_limited, 503 and 507 (disk full) are refusals: the bus
            # did not run the request, so they are retried under both retry
            # policies.
            refused = error.code == "rate_limited" or resp.status in (503, 507)
            attempt += 1
            if refused and policy != _NEVER and attempt < tries:
                delay = error.retry_after if error.retry_after is not None else self._backoff(attempt - 1)
                if delay <= self.max_retry_wait:
                    log.debug("%s %s: %s; retrying in %.2fs", method, path, error, delay)
                    time.sleep(delay)
                    continue
            raise error

    @staticmethod
    def _error(resp: _Response, lease_operation: bool) -> IntentBusError:
        retry_after = _parse_retry_after(resp.headers.get("retry-after"))
        code = f"http_{resp.status}"
        message = resp.body[:300].decode("utf-8", errors="replace") or f"HTTP {resp.status}"
        try:
            parsed = json.loads(resp.body.decode("utf-8"))
            err = parsed["error"]
            if isinstance(err, dict):
                code = str(err.get("code") or code)
                message = str(err.get("message") or message)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            pass
        return error_from_response(
            resp.status, code, message, retry_after=retry_after, lease_operation=lease_operation
        )

    @staticmethod
    def _json(resp: _Response) -> Any:
        try:
            return json.loads(resp.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise IntentBusServerError(
                f"the bus answered {resp.status} with a body that is not JSON: {resp.body[:200]!r}",
                status=resp.status,
                code="invalid_response",
            ) from exc

    @staticmethod
    def _segment(value: str, what: str) -> str:
        if not isinstance(value, str) or value == "":
            raise ValueError(f"{what} must be a non-empty string")
        return encode_component(value)

    # -------------------------------------------------------------- producers

    def publish(
        self,
        goal: str,
        payload: Any,
        namespace: str = "default",
        visibility: str = "private",
        priority: int = 100,
        delay: float = 0.0,
        max_attempts: int = 3,
        backoff_base: float = 5.0,
        target_worker: Optional[str] = None,
        required_capability: Optional[str] = None,
        idempotency_key: Optional[str] = None,
        notify_url: Optional[str] = None,
    ) -> PublishedIntent:
        """Publish an intent (``POST /intent``).

        Args:
            goal: what to do (1–256 characters); workers claim by goal.
            payload: any JSON value (at most 7168 bytes serialized).
            namespace: ``A-Z a-z 0-9 . - _``, 1–64 characters.
            visibility: ``"private"`` (only this key's workers) or ``"public"``.
            priority: 0–1000, higher is claimed first.
            delay: seconds before the intent can be claimed (0–2592000).
            max_attempts: claims before it is dead-lettered (1–20).
            backoff_base: seconds; a failed attempt waits ``backoff_base * 2^attempts``.
            target_worker: only a worker with this ``worker_id`` may claim it.
            required_capability: only a worker advertising it may claim it.
            idempotency_key: sent as ``Idempotency-Key``; the same key and
                request return the first answer again instead of publishing twice.
                With a key, publish is retried on connection errors too.
            notify_url: the bus POSTs a signed event (``X-Intent-Signature``)
                to this URL once the intent is fulfilled or dead, if the
                bus's operator allows the target (``BUS_WEBHOOK_ALLOW``).

        Returns:
            :class:`PublishedIntent` with ``id``, ``status`` (``"published"``)
            and ``namespace``.
        """
        fields: Dict[str, Any] = {
            "goal": goal,
            "payload": payload,
            "namespace": namespace,
            "visibility": visibility,
            "priority": priority,
            "delay": delay,
            "max_attempts": max_attempts,
            "backoff_base": backoff_base,
            "target_worker": target_worker,
            "required_capability": required_capability,
        }
        if notify_url is not None:  # only when asked: a bus without webhooks never sees it
            fields["notify_url"] = notify_url
        body = _dumps(fields, "the intent")
        headers = _idempotency_header(idempotency_key)
        resp = self._request(
            "POST",
            "/intent",
            body=body,
            headers=headers,
            policy=_ALWAYS if idempotency_key is not None else _REFUSED_ONLY,
            accept=(200, 201),
        )
        return PublishedIntent.from_json(self._json(resp))

    def publish_many(
        self, intents: Sequence[Mapping[str, Any]], namespace: str = "default"
    ) -> List[BatchItemResult]:
        """Publish up to 100 intents in one request and one transaction
        (``POST /intents``, docs/PROTOCOL-EXTENSIONS.md).

        Args:
            intents: each a mapping of :meth:`publish`'s fields (``goal`` and
                ``payload`` required; ``priority``, ``delay``, ...) plus an
                optional ``idempotency_key`` of its own. The server applies
                its defaults to fields left out.
            namespace: for the intents that name none.

        Returns:
            one :class:`BatchItemResult` per intent, in order. An intent the
            bus refused on its own (an invalid field, a reused key, the
            open-intent cap) has ``error`` set; the others are published.

        Raises the usual errors when the request as a whole is refused (then
        nothing was published). Retried on connection errors only when every
        intent has an ``idempotency_key``.
        """
        items = [dict(intent) for intent in intents]
        if not 1 <= len(items) <= BATCH_MAX:
            raise ValueError(f"publish_many takes 1 to {BATCH_MAX} intents, not {len(items)}")
        for item in items:
            item.setdefault("namespace", namespace)
        keyed = all(item.get("idempotency_key") is not None for item in items)
        resp = self._request(
            "POST",
            "/intents",
            body=_dumps({"intents": items}, "the intents"),
            policy=_ALWAYS if keyed else _REFUSED_ONLY,
            accept=(200,),
        )
        results = self._json(resp).get("results")
        if not isinstance(results, list) or len(results) != len(items):
            raise IntentBusServerError("the bus did not answer one result per intent",
                                       status=resp.status, code="invalid_response")
        return [self._batch_item(item) for item in results]

    @staticmethod
    def _batch_item(item: Mapping[str, Any], lease_operation: bool = False) -> BatchItemResult:
        error = item.get("error")
        if isinstance(error, dict):
            status = int(item.get("http_status") or 400)
            code = str(error.get("code") or f"http_{status}")
            failure = error_from_response(status, code, str(error.get("message") or code),
                                          lease_operation=lease_operation)
            return BatchItemResult(index=int(item.get("index", 0)), error=failure, raw=dict(item))
        return BatchItemResult(index=int(item.get("index", 0)), id=item.get("id"),
                               namespace=item.get("namespace"),
                               replayed=bool(item.get("replayed", False)), raw=dict(item))

    def result(self, intent_id: str, wait: Optional[float] = None) -> IntentResult:
        """The intent's state and stored result (``GET /result/<id>``).

        ``wait`` (seconds) asks a server that supports long polling to hold
        the answer until the intent is finished; it is sent only when given
        (servers without the extension ignore it). Raises
        :class:`IntentBusNotFoundError` for an unknown or invisible intent.
        """
        query = [("wait", _num(wait))] if wait is not None else None
        resp = self._request(
            "GET",
            "/result/" + self._segment(intent_id, "intent_id"),
            query=query,
            policy=_ALWAYS,
            extra_timeout=wait or 0.0,
        )
        return IntentResult.from_json(self._json(resp))

    def webhook_secret(self) -> str:
        """This key's webhook signing secret (``GET /webhooks/secret``): what
        a receiver of this key's ``notify_url`` events verifies
        ``X-Intent-Signature`` with. Raises :class:`IntentBusNotFoundError`
        (code ``webhooks_off``) when the bus sends no webhooks."""
        resp = self._request("GET", "/webhooks/secret", policy=_ALWAYS)
        return str(self._json(resp)["secret"])

    def status(self, intent_id: str) -> IntentStatus:
        """The intent's state without its result (``GET /status/<id>``)."""
        resp = self._request("GET", "/status/" + self._segment(intent_id, "intent_id"), policy=_ALWAYS)
        return IntentStatus.from_json(self._json(resp))

    # ---------------------------------------------------------------- workers

    def _post_claim(
        self,
        max: Optional[int],
        goal: Optional[str],
        namespace: str,
        worker_id: Optional[str],
        capabilities: CapabilitiesArg,
        wait: Optional[float],
        publisher: Optional[str],
    ) -> _Response:
        """``POST /claim`` with the claim's parameters (and ``max`` for a
        batch claim, ``None`` for a single one); never retried."""
        query: List[Tuple[str, Optional[str]]] = [("goal", goal)]
        if max is not None:
            query.append(("max", str(max)))
        query += [
            ("namespace", namespace),
            ("worker_id", worker_id),
            ("capabilities", _capabilities(capabilities)),
            ("publisher", publisher),
        ]
        if wait is not None:
            query.append(("wait", _num(wait)))
        return self._request("POST", "/claim", query=query, policy=_NEVER, extra_timeout=wait or 0.0)

    def _claim(
        self,
        goal: Optional[str] = None,
        namespace: str = "default",
        worker_id: Optional[str] = None,
        capabilities: CapabilitiesArg = None,
        wait: Optional[float] = None,
        publisher: Optional[str] = None,
    ) -> Tuple[Optional[Job], Optional[float]]:
        """:meth:`claim` that also returns the ``Retry-After`` of a 204."""
        resp = self._post_claim(None, goal, namespace, worker_id, capabilities, wait, publisher)
        if resp.status == 204:
            return None, _parse_retry_after(resp.headers.get("retry-after"))
        return Job.from_json(self._json(resp)), None

    def claim(
        self,
        goal: Optional[str] = None,
        namespace: str = "default",
        worker_id: Optional[str] = None,
        capabilities: CapabilitiesArg = None,
        wait: Optional[float] = None,
        publisher: Optional[str] = None,
    ) -> Optional[Job]:
        """Claim the highest-priority eligible intent (``POST /claim``).

        Args:
            goal: only intents with this goal (``None``: any goal).
            namespace: the namespace to claim from.
            worker_id: this worker's id, for intents with a ``target_worker``.
            capabilities: this worker's capabilities (a list, or a
                comma-separated string), for intents with a ``required_capability``.
            wait: long-poll seconds for servers that support it (sent only when given).
            publisher: only intents published by this API key (your own key,
                or any key with admin credentials).

        Returns:
            the :class:`Job`, or ``None`` when nothing is eligible (204; back
            off at least ``Retry-After`` seconds before asking again).

        Never retried: a lost answer would leave a claimed job nobody holds.
        """
        job, _ = self._claim(goal, namespace, worker_id, capabilities, wait, publisher)
        return job

    def claim_many(
        self,
        max: int,
        goal: Optional[str] = None,
        namespace: str = "default",
        worker_id: Optional[str] = None,
        capabilities: CapabilitiesArg = None,
        wait: Optional[float] = None,
        publisher: Optional[str] = None,
    ) -> List[Job]:
        """Claim up to ``max`` (1–100) eligible intents at once
        (``POST /claim?max=K``), each with its own ``claim_token`` and lease.

        The other arguments are :meth:`claim`'s; with ``wait`` the bus answers
        as soon as at least one intent is there. Returns the jobs, ``[]`` when
        nothing is eligible. Never retried, like :meth:`claim`.
        """
        if isinstance(max, bool) or not isinstance(max, int) or not 1 <= max <= BATCH_MAX:
            raise ValueError(f"max must be an integer from 1 to {BATCH_MAX}")
        resp = self._post_claim(max, goal, namespace, worker_id, capabilities, wait, publisher)
        if resp.status == 204:
            return []
        intents = self._json(resp).get("intents")
        if not isinstance(intents, list):
            raise IntentBusServerError("the bus answered a batch claim without a list of intents",
                                       status=resp.status, code="invalid_response")
        return [Job.from_json(item) for item in intents]

    def extend(self, intent_id: str, claim_token: str, seconds: float = 60) -> ExtendResult:
        """Extend the lease to ``now + seconds`` (10–3600) (``POST /extend_claim/<id>``).

        Raises :class:`IntentBusLeaseLostError` when the lease is lost. Never retried.
        """
        body = _dumps({"claim_token": claim_token, "seconds": seconds}, "the request")
        resp = self._request(
            "POST",
            "/extend_claim/" + self._segment(intent_id, "intent_id"),
            body=body,
            policy=_NEVER,
            lease_operation=True,
        )
        return ExtendResult.from_json(self._json(resp))

    def fulfill(
        self,
        intent_id: str,
        claim_token: str,
        result: Any = None,
        result_type: Optional[str] = None,
    ) -> FulfillResult:
        """Mark a claimed intent fulfilled (``POST /fulfill/<id>``), storing ``result``.

        ``result_type`` is ``"json"`` (the default when a result is given) or
        ``"text"`` (the result must then be a string). ``result=None`` stores
        no result. Raises :class:`IntentBusLeaseLostError` when the lease is
        lost. Never retried.
        """
        body = _dumps(_fulfill_fields(claim_token, result, result_type), "the result")
        resp = self._request(
            "POST",
            "/fulfill/" + self._segment(intent_id, "intent_id"),
            body=body,
            policy=_NEVER,
            lease_operation=True,
        )
        return FulfillResult.from_json(self._json(resp))

    def fulfill_many(self, items: Sequence[Mapping[str, Any]]) -> List[BatchItemResult]:
        """Fulfil up to 100 claimed intents in one request and one transaction
        (``POST /fulfill``, docs/PROTOCOL-EXTENSIONS.md "Batch fulfil").

        Args:
            items: each a mapping with ``id`` and ``claim_token`` and
                optionally ``result`` and ``result_type``, as :meth:`fulfill`
                takes them.

        Returns:
            one :class:`BatchItemResult` per item, in order: ``ok`` with
            ``id`` when fulfilled, else ``error`` as :meth:`fulfill` would
            have raised it (:class:`IntentBusLeaseLostError` for a lost
            lease or a wrong token).

        Raises the usual errors when the request as a whole is refused (then
        nothing was fulfilled). Never retried.
        """
        entries = []
        for item in items:
            entry = _fulfill_fields(item["claim_token"], item.get("result"), item.get("result_type"))
            entry["id"] = item["id"]
            entries.append(entry)
        if not 1 <= len(entries) <= BATCH_MAX:
            raise ValueError(f"fulfill_many takes 1 to {BATCH_MAX} items, not {len(entries)}")
        resp = self._request(
            "POST",
            "/fulfill",
            body=_dumps({"items": entries}, "the results"),
            policy=_NEVER,
            accept=(200,),
        )
        results = self._json(resp).get("results")
        if not isinstance(results, list) or len(results) != len(entries):
            raise IntentBusServerError("the bus did not answer one result per item",
                                       status=resp.status, code="invalid_response")
        return [self._batch_item(item, lease_operation=True) for item in results]

    def fail(self, intent_id: str, claim_token: str, error: Optional[str] = None) -> FailResult:
        """Report a failed attempt (``POST /fail/<id>``).

        The bus requeues the intent with backoff (``status == "open"``) or,
        with no attempts left, moves it to the dead-letter table
        (``"dead"``). ``error`` is cut to 2000 UTF-8 bytes (what the bus keeps).
        Raises :class:`IntentBusLeaseLostError` when the lease is lost. Never retried.
        """
        fields: Dict[str, Any] = {"claim_token": claim_token}
        if error is not None:
            fields["error"] = _truncate_utf8(str(error), MAX_ERROR_BYTES)
        body = _dumps(fields, "the error")
        while len(body) > MAX_BODY_BYTES - 512 and fields.get("error"):
            fields["error"] = fields["error"][: len(fields["error"]) // 2]
            body = _dumps(fields, "the error")
        resp = self._request(
            "POST",
            "/fail/" + self._segment(intent_id, "intent_id"),
            body=body,
            policy=_NEVER,
            lease_operation=True,
        )
        return FailResult.from_json(self._json(resp))

    def listen(
        self,
        goal: Optional[str],
        handler: Callable[..., Any],
        namespace: str = "default",
        worker_id: Optional[str] = None,
        capabilities: CapabilitiesArg = None,
        poll_interval: float = 1.0,
        stop_event: Optional[threading.Event] = None,
        pass_job: bool = False,
        wait: Optional[float] = None,
    ) -> int:
        """Run a worker loop in this thread (the seed SDK's ``bus.listen``).

        As in the original SDK the handler receives the job's **payload**
        (``pass_job=True`` gives it the whole :class:`Job`). What it returns
        decides the outcome, see :meth:`WorkerRuntime.listen`: ``False`` or an
        exception fails the attempt; anything else fulfils the intent.
        Returns the number of jobs handled once stopped (``stop_event``,
        SIGTERM or SIGINT).
        """
        from .worker import WorkerRuntime

        def job_handler(job: Job) -> Any:
            return handler(job) if pass_job else handler(job.payload)

        return WorkerRuntime(self).listen(
            goal,
            job_handler,
            namespace=namespace,
            worker_id=worker_id,
            capabilities=capabilities,
            poll_interval=poll_interval,
            stop_event=stop_event,
            wait=wait,
        )

    # --------------------------------------------------------------------- KV

    def set(
        self, key: str, value: Any, ttl: float = 600, idempotency_key: Optional[str] = None
    ) -> SetResult:
        """Store ``value`` (any JSON) under ``key`` for ``ttl`` seconds (1–86400)
        in this API key's KV space (``POST /set/<key>``). Retried when safe."""
        body = _dumps({"value": value, "ttl": ttl}, "the value")
        headers = _idempotency_header(idempotency_key)
        resp = self._request(
            "POST", "/set/" + self._segment(key, "key"), body=body, headers=headers, policy=_ALWAYS
        )
        return SetResult.from_json(self._json(resp))

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key`` (``GET /get/<key>``), or ``default``
        (``None``) when it is absent or expired."""
        try:
            resp = self._request("GET", "/get/" + self._segment(key, "key"), policy=_ALWAYS)
        except IntentBusError as exc:
            if exc.status == 404 and exc.code == "not_found":
                return default
            raise
        data = self._json(resp)
        return data.get("value", default) if isinstance(data, dict) else default

    # -------------------------------------------------------------- schedules

    def add_schedule(
        self,
        name: str,
        goal: str,
        payload: Any,
        *,
        cron: Optional[str] = None,
        every: Optional[int] = None,
        timezone: str = "UTC",
        overlap: str = "allow",
        catch_up: str = "none",
        namespace: str = "default",
        visibility: str = "private",
        priority: int = 100,
        max_attempts: int = 3,
        backoff_base: float = 5.0,
        target_worker: Optional[str] = None,
        required_capability: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Create the recurring schedule ``name`` (``POST /schedules``), or
        replace this key's schedule of that name: the job ``goal`` with
        ``payload`` is published on the 5-field ``cron`` expression (in the
        IANA ``timezone``) or ``every`` N seconds. ``overlap="skip"``
        publishes nothing while the previous job is still open or claimed;
        ``catch_up="one"`` publishes the latest occurrence missed while the
        bus was down. Returns the schedule, with ``next_runs`` (Unix
        seconds). A refused definition raises the bus's ``invalid_<field>``
        error. Retried when safe: posting the same definition again changes
        nothing."""
        intent: Dict[str, Any] = {
            "goal": goal,
            "payload": payload,
            "namespace": namespace,
            "visibility": visibility,
            "priority": priority,
            "max_attempts": max_attempts,
            "backoff_base": backoff_base,
        }
        if target_worker is not None:
            intent["target_worker"] = target_worker
        if required_capability is not None:
            intent["required_capability"] = required_capability
        definition: Dict[str, Any] = {
            "name": name,
            "timezone": timezone,
            "overlap": overlap,
            "catch_up": catch_up,
            "intent": intent,
        }
        if cron is not None:
            definition["cron"] = cron
        if every is not None:
            definition["every"] = every
        resp = self._request(
            "POST", "/schedules", body=_dumps(definition, "the schedule"), policy=_ALWAYS
        )
        return self._json(resp)

    def schedules(self) -> List[Dict[str, Any]]:
        """This key's schedules (every schedule for the main key), by name,
        each with its next 5 fire times (``GET /schedules``)."""
        data = self._json(self._request("GET", "/schedules", policy=_ALWAYS))
        return list(data.get("schedules", [])) if isinstance(data, dict) else []

    def get_schedule(self, name: str) -> Dict[str, Any]:
        """One schedule with its ``recent_fires`` (``GET /schedules/<name>``);
        raises :class:`IntentBusNotFoundError` for an unknown name or another
        key's schedule."""
        path = "/schedules/" + self._segment(name, "name")
        return self._json(self._request("GET", path, policy=_ALWAYS))

    def pause_schedule(self, name: str) -> Dict[str, Any]:
        """Stop publishing (``POST /schedules/<name>/pause``). Occurrences
        while paused are not caught up on resume."""
        path = "/schedules/" + self._segment(name, "name") + "/pause"
        return self._json(self._request("POST", path, policy=_ALWAYS))

    def resume_schedule(self, name: str) -> Dict[str, Any]:
        """Publish again from the next occurrence (``POST /schedules/<name>/resume``)."""
        path = "/schedules/" + self._segment(name, "name") + "/resume"
        return self._json(self._request("POST", path, policy=_ALWAYS))

    def delete_schedule(self, name: str) -> None:
        """Delete a schedule and its history (``DELETE /schedules/<name>``)."""
        path = "/schedules/" + self._segment(name, "name")
        self._request("DELETE", path, policy=_REFUSED_ONLY)

    # ----------------------------------------------------------------- health

    def health(self) -> Dict[str, Any]:
        """``GET /health`` (no key needed): ``{"ok": true, "ts": ..., "version": ...}``."""
        resp = self._request("GET", "/health", policy=_ALWAYS)
        data = self._json(resp)
        return data if isinstance(data, dict) else {"raw": data}


def _num(value: float) -> str:
    """A number as a query-string value (``5`` rather than ``5.0``)."""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)

