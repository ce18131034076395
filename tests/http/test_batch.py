"""Batch publish and claim (issue 18, docs/PROTOCOL-EXTENSIONS.md "Batch
publish and claim"): POST /intents with up to 100 intents in one
transaction, a result per item; POST /claim?max=K with up to K claims."""

import http.client
import json
import threading
import time
import urllib.parse

import pytest

from conftest import HEX32, admin_client, admin_env, assert_error, unique
from test_signing import jbytes, send, send_signed


def items(ns, count, **fields):
    return [dict({"goal": "job", "payload": {"n": i}, "namespace": ns}, **fields)
            for i in range(count)]


def publish_many(c, intents, **kw):
    return c.post("/intents", {"intents": intents}, **kw)


def claim_many(c, max, **params):
    return c.claim(max=max, **params)


def test_hundred_items_with_invalid_ones(bus):
    batch = items(bus.ns, 100)
    batch[3] = {"goal": "", "namespace": bus.ns, "payload": {}}
    batch[50] = {"goal": "job", "namespace": "bad ns!", "payload": {}}
    batch[97] = "not an object"
    batch[99]["priority"] = "high"
    r = publish_many(bus, batch)
    assert r.status == 200, r.raw
    results = r.json["results"]
    assert [x["index"] for x in results] == list(range(100))
    bad = {3: "invalid_goal", 50: "invalid_namespace", 97: "invalid_request",
           99: "invalid_priority"}
    for i, x in enumerate(results):
        if i in bad:
            assert x["error"]["code"] == bad[i], x
            assert isinstance(x["error"]["message"], str) and x["http_status"] == 400
            assert "id" not in x
        else:
            assert x["http_status"] == 201 and x["status"] == "published", x
            assert HEX32.match(x["id"]) and x["namespace"] == bus.ns
    assert r.json["published"] == 96 and r.json["failed"] == 4
    ids = {x["id"] for x in results if "id" in x}
    assert len(ids) == 96
    got = set()
    while True:
        c = bus.claim(max=100)
        if c.status == 204:
            break
        got |= {x["id"] for x in c.json["intents"]}
    assert got == ids
    assert bus.status(results[0]["id"])["status"] == "claimed"


def test_every_publish_field_per_item(bus):
    r = publish_many(bus, [
        {"goal": "a", "namespace": bus.ns, "payload": {"x": 1}, "priority": 9, "max_attempts": 2,
         "visibility": "private", "target_worker": "w1", "required_capability": "gpu"},
        {"goal": "b", "namespace": bus.ns, "delay": 60, "payload": None},
    ])
    assert r.status == 200 and r.json["published"] == 2, r.raw
    bus.claim_none(max=5)  # a is for w1 with gpu, b is delayed
    c = bus.claim_ok(max=5, worker_id="w1", capabilities="gpu")
    assert len(c["intents"]) == 1
    one = c["intents"][0]
    assert one["goal"] == "a" and one["payload"] == {"x": 1} and one["priority"] == 9
    assert one["target_worker"] == "w1" and one["required_capability"] == "gpu"


@pytest.mark.parametrize("body", [
    {"intents": []}, {"intents": {}}, {"intents": "x"}, {}, [], {"intents": None},
])
def test_bad_envelopes(bus, body):
    assert_error(bus.post("/intents", body), 400, "invalid_intents")


def test_over_a_hundred_items(bus):
    assert_error(publish_many(bus, items(bus.ns, 101)), 400, "invalid_intents")
    bus.claim_none()


def test_body_limit(bus, shared_server):
    big = items(bus.ns, 100, payload={"blob": "x" * 7000})  # ~700 KB: allowed
    r = publish_many(bus, big)
    assert r.status == 200 and r.json["published"] == 100, r.raw[:200]
    # over 1 MB declared: 413 at once, before the body is sent
    conn = http.client.HTTPConnection("127.0.0.1", shared_server.port, timeout=10)
    conn.putrequest("POST", "/intents")
    conn.putheader("X-API-KEY", shared_server.key)
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(1024 * 1024 + 1))
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 413
    assert json.loads(resp.read())["error"]["code"] == "payload_too_large"
    conn.close()
    # over 1 MB sent chunked (no length declared): 413 as it arrives
    huge = json.dumps({"intents": items(bus.ns, 100, payload={"blob": "x" * 11000})}).encode()
    try:
        r = bus.request("POST", "/intents", huge, chunked=True)
    except (BrokenPipeError, ConnectionResetError):
        bus.close()  # the server may close the connection early
    else:
        assert_error(r, 413, "payload_too_large")
    # the single publish keeps its 8 KB limit
    assert_error(bus.publish_raw(payload={"blob": "x" * 9000}), 413, "payload_too_large")
    assert len(bus.claim_ok(max=100)["intents"]) == 100
    bus.claim_none()


