"""The read-only admin credential (issue 19): HTTP Basic viewer with
BUS_ADMIN_READONLY_PASSWORD sees every admin view and /metrics, and gets
403 on every admin action, whatever else it sends."""

import http.client
import secrets

import pytest

from conftest import admin_client, admin_env, assert_error, basic_auth, unique
from test_admin import ADMIN_ROUTES


@pytest.fixture
def srv(server_factory):
    return server_factory(env=admin_env(BUS_ADMIN_READONLY_PASSWORD="ro-" + secrets.token_hex(8)))


def viewer(srv, password=None):
    return admin_client(srv, basic_auth("viewer",
                                        password or srv.extra_env["BUS_ADMIN_READONLY_PASSWORD"]))


def routes_with(iid, method):
    return [(m, p.replace("{id}", iid), b) for (m, p, b) in ADMIN_ROUTES if m == method]


def test_viewer_sees_every_view(srv):
    c = srv.client(ns=unique("ns"))
    iid = c.publish()
    admin = admin_client(srv)
    assert admin.post(f"/admin/intents/{c.publish()}/cancel").status == 200
    dead = admin.get("/admin/dead").json[0]["intent_id"]
    v = viewer(srv)
    for _, path, _ in routes_with(iid, "GET"):
        path = path.replace(f"/admin/dead/{iid}", f"/admin/dead/{dead}")
        r = v.request("GET", path, check=not path.startswith("/admin/dashboard"))
        assert r.status == 200, (path, r.status, r.raw[:200])
    listed = v.get("/admin/intents", params={"namespace": c.ns, "state": "open"}).json
    assert listed["intents"][0]["id"] == iid


def test_viewer_is_refused_every_action(srv):
    c = srv.client(ns=unique("ns"))
    iid = c.publish()
    v = viewer(srv)
    for method, path, body in routes_with(iid, "POST"):
        r = v.request(method, path, body)
        assert_error(r, 403, "forbidden")
        r = v.request(method, path, body, headers={"Sec-Fetch-Site": "same-origin"})
        assert_error(r, 403, "forbidden")
    # nothing happened
    assert admin_client(srv).intent(iid)["status"] == "open"
    assert admin_client(srv).get("/admin/keys").json["keys"] == []


def test_viewer_cannot_claim_for_another_publisher(srv):
    admin = admin_client(srv)
    tester = admin.generate_key("alice")
    alice = srv.client(ns=unique("ns"), key=tester)
    alice.publish()  # private to alice
    # another tester key: the main key would have the admin role by itself
    bob = srv.client(ns=alice.ns, key=admin.generate_key("bob"))
    r = bob.claim(publisher=tester,
                  headers=basic_auth("viewer", srv.extra_env["BUS_ADMIN_READONLY_PASSWORD"]))
    assert r.status in (204, 403), (r.status, r.raw)
    r = bob.claim(publisher=tester, headers={"X-Admin-Token": srv.extra_env["BUS_ADMIN_SECRET"]})
    assert r.status == 200, r.raw  # a real admin may


def test_wrong_or_mixed_credentials_are_refused(srv):
    ro = srv.extra_env["BUS_ADMIN_READONLY_PASSWORD"]
    for auth in (basic_auth("viewer", "wrong"), basic_auth("admin", ro),
                 basic_auth("viewer", srv.extra_env["DASHBOARD_PASSWORD"])):
        r = admin_client(srv, auth).get("/admin/stats")
        assert_error(r, 401, "unauthorized")


def test_viewer_unset_means_no_viewer(server_factory):
    srv = server_factory(env=admin_env())
    for password in ("", "anything"):
        r = admin_client(srv, basic_auth("viewer", password)).get("/admin/stats")
        assert_error(r, 401, "unauthorized")


def test_viewer_reads_metrics(srv):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.request("GET", "/metrics",
                 headers=basic_auth("viewer", srv.extra_env["BUS_ADMIN_READONLY_PASSWORD"]))
    resp = conn.getresponse()
    assert resp.status == 200 and b"intent_bus_intents_total" in resp.read()
    conn.close()
