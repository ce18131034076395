"""POST /intent: defaults, every field bound, stored values (spec 7.2, PROTOCOL.md)."""

import json
import time

import pytest

from conftest import HEX32, OMIT, assert_error, compact, unique


def test_publish_minimal_response_shape(bus):
    r = bus.post("/intent", {"goal": "send_notification", "payload": {"message": "Hello"},
                             "namespace": bus.ns})
    assert r.status == 201, r.raw
    assert set(r.json) == {"id", "status", "namespace"}
    assert HEX32.match(r.json["id"]), r.json
    assert r.json["status"] == "published"
    assert r.json["namespace"] == bus.ns


def test_publish_ids_unique(bus):
    ids = {bus.publish() for _ in range(20)}
    assert len(ids) == 20


def test_publish_defaults(bus):
    goal = unique("g")
    before = time.time()
    r = bus.post("/intent", {"goal": goal, "payload": {"a": 1}})
    after = time.time()
    assert r.status == 201, r.raw
    assert r.json["namespace"] == "default"
    iid = r.json["id"]
    res = bus.result(iid)
    assert res["id"] == iid
    assert res["goal"] == goal
    assert res["namespace"] == "default"
    assert res["status"] == "open"
    assert res["priority"] == 100
    assert res["visibility"] == "private"
    assert res["max_attempts"] == 3
    assert res["claim_attempts"] == 0
    assert res["target_worker"] is None
    assert res["required_capability"] is None
    assert res["claim_expires_at"] is None
    assert "error" not in res
    assert before - 1 <= res["created_at"] <= after + 1
    assert abs(res["run_at"] - res["created_at"]) < 0.5
    assert abs(res["expires_at"] - (res["created_at"] + 86400)) < 1.0
    # and it is really claimable from the default namespace
    c = bus.claim_ok(namespace="default", goal=goal)
    assert c["id"] == iid and c["namespace"] == "default"
    assert c["priority"] == 100 and c["payload"] == {"a": 1}


def test_publish_nulls_mean_defaults(bus):
    iid = bus.publish(namespace=bus.ns, visibility=None, priority=None, delay=None,
                      max_attempts=None, backoff_base=None, target_worker=None,
                      required_capability=None)
    res = bus.result(iid)
    assert res["priority"] == 100 and res["visibility"] == "private"
    assert res["max_attempts"] == 3 and res["target_worker"] is None
    assert res["required_capability"] is None
    assert abs(res["run_at"] - res["created_at"]) < 0.5


def test_publish_namespace_null_is_default(bus):
    goal = unique("g")
    r = bus.publish_raw(goal=goal, namespace=None)
    assert r.status == 201, r.raw
    assert r.json["namespace"] == "default"


def test_publish_stores_all_fields(bus):
    iid = bus.publish(goal="render", payload=[1, "two", None], visibility="public", priority=777,
                      delay=0, max_attempts=7, backoff_base=2.5, target_worker="worker-9",
                      required_capability="gpu")
    res = bus.status(iid)
    assert res["goal"] == "render" and res["namespace"] == bus.ns
    assert res["visibility"] == "public" and res["priority"] == 777
    assert res["max_attempts"] == 7 and res["target_worker"] == "worker-9"
    assert res["required_capability"] == "gpu"


def test_publish_delay_sets_run_at_and_expiry(bus):
    iid = bus.publish(delay=100)
    res = bus.status(iid)
    assert abs(res["run_at"] - (res["created_at"] + 100)) < 1.0
    # PROTOCOL.md: expires_at = created_at + delay + 86400
    assert abs(res["expires_at"] - (res["created_at"] + 100 + 86400)) < 1.0


def test_publish_unknown_fields_ignored(bus):
    r = bus.publish_raw(future_field={"x": 1}, another=True)
    assert r.status == 201, r.raw


def test_publish_missing_goal(bus):
    assert_error(bus.publish_raw(goal=OMIT), 400, "invalid_request")


def test_publish_missing_payload(bus):
    assert_error(bus.publish_raw(payload=OMIT), 400, "invalid_request")


def test_publish_empty_object(bus):
    assert_error(bus.post("/intent", {}), 400, "invalid_request")


def test_publish_empty_body(bus):
    # An empty body is treated as {} -> required fields missing.
    assert_error(bus.post("/intent", b""), 400, "invalid_request")


def test_publish_goal_null(bus):
    r = bus.publish_raw(goal=None)
    assert r.status == 400 and r.json["error"]["code"] in ("invalid_request", "invalid_goal"), r.raw


