"""GET /admin/intents's filters (issue 19): namespace, goal, state (with
the scheduled and expired views), id or id prefix, publisher owner, worker
id, text in the error, and pages that follow one another with before=."""

import sqlite3

import pytest

from conftest import (SQLITE_SCHEMA_LATEST, admin_client, admin_env, assert_error, sqlite_only,
                      unique, wait_until)


@pytest.fixture
def srv(server_factory):
    return server_factory(env=admin_env(BUS_CLAIM_TIMEOUT_SECONDS="1"))


def listing(admin, **params):
    r = admin.get("/admin/intents", params={"limit": 500, **params})
    assert r.status == 200, r.raw
    return r.json


def ids(admin, **params):
    return [i["id"] for i in listing(admin, **params)["intents"]]


def test_filters_each_narrow_the_listing(srv):
    admin = admin_client(srv)
    tester_key = admin.generate_key("alice")
    c = srv.client(ns=unique("ns"))
    alice = srv.client(ns=c.ns, key=tester_key)
    mail = c.publish(goal="mail")
    later = c.publish(goal="mail", delay=3600)
    by_alice = alice.publish(goal="pdf")
    broken = c.publish(goal="pdf", max_attempts=2)
    claim = c.claim_ok(goal="pdf", headers={"X-Worker-ID": "w-7"})
    assert claim["id"] == broken
    assert c.fail(broken, claim["claim_token"], error="printer on fire").status == 200
    held = c.publish(goal="held")
    c.claim_ok(goal="held", headers={"X-Worker-ID": "w-9"})
    ns = c.ns

    assert ids(admin, namespace=ns, goal="mail") == [later, mail]
    assert ids(admin, namespace=ns, state="scheduled") == [broken, later]  # delayed, backing off
    assert set(ids(admin, namespace=ns, state="open")) == {mail, later, by_alice, broken}
    assert ids(admin, namespace=ns, owner="alice") == [by_alice]
    assert set(ids(admin, namespace=ns, owner="main")) == {mail, later, broken, held}
    assert ids(admin, namespace=ns, owner="nobody") == []
    assert ids(admin, namespace=ns, worker="w-7") == [broken]
    assert ids(admin, namespace=ns, worker="w-9") == [held]
    assert ids(admin, namespace=ns, error="on fire") == [broken]
    assert ids(admin, namespace=ns, error="no such text") == []
    assert ids(admin, id=broken) == [broken]
    assert ids(admin, id=broken.upper()) == [broken]
    prefix = broken[:20]
    assert broken in ids(admin, id=prefix)
    assert all(i.startswith(prefix) for i in ids(admin, id=prefix))
    # filters combine
    assert ids(admin, namespace=ns, goal="pdf", owner="main") == [broken]
    assert ids(admin, namespace=ns, goal="pdf", state="claimed") == []

    item = [i for i in listing(admin, id=held)["intents"]][0]
    assert item["worker_id"] == "w-9" and item["lease_expired"] is False
    assert admin.intent(broken)["worker_id"] == "w-7"

    # the lease on held lapses: "claimed" no longer lists it, "expired" does
    wait_until(lambda: ids(admin, namespace=ns, state="expired") == [held], timeout=5,
               message="the lease to lapse")
    assert ids(admin, namespace=ns, state="claimed") == []


def test_pages_follow_one_another(srv):
    admin = admin_client(srv)
    c = srv.client(ns=unique("ns"))
    published = [c.publish(goal="page") for _ in range(7)]
    newest_first = published[::-1]
    seen, before = [], None
    for _ in range(5):
        params = {"namespace": c.ns, "limit": 3}
        if before:
            params["before"] = before
        page = admin.get("/admin/intents", params=params).json
        seen += [i["id"] for i in page["intents"]]
        before = page["next"]
        if before is None:
            break
    assert seen == newest_first
    page = admin.get("/admin/intents", params={"namespace": c.ns, "limit": 7}).json
    assert page["next"] == newest_first[-1]  # a full page: there may be more
    page = admin.get("/admin/intents",
                     params={"namespace": c.ns, "limit": 7, "before": page["next"]}).json
    assert page == {"intents": [], "next": None}


@pytest.mark.parametrize("name,value,code", [
    ("state", "stuck", "invalid_status"),
    ("status", "bogus", "invalid_status"),
    ("id", "xyz", "invalid_id"),
    ("id", "a" * 33, "invalid_id"),
    ("before", "abc", "invalid_before"),
    ("goal", "x" * 300, "invalid_goal"),
    ("worker", "bad worker\n", "invalid_worker_id"),
    ("namespace", "no spaces", "invalid_namespace"),
    ("error", "e" * 3000, "invalid_error"),
])
def test_bad_filters_are_refused(srv, name, value, code):
    admin = admin_client(srv)
    assert_error(admin.get("/admin/intents", params={name: value}), 400, code)


def test_blank_filters_mean_not_given(srv):
    admin = admin_client(srv)
    c = srv.client(ns=unique("ns"))
    iid = c.publish()
    assert ids(admin, namespace=c.ns, goal="", state="", id="", owner="", worker="",
               error="", before="") == [iid]


@sqlite_only("upgrades a SQLite file of schema 3")
def test_a_version_3_database_gains_the_worker_column(srv):
    """Databases from before intents.worker_id (schema 3) are upgraded on open:
    their intents keep everything and have no worker id; new claims record it."""
    c = srv.client(ns=unique("ns"))
    old = c.publish(goal="old")
    srv.stop()
    db = sqlite3.connect(srv.db)
    db.execute("DROP VIEW attempt_history")  # schema 11's views, which read the column
    db.execute("DROP VIEW running_attempts")
    db.execute("ALTER TABLE intents DROP COLUMN worker_id")
    db.execute("DROP TABLE audit_log")
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()
    srv.start()
    admin = admin_client(srv)
    c = srv.client(ns=c.ns)
    assert admin.intent(old)["worker_id"] is None
    c.claim_ok(goal="old", headers={"X-Worker-ID": "w-new"})
    assert ids(admin, worker="w-new") == [old]
    assert admin.get("/admin/audit").json == {"entries": [], "next": None}
    db = sqlite3.connect(srv.db)
    # 4: worker_id; 5: schedules; 6: goal controls; 7: attempts; 8: webhooks
    assert db.execute("PRAGMA user_version").fetchone()[0] == SQLITE_SCHEMA_LATEST
    db.close()
