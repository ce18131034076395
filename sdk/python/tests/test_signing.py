"""Request signing (docs/SIGNING.md): the worked example, the canonical-path
table, and what the client actually puts on the wire."""

import hashlib
import hmac

import pytest

from intent_bus import IntentClient, canonical_path, compute_signature, sign_request
from intent_bus.signing import string_to_sign

EXAMPLE_KEY = "tk_example_key_7f3a"
EXAMPLE_TARGET = "/claim?namespace=default&goal=send_notification"
EXAMPLE_TS = "1795424655"
EXAMPLE_NONCE = "c5a1e0b94d2f4a7e8b3c6d9f01a2b3c4"
EXAMPLE_DIGEST = "c3d5e1245b3e34bab697a9a9de8ec5af177633f95da3891d340fea4bf4f33035"


def test_worked_example_digest():
    sts = string_to_sign("POST", EXAMPLE_TARGET, EXAMPLE_TS, EXAMPLE_NONCE, b"{}")
    assert sts == (b"POST\n/claim?goal=send_notification&namespace=default\n"
                   b"1795424655\nc5a1e0b94d2f4a7e8b3c6d9f01a2b3c4\n{}")
    assert len(sts) == 99
    assert compute_signature(EXAMPLE_KEY, "POST", EXAMPLE_TARGET, EXAMPLE_TS, EXAMPLE_NONCE, b"{}") == EXAMPLE_DIGEST
    headers = sign_request(EXAMPLE_KEY, "POST", EXAMPLE_TARGET, b"{}", timestamp=EXAMPLE_TS, nonce=EXAMPLE_NONCE)
    assert headers == {"X-Timestamp": EXAMPLE_TS, "X-Nonce": EXAMPLE_NONCE, "X-Signature": EXAMPLE_DIGEST}


@pytest.mark.parametrize("target, canonical", [
    ("/claim?namespace=default&goal=send_notification", "/claim?goal=send_notification&namespace=default"),
    ("/x?b=2&a=1&a=&c", "/x?a=1&a=&b=2&c="),
    ("/x?q=hello%20world&q=a+b&r=%2f%7e", "/x?q=hello%20world&q=a%20b&r=%2F~"),
    ("/set/a+b%20c", "/set/a%2Bb%20c"),
    ("/get/caf%c3%a9", "/get/caf%C3%A9"),
    ("/claim?", "/claim"),
    ("/x?tag=z&tag=a", "/x?tag=z&tag=a"),
    ("/x?a-b=1&a=2", "/x?a=2&a-b=1"),
    ("/x?&&=v&", "/x?=v"),
    ("/set/a%2Fb", "/set/a/b"),
])
def test_canonical_path_table(target, canonical):
    assert canonical_path(target) == canonical


def test_fresh_nonce_and_empty_body():
    a = sign_request("k", "GET", "/get/x")
    b = sign_request("k", "GET", "/get/x")
    assert a["X-Nonce"] != b["X-Nonce"] and len(a["X-Nonce"]) == 32
    assert a["X-Timestamp"].isdigit()
    expected = hmac.new(b"k", f"GET\n/get/x\n{a['X-Timestamp']}\n{a['X-Nonce']}\n".encode(), hashlib.sha256).hexdigest()
    assert a["X-Signature"] == expected


def test_client_signs_the_bytes_it_sends(fake):
    """Every request the client sends verifies against its own target and body."""
    fake.push((201, {}, {"id": "a" * 32, "status": "published", "namespace": "n"}),
              (204, {"Retry-After": "1"}, None),
              (200, {}, {"key": "k", "ok": True, "expires_at": 1.0}))
    with IntentClient(fake.url, "key-1") as c:
        c.publish("g é", {"x": "ü"}, namespace="n")
        assert c.claim("send notification+1", namespace="n", capabilities=["a", "b"], worker_id="w/1") is None
        c.set("a b/c", 1)
    assert len(fake.requests) == 3
    for method, target, headers, body in fake.requests:
        assert headers["X-API-KEY"] == "key-1"
        want = compute_signature("key-1", method, target, headers["X-Timestamp"], headers["X-Nonce"], body)
        assert headers["X-Signature"] == want, (method, target)
        # the query is sent in its canonical order and encoding
        assert canonical_path(target) in (target, canonical_path(target))
    assert fake.requests[1][1] == "/claim?capabilities=a%2Cb&goal=send%20notification%2B1&namespace=n&worker_id=w%2F1"
    assert fake.requests[2][1] == "/set/a%20b%2Fc"
    assert fake.requests[0][3] == '{"goal":"g é","payload":{"x":"ü"},"namespace":"n","visibility":"private","priority":100,"delay":0.0,"max_attempts":3,"backoff_base":5.0,"target_worker":null,"required_capability":null}'.encode()


def test_unsigned_client_sends_no_signature_headers(fake):
    with IntentClient(fake.url, "key-1", sign=False) as c:
        c.get("k")
    headers = fake.requests[0][2]
    assert "X-Signature" not in headers and "X-Nonce" not in headers and "X-Timestamp" not in headers


def test_signed_requests_accepted_when_required(servers, ns):
    srv = servers.get("signed", {"BUS_REQUIRE_SIGNATURES": "true"})
    goal = "odd goal é/+&=?#%"
    with srv.client() as c:
        published = c.publish(goal, {"n": 1}, namespace=ns, idempotency_key="idem key 1")
        assert c.publish(goal, {"n": 1}, namespace=ns, idempotency_key="idem key 1").id == published.id
        job = c.claim(goal, namespace=ns, worker_id="worker 1+", capabilities="gpu, cpu")
        assert job is not None and job.id == published.id and job.goal == goal
        c.extend(job.id, job.claim_token, seconds=30)
        c.fulfill(job.id, job.claim_token, {"ok": True})
        assert c.result(published.id).result == {"ok": True}
        assert c.status(published.id).status == "fulfilled"
        for key in ["plain", "a b", "x+y", "café", "a/b", "%41", "q?r&s=t#u"]:
            c.set(key, key, ttl=60)
            assert c.get(key) == key
        assert c.get("absent") is None
        assert c.claim(goal, namespace=ns) is None


def test_unsigned_requests_refused_when_required(servers):
    from intent_bus import IntentBusAuthError
    srv = servers.get("signed", {"BUS_REQUIRE_SIGNATURES": "true"})
    with srv.client(sign=False) as c:
        with pytest.raises(IntentBusAuthError) as info:
            c.get("anything")
        assert info.value.status == 403 and info.value.code == "invalid_signature"
        with pytest.raises(IntentBusAuthError):
            c.publish("g", {})
    # a wrong key signs with the wrong key: refused too
    with srv.client(key="wrong-key") as c:
        with pytest.raises(IntentBusAuthError):
            c.get("anything")
