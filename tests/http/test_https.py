"""HTTPS: native TLS (--tls-cert/--tls-key), BUS_ENFORCE_HTTPS, and
BUS_TRUST_PROXY deciding whether X-Forwarded-Proto / X-Forwarded-For are
believed."""

import http.client
import json
import shutil
import ssl
import subprocess
import time

import pytest

from conftest import SECURITY_HEADERS, unique

OPENSSL = shutil.which("openssl")


@pytest.fixture
def certificate(tmp_path):
    if OPENSSL is None:
        pytest.skip("openssl command not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def https_request(server, cert, method, path, body=None, headers=None):
    context = ssl.create_default_context(cafile=str(cert))
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=10, context=context)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        raw = resp.read()
        for name, value in SECURITY_HEADERS.items():
            assert resp.getheader(name) == value
        return resp.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def start_tls(server_factory, cert, key, env=None):
    s = server_factory(env=env, start=False, extra_args=("--tls-cert", str(cert), "--tls-key", str(key)))
    s.spawn()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert s.proc.poll() is None, s.stderr()
        try:
            if https_request(s, cert, "GET", "/health")[0] == 200:
                return s
        except (OSError, ssl.SSLError):
            time.sleep(0.05)
    pytest.fail("TLS server did not start:\n" + s.stderr())


def test_native_tls_serves_the_api(server_factory, certificate):
    cert, key = certificate
    s = start_tls(server_factory, cert, key, env={"BUS_ENFORCE_HTTPS": "true"})
    status, body = https_request(s, cert, "POST", "/intent",
                                 json.dumps({"goal": "g", "payload": 1, "namespace": unique("tls")}),
                                 {"X-API-KEY": s.key})
    assert status == 201 and len(body["id"]) == 32
    assert "listening on https://" in s.stderr()


def test_plain_http_to_tls_port_gets_no_answer(server_factory, certificate):
    cert, key = certificate
    s = start_tls(server_factory, cert, key)
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
    with pytest.raises((http.client.HTTPException, OSError)):
        conn.request("GET", "/health")
        conn.getresponse().read()
    conn.close()


def test_tls_needs_both_files(server_factory, certificate):
    cert, _ = certificate
    s = server_factory(start=False, extra_args=("--tls-cert", str(cert)))
    s.spawn()
    assert s.proc.wait(10) != 0


def test_enforce_https_refuses_plain_http(server_factory):
    s = server_factory(env={"BUS_ENFORCE_HTTPS": "true", "BUS_ADMIN_SECRET": "adm-" + "x" * 20})
    c = s.client(ns=unique("plain"))
    r = c.post("/intent", {"goal": "g", "payload": 1})
    assert r.status == 403 and r.json["error"]["code"] == "forbidden"
    r = c.get("/admin/stats", headers={"X-Admin-Token": "adm-" + "x" * 20}, key=None)
    assert r.status == 403
    assert c.get("/health", key=None).status == 200  # liveness probes keep working
    # A client cannot claim HTTPS unless the operator trusts a proxy.
    r = c.post("/intent", {"goal": "g", "payload": 1}, headers={"X-Forwarded-Proto": "https"})
    assert r.status == 403


def test_trusted_proxy_may_vouch_for_https(server_factory):
    s = server_factory(env={"BUS_ENFORCE_HTTPS": "true", "BUS_TRUST_PROXY": "true"})
    c = s.client(ns=unique("proxy"))
    assert c.post("/intent", {"goal": "g", "payload": 1},
                  headers={"X-Forwarded-Proto": "https"}).status == 201
    assert c.post("/intent", {"goal": "g", "payload": 1},
                  headers={"X-Forwarded-Proto": "http"}).status == 403
    assert c.post("/intent", {"goal": "g", "payload": 1}).status == 403


def test_forwarded_for_is_logged_only_behind_a_trusted_proxy(server_factory):
    trusted = server_factory(env={"BUS_TRUST_PROXY": "true"})
    trusted.client(ns=unique("xff")).post("/claim", headers={"X-Forwarded-For": "203.0.113.9, 10.0.0.1"})
    claims = trusted.log_lines(until=lambda lines: any("/claim" in l for l in lines))
    assert any('client="203.0.113.9"' in l for l in claims), claims
    plain = server_factory()
    plain.client(ns=unique("xff")).post("/claim", headers={"X-Forwarded-For": "203.0.113.9"})
    claims = plain.log_lines(until=lambda lines: any("/claim" in l for l in lines))
    assert any('client="127.0.0.1"' in l for l in claims), claims
    assert "203.0.113.9" not in plain.stderr()


def test_chunked_body_over_limit_answered_early_over_tls(server_factory, certificate):
    """The 413 of a body past its limit arrives while the body is still
    being sent, over HTTPS as over HTTP (test_edge.py)."""
    import select
    import socket
    cert, key = certificate
    s = start_tls(server_factory, cert, key)
    context = ssl.create_default_context(cafile=str(cert))
    sock = context.wrap_socket(socket.create_connection(("127.0.0.1", s.port), timeout=10),
                               server_hostname="127.0.0.1")
    total, sent = 64 << 20, 0
    chunk = b"%x\r\n" % 4096 + b" " * 4096 + b"\r\n"
    with sock:
        sock.sendall(b"POST /intent HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"X-API-KEY: " + s.key.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            while sent < total and not select.select([sock], [], [], 0)[0]:
                sock.sendall(chunk)
                sent += 4096
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            pass
        out = b""
        while not (b"\r\n\r\n" in out and out.endswith(b"\n")):
            data = sock.recv(65536)
            if not data:
                break
            out += data
    assert sent < total // 2, f"the 413 arrived after {sent} of {total} bytes"
    assert out.startswith(b"HTTP/1.1 413 "), out[:300]
    assert b'"payload_too_large"' in out and b"\r\nConnection: close\r\n" in out, out[:400]
