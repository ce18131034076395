"""The client against a real server: the protocol's round trips."""

import time

import pytest

from conftest import wait_until
from intent_bus import (
    IntentBusIdempotencyConflictError,
    IntentBusLeaseLostError,
    IntentClient,
    Job,
    PublishedIntent,
)


def test_publish_claim_fulfill_json(client, ns):
    published = client.publish("resize", {"url": "https://img/cat.jpg"}, namespace=ns, priority=500)
    assert isinstance(published, PublishedIntent)
    assert len(published.id) == 32 and published.status == "published" and published.namespace == ns
    job = client.claim("resize", namespace=ns)
    assert isinstance(job, Job)
    assert (job.id, job.namespace, job.goal, job.payload) == (published.id, ns, "resize", {"url": "https://img/cat.jpg"})
    assert job.claim_attempts == 1 and job.priority == 500 and job.claim_timeout == 60
    assert job.target_worker is None and job.required_capability is None and len(job.claim_token) == 32
    done = client.fulfill(job.id, job.claim_token, {"width": 100, "ok": [1, 2]})
    assert done.status == "fulfilled" and done.completed_at
    result = client.result(published.id)
    assert result.status == "fulfilled" and result.result_type == "json"
    assert result.result == {"width": 100, "ok": [1, 2]}
    assert client.status(published.id).status == "fulfilled"
    assert "result" not in client.status(published.id).raw


def test_text_result_and_no_result(client, ns):
    a = client.publish("t", "plain payload", namespace=ns)
    b = client.publish("t", None, namespace=ns)
    ja = client.claim("t", namespace=ns)
    jb = client.claim("t", namespace=ns)
    assert {ja.id, jb.id} == {a.id, b.id}
    by_id = {ja.id: ja, jb.id: jb}
    client.fulfill(a.id, by_id[a.id].claim_token, "done", result_type="text")
    client.fulfill(b.id, by_id[b.id].claim_token)
    ra, rb = client.result(a.id), client.result(b.id)
    assert (ra.result, ra.result_type) == ("done", "text")
    assert rb.status == "fulfilled" and rb.result is None
    # a string result without result_type is stored as JSON (the protocol's default)
    c = client.publish("t", 1, namespace=ns)
    jc = client.claim("t", namespace=ns)
    client.fulfill(c.id, jc.claim_token, "quoted")
    assert (client.result(c.id).result, client.result(c.id).result_type) == ("quoted", "json")


def test_claim_empty_returns_none(client, ns):
    assert client.claim("nothing", namespace=ns) is None


def test_long_poll_claim_and_result(server, client, ns):
    """wait= (docs/PROTOCOL-EXTENSIONS.md): the claim is answered when an intent arrives."""
    import threading
    started = time.monotonic()
    assert client.claim("lp", namespace=ns, wait=0.5) is None
    assert time.monotonic() - started >= 0.45
    got = {}

    def claimer():
        with server.client() as other:
            got["job"] = other.claim("lp", namespace=ns, wait=10)
            got["at"] = time.monotonic()

    t = threading.Thread(target=claimer)
    t.start()
    time.sleep(0.3)
    published = client.publish("lp", {"x": 1}, namespace=ns)
    sent = time.monotonic()
    t.join(12)
    assert got["job"].id == published.id and got["at"] - sent < 2

    def fulfiller():
        time.sleep(0.5)
        with server.client() as other:
            other.fulfill(got["job"].id, got["job"].claim_token, "late", "text")

    t = threading.Thread(target=fulfiller)
    t.start()
    result = client.result(published.id, wait=10)  # answered once fulfilled
    t.join()
    assert (result.status, result.result) == ("fulfilled", "late")


def test_routing_worker_and_capability(client, ns):
    targeted = client.publish("r", 1, namespace=ns, target_worker="phone-1")
    capable = client.publish("r", 2, namespace=ns, required_capability="whisper", priority=50)
    assert client.claim("r", namespace=ns) is None
    assert client.claim("r", namespace=ns, worker_id="phone-2", capabilities=["gpu"]) is None
    job = client.claim("r", namespace=ns, worker_id="phone-1")
    assert job.id == targeted.id and job.target_worker == "phone-1"
    job2 = client.claim("r", namespace=ns, capabilities=["ffmpeg", "whisper"])
    assert job2.id == capable.id and job2.required_capability == "whisper"