def test_idempotent_replays_per_item(bus):
    batch = items(bus.ns, 3)
    for i, x in enumerate(batch):
        x["idempotency_key"] = f"{bus.ns}-k{i}"
    first = publish_many(bus, batch).json["results"]
    assert all(x["http_status"] == 201 for x in first)
    # a replay of items 0 and 2, a changed item 1, one new item
    changed = dict(batch[1], payload={"other": True})
    again = publish_many(bus, [batch[0], changed, batch[2], items(bus.ns, 1)[0]]).json
    res = again["results"]
    assert res[0]["id"] == first[0]["id"] and res[0]["replayed"] is True
    assert res[2]["id"] == first[2]["id"] and res[2]["replayed"] is True
    assert res[1]["error"]["code"] == "idempotency_conflict" and res[1]["http_status"] == 422
    assert res[3]["http_status"] == 201 and res[3]["id"] not in {x["id"] for x in first}
    assert again["published"] == 3 and again["failed"] == 1
    # the same key twice in one batch: the second is a replay of the first
    twice = [dict(items(bus.ns, 1)[0], idempotency_key=f"{bus.ns}-dup")] * 2
    res = publish_many(bus, twice).json["results"]
    assert res[0]["id"] == res[1]["id"] and res[1]["replayed"] is True
    # 3 + 1 + 1 intents in all
    c = bus.claim_ok(max=100)
    assert len(c["intents"]) == 5
    not_string = publish_many(bus, [dict(batch[0], idempotency_key=5)]).json["results"][0]
    assert not_string["error"]["code"] == "invalid_idempotency_key"
    bad_key = publish_many(bus, [dict(batch[0], idempotency_key="")]).json["results"][0]
    assert bad_key["error"]["code"] == "invalid_idempotency_key"


def test_rate_limit_counts_one_request(server_factory):
    srv = server_factory(env=admin_env(BUS_TESTER_RATE_LIMIT="3"))
    admin = admin_client(srv)
    t = srv.client(ns=unique("ns"), key=admin.generate_key("batcher"))
    for _ in range(3):
        r = publish_many(t, items(t.ns, 100))
        assert r.status == 200 and r.json["published"] == 100, r.raw[:200]
    assert_error(publish_many(t, items(t.ns, 1)), 429, "rate_limited")


def test_open_cap_counts_items(server_factory):
    srv = server_factory(env=admin_env(BUS_TESTER_RATE_LIMIT="100000"))
    admin = admin_client(srv)
    t = srv.client(ns=unique("ns"), key=admin.generate_key("capped"))
    for _ in range(19):
        assert publish_many(t, items(t.ns, 100)).json["published"] == 100
    batch = items(t.ns, 100)
    batch[0]["idempotency_key"] = "cap-replay"
    r = publish_many(t, batch).json  # 1900 open: 100 fit exactly
    assert r["published"] == 100
    r = publish_many(t, [batch[0]] + items(t.ns, 2)).json
    assert r["results"][0]["replayed"] is True  # a replay creates nothing: answered at the cap
    assert [x["error"]["code"] for x in r["results"][1:]] == ["limit_exceeded"] * 2
    assert r["results"][1]["http_status"] == 429
    assert r["published"] == 1 and r["failed"] == 2
    t.claim_ok(max=2)  # two claimed: room for two
    r = publish_many(t, items(t.ns, 3)).json
    assert [x["http_status"] for x in r["results"]] == [201, 201, 429]


def test_signed_batch(bus):
    body = jbytes({"intents": items(bus.ns, 2)})
    r = send_signed(bus, "POST", "/intents", body)
    assert r.status == 200 and r.json["published"] == 2, r.raw
    headers = {"X-Timestamp": "1", "X-Nonce": "n", "X-Signature": "0" * 64}
    assert_error(send(bus, "POST", "/intents", body, headers), 403, "invalid_signature")
    target = f"/claim?namespace={bus.ns}&max=5"
    r = send_signed(bus, "POST", target)
    assert r.status == 200 and len(r.json["intents"]) == 2, r.raw


# ---- claim?max= --------------------------------------------------------------

