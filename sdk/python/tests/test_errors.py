"""Every exception class, mapped from a real server's answer wherever a real
server can produce it (the rest from a scripted fake bus)."""

import time

import pytest

from conftest import err
import intent_bus
from intent_bus import (
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
    IntentClient,
)


def test_every_class_exported_and_rooted():
    names = [n for n in intent_bus.__all__ if n.startswith("IntentBus")]
    assert len(names) == 16
    for name in names:
        assert issubclass(getattr(intent_bus, name), IntentBusError)


def test_401(server):
    with IntentClient(server.url, "wrong-key") as c:
        with pytest.raises(IntentBusAuthError) as info:
            c.publish("g", {})
    e = info.value
    assert (e.status, e.code) == (401, "unauthorized") and e.message


def test_404_not_found_vs_lease_lost(client, ns):
    with pytest.raises(IntentBusNotFoundError) as info:
        client.status("0" * 32)
    assert type(info.value) is IntentBusNotFoundError and info.value.status == 404
    with pytest.raises(IntentBusNotFoundError):
        client.result("f" * 32)
    client.publish("lease", {}, namespace=ns)
    job = client.claim("lease", namespace=ns)
    for call in (lambda: client.fulfill(job.id, "0" * 32),
                 lambda: client.fail(job.id, "0" * 32, "x"),
                 lambda: client.extend(job.id, "0" * 32, 30),
                 lambda: client.fulfill("0" * 32, job.claim_token)):
        with pytest.raises(IntentBusLeaseLostError) as info:
            call()
        assert (info.value.status, info.value.code) == (404, "not_found")
        assert isinstance(info.value, IntentBusNotFoundError)
    client.fulfill(job.id, job.claim_token)
    with pytest.raises(IntentBusLeaseLostError):  # already fulfilled
        client.fulfill(job.id, job.claim_token)


@pytest.mark.parametrize("fields, code", [
    ({"priority": 5000}, "invalid_priority"),
    ({"namespace": "bad ns!"}, "invalid_namespace"),
    ({"visibility": "secret"}, "invalid_visibility"),
    ({"max_attempts": 0}, "invalid_max_attempts"),
    ({"goal": ""}, "invalid_goal"),
])
def test_400_validation(client, fields, code):
    args = {"goal": "g", "payload": {}}
    args.update(fields)
    with pytest.raises(IntentBusValidationError) as info:
        client.publish(**args)
    assert (info.value.status, info.value.code) == (400, code)


def test_400_on_lease_operations_is_validation_not_lease_lost(client, ns):
    client.publish("v", {}, namespace=ns)
    job = client.claim("v", namespace=ns)
    with pytest.raises(IntentBusValidationError) as info:
        client.extend(job.id, job.claim_token, seconds=5)
    assert info.value.code == "invalid_seconds"
    with pytest.raises(IntentBusValidationError) as info:
        client.fulfill(job.id, job.claim_token, {"not": "text"}, result_type="text")
    assert info.value.code == "invalid_result"
    with pytest.raises(IntentBusValidationError) as info:
        client.fulfill(job.id, job.claim_token, 1, result_type="xml")
    assert info.value.code == "invalid_result_type"
    client.fulfill(job.id, job.claim_token)
    with pytest.raises(IntentBusValidationError) as info:
        client.set("k", 1, ttl=0)
    assert info.value.code == "invalid_ttl"
    with pytest.raises(IntentBusValidationError) as info:
        client.publish("g", {}, idempotency_key="")
    assert info.value.code == "invalid_idempotency_key"


def test_invalid_payload_locally_and_from_the_wire(client, fake):
    with pytest.raises(IntentBusInvalidPayloadError) as info:
        client.publish("g", {"x": object()})
    assert info.value.status is None and info.value.code == "invalid_payload"
    with pytest.raises(IntentBusInvalidPayloadError):
        client.set("k", float("nan"))
    # the server never sends invalid_payload (any JSON is a payload); map it anyway
    fake.push(err(400, "invalid_payload"))
    with IntentClient(fake.url, "k") as c:
        with pytest.raises(IntentBusInvalidPayloadError) as info:
            c.publish("g", {})
    assert (info.value.status, info.value.code) == (400, "invalid_payload")
    assert isinstance(info.value, IntentBusValidationError)


