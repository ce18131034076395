"""Strict auth: HMAC-SHA256 request signing (Intent Protocol v2.1 section 5.2).

Black-box tests against a real server; the rules are docs/SIGNING.md. The
signer below is an independent Python implementation (stdlib only) of the
canonicalization described there, checked against the document's worked
example and its table of canonical paths before it is used against the server.

Signed requests go through `Client.request`, which hands the request-target
and the body bytes to http.client unchanged (it only adds X-API-KEY and, when
there is a body, Content-Type; neither is signed), so the bytes signed are
the bytes sent and every response still gets the central checks.
"""

import hashlib
import hmac
import http.client
import json
import secrets
import subprocess
import time
import urllib.parse

import pytest

from conftest import (Client, Server, admin_client, answered_once_unlocked, assert_error, sqlite_only,
                      unique)

# ---------------------------------------------------------------------------
# The signer (docs/SIGNING.md)

UNRESERVED = "-._~"  # with A-Z a-z 0-9, which quote() never encodes


def _enc(raw, keep=""):
    """RFC 3986 percent-encoding of bytes, uppercase hex."""
    return urllib.parse.quote(raw, safe=UNRESERVED + keep)


def _query_unquote(text):
    """How the server decodes a query key or value: '+' is a space, then %XX."""
    return urllib.parse.unquote_to_bytes(text.replace("+", " "))


def canonical_path(target):
    """CANONICAL_PATH of a request-target, decoded the way the server decodes it."""
    path, _, query = target.partition("?")
    out = _enc(urllib.parse.unquote_to_bytes(path), keep="/")
    params = []
    for part in query.split("&"):
        if part == "":
            continue  # '&&', trailing '&', or no query at all
        k, _, v = part.partition("=")  # no '=' -> blank value
        params.append((_query_unquote(k), _enc(_query_unquote(k)), _enc(_query_unquote(v))))
    params.sort(key=lambda p: p[0])  # decoded key; stable, so repeated keys stay as sent
    if params:
        out += "?" + "&".join(f"{k}={v}" for _, k, v in params)
    return out


def string_to_sign(method, target, timestamp, nonce, body):
    return b"\n".join([method.encode("ascii"), canonical_path(target).encode("ascii"),
                       timestamp.encode("utf-8"), nonce.encode("utf-8"), body])


def compute_signature(key, method, target, timestamp, nonce, body=b""):
    return hmac.new(key.encode("utf-8"), string_to_sign(method, target, timestamp, nonce, body),
                    hashlib.sha256).hexdigest()


def now_ts():
    return str(int(time.time()))


def signing_headers(key, method, target, body=b"", timestamp=None, nonce=None):
    timestamp = now_ts() if timestamp is None else timestamp
    nonce = secrets.token_hex(16) if nonce is None else nonce
    return {"X-Timestamp": timestamp, "X-Nonce": nonce,
            "X-Signature": compute_signature(key, method, target, timestamp, nonce, body)}


def jbytes(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def send(client, method, target, body=b"", headers=None, key=None):
    """Send exactly `body` to exactly `target` with these headers (X-API-KEY: key)."""
    return client.request(method, target, body=body if body else None, headers=headers,
                          key=client.key if key is None else key)


def send_signed(client, method, target, body=b"", key=None, timestamp=None, nonce=None):
    key = client.key if key is None else key
    return send(client, method, target, body,
                signing_headers(key, method, target, body, timestamp, nonce), key=key)


def assert_signature_refused(resp):
    """A valid key with a bad, stale, replayed or missing signature: 403
    invalid_signature, as the original server answers (401 is for keys)."""
    assert_error(resp, 403, "invalid_signature")


def wait_second_start(max_fraction=0.3):
    """Sleep until just after a second boundary, so an integer timestamp at a
    given offset from now cannot cross the +-300 s line while it travels."""
    while time.time() % 1 > max_fraction:
        time.sleep(0.02)


# ---------------------------------------------------------------------------
# Servers

def _start(workdir, env):
    srv = Server(workdir, env=env)
    srv.start()
    return srv


def _admin_env(**extra):
    env = {"BUS_ADMIN_SECRET": "adm-" + secrets.token_hex(16)}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def sig_server(tmp_path_factory):
    """Default settings (signatures optional) plus an admin secret for tester keys."""
    srv = _start(tmp_path_factory.mktemp("signing"), _admin_env())
    yield srv
    srv.shutdown_and_check()


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory):
    """BUS_REQUIRE_SIGNATURES=true."""
    srv = _start(tmp_path_factory.mktemp("signing_strict"),
                 _admin_env(BUS_REQUIRE_SIGNATURES="true"))
    yield srv
    srv.shutdown_and_check()


