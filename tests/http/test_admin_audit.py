"""The audit log of admin actions (issue 19): each action an admin takes is
kept in the database with who (which credential), what, when and from which
address, newest first at GET /admin/audit; reads, refusals and failed
actions are not actions."""

import secrets
import time

from conftest import admin_client, admin_env, assert_error, basic_auth, unique


def entries(admin, **params):
    r = admin.get("/admin/audit", params=params)
    assert r.status == 200, r.raw
    return r.json


def test_every_action_is_recorded(server_factory):
    srv = server_factory(env=admin_env(BUS_ADMIN_READONLY_PASSWORD="ro-" + secrets.token_hex(6)))
    admin = admin_client(srv)
    by_password = admin_client(srv, basic_auth("admin", srv.extra_env["DASHBOARD_PASSWORD"]))
    c = srv.client(ns=unique("ns"))
    t0 = time.time()
    iid = c.publish()
    assert admin.post(f"/admin/intents/{iid}/cancel").status == 200
    assert by_password.post(f"/admin/intents/{iid}/retry").status == 200
    key = admin.generate_key("carol")
    assert admin.revoke_key(key).status == 200
    assert admin.post("/admin/purge", {"confirm": True, "namespace": c.ns}).status == 200
    assert admin.post("/admin/cleanup").status == 200
    # not actions: reads, refusals, failures
    admin.get("/admin/stats")
    viewer = admin_client(srv, basic_auth("viewer", srv.extra_env["BUS_ADMIN_READONLY_PASSWORD"]))
    assert viewer.post(f"/admin/intents/{iid}/cancel").status == 403
    assert admin.post("/admin/intents/" + "f" * 32 + "/cancel").status == 404
    assert admin.post("/admin/purge", {}).status == 400

    log = entries(admin)
    assert log["next"] is None
    got = [(e["action"], e["target"], e["who"]) for e in log["entries"]]
    assert got == [("cleanup", None, "admin-token"),
                   ("purge", c.ns, "admin-token"),
                   ("revoke_key", "carol", "admin-token"),
                   ("generate_key", "carol", "admin-token"),
                   ("retry", iid, "admin-password"),
                   ("cancel", iid, "admin-token")], got
    for e in log["entries"]:
        assert e["address"] == "127.0.0.1"
        assert t0 - 1 <= e["at"] <= time.time() + 1
    ids = [e["id"] for e in log["entries"]]
    assert ids == sorted(ids, reverse=True)
    purge = log["entries"][1]
    assert purge["detail"] == {"ok": True, "intents_deleted": 1, "dead_letters_deleted": 0}
    assert set(log["entries"][0]["detail"]) >= {"expired_open_deleted", "nonces_deleted"}
    assert key not in str(log)  # a key is shown once, never logged
    # the viewer may read the log
    assert viewer.get("/admin/audit").json == log


def test_audit_pages_and_survives_restart(server_factory):
    srv = server_factory(env=admin_env())
    admin = admin_client(srv)
    for i in range(5):
        admin.generate_key(f"owner{i}")
    page = entries(admin, limit=2)
    assert [e["target"] for e in page["entries"]] == ["owner4", "owner3"]
    page2 = entries(admin, limit=2, before=page["next"])
    assert [e["target"] for e in page2["entries"]] == ["owner2", "owner1"]
    srv.restart()
    admin = admin_client(srv)
    assert len(entries(admin, limit=500)["entries"]) == 5
    for name, value in (("limit", "0"), ("limit", "501"), ("before", "x"), ("before", "-3")):
        assert_error(admin.get("/admin/audit", params={name: value}), 400, f"invalid_{name}")


def test_whoami(server_factory):
    srv = server_factory(env=admin_env(BUS_ADMIN_READONLY_PASSWORD="ro-" + secrets.token_hex(6)))
    assert admin_client(srv).get("/admin/whoami").json == {"role": "admin", "may_act": True}
    viewer = admin_client(srv, basic_auth("viewer", srv.extra_env["BUS_ADMIN_READONLY_PASSWORD"]))
    assert viewer.get("/admin/whoami").json == {"role": "viewer", "may_act": False}
