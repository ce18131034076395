"""A job's attempt history in GET /admin/intents/<id> (issue 19), and the
per-goal counters of what the background paths do (lease sweep, cleanup,
admin cancel), on whichever backend the run uses."""

import http.client
import secrets
import sqlite3
import time

import pytest

from conftest import SQLITE_SCHEMA_LATEST, admin_client, admin_env, sqlite_only, unique, wait_until
from test_metrics import samples


@pytest.fixture
def srv(server_factory):
    return server_factory(env=admin_env(BUS_CLAIM_TIMEOUT_SECONDS="1",
                                        BUS_METRICS_TOKEN="mt-" + secrets.token_hex(8)))


def scrape(srv):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        conn.request("GET", "/metrics",
                     headers={"Authorization": "Bearer " + srv.extra_env["BUS_METRICS_TOKEN"]})
        resp = conn.getresponse()
        body = resp.read().decode()
        assert resp.status == 200, body
        return samples(body)
    finally:
        conn.close()


def goal_sample(metrics, family, ns, goal):
    return metrics.get(f'intent_bus_{family}{{namespace="{ns}",goal="{goal}"}}', 0)


def claim_as(client, worker, goal):
    return client.claim(goal=goal, headers={"X-Worker-ID": worker})


def test_each_attempt_listed_with_its_outcome(srv):
    admin = admin_client(srv)
    owner_key = admin.generate_key("carol")
    c = srv.client(ns=unique("att"), key=owner_key)
    iid = c.publish(goal="render", max_attempts=5, backoff_base=1)
    assert admin.intent(iid)["attempts"] == []  # never claimed

    # attempt 1: a worker's /fail with its error
    first = claim_as(c, "w-1", "render").json
    assert first["id"] == iid
    assert c.fail(iid, first["claim_token"], error="disk full").json["status"] == "open"

    # attempt 2: claimed once the backoff is over, then its 1 s lease lapses
    box = {}

    def claimed_again():
        r = claim_as(c, "w-2", "render")
        box["r"] = r
        return r.status == 200
    wait_until(claimed_again, timeout=10, message="the backoff to end")
    second = box["r"].json
    time.sleep(1.3)

    # attempt 3: a claim takes the lapsed lease back, extends it, fulfils
    third = claim_as(c, "w-3", "render").json
    assert third["id"] == iid
    detail = admin.intent(iid)
    running = detail["attempts"][-1]
    assert running["outcome"] == "running" and running["ended_at"] is None
    assert c.extend(iid, third["claim_token"], extend_seconds=30).status == 200
    extended = admin.intent(iid)["attempts"][-1]
    assert extended["lease_expires_at"] > running["lease_expires_at"] + 20
    assert c.fulfill(iid, third["claim_token"], result={"ok": True}).status == 200

    attempts = admin.intent(iid)["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert [a["worker_id"] for a in attempts] == ["w-1", "w-2", "w-3"]
    assert [a["outcome"] for a in attempts] == ["failed", "lease_expired", "fulfilled"]
    assert attempts[0]["error"] == "disk full"
    assert attempts[1]["error"] == "lease expired"
    assert attempts[2]["error"] is None
    for a in attempts:
        assert a["owner"] == "carol"
        assert len(a["claimed_by"]) == 64
        assert a["claimed_at"] <= a["ended_at"]
        assert a["claimed_at"] < a["lease_expires_at"]
    # the lapsed lease ended when it ran out, not when it was taken back
    assert attempts[1]["ended_at"] == pytest.approx(attempts[1]["lease_expires_at"], abs=0.01)
    assert attempts[1]["lease_expires_at"] == pytest.approx(second["claim_expires_at"], abs=0.01)
    assert attempts[2]["claimed_at"] >= attempts[1]["ended_at"]


def test_attempts_of_an_unknown_or_bad_id(srv):
    admin = admin_client(srv)
    assert admin.get("/admin/intents/" + "0" * 32).status == 404
    assert admin.get("/admin/intents/not-an-id").status == 404


def test_attempts_go_with_their_intent(srv):
    admin = admin_client(srv)
    c = srv.client(ns=unique("gone"))
    iid = c.publish(goal="g")
    claim = c.claim_ok(goal="g")
    assert c.fulfill(iid, claim["claim_token"]).status == 200
    assert len(admin.intent(iid)["attempts"]) == 1
    assert admin.post("/admin/purge", {"confirm": True, "namespace": c.ns}).status == 200
    assert admin.get(f"/admin/intents/{iid}").status == 404
    # a new intent can never see the old rows: the id is new, and none are left
    assert admin.intent(c.publish(goal="g"))["attempts"] == []


def test_sweep_counts_lease_expiries_per_goal(srv):
    admin = admin_client(srv)
    c = srv.client(ns=unique("sw"))
    ns = c.ns
    dies = c.publish(goal="lost", max_attempts=1)
    claim_as(c, "w-sweep", "lost")
    # the sweep runs on traffic, once a second: keep asking until it has
    wait_until(lambda: goal_sample(scrape(srv), "goal_lease_expiries_total", ns, "lost") == 1,
               timeout=10, message="the sweep to dead-letter the lapsed lease")
    m = scrape(srv)
    assert goal_sample(m, "goal_dead_lettered_total", ns, "lost") == 1
    assert admin.intent(dies)["status"] == "dead"
    attempts = admin.intent(dies)["attempts"]
    assert [(a["worker_id"], a["outcome"]) for a in attempts] == [("w-sweep", "lease_expired")]
    # it ended when the lease ran out, not when the sweep came by
    assert attempts[0]["ended_at"] == pytest.approx(attempts[0]["lease_expires_at"], abs=0.01)
    assert attempts[0]["owner"] is None  # the main key belongs to no tester owner


def test_cleanup_and_cancel_count_per_goal(srv):
    admin = admin_client(srv)
    c = srv.client(ns=unique("cl"))
    ns = c.ns
    requeued = c.publish(goal="slow", max_attempts=3)
    c.claim_ok(goal="slow")
    time.sleep(1.3)
    r = admin.post("/admin/cleanup")
    assert r.status == 200 and r.json["expired_claims_requeued"] >= 1, r.raw
    m = scrape(srv)
    assert goal_sample(m, "goal_lease_expiries_total", ns, "slow") == 1
    assert goal_sample(m, "goal_dead_lettered_total", ns, "slow") == 0
    attempts = admin.intent(requeued)["attempts"]
    assert [a["outcome"] for a in attempts] == ["lease_expired"]
    assert admin.intent(requeued)["status"] == "open"

    held = c.publish(goal="doomed")
    c.claim_ok(goal="doomed")
    assert admin.post(f"/admin/intents/{held}/cancel").status == 200
    m = scrape(srv)
    assert goal_sample(m, "goal_dead_lettered_total", ns, "doomed") == 1
    assert goal_sample(m, "goal_lease_expiries_total", ns, "doomed") == 0
    attempts = admin.intent(held)["attempts"]
    assert [(a["outcome"], a["error"]) for a in attempts] == [("cancelled", "Cancelled by admin")]


def test_admin_retry_of_a_held_job_releases_its_attempt(srv):
    admin = admin_client(srv)
    c = srv.client(ns=unique("rel"))
    iid = c.publish(goal="g")
    first = c.claim_ok(goal="g")
    assert admin.post(f"/admin/intents/{iid}/retry").status == 200
    assert c.fulfill(iid, first["claim_token"]).status == 404  # the worker lost it
    second = c.claim_ok(goal="g")
    assert c.fulfill(iid, second["claim_token"]).status == 200
    attempts = admin.intent(iid)["attempts"]
    assert [(a["attempt"], a["outcome"]) for a in attempts] == [(1, "released"), (2, "fulfilled")]
    assert attempts[0]["error"] == "Retried by admin"


def test_lease_expiries_reach_the_minute_ring(srv):
    admin = admin_client(srv)
    c = srv.client(ns=unique("ring"))
    before = sum(admin.get("/admin/history").json.get("failed", []) or [0])
    c.publish(goal="ring", max_attempts=1)
    c.claim_ok(goal="ring")
    ns = c.ns
    wait_until(lambda: goal_sample(scrape(srv), "goal_lease_expiries_total", ns, "ring") == 1,
               timeout=10, message="the sweep")
    after = sum(admin.get("/admin/history").json.get("failed", []) or [0])
    assert after == before + 1


@sqlite_only("upgrades a SQLite file of schema 6")
def test_a_version_6_database_gains_the_attempts_table(srv):
    """Databases from before the attempt history (schema 6) are upgraded on
    open: a lease held across the upgrade is its intent's running attempt
    (schema 11 reads it from the intent) and settles as before; claims from
    then on are recorded."""
    admin = admin_client(srv)
    c = srv.client(ns=unique("up"))
    held_id = c.publish(goal="old")
    held = c.claim_ok(goal="old")
    later = c.publish(goal="new")
    srv.stop()
    db = sqlite3.connect(srv.db)
    db.execute("DROP TRIGGER attempts_go_with_intents")
    db.execute("DROP TABLE attempts")
    db.execute("PRAGMA user_version = 6")
    db.commit()
    db.close()
    srv.start()
    admin = admin_client(srv)
    c = srv.client(ns=c.ns)
    [running] = admin.intent(held_id)["attempts"]
    assert (running["attempt"], running["outcome"]) == (1, "running")
    assert c.fulfill(held_id, held["claim_token"]).status == 200
    assert [a["outcome"] for a in admin.intent(held_id)["attempts"]] == ["fulfilled"]
    job = c.claim_ok(goal="new")
    assert job["id"] == later
    assert [a["outcome"] for a in admin.intent(later)["attempts"]] == ["running"]
    db = sqlite3.connect(srv.db)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SQLITE_SCHEMA_LATEST
    db.close()


def test_a_fulfilled_job_retried_by_the_admin_keeps_its_fulfilled_attempt(srv):
    """The fulfil's end of an attempt is read from the intent until something
    else ends it; an admin retry of a fulfilled job must keep it fulfilled
    (not 'released'), and the next claim is attempt 2."""
    admin = admin_client(srv)
    c = srv.client(ns=unique("att"))
    iid = c.publish(goal="again")
    job = claim_as(c, "w-1", "again").json
    assert c.fulfill(iid, job["claim_token"]).status == 200
    done = admin.intent(iid)["attempts"]
    assert [(a["outcome"], a["worker_id"]) for a in done] == [("fulfilled", "w-1")]
    assert done[0]["ended_at"] is not None
    assert admin.post(f"/admin/intents/{iid}/retry").status == 200
    assert admin.intent(iid)["attempts"] == done
    again = claim_as(c, "w-2", "again").json
    assert again["id"] == iid
    attempts = admin.intent(iid)["attempts"]
    assert [(a["attempt"], a["outcome"]) for a in attempts] == [(1, "fulfilled"), (2, "running")]


def test_a_fulfilled_job_cancelled_by_the_admin_keeps_its_fulfilled_attempt(srv):
    admin = admin_client(srv)
    c = srv.client(ns=unique("att"))
    iid = c.publish(goal="done-then-cancelled")
    job = claim_as(c, "w-1", "done-then-cancelled").json
    assert c.fulfill(iid, job["claim_token"]).status == 200
    done = admin.intent(iid)["attempts"]
    assert [a["outcome"] for a in done] == ["fulfilled"]
    assert admin.post(f"/admin/intents/{iid}/cancel").status == 200
    assert admin.intent(iid)["attempts"] == done


@sqlite_only("upgrades a SQLite file of schema 10")
def test_a_version_10_database_keeps_its_attempts_once_each(srv):
    """Schema 10 wrote an attempt's row at its claim and left a fulfilled
    one open; schema 11 writes rows when attempts end and reads the running
    one from its intent. After the upgrade each attempt is listed once,
    with the same times, and the next attempt is numbered after it."""
    admin = admin_client(srv)
    c = srv.client(ns=unique("up10"))
    done_id = c.publish(goal="done")
    done = claim_as(c, "w-done", "done").json
    assert c.fulfill(done_id, done["claim_token"]).status == 200
    held_id = c.publish(goal="held", max_attempts=3)
    held = claim_as(c, "w-held", "held").json
    before = {i: admin.intent(i)["attempts"] for i in (done_id, held_id)}
    srv.stop()
    # The file as schema 10 left it: each claim's row, open; a fulfil
    # dropped the lease's end from the intent.
    db = sqlite3.connect(srv.db)
    db.execute("DROP VIEW attempt_history")
    db.execute("INSERT INTO attempts (intent_id, attempt, worker_id, claimer, claimed_at,"
               " lease_expires_at) SELECT id, 1, worker_id, claimed_by, claimed_at,"
               " claim_expires_at FROM intents WHERE id IN (?, ?)", (done_id, held_id))
    db.execute("UPDATE intents SET claim_expires_at = NULL WHERE id = ?", (done_id,))
    db.execute("PRAGMA user_version = 10")
    db.commit()
    db.close()
    srv.start()
    admin = admin_client(srv)
    c = srv.client(ns=c.ns)
    after = {i: admin.intent(i)["attempts"] for i in (done_id, held_id)}
    assert after == before
    assert [a["outcome"] for a in after[done_id]] == ["fulfilled"]
    assert [a["outcome"] for a in after[held_id]] == ["running"]
    assert c.fail(held_id, held["claim_token"], error="once").status == 200
    attempts = admin.intent(held_id)["attempts"]
    assert [(a["attempt"], a["outcome"], a["error"]) for a in attempts] == [(1, "failed", "once")]
    db = sqlite3.connect(srv.db)
    rows = db.execute("SELECT intent_id, attempt, outcome FROM attempts ORDER BY 1").fetchall()
    version = db.execute("PRAGMA user_version").fetchone()[0]
    db.close()
    assert sorted(rows) == sorted([(done_id, 1, "fulfilled"), (held_id, 1, "failed")])
    assert version == SQLITE_SCHEMA_LATEST