def new_tester_key(srv, owner="signing"):
    c = srv.client(key=None)
    r = c.request("POST", "/admin/generate_key", body={"owner": owner}, key=None,
                  headers={"X-Admin-Token": srv.extra_env["BUS_ADMIN_SECRET"]})
    assert r.status == 201, f"generate_key: {r.status} {r.raw!r}"
    key = r.json["api_key"]
    assert key.startswith("tk_"), r.json
    return key


@pytest.fixture
def sc(sig_server):
    """A client (main key) on the signing server."""
    c = sig_server.client()
    yield c
    c.close()
    assert sig_server.alive(), f"server died during this test:\n{sig_server.stderr()}"


@pytest.fixture
def tester_key(sig_server):
    return new_tester_key(sig_server)


def publish_body(ns, **extra):
    body = {"goal": "job", "payload": {"s": "caf\u00e9", "n": 1}, "namespace": ns}
    body.update(extra)
    return jbytes(body)


# ---------------------------------------------------------------------------
# The signer agrees with docs/SIGNING.md

def test_worked_example_digest():
    target = "/claim?namespace=default&goal=send_notification"
    assert canonical_path(target) == "/claim?goal=send_notification&namespace=default"
    sts = string_to_sign("POST", target, "1795424655", "c5a1e0b94d2f4a7e8b3c6d9f01a2b3c4", b"{}")
    assert sts == (b"POST\n/claim?goal=send_notification&namespace=default\n1795424655\n"
                   b"c5a1e0b94d2f4a7e8b3c6d9f01a2b3c4\n{}")
    assert len(sts) == 99
    assert compute_signature("tk_example_key_7f3a", "POST", target, "1795424655",
                             "c5a1e0b94d2f4a7e8b3c6d9f01a2b3c4", b"{}") == (
        "c3d5e1245b3e34bab697a9a9de8ec5af177633f95da3891d340fea4bf4f33035")


@pytest.mark.parametrize("target, expected", [
    ("/claim?namespace=default&goal=send_notification", "/claim?goal=send_notification&namespace=default"),
    ("/x?b=2&a=1&a=&c", "/x?a=1&a=&b=2&c="),
    ("/x?q=hello%20world&q=a+b&r=%2f%7e", "/x?q=hello%20world&q=a%20b&r=%2F~"),
    ("/set/a+b%20c", "/set/a%2Bb%20c"),
    ("/get/caf%c3%a9", "/get/caf%C3%A9"),
    ("/claim?", "/claim"),
    ("/x?tag=z&tag=a", "/x?tag=z&tag=a"),
    ("/x?a-b=1&a=2", "/x?a=2&a-b=1"),
    ("/x?&&=v&", "/x?=v"),
])
def test_canonical_path_examples(target, expected):
    assert canonical_path(target) == expected


# ---------------------------------------------------------------------------
# Signed requests are accepted on every client endpoint

ODD_VALUE = "a b/\u00e9"  # needs encoding: space, slash, non-ASCII