def test_claim_max_shape_and_tokens(bus):
    ids = [bus.publish(payload={"i": i}) for i in range(5)]
    r = bus.claim_ok(max=3)
    assert list(r) == ["intents"] and len(r["intents"]) == 3
    tokens = {x["claim_token"] for x in r["intents"]}
    assert len(tokens) == 3
    for x in r["intents"]:
        assert x["id"] in ids and x["claim_attempts"] == 1 and x["claim_expires_at"] > time.time()
        assert bus.extend(x["id"], x["claim_token"]).status == 200
    rest = bus.claim_ok(max=100)["intents"]
    assert len(rest) == 2
    for x in r["intents"] + rest:
        assert bus.fulfill(x["id"], x["claim_token"], result={"ok": 1}).status == 200
    # another item's token does not work for this one
    a, b = bus.publish(), bus.publish()
    got = bus.claim_ok(max=2)["intents"]
    assert bus.fulfill(got[0]["id"], got[1]["claim_token"]).status == 404
    bus.claim_none(max=2)
    bus.claim_none(max=1)
    assert {a, b} == {x["id"] for x in got}


def test_claim_without_max_is_unchanged(bus):
    iid = bus.publish()
    single = bus.claim_ok()
    assert single["id"] == iid and "intents" not in single and single["claim_token"]


@pytest.mark.parametrize("value", ["0", "101", "-1", "abc", "1.5", "+5", " 5", "", "1e2",
                                   "0x10", "5000000000"])
def test_bad_max(bus, value):
    bus.publish()
    r = bus.post(f"/claim?namespace={bus.ns}&max={urllib.parse.quote(value)}")
    assert_error(r, 400, "invalid_max")


def test_claim_max_with_wait(bus, shared_server):
    out = {}

    def waiter():
        c = shared_server.client(ns=bus.ns)
        t0 = time.monotonic()
        out["r"] = c.claim(max=10, wait=10)
        out["t"] = time.monotonic() - t0

    th = threading.Thread(target=waiter)
    th.start()
    time.sleep(0.5)
    iid = bus.publish()
    th.join(15)
    r = out["r"]
    assert r.status == 200 and out["t"] < 5, (r.raw, out["t"])
    assert [x["id"] for x in r.json["intents"]] == [iid]
    t0 = time.monotonic()
    r = bus.claim(max=10, wait=1)
    assert r.status == 204 and time.monotonic() - t0 >= 0.9


def test_contention_no_double_claims(shared_server):
    ns = unique("ns")
    pub = shared_server.client(ns=ns)
    total = 1000
    for start in range(0, total, 100):
        assert publish_many(pub, items(ns, 100)).json["published"] == 100
    seen = []
    lock = threading.Lock()
    errors = []

    def worker():
        c = shared_server.client(ns=ns)
        try:
            while True:
                r = c.claim(max=7)
                if r.status == 204:
                    return
                assert r.status == 200, r.raw
                with lock:
                    seen.extend(x["id"] for x in r.json["intents"])
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            c.close()

    threads = [threading.Thread(target=worker) for _ in range(50)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert not errors, errors[:3]
    assert len(seen) == total and len(set(seen)) == total


def test_goal_limit_and_pause_cap_a_batch(server_factory):
    srv = server_factory(env=admin_env())
    admin = admin_client(srv)
    c = srv.client(ns=unique("ns"))
    r = publish_many(c, items(c.ns, 10, goal="limited", priority=5) + items(c.ns, 5, goal="paused", priority=5)
                     + items(c.ns, 2, goal="free", priority=0))
    assert r.json["published"] == 17
    assert admin.post(f"/admin/goals/{c.ns}/limited/limit", {"max_claimed": 3}).status == 200
    assert admin.post(f"/admin/goals/{c.ns}/paused/pause").status == 200
    got = c.claim_ok(max=100)["intents"]
    goals = [x["goal"] for x in got]
    assert goals.count("limited") == 3 and goals.count("paused") == 0 and goals.count("free") == 2
    c.claim_none(max=100)
    c.claim_none(max=100, goal="limited")
    # one settled: room for exactly one more
    x = next(x for x in got if x["goal"] == "limited")
    assert c.fulfill(x["id"], x["claim_token"]).status == 200
    assert [y["goal"] for y in c.claim_ok(max=100)["intents"]] == ["limited"]
    assert admin.post(f"/admin/goals/{c.ns}/paused/resume").status == 200
    assert len(c.claim_ok(max=100, goal="paused")["intents"]) == 5


def test_goal_limit_holds_under_concurrent_batches(server_factory):
    srv = server_factory(env=admin_env())
    admin = admin_client(srv)
    ns = unique("ns")
    c = srv.client(ns=ns)
    assert publish_many(c, items(ns, 60, goal="g")).json["published"] == 60
    assert admin.post(f"/admin/goals/{ns}/g/limit", {"max_claimed": 3}).status == 200
    held = []
    lock = threading.Lock()

    def worker():
        w = srv.client(ns=ns)
        for _ in range(5):
            r = w.claim(max=10)
            if r.status == 200:
                with lock:
                    held.extend(r.json["intents"])
        w.close()

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert len(held) == 3
