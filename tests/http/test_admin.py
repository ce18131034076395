"""Admin API (docs/ADMIN.md): authentication of every admin route, the
dashboard, and the admin actions (intents, dead letters, cancel, retry,
purge, cleanup, stats)."""

import base64
import hashlib
import secrets
import subprocess
import time

import pytest

from conftest import (SECURITY_HEADERS, Client, admin_client, admin_env, assert_error,
                      basic_auth, unique)

RANDOM_ID = "0123456789abcdef0123456789abcdef"

# Every admin route of docs/ADMIN.md: (method, path template, body). "{id}" is
# replaced by the id of a real intent so a refusal can not be a 404 in disguise.
ADMIN_ROUTES = [
    ("GET", "/admin/dashboard", None),
    ("GET", "/admin/dashboard.js", None),
    ("GET", "/admin/dashboard.css", None),
    ("GET", "/admin/stats", None),
    ("GET", "/admin/intents", None),
    ("GET", "/admin/intents?limit=5&status=open", None),
    ("GET", "/admin/intents/{id}", None),
    ("POST", "/admin/intents/{id}/cancel", None),
    ("POST", "/admin/intents/{id}/retry", None),
    ("GET", "/admin/dead", None),
    ("GET", "/admin/dead/{id}", None),
    ("GET", "/admin/keys", None),
    ("GET", "/admin/audit", None),
    ("GET", "/admin/whoami", None),
    ("GET", "/admin/history", None),
    ("GET", "/admin/goals", None),
    ("GET", "/admin/workers", None),
    ("POST", "/admin/generate_key", {"owner": "mallory"}),
    ("POST", "/admin/revoke_key", {"api_key": "tk_" + "ab" * 32}),
    ("POST", "/admin/purge", {"confirm": True}),
    ("POST", "/admin/cleanup", None),
    ("POST", "/admin/dead/retry", {"goal": "nothing-matches"}),
    ("POST", "/admin/dead/purge", {"goal": "nothing-matches"}),
    ("POST", "/admin/goals/routes-ns/a%2Fgoal/pause", None),
    ("POST", "/admin/goals/routes-ns/a%2Fgoal/resume", None),
    ("POST", "/admin/goals/routes-ns/a%2Fgoal/limit", {"max_claimed": 2}),
    ("GET", "/admin/schedules", None),
    ("POST", "/admin/schedules/no-such-schedule/pause", None),
    ("POST", "/admin/schedules/no-such-schedule/resume", None),
]

NON_JSON_ROUTES = {"/admin/dashboard", "/admin/dashboard.js", "/admin/dashboard.css"}

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def admin_secret(srv):
    return srv.extra_env.get("BUS_ADMIN_SECRET")


def dashboard_password(srv):
    return srv.extra_env.get("DASHBOARD_PASSWORD")


def assert_admin_refused(resp, what):
    assert resp.status == 401, f"{what}: expected 401, got {resp.status} {resp.raw[:200]!r}"
    assert resp.json["error"]["code"] == "unauthorized", f"{what}: {resp.json!r}"
    assert resp.json["error"]["message"] == "Authentication required.", f"{what}: {resp.json!r}"
    www = resp.headers.get("www-authenticate", "")
    assert www.startswith('Basic realm="Intent Bus admin"'), f"{what}: WWW-Authenticate {www!r}"


def try_all_routes(client, headers, intent_id, key=None):
    """Call every admin route with `headers`; returns [(route, response)]."""
    out = []
    for method, path, body in ADMIN_ROUTES:
        path = path.replace("{id}", intent_id)
        r = client.request(method, path, body, headers=headers, key=key)
        out.append((f"{method} {path}", r))
    return out


def assert_all_refused(client, headers, intent_id, key=None, label=""):
    for route, r in try_all_routes(client, headers, intent_id, key=key):
        assert_admin_refused(r, f"{label} {route} with {headers!r} key={key!r}")


def refusal_cases(main, tok, pw):
    """Credentials that must never open an admin route of a server with main key
    `main`, X-Admin-Token `tok` and dashboard password `pw`."""
    return {
        "no credentials": ({}, None),
        "wrong X-Admin-Token": ({"X-Admin-Token": "wrong-" + secrets.token_hex(16)}, None),
        "empty X-Admin-Token": ({"X-Admin-Token": ""}, None),
        "X-Admin-Token with a suffix": ({"X-Admin-Token": tok + "x"}, None),
        "truncated X-Admin-Token": ({"X-Admin-Token": tok[:-1]}, None),
        "X-Admin-Token = dashboard password": ({"X-Admin-Token": pw}, None),
        "X-Admin-Token = main key": ({"X-Admin-Token": main}, None),
        "Basic wrong password": (basic_auth("admin", "not-the-password"), None),
        "Basic empty password": (basic_auth("admin", ""), None),
        "Basic password with a suffix": (basic_auth("admin", pw + "x"), None),
        "Basic truncated password": (basic_auth("admin", pw[:-1]), None),
        "Basic other user": (basic_auth("root", pw), None),
        "Basic user Admin": (basic_auth("Admin", pw), None),
        "Basic empty user": (basic_auth("", pw), None),
        "Basic admin:<admin token>": (basic_auth("admin", tok), None),
        "Basic admin:<main key>": (basic_auth("admin", main), None),
        "Basic not base64": ({"Authorization": "Basic !!!not*base64!!!"}, None),
        "Basic missing colon": ({"Authorization": "Basic " + b64("admin" + pw)}, None),
        "Basic without credentials": ({"Authorization": "Basic"}, None),
        "Basic password only": ({"Authorization": "Basic " + b64(pw)}, None),
        "Bearer admin token": ({"Authorization": "Bearer " + tok}, None),
        "raw password as Authorization": ({"Authorization": pw}, None),
        "X-API-KEY main key": ({}, main),
    }


