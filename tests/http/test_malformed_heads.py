"""Malformed request heads and framing (issue 15, item 1): each answered by
the bus itself, in the error shape of spec section 10 with the five headers
of section 9, then the connection closed; the bus serves others after."""

import json
import socket

import pytest

from conftest import SECURITY_HEADERS
from rawhttp import exchange, parse_answer, parse_answers


def answer_shape(raw, status, code):
    """The one answer in raw: status, JSON error shape, the five headers,
    Connection: close."""
    answer = parse_answer(raw)
    assert answer is not None, f"no HTTP answer: {raw[:300]!r}"
    assert answer.status in status if isinstance(status, tuple) else answer.status == status, \
        answer.raw[:300]
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get(name) == [value], (name, answer.raw[:400])
    assert answer.headers.get("content-type") == ["application/json"], answer.raw[:400]
    assert answer.headers.get("connection") == ["close"], answer.raw[:400]
    body = json.loads(answer.body)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    codes = code if isinstance(code, tuple) else (code,)
    assert body["error"]["code"] in codes, body
    return answer


def still_serving(port):
    raw = exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = parse_answer(raw)
    assert answer is not None and answer.status == 200, raw[:300]


BAD_HEADS = {
    "method alone": b"GET\r\n\r\n",
    "no version": b"GET /health\r\n\r\n",
    "header without colon": b"GET /health HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
    "space before colon": b"GET /health HTTP/1.1\r\nHost : x\r\n\r\n",
    "nul in method": b"G\x00T /health HTTP/1.1\r\nHost: x\r\n\r\n",
    "space in target": b"GET /hea lth HTTP/1.1\r\nHost: x\r\n\r\n",
    "lower-case version": b"GET /health http/1.1\r\nHost: x\r\n\r\n",
    "version without minor": b"GET /health HTTP/1\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(BAD_HEADS))
def test_unparsable_head_is_400_in_the_error_shape(shared_server, name):
    answer_shape(exchange(shared_server.port, BAD_HEADS[name]), 400, "bad_request")
    still_serving(shared_server.port)


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/9.9", b"HTTP/0.9", b"HTTP/3.0"])
def test_unsupported_version_is_505_in_the_error_shape(shared_server, version):
    request = b"GET /health " + version + b"\r\nHost: x\r\n\r\n"
    answer_shape(exchange(shared_server.port, request), 505, "http_version_not_supported")
    still_serving(shared_server.port)


@pytest.mark.parametrize("length", [b"-1", b"1e9", b"0x10", b"+5", b"5 5", b"", b"five"])
def test_content_length_not_a_plain_decimal_is_400(shared_server, length):
    request = (b"POST /intent HTTP/1.1\r\nHost: x\r\nX-API-KEY: " + shared_server.key.encode() +
               b"\r\nContent-Type: application/json\r\nContent-Length: " + length +
               b"\r\n\r\n{}")
    answer_shape(exchange(shared_server.port, request), 400, "bad_request")
    still_serving(shared_server.port)


def test_content_length_past_two_to_the_64_is_refused(shared_server):
    request = (b"POST /intent HTTP/1.1\r\nHost: x\r\nX-API-KEY: " + shared_server.key.encode() +
               b"\r\nContent-Length: 99999999999999999999999\r\n\r\n{}")
    answer_shape(exchange(shared_server.port, request), (400, 413),
                 ("bad_request", "payload_too_large"))
    still_serving(shared_server.port)


BAD_CHUNKS = {
    "size not hex": b"zz\r\nabc\r\n0\r\n\r\n",
    "negative size": b"-1\r\n",
    "data longer than its size": b"3\r\nabcdef\r\n0\r\n\r\n",
    "size past two to the 64": b"1ffffffffffffffff\r\nx\r\n",
}


@pytest.mark.parametrize("name", sorted(BAD_CHUNKS))
def test_bad_chunked_framing_is_refused_in_the_error_shape(shared_server, name):
    request = (b"POST /intent HTTP/1.1\r\nHost: x\r\nX-API-KEY: " + shared_server.key.encode() +
               b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
               BAD_CHUNKS[name])
    answer_shape(exchange(shared_server.port, request, shut_write=True), (400, 413),
                 ("bad_request", "payload_too_large"))
    still_serving(shared_server.port)


def test_malformed_request_after_a_good_one_on_one_connection(shared_server):
    good = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    bad = b"GET /health HTTP/1.1\r\nNoColonHere\r\n\r\n"
    with socket.create_connection(("127.0.0.1", shared_server.port), timeout=5) as sock:
        sock.sendall(good + bad)
        raw = b""
        while True:  # the bus closes after the refusal
            chunk = sock.recv(65536)
            if not chunk:
                break
            raw += chunk
    answers = parse_answers(raw)
    assert [a.status for a in answers] == [200, 400], raw[:600]
    answer_shape(answers[1].raw, 400, "bad_request")
    still_serving(shared_server.port)
