"""Batch fulfil (issue 18, docs/PROTOCOL-EXTENSIONS.md "Batch fulfil"):
POST /fulfill with up to 100 items in one transaction, each held to every
rule of POST /fulfill/<id>, a result per item."""

import http.client
import json
import secrets
import time

import pytest

from conftest import admin_client, admin_env, assert_error, unique
from test_batch import items, publish_many
from test_long_poll import result_in_background
from test_metrics_jobs import labels, scrape
from test_metrics import samples
from test_signing import jbytes, send, send_signed


def fulfill_many(c, entries, **kw):
    return c.post("/fulfill", {"items": entries}, **kw)


def claimed(c, count):
    assert publish_many(c, items(c.ns, count)).json["published"] == count
    jobs = c.claim_ok(max=count)["intents"]
    assert len(jobs) == count
    return jobs


def test_hundred_items_with_bad_ones(bus):
    jobs = claimed(bus, 100)
    entries = [{"id": j["id"], "claim_token": j["claim_token"], "result": {"n": i}}
               for i, j in enumerate(jobs)]
    entries[5]["claim_token"] = "f" * 32               # wrong token
    entries[17]["id"] = secrets.token_hex(16)          # unknown id
    entries[40] = {"id": jobs[40]["id"]}               # no token
    entries[63] = {"claim_token": jobs[63]["claim_token"]}  # no id
    entries[80]["result_type"] = "xml"                 # refused by the single route too
    entries[99] = "not an object"
    r = fulfill_many(bus, entries)
    assert r.status == 200, r.raw
    results = r.json["results"]
    assert [x["index"] for x in results] == list(range(100))
    bad = {5: (404, "not_found"), 17: (404, "not_found"), 40: (400, "invalid_request"),
           63: (400, "invalid_id"), 80: (400, None), 99: (400, "invalid_request")}
    for i, x in enumerate(results):
        if i in bad:
            status, code = bad[i]
            assert x["http_status"] == status and "id" not in x, x
            assert isinstance(x["error"]["message"], str)
            if code:
                assert x["error"]["code"] == code, x
        else:
            assert x["http_status"] == 200 and x["status"] == "fulfilled", x
            assert x["id"] == jobs[i]["id"] and x["ok"] is True
            assert isinstance(x["completed_at"], float)
    assert r.json["fulfilled"] == 94 and r.json["failed"] == 6
    # every item answered as the single route answers it
    single = bus.fulfill(jobs[5]["id"], "f" * 32)
    assert results[5]["error"] == single.json["error"]
    single = bus.fulfill(jobs[80]["id"], jobs[80]["claim_token"], result_type="xml")
    assert results[80]["error"] == single.json["error"]
    # the results are readable; the refused ones are still claimed
    assert bus.result(jobs[0]["id"])["result"] == {"n": 0}
    assert bus.result(jobs[98]["id"])["result"] == {"n": 98}
    for i in (5, 40, 63, 80, 99):
        assert bus.status(jobs[i]["id"])["status"] == "claimed"
    # a spent token is refused, in a batch and singly
    again = fulfill_many(bus, [{"id": jobs[0]["id"], "claim_token": jobs[0]["claim_token"]}])
    assert again.status == 200 and again.json["fulfilled"] == 0
    assert again.json["results"][0]["http_status"] == 404
    assert again.json["results"][0]["error"]["code"] == "not_found"
    assert_error(bus.fulfill(jobs[1]["id"], jobs[1]["claim_token"]), 404, "not_found")
    # the ones left over can still be fulfilled singly
    assert bus.fulfill(jobs[5]["id"], jobs[5]["claim_token"]).status == 200


def test_same_intent_twice_in_one_batch(bus):
    job = claimed(bus, 1)[0]
    entry = {"id": job["id"], "claim_token": job["claim_token"], "result": "x"}
    r = fulfill_many(bus, [entry, dict(entry, result="y")]).json
    assert [x["http_status"] for x in r["results"]] == [200, 404]
    assert bus.result(job["id"])["result"] == "x"


def test_result_types_and_values(bus):
    jobs = claimed(bus, 3)
    r = fulfill_many(bus, [
        {"id": jobs[0]["id"], "claim_token": jobs[0]["claim_token"]},
        {"id": jobs[1]["id"], "claim_token": jobs[1]["claim_token"], "result": [1, {"a": None}]},
        {"id": jobs[2]["id"], "claim_token": jobs[2]["claim_token"], "result": "plain"},
    ])
    assert r.json["fulfilled"] == 3, r.raw
    assert bus.result(jobs[0]["id"])["result"] is None
    assert bus.result(jobs[1]["id"])["result"] == [1, {"a": None}]
    assert bus.result(jobs[2]["id"])["result"] == "plain"


def test_expired_lease_is_refused(server_factory):
    srv = server_factory(env={"BUS_CLAIM_TIMEOUT_SECONDS": "1"})
    c = srv.client(ns=unique("exp"))
    jobs = claimed(c, 2)
    time.sleep(1.3)
    r = fulfill_many(c, [{"id": j["id"], "claim_token": j["claim_token"]} for j in jobs]).json
    assert [x["error"]["code"] for x in r["results"]] == ["not_found"] * 2