@pytest.fixture
def real_intent(admin_server):
    c = admin_server.client(ns=unique("ns"))
    iid = c.publish(payload={"keep": "me"})
    yield c, iid
    c.close()


# ---------------------------------------------------------------------------
# Authentication


@pytest.mark.parametrize("case", list(refusal_cases("k", "t", "p")))
def test_admin_routes_refuse(admin_server, real_intent, case):
    c, iid = real_intent
    headers, key = refusal_cases(admin_server.key, admin_secret(admin_server),
                                 dashboard_password(admin_server))[case]
    anon = Client(admin_server.port, None)
    try:
        keys_before = admin_client(admin_server).get("/admin/keys").json["keys"]
        assert_all_refused(anon, headers, iid, key=key, label=case)
        # nothing happened: the intent is still open, no key was made, nothing purged
        a = admin_client(admin_server)
        assert a.intent(iid)["status"] == "open"
        assert a.get("/admin/keys").json["keys"] == keys_before
        assert c.status(iid)["status"] == "open"
    finally:
        anon.close()


def test_admin_routes_refuse_tester_key(admin_server, real_intent, admin):
    c, iid = real_intent
    tk = admin.generate_key("refused")
    anon = Client(admin_server.port, None)
    try:
        assert_all_refused(anon, {}, iid, key=tk, label="tester key")
        assert_all_refused(anon, {"X-Admin-Token": tk}, iid, label="tester key as token")
        assert_all_refused(anon, basic_auth("admin", tk), iid, label="tester key as password")
    finally:
        anon.close()


def expected_with_credentials(method, path):
    """What an authenticated admin gets from ADMIN_ROUTES with an unknown id
    and bodies that are refused before they act."""
    if path in NON_JSON_ROUTES or path in ("/admin/stats", "/admin/intents", "/admin/dead",
                                            "/admin/keys", "/admin/cleanup", "/admin/audit",
                                            "/admin/whoami", "/admin/history", "/admin/goals",
                                            "/admin/workers", "/admin/schedules") or path.startswith("/admin/intents?"):
        return 200, None
    if path in ("/admin/dead/retry", "/admin/dead/purge"):
        return 400, "invalid_request"  # no confirm
    if path.startswith("/admin/intents/") or path.startswith("/admin/dead/"):
        return 404, "not_found"
    if path == "/admin/generate_key":
        return 400, "invalid_owner"
    if path == "/admin/revoke_key":
        return 400, None
    if path == "/admin/purge":
        return 400, "invalid_request"
    if path.startswith("/admin/goals/"):
        return 200, None  # pause, resume, limit of a goal nobody uses
    if path.startswith("/admin/schedules/"):
        return 404, "not_found"
    raise AssertionError(path)


def check_accepted(client):
    """Every admin route answers (not 401) with `client`'s credentials."""
    for method, path, body in ADMIN_ROUTES:
        path = path.replace("{id}", RANDOM_ID)
        if path == "/admin/generate_key":
            body = {"owner": ""}
        elif path in ("/admin/revoke_key", "/admin/purge"):
            body = {}
        status, code = expected_with_credentials(method, path)
        r = client.request(method, path, body, check=path not in NON_JSON_ROUTES)
        assert r.status == status, f"{method} {path}: expected {status}, got {r.status} {r.raw[:200]!r}"
        if code:
            assert r.json["error"]["code"] == code, f"{method} {path}: {r.json!r}"
        if path not in NON_JSON_ROUTES:
            assert "www-authenticate" not in r.headers
    # and one real action each way
    r = client.post("/admin/generate_key", {"owner": "ok"})
    assert r.status == 201, r.raw
    r = client.post("/admin/revoke_key", {"api_key": r.json["api_key"]})
    assert r.status == 200 and r.json == {"ok": True, "revoked": True, "owner": "ok"}, r.raw


def test_admin_accepts_admin_token(admin_server):
    check_accepted(admin_client(admin_server))


def test_admin_accepts_basic(admin_server):
    check_accepted(admin_client(admin_server, basic_auth("admin", dashboard_password(admin_server))))


def test_admin_token_with_main_key_header_still_admin(admin_server):
    """An X-API-KEY next to valid admin credentials changes nothing."""
    a = admin_client(admin_server)
    r = a.get("/admin/stats", key=admin_server.key)
    assert r.status == 200, r.raw


def test_only_admin_secret_set_basic_never_works(server_factory, monkeypatch):
    monkeypatch.delenv("DASHBOARD_PASSWORD", raising=False)
    tok = "adm-" + secrets.token_hex(16)
    srv = server_factory(env={"BUS_ADMIN_SECRET": tok})
    c = srv.client(ns=unique("ns"))
    iid = c.publish()
    anon = Client(srv.port, None)
    for creds in (basic_auth("admin", ""), basic_auth("admin", tok), basic_auth("admin", srv.key),
                  basic_auth("admin", "admin"), {"Authorization": "Basic " + b64("admin:")},
                  {"X-Admin-Token": ""}, {"X-Admin-Token": srv.key}, {}):
        assert_all_refused(anon, creds, iid, label="admin secret only")
    anon.close()
    check_accepted(admin_client(srv, {"X-Admin-Token": tok}))


