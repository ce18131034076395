"""The admin's view of every key's schedules (issues 18 and 19, docs/ADMIN.md):
GET /admin/schedules lists them all with their owner key, target and last
fire; POST /admin/schedules/<name>/pause and /resume act on any key's
schedule (a name is unique across keys), each action in the audit log, and
the read-only viewer is refused."""

import secrets

import pytest

from conftest import admin_client, admin_env, assert_error, basic_auth, unique, wait_until


@pytest.fixture
def srv(server_factory):
    return server_factory(env=admin_env(BUS_ADMIN_READONLY_PASSWORD="ro-" + secrets.token_hex(8)))


def viewer(srv):
    return admin_client(srv, basic_auth("viewer", srv.extra_env["BUS_ADMIN_READONLY_PASSWORD"]))


def create(client, **fields):
    body = {"name": unique("sched"), "every": 3600,
            "intent": {"goal": "tick", "namespace": client.ns, "payload": {"n": 1}}}
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    r = client.post("/schedules", body)
    assert r.status == 201, r.raw
    return r.json


def listed(admin):
    r = admin.get("/admin/schedules")
    assert r.status == 200, r.raw
    assert r.json["truncated"] is False
    return {s["name"]: s for s in r.json["schedules"]}


def audit_actions(admin):
    entries = admin.get("/admin/audit").json["entries"]
    return [(e["action"], e["target"], e["who"]) for e in entries
            if e["action"].startswith("schedule_")]


def test_lists_every_keys_schedules(srv):
    admin = admin_client(srv)
    key = admin.generate_key("alice")
    alice = srv.client(ns=unique("ns"), key=key)
    main = srv.client(ns=unique("ns"))
    mine = create(main, every=None, cron="*/5 * * * *", timezone="Europe/Berlin",
                  intent={"goal": "report/daily", "payload": {}})
    hers = create(alice, every=60, overlap="skip")
    alice_key_id = admin.get("/admin/keys").json["keys"][0]["key_id"]

    schedules = listed(admin)
    assert set(schedules) == {mine["name"], hers["name"]}
    m, h = schedules[mine["name"]], schedules[hers["name"]]
    assert (m["key_owner"], m["key_revoked"], m["key_id"]) == ("main", False, m["owner"][:12])
    assert (h["key_owner"], h["key_revoked"], h["key_id"]) == ("alice", False, alice_key_id)
    assert (m["goal"], m["namespace"]) == ("report/daily", "default")
    assert (h["goal"], h["namespace"]) == ("tick", alice.ns)
    assert (m["cron"], m["every"], m["timezone"]) == ("*/5 * * * *", None, "Europe/Berlin")
    assert (h["cron"], h["every"], h["timezone"], h["overlap"]) == (None, 60, "UTC", "skip")
    for s, own in ((m, mine), (h, hers)):
        assert s["paused"] is False and s["last_fire"] is None
        assert (s["fires"], s["skips"]) == (0, 0)
        assert s["next_runs"] == own["next_runs"] and len(s["next_runs"]) == 5
        assert s["intent"] == own["intent"]
    # the tester key still sees only its own
    assert [s["name"] for s in alice.get("/schedules").json["schedules"]] == [hers["name"]]
    # and a revoked key's schedule says so
    assert admin.revoke_key(key).status == 200
    assert listed(admin)[hers["name"]]["key_revoked"] is True


def test_last_fire_and_counts(srv):
    admin = admin_client(srv)
    c = srv.client(ns=unique("ns"))
    name = create(c, every=1)["name"]
    s = wait_until(lambda: listed(admin)[name]["last_fire"] and listed(admin)[name],
                   message="a fire")
    assert s["last_fire"]["outcome"] == "fired"
    assert s["fires"] >= 1 and s["last_fire_at"] is not None
    iid = s["last_fire"]["intent_id"]
    assert admin.intent(iid)["goal"] == "tick"


def test_pause_and_resume_any_keys_schedule(srv):
    admin = admin_client(srv)
    alice = srv.client(ns=unique("ns"), key=admin.generate_key("alice"))
    name = create(alice)["name"]

    r = admin.post(f"/admin/schedules/{name}/pause")
    assert r.status == 200, r.raw
    assert (r.json["name"], r.json["paused"], r.json["next_runs"]) == (name, True, [])
    owner_view = alice.get(f"/schedules/{name}").json
    assert owner_view["paused"] is True and owner_view["next_runs"] == []
    assert listed(admin)[name]["paused"] is True
    assert audit_actions(admin) == [("schedule_pause", name, "admin-token")]

    by_password = admin_client(srv, basic_auth("admin", srv.extra_env["DASHBOARD_PASSWORD"]))
    r = by_password.post(f"/admin/schedules/{name}/resume")
    assert r.status == 200, r.raw
    assert r.json["paused"] is False and len(r.json["next_runs"]) == 5
    owner_view = alice.get(f"/schedules/{name}").json
    assert owner_view["paused"] is False and owner_view["next_runs"] == r.json["next_runs"]
    assert audit_actions(admin) == [("schedule_resume", name, "admin-password"),
                                    ("schedule_pause", name, "admin-token")]


def test_viewer_sees_but_cannot_act(srv):
    admin = admin_client(srv)
    c = srv.client(ns=unique("ns"))
    name = create(c)["name"]
    v = viewer(srv)
    assert name in {s["name"] for s in v.get("/admin/schedules").json["schedules"]}
    for action in ("pause", "resume"):
        assert_error(v.post(f"/admin/schedules/{name}/{action}"), 403, "forbidden")
        assert_error(v.post(f"/admin/schedules/{name}/{action}",
                            headers={"Sec-Fetch-Site": "same-origin"}), 403, "forbidden")
    assert c.get(f"/schedules/{name}").json["paused"] is False
    assert audit_actions(admin) == []


def test_unknown_schedule_is_not_found(srv):
    admin = admin_client(srv)
    for name in ("no-such", "x" * 129, "x" * 1000):
        for action in ("pause", "resume"):
            assert_error(admin.post(f"/admin/schedules/{name}/{action}"), 404, "not_found")
    # a name only matches whole: a schedule "ab" is not "abc" cut short
    c = srv.client(ns=unique("ns"))
    create(c, name="x" * 128)
    assert_error(admin.post(f"/admin/schedules/{'x' * 129}/pause"), 404, "not_found")
    assert c.get(f"/schedules/{'x' * 128}").json["paused"] is False
    assert audit_actions(admin) == []
    assert_error(admin.post("/admin/schedules//pause"), 404, "not_found")


def test_admin_credentials_on_the_owners_routes_are_audited_too(srv):
    """POST /schedules/<name>/pause and DELETE /schedules/<name> sent with
    admin credentials (no X-API-KEY) are admin actions; the owner's are not."""
    admin = admin_client(srv)
    c = srv.client(ns=unique("ns"))
    name = create(c)["name"]
    assert c.post(f"/schedules/{name}/pause").status == 200  # the main key: not an admin
    assert admin.post(f"/schedules/{name}/resume").status == 200
    assert admin.post(f"/schedules/{name}/pause").status == 200
    assert admin.request("DELETE", f"/schedules/{name}").status == 200
    assert_error(admin.request("DELETE", f"/schedules/{name}"), 404, "not_found")
    assert audit_actions(admin) == [("schedule_delete", name, "admin-token"),
                                    ("schedule_pause", name, "admin-token"),
                                    ("schedule_resume", name, "admin-token")]
    assert_error(viewer(srv).request("DELETE", f"/schedules/{create(c)['name']}"), 403,
                 "forbidden")
