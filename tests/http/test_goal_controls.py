"""Pausing a goal and limiting how many of its intents are claimed at once
(issue 18, docs/PROTOCOL-EXTENSIONS.md "Goal controls"): POST
/admin/goals/<namespace>/<goal>/pause, /resume and /limit. A paused goal
hands out nothing (publishes are still accepted); with max_claimed N, at
most N of its intents hold a live lease at once."""

import secrets
import sqlite3
import threading
import time
import urllib.parse

import pytest

from conftest import (SQLITE_SCHEMA_LATEST, admin_client, admin_env, assert_error, basic_auth,
                      sqlite_only, unique)


@pytest.fixture
def srv(server_factory):
    return server_factory(env=admin_env(BUS_ADMIN_READONLY_PASSWORD="ro-" + secrets.token_hex(8)))


def goal_path(ns, goal, action):
    return f"/admin/goals/{ns}/{urllib.parse.quote(goal, safe='')}/{action}"


def control(admin, ns, goal, action, body=None):
    r = admin.post(goal_path(ns, goal, action), body)
    assert r.status == 200, r.raw
    return r.json


def goals_view(admin, ns):
    return {g["goal"]: g for g in admin.get("/admin/goals").json["goals"] if g["namespace"] == ns}


def test_paused_goal_hands_out_nothing_until_resumed(srv):
    admin = admin_client(srv)
    c = srv.client(ns=unique("ns"))
    held = [c.publish(goal="held"), c.publish(goal="held")]
    other = c.publish(goal="other", priority=1)  # lower priority: last in line
    reply = control(admin, c.ns, "held", "pause")
    assert reply == {"ok": True, "namespace": c.ns, "goal": "held", "paused": True,
                     "max_claimed": None}

    c.claim_none(goal="held")
    assert c.claim_ok()["id"] == other  # an any-goal claim passes over the paused goal
    c.claim_none()
    late = c.publish(goal="held")  # publishes are still accepted
    c.claim_none(goal="held")
    view = goals_view(admin, c.ns)
    assert view["held"]["paused"] is True and view["held"]["open"] == 3
    assert view["other"]["paused"] is False and view["other"]["max_claimed"] is None

    assert control(admin, c.ns, "held", "resume")["paused"] is False
    got = {c.claim_ok(goal="held")["id"], c.claim_ok()["id"], c.claim_ok()["id"]}
    assert got == set(held) | {late}
    assert "held" not in goals_view(admin, c.ns) or not goals_view(admin, c.ns)["held"]["paused"]


def test_pause_is_per_namespace_and_goal(srv):
    admin = admin_client(srv)
    a = srv.client(ns=unique("ns"))
    b = srv.client(ns=unique("ns"))
    a.publish(goal="g")
    b_id = b.publish(goal="g")
    control(admin, a.ns, "g", "pause")
    a.claim_none(goal="g")
    assert b.claim_ok(goal="g")["id"] == b_id


def test_goal_names_are_percent_encoded_in_the_path(srv):
    admin = admin_client(srv)
    c = srv.client(ns=unique("ns"))
    goal = "reports/daily ünï?#%+pause"
    c.publish(goal=goal)
    reply = control(admin, c.ns, goal, "pause")
    assert reply["goal"] == goal and reply["paused"] is True
    c.claim_none(goal=goal)
    assert goals_view(admin, c.ns)[goal]["paused"] is True
    control(admin, c.ns, goal, "resume")
    assert c.claim_ok(goal=goal)["payload"] == {"n": 1}


def test_a_parked_claim_is_answered_soon_after_resume(srv):
    admin = admin_client(srv)
    c = srv.client(ns=unique("ns"))
    iid = c.publish(goal="g")
    control(admin, c.ns, "g", "pause")
    box = {}

    def run():
        worker = srv.client(ns=c.ns)
        box["response"] = worker.claim(goal="g", wait=20)
        box["at"] = time.monotonic()
        worker.close()

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(1.5)  # parked, and its one-second retries keep finding nothing
    assert thread.is_alive(), "a claim on a paused goal must keep waiting"
    resumed = time.monotonic()
    control(admin, c.ns, "g", "resume")
    thread.join(10)
    assert box["response"].status == 200 and box["response"].json["id"] == iid
    assert box["at"] - resumed < 0.5, "the resume must wake the parked claim at once"