def test_only_dashboard_password_set_token_never_works(server_factory):
    pw = "pw-" + secrets.token_hex(12)
    srv = server_factory(env={"DASHBOARD_PASSWORD": pw})
    c = srv.client(ns=unique("ns"))
    iid = c.publish()
    anon = Client(srv.port, None)
    for creds in ({"X-Admin-Token": pw}, {"X-Admin-Token": ""}, {"X-Admin-Token": srv.key},
                  {"X-Admin-Token": "x"}, basic_auth("admin", "wrong"), basic_auth("admin", ""), {}):
        assert_all_refused(anon, creds, iid, label="password only")
    anon.close()
    check_accepted(admin_client(srv, basic_auth("admin", pw)))


def test_basic_password_with_colon_and_utf8(server_factory):
    """RFC 7617: the user-id ends at the first colon; the password may contain colons."""
    pw = "p:w:" + secrets.token_hex(6) + ":pässwörd"
    srv = server_factory(env={"DASHBOARD_PASSWORD": pw})
    check_accepted(admin_client(srv, basic_auth("admin", pw)))
    anon = Client(srv.port, None)
    iid = srv.client(ns=unique("ns")).publish()
    for creds in (basic_auth("admin", pw.split(":")[0]), basic_auth("admin", pw + ":"),
                  basic_auth("admin", pw.rsplit(":", 1)[0])):
        assert_all_refused(anon, creds, iid, label="colon password")
    anon.close()


def test_empty_admin_variables_mean_unset(server_factory):
    """An empty BUS_ADMIN_SECRET / DASHBOARD_PASSWORD must not open the admin API
    to an empty token or password."""
    srv = server_factory(env={"BUS_ADMIN_SECRET": "", "DASHBOARD_PASSWORD": ""})
    c = srv.client(ns=unique("ns"))
    iid = c.publish()
    anon = Client(srv.port, None)
    for creds in ({"X-Admin-Token": ""}, basic_auth("admin", ""), {}):
        assert_all_refused(anon, creds, iid, label="empty admin variables")
    anon.close()


def test_neither_set_everything_refused(server_factory, monkeypatch):
    monkeypatch.delenv("DASHBOARD_PASSWORD", raising=False)
    srv = server_factory()
    c = srv.client(ns=unique("ns"))
    iid = c.publish()
    anon = Client(srv.port, None)
    for creds in ({}, {"X-Admin-Token": ""}, {"X-Admin-Token": srv.key}, {"X-Admin-Token": "admin"},
                  basic_auth("admin", ""), basic_auth("admin", srv.key), basic_auth("admin", "admin")):
        assert_all_refused(anon, creds, iid, label="no admin configured")
    assert_all_refused(anon, {}, iid, key=srv.key, label="no admin configured, main key")
    anon.close()
    # the client API is unaffected
    assert c.status(iid)["status"] == "open"


def wait_exit(srv, timeout=10):
    try:
        return srv.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        srv.kill()
        pytest.fail("server kept running although it should have refused to start")


@pytest.mark.parametrize("var", ["BUS_ADMIN_SECRET", "DASHBOARD_PASSWORD"])
def test_admin_secret_equal_to_main_key_refused(server_factory, var):
    key = secrets.token_hex(16)
    srv = server_factory(env={var: key}, secret=key, start=False)
    srv.spawn()
    assert wait_exit(srv) != 0, srv.stderr()


@pytest.mark.parametrize("var", ["BUS_ADMIN_SECRET", "DASHBOARD_PASSWORD"])
def test_admin_secret_equal_to_generated_key_refused(server_factory, var):
    srv = server_factory(secret=None)  # generates <db>.secret
    key = srv.key
    assert srv.stop() == 0
    srv2 = server_factory(env={var: key}, secret=None, db=srv.db, start=False)
    srv2.spawn()
    assert wait_exit(srv2) != 0, srv2.stderr()


WRONG_METHODS = [
    ("POST", "/admin/dashboard", "GET"),
    ("PUT", "/admin/dashboard.js", "GET"),
    ("DELETE", "/admin/dashboard.css", "GET"),
    ("POST", "/admin/stats", "GET"),
    ("POST", "/admin/keys", "GET"),
    ("DELETE", "/admin/intents", "GET"),
    ("DELETE", f"/admin/intents/{RANDOM_ID}", "GET"),
    ("GET", f"/admin/intents/{RANDOM_ID}/cancel", "POST"),
    ("GET", f"/admin/intents/{RANDOM_ID}/retry", "POST"),
    ("POST", "/admin/dead", "GET"),
    ("DELETE", f"/admin/dead/{RANDOM_ID}", "GET"),
    ("GET", "/admin/generate_key", "POST"),
    ("GET", "/admin/revoke_key", "POST"),
    ("GET", "/admin/purge", "POST"),
    ("GET", "/admin/cleanup", "POST"),
]


@pytest.mark.parametrize("with_credentials", [True, False])
def test_admin_wrong_method_405(admin_server, with_credentials):
    c = admin_client(admin_server) if with_credentials else Client(admin_server.port, None)
    for method, path, allow in WRONG_METHODS:
        r = c.request(method, path)
        assert_error(r, 405, "method_not_allowed")
        assert allow in [m.strip() for m in r.headers.get("allow", "").split(",")], (method, path, r.headers)
    c.close()


# ---------------------------------------------------------------------------
# Dashboard


def check_security_headers(r, what):
    for name, value in SECURITY_HEADERS.items():
        assert r.headers.get(name) == value, f"{what}: header {name}={r.headers.get(name)!r}"