def test_fail_retry_dead(client, ns):
    p = client.publish("flaky", {"n": 1}, namespace=ns, max_attempts=2, backoff_base=1.0)
    job = client.claim("flaky", namespace=ns)
    failed = client.fail(job.id, job.claim_token, "boom " + "x" * 5000)  # cut to 2000 bytes
    assert failed.status == "open" and failed.claim_attempts == 1 and failed.run_at
    st = client.status(p.id)
    assert st.status == "open" and st.error.startswith("boom") and len(st.error.encode()) <= 2000
    with pytest.raises(IntentBusLeaseLostError):  # the old token is dead
        client.fulfill(job.id, job.claim_token)
    job2 = wait_until(lambda: client.claim("flaky", namespace=ns), timeout=6, interval=0.2, what="the retry")
    assert job2.id == p.id and job2.claim_attempts == 2 and job2.claim_token != job.claim_token
    dead = client.fail(job2.id, job2.claim_token, "boom again")
    assert dead.status == "dead" and dead.claim_attempts == 2
    st = client.status(p.id)
    assert st.status == "dead" and st.error == "boom again" and st.max_attempts == 2
    assert client.claim("flaky", namespace=ns) is None


def test_extend(client, ns):
    client.publish("long", {}, namespace=ns)
    job = client.claim("long", namespace=ns)
    ext = client.extend(job.id, job.claim_token, seconds=600)
    assert ext.status == "claimed" and ext.claim_expires_at > time.time() + 500
    client.fulfill(job.id, job.claim_token)


def test_idempotency_replay_and_conflict(client, ns):
    a = client.publish("pay", {"amount": 50}, namespace=ns, idempotency_key=f"tx-{ns}")
    b = client.publish("pay", {"amount": 50}, namespace=ns, idempotency_key=f"tx-{ns}")
    assert a == b
    with pytest.raises(IntentBusIdempotencyConflictError) as info:
        client.publish("pay", {"amount": 51}, namespace=ns, idempotency_key=f"tx-{ns}")
    assert info.value.status == 422 and info.value.code == "idempotency_conflict"
    assert client.claim("pay", namespace=ns).id == a.id
    assert client.claim("pay", namespace=ns) is None  # published once
    # set with an idempotency key replays as well
    s1 = client.set(f"k-{ns}", 1, idempotency_key=f"set-{ns}")
    s2 = client.set(f"k-{ns}", 1, idempotency_key=f"set-{ns}")
    assert s1.expires_at == s2.expires_at


def test_set_get(client, ns):
    key = f"node-{ns}"
    assert client.get(key) is None
    assert client.get(key, default="dflt") == "dflt"
    r = client.set(key, "active", ttl=600)
    assert r.ok is True and r.key == key and r.expires_at > time.time() + 500
    assert client.get(key) == "active"
    client.set(key, {"nested": [1, None, "é"]}, ttl=1)
    assert client.get(key) == {"nested": [1, None, "é"]}
    wait_until(lambda: client.get(key) is None, timeout=4, interval=0.25, what="expiry")


def test_keys_are_private_per_api_key(server, client, ns):
    other_key = server.tester_key("other")
    client.set(f"mine-{ns}", 1)
    with IntentClient(server.url, other_key) as other:
        assert other.get(f"mine-{ns}") is None
        p = client.publish("private", {}, namespace=ns)
        assert other.claim("private", namespace=ns) is None
        pub = client.publish("public", {}, namespace=ns, visibility="public")
        job = other.claim("public", namespace=ns)
        assert job.id == pub.id
        other.fulfill(job.id, job.claim_token, "by other", "text")
    assert client.result(pub.id).result == "by other"
    assert client.status(p.id).status == "open"


def test_context_manager_closes(server):
    with server.client() as c:
        c.get("x")
    from intent_bus import IntentBusConnectionError
    with pytest.raises(IntentBusConnectionError):
        c.get("x")


def test_keep_alive_reuses_connection(client):
    client.get("a")
    client.get("b")
    assert len(client._pool._idle) == 1


def test_threads_share_a_client(client, ns):
    import threading
    errors = []

    def work(i):
        try:
            for j in range(10):
                client.set(f"{ns}-{i}-{j}", j)
                assert client.get(f"{ns}-{i}-{j}") == j
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