@pytest.mark.parametrize("payload", [None, 0, -1.5, "text", True, False, [], {}, [1, [2, [3]]],
                                     {"nested": {"deep": ["é", "☃", "\n", "😀"]}}])
def test_publish_payload_any_json_roundtrip(bus, payload):
    iid = bus.publish(payload=payload)
    c = bus.claim_ok()
    assert c["id"] == iid
    assert c["payload"] == payload
    assert type(c["payload"]) is type(payload)


def test_publish_payload_with_nul_character(bus):
    # "\u0000" inside a JSON string is valid JSON (RFC 8259); payload is "any JSON value".
    payload = {"s": "a\u0000b"}
    r = bus.post("/intent", ('{"goal":"g","namespace":"%s","payload":{"s":"a\\u0000b"}}' % bus.ns).encode())
    assert r.status == 201, r.raw
    assert bus.claim_ok()["payload"] == payload


# ---- bounds --------------------------------------------------------------

OK = object()

BOUNDS = [
    # field, value, expected error code (OK = accepted)
    ("goal", "x", OK),
    ("goal", "x" * 256, OK),
    ("goal", "é" * 256, OK),          # 256 code points, 512 bytes
    ("goal", "😀" * 256, OK),          # 256 code points, 1024 bytes
    ("goal", "", "invalid_goal"),
    ("goal", "x" * 257, "invalid_goal"),
    ("goal", "é" * 257, "invalid_goal"),
    ("goal", 5, "invalid_goal"),
    ("goal", ["x"], "invalid_goal"),
    ("goal", {"a": "b"}, "invalid_goal"),
    ("goal", True, "invalid_goal"),

    ("namespace", "a", OK),
    ("namespace", "N" * 64, OK),
    ("namespace", "Az09.-_", OK),
    ("namespace", "", "invalid_namespace"),
    ("namespace", "n" * 65, "invalid_namespace"),
    ("namespace", "a b", "invalid_namespace"),
    ("namespace", "a/b", "invalid_namespace"),
    ("namespace", "a:b", "invalid_namespace"),
    ("namespace", "ns!", "invalid_namespace"),
    ("namespace", "é", "invalid_namespace"),
    ("namespace", "a\nb", "invalid_namespace"),
    ("namespace", 5, "invalid_namespace"),
    ("namespace", True, "invalid_namespace"),

    ("visibility", "private", OK),
    ("visibility", "public", OK),
    ("visibility", "PUBLIC", "invalid_visibility"),
    ("visibility", "Private", "invalid_visibility"),
    ("visibility", "secret", "invalid_visibility"),
    ("visibility", "", "invalid_visibility"),
    ("visibility", 1, "invalid_visibility"),
    ("visibility", True, "invalid_visibility"),

    ("priority", 0, OK),
    ("priority", 1000, OK),
    ("priority", -1, "invalid_priority"),
    ("priority", 1001, "invalid_priority"),
    ("priority", True, "invalid_priority"),
    ("priority", False, "invalid_priority"),
    ("priority", "5", "invalid_priority"),
    ("priority", 1.5, "invalid_priority"),
    ("priority", 2 ** 63 - 1, "invalid_priority"),
    # Integers beyond 64 bits cannot be parsed at all (docs/PROTOCOL.md).
    ("priority", 10 ** 20, "invalid_json"),
    ("priority", [5], "invalid_priority"),

    ("delay", 0, OK),
    ("delay", 0.5, OK),
    ("delay", 2592000, OK),
    ("delay", -1, "invalid_delay"),
    ("delay", -0.001, "invalid_delay"),
    ("delay", 2592001, "invalid_delay"),
    ("delay", 2592000.5, "invalid_delay"),
    ("delay", "5", "invalid_delay"),
    ("delay", True, "invalid_delay"),

    ("max_attempts", 1, OK),
    ("max_attempts", 20, OK),
    ("max_attempts", 0, "invalid_max_attempts"),
    ("max_attempts", 21, "invalid_max_attempts"),
    ("max_attempts", -1, "invalid_max_attempts"),
    ("max_attempts", 1.5, "invalid_max_attempts"),
    ("max_attempts", "3", "invalid_max_attempts"),
    ("max_attempts", True, "invalid_max_attempts"),

    ("backoff_base", 1.0, OK),
    ("backoff_base", 1, OK),
    ("backoff_base", 3600.0, OK),
    ("backoff_base", 0.99, "invalid_backoff_base"),
    ("backoff_base", 0, "invalid_backoff_base"),
    ("backoff_base", 3600.01, "invalid_backoff_base"),
    ("backoff_base", 3601, "invalid_backoff_base"),
    ("backoff_base", "5", "invalid_backoff_base"),
    ("backoff_base", True, "invalid_backoff_base"),

    ("target_worker", "w", OK),
    ("target_worker", "w" * 128, OK),
    ("target_worker", "", "invalid_target_worker"),
    ("target_worker", "w" * 129, "invalid_target_worker"),
    ("target_worker", 5, "invalid_target_worker"),
    ("target_worker", True, "invalid_target_worker"),
    ("target_worker", ["w"], "invalid_target_worker"),

    ("required_capability", "gpu", OK),
    ("required_capability", "c" * 128, OK),
    ("required_capability", "", "invalid_required_capability"),
    ("required_capability", "c" * 129, "invalid_required_capability"),
    ("required_capability", "a,b", "invalid_required_capability"),
    ("required_capability", " gpu", "invalid_required_capability"),
    ("required_capability", "gpu ", "invalid_required_capability"),
    ("required_capability", 5, "invalid_required_capability"),
    ("required_capability", True, "invalid_required_capability"),
]