@pytest.mark.parametrize("auth", ["token", "basic"])
def test_dashboard_and_assets(admin_server, auth):
    creds = ({"X-Admin-Token": admin_secret(admin_server)} if auth == "token"
             else basic_auth("admin", dashboard_password(admin_server)))
    a = admin_client(admin_server, creds)
    r = a.get("/admin/dashboard", check=False)
    assert r.status == 200
    assert r.headers["content-type"].split(";")[0].strip().lower() == "text/html"
    assert r.headers.get("content-security-policy") == CSP
    check_security_headers(r, "dashboard")
    assert b"<html" in r.raw.lower()
    assert b"/admin/dashboard.js" in r.raw and b"/admin/dashboard.css" in r.raw
    assert admin_server.key.encode() not in r.raw and admin_secret(admin_server).encode() not in r.raw
    js = a.get("/admin/dashboard.js", check=False)
    assert js.status == 200 and js.raw
    assert "javascript" in js.headers["content-type"].lower()
    check_security_headers(js, "dashboard.js")
    css = a.get("/admin/dashboard.css", check=False)
    assert css.status == 200 and css.raw
    assert css.headers["content-type"].split(";")[0].strip().lower() == "text/css"
    check_security_headers(css, "dashboard.css")


def test_dashboard_without_credentials_asks_for_password(admin_server):
    anon = Client(admin_server.port, None)
    r = anon.get("/admin/dashboard")
    assert_admin_refused(r, "dashboard")
    anon.close()


# ---------------------------------------------------------------------------
# Intents: detail, list


DETAIL_FIELDS = {"id", "namespace", "goal", "status", "priority", "visibility", "claim_attempts",
                 "max_attempts", "created_at", "run_at", "completed_at", "payload", "result",
                 "result_type", "error", "publisher", "claimed_by", "claim_expires_at", "expires_at",
                 "target_worker", "required_capability"}
LIST_FIELDS = {"id", "namespace", "goal", "status", "priority", "visibility", "claim_attempts",
               "max_attempts", "created_at", "run_at", "completed_at", "error", "claimed_by",
               "claim_expires_at", "lease_expired", "publisher", "worker_id"}
# The original server's dead-letter fields (intent_id .. created_at), then ours.
ORIGINAL_DEAD_FIELDS = {"intent_id", "namespace", "goal", "attempts", "reason", "created_at"}
DEAD_FIELDS = ORIGINAL_DEAD_FIELDS | {"claim_attempts", "max_attempts", "error", "reason_code",
                                      "died_at"}


def test_admin_intent_detail(admin_server, admin):
    c = admin_server.client(ns=unique("ns"))
    payload = {"nested": {"a": [1, 2, "x"]}, "s": "é"}
    iid = c.publish(goal="detail", payload=payload, priority=7, visibility="public", max_attempts=5,
                    target_worker="w1", required_capability="gpu")
    d = admin.intent(iid)
    missing = DETAIL_FIELDS - set(d) - {"error"}  # "error": test_admin_intent_detail_has_error_field
    assert not missing, f"/admin/intents/<id> lacks {sorted(missing)}: {d!r}"
    assert d["id"] == iid and d["namespace"] == c.ns and d["goal"] == "detail"
    assert d["payload"] == payload
    assert d["status"] == "open" and d["priority"] == 7 and d["visibility"] == "public"
    assert d["max_attempts"] == 5 and d["claim_attempts"] == 0
    assert d["target_worker"] == "w1" and d["required_capability"] == "gpu"
    assert d["result"] is None and d.get("error") is None and d["claimed_by"] is None
    assert d["claim_expires_at"] is None and d["completed_at"] is None
    assert d["publisher"] == hashlib.sha256(admin_server.key.encode()).hexdigest()
    r = admin.get(f"/admin/intents/{iid}")
    assert admin_server.key.encode() not in r.raw

    # claimed, then fulfilled: claimer, lease, result
    claim = c.claim_ok(goal="detail", headers={"X-Worker-ID": "w1", "X-Worker-Capabilities": "gpu"})
    d = admin.intent(iid)
    assert d["status"] == "claimed"
    assert d["claimed_by"] == hashlib.sha256(admin_server.key.encode()).hexdigest()
    assert abs(d["claim_expires_at"] - claim["claim_expires_at"]) < 0.01
    assert claim["claim_token"] not in admin.get(f"/admin/intents/{iid}").raw.decode()
    assert c.fulfill(iid, claim["claim_token"], result="done", result_type="text").status == 200
    d = admin.intent(iid)
    assert d["status"] == "fulfilled" and d["result"] == "done" and d["result_type"] == "text"
    assert d["completed_at"] is not None and d.get("error") is None


def test_admin_intent_detail_has_error_field(admin_server, admin):
    """ADMIN.md: the detail has every field "including payload, result,
    result_type, error, ..." -- error is null when there is none, as in the list."""
    c = admin_server.client(ns=unique("ns"))
    iid = c.publish()
    d = admin.intent(iid)
    assert "error" in d, f"/admin/intents/<id> has no 'error' field: {sorted(d)}"
    assert d["error"] is None


def test_admin_intent_detail_error(admin_server, admin):
    c = admin_server.client(ns=unique("ns"))
    iid = c.publish()
    tok = c.claim_ok()["claim_token"]
    assert c.fail(iid, tok, error="boom").status == 200
    d = admin.intent(iid)
    assert d["error"] == "boom" and d["status"] == "open" and d["claim_attempts"] == 1
    item = [i for i in admin.get("/admin/intents", params={"namespace": c.ns}).json["intents"]]
    assert [i["error"] for i in item] == ["boom"]


