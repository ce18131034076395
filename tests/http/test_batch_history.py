"""Batch publish, claim and fulfil (issue 18) meet the other features of
the same wave: a batch claim opens each job's attempt and a batch fulfil
ends it (issue 19's history); a batch item may carry a notify_url under the
same rules as a single publish, and a batch fulfil sends its webhook
(completion webhooks). On whichever backend the run uses."""

import pytest

from conftest import admin_client, admin_env, unique, wait_until
from test_webhooks import fetched_secret, hook_env, receiver, verify  # noqa: F401 (receiver: a fixture)


def test_a_batch_claim_opens_an_attempt_per_job(server_factory):
    srv = server_factory(env=admin_env())
    admin = admin_client(srv)
    c = srv.client(ns=unique("bh"))
    r = c.post("/intents", {"intents": [{"goal": "job", "namespace": c.ns, "payload": {"n": i}}
                                        for i in range(5)]})
    assert r.status == 200 and r.json["published"] == 5, r.raw
    claimed = c.claim(max=5, headers={"X-Worker-ID": "batch-w"})
    assert claimed.status == 200, claimed.raw
    jobs = claimed.json["intents"]
    assert len(jobs) == 5
    for job in jobs:
        attempts = admin.intent(job["id"])["attempts"]
        assert [(a["attempt"], a["worker_id"], a["outcome"]) for a in attempts] == \
            [(1, "batch-w", "running")], attempts
    done = jobs[0]
    assert c.fulfill(done["id"], done["claim_token"]).status == 200
    assert [a["outcome"] for a in admin.intent(done["id"])["attempts"]] == ["fulfilled"]
    # the batch fulfil ends each item's attempt as the single one does
    r = c.post("/fulfill", {"items": [{"id": j["id"], "claim_token": j["claim_token"]}
                                      for j in jobs[1:]]})
    assert r.status == 200 and r.json["fulfilled"] == 4, r.raw
    for job in jobs[1:]:
        assert [a["outcome"] for a in admin.intent(job["id"])["attempts"]] == ["fulfilled"]


def test_batch_items_carry_notify_url_under_the_single_rules(server_factory, receiver):
    hooks = receiver()
    srv = server_factory(env=hook_env())
    c = srv.client(ns=unique("bh"))
    r = c.post("/intents", {"intents": [
        {"goal": "job", "namespace": c.ns, "payload": {}, "notify_url": hooks.url("/batch")},
        {"goal": "job", "namespace": c.ns, "payload": {}, "notify_url": "http://10.1.2.3/x"},
        {"goal": "job", "namespace": c.ns, "payload": {}, "notify_url": 7},
    ]})
    assert r.status == 200, r.raw
    results = r.json["results"]
    assert results[0]["http_status"] == 201
    assert results[1]["error"]["code"] == "webhook_not_allowed"
    assert results[2]["error"]["code"] == "invalid_notify_url"
    job = c.claim_ok(goal="job")
    assert job["id"] == results[0]["id"]
    r = c.post("/fulfill", {"items": [{"id": job["id"], "claim_token": job["claim_token"]}]})
    assert r.status == 200 and r.json["fulfilled"] == 1, r.raw  # a batch fulfil sends it too
    wait_until(lambda: hooks.count() == 1, timeout=15, message="the batch item's webhook")
    event = verify(hooks.calls[0], fetched_secret(srv))
    assert event["id"] == job["id"] and event["status"] == "fulfilled"


if __name__ == "__main__":
    pytest.main([__file__])