def run_signed_flow(c, key):
    """Every client endpoint, each request signed with `key`."""
    ns = unique("sig")
    r = send_signed(c, "POST", "/intent", publish_body(ns), key=key)
    assert r.status == 201, r.raw
    iid = r.json["id"]

    # claim: a deliberately non-canonical target: unsorted, repeated key, blank
    # values, a parameter without '=', an empty part, '+' for space, lowercase %xx.
    odd_plus = "a+b%2f%c3%a9"
    assert urllib.parse.unquote_plus(odd_plus) == ODD_VALUE
    target = (f"/claim?namespace={ns}&x={odd_plus}&tag=z&tag=a&blank=&c&&goal=job"
              f"&worker_id={urllib.parse.quote(ODD_VALUE, safe='')}")
    r = send_signed(c, "POST", target, key=key)
    assert r.status == 200, r.raw
    assert r.json["id"] == iid
    token = r.json["claim_token"]

    r = send_signed(c, "POST", f"/extend_claim/{iid}", jbytes({"claim_token": token, "seconds": 30}), key=key)
    assert r.status == 200, r.raw
    assert r.json["status"] == "claimed"

    r = send_signed(c, "GET", f"/status/{iid}", key=key)
    assert r.status == 200, r.raw
    assert r.json["status"] == "claimed"

    r = send_signed(c, "POST", f"/fulfill/{iid}",
                    jbytes({"claim_token": token, "result": {"ok": "\u00e9"}}), key=key)
    assert r.status == 200, r.raw
    assert r.json["status"] == "fulfilled"

    r = send_signed(c, "GET", f"/result/{iid}", key=key)
    assert r.status == 200, r.raw
    assert r.json["result"] == {"ok": "\u00e9"}

    # fail, on a second intent, claimed through the canonical target itself
    r = send_signed(c, "POST", "/intent", publish_body(ns), key=key)
    assert r.status == 201, r.raw
    iid2 = r.json["id"]
    r = send_signed(c, "POST", f"/claim?goal=job&namespace={ns}", key=key)
    assert r.status == 200, r.raw
    assert r.json["id"] == iid2
    r = send_signed(c, "POST", f"/fail/{iid2}", jbytes({"claim_token": r.json["claim_token"], "error": "x"}),
                    key=key)
    assert r.status == 200, r.raw
    assert r.json["status"] == "open"

    # KV, with a key that needs encoding in the path
    kv_path = "/" + urllib.parse.quote(unique("k") + " caf\u00e9", safe="")
    r = send_signed(c, "POST", "/set" + kv_path, jbytes({"value": {"v": "\u00e9"}, "ttl": 60}), key=key)
    assert r.status == 200, r.raw
    assert r.json["ok"] is True
    r = send_signed(c, "GET", "/get" + kv_path, key=key)
    assert r.status == 200, r.raw
    assert r.json["value"] == {"v": "\u00e9"}


def test_signed_path_decoding(sc):
    """The path signs as the server decodes it: '+' stays '+' (signed %2B), '%2F'
    becomes '/', lowercase %xx is the same byte; a target sent in canonical form
    and one sent in another spelling of the same path are both accepted."""
    base = unique("p")
    for sent in (f"/set/{base}+x%20caf%c3%a9", f"/set/{base}%2Bx%20caf%C3%A9"):
        r = send_signed(sc, "POST", sent, jbytes({"value": sent}))
        assert r.status == 200, (sent, r.raw)
        assert r.json["key"] == f"{base}+x caf\u00e9"
    for sent in (f"/set/{base}%2Fy", f"/set/{base}/y"):
        assert canonical_path(sent) == f"/set/{base}/y"
        r = send_signed(sc, "POST", sent, jbytes({"value": sent}))
        assert r.status == 200, (sent, r.raw)
        assert r.json["key"] == f"{base}/y"
    r = send_signed(sc, "GET", f"/get/{base}+x%20caf%c3%a9")
    assert r.status == 200, r.raw
    # signing the raw (undecoded) target instead is refused
    sent = f"/get/{base}%2Fy"
    ts, nonce = now_ts(), secrets.token_hex(16)
    raw = hmac.new(sc.key.encode(), f"GET\n{sent}\n{ts}\n{nonce}\n".encode(), hashlib.sha256).hexdigest()
    assert_signature_refused(send(sc, "GET", sent, b"", {"X-Timestamp": ts, "X-Nonce": nonce, "X-Signature": raw}))


def test_signed_requests_accepted_main_key(sc):
    run_signed_flow(sc, sc.key)


def test_signed_requests_accepted_tester_key(sig_server, sc, tester_key):
    run_signed_flow(sc, tester_key)


@pytest.mark.parametrize("form", ["{now}.250", "{now}.0", "00000{now}", "{now}." + "0" * 21])
def test_signed_timestamp_forms_signed_as_written(sc, form):
    """Fractions, leading zeros, 15 integer digits, 32 characters in all."""
    ts = form.format(now=int(time.time()))
    assert len(ts) <= 32
    r = send_signed(sc, "POST", "/intent", publish_body(unique("sig")), timestamp=ts)
    assert r.status == 201, (ts, r.raw)