def test_413(client, ns):
    with pytest.raises(IntentBusPayloadTooLargeError) as info:
        client.publish("big", "x" * 7500, namespace=ns)  # payload over 7168 bytes, body under 8192
    assert (info.value.status, info.value.code) == (413, "payload_too_large")
    with pytest.raises(IntentBusPayloadTooLargeError):
        client.publish("big", "x" * 9000, namespace=ns)  # the whole body over 8192 bytes
    with pytest.raises(IntentBusPayloadTooLargeError):
        client.set("big", "x" * 9000)


def test_422(client, ns):
    client.publish("i", 1, namespace=ns, idempotency_key=f"c-{ns}")
    with pytest.raises(IntentBusIdempotencyConflictError) as info:
        client.publish("i", 2, namespace=ns, idempotency_key=f"c-{ns}")
    assert (info.value.status, info.value.code) == (422, "idempotency_conflict")


def test_403(server, ns):
    tester = server.tester_key("forbidden")
    with IntentClient(server.url, tester) as c:
        with pytest.raises(IntentBusForbiddenError) as info:
            c.claim(namespace=ns, publisher=server.key)
        assert (info.value.status, info.value.code) == (403, "forbidden")
        assert c.claim(namespace=ns, publisher=tester) is None  # its own key is fine


def test_429_rate_limited(servers):
    srv = servers.get("limited", {"BUS_TESTER_RATE_LIMIT": "5"})
    key = srv.tester_key("limited")
    with IntentClient(srv.url, key) as c:
        for i in range(5):
            c.set(f"k{i}", i)
        started = time.monotonic()
        with pytest.raises(IntentBusRateLimitError) as info:
            c.get("k0")  # retried only when Retry-After <= max_retry_wait (30 s); here it is ~60 s
        assert time.monotonic() - started < 2
        e = info.value
        assert type(e) is IntentBusRateLimitError
        assert (e.status, e.code) == (429, "rate_limited") and 30 < e.retry_after <= 60
        with pytest.raises(IntentBusRateLimitError):
            c.claim()


def test_429_limit_exceeded(server, ns):
    import threading
    key = server.tester_key("capped")
    with IntentClient(server.url, key) as c:
        def publish_many(n):
            for i in range(n):
                c.publish("cap", i, namespace=ns)
        threads = [threading.Thread(target=publish_many, args=(500,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with pytest.raises(IntentBusLimitExceededError) as info:
            c.publish("cap", "one too many", namespace=ns)
        assert (info.value.status, info.value.code) == (429, "limit_exceeded")
        assert isinstance(info.value, IntentBusRateLimitError)  # `except IntentBusRateLimitError` catches every 429


def test_503_maintenance(servers):
    srv = servers.get("maintenance", {"BUS_MAINTENANCE_MODE": "true"})
    with srv.client() as c:
        started = time.monotonic()
        with pytest.raises(IntentBusMaintenanceError) as info:
            c.get("k")  # Retry-After: 60 is longer than max_retry_wait: raised at once
        assert time.monotonic() - started < 2
        e = info.value
        assert (e.status, e.code, e.retry_after) == (503, "maintenance", 60)
        assert isinstance(e, IntentBusUnavailableError)
        with pytest.raises(IntentBusMaintenanceError):
            c.publish("g", {})
        with pytest.raises(IntentBusMaintenanceError):
            c.claim()


def test_503_database_busy_and_500_from_the_wire(fake):
    # SQLite contention cannot be produced on demand: a scripted bus answers it
    fake.push(err(503, "database_busy"), err(500, "internal_error"), (502, {}, None))
    with IntentClient(fake.url, "k") as c:
        with pytest.raises(IntentBusDatabaseBusyError) as info:
            c.claim()  # never retried
        assert (info.value.status, info.value.code) == (503, "database_busy")
        assert isinstance(info.value, IntentBusUnavailableError)
        with pytest.raises(IntentBusServerError) as info:
            c.claim()
        assert info.value.status == 500
        with pytest.raises(IntentBusServerError) as info:
            c.claim()
        assert (info.value.status, info.value.code) == (502, "http_502")


def test_connection_error():
    from conftest import free_port
    with IntentClient(f"http://127.0.0.1:{free_port()}", "k", max_tries=2) as c:
        with pytest.raises(IntentBusConnectionError) as info:
            c.get("k")
        assert info.value.status is None and info.value.code == "connection_error"
        with pytest.raises(IntentBusConnectionError):
            c.fulfill("a" * 32, "b" * 32)


def test_error_str_and_repr(client):
    with pytest.raises(IntentBusError) as info:
        client.status("0" * 32)
    assert str(info.value).startswith("HTTP 404 not_found: ")
    assert "IntentBusNotFoundError(status=404" in repr(info.value)
