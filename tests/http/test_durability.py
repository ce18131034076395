"""Acknowledged writes survive kill -9 and restart (spec 2: jobs are not silently lost)."""

from conftest import assert_error, free_port, unique

N = 200


def crash_and_restart(srv):
    srv.kill()            # SIGKILL: no chance to flush anything
    srv.port = free_port()
    srv.start()
    return srv


def test_published_intents_survive_kill9(server_factory):
    srv = server_factory()
    c = srv.client(ns=unique("dur"))
    ids = [c.publish(payload={"i": i}) for i in range(N)]  # every one acknowledged with 201
    assert len(set(ids)) == N
    # fulfil 20 of them before the crash
    done = {}
    for _ in range(20):
        claim = c.claim_ok()
        r = c.fulfill(claim["id"], claim["claim_token"], result={"done": claim["payload"]["i"]})
        assert r.status == 200
        done[claim["id"]] = claim["payload"]["i"]
    assert list(done) == ids[:20]  # FIFO within one priority

    crash_and_restart(srv)
    c2 = srv.client(ns=c.ns)
    for i, iid in enumerate(ids):
        st = c2.status(iid)
        if iid in done:
            assert st["status"] == "fulfilled", (iid, st)
            assert c2.result(iid)["result"] == {"done": i}
        else:
            assert st["status"] == "open", (iid, st)
            assert st["claim_attempts"] == 0
    claimed = []
    for _ in range(N - 20):
        claim = c2.claim_ok()
        claimed.append(claim["id"])
        assert claim["payload"] == {"i": ids.index(claim["id"])}
    c2.claim_none()
    assert claimed == ids[20:]


def test_claim_and_failure_survive_kill9(server_factory):
    srv = server_factory()
    c = srv.client(ns=unique("dur"))
    a = c.publish(priority=2)
    b = c.publish(priority=1, max_attempts=1)
    ca = c.claim_ok()
    cb = c.claim_ok()
    assert (ca["id"], cb["id"]) == (a, b)
    assert c.fail(b, cb["claim_token"], error="gone").json["status"] == "dead"
    crash_and_restart(srv)
    c2 = srv.client(ns=c.ns)
    st = c2.status(a)
    assert st["status"] == "claimed" and st["claim_attempts"] == 1
    assert abs(st["claim_expires_at"] - ca["claim_expires_at"]) < 0.01
    stb = c2.status(b)
    assert stb["status"] == "dead" and stb["error"] == "gone"
    c2.claim_none()
    # the lease (60 s) is still valid after the restart and the worker can finish
    assert c2.fulfill(a, ca["claim_token"]).status == 200


def test_kv_survives_kill9(server_factory):
    srv = server_factory()
    c = srv.client()
    key = unique("k")
    assert c.post(f"/set/{key}", {"value": {"x": [1, 2]}, "ttl": 3600}).status == 200
    crash_and_restart(srv)
    assert srv.client().get(f"/get/{key}").json == {"value": {"x": [1, 2]}}


def test_idempotency_survives_kill9(server_factory):
    srv = server_factory()
    c = srv.client(ns=unique("dur"))
    body = c.intent_body()
    r1 = c.post("/intent", body, headers={"Idempotency-Key": "abc-123"})
    assert r1.status == 201
    crash_and_restart(srv)
    c2 = srv.client(ns=c.ns)
    r2 = c2.post("/intent", body, headers={"Idempotency-Key": "abc-123"})
    assert r2.status == 201 and r2.raw == r1.raw
    assert_error(c2.post("/intent", c.intent_body(payload="other"), headers={"Idempotency-Key": "abc-123"}),
                 422, "idempotency_conflict")
    c2.claim_ok()
    c2.claim_none()


def test_sigterm_keeps_everything(server_factory):
    srv = server_factory()
    c = srv.client(ns=unique("dur"))
    ids = [c.publish(payload=i) for i in range(50)]
    assert srv.stop() == 0, srv.stderr()
    srv.port = free_port()
    srv.start()
    c2 = srv.client(ns=c.ns)
    got = [c2.claim_ok()["id"] for _ in ids]
    assert got == ids
    c2.claim_none()
