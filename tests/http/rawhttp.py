"""Raw-socket HTTP for the edge tests: bytes in, the parsed answer out, so
requests no HTTP library would send (malformed, huge, slow) can be made."""

import json
import socket
import time
from collections import namedtuple

from conftest import SECURITY_HEADERS

RawAnswer = namedtuple("RawAnswer", "status headers body raw")


def parse_answer(raw, head_request=False):
    """RawAnswer of the first response in raw bytes, or None when there is
    none. The answer to a HEAD request has a Content-Length but no body."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/1."):
        return None
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    length = 0 if head_request else int(headers.get("content-length", ["0"])[0])
    return RawAnswer(status, headers, body[:length], raw)


def parse_answers(raw, head_request=False):
    """Every complete response in raw bytes, in order (pipelined requests)."""
    answers = []
    while raw:
        answer = parse_answer(raw, head_request)
        if answer is None:
            break
        head_length = raw.index(b"\r\n\r\n") + 4
        answers.append(answer._replace(raw=raw[:head_length + len(answer.body)]))
        raw = raw[head_length + len(answer.body):]
    return answers


def exchange(port, data, timeout=5.0, source="127.0.0.1", shut_write=False):
    """Sends data and reads until the server closes or one full answer
    arrived; returns the raw bytes (b"" when closed without an answer)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                    source_address=(source, 0))
    out = b""
    try:
        sock.sendall(data)
        if shut_write:
            sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = parse_answer(out)
            if answer is not None and len(answer.body) >= int(
                    answer.headers.get("content-length", ["0"])[0]):
                break
            chunk = sock.recv(65536)
            if not chunk:
                break
            out += chunk
    except OSError:  # reset, broken pipe, not connected, timeout: the server is done
        pass
    finally:
        sock.close()
    return out


def assert_error_shape(answer, status=None, code=None):
    """A 4xx answer (or the 505 of an unsupported HTTP version) in the
    spec's error shape, with the five headers of section 9 and a JSON
    Content-Type."""
    assert answer is not None, "no answer"
    if status is not None:
        assert answer.status == status, answer.raw[:300]
    assert 400 <= answer.status < 500 or answer.status == 505, answer.raw[:300]
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get(name) == [value], (name, answer.raw[:400])
    assert answer.headers.get("content-type") == ["application/json"], answer.raw[:400]
    body = json.loads(answer.body)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body
