"""Idempotency-Key on POST /intent and POST /set/<key> (spec 7.2, PROTOCOL.md)."""

import json
import threading

import pytest

from conftest import assert_error, unique


def idem(key):
    return {"Idempotency-Key": key}


def test_same_key_same_body_replays(bus):
    k = unique("idem")
    body = bus.intent_body(payload={"a": 1, "b": [1, 2]}, priority=7)
    r1 = bus.post("/intent", body, headers=idem(k))
    r2 = bus.post("/intent", body, headers=idem(k))
    r3 = bus.post("/intent", body, headers=idem(k))
    assert r1.status == r2.status == r3.status == 201
    assert r1.raw == r2.raw == r3.raw
    c = bus.claim_ok()
    assert c["id"] == r1.json["id"]
    bus.claim_none()


def test_semantically_identical_body_replays(bus):
    k = unique("idem")
    body1 = ('{"goal":"job","namespace":"%s","payload":{"a":1,"b":{"x":true,"y":null}},"priority":7}'
             % bus.ns).encode()
    body2 = ('{ "priority" : 7 ,\n "payload": {"b": {"y": null, "x": true}, "a": 1},\t'
             '"namespace": "%s", "goal": "job" }' % bus.ns).encode()
    r1 = bus.post("/intent", body1, headers=idem(k))
    r2 = bus.post("/intent", body2, headers=idem(k))
    assert r1.status == 201 and r2.status == 201, (r1.raw, r2.raw)
    assert r1.raw == r2.raw
    assert bus.claim_ok()["id"] == r1.json["id"]
    bus.claim_none()


def test_different_body_conflicts(bus):
    k = unique("idem")
    r1 = bus.post("/intent", bus.intent_body(payload=1), headers=idem(k))
    assert r1.status == 201
    r2 = bus.post("/intent", bus.intent_body(payload=2), headers=idem(k))
    assert_error(r2, 422, "idempotency_conflict")
    # extra field, different value type, array order: all different requests
    for body in (bus.intent_body(payload=1, priority=100), bus.intent_body(payload="1"),
                 bus.intent_body(payload=[1, 2])):
        assert_error(bus.post("/intent", body, headers=idem(k)), 422, "idempotency_conflict")
    # the original is still replayed
    assert bus.post("/intent", bus.intent_body(payload=1), headers=idem(k)).raw == r1.raw
    assert bus.claim_ok()["payload"] == 1
    bus.claim_none()


def test_array_order_matters(bus):
    k = unique("idem")
    assert bus.post("/intent", bus.intent_body(payload=[1, 2]), headers=idem(k)).status == 201
    assert_error(bus.post("/intent", bus.intent_body(payload=[2, 1]), headers=idem(k)),
                 422, "idempotency_conflict")


def test_different_keys_create_separate_intents(bus):
    body = bus.intent_body()
    r1 = bus.post("/intent", body, headers=idem(unique("idem")))
    r2 = bus.post("/intent", body, headers=idem(unique("idem")))
    assert r1.status == r2.status == 201
    assert r1.json["id"] != r2.json["id"]
    bus.claim_ok()
    bus.claim_ok()
    bus.claim_none()


def test_no_key_creates_separate_intents(bus):
    body = bus.intent_body()
    ids = {bus.post("/intent", body).json["id"] for _ in range(3)}
    assert len(ids) == 3


def test_failed_request_not_remembered(bus):
    k = unique("idem")
    bad = bus.post("/intent", bus.intent_body(priority=5000), headers=idem(k))
    assert_error(bad, 400, "invalid_priority")
    # the same bad request is evaluated again (and fails again)
    assert_error(bus.post("/intent", bus.intent_body(priority=5000), headers=idem(k)),
                 400, "invalid_priority")
    good = bus.post("/intent", bus.intent_body(priority=5), headers=idem(k))
    assert good.status == 201, good.raw
    assert bus.claim_ok()["id"] == good.json["id"]