def test_signed_nonce_limits_accepted(sc):
    for nonce in ("n" * 128, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~" + secrets.token_hex(4), "x"):
        r = send_signed(sc, "POST", "/intent", publish_body(unique("sig")), nonce=nonce)
        assert r.status == 201, (nonce, r.raw)


# ---------------------------------------------------------------------------
# Refusals: 403 invalid_signature

def test_wrong_signature(sc):
    body = publish_body(unique("sig"))
    h = signing_headers(sc.key, "POST", "/intent", body)
    h["X-Signature"] = secrets.token_hex(32)
    assert_signature_refused(send(sc, "POST", "/intent", body, h))
    # one flipped hex digit
    good = signing_headers(sc.key, "POST", "/intent", body)
    last = good["X-Signature"][-1]
    good["X-Signature"] = good["X-Signature"][:-1] + ("0" if last != "0" else "1")
    assert_signature_refused(send(sc, "POST", "/intent", body, good))
    # truncated
    h = signing_headers(sc.key, "POST", "/intent", body)
    h["X-Signature"] = h["X-Signature"][:-1]
    assert_signature_refused(send(sc, "POST", "/intent", body, h))
    # control: the same request, properly signed
    assert send_signed(sc, "POST", "/intent", body).status == 201


def test_signature_by_another_key(sc, tester_key):
    body = publish_body(unique("sig"))
    # main key in X-API-KEY, signed with the tester key
    h = signing_headers(tester_key, "POST", "/intent", body)
    assert_signature_refused(send(sc, "POST", "/intent", body, h, key=sc.key))
    # tester key in X-API-KEY, signed with the main key
    h = signing_headers(sc.key, "POST", "/intent", body)
    assert_signature_refused(send(sc, "POST", "/intent", body, h, key=tester_key))
    assert send_signed(sc, "POST", "/intent", body, key=tester_key).status == 201


def test_uppercase_hex_refused(sc):
    body = publish_body(unique("sig"))
    for _ in range(5):  # make sure the digest has a letter in it
        h = signing_headers(sc.key, "POST", "/intent", body)
        if h["X-Signature"] != h["X-Signature"].upper():
            break
    h["X-Signature"] = h["X-Signature"].upper()
    assert_signature_refused(send(sc, "POST", "/intent", body, h))
    # the same nonce with the correct lowercase digest still works (the refused
    # request did not record it)
    h["X-Signature"] = h["X-Signature"].lower()
    assert send(sc, "POST", "/intent", body, h).status == 201


def test_tampered_body(sc):
    body = publish_body(unique("sig"))
    h = signing_headers(sc.key, "POST", "/intent", body)
    tampered = body.replace(b'"n":1', b'"n":2')
    assert tampered != body and len(tampered) == len(body)
    assert_signature_refused(send(sc, "POST", "/intent", tampered, h))
    # a trailing byte added / removed
    assert_signature_refused(send(sc, "POST", "/intent", body + b" ", signing_headers(sc.key, "POST", "/intent", body)))
    h = signing_headers(sc.key, "POST", "/intent", body + b"\n")
    assert_signature_refused(send(sc, "POST", "/intent", body, h))
    assert send(sc, "POST", "/intent", body, signing_headers(sc.key, "POST", "/intent", body)).status == 201


def test_tampered_query(sc):
    ns = unique("sig")
    signed_target = f"/claim?namespace={ns}&goal=job"
    for sent_target in (
        f"/claim?namespace={ns}&goal=jov",                   # value changed
        f"/claim?namespace={ns}&goal=job&worker_id=w1",      # parameter added
        f"/claim?namespace={ns}&goal=job&goal=job",          # parameter repeated
        f"/claim?namespace={ns}",                            # parameter removed
        f"/claim?namespace={ns}&goal=job+",                  # a trailing space
        f"/claim?namespace={ns}&goal",                       # value blanked
    ):
        h = signing_headers(sc.key, "POST", signed_target)
        assert_signature_refused(send(sc, "POST", sent_target, b"", h))
    # control: the signed target, and the same parameters in another order, pass
    r = send(sc, "POST", signed_target, b"", signing_headers(sc.key, "POST", signed_target))
    assert r.status == 204, r.raw
    h = signing_headers(sc.key, "POST", signed_target)
    r = send(sc, "POST", f"/claim?goal=job&&namespace={ns}&", b"", h)
    assert r.status == 204, r.raw


def test_tampered_method_and_path(sc):
    r = send_signed(sc, "POST", "/intent", publish_body(unique("sig")))
    assert r.status == 201
    iid = r.json["id"]
    # signed as POST /status/<id>, sent as GET /status/<id>
    h = signing_headers(sc.key, "POST", f"/status/{iid}")
    assert_signature_refused(send(sc, "GET", f"/status/{iid}", b"", h))
    # signed for GET /status/<id>, sent to GET /result/<id>
    h = signing_headers(sc.key, "GET", f"/status/{iid}")
    assert_signature_refused(send(sc, "GET", f"/result/{iid}", b"", h))
    # signed for /set/a, sent to /set/b
    body = jbytes({"value": 1})
    h = signing_headers(sc.key, "POST", "/set/" + unique("a"), body)
    assert_signature_refused(send(sc, "POST", "/set/" + unique("b"), body, h))
    # signed with a lowercase method
    ts, nonce = now_ts(), secrets.token_hex(16)
    h = {"X-Timestamp": ts, "X-Nonce": nonce,
         "X-Signature": hmac.new(sc.key.encode(), b"get\n/status/" + iid.encode() + b"\n" + ts.encode()
                                 + b"\n" + nonce.encode() + b"\n", hashlib.sha256).hexdigest()}
    assert_signature_refused(send(sc, "GET", f"/status/{iid}", b"", h))
    assert send_signed(sc, "GET", f"/status/{iid}").status == 200


def test_timestamp_window(sc):
    body = publish_body(unique("sig"))
    wait_second_start()
    now = int(time.time())
    for offset in (-301, 301, -100000):
        r = send_signed(sc, "POST", "/intent", body, timestamp=str(now + offset))
        assert_signature_refused(r)
    for offset in (-299, 299, 0):
        r = send_signed(sc, "POST", "/intent", body, timestamp=str(now + offset))
        assert r.status == 201, (offset, r.raw)


@pytest.mark.parametrize("timestamp", [
    "abc", "", "1e9", "-5", "+{now}", " {now}", "{now} ", "{now}.", ".5", "0x10", "{now}abc",
    "1" * 16, "000000{now}", "{now}." + "0" * 22, "{now}." + "0" * 30,
])
def test_garbage_timestamp(sc, timestamp):
    ts = timestamp.format(now=int(time.time()))
    body = publish_body(unique("sig"))
    assert_signature_refused(send_signed(sc, "POST", "/intent", body, timestamp=ts))


@pytest.mark.parametrize("nonce", ["", "n" * 129, "a b", "tab\there", "caf\u00e9"])
def test_bad_nonce(sc, nonce):
    body = publish_body(unique("sig"))
    h = signing_headers(sc.key, "POST", "/intent", body, nonce=nonce)
    if not nonce.isascii():
        # http.client encodes header values as latin-1; send the UTF-8 bytes
        h["X-Nonce"] = nonce.encode("utf-8")
        h["X-Signature"] = hmac.new(
            sc.key.encode(), b"\n".join([b"POST", b"/intent", h["X-Timestamp"].encode(), h["X-Nonce"], body]),
            hashlib.sha256).hexdigest()
    assert_signature_refused(send(sc, "POST", "/intent", body, h))


def test_nonce_reuse_refused(sc):
    body = publish_body(unique("sig"))
    nonce = secrets.token_hex(16)
    ts = int(time.time())
    r = send_signed(sc, "POST", "/intent", body, timestamp=str(ts), nonce=nonce)
    assert r.status == 201, r.raw
    # the exact same request again
    r = send(sc, "POST", "/intent", body, signing_headers(sc.key, "POST", "/intent", body, str(ts), nonce))
    assert_signature_refused(r)
    # fresh timestamp, valid signature, other endpoint: still the same nonce
    r = send_signed(sc, "POST", "/intent", body, timestamp=str(ts + 1), nonce=nonce)
    assert_signature_refused(r)
    r = send_signed(sc, "GET", "/get/" + unique("k"), timestamp=str(ts + 2), nonce=nonce)
    assert_signature_refused(r)
    assert send_signed(sc, "POST", "/intent", body).status == 201


def replay(sc, method, target, body=b""):
    """Sends a signed request, then exactly the same bytes again; returns both."""
    h = signing_headers(sc.key, method, target, body)
    return send(sc, method, target, body, h), send(sc, method, target, body, h)


def test_replayed_write_is_refused_and_changes_nothing(sc):
    ns = unique("sig")
    first, again = replay(sc, "POST", "/intent", publish_body(ns))
    assert first.status == 201, first.raw
    assert_signature_refused(again)
    # one intent was made, not two
    assert send_signed(sc, "POST", f"/claim?namespace={ns}").status == 200
    assert send_signed(sc, "POST", f"/claim?namespace={ns}").status == 204


def test_nonce_of_a_write_that_did_nothing_is_still_used(sc):
    """The nonce is recorded with the write, and kept when the write finds
    nothing or fails: else a captured claim that got 204 could be replayed
    later to take a job."""
    ns = unique("sig")
    first, again = replay(sc, "POST", f"/claim?namespace={ns}")
    assert first.status == 204 and again.status == 403, (first.raw, again.raw)
    first, again = replay(sc, "POST", f"/claim?namespace={ns}&wait=0.2")
    assert first.status == 204 and again.status == 403, (first.raw, again.raw)
    body = jbytes({"claim_token": "0" * 64})
    first, again = replay(sc, "POST", "/fulfill/" + "0" * 32, body)
    assert first.status == 404 and again.status == 403, (first.raw, again.raw)
    # a write refused by validation, before any SQL
    first, again = replay(sc, "POST", "/intent", jbytes({"payload": {}}))
    assert first.status == 400 and again.status == 403, (first.raw, again.raw)
    # and the replay of a claim is refused even once there is a job to take
    target = f"/claim?namespace={ns}&goal=job"
    h = signing_headers(sc.key, "POST", target)
    assert send(sc, "POST", target, b"", h).status == 204
    assert send_signed(sc, "POST", "/intent", publish_body(ns)).status == 201
    assert_signature_refused(send(sc, "POST", target, b"", h))
    assert send_signed(sc, "POST", target).status == 200


@sqlite_only("holds the SQLite database's write lock from outside the bus")
def test_signed_read_does_not_hold_up_its_thread(server_factory):
    """A signed read is answered once its nonce is committed, but its HTTP
    thread does not wait for that. With one thread, and the database's write
    lock held from outside so that no nonce can be committed, a request on
    another connection is still answered while the signed read waits; the
    read is answered once the lock is let go."""
    srv = server_factory(extra_args=["--threads", "1"])
    c = srv.client()
    iid = c.publish()
    target = f"/status/{iid}"
    signed = signing_headers(srv.key, "GET", target)
    status, answer = answered_once_unlocked(srv, "GET", target,
                                            {"X-API-KEY": srv.key, **signed})
    assert status == 200 and answer["status"] == "open"
    assert_signature_refused(send(c, "GET", target, b"", signed))  # its nonce is spent


@sqlite_only("holds the SQLite database's write lock from outside the bus")
@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_kv_set_does_not_hold_up_its_thread(server_factory, signed):
    """A KV set is committed by the writer while its connection is
    suspended: with one thread and the write lock held from outside, a
    request on another connection is still answered, and the set is
    answered, and its value readable, once the lock goes. Signed, its
    nonce goes in the same transaction and is spent after."""
    srv = server_factory(extra_args=["--threads", "1"])
    c = srv.client()
    key = unique("k")
    target = f"/set/{key}"
    body = json.dumps({"value": {"n": 7}}).encode()
    headers = {"X-API-KEY": srv.key, "Content-Type": "application/json"}
    if signed:
        headers.update(signing_headers(srv.key, "POST", target, body))
    status, answer = answered_once_unlocked(srv, "POST", target, headers, body)
    assert status == 200 and answer["key"] == key
    got = c.get(target.replace("/set/", "/get/"))
    assert got.status == 200 and got.json == {"value": {"n": 7}}, got.raw
    if signed:
        assert_signature_refused(send(c, "POST", target, body, headers))


def test_replayed_reads_are_refused(sc):
    """A read's answer waits for its nonce: the replay gets the 403, not the
    data. A long-poll of a result (wait=) records its nonce before it parks,
    and its replay is refused too."""
    ns = unique("sig")
    iid = sc.publish(namespace=ns)
    for target in (f"/status/{iid}", f"/result/{iid}", "/get/" + unique("k"), "/webhooks/secret"):
        first, again = replay(sc, "GET", target)
        assert first.status in (200, 404), (target, first.raw)
        assert_signature_refused(again)
    claimed = sc.claim_ok(namespace=ns)
    target = f"/result/{iid}?wait=5"
    h = signing_headers(sc.key, "GET", target)
    assert sc.fulfill(iid, claimed["claim_token"], result={"n": 1}).status == 200
    first = send(sc, "GET", target, b"", h)
    assert first.status == 200 and first.json["status"] == "fulfilled", first.raw
    assert_signature_refused(send(sc, "GET", target, b"", h))


def test_forged_request_does_not_use_up_nonce(sc):
    body = publish_body(unique("sig"))
    nonce = secrets.token_hex(16)
    h = signing_headers(sc.key, "POST", "/intent", body, nonce=nonce)
    assert_signature_refused(send(sc, "POST", "/intent", body + b" ", h))
    assert send(sc, "POST", "/intent", body, h).status == 201
    assert_signature_refused(send(sc, "POST", "/intent", body, h))


def test_nonce_is_per_key(sc, tester_key):
    nonce = secrets.token_hex(16)
    body = publish_body(unique("sig"))
    r = send_signed(sc, "POST", "/intent", body, nonce=nonce)
    assert r.status == 201, r.raw
    r = send_signed(sc, "POST", "/intent", body, key=tester_key, nonce=nonce)
    assert r.status == 201, r.raw
    # and each key still refuses its own replay
    assert_signature_refused(send_signed(sc, "POST", "/intent", body, nonce=nonce))
    assert_signature_refused(send_signed(sc, "POST", "/intent", body, key=tester_key, nonce=nonce))


@pytest.mark.parametrize("present", [
    ("X-Signature",), ("X-Timestamp",), ("X-Nonce",),
    ("X-Signature", "X-Nonce"), ("X-Signature", "X-Timestamp"), ("X-Timestamp", "X-Nonce"),
])
def test_partial_signing_headers(sc, present):
    body = publish_body(unique("sig"))
    h = signing_headers(sc.key, "POST", "/intent", body)
    assert_signature_refused(send(sc, "POST", "/intent", body, {k: h[k] for k in present}))
    # the full set with the same values is fine
    assert send(sc, "POST", "/intent", body, h).status == 201


def test_unsigned_requests_still_work_by_default(sc):
    """Without BUS_REQUIRE_SIGNATURES signing is optional."""
    ns = unique("sig")
    iid = sc.publish(namespace=ns)
    c = sc.claim_ok(namespace=ns)
    assert c["id"] == iid
    assert sc.extend(iid, c["claim_token"]).status == 200
    assert sc.status(iid)["status"] == "claimed"
    assert sc.fulfill(iid, c["claim_token"]).status == 200
    assert sc.result(iid)["status"] == "fulfilled"
    k = unique("k")
    assert sc.post(f"/set/{k}", {"value": 1}).status == 200
    assert sc.get(f"/get/{k}").json == {"value": 1}


def test_require_signatures_false_is_optional(server_factory):
    srv = server_factory(env={"BUS_REQUIRE_SIGNATURES": "false"})
    c = srv.client()
    iid = c.publish()
    assert c.status(iid)["status"] == "open"


# ---------------------------------------------------------------------------
# BUS_REQUIRE_SIGNATURES=true

def _strict_flow(c, key):
    """Every client endpoint: unsigned -> 403, then the same signed -> success."""
    ns = unique("strict")

    def both(method, target, body=b"", expect=200):
        assert_signature_refused(send(c, method, target, body, key=key))
        r = send_signed(c, method, target, body, key=key)
        assert r.status == expect, (method, target, r.status, r.raw)
        return r

    iid = both("POST", "/intent", publish_body(ns), 201).json["id"]
    cl = both("POST", f"/claim?namespace={ns}&goal=job").json
    tok = cl["claim_token"]
    both("POST", f"/extend_claim/{iid}", jbytes({"claim_token": tok}))
    both("GET", f"/status/{iid}")
    both("POST", f"/fulfill/{iid}", jbytes({"claim_token": tok, "result": 7}))
    assert both("GET", f"/result/{iid}").json["result"] == 7
    iid2 = both("POST", "/intent", publish_body(ns), 201).json["id"]
    tok2 = both("POST", f"/claim?namespace={ns}").json["claim_token"]
    both("POST", f"/fail/{iid2}", jbytes({"claim_token": tok2}))
    k = unique("k")
    both("POST", f"/set/{k}", jbytes({"value": "v"}))
    assert both("GET", f"/get/{k}").json == {"value": "v"}
    # a bad signature is still refused
    h = signing_headers(key, "GET", f"/get/{k}")
    h["X-Signature"] = h["X-Signature"][::-1]
    assert_signature_refused(send(c, "GET", f"/get/{k}", b"", h, key=key))


def test_require_signatures_main_key(strict_server):
    c = strict_server.client()
    _strict_flow(c, c.key)
    # the conftest shortcuts (unsigned) are refused too
    assert_signature_refused(c.publish_raw())
    assert_signature_refused(c.claim())


def test_require_signatures_tester_key(strict_server):
    key = new_tester_key(strict_server)
    c = strict_server.client(key=key)
    _strict_flow(c, key)


def test_require_signatures_health_and_admin_unsigned(strict_server):
    c = strict_server.client(key=None)
    r = c.request("GET", "/health", key=None)
    assert r.status == 200, r.raw
    admin = {"X-Admin-Token": strict_server.extra_env["BUS_ADMIN_SECRET"]}
    r = c.request("GET", "/admin/stats", key=None, headers=admin)
    assert r.status == 200, r.raw
    r = c.request("GET", "/admin/keys", key=None, headers=admin)
    assert r.status == 200, r.raw
    r = c.request("POST", "/admin/generate_key", body={"owner": "strict"}, key=None, headers=admin)
    assert r.status == 201, r.raw
    # and an unsigned request with a valid key and no signature is refused
    assert_signature_refused(c.request("GET", "/status/" + "0" * 32, key=strict_server.key))


# ---------------------------------------------------------------------------
# Nonces are durable

def test_nonce_survives_restart(server_factory):
    srv = server_factory()
    c = srv.client()
    body = publish_body(unique("sig"))
    h = signing_headers(srv.key, "POST", "/intent", body)
    r = send(c, "POST", "/intent", body, h)
    assert r.status == 201, r.raw
    srv.restart()
    c = srv.client()
    assert_signature_refused(send(c, "POST", "/intent", body, h))
    # a fresh nonce works after the restart
    assert send_signed(c, "POST", "/intent", body).status == 201


def test_nonce_of_a_read_survives_restart(server_factory):
    """A request that writes nothing records its nonce on its own (not as
    the prelude of a write): that one is reloaded after a restart too."""
    srv = server_factory()
    c = srv.client()
    target = "/get/" + unique("k")
    h = signing_headers(srv.key, "GET", target)
    assert send(c, "GET", target, b"", h).status == 404
    assert_signature_refused(send(c, "GET", target, b"", h))
    srv.restart()
    c = srv.client()
    assert_signature_refused(send(c, "GET", target, b"", h))


def test_purge_forgets_nonces(server_factory):
    """POST /admin/purge without a namespace clears the housekeeping
    tables, nonces included: the same signed request is then new."""
    srv = server_factory(env={"BUS_ADMIN_SECRET": secrets.token_hex(16)})
    c = srv.client()
    body = publish_body(unique("sig"))
    h = signing_headers(srv.key, "POST", "/intent", body)
    assert send(c, "POST", "/intent", body, h).status == 201
    assert_signature_refused(send(c, "POST", "/intent", body, h))
    r = admin_client(srv).post("/admin/purge", {"confirm": True})
    assert r.status == 200, r.raw
    assert send(c, "POST", "/intent", body, h).status == 201
    assert_signature_refused(send(c, "POST", "/intent", body, h))


@sqlite_only("several nodes on one database need PostgreSQL")
def test_second_server_on_one_sqlite_file_refused(server_factory):
    """The SQLite server keeps the window's nonces in memory, the authority
    for the one process that owns the file: a second `serve` on the same
    file must not start (it would accept the first one's nonces again)."""
    first = server_factory()
    second = server_factory(db=first.db, secret=first.secret, start=False)
    second.spawn()
    try:
        assert second.proc.wait(10) != 0
    except subprocess.TimeoutExpired:
        second.kill()
        pytest.fail("a second server started on the same SQLite file")
    assert "in use by another intent-bus process" in second.stderr()
    assert first.alive()
    assert first.client().publish(goal="still-serving")
    first.stop()
    third = server_factory(db=first.db, secret=first.secret)
    assert third.client().publish(goal="after-the-first")