def test_admin_intents_list_newest_first_and_fields(admin_server, admin):
    c = admin_server.client(ns=unique("ns"))
    ids = [c.publish(goal=f"g{i}") for i in range(5)]
    r = admin.get("/admin/intents", params={"namespace": c.ns})
    assert r.status == 200 and set(r.json) == {"intents", "next"}
    items = r.json["intents"]
    assert [i["id"] for i in items] == ids[::-1] and r.json["next"] is None
    for i in items:
        assert set(i) == LIST_FIELDS, i
        assert i["namespace"] == c.ns and i["status"] == "open" and i["error"] is None
        assert "payload" not in i
    created = [i["created_at"] for i in items]
    assert created == sorted(created, reverse=True)


def test_admin_intents_limit(admin_server, admin):
    c = admin_server.client(ns=unique("ns"))
    ids = [c.publish() for _ in range(55)]
    got = admin.get("/admin/intents", params={"namespace": c.ns}).json["intents"]
    assert [i["id"] for i in got] == ids[::-1][:50], "default limit is 50, newest first"
    got = admin.get("/admin/intents", params={"namespace": c.ns, "limit": 500}).json["intents"]
    assert [i["id"] for i in got] == ids[::-1]
    got = admin.get("/admin/intents", params={"namespace": c.ns, "limit": 1}).json["intents"]
    assert [i["id"] for i in got] == [ids[-1]]
    got = admin.get("/admin/intents", params={"namespace": c.ns, "limit": 7}).json["intents"]
    assert [i["id"] for i in got] == ids[::-1][:7]
    assert len(admin.get("/admin/intents", params={"limit": 500}).json["intents"]) <= 500
    for bad in ("0", "501", "-1", "abc", "5x", "1.5", "100000000000000000000"):
        assert_error(admin.get("/admin/intents", params={"limit": bad}), 400, "invalid_limit")


def test_admin_intents_filters(admin_server, admin):
    c = admin_server.client(ns=unique("ns"))
    other = admin_server.client(ns=unique("ns"))
    other_id = other.publish()
    fulfilled = c.publish(goal="f")
    tok = c.claim_ok(goal="f")["claim_token"]
    assert c.fulfill(fulfilled, tok).status == 200
    dead = c.publish(goal="d", max_attempts=1)
    tok = c.claim_ok(goal="d")["claim_token"]
    assert c.fail(dead, tok, error="x").json["status"] == "dead"
    claimed = c.publish(goal="c")
    c.claim_ok(goal="c")
    open_ids = [c.publish(goal="o") for _ in range(2)]

    def ids(**params):
        r = admin.get("/admin/intents", params={"limit": 500, **params})
        assert r.status == 200, r.raw
        return [i["id"] for i in r.json["intents"]]

    assert ids(namespace=c.ns) == open_ids[::-1] + [claimed, dead, fulfilled]
    assert ids(namespace=c.ns, status="open") == open_ids[::-1]
    assert ids(namespace=c.ns, status="claimed") == [claimed]
    assert ids(namespace=c.ns, status="fulfilled") == [fulfilled]
    assert ids(namespace=c.ns, status="dead") == [dead]
    assert ids(namespace=other.ns) == [other_id]
    assert ids(namespace=unique("ns")) == []
    every = admin.get("/admin/intents", params={"limit": 500, "status": "dead"}).json["intents"]
    assert all(i["status"] == "dead" for i in every) and dead in [i["id"] for i in every]
    assert admin.get("/admin/intents", params={"status": "bogus"}).status == 400


@pytest.mark.parametrize("path", ["/admin/intents/{id}", "/admin/dead/{id}",
                                  "/admin/intents/{id}/cancel", "/admin/intents/{id}/retry"])
@pytest.mark.parametrize("iid", [RANDOM_ID, "not-an-id", "ABCDEF0123456789ABCDEF0123456789"])
def test_admin_unknown_id_404(admin, path, iid):
    method = "POST" if path.endswith(("cancel", "retry")) else "GET"
    assert_error(admin.request(method, path.replace("{id}", iid)), 404, "not_found")


def test_dead_letter_of_live_intent_404(admin_server, admin):
    c = admin_server.client(ns=unique("ns"))
    iid = c.publish()
    assert_error(admin.get(f"/admin/dead/{iid}"), 404, "not_found")


# ---------------------------------------------------------------------------
# Cancel


def dead_letters(admin):
    r = admin.get("/admin/dead")
    assert r.status == 200 and isinstance(r.json, list), r.raw
    return r.json


def check_cancelled(admin, c, iid, payload):
    d = admin.intent(iid)
    assert d["status"] == "dead", d
    rows = [x for x in dead_letters(admin) if x["intent_id"] == iid]
    assert len(rows) == 1, rows
    assert set(rows[0]) == DEAD_FIELDS, rows[0]
    assert rows[0]["reason"] == "Cancelled by admin" and rows[0]["reason_code"] == "cancelled"
    assert rows[0]["namespace"] == c.ns and rows[0]["created_at"] == rows[0]["died_at"]
    one = admin.get(f"/admin/dead/{iid}")
    assert one.status == 200, one.raw
    assert DEAD_FIELDS | {"payload"} <= set(one.json), one.json
    assert one.json["payload"] == payload and one.json["reason"] == "Cancelled by admin"
    assert c.status(iid)["status"] == "dead"


def test_cancel_open(admin_server, admin):
    c = admin_server.client(ns=unique("ns"))
    payload = {"job": [1, 2, 3]}
    iid = c.publish(payload=payload)
    r = admin.post(f"/admin/intents/{iid}/cancel")
    assert r.status == 200 and r.json == {"ok": True, "id": iid, "status": "dead"}, r.raw
    check_cancelled(admin, c, iid, payload)
    c.claim_none()


