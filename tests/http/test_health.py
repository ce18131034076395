"""GET /health (spec section 7.1)."""

import time

from conftest import SECURITY_HEADERS, assert_error


def test_health_ok_shape(bus):
    before = time.time()
    r = bus.get("/health", key=None)
    after = time.time()
    assert r.status == 200
    assert r.json["ok"] is True
    assert isinstance(r.json["ts"], (int, float)) and not isinstance(r.json["ts"], bool)
    assert before - 2 <= r.json["ts"] <= after + 2
    assert r.json["version"] == "7.61"


def test_health_needs_no_key_but_accepts_one(bus):
    assert bus.get("/health", key=None).status == 200
    assert bus.get("/health").status == 200


def test_health_security_headers_exact(bus):
    r = bus.get("/health", key=None)
    for name, value in SECURITY_HEADERS.items():
        assert r.headers[name] == value
    assert r.headers["content-type"].startswith("application/json")


def test_health_wrong_method(bus):
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        r = bus.request(method, "/health", key=None)
        assert_error(r, 405, "method_not_allowed")
        assert "GET" in r.headers.get("allow", ""), r.headers


def test_health_keepalive_many_requests(bus):
    # Same connection reused for many requests.
    for _ in range(50):
        assert bus.get("/health", key=None).status == 200
