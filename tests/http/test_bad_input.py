"""Malformed requests: bodies, sizes, paths, methods, auth (PROTOCOL.md)."""

import json
import socket

import pytest

from conftest import assert_error, compact, unique

ID = "0" * 32

# (method, path) of every endpoint that takes a JSON object body
BODY_ENDPOINTS = [
    ("POST", "/intent"),
    ("POST", "/claim"),
    ("POST", f"/extend_claim/{ID}"),
    ("POST", f"/fulfill/{ID}"),
    ("POST", f"/fail/{ID}"),
    ("POST", "/set/somekey"),
]

AUTH_ENDPOINTS = BODY_ENDPOINTS + [("GET", f"/result/{ID}"), ("GET", f"/status/{ID}"),
                                   ("GET", "/get/somekey")]


@pytest.mark.parametrize("method,path", BODY_ENDPOINTS)
@pytest.mark.parametrize("body", [b"not json", b"{", b'{"goal": "x",}', b"{'a': 1}",
                                  b'{"a": 1} trailing', b"NaN", b'{"a": NaN}', b'{"a": Infinity}',
                                  b"\x00"])
def test_invalid_json(bus, method, path, body):
    assert_error(bus.request(method, path, body), 400, "invalid_json")


@pytest.mark.parametrize("method,path", BODY_ENDPOINTS)
@pytest.mark.parametrize("body", [b"[]", b'[{"goal": "g", "payload": 1}]', b'"string"', b"42",
                                  b"true", b"null"])
def test_non_object_json(bus, method, path, body):
    assert_error(bus.request(method, path, body), 400, "invalid_request")


@pytest.mark.parametrize("body", [
    b'{"goal": "\xff", "payload": 1}',                 # invalid byte
    b'{"goal": "\xc3", "payload": 1}',                 # truncated sequence
    b'{"goal": "\xc0\xaf", "payload": 1}',             # overlong encoding
    b'{"goal": "\xed\xa0\x80", "payload": 1}',         # UTF-16 surrogate encoded in UTF-8
    b'{"goal": "g", "payload": "\xf8\x88\x80\x80\x80"}',  # 5-byte form
    b'{"goal": "g", "payload": "\xf4\x90\x80\x80"}',   # beyond U+10FFFF
])
def test_invalid_utf8(bus, body):
    r = bus.request("POST", "/intent", body)
    assert_error(r, 400, "invalid_json")


def test_invalid_utf8_on_set(bus):
    assert_error(bus.post(f"/set/{unique('k')}", b'{"value": "\xff"}'), 400, "invalid_json")


def test_body_just_over_8192(bus):
    body = json.dumps({"goal": "g", "namespace": bus.ns, "payload": 1, "pad": "p" * 8200}).encode()
    r = bus.post("/intent", body)
    assert_error(r, 413, "payload_too_large")
    assert "body" in r.json["error"]["message"].lower()
    bus.claim_none()


def _body_of_size(bus, size):
    base = {"goal": "g", "namespace": bus.ns, "payload": 1, "pad": ""}
    n = size - len(compact(base))
    body = compact(dict(base, pad="p" * n)).encode()
    assert len(body) == size
    return body


def test_body_exactly_8192_accepted(bus):
    r = bus.post("/intent", _body_of_size(bus, 8192))
    assert r.status == 201, r.raw


def test_body_8193_refused(bus):
    assert_error(bus.post("/intent", _body_of_size(bus, 8193)), 413, "payload_too_large")
    bus.claim_none()


@pytest.mark.parametrize("method,path", BODY_ENDPOINTS)
def test_body_too_large_everywhere(bus, method, path):
    body = b'{"x": "' + b"y" * 9000 + b'"}'
    assert_error(bus.request(method, path, body), 413, "payload_too_large")


def test_huge_body_refused(bus):
    body = b'{"x": "' + b"y" * 2_000_000 + b'"}'
    try:
        r = bus.request("POST", "/intent", body)
    except (BrokenPipeError, ConnectionResetError):
        bus.close()  # the server may close the connection early; that is acceptable
    else:
        assert_error(r, 413, "payload_too_large")
    assert bus.get("/health", key=None).status == 200


def test_chunked_body_accepted(bus):
    body = compact(bus.intent_body(payload="c" * 3000)).encode()
    r = bus.request("POST", "/intent", body, chunked=True)
    assert r.status == 201, r.raw
    assert bus.claim_ok()["payload"] == "c" * 3000


def test_chunked_body_too_large(bus):
    body = compact(bus.intent_body(pad="c" * 9000)).encode()
    try:
        r = bus.request("POST", "/intent", body, chunked=True)
    except (BrokenPipeError, ConnectionResetError):
        bus.close()
    else:
        assert_error(r, 413, "payload_too_large")
    bus.claim_none()


def test_deeply_nested_payload_does_not_crash(bus):
    depth = 3000
    body = ('{"goal":"g","namespace":"%s","payload":%s%s}' % (bus.ns, "[" * depth, "]" * depth)).encode()
    r = bus.post("/intent", body)
    assert r.status in (201, 400, 413), r.raw
    assert bus.get("/health", key=None).status == 200


def test_huge_number_does_not_crash(bus):
    r = bus.post("/intent", ('{"goal":"g","namespace":"%s","payload":1%s}' % (bus.ns, "0" * 400)).encode())
    assert r.status in (201, 400), r.raw
    r = bus.post("/intent", ('{"goal":"g","namespace":"%s","payload":1,"priority":1e400}' % bus.ns).encode())
    assert r.status == 400, r.raw


