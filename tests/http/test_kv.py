"""POST /set/<key>, GET /get/<key> (spec 7.9)."""

import time

import pytest

from conftest import assert_error, unique


def test_set_get_roundtrip(bus):
    key = unique("k")
    before = time.time()
    r = bus.post(f"/set/{key}", {"value": "hello", "ttl": 600})
    after = time.time()
    assert r.status == 200, r.raw
    assert set(r.json) == {"key", "ok", "expires_at"}
    assert r.json["key"] == key and r.json["ok"] is True
    assert before + 600 - 1 <= r.json["expires_at"] <= after + 600 + 1
    g = bus.get(f"/get/{key}")
    assert g.status == 200
    assert g.json == {"value": "hello"}


def test_set_default_ttl_600(bus):
    key = unique("k")
    before = time.time()
    r = bus.post(f"/set/{key}", {"value": 1})
    after = time.time()
    assert r.status == 200, r.raw
    assert before + 600 - 1 <= r.json["expires_at"] <= after + 600 + 1


@pytest.mark.parametrize("value", [0, False, "", [], {}, {"a": [1, {"b": None}]}, "☃😀", 1.25])
def test_value_types(bus, value):
    key = unique("k")
    assert bus.post(f"/set/{key}", {"value": value}).status == 200
    g = bus.get(f"/get/{key}")
    assert g.status == 200, g.raw
    assert g.json == {"value": value}
    assert type(g.json["value"]) is type(value)


def test_value_null(bus):
    # "value" present but null: either stored as null or refused as missing.
    key = unique("k")
    r = bus.post(f"/set/{key}", {"value": None})
    if r.status == 200:
        assert bus.get(f"/get/{key}").json == {"value": None}
    else:
        assert_error(r, 400, "invalid_request")


def test_overwrite(bus):
    key = unique("k")
    assert bus.post(f"/set/{key}", {"value": 1}).status == 200
    assert bus.post(f"/set/{key}", {"value": {"v": 2}}).status == 200
    assert bus.get(f"/get/{key}").json == {"value": {"v": 2}}


def test_get_missing(bus):
    assert_error(bus.get(f"/get/{unique('missing')}"), 404, "not_found")


def test_value_required(bus):
    key = unique("k")
    assert_error(bus.post(f"/set/{key}", {"ttl": 10}), 400, "invalid_request")
    assert_error(bus.post(f"/set/{key}", {}), 400, "invalid_request")
    assert_error(bus.post(f"/set/{key}", b""), 400, "invalid_request")
    assert_error(bus.get(f"/get/{key}"), 404, "not_found")


@pytest.mark.parametrize("ttl", [1, 1.5, 86400])
def test_ttl_in_bounds(bus, ttl):
    key = unique("k")
    before = time.time()
    r = bus.post(f"/set/{key}", {"value": 1, "ttl": ttl})
    after = time.time()
    assert r.status == 200, r.raw
    assert before + ttl - 1 <= r.json["expires_at"] <= after + ttl + 1


@pytest.mark.parametrize("ttl", [0, 0.5, -1, 86401, 86400.5, "10", True, [10]])
def test_ttl_out_of_bounds(bus, ttl):
    key = unique("k")
    assert_error(bus.post(f"/set/{key}", {"value": 1, "ttl": ttl}), 400, "invalid_ttl")
    assert_error(bus.get(f"/get/{key}"), 404, "not_found")


def test_ttl_expiry(bus):
    key = unique("k")
    assert bus.post(f"/set/{key}", {"value": "short", "ttl": 1}).status == 200
    assert bus.get(f"/get/{key}").status == 200
    time.sleep(1.3)
    assert_error(bus.get(f"/get/{key}"), 404, "not_found")


def test_set_after_expiry(bus):
    key = unique("k")
    assert bus.post(f"/set/{key}", {"value": "old", "ttl": 1}).status == 200
    time.sleep(1.2)
    assert bus.post(f"/set/{key}", {"value": "new"}).status == 200
    assert bus.get(f"/get/{key}").json == {"value": "new"}


def test_key_256_bytes_ok(bus):
    key = unique("k")
    key = key + "x" * (256 - len(key))
    assert bus.post(f"/set/{key}", {"value": 1}).status == 200
    assert bus.get(f"/get/{key}").json == {"value": 1}


def test_key_257_bytes_refused(bus):
    key = "x" * 257
    assert_error(bus.post(f"/set/{key}", {"value": 1}), 400, "invalid_key")
    assert_error(bus.get(f"/get/{key}"), 400, "invalid_key")


def test_key_length_counts_decoded_bytes(bus):
    # "é" is 2 bytes in UTF-8 and 6 characters percent-encoded.
    ok = "%C3%A9" * 128  # 256 bytes decoded
    assert bus.post(f"/set/{ok}", {"value": "e"}).status == 200
    assert bus.get(f"/get/{ok}").json == {"value": "e"}
    bad = "%C3%A9" * 128 + "x"  # 257 bytes decoded
    assert_error(bus.post(f"/set/{bad}", {"value": 1}), 400, "invalid_key")


def test_key_url_decoding(bus):
    base = unique("k")
    assert bus.post(f"/set/{base}%20sp%2Fslash", {"value": "decoded"}).status == 200
    assert bus.get(f"/get/{base}%20sp%2fslash").json == {"value": "decoded"}
    # "%61" is "a": the same key after decoding
    assert bus.post(f"/set/{base}-a", {"value": "A"}).status == 200
    assert bus.get(f"/get/{base}-%61").json == {"value": "A"}


@pytest.mark.parametrize("enc", ["%00", "%01", "%0A", "%0D", "%1F", "%7F"])
def test_key_control_characters_refused(bus, enc):
    key = unique("k") + enc
    assert_error(bus.post(f"/set/{key}", {"value": 1}), 400, "invalid_key")
    assert_error(bus.get(f"/get/{key}"), 400, "invalid_key")


def test_empty_key(bus):
    for r in (bus.post("/set/", {"value": 1}), bus.get("/get/")):
        assert (r.status, r.json["error"]["code"]) in ((400, "invalid_key"), (404, "not_found")), r.raw


def test_kv_needs_key(bus):
    key = unique("k")
    assert_error(bus.post(f"/set/{key}", {"value": 1}, key=None), 401, "unauthorized")
    assert_error(bus.get(f"/get/{key}", key="wrong"), 401, "unauthorized")
    assert_error(bus.get(f"/get/{key}"), 404, "not_found")


def test_kv_body_not_object(bus):
    key = unique("k")
    assert_error(bus.post(f"/set/{key}", b"[1]"), 400, "invalid_request")
    assert_error(bus.post(f"/set/{key}", b'"v"'), 400, "invalid_request")
    assert_error(bus.post(f"/set/{key}", b"{bad"), 400, "invalid_json")


def test_kv_wrong_methods(bus):
    key = unique("k")
    for method, path, allow in (("GET", f"/set/{key}", "POST"), ("POST", f"/get/{key}", "GET"),
                                ("PUT", f"/set/{key}", "POST"), ("DELETE", f"/get/{key}", "GET")):
        r = bus.request(method, path)
        assert_error(r, 405, "method_not_allowed")
        assert allow in r.headers.get("allow", ""), r.headers


def test_kv_value_near_body_limit(bus):
    key = unique("k")
    value = "v" * 8000
    assert bus.post(f"/set/{key}", {"value": value}).status == 200
    assert bus.get(f"/get/{key}").json == {"value": value}
