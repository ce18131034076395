"""Dead letters for the operator (issue 19): GET /admin/dead's filters
(still the original's bare list) and the bulk actions POST /admin/dead/retry
and /admin/dead/purge, each needing {"confirm": true} and taking only the
dead letters that match."""

import pytest

from conftest import admin_client, admin_env, assert_error, unique


@pytest.fixture
def srv(server_factory):
    return server_factory(env=admin_env())


def kill(c, goal, error):
    iid = c.publish(goal=goal, max_attempts=1)
    claim = c.claim_ok(goal=goal)
    assert claim["id"] == iid
    assert c.fail(iid, claim["claim_token"], error=error).json["status"] == "dead"
    return iid


def dead_ids(admin, **params):
    r = admin.get("/admin/dead", params=params)
    assert r.status == 200 and isinstance(r.json, list), r.raw
    return [d["intent_id"] for d in r.json]


def test_filters_and_bulk_actions(srv):
    admin = admin_client(srv)
    c = srv.client(ns=unique("ns"))
    other = srv.client(ns=unique("ns"))
    smtp1 = kill(c, "mail", "SMTP 421 try later")
    smtp2 = kill(c, "mail", "SMTP 421 again")
    pdf = kill(c, "pdf", "out of paper")
    cancelled = c.publish(goal="mail")
    assert admin.post(f"/admin/intents/{cancelled}/cancel").status == 200
    elsewhere = kill(other, "mail", "SMTP 421 elsewhere")

    assert dead_ids(admin, namespace=c.ns) == [cancelled, pdf, smtp2, smtp1]
    assert dead_ids(admin, namespace=c.ns, goal="mail") == [cancelled, smtp2, smtp1]
    assert dead_ids(admin, namespace=c.ns, reason="failed", error="SMTP 421") == [smtp2, smtp1]
    assert dead_ids(admin, reason="cancelled", namespace=c.ns) == [cancelled]
    assert_error(admin.get("/admin/dead", params={"reason": "bored"}), 400, "invalid_reason")

    # bulk retry: only the matching ones, back in the queue
    r = admin.post("/admin/dead/retry", {"namespace": c.ns, "error": "SMTP 421"})
    assert_error(r, 400, "invalid_request")  # no confirm
    r = admin.post("/admin/dead/retry", {"confirm": True, "namespace": c.ns, "error": "SMTP 421"})
    assert r.status == 200 and r.json == {"ok": True, "retried": 2}, r.raw
    assert {admin.intent(i)["status"] for i in (smtp1, smtp2)} == {"open"}
    assert dead_ids(admin, namespace=c.ns) == [cancelled, pdf]
    assert dead_ids(admin, namespace=other.ns) == [elsewhere]

    # bulk purge: matching dead letters and their dead intents are gone
    assert_error(admin.post("/admin/dead/purge", {"confirm": True, "goal": 5}), 400, "invalid_request")
    r = admin.post("/admin/dead/purge", {"confirm": True, "namespace": c.ns, "goal": "pdf"})
    assert r.status == 200 and r.json == {"ok": True, "purged": 1}, r.raw
    assert_error(admin.get(f"/admin/intents/{pdf}"), 404, "not_found")
    assert dead_ids(admin, namespace=c.ns) == [cancelled]
    assert dead_ids(admin, namespace=other.ns) == [elsewhere]

    audit = [(e["action"], e["target"]) for e in admin.get("/admin/audit").json["entries"]][:2]
    assert audit[0][0] == "dead_purge" and '"goal":"pdf"' in audit[0][1]
    assert audit[1][0] == "dead_retry" and '"error":"SMTP 421"' in audit[1][1]