# ---- paths and methods ----------------------------------------------------------

@pytest.mark.parametrize("path", ["/nope", "/intentz", "/intent/extra", "/claim/x", "/status",
                                  "/status/", "/result", "/result/", "/fulfills", "/fulfill/",
                                  "/HEALTH", "/health/", "/set", "/get", "/v1/intent",
                                  "/extend_claim", "/fail"])
def test_unknown_path_404(bus, path):
    for key in (None, "wrong", bus.key):
        for method in ("GET", "POST"):
            assert_error(bus.request(method, path, key=key), 404, "not_found")


def test_root_names_the_bus_and_takes_only_get(bus):
    assert bus.get("/", key=None).json["version"] == "7.61"
    assert_error(bus.request("POST", "/", key=None), 405, "method_not_allowed")


WRONG_METHODS = [
    ("GET", "/intent", "POST"),
    ("PUT", "/intent", "POST"),
    ("DELETE", "/intent", "POST"),
    ("PATCH", "/intent", "POST"),
    ("POST", "/health", "GET"),
    ("DELETE", "/health", "GET"),
    ("GET", "/claim", "POST"),
    ("PUT", "/claim", "POST"),
    ("GET", f"/extend_claim/{ID}", "POST"),
    ("GET", f"/fulfill/{ID}", "POST"),
    ("DELETE", f"/fulfill/{ID}", "POST"),
    ("GET", "/fulfill", "POST"),
    ("GET", f"/fail/{ID}", "POST"),
    ("POST", f"/result/{ID}", "GET"),
    ("DELETE", f"/result/{ID}", "GET"),
    ("POST", f"/status/{ID}", "GET"),
    ("PUT", f"/status/{ID}", "GET"),
    ("GET", "/set/k", "POST"),
    ("POST", "/get/k", "GET"),
]


@pytest.mark.parametrize("method,path,allow", WRONG_METHODS)
def test_wrong_method_405(bus, method, path, allow):
    for key in (None, "wrong", bus.key):
        r = bus.request(method, path, key=key)
        assert_error(r, 405, "method_not_allowed")
        assert allow in [m.strip() for m in r.headers.get("allow", "").split(",")], r.headers


# ---- authentication --------------------------------------------------------------

@pytest.mark.parametrize("method,path", AUTH_ENDPOINTS)
def test_missing_key_401(bus, method, path):
    body = {} if method == "POST" else None
    assert_error(bus.request(method, path, body, key=None), 401, "unauthorized")


@pytest.mark.parametrize("method,path", AUTH_ENDPOINTS)
def test_wrong_key_401(bus, method, path):
    body = {} if method == "POST" else None
    k = bus.key
    for wrong in ("", "wrong", k[:-1], k + "x", k.upper() if k.upper() != k else k + "A",
                  k[:-1] + ("0" if k[-1] != "0" else "1"), " " + k + "x", "dev_secret"):
        assert_error(bus.request(method, path, body, key=wrong), 401, "unauthorized")


def test_auth_checked_before_body_validation(bus):
    assert_error(bus.post("/intent", {}, key=None), 401, "unauthorized")
    assert_error(bus.post("/intent", b"not json", key="wrong"), 401, "unauthorized")


def test_unauthorized_publish_creates_nothing(bus):
    assert_error(bus.post("/intent", bus.intent_body(), key="wrong"), 401, "unauthorized")
    bus.claim_none()


def test_key_header_case_insensitive(bus):
    r = bus.request("POST", "/intent", bus.intent_body(), key=None, headers={"x-api-key": bus.key})
    assert r.status == 201, r.raw


# ---- wrong types in other bodies ------------------------------------------------

def test_wrong_types_in_claim_body(bus):
    assert_error(bus.post("/claim", {"namespace": bus.ns, "goal": ["a"]}), 400, "invalid_goal")
    assert_error(bus.post("/claim", {"namespace": ["x"]}), 400, "invalid_namespace")


def test_empty_claim_body_is_empty_object(bus):
    goal = unique("g")
    r = bus.request("POST", "/claim?goal=" + goal, b"")
    assert r.status == 204


# ---- raw HTTP ---------------------------------------------------------------------

def raw_http(port, data, timeout=5):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
        except socket.timeout:
            pass
    return b"".join(chunks)


def test_garbage_request_line_no_crash(bus, shared_server):
    for data in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
                 b"GARBAGE\r\n\r\n",
                 b"POST /intent HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                 b"POST /intent HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n"):
        out = raw_http(shared_server.port, data)
        assert not out.startswith(b"HTTP/1.1 5") and not out.startswith(b"HTTP/1.0 5"), out[:200]
    assert bus.get("/health", key=None).status == 200


def test_declared_length_over_limit_without_body(shared_server, bus):
    data = (b"POST /intent HTTP/1.1\r\nHost: x\r\nX-API-KEY: " + bus.key.encode() +
            b"\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n" + b"{" * 100)
    out = raw_http(shared_server.port, data, timeout=3)
    # Answering early is not required; if the server answers, it must be a 413.
    assert out == b"" or out.startswith(b"HTTP/1.1 413"), out[:300]
    assert bus.get("/health", key=None).status == 200
