"""Batch publish, claim and fulfil through the SDK
(docs/PROTOCOL-EXTENSIONS.md "Batch publish and claim", "Batch fulfil"):
publish_many, claim_many and fulfill_many."""

import threading
import time

import pytest

from intent_bus import (
    IntentBusIdempotencyConflictError,
    IntentBusLeaseLostError,
    IntentBusValidationError,
)


def test_publish_many_with_invalid_items(client, ns):
    intents = [{"goal": "job", "payload": {"i": i}} for i in range(100)]
    intents[5] = {"goal": "", "payload": 1}
    intents[60]["priority"] = "high"
    results = client.publish_many(intents, namespace=ns)
    assert len(results) == 100 and [r.index for r in results] == list(range(100))
    for i, r in enumerate(results):
        if i in (5, 60):
            assert not r.ok and isinstance(r.error, IntentBusValidationError)
            assert r.error.code == ("invalid_goal" if i == 5 else "invalid_priority")
            assert r.error.status == 400
        else:
            assert r.ok and len(r.id) == 32 and r.namespace == ns
    claimed = []
    while True:
        jobs = client.claim_many(30, namespace=ns)
        if not jobs:
            break
        assert len(jobs) <= 30
        for job in jobs:
            client.fulfill(job.id, job.claim_token, {"ok": True})
        claimed += jobs
    assert {j.id for j in claimed} == {r.id for r in results if r.ok}
    assert len({j.claim_token for j in claimed}) == 98


def test_publish_many_replays_per_key(client, ns):
    intents = [{"goal": "job", "payload": i, "idempotency_key": f"{ns}-{i}"} for i in range(3)]
    first = client.publish_many(intents, namespace=ns)
    intents[1]["payload"] = "changed"
    again = client.publish_many(intents, namespace=ns)
    assert again[0].id == first[0].id and again[0].replayed
    assert isinstance(again[1].error, IntentBusIdempotencyConflictError)
    assert again[2].id == first[2].id and again[2].replayed
    assert len(client.claim_many(100, namespace=ns)) == 3


def test_claim_many_waits_for_the_first(client, server, ns):
    got = {}

    def waiter():
        with server.client() as other:
            t0 = time.monotonic()
            got["jobs"] = other.claim_many(5, namespace=ns, wait=10)
            got["took"] = time.monotonic() - t0

    th = threading.Thread(target=waiter)
    th.start()
    time.sleep(0.5)
    published = client.publish("job", {"late": True}, namespace=ns)
    th.join(15)
    assert [j.id for j in got["jobs"]] == [published.id] and got["took"] < 5
    assert client.claim_many(5, namespace=ns) == []


@pytest.mark.parametrize("bad", [0, 101, True, 2.5])
def test_claim_many_bad_max(client, bad):
    with pytest.raises(ValueError):
        client.claim_many(bad)


def test_publish_many_bad_sizes(client):
    with pytest.raises(ValueError):
        client.publish_many([])
    with pytest.raises(ValueError):
        client.publish_many([{"goal": "g", "payload": 1}] * 101)


def test_fulfill_many_with_lost_leases(client, ns):
    client.publish_many([{"goal": "job", "payload": i} for i in range(100)], namespace=ns)
    jobs = client.claim_many(100, namespace=ns)
    assert len(jobs) == 100
    items = [{"id": j.id, "claim_token": j.claim_token, "result": {"i": i}}
             for i, j in enumerate(jobs)]
    items[4]["claim_token"] = "0" * 32
    items[8]["result"], items[8]["result_type"] = "plain", "text"
    results = client.fulfill_many(items)
    assert [r.index for r in results] == list(range(100))
    for i, r in enumerate(results):
        if i == 4:
            assert not r.ok and isinstance(r.error, IntentBusLeaseLostError)
            assert r.error.code == "not_found" and r.error.status == 404
        else:
            assert r.ok and r.id == jobs[i].id
    assert client.result(jobs[0].id).result == {"i": 0}
    assert client.result(jobs[8].id).result == "plain"
    again = client.fulfill_many([items[0], dict(items[4], claim_token=jobs[4].claim_token)])
    assert isinstance(again[0].error, IntentBusLeaseLostError) and again[1].ok


def test_fulfill_many_bad_sizes(client):
    with pytest.raises(ValueError):
        client.fulfill_many([])
    with pytest.raises(ValueError):
        client.fulfill_many([{"id": "a" * 32, "claim_token": "b" * 32}] * 101)