def test_replay_of_already_claimed_intent(bus):
    # The replay is the stored response, not a new publish, even after the intent moved on.
    k = unique("idem")
    body = bus.intent_body()
    r1 = bus.post("/intent", body, headers=idem(k))
    c = bus.claim_ok()
    assert bus.fulfill(c["id"], c["claim_token"]).status == 200
    r2 = bus.post("/intent", body, headers=idem(k))
    assert r2.status == 201 and r2.raw == r1.raw
    bus.claim_none()


def test_same_key_different_path_conflicts(bus):
    k = unique("idem")
    assert bus.post("/intent", bus.intent_body(), headers=idem(k)).status == 201
    r = bus.post(f"/set/{unique('kv')}", {"value": 1}, headers=idem(k))
    assert_error(r, 422, "idempotency_conflict")


def test_set_idempotent_replay(bus):
    k = unique("idem")
    key = unique("kv")
    r1 = bus.post(f"/set/{key}", {"value": {"a": 1, "b": 2}, "ttl": 100}, headers=idem(k))
    assert r1.status == 200
    r2 = bus.post(f"/set/{key}", b'{ "ttl": 100, "value": {"b": 2, "a": 1} }', headers=idem(k))
    assert r2.status == 200
    assert r2.raw == r1.raw  # byte-for-byte, including the original expires_at


def test_set_replay_does_not_reapply(bus):
    k = unique("idem")
    key = unique("kv")
    body = {"value": "first"}
    assert bus.post(f"/set/{key}", body, headers=idem(k)).status == 200
    assert bus.post(f"/set/{key}", {"value": "second"}).status == 200  # no key: applied
    assert bus.post(f"/set/{key}", body, headers=idem(k)).status == 200  # replay: not applied
    assert bus.get(f"/get/{key}").json == {"value": "second"}


def test_set_different_body_conflicts(bus):
    k = unique("idem")
    key = unique("kv")
    assert bus.post(f"/set/{key}", {"value": 1}, headers=idem(k)).status == 200
    assert_error(bus.post(f"/set/{key}", {"value": 2}, headers=idem(k)), 422, "idempotency_conflict")
    assert bus.get(f"/get/{key}").json == {"value": 1}


def test_set_different_key_path_conflicts(bus):
    k = unique("idem")
    assert bus.post(f"/set/{unique('kv')}", {"value": 1}, headers=idem(k)).status == 200
    assert_error(bus.post(f"/set/{unique('kv')}", {"value": 1}, headers=idem(k)),
                 422, "idempotency_conflict")


@pytest.mark.parametrize("value", ["a", "x" * 255, "!~ printable ASCII ~!", "550e8400-e29b-41d4-a716-446655440000"])
def test_idempotency_key_valid(bus, value):
    value = value if len(value) == 255 else value + unique("")
    r = bus.post("/intent", bus.intent_body(), headers=idem(value))
    assert r.status == 201, r.raw


@pytest.mark.parametrize("value", ["", "x" * 256, "a\tb", "caf\xe9", "a\x7fb"])
def test_idempotency_key_invalid(bus, value):
    r = bus.post("/intent", bus.intent_body(), headers=idem(value))
    # DEL is no field character at all (RFC 9110 5.5): the HTTP layer
    # refuses the head before the key is looked at.
    assert_error(r, 400, "bad_request" if "\x7f" in value else "invalid_idempotency_key")
    bus.claim_none()


def test_idempotency_key_invalid_on_set(bus):
    r = bus.post(f"/set/{unique('kv')}", {"value": 1}, headers=idem("x" * 256))
    assert_error(r, 400, "invalid_idempotency_key")


def test_concurrent_same_key(shared_server):
    """Ten clients race with the same key and body: one intent, identical answers."""
    ns = unique("ns")
    k = unique("idem")
    body = {"goal": "race", "payload": {"x": 1}, "namespace": ns}
    results = [None] * 10
    barrier = threading.Barrier(10)

    def worker(i):
        c = shared_server.client(ns=ns)
        barrier.wait()
        results[i] = c.post("/intent", body, headers=idem(k))
        c.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(r is not None for r in results)
    assert [r.status for r in results] == [201] * 10, [(r.status, r.raw) for r in results]
    assert len({r.raw for r in results}) == 1
    c = shared_server.client(ns=ns)
    assert c.claim_ok()["id"] == json.loads(results[0].raw)["id"]
    c.claim_none()
