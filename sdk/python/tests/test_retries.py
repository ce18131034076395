"""The retry policy (README "Retries"), on a scripted bus that counts requests.

publish (with idempotency_key), set, get, result, status: retried on
connection errors, 429 rate_limited and 503, honouring Retry-After, at most
max_tries. publish without a key: only when the bus provably did not run it
(429/503, or the request never went out). claim, extend, fulfill, fail: never.
"""

import time

import pytest

from conftest import err
from intent_bus import (
    IntentBusConnectionError,
    IntentBusDatabaseBusyError,
    IntentBusLimitExceededError,
    IntentBusMaintenanceError,
    IntentBusRateLimitError,
    IntentBusUnavailableError,
    IntentClient,
)

OK_SET = (200, {}, {"key": "k", "ok": True, "expires_at": 1.0})
OK_PUBLISH = (201, {}, {"id": "a" * 32, "status": "published", "namespace": "default"})
BUSY = err(503, "database_busy", {"Retry-After": "0"})
LIMITED = err(429, "rate_limited", {"Retry-After": "0"})


@pytest.fixture
def c(fake):
    with IntentClient(fake.url, "k", max_tries=3) as client:
        yield client


def count(fake, path_prefix):
    return sum(1 for r in fake.requests if r[1].startswith(path_prefix))


def test_get_retried_then_succeeds(fake, c):
    fake.push(BUSY, LIMITED, (200, {}, {"value": 7}))
    assert c.get("k") == 7
    assert count(fake, "/get/") == 3
    nonces = {r[2]["X-Nonce"] for r in fake.requests}
    assert len(nonces) == 3  # every attempt is signed afresh


def test_retries_are_bounded(fake, c):
    fake.push(BUSY, BUSY, BUSY, BUSY)
    with pytest.raises(IntentBusDatabaseBusyError):
        c.status("a" * 32)
    assert count(fake, "/status/") == 3


def test_retry_after_is_honoured(fake, c):
    fake.push(err(503, "maintenance", {"Retry-After": "1"}), OK_SET)
    started = time.monotonic()
    c.set("k", 1)
    assert time.monotonic() - started >= 0.95
    assert count(fake, "/set/") == 2


def test_retry_after_beyond_max_retry_wait_raises_at_once(fake):
    fake.push(err(503, "maintenance", {"Retry-After": "60"}), OK_SET)
    with IntentClient(fake.url, "k", max_retry_wait=5) as client:
        with pytest.raises(IntentBusMaintenanceError):
            client.set("k", 1)
    assert count(fake, "/set/") == 1


@pytest.mark.parametrize("call", [
    lambda c: c.claim("g"),
    lambda c: c.fulfill("a" * 32, "b" * 32, {"r": 1}),
    lambda c: c.fail("a" * 32, "b" * 32, "e"),
    lambda c: c.extend("a" * 32, "b" * 32, 30),
])
def test_lease_and_claim_operations_never_retried(fake, c, call):
    fake.push(BUSY)
    with pytest.raises(IntentBusDatabaseBusyError):
        call(c)
    assert len(fake.requests) == 1
    fake.push("drop")  # the request went out and no answer came: never resent
    fake.requests.clear()
    with pytest.raises(IntentBusConnectionError) as info:
        call(c)
    assert "outcome is unknown" in info.value.message
    assert len(fake.requests) == 1


def test_publish_without_key_retried_only_when_refused(fake, c):
    fake.push(LIMITED, BUSY, OK_PUBLISH)
    assert c.publish("g", {}).id == "a" * 32
    assert count(fake, "/intent") == 3
    fake.requests.clear()
    fake.push("drop", OK_PUBLISH)
    with pytest.raises(IntentBusConnectionError):
        c.publish("g", {})  # ambiguous: it may have been published
    assert count(fake, "/intent") == 1


def test_publish_with_key_retried_on_connection_loss(fake, c):
    fake.push("drop", OK_PUBLISH)
    assert c.publish("g", {}, idempotency_key="order-1").id == "a" * 32
    assert count(fake, "/intent") == 2
    assert all(r[2]["Idempotency-Key"] == "order-1" for r in fake.requests)
    bodies = {r[3] for r in fake.requests}
    assert len(bodies) == 1  # the same bytes, so the bus replays the first answer


def test_set_and_get_retried_on_connection_loss(fake, c):
    fake.push("drop", OK_SET, "drop", (200, {}, {"value": "v"}))
    c.set("k", 1)
    assert c.get("k") == "v"
    assert len(fake.requests) == 4


def test_limit_exceeded_not_retried(fake, c):
    fake.push(err(429, "limit_exceeded"), OK_PUBLISH)
    with pytest.raises(IntentBusLimitExceededError):
        c.publish("g", {}, idempotency_key="x")
    assert len(fake.requests) == 1


def test_rate_limit_error_carries_retry_after(fake):
    fake.push(err(429, "rate_limited", {"Retry-After": "42"}))
    with IntentClient(fake.url, "k") as client:
        with pytest.raises(IntentBusRateLimitError) as info:
            client.get("k")
    assert info.value.retry_after == 42


def test_max_tries_one_disables_retries(fake):
    fake.push(BUSY, OK_SET)
    with IntentClient(fake.url, "k", max_tries=1) as client:
        with pytest.raises(IntentBusDatabaseBusyError):
            client.set("k", 1)
    assert len(fake.requests) == 1


def test_stale_keep_alive_connection_is_replaced(fake, c):
    """A pooled connection the server closed is not an error, even for fulfil."""
    c.get("warm")  # leaves one kept-alive connection in the pool
    assert len(c._pool._idle) == 1
    fake.drop_idle_connections()  # the server closes it, as after its idle timeout
    time.sleep(0.1)
    fake.push((200, {}, {"id": "a" * 32, "status": "fulfilled", "completed_at": 1.0}))
    assert c.fulfill("a" * 32, "b" * 32).status == "fulfilled"
    assert len(fake.requests) == 2


def test_full_disk_is_a_refusal_retried_like_503(fake, c):
    # 507 insufficient_storage: nothing was stored, so even a publish
    # (never retried after an ambiguous failure) is retried.
    fake.push(err(507, "insufficient_storage", {"Retry-After": "0"}), OK_PUBLISH)
    assert c.publish("g", {}).id == "a" * 32
    assert count(fake, "/intent") == 2
    fake.push(*[err(507, "insufficient_storage", {"Retry-After": "0"})] * 3)
    with pytest.raises(IntentBusUnavailableError) as info:
        c.publish("g", {})
    assert (info.value.status, info.value.code) == (507, "insufficient_storage")
