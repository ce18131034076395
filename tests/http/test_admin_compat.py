"""The admin side as users of the original Flask server expect it (issue 13):
the refusal's words, X-Admin-Token deciding over a Basic password, the
dead-letter list with the failure text in "reason", and expired leases
told apart from live ones in /admin/stats, /admin/intents and /metrics."""

import http.client
import time

import pytest

from conftest import admin_client, admin_env, assert_error, basic_auth, unique, wait_until


@pytest.fixture
def short_lease_admin(server_factory):
    """Both admin credentials set, leases of 1 second."""
    return server_factory(env=admin_env(BUS_CLAIM_TIMEOUT_SECONDS="1"))


def refused(resp):
    assert_error(resp, 401, "unauthorized")
    assert resp.json["error"]["message"] == "Authentication required."
    assert resp.headers.get("www-authenticate", "").startswith("Basic ")


def test_wrong_token_is_not_rescued_by_right_password(short_lease_admin):
    srv = short_lease_admin
    password = basic_auth("admin", srv.extra_env["DASHBOARD_PASSWORD"])
    wrong_token = {"X-Admin-Token": "not-the-secret", **password}
    client = admin_client(srv, wrong_token)
    for path in ("/admin/dashboard", "/admin/stats", "/admin/dead"):
        refused(client.get(path))
    refused(client.post("/admin/generate_key", {"owner": "x"}))
    # the password alone and the token alone still work
    assert admin_client(srv, password).get("/admin/stats").status == 200
    assert admin_client(srv).get("/admin/stats").status == 200
    right_token = {"X-Admin-Token": srv.extra_env["BUS_ADMIN_SECRET"],
                   **basic_auth("admin", "wrong")}
    assert admin_client(srv, right_token).get("/admin/stats").status == 200


def test_token_without_admin_secret_leaves_basic_to_decide(server_factory):
    """With no BUS_ADMIN_SECRET the token is not a credential at all: spec 5.3
    then goes on to Basic."""
    srv = server_factory(env={"DASHBOARD_PASSWORD": "pw-only"})
    ok = admin_client(srv, {"X-Admin-Token": "whatever", **basic_auth("admin", "pw-only")})
    assert ok.get("/admin/stats").status == 200
    refused(admin_client(srv, {"X-Admin-Token": "whatever"}).get("/admin/stats"))


def test_dead_list_reasons_as_the_original_words_them(short_lease_admin):
    srv = short_lease_admin
    admin = admin_client(srv)
    c = srv.client(ns=unique("ns"))
    failed = c.publish(goal="fails", max_attempts=1)
    claim = c.claim_ok(goal="fails")
    assert c.fail(failed, claim["claim_token"], error="printer on fire").status == 200
    cancelled = c.publish(goal="cancel")
    assert admin.post(f"/admin/intents/{cancelled}/cancel").json["ok"] is True
    lapsed = c.publish(goal="lapse", max_attempts=1)
    c.claim_ok(goal="lapse")
    time.sleep(1.2)
    assert admin.post("/admin/cleanup").status == 200  # the sweep kills the exhausted lease
    r = admin.get("/admin/dead")
    assert r.status == 200 and isinstance(r.json, list), r.raw
    by_id = {x["intent_id"]: x for x in r.json}
    assert by_id[failed]["reason"] == "printer on fire"
    assert by_id[cancelled]["reason"] == "Cancelled by admin"
    assert by_id[lapsed]["reason"] == "Max retries exceeded"
    assert [x["intent_id"] for x in r.json] == [lapsed, cancelled, failed]  # newest first
    for item in r.json:
        assert {"intent_id", "namespace", "goal", "attempts", "reason", "created_at"} <= set(item)
        assert item["attempts"] == item["claim_attempts"] and item["namespace"] == c.ns
    assert admin.get(f"/admin/dead/{failed}").json["reason"] == "printer on fire"
    assert c.status(cancelled)["error"] == "Cancelled by admin"


def test_expired_lease_is_not_counted_as_claimed(short_lease_admin):
    srv = short_lease_admin
    admin = admin_client(srv)
    c = srv.client(ns=unique("ns"))
    stuck = c.publish(goal="stuck")
    c.claim_ok(goal="stuck")
    live = c.publish(goal="live")
    lease = c.claim_ok(goal="live")
    listed = {i["id"]: i for i in admin.get("/admin/intents", params={"namespace": c.ns}).json["intents"]}
    assert listed[live]["claimed_by"] and listed[live]["lease_expired"] is False
    assert abs(listed[live]["claim_expires_at"] - lease["claim_expires_at"]) < 0.01

    def lapsed():
        counts = admin.stats()["namespaces"][c.ns]
        return counts["expired"] == 2 and counts
    counts = wait_until(lapsed, timeout=5, message="both leases to lapse")
    assert counts["claimed"] == 0 and counts["open"] == 0

    # one is taken back by a new claim: live again, the other still stuck
    fresh = c.claim_ok(goal="live")
    assert fresh["id"] == live
    counts = admin.stats()["namespaces"][c.ns]
    assert counts["claimed"] == 1 and counts["expired"] == 1, counts
    listed = {i["id"]: i for i in admin.get("/admin/intents", params={"namespace": c.ns}).json["intents"]}
    assert listed[stuck]["status"] == "claimed" and listed[stuck]["lease_expired"] is True
    assert listed[stuck]["claim_expires_at"] <= time.time()
    detail = admin.intent(stuck)
    assert detail["lease_expired"] is True and detail["claimed_by"] == listed[stuck]["claimed_by"]
    assert admin.intent(live)["lease_expired"] is False

    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.request("GET", "/metrics", headers={"X-Admin-Token": srv.extra_env["BUS_ADMIN_SECRET"]})
    text = conn.getresponse().read().decode()
    conn.close()
    assert f'intent_bus_intents_total{{status="expired",namespace="{c.ns}"}} 1' in text
    assert f'intent_bus_intents_total{{status="claimed",namespace="{c.ns}"}} 1' in text
