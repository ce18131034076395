"""The dashboard overview's views (issue 19): per-minute publishes, claims,
fulfils and failures kept by the bus (GET /admin/history), and counts per
namespace, goal and state with the oldest claimable job (GET /admin/goals)."""

import time

import pytest

from conftest import admin_client, admin_env, assert_error, unique, wait_until


@pytest.fixture
def srv(server_factory):
    return server_factory(env=admin_env(BUS_CLAIM_TIMEOUT_SECONDS="1"))


def test_history_counts_this_minute(srv):
    admin = admin_client(srv)
    c = srv.client(ns=unique("ns"))
    # a fresh server: everything counted is this test's, within the last 2 minutes
    for _ in range(3):
        c.publish(goal="h")
    first = c.claim_ok(goal="h")
    c.fulfill(first["id"], first["claim_token"])
    second = c.claim_ok(goal="h")
    c.fail(second["id"], second["claim_token"], error="x")
    after = admin.get("/admin/history", params={"minutes": 2}).json
    assert after["minutes"] == 2 and len(after["published"]) == 2
    assert after["first_minute"] % 60 == 0
    assert after["first_minute"] <= time.time() < after["first_minute"] + 120
    counted = {k: sum(after[k]) for k in ("published", "claimed", "fulfilled", "failed")}
    assert counted == {"published": 3, "claimed": 2, "fulfilled": 1, "failed": 1}, after
    day = admin.get("/admin/history", params={"minutes": 1440}).json
    assert len(day["claimed"]) == 1440 and sum(day["published"]) >= 3
    default = admin.get("/admin/history").json
    assert default["minutes"] == 60
    for bad in ("0", "1441", "x", "1.5"):
        assert_error(admin.get("/admin/history", params={"minutes": bad}), 400, "invalid_minutes")


def test_goals_count_every_state(srv):
    admin = admin_client(srv)
    c = srv.client(ns=unique("ns"))
    c.publish(goal="a")
    c.publish(goal="a", delay=3600)
    c.publish(goal="b")
    c.claim_ok(goal="b")
    done = c.publish(goal="c")
    claim = c.claim_ok(goal="c")
    c.fulfill(done, claim["claim_token"])
    dead = c.publish(goal="c", max_attempts=1)
    claim = c.claim_ok(goal="c")
    c.fail(dead, claim["claim_token"], error="boom")

    def rows():
        body = admin.get("/admin/goals").json
        assert body["truncated"] is False
        return {g["goal"]: g for g in body["goals"] if g["namespace"] == c.ns}
    got = wait_until(lambda: (lambda r: r if r["b"]["expired"] == 1 else None)(rows()), timeout=5,
                     message="b's lease to lapse")
    assert set(got) == {"a", "b", "c"}
    a, b, cc = got["a"], got["b"], got["c"]
    assert (a["open"], a["scheduled"], a["claimed"]) == (1, 1, 0)
    assert a["oldest_open_age"] is not None and a["oldest_open_age"] >= 0
    assert (b["open"], b["claimed"], b["expired"]) == (0, 0, 1) and b["oldest_open_age"] is None
    assert (cc["fulfilled"], cc["dead"], cc["open"]) == (1, 1, 0)


def test_workers_seen_with_what_they_hold(srv):
    admin = admin_client(srv)
    tester_key = admin.generate_key("alice")
    c = srv.client(ns=unique("ns"))
    alice = srv.client(ns=c.ns, key=tester_key)
    c.publish(goal="render", required_capability="gpu", visibility="public")
    c.publish(goal="render", visibility="public")
    got = c.claim_ok(goal="render", headers={"X-Worker-ID": "gpu-1", "X-Worker-Capabilities": "gpu,cuda"})
    c.claim_ok(goal="render", headers={"X-Worker-ID": "gpu-1", "X-Worker-Capabilities": "gpu,cuda"})
    alice.claim_none(goal="nothing", headers={"X-Worker-ID": "cpu-9"})
    c.claim_none(goal="nothing")  # no worker id
    assert got["id"]

    def workers():
        return {(w["worker_id"], w["owner"]): w for w in admin.get("/admin/workers").json["workers"]}
    seen = workers()
    gpu = seen[("gpu-1", "main")]
    assert gpu["capabilities"] == ["gpu", "cuda"] and gpu["claims"] == 2 and gpu["held"] == 2
    assert gpu["held_expired"] == 0 and gpu["namespace"] == c.ns and gpu["last_claim"] is not None
    cpu = seen[("cpu-9", "alice")]
    assert cpu["claims"] == 0 and cpu["empty_claims"] == 1 and cpu["held"] == 0
    assert cpu["last_claim"] is None and cpu["capabilities"] == []
    assert (None, "main") in seen
    order = [w["last_seen"] for w in admin.get("/admin/workers").json["workers"] if "last_seen" in w]
    assert order == sorted(order, reverse=True)
    # the leases lapse: held moves to held_expired
    wait_until(lambda: workers()[("gpu-1", "main")]["held_expired"] == 2, timeout=5,
               message="gpu-1's leases to lapse")
    # workers silent for longer than `since` are left out, unless they hold a lease
    time.sleep(1.1)
    recent = admin.get("/admin/workers", params={"since": 1}).json["workers"]
    assert [(w["worker_id"], w["owner"], w["held_expired"]) for w in recent] == [("gpu-1", "main", 2)]
    assert "last_seen" not in recent[0]
    for bad in ("0", "x", "604801"):
        assert_error(admin.get("/admin/workers", params={"since": bad}), 400, "invalid_since")