def test_cancel_claimed_token_then_404(admin_server, admin):
    c = admin_server.client(ns=unique("ns"))
    iid = c.publish(payload="p")
    tok = c.claim_ok()["claim_token"]
    r = admin.post(f"/admin/intents/{iid}/cancel")
    assert r.status == 200 and r.json == {"ok": True, "id": iid, "status": "dead"}, r.raw
    check_cancelled(admin, c, iid, "p")
    assert_error(c.extend(iid, tok, seconds=30), 404, "not_found")
    assert_error(c.fulfill(iid, tok, result=1), 404, "not_found")
    assert_error(c.fail(iid, tok, error="e"), 404, "not_found")
    assert admin.intent(iid)["status"] == "dead"


def test_cancel_fulfilled(admin_server, admin):
    c = admin_server.client(ns=unique("ns"))
    iid = c.publish(payload=None)
    tok = c.claim_ok()["claim_token"]
    assert c.fulfill(iid, tok, result={"r": 1}).status == 200
    r = admin.post(f"/admin/intents/{iid}/cancel")
    assert r.status == 200 and r.json == {"ok": True, "id": iid, "status": "dead"}, r.raw
    check_cancelled(admin, c, iid, None)


def test_cancel_dead_keeps_one_dead_letter(admin_server, admin):
    c = admin_server.client(ns=unique("ns"))
    iid = c.publish(max_attempts=1)
    tok = c.claim_ok()["claim_token"]
    assert c.fail(iid, tok, error="boom").json["status"] == "dead"
    r = admin.post(f"/admin/intents/{iid}/cancel")
    assert r.status == 200 and r.json == {"ok": True, "id": iid, "status": "dead"}, r.raw
    rows = [x for x in dead_letters(admin) if x["intent_id"] == iid]
    assert len(rows) == 1, rows
    assert admin.intent(iid)["status"] == "dead"


def test_dead_list_most_recent_100(admin_server, admin):
    c = admin_server.client(ns=unique("ns"))
    ids = [c.publish(payload={"i": i}) for i in range(103)]
    for iid in ids:
        assert admin.post(f"/admin/intents/{iid}/cancel").status == 200
    rows = dead_letters(admin)
    assert len(rows) == 100
    assert [x["intent_id"] for x in rows] == ids[::-1][:100]
    died = [x["died_at"] for x in rows]
    assert died == sorted(died, reverse=True)
    for x in rows:
        assert set(x) == DEAD_FIELDS and "payload" not in x
    # the oldest ones are not listed, but still there one by one
    r = admin.get(f"/admin/dead/{ids[0]}")
    assert r.status == 200 and r.json["payload"] == {"i": 0}


def test_dead_letter_from_failures(admin_server, admin):
    c = admin_server.client(ns=unique("ns"))
    iid = c.publish(goal="flaky", payload={"x": "y"}, max_attempts=1)
    tok = c.claim_ok()["claim_token"]
    assert c.fail(iid, tok, error="disk full").json["status"] == "dead"
    row = [x for x in dead_letters(admin) if x["intent_id"] == iid]
    assert len(row) == 1
    row = row[0]
    assert row["goal"] == "flaky" and row["namespace"] == c.ns and row["error"] == "disk full"
    assert row["claim_attempts"] == 1 and row["max_attempts"] == 1
    assert row["reason"] == "disk full" and row["reason_code"] == "failed" and row["attempts"] == 1
    one = admin.get(f"/admin/dead/{iid}").json
    assert one["payload"] == {"x": "y"} and one["intent_id"] == iid and one["error"] == "disk full"


# ---------------------------------------------------------------------------
# Retry


def check_retried(admin, c, iid, t0):
    d = admin.intent(iid)
    assert d["status"] == "open" and d["claim_attempts"] == 0, d
    assert d["result"] is None and d.get("error") is None, d
    assert d["claimed_by"] is None and d["claim_expires_at"] is None, d
    assert t0 - 1 <= d["run_at"] <= time.time() + 1, d
    assert d["expires_at"] >= t0 + 86400 - 0.5, d
    assert_error(admin.get(f"/admin/dead/{iid}"), 404, "not_found")
    assert iid not in [x["intent_id"] for x in dead_letters(admin)]
    st = c.status(iid)
    assert st["status"] == "open" and st["claim_attempts"] == 0, st
    assert st.get("error") is None, st


def test_retry_dead(admin_server, admin):
    c = admin_server.client(ns=unique("ns"))
    iid = c.publish(payload={"again": True}, max_attempts=2, backoff_base=1.0)
    tok = c.claim_ok()["claim_token"]
    assert c.fail(iid, tok, error="one").json["status"] == "open"
    admin.post(f"/admin/intents/{iid}/cancel")
    assert admin.get(f"/admin/dead/{iid}").status == 200
    t0 = time.time()
    r = admin.post(f"/admin/intents/{iid}/retry")
    assert r.status == 200 and r.json == {"ok": True, "id": iid, "status": "open"}, r.raw
    check_retried(admin, c, iid, t0)
    claim = c.claim_ok()
    assert claim["id"] == iid and claim["claim_attempts"] == 1 and claim["payload"] == {"again": True}
    assert c.fulfill(iid, claim["claim_token"], result="ok").status == 200