def test_limit_holds_across_twenty_concurrent_workers(srv):
    admin = admin_client(srv)
    c = srv.client(ns=unique("ns"))
    total = 60
    for i in range(total):
        c.publish(goal="limited", payload={"i": i})
    free = c.publish(goal="free")
    assert control(admin, c.ns, "limited", "limit", {"max_claimed": 3})["max_claimed"] == 3

    lock = threading.Lock()
    state = {"holding": 0, "most": 0, "done": 0, "errors": []}
    observed = []
    stop = threading.Event()

    def worker():
        w = srv.client(ns=c.ns)
        try:
            while not stop.is_set():
                r = w.claim(goal="limited")
                if r.status == 204:
                    time.sleep(0.01)
                    continue
                if r.status != 200:
                    state["errors"].append(r.status)
                    return
                with lock:  # counted only while the lease is surely live
                    state["holding"] += 1
                    state["most"] = max(state["most"], state["holding"])
                time.sleep(0.05)
                with lock:
                    state["holding"] -= 1
                assert w.fulfill(r.json["id"], r.json["claim_token"]).status == 200
                with lock:
                    state["done"] += 1
                    if state["done"] == total:
                        stop.set()
        finally:
            w.close()

    def watch():  # the admin listing's view of live leases
        a = admin_client(srv)
        while not stop.is_set():
            r = a.get("/admin/intents", params={"namespace": c.ns, "goal": "limited",
                                                 "state": "claimed"})
            observed.append(len(r.json["intents"]))
            time.sleep(0.02)

    threads = [threading.Thread(target=worker) for _ in range(20)] + [threading.Thread(target=watch)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    stop.set()
    assert not state["errors"], state["errors"]
    assert state["done"] == total
    assert state["most"] == 3, state  # never more, and the limit was used
    assert observed and max(observed) <= 3, observed
    # other goals are not held back
    assert c.claim_ok(goal="free")["id"] == free


def test_lapsed_leases_free_capacity(server_factory):
    srv = server_factory(env=admin_env(BUS_CLAIM_TIMEOUT_SECONDS="1"))
    admin = admin_client(srv)
    c = srv.client(ns=unique("ns"))
    ids = {c.publish(goal="g") for _ in range(3)}
    control(admin, c.ns, "g", "limit", {"max_claimed": 2})
    first = c.claim_ok(goal="g")
    second = c.claim_ok()
    c.claim_none(goal="g")
    c.claim_none()
    assert c.fulfill(first["id"], first["claim_token"]).status == 200
    third = c.claim_ok(goal="g")  # a fulfilled lease frees its place
    c.claim_none(goal="g")
    time.sleep(1.2)  # both leases lapse: they no longer count
    again = [c.claim_ok(goal="g"), c.claim_ok(goal="g")]
    c.claim_none(goal="g")
    assert {x["id"] for x in again} == {second["id"], third["id"]}
    assert {first["id"], second["id"], third["id"]} == ids
    # removing the limit
    assert control(admin, c.ns, "g", "limit", {"max_claimed": None})["max_claimed"] is None
    assert c.fulfill(again[0]["id"], again[0]["claim_token"]).status == 200


def test_a_parked_claim_is_answered_when_the_limit_is_raised(srv):
    admin = admin_client(srv)
    c = srv.client(ns=unique("ns"))
    c.publish(goal="g")
    second = c.publish(goal="g")
    control(admin, c.ns, "g", "limit", {"max_claimed": 1})
    c.claim_ok(goal="g")
    box = {}

    def run():
        worker = srv.client(ns=c.ns)
        box["response"] = worker.claim(goal="g", wait=20)
        worker.close()

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(1.5)
    assert thread.is_alive()
    control(admin, c.ns, "g", "limit", {"max_claimed": 2})
    thread.join(10)
    assert box["response"].status == 200 and box["response"].json["id"] == second


@pytest.mark.parametrize("body", [{"max_claimed": 0}, {"max_claimed": -1}, {"max_claimed": 1.5},
                                  {"max_claimed": "3"}, {"max_claimed": True}, {},
                                  {"max_claimed": 1000001}, {"max": 3}])
def test_bad_limits_are_refused(srv, body):
    admin = admin_client(srv)
    assert_error(admin.post(goal_path("ns", "g", "limit"), body), 400, "invalid_max_claimed")
    assert goals_view(admin, "ns") == {}


def test_bad_bodies_and_paths_are_refused(srv):
    admin = admin_client(srv)
    assert_error(admin.post(goal_path("ns", "g", "limit"), [3]), 400, "invalid_request")
    assert_error(admin.post(goal_path("ns", "g", "limit")), 400, "invalid_request")
    assert_error(admin.post("/admin/goals/bad%20ns/g/pause"), 400, "invalid_namespace")
    assert_error(admin.post("/admin/goals/" + "n" * 65 + "/g/pause"), 400, "invalid_namespace")
    assert_error(admin.post("/admin/goals/ns/pause"), 400, "invalid_goal")
    assert_error(admin.post("/admin/goals/ns/%20/pause"), 400, "invalid_goal")
    assert_error(admin.post("/admin/goals/ns/" + "g" * 257 + "/pause"), 400, "invalid_goal")
    assert admin.get("/admin/audit").json["entries"] == []


def test_controls_without_intents_are_listed_and_kept(srv):
    admin = admin_client(srv)
    control(admin, "quiet", "nothing-yet", "pause")
    control(admin, "quiet", "capped", "limit", {"max_claimed": 7})
    view = goals_view(admin, "quiet")
    assert view["nothing-yet"]["paused"] is True and view["nothing-yet"]["open"] == 0
    assert view["capped"]["max_claimed"] == 7 and view["capped"]["paused"] is False
    srv.restart()
    admin = admin_client(srv)
    assert goals_view(admin, "quiet")["capped"]["max_claimed"] == 7
    # resume keeps the limit; removing the limit keeps the pause
    control(admin, "quiet", "capped", "pause")
    assert control(admin, "quiet", "capped", "resume")["max_claimed"] == 7
    control(admin, "quiet", "nothing-yet", "limit", {"max_claimed": 2})
    assert control(admin, "quiet", "nothing-yet", "limit", {"max_claimed": None})["paused"] is True
    # a goal with neither control is no longer listed when it has no intents
    control(admin, "quiet", "nothing-yet", "resume")
    assert set(goals_view(admin, "quiet")) == {"capped"}
    metrics = admin.get("/metrics", check=False).raw.decode()
    assert 'intent_bus_goal_max_claimed{namespace="quiet",goal="capped"} 7' in metrics
    assert "intent_bus_goals_paused 0" in metrics


def test_paused_goals_in_metrics(srv):
    admin = admin_client(srv)
    control(admin, "m", "a", "pause")
    control(admin, "m", 'q"uote', "pause")
    metrics = admin.get("/metrics", check=False).raw.decode()
    assert 'intent_bus_goal_paused{namespace="m",goal="a"} 1' in metrics
    assert 'intent_bus_goal_paused{namespace="m",goal="q\\"uote"} 1' in metrics
    assert "intent_bus_goals_paused 2" in metrics


def test_viewer_and_api_keys_cannot_change_controls(srv):
    c = srv.client(ns=unique("ns"))
    c.publish(goal="g")
    viewer = admin_client(srv, basic_auth("viewer",
                                          srv.extra_env["BUS_ADMIN_READONLY_PASSWORD"]))
    for action, body in (("pause", None), ("resume", None), ("limit", {"max_claimed": 1})):
        assert_error(viewer.post(goal_path(c.ns, "g", action), body), 403, "forbidden")
        r = c.post(goal_path(c.ns, "g", action), body)
        assert r.status == 401
    # the viewer still sees the controls
    assert viewer.get("/admin/goals").status == 200
    assert c.claim_ok(goal="g")


def test_actions_are_audited(srv):
    admin = admin_client(srv)
    by_password = admin_client(srv, basic_auth("admin", srv.extra_env["DASHBOARD_PASSWORD"]))
    control(admin, "aud", "g/x", "pause")
    control(by_password, "aud", "g/x", "limit", {"max_claimed": 4})
    control(admin, "aud", "g/x", "resume")
    log = admin.get("/admin/audit").json["entries"]
    got = [(e["action"], e["target"], e["who"], e["detail"]["paused"], e["detail"]["max_claimed"])
           for e in reversed(log)]
    assert got == [("goal_pause", "aud/g/x", "admin-token", True, None),
                   ("goal_limit", "aud/g/x", "admin-password", True, 4),
                   ("goal_resume", "aud/g/x", "admin-token", False, 4)]


@sqlite_only("upgrades a SQLite file")
def test_a_version_5_database_gains_goal_controls(srv):
    """Databases from before goal controls (schema 5) are upgraded on open."""
    c = srv.client(ns=unique("ns"))
    old = c.publish(goal="old")
    srv.stop()
    db = sqlite3.connect(srv.db)
    db.execute("DROP TABLE goal_controls")
    db.execute("PRAGMA user_version = 5")
    db.commit()
    db.close()
    srv.start()
    admin = admin_client(srv)
    c = srv.client(ns=c.ns)
    assert goals_view(admin, c.ns)["old"]["paused"] is False
    control(admin, c.ns, "old", "pause")
    c.claim_none(goal="old")
    control(admin, c.ns, "old", "resume")
    assert c.claim_ok(goal="old")["id"] == old
    db = sqlite3.connect(srv.db)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SQLITE_SCHEMA_LATEST
    db.close()
