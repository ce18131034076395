"""Black-box HTTP fuzzing (docs/FUZZING.md): seeded malformed requests over
raw sockets. Never a 5xx from the bus, never a crash, every 4xx the bus
answers in the error shape with the five headers, /health answering after.
Malformed heads and framing too are answered by the bus (docs/SECURITY.md);
505 for an HTTP version but 1.0/1.1 is the one 5xx allowed."""

import os
import random

from rawhttp import assert_error_shape, exchange, parse_answers

SEED = int(os.environ.get("HTTP_FUZZ_SEED", "20261202"))
CASES = int(os.environ.get("HTTP_FUZZ_CASES", "400"))

METHODS = [b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH", b"TRACE", b"CONNECT",
           b"get", b"G\x00T", b"", b"POST POST", b"\xff\xfe"]
PATHS = [b"/health", b"/intent", b"/claim", b"/claim?wait=30", b"/fulfill/abc", b"/fail/abc",
         b"/extend_claim/abc", b"/result/abc?wait=0x10", b"/status/abc", b"/set/k", b"/get/k",
         b"/admin/stats", b"/metrics", b"/", b"*", b"http://x/health", b"/%00", b"/%zz",
         b"/../../etc/passwd", b"/health?" + b"&".join([b"a=b"] * 300), b"/" + b"a" * 5000,
         b"/claim?wait=%205", b"/claim?wait=1e1&wait=2", b"/intent#frag", b"/\xc3\x28"]
VERSIONS = [b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/9.9", b"HTTP/1.1 extra", b"", b"http/1.1",
            b"HTTP/1", b"HTTP/1.10", b"HTTPS/1.1"]
BODIES = [b"", b"{}", b'{"goal":"g","payload":{}}', b"{", b"[]", b"null", b'{"goal":"\\u0000"}',
          b"\xff\xfe\xfd", b"{" * 5000, b'{"payload":' + b"1" * 400 + b"}", b"x" * 9000]


def header_block(rng, key):
    headers = [b"Host: x"]
    choices = [
        lambda: b"X-API-KEY: " + key,
        lambda: b"X-API-KEY: wrong",
        lambda: b"Content-Type: application/json",
        lambda: b"Content-Length: %d" % rng.choice([-1, 0, 5, 8193, 10 ** 12]),
        lambda: b"Content-Length: 0x10",
        lambda: b"Transfer-Encoding: chunked",
        lambda: b"Transfer-Encoding: gzip, chunked",
        lambda: b"Expect: 100-continue",
        lambda: b"Connection: close",
        lambda: b"NoColonHere",
        lambda: b" leading-space: x",
        lambda: b"X-Big: " + b"v" * rng.choice([100, 9000, 20000]),
        lambda: b"X-Forwarded-For: 203.0.113.%d" % rng.randrange(256),
        lambda: b"Authorization: Basic " + rng.choice([b"!!!", b"YWRtaW46", b""]),
        lambda: b"X-Timestamp: " + rng.choice([b"0x10", b"1e9", b"-1", b"99999999999999999999"]),
        lambda: b"X-Signature: " + b"z" * rng.choice([0, 64, 300]),
        lambda: b"Idempotency-Key: " + bytes(rng.randrange(1, 255) for _ in range(20)),
    ]
    for _ in range(rng.randrange(0, 6)):
        headers.append(rng.choice(choices)())
    if rng.random() < 0.05:
        headers += [b"X-%d: v" % i for i in range(rng.choice([70, 300]))]
    return headers


def chunked(rng, body):
    if rng.random() < 0.5:
        return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    return rng.choice([b"zz\r\nabc\r\n0\r\n\r\n", b"5\r\nabc\r\n", b"ffffffffffffffff\r\nx\r\n",
                       b"3;ext\r\nabc\r\n0\r\nTrailer: x\r\n\r\n", b"-1\r\n"])


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randrange(0, 4)):
        if not data:
            break
        at = rng.randrange(len(data))
        action = rng.randrange(4)
        if action == 0:
            data[at] = rng.randrange(256)
        elif action == 1:
            del data[at:at + rng.randrange(1, 8)]
        elif action == 2:
            data[at:at] = rng.choice([b"\r\n", b"\n", b"\x00", b" ", b":", b"%", b"\r\n\r\n"])
        else:
            data = data[:at]
    return bytes(data)


def one_case(rng, key):
    body = rng.choice(BODIES)
    headers = header_block(rng, key)
    if any(h.startswith(b"Transfer-Encoding") for h in headers):
        payload = chunked(rng, body)
    else:
        payload = body
        if body and not any(h.startswith(b"Content-Length") for h in headers):
            headers.append(b"Content-Length: %d" % len(body))
    line = b" ".join(part for part in (rng.choice(METHODS), rng.choice(PATHS), rng.choice(VERSIONS))
                     if part)
    request = line + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + payload
    if rng.random() < 0.3:
        request = mutate(rng, request)
    if rng.random() < 0.1:
        request = request + request  # pipelined
    return request


def check(answer, request):
    where = f"request {request[:200]!r} -> {answer.raw[:300]!r}"
    assert "x-intent-version" in answer.headers, where
    assert answer.status < 500 or answer.status == 505, where
    if b'"bad_request"' in answer.body or b'"http_version_not_supported"' in answer.body:
        # Malformed input: the framing of what follows is unknown.
        assert answer.headers.get("connection") == ["close"], where
    if answer.status >= 400 and answer.body:
        assert_error_shape(answer)


def test_malformed_requests_never_hurt_the_bus(server_factory):
    srv = server_factory(env={"BUS_HEAD_TIMEOUT_SECONDS": "2", "BUS_BODY_TIMEOUT_SECONDS": "2"})
    rng = random.Random(SEED)
    key = srv.key.encode()
    for number in range(CASES):
        request = one_case(rng, key)
        raw = exchange(srv.port, request, timeout=5, shut_write=True)
        for answer in parse_answers(raw, head_request=request.startswith(b"HEAD ")):
            if answer.status == 100:
                continue
            check(answer, request)
        assert srv.alive(), f"case {number} (seed {SEED}) killed the server:\n{srv.stderr()}"
    health = srv.client().get("/health", key=None)
    assert health.status == 200