def test_retry_after_exhausted_failures(admin_server, admin):
    c = admin_server.client(ns=unique("ns"))
    iid = c.publish(max_attempts=1)
    tok = c.claim_ok()["claim_token"]
    assert c.fail(iid, tok, error="boom").json["status"] == "dead"
    assert "error" in c.status(iid)
    t0 = time.time()
    r = admin.post(f"/admin/intents/{iid}/retry")
    assert r.status == 200 and r.json == {"ok": True, "id": iid, "status": "open"}, r.raw
    check_retried(admin, c, iid, t0)
    assert "error" not in c.status(iid) or c.status(iid)["error"] is None
    claim = c.claim_ok()
    assert claim["id"] == iid and claim["claim_attempts"] == 1


def test_retry_fulfilled_clears_result(admin_server, admin):
    c = admin_server.client(ns=unique("ns"))
    iid = c.publish()
    tok = c.claim_ok()["claim_token"]
    assert c.fulfill(iid, tok, result={"old": 1}).status == 200
    t0 = time.time()
    assert admin.post(f"/admin/intents/{iid}/retry").json == {"ok": True, "id": iid, "status": "open"}
    check_retried(admin, c, iid, t0)
    res = c.result(iid)
    assert res["result"] is None and res["status"] == "open"
    assert c.claim_ok()["id"] == iid


def test_retry_claimed_old_token_404(admin_server, admin):
    c = admin_server.client(ns=unique("ns"))
    iid = c.publish()
    tok = c.claim_ok()["claim_token"]
    t0 = time.time()
    assert admin.post(f"/admin/intents/{iid}/retry").json == {"ok": True, "id": iid, "status": "open"}
    check_retried(admin, c, iid, t0)
    assert_error(c.fulfill(iid, tok), 404, "not_found")
    assert_error(c.extend(iid, tok), 404, "not_found")
    claim = c.claim_ok()
    assert claim["id"] == iid and claim["claim_token"] != tok


def test_retry_delayed_is_claimable_now(admin_server, admin):
    c = admin_server.client(ns=unique("ns"))
    iid = c.publish(delay=3 * 86400 - 1)
    c.claim_none()
    expires = admin.intent(iid)["expires_at"]
    admin.post(f"/admin/intents/{iid}/cancel")
    t0 = time.time()
    assert admin.post(f"/admin/intents/{iid}/retry").status == 200
    d = admin.intent(iid)
    assert d["run_at"] <= time.time() + 0.5 and d["run_at"] >= t0 - 1
    assert d["expires_at"] >= t0 + 86400 - 0.5 and d["expires_at"] <= expires + 0.5
    assert c.claim_ok()["id"] == iid


def test_retry_extends_expiry_to_24h_from_now(admin_server, admin):
    c = admin_server.client(ns=unique("ns"))
    iid = c.publish()
    old = admin.intent(iid)["expires_at"]
    admin.post(f"/admin/intents/{iid}/cancel")
    time.sleep(1.2)
    t0 = time.time()
    assert admin.post(f"/admin/intents/{iid}/retry").status == 200
    d = admin.intent(iid)
    assert d["expires_at"] >= t0 + 86400 - 0.1 > old, (d["expires_at"], t0, old)


# ---------------------------------------------------------------------------
# Purge


@pytest.mark.parametrize("body", [None, {}, {"confirm": False}, {"confirm": "true"}, {"confirm": 1},
                                  {"confirm": None}, {"namespace": "x"}])
def test_purge_needs_confirm(admin_server, admin, body):
    c = admin_server.client(ns=unique("ns"))
    iid = c.publish()
    assert_error(admin.post("/admin/purge", body), 400, "invalid_request")
    assert admin.intent(iid)["status"] == "open"


def make_ns_content(c, admin):
    """Two open intents, one fulfilled, one dead letter (cancelled) in c.ns."""
    ids = [c.publish() for _ in range(3)]
    tok = c.claim_ok()["claim_token"]
    assert c.fulfill(ids[0], tok).status == 200
    dead = c.publish(goal="dead")
    assert admin.post(f"/admin/intents/{dead}/cancel").status == 200
    return ids + [dead]


def test_purge_namespace(admin_server, admin):
    c1 = admin_server.client(ns=unique("ns"))
    c2 = admin_server.client(ns=unique("ns"))
    ids1 = make_ns_content(c1, admin)
    ids2 = make_ns_content(c2, admin)
    kv = unique("k")
    assert c1.post(f"/set/{kv}", {"value": "stay"}).status == 200
    r = admin.post("/admin/purge", {"confirm": True, "namespace": c1.ns})
    assert r.status == 200, r.raw
    assert r.json == {"ok": True, "intents_deleted": 4, "dead_letters_deleted": 1}
    for iid in ids1:
        assert_error(admin.get(f"/admin/intents/{iid}"), 404, "not_found")
        assert_error(c1.get(f"/status/{iid}"), 404, "not_found")
    assert_error(admin.get(f"/admin/dead/{ids1[-1]}"), 404, "not_found")
    assert admin.get("/admin/intents", params={"namespace": c1.ns}).json["intents"] == []
    for iid in ids2:
        assert admin.intent(iid)["namespace"] == c2.ns
    assert admin.get(f"/admin/dead/{ids2[-1]}").status == 200
    assert c1.get(f"/get/{kv}").json == {"value": "stay"}
    stats = admin.stats()
    assert stats["namespaces"].get(c1.ns, {"open": 0, "claimed": 0, "fulfilled": 0, "dead": 0}) == \
        {"open": 0, "claimed": 0, "fulfilled": 0, "dead": 0}
    assert stats["namespaces"][c2.ns] == {"open": 2, "claimed": 0, "expired": 0, "fulfilled": 1, "dead": 1}
    # purging it again deletes nothing
    assert admin.post("/admin/purge", {"confirm": True, "namespace": c1.ns}).json == \
        {"ok": True, "intents_deleted": 0, "dead_letters_deleted": 0}


