"""The HTTP edge (docs/SECURITY.md "Limits at the edge"): request targets
and heads past their limits answered in the error shape, slow clients cut at
fixed deadlines, the per-address connection cap, and early 413s."""

import re
import select
import socket
import threading
import time

import pytest

from conftest import assert_error
from rawhttp import assert_error_shape, exchange, parse_answer


def get(target, headers=()):
    lines = [b"GET " + target + b" HTTP/1.1", b"Host: x"] + [b"%s: %s" % h for h in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def answer_to(port, data, **kw):
    return parse_answer(exchange(port, data, **kw))


def read_one_answer(sock):
    """One complete answer from a kept-alive connection (the bus's bodies
    end with a newline)."""
    out = b""
    while parse_answer(out) is None or not parse_answer(out).body.endswith(b"\n"):
        chunk = sock.recv(4096)
        assert chunk, "the server closed a kept-alive connection"
        out += chunk
    return parse_answer(out)


def test_many_query_parameters_answered_at_once(shared_server):
    # 250 parameters, a 1 KB request line: once silence for 60 s (the
    # exchange gives up after 5 s, so an answer must come before).
    answer = answer_to(shared_server.port, get(b"/health?" + b"&".join([b"a=b"] * 250)))
    assert_error_shape(answer, 414, "uri_too_long")


def test_query_parameters_up_to_the_limit_accepted(shared_server):
    answer = answer_to(shared_server.port, get(b"/health?" + b"&".join([b"a=b"] * 64)))
    assert answer.status == 200, answer.raw[:300]


@pytest.mark.parametrize("length", [4097, 6000, 15000])
def test_long_target_is_414_in_the_error_shape(shared_server, length):
    target = b"/health?x=" + b"a" * (length - 10)
    assert_error_shape(answer_to(shared_server.port, get(target)), 414, "uri_too_long")


def test_target_at_the_limit_accepted(shared_server):
    answer = answer_to(shared_server.port, get(b"/health?x=" + b"a" * (4096 - 10)))
    assert answer.status == 200, answer.raw[:300]


@pytest.mark.parametrize("fields", [64, 100, 150])
def test_many_header_fields_are_431_in_the_error_shape(shared_server, fields):
    headers = [(b"X-%d" % i, b"v") for i in range(fields)]
    assert_error_shape(answer_to(shared_server.port, get(b"/health", headers)), 431,
                       "headers_too_large")


@pytest.mark.parametrize("size", [8300, 12000, 15500])
def test_large_head_is_431_in_the_error_shape(shared_server, size):
    answer = answer_to(shared_server.port, get(b"/health", [(b"X-Big", b"v" * size)]))
    assert_error_shape(answer, 431, "headers_too_large")


def test_head_within_limits_accepted(shared_server):
    headers = [(b"X-%d" % i, b"v" * 100) for i in range(62)]
    answer = answer_to(shared_server.port, get(b"/health?" + b"&".join([b"a=b"] * 64), headers))
    assert answer.status == 200, answer.raw[:300]


@pytest.mark.parametrize("wait", ["0x10", "0x1p3", "%205", "5%20", "1e1", "-0", "+5", "inf",
                                  "nan", ".5", "5.", "1,5"])
def test_wait_must_be_a_plain_decimal(bus, wait):
    r = bus.request("POST", f"/claim?wait={wait}", body={"goal": "g", "namespace": bus.ns})
    assert_error(r, 400, "invalid_wait")


def test_plain_decimal_wait_accepted(bus):
    r = bus.request("POST", "/claim?wait=0.25", body={"goal": "g", "namespace": bus.ns})
    assert r.status == 204


def test_declared_body_over_limit_answered_before_it_is_sent(shared_server):
    for method in (b"POST /intent", b"POST /claim", b"GET /health"):
        data = (method + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100000000\r\n\r\n")
        # No body follows: only an answer that does not wait for it arrives.
        answer = answer_to(shared_server.port, data, timeout=5)
        assert_error_shape(answer, 413)


@pytest.mark.parametrize("framing", [
    b"Content-Length: 5\r\nContent-Length: 100000000",
    b"Content-Length: 5\r\nContent-Length: 5",
    b"Content-Length: 5\r\nTransfer-Encoding: chunked",
    b"Transfer-Encoding: chunked\r\nContent-Length: 100000000",
])
def test_two_framings_of_one_body_refused(shared_server, framing):
    data = (b"POST /intent HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
            framing + b"\r\n\r\n")
    assert_error_shape(answer_to(shared_server.port, data, timeout=5), 400, "invalid_request")


def send_chunked_until_answered(port, target, key, total):
    """Sends a chunked body of total bytes in 4 KB chunks, looking for an
    answer between chunks; returns (bytes sent before the answer began
    to arrive, the raw answer)."""
    chunk = b"%x\r\n" % 4096 + b" " * 4096 + b"\r\n"
    sent, out = 0, b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST " + target + b" HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nX-API-KEY: " + key.encode() +
                     b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            while sent < total:
                if select.select([sock], [], [], 0)[0]:
                    break
                sock.sendall(chunk)
                sent += 4096
        except (ConnectionResetError, BrokenPipeError):
            pass
        answered_after = sent
        deadline = time.monotonic() + 10
        try:
            while time.monotonic() < deadline:
                answer = parse_answer(out)
                if answer is not None and answer.body.endswith(b"\n"):
                    break
                data = sock.recv(65536)
                if not data:
                    break
                out += data
        except (ConnectionResetError, socket.timeout):
            pass
    return answered_after, parse_answer(out)


@pytest.mark.parametrize("target,limit", [(b"/intent", 8192), (b"/intents", 1 << 20),
                                          (b"/fulfill", 1 << 20)])
def test_chunked_body_over_limit_answered_while_it_is_sent(shared_server, target, limit):
    # Far more than the socket buffers hold, so that a client stopped by
    # the answer is told apart from one whose whole body fitted in them.
    total = 64 << 20
    sent, answer = send_chunked_until_answered(shared_server.port, target, shared_server.key,
                                               total)
    assert_error_shape(answer, 413, "payload_too_large")
    assert answer.headers.get("connection") == ["close"], answer.raw[:400]
    # Answered once the limit was passed, not at the end of the body.
    assert sent < total // 2, f"the 413 arrived after {sent} of {total} bytes"
    assert shared_server.client().get("/health", key=None).status == 200


def cut_within(sock, seconds, trickle):
    """Sends trickle one byte a second until the server closes; returns
    the seconds it took, or None if it never did within seconds."""
    started = time.monotonic()
    sock.settimeout(1)
    for byte in trickle:
        try:
            sock.send(bytes([byte]))
            if sock.recv(1024) == b"":
                return time.monotonic() - started
        except socket.timeout:
            pass
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - started
        if time.monotonic() - started > seconds:
            return None
    return None


def test_slow_head_is_cut_at_its_deadline(server_factory):
    srv = server_factory(env={"BUS_HEAD_TIMEOUT_SECONDS": "2"})
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        took = cut_within(sock, 15, b"X-Slow: " + b"a" * 60)
    assert took is not None, "a head sent one byte a second was never cut"
    assert srv.client().get("/health", key=None).status == 200


def test_slow_body_is_cut_at_its_deadline(server_factory):
    srv = server_factory(env={"BUS_BODY_TIMEOUT_SECONDS": "2"})
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(b"POST /intent HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"X-API-KEY: " + srv.key.encode() + b"\r\nContent-Length: 100\r\n\r\n")
        took = cut_within(sock, 15, b"{" + b" " * 98)
    assert took is not None, "a body sent one byte a second was never cut"


def test_parked_long_poll_outlives_the_deadlines(server_factory):
    srv = server_factory(env={"BUS_HEAD_TIMEOUT_SECONDS": "1", "BUS_BODY_TIMEOUT_SECONDS": "1"})
    c = srv.client()
    started = time.monotonic()
    r = c.request("POST", "/claim?wait=3", body={"goal": "g", "namespace": c.ns})
    assert r.status == 204 and time.monotonic() - started >= 2.5


def hold_connections(port, count, attempts=50):
    """count kept-alive connections, each answered once. The server counts a
    closed connection (such as the start-up probe's) down only when it sees
    the close, so a connection that arrives just before may be refused:
    try again until all are in."""
    for _ in range(attempts):
        held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
        try:
            for sock in held:
                sock.sendall(get(b"/health"))
                assert read_one_answer(sock).status == 200
            return held
        except (AssertionError, OSError):
            for sock in held:
                sock.close()
            time.sleep(0.1)
    raise AssertionError(f"could not hold {count} connections")


def test_per_address_cap_leaves_other_addresses_served(server_factory):
    srv = server_factory(env={"BUS_MAX_CONNECTIONS_PER_IP": "4"})
    held = hold_connections(srv.port, 4)
    try:
        # The fifth from the same address is closed without an answer ...
        assert exchange(srv.port, get(b"/health"), timeout=3) == b""
        # ... while another address is answered.
        other = answer_to(srv.port, get(b"/health"), source="127.0.0.2")
        assert other is not None and other.status == 200
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    answer = answer_to(srv.port, get(b"/health"))
    assert answer is not None and answer.status == 200


def test_per_forwarded_address_cap_behind_a_proxy(server_factory):
    srv = server_factory(env={"BUS_MAX_CONNECTIONS_PER_IP": "2", "BUS_TRUST_PROXY": "1",
                              "BUS_METRICS_TOKEN": "edge-metrics"})
    c = srv.client()
    results = []

    def park():
        client = srv.client(ns=c.ns)
        r = client.request("POST", "/claim?wait=15", body={"goal": "g", "namespace": c.ns},
                           headers={"X-Forwarded-For": "203.0.113.7"})
        results.append(r.status)
        client.close()

    def parked_claims():
        r = c.request("GET", "/metrics", key=None, check=False,
                      headers={"Authorization": "Bearer edge-metrics",
                               "X-Forwarded-For": "198.51.100.9"})
        found = re.search(rb'intent_bus_long_poll_waiters\{kind="claim"\} (\d+)', r.raw)
        return int(found.group(1)) if found else -1

    threads = [threading.Thread(target=park) for _ in range(2)]
    for t in threads:
        t.start()
    # Wait until both are parked (counted against 203.0.113.7), asking from
    # another address, so no probe of ours takes one of 203.0.113.7's slots
    # while a claim is on its way.
    deadline = time.monotonic() + 10
    while parked_claims() < 2:
        assert time.monotonic() < deadline, results
        time.sleep(0.05)
    r = c.request("GET", "/health", key=None, headers={"X-Forwarded-For": "203.0.113.7"})
    assert_error(r, 429, "too_many_connections")
    assert r.headers.get("retry-after") == "1"
    r = c.request("GET", "/health", key=None, headers={"X-Forwarded-For": "198.51.100.1"})
    assert r.status == 200
    for t in threads:
        t.join()
    assert results == [204, 204]
    r = c.request("GET", "/health", key=None, headers={"X-Forwarded-For": "203.0.113.7"})
    assert r.status == 200


@pytest.mark.parametrize("name,value", [
    ("BUS_MAX_CONNECTIONS_PER_IP", "0"), ("BUS_MAX_CONNECTIONS_PER_IP", "4097"),
    ("BUS_MAX_CONNECTIONS_PER_IP", "abc"), ("BUS_HEAD_TIMEOUT_SECONDS", "0"),
    ("BUS_HEAD_TIMEOUT_SECONDS", "1.5"), ("BUS_BODY_TIMEOUT_SECONDS", "3601")])
def test_edge_settings_out_of_range_refused(server_factory, name, value):
    srv = server_factory(env={name: value}, start=False)
    proc = srv.spawn()
    assert proc.wait(10) != 0
    assert name in srv.stderr()


def test_kept_alive_connection_outlives_the_head_deadline(server_factory):
    # Waiting for the next request is not a slow head: the 60 s idle
    # deadline applies there, not BUS_HEAD_TIMEOUT_SECONDS.
    srv = server_factory(env={"BUS_HEAD_TIMEOUT_SECONDS": "1"})
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
        for _ in range(2):
            sock.sendall(get(b"/health"))
            assert read_one_answer(sock).status == 200
            time.sleep(2.5)