def _bound_id(case):
    field, value, code = case
    text = repr(value)
    if len(text) > 20:
        text = text[:12] + f"..len{len(value) if hasattr(value, '__len__') else ''}"
    return f"{field}={text}->{'ok' if code is OK else code}"


@pytest.mark.parametrize("field,value,code", BOUNDS, ids=[_bound_id(c) for c in BOUNDS])
def test_publish_field_bounds(bus, field, value, code):
    body = bus.intent_body(**{field: value})
    if field == "namespace" and code is OK:
        pass  # use the given namespace as-is (it is still unique enough for this check)
    r = bus.post("/intent", body)
    if code is OK:
        assert r.status == 201, f"{field}={value!r} should be accepted: {r.raw!r}"
        res = bus.status(r.json["id"])
        if field in ("goal", "namespace", "visibility", "priority", "max_attempts",
                     "target_worker", "required_capability"):
            assert res[field] == value
    else:
        assert_error(r, 400, code)


# ---- payload size ---------------------------------------------------------

def test_payload_7168_bytes_accepted(bus):
    payload = "x" * 7166
    assert len(compact(payload).encode()) == 7168
    iid = bus.publish(payload=payload)
    assert bus.claim_ok()["payload"] == payload
    assert bus.status(iid)["status"] == "claimed"


def test_payload_7169_bytes_refused(bus):
    payload = "x" * 7167
    assert len(compact(payload).encode()) == 7169
    assert_error(bus.publish_raw(payload=payload), 413, "payload_too_large")
    bus.claim_none()


def test_payload_object_at_limit(bus):
    base = {"k": ""}
    n = 7168 - len(compact(base).encode())
    ok = {"k": "y" * n}
    assert len(compact(ok).encode()) == 7168
    bus.publish(payload=ok)
    big = {"k": "y" * (n + 1)}
    assert_error(bus.publish_raw(payload=big), 413, "payload_too_large")


def test_payload_size_measured_compact(bus):
    # Sent with ", " separators the payload is 7500 bytes, compact it is 6001.
    payload = ["x"] * 1500
    assert len(compact(payload)) == 6001
    body = ('{"goal": "job", "namespace": "%s", "payload": %s}'
            % (bus.ns, json.dumps(payload, separators=(", ", ": "))))
    assert 7168 < len(body) < 8192
    r = bus.post("/intent", body.encode())
    assert r.status == 201, r.raw
    assert bus.claim_ok()["payload"] == payload


def test_payload_multibyte_utf8_counts_bytes(bus):
    # 3000 snowmen are 9000 UTF-8 bytes: too big however it is escaped; and the
    # body (sent as raw UTF-8) exceeds 8192, so 413 either way.
    payload = "☃" * 3000
    body = compact({"goal": "g", "namespace": bus.ns, "payload": payload}).encode()
    r = bus.post("/intent", body)
    assert_error(r, 413, "payload_too_large")
    # 2300 snowmen: 6900 bytes of UTF-8 (+2 quotes) fit in 7168.
    payload = "☃" * 2300
    body = compact({"goal": "g", "namespace": bus.ns, "payload": payload}).encode()
    assert len(body) < 8192
    r = bus.post("/intent", body)
    assert r.status == 201, r.raw
    assert bus.claim_ok()["payload"] == payload