def test_another_keys_lease_is_refused(server_factory):
    srv = server_factory(env=admin_env())
    admin = admin_client(srv)
    ns = unique("own")
    a = srv.client(ns=ns)
    b = srv.client(ns=ns, key=admin.generate_key("other"))
    job = claimed(a, 1)[0]
    r = fulfill_many(b, [{"id": job["id"], "claim_token": job["claim_token"]}]).json
    assert r["results"][0]["http_status"] == 404
    assert a.status(job["id"])["status"] == "claimed"


@pytest.mark.parametrize("body", [
    {"items": []}, {"items": {}}, {"items": "x"}, {}, [], {"items": None}, {"intents": [{}]},
])
def test_bad_envelopes(bus, body):
    assert_error(bus.post("/fulfill", body), 400, "invalid_items")


def test_over_a_hundred_items(bus):
    entries = [{"id": secrets.token_hex(16), "claim_token": "a" * 32}] * 101
    assert_error(fulfill_many(bus, entries), 400, "invalid_items")


def test_body_limit(bus, shared_server):
    jobs = claimed(bus, 100)
    big = [{"id": j["id"], "claim_token": j["claim_token"], "result": {"blob": "x" * 7000}}
           for j in jobs]  # ~700 KB: allowed, where a single fulfil has 8 KB
    big[7]["result"] = {"blob": "x" * 8200}  # over a single fulfil's 8 KB: refused alone
    r = fulfill_many(bus, big)
    assert r.status == 200 and r.json["fulfilled"] == 99, r.raw[:300]
    assert r.json["results"][7]["http_status"] == 413
    assert r.json["results"][7]["error"]["code"] == "payload_too_large"
    assert_error(bus.fulfill(jobs[7]["id"], jobs[7]["claim_token"], result={"blob": "x" * 8200}),
                 413, "payload_too_large")
    assert bus.status(jobs[7]["id"])["status"] == "claimed"
    conn = http.client.HTTPConnection("127.0.0.1", shared_server.port, timeout=10)
    conn.putrequest("POST", "/fulfill")
    conn.putheader("X-API-KEY", shared_server.key)
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(1024 * 1024 + 1))
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 413
    assert json.loads(resp.read())["error"]["code"] == "payload_too_large"
    conn.close()


def test_rate_limit_counts_one_request(server_factory):
    srv = server_factory(env=admin_env(BUS_TESTER_RATE_LIMIT="3"))
    admin = admin_client(srv)
    t = srv.client(ns=unique("ns"), key=admin.generate_key("acker"))
    jobs = claimed(t, 100)  # a publish and a claim: two requests
    r = fulfill_many(t, [{"id": j["id"], "claim_token": j["claim_token"]} for j in jobs])
    assert r.status == 200 and r.json["fulfilled"] == 100, r.raw[:200]
    assert_error(fulfill_many(t, [{"id": jobs[0]["id"], "claim_token": "a" * 32}]), 429,
                 "rate_limited")


def test_signed_batch(bus):
    jobs = claimed(bus, 2)
    body = jbytes({"items": [{"id": j["id"], "claim_token": j["claim_token"]} for j in jobs]})
    headers = {"X-Timestamp": "1", "X-Nonce": "n", "X-Signature": "0" * 64}
    assert_error(send(bus, "POST", "/fulfill", body, headers), 403, "invalid_signature")
    r = send_signed(bus, "POST", "/fulfill", body)
    assert r.status == 200 and r.json["fulfilled"] == 2, r.raw


def test_result_waiter_woken(shared_server):
    ns = unique("res")
    c = shared_server.client(ns=ns)
    jobs = claimed(c, 3)
    thread, box = result_in_background(shared_server, ns, jobs[1]["id"], 20)
    time.sleep(0.3)
    assert thread.is_alive()
    started = time.monotonic()
    r = fulfill_many(c, [{"id": j["id"], "claim_token": j["claim_token"], "result": {"i": i}}
                         for i, j in enumerate(jobs)])
    assert r.json["fulfilled"] == 3
    thread.join(15)
    assert time.monotonic() - started < 10
    got = box["response"]
    assert got.status == 200 and got.json["status"] == "fulfilled"
    assert got.json["result"] == {"i": 1}


def test_per_goal_metrics_count_each_item(server_factory):
    srv = server_factory(env={"BUS_METRICS_TOKEN": "mt-" + secrets.token_hex(8)})
    c = srv.client(ns=unique("m"))
    jobs = claimed(c, 7)
    entries = [{"id": j["id"], "claim_token": j["claim_token"]} for j in jobs]
    entries[2]["claim_token"] = "0" * 32
    assert fulfill_many(c, entries).json["fulfilled"] == 6
    m = samples(scrape(srv))
    assert m[f"intent_bus_goal_fulfilled_total{{{labels(c.ns, 'job')}}}"] == 6
    assert m["intent_bus_fulfills_total"] == 6
