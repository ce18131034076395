"""BUS_MAINTENANCE_MODE=true (README "Configuration", docs/ADMIN.md): client
endpoints answer 503 maintenance; /health and the admin routes keep working."""

import json
import re

import pytest

from conftest import SECURITY_HEADERS, admin_client, admin_env, basic_auth, unique

ID = "0123456789abcdef0123456789abcdef"
TOKEN = "fedcba9876543210fedcba9876543210"

CLIENT_ENDPOINTS = [
    ("POST", "/intent", {"goal": "g", "payload": {"a": 1}}),
    ("POST", "/claim", None),
    ("POST", "/claim?goal=g&namespace=default", {}),
    ("POST", f"/extend_claim/{ID}", {"claim_token": TOKEN, "seconds": 30}),
    ("POST", f"/fulfill/{ID}", {"claim_token": TOKEN}),
    ("POST", f"/fail/{ID}", {"claim_token": TOKEN, "error": "x"}),
    ("GET", f"/result/{ID}", None),
    ("GET", f"/status/{ID}", None),
    ("POST", "/set/k", {"value": 1}),
    ("GET", "/get/k", None),
]


def assert_maintenance(r, what):
    """503 maintenance with the error shape, Retry-After and the headers of every response.
    (Client.request's central check refuses any 5xx, so these requests use check=False.)"""
    assert r.status == 503, f"{what}: expected 503, got {r.status} {r.raw[:200]!r}"
    for name, value in SECURITY_HEADERS.items():
        assert r.headers.get(name) == value, f"{what}: header {name}={r.headers.get(name)!r}"
    assert r.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json", what
    body = json.loads(r.raw)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == "maintenance", body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    ra = r.headers.get("retry-after")
    assert ra is not None and re.fullmatch(r"[0-9]+", ra) and int(ra) >= 1, f"{what}: Retry-After {ra!r}"


@pytest.fixture
def maint(server_factory):
    srv = server_factory(env=admin_env(BUS_MAINTENANCE_MODE="true"))
    return srv, admin_client(srv)


def test_client_endpoints_503(maint):
    srv, admin = maint
    tk = admin.generate_key("in-maintenance")
    for key in (srv.key, tk, None, "wrong-key"):
        c = srv.client(ns=unique("ns"), key=key)
        for method, path, body in CLIENT_ENDPOINTS:
            r = c.request(method, path, body, check=False)
            assert_maintenance(r, f"{method} {path} key={key!r}")
        # with an Idempotency-Key too
        r = c.request("POST", "/intent", {"goal": "g", "payload": 1}, headers={"Idempotency-Key": "m1"},
                      check=False)
        assert_maintenance(r, "idempotent publish")


def test_health_still_200(maint):
    srv, _ = maint
    c = srv.client(key=None)
    r = c.get("/health")
    assert r.status == 200 and r.json["ok"] is True


def test_admin_routes_still_work(maint):
    srv, admin = maint
    assert admin.stats()["namespaces"] == {}
    assert admin.get("/admin/intents").json == {"intents": [], "next": None}
    assert admin.get("/admin/dead").json == []
    tk = admin.generate_key("m")
    assert len(admin.get("/admin/keys").json["keys"]) == 1
    assert admin.post("/admin/cleanup").status == 200
    assert admin.post("/admin/purge", {"confirm": True}).json == {"ok": True, "intents_deleted": 0, "dead_letters_deleted": 0}
    assert admin.post("/admin/intents/" + ID + "/cancel").status == 404
    assert admin.revoke_key(tk).json == {"ok": True, "revoked": True, "owner": "m"}
    b = admin_client(srv, basic_auth("admin", srv.extra_env["DASHBOARD_PASSWORD"]))
    r = b.get("/admin/dashboard", check=False)
    assert r.status == 200 and r.headers["content-type"].startswith("text/html")
    assert b.get("/admin/dashboard.js", check=False).status == 200
    assert b.get("/admin/dashboard.css", check=False).status == 200
    # admin routes still need admin credentials
    anon = srv.client(key=srv.key)
    r = anon.get("/admin/stats")
    assert r.status == 401 and r.json["error"]["code"] == "unauthorized"


def test_maintenance_keeps_data_and_ends_on_restart(server_factory):
    """Data published before maintenance is visible to the admin during it and
    served again once the server runs without the flag."""
    env = admin_env()
    srv = server_factory(env=env)
    c = srv.client(ns=unique("ns"))
    iid = c.publish(payload={"before": True})
    srv.stop()
    srv.extra_env["BUS_MAINTENANCE_MODE"] = "true"
    srv.start()
    admin = admin_client(srv)
    assert admin.intent(iid)["payload"] == {"before": True}
    c = srv.client(ns=c.ns)
    assert_maintenance(c.request("GET", f"/status/{iid}", check=False), "status")
    srv.stop()
    srv.extra_env["BUS_MAINTENANCE_MODE"] = "false"
    srv.start()
    c = srv.client(ns=c.ns)
    assert c.status(iid)["status"] == "open"
    assert c.claim_ok()["id"] == iid


def test_maintenance_off_by_default(server_factory):
    srv = server_factory(env=admin_env())
    c = srv.client(ns=unique("ns"))
    c.publish()
    assert c.claim_ok()