def test_purge_everything(server_factory):
    srv = server_factory(env=admin_env())
    admin = admin_client(srv)
    c1 = srv.client(ns=unique("ns"))
    c2 = srv.client(ns=unique("ns"))
    ids = make_ns_content(c1, admin) + make_ns_content(c2, admin)
    tk = admin.generate_key("keeper")
    t = srv.client(ns=c1.ns, key=tk)
    t.publish()
    assert c1.post("/set/a", {"value": 1}).status == 200
    assert t.post("/set/a", {"value": 2}).status == 200
    body = c1.intent_body(goal="idem")
    first = c1.post("/intent", body, headers={"Idempotency-Key": "once"})
    assert first.status == 201
    r = admin.post("/admin/purge", {"confirm": True})
    assert r.status == 200, r.raw
    assert r.json == {"ok": True, "intents_deleted": 10, "dead_letters_deleted": 2}
    for iid in ids:
        assert_error(admin.get(f"/admin/intents/{iid}"), 404, "not_found")
        assert_error(admin.get(f"/admin/dead/{iid}"), 404, "not_found")
    assert admin.get("/admin/intents").json == {"intents": [], "next": None}
    assert admin.get("/admin/dead").json == []
    stats = admin.stats()
    assert all(v == {"open": 0, "claimed": 0, "expired": 0, "fulfilled": 0, "dead": 0} for v in stats["namespaces"].values()), stats
    assert stats["dead_letters"] == 0
    assert_error(c1.get("/get/a"), 404, "not_found")
    assert_error(t.get("/get/a"), 404, "not_found")
    c1.claim_none()
    # the idempotency record is gone: the same request publishes anew
    again = c1.post("/intent", body, headers={"Idempotency-Key": "once"})
    assert again.status == 201 and again.json["id"] != first.json["id"]
    # tester keys are not part of a purge
    assert stats["tester_keys"] == 1
    assert t.publish()


# ---------------------------------------------------------------------------
# Cleanup and stats


CLEANUP_COUNTERS = {"expired_open_deleted", "expired_claims_requeued", "expired_claims_dead",
                    "fulfilled_deleted", "dead_deleted", "dead_letters_deleted", "store_deleted",
                    "rate_limits_deleted", "idempotency_deleted", "nonces_deleted"}


def check_cleanup(r):
    assert r.status == 200, r.raw
    assert set(r.json) == CLEANUP_COUNTERS, r.json
    for k, v in r.json.items():
        assert type(v) is int and v >= 0, (k, v)
    return r.json


def test_cleanup_counters(admin):
    check_cleanup(admin.post("/admin/cleanup"))
    check_cleanup(admin.post("/admin/cleanup", {}))


def test_cleanup_counts_expired_things(server_factory):
    srv = server_factory(env=admin_env(BUS_CLAIM_TIMEOUT_SECONDS="1"))
    admin = admin_client(srv)
    c = srv.client(ns=unique("ns"))
    assert c.post("/set/short", {"value": 1, "ttl": 1}).status == 200
    assert c.post("/set/long", {"value": 1}).status == 200
    iid = c.publish(max_attempts=3)
    c.claim_ok()
    time.sleep(1.3)
    got = check_cleanup(admin.post("/admin/cleanup"))
    assert got["store_deleted"] == 1, got
    assert got["expired_claims_requeued"] == 1, got
    assert admin.intent(iid)["status"] == "open"
    assert c.get("/get/long").status == 200
    got = check_cleanup(admin.post("/admin/cleanup"))
    assert got["store_deleted"] == 0 and got["expired_claims_requeued"] == 0, got


def test_stats_match(server_factory):
    srv = server_factory(env=admin_env())
    admin = admin_client(srv)
    empty = admin.stats()
    assert set(empty) == {"namespaces", "dead_letters", "tester_keys", "server_time"}, empty
    assert empty["dead_letters"] == 0 and empty["tester_keys"] == 0
    assert abs(empty["server_time"] - time.time()) < 5
    n1 = srv.client(ns=unique("ns"))
    n2 = srv.client(ns=unique("ns"))
    k1 = admin.generate_key("one")
    k2 = admin.generate_key("two")
    admin.generate_key("three")
    assert admin.revoke_key(k2).status == 200
    t = srv.client(ns=n1.ns, key=k1)
    t.publish()                        # open (tester key)
    n1.publish()                       # open
    claimed = n1.publish(goal="c")
    n1.claim_ok(goal="c")              # claimed
    f = n1.publish(goal="f")
    tok = n1.claim_ok(goal="f")["claim_token"]
    assert n1.fulfill(f, tok).status == 200   # fulfilled
    d = n1.publish(goal="d")
    assert admin.post(f"/admin/intents/{d}/cancel").status == 200  # dead + dead letter
    d2 = n2.publish(max_attempts=1)
    tok = n2.claim_ok()["claim_token"]
    assert n2.fail(d2, tok).json["status"] == "dead"  # dead + dead letter
    n2.publish(delay=3600)             # open (delayed)
    s = admin.stats()
    assert s["namespaces"] == {
        n1.ns: {"open": 2, "claimed": 1, "expired": 0, "fulfilled": 1, "dead": 1},
        n2.ns: {"open": 1, "claimed": 0, "expired": 0, "fulfilled": 0, "dead": 1},
    }, s
    assert s["dead_letters"] == 2 and s["tester_keys"] == 2
    for v in (s["dead_letters"], s["tester_keys"]):
        assert type(v) is int
    assert abs(s["server_time"] - time.time()) < 5
    assert claimed
