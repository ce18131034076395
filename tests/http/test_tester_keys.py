"""Tester keys (docs/ADMIN.md "Tester keys"): generate, use, revoke, list, and
the isolation between two tester keys and the main key."""

import hashlib
import time

import pytest

from conftest import TK_KEY, admin_client, admin_env, assert_error, unique


def key_id(api_key):
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


def keys_by_id(admin):
    r = admin.get("/admin/keys")
    assert r.status == 200 and set(r.json) == {"keys"}, r.raw
    return {k["key_id"]: k for k in r.json["keys"]}


# ---------------------------------------------------------------------------
# generate_key


def test_generate_key(admin):
    r = admin.post("/admin/generate_key", {"owner": "alice"})
    assert r.status == 201, r.raw
    assert set(r.json) == {"api_key", "owner"}
    assert TK_KEY.match(r.json["api_key"]), r.json
    assert r.json["owner"] == "alice"
    r2 = admin.post("/admin/generate_key", {"owner": "alice"})
    assert r2.status == 201 and r2.json["api_key"] != r.json["api_key"]


@pytest.mark.parametrize("owner", ["a", "x" * 64, "é" * 64, "Zoë O'Brien <zoe@example.org>", "名前", "🙂" * 64,
                                   "with space", "a/b"],
                         ids=["1-char", "64-ascii", "64-e-acute", "punctuation", "cjk", "64-emoji", "space",
                              "slash"])
def test_generate_key_owner_accepted(admin, owner):
    r = admin.post("/admin/generate_key", {"owner": owner})
    assert r.status == 201, r.raw
    assert r.json["owner"] == owner
    k = keys_by_id(admin)[key_id(r.json["api_key"])]
    assert k["owner"] == owner


@pytest.mark.parametrize("owner", ["", "x" * 65, "é" * 65, "a\nb", "tab\there", "nul\x00", "\x1f",
                                   "del\x7f", "c1\x85", "\u009f", 123, None, True, ["a"], {"a": 1}],
                         ids=["empty", "65-ascii", "65-e-acute", "newline", "tab", "nul", "us-0x1f", "del-0x7f",
                              "c1-nel-0x85", "c1-0x9f", "int", "null", "bool", "list", "object"])
def test_generate_key_invalid_owner(admin, owner):
    before = keys_by_id(admin)
    assert_error(admin.post("/admin/generate_key", {"owner": owner}), 400, "invalid_owner")
    assert keys_by_id(admin) == before


def test_generate_key_missing_owner(admin):
    before = keys_by_id(admin)
    r = admin.post("/admin/generate_key", {})
    assert r.status == 400 and r.json["error"]["code"] in ("invalid_owner", "invalid_request"), r.raw
    assert_error(admin.post("/admin/generate_key", "{not json"), 400, "invalid_json")
    assert keys_by_id(admin) == before


@pytest.mark.parametrize("path", ["/admin/generate_key", "/admin/revoke_key", "/admin/purge"])
def test_admin_body_not_an_object(admin, path):
    """PROTOCOL.md "Request bodies": a JSON body that is not an object is 400 invalid_request."""
    before = keys_by_id(admin)
    for body in (["alice"], '"alice"', "42"):
        assert_error(admin.post(path, body), 400, "invalid_request")
    assert keys_by_id(admin) == before


# ---------------------------------------------------------------------------
# Using a tester key


def exercise_every_endpoint(c, ns):
    """Publish, claim, extend, fulfill, fail, result, status, set, get with c's key."""
    iid = c.publish(namespace=ns, payload={"w": 1})
    claim = c.claim_ok(namespace=ns)
    assert claim["id"] == iid
    tok = claim["claim_token"]
    r = c.extend(iid, tok, seconds=30)
    assert r.status == 200 and r.json["status"] == "claimed", r.raw
    r = c.fulfill(iid, tok, result={"ok": True})
    assert r.status == 200 and r.json["status"] == "fulfilled", r.raw
    assert c.result(iid)["result"] == {"ok": True}
    assert c.status(iid)["status"] == "fulfilled"
    iid2 = c.publish(namespace=ns)
    tok2 = c.claim_ok(namespace=ns)["claim_token"]
    r = c.fail(iid2, tok2, error="nope")
    assert r.status == 200 and r.json["status"] == "open", r.raw
    r = c.post("/set/k1", {"value": {"v": 1}})
    assert r.status == 200 and r.json["ok"] is True, r.raw
    assert c.get("/get/k1").json == {"value": {"v": 1}}
    r = c.post("/intent", c.intent_body(namespace=ns, goal="idem"), headers={"Idempotency-Key": "i1"})
    r2 = c.post("/intent", c.intent_body(namespace=ns, goal="idem"), headers={"Idempotency-Key": "i1"})
    assert r.status == r2.status == 201 and r.raw == r2.raw
    return iid, iid2, tok2


def every_endpoint_requests(iid, tok):
    body = {"claim_token": tok}
    return [
        ("POST", "/intent", {"goal": "g", "payload": 1}),
        ("POST", "/claim", None),
        ("POST", f"/extend_claim/{iid}", body),
        ("POST", f"/fulfill/{iid}", body),
        ("POST", f"/fail/{iid}", body),
        ("GET", f"/result/{iid}", None),
        ("GET", f"/status/{iid}", None),
        ("POST", "/set/k1", {"value": 2}),
        ("GET", "/get/k1", None),
    ]


def test_tester_key_works_everywhere(admin_server, admin):
    tk = admin.generate_key("worker")
    c = admin_server.client(ns=unique("ns"), key=tk)
    exercise_every_endpoint(c, c.ns)
    assert c.get("/health", key=None).status == 200


def test_revoke_key(admin_server, admin):
    tk = admin.generate_key("bob")
    other = admin.generate_key("carol")
    c = admin_server.client(ns=unique("ns"), key=tk)
    o = admin_server.client(ns=c.ns, key=other)
    iid, iid2, _ = exercise_every_endpoint(c, c.ns)
    iid2 = c.publish()
    tok = c.claim_ok()["claim_token"]  # a live claim: its token is refused too
    r = admin.revoke_key(tk)
    assert r.status == 200, r.raw
    assert r.json == {"ok": True, "revoked": True, "owner": "bob"}
    for method, path, body in every_endpoint_requests(iid2, tok):
        assert_error(c.request(method, path, body), 401, "unauthorized")
    # twice: still 401, and revoking again is 404
    assert_error(c.post("/intent", c.intent_body()), 401, "unauthorized")
    assert_error(admin.revoke_key(tk), 404, "not_found")
    # the other tester key is untouched
    exercise_every_endpoint(o, unique("ns"))
    row = keys_by_id(admin)[key_id(tk)]
    assert row["revoked_at"] is not None and row["revoked_at"] <= time.time() + 1
    assert keys_by_id(admin)[key_id(other)]["revoked_at"] is None


@pytest.fixture
def fresh_tester(admin_server, admin):
    tk = admin.generate_key("short-lived")
    c = admin_server.client(ns=unique("ns"), key=tk)
    return tk, c


def test_revoke_immediately_on_open_connection(admin, fresh_tester):
    """The same keep-alive connection that just used the key gets 401 on its next request."""
    tk, c = fresh_tester
    c.publish()
    assert admin.revoke_key(tk).status == 200
    assert_error(c.publish_raw(), 401, "unauthorized")
    assert_error(c.claim(), 401, "unauthorized")


def test_revoke_unknown_and_invalid(admin_server, admin):
    assert_error(admin.revoke_key("tk_" + "0" * 64), 404, "not_found")
    assert_error(admin.revoke_key(admin_server.key), 400, "invalid_api_key")
    assert_error(admin.revoke_key("not-a-tester-key"), 400, "invalid_api_key")
    assert_error(admin.revoke_key("TK_" + "a" * 64), 400, "invalid_api_key")
    assert_error(admin.revoke_key(12), 400, "invalid_api_key")
    r = admin.revoke_key("tk_short")
    assert (r.status, r.json["error"]["code"]) in ((400, "invalid_api_key"), (404, "not_found")), r.raw
    r = admin.post("/admin/revoke_key", {})
    assert r.status == 400 and r.json["error"]["code"] in ("invalid_api_key", "invalid_request"), r.raw
    assert_error(admin.post("/admin/revoke_key", "nope"), 400, "invalid_json")
    # the main key still works
    c = admin_server.client(ns=unique("ns"))
    c.publish()


def test_unknown_tester_key_is_unauthorized(admin_server):
    c = admin_server.client(ns=unique("ns"), key="tk_" + "1" * 64)
    for method, path, body in every_endpoint_requests("0" * 32, "0" * 32):
        assert_error(c.request(method, path, body), 401, "unauthorized")


def test_list_keys(admin_server, admin):
    t0 = time.time()
    owner = unique("owner")
    tk = admin.generate_key(owner)
    row = keys_by_id(admin)[key_id(tk)]
    assert set(row) == {"key_id", "owner", "created_at", "revoked_at", "open_intents"}, row
    assert row["owner"] == owner and row["revoked_at"] is None and row["open_intents"] == 0
    assert t0 - 1 <= row["created_at"] <= time.time() + 1
    raw = admin.get("/admin/keys").raw.decode()
    assert tk not in raw and tk[3:] not in raw and hashlib.sha256(tk.encode()).hexdigest() not in raw

    c = admin_server.client(ns=unique("ns"), key=tk)
    ids = [c.publish() for _ in range(3)]
    c.publish(namespace=unique("ns"), delay=600)   # open though not yet claimable
    assert keys_by_id(admin)[key_id(tk)]["open_intents"] == 4
    claim = c.claim_ok()
    assert keys_by_id(admin)[key_id(tk)]["open_intents"] == 3
    assert c.fulfill(claim["id"], claim["claim_token"]).status == 200
    assert keys_by_id(admin)[key_id(tk)]["open_intents"] == 3
    assert admin.post(f"/admin/intents/{ids[1]}/cancel").status == 200
    assert keys_by_id(admin)[key_id(tk)]["open_intents"] == 2
    assert admin.post(f"/admin/intents/{ids[1]}/retry").status == 200
    assert keys_by_id(admin)[key_id(tk)]["open_intents"] == 3

    t1 = time.time()
    assert admin.revoke_key(tk).status == 200
    row = keys_by_id(admin)[key_id(tk)]
    assert row["owner"] == owner
    assert t1 - 1 <= row["revoked_at"] <= time.time() + 1 and row["revoked_at"] >= row["created_at"]


def test_stats_counts_active_tester_keys(server_factory):
    srv = server_factory(env=admin_env())
    admin = admin_client(srv)
    assert admin.stats()["tester_keys"] == 0
    assert admin.get("/admin/keys").json == {"keys": []}
    keys = [admin.generate_key(f"o{i}") for i in range(3)]
    assert admin.stats()["tester_keys"] == 3
    assert admin.revoke_key(keys[0]).status == 200
    assert admin.stats()["tester_keys"] == 2
    listed = admin.get("/admin/keys").json["keys"]
    assert sorted(k["key_id"] for k in listed) == sorted(key_id(k) for k in keys)
    # tester keys survive a restart (only their hash is stored)
    srv.restart()
    admin = admin_client(srv)
    assert admin.stats()["tester_keys"] == 2
    c = srv.client(ns=unique("ns"), key=keys[1])
    c.publish()
    assert_error(srv.client(key=keys[0]).publish_raw(), 401, "unauthorized")


def test_tester_key_publisher_fingerprint(admin_server, admin):
    tk = admin.generate_key("fp")
    c = admin_server.client(ns=unique("ns"), key=tk)
    iid = c.publish()
    d = admin.intent(iid)
    assert d["publisher"] == hashlib.sha256(tk.encode()).hexdigest()
    assert d["publisher"][:12] == key_id(tk)
    assert tk not in admin.get(f"/admin/intents/{iid}").raw.decode()


# ---------------------------------------------------------------------------
# Isolation between tester keys A, B and the main key


@pytest.fixture
def trio(admin_server, admin):
    ns = unique("ns")
    a = admin_server.client(ns=ns, key=admin.generate_key("A"))
    b = admin_server.client(ns=ns, key=admin.generate_key("B"))
    m = admin_server.client(ns=ns)
    return a, b, m


def test_private_intents_isolated(trio):
    a, b, m = trio
    iid = a.publish(payload={"secret": 1})
    b.claim_none()
    m.claim_none()
    # another tester key: 403, as the spec's table and the original server say
    assert_error(b.get(f"/result/{iid}"), 403, "forbidden")
    assert_error(b.get(f"/status/{iid}"), 403, "forbidden")
    # the main key has the admin role, as in the original server: it reads
    # any intent (spec 7.4: "the publisher, the current claimer, or an admin")
    assert m.result(iid)["status"] == "open" and m.status(iid)["id"] == iid
    # and the other way round
    mid = m.publish()
    bid = b.publish()
    claim = a.claim_ok()
    assert claim["id"] == iid and claim["payload"] == {"secret": 1}
    a.claim_none()
    for who, other_id in ((a, mid), (a, bid), (b, mid)):
        assert_error(who.get(f"/status/{other_id}"), 403, "forbidden")
        assert_error(who.get(f"/result/{other_id}"), 403, "forbidden")
    assert b.claim_ok()["id"] == bid
    assert m.claim_ok()["id"] == mid


def test_foreign_token_use_is_404(trio):
    a, b, m = trio
    iid = a.publish()
    tok = a.claim_ok()["claim_token"]
    for who in (b, m):
        assert_error(who.fulfill(iid, tok), 404, "not_found")
        assert_error(who.fail(iid, tok), 404, "not_found")
        assert_error(who.extend(iid, tok), 404, "not_found")
    assert a.status(iid)["status"] == "claimed"
    assert a.fulfill(iid, tok).status == 200


def test_kv_isolated(trio):
    a, b, m = trio
    k = unique("key")
    assert a.post(f"/set/{k}", {"value": "from-a"}).status == 200
    assert_error(b.get(f"/get/{k}"), 404, "not_found")
    assert_error(m.get(f"/get/{k}"), 404, "not_found")
    assert b.post(f"/set/{k}", {"value": "from-b"}).status == 200
    assert m.post(f"/set/{k}", {"value": "from-main"}).status == 200
    assert a.get(f"/get/{k}").json == {"value": "from-a"}
    assert b.get(f"/get/{k}").json == {"value": "from-b"}
    assert m.get(f"/get/{k}").json == {"value": "from-main"}


def test_public_intent_claimable_in_same_namespace_only(trio):
    a, b, m = trio
    iid = a.publish(visibility="public", payload={"p": 1})
    b.claim_none(namespace=unique("ns"))
    b.claim_none(namespace="default")
    claim = b.claim_ok()
    assert claim["id"] == iid and claim["payload"] == {"p": 1}
    # while B holds it, B (the current claimer) reads it, and so does the
    # main key (the admin role); another tester key does not
    res = b.result(iid)
    assert res["id"] == iid and res["status"] == "claimed"
    assert b.status(iid)["status"] == "claimed"
    assert m.status(iid)["status"] == "claimed"
    # the publisher always can
    assert a.status(iid)["status"] == "claimed"
    assert b.fulfill(iid, claim["claim_token"], result="by-b").status == 200
    assert a.result(iid)["result"] == "by-b"


def test_public_intent_claimable_by_main_key(trio):
    a, b, m = trio
    iid = a.publish(visibility="public")
    m.claim_none(namespace=unique("ns"))
    assert m.claim_ok()["id"] == iid
    assert m.result(iid)["status"] == "claimed"
    b.claim_none()


def test_publisher_filter(trio):
    a, b, m = trio
    mine = a.publish(visibility="public", goal="x")
    theirs = b.publish(visibility="public", goal="x")
    # own key as publisher: only own intents
    claim = a.claim_ok(publisher=a.key)
    assert claim["id"] == mine
    a.claim_none(publisher=a.key)
    # B's own filter skips A's public intents
    assert b.claim_ok(publisher=b.key)["id"] == theirs
    # someone else's key is forbidden
    assert_error(a.claim(publisher=b.key), 403, "forbidden")
    assert_error(b.claim(publisher=a.key), 403, "forbidden")
    assert_error(a.claim(publisher=m.key), 403, "forbidden")
    assert_error(a.claim(publisher="tk_" + "2" * 64), 403, "forbidden")
    # the main key has the admin role there, as in the original server: it may
    # name any publisher, and then claims that key's intents, private ones too
    private = a.publish(goal="only-a")
    assert m.claim_ok(publisher=a.key, goal="only-a")["id"] == private
    # the main key's own filter
    mm = m.publish(visibility="public")
    other = a.publish(visibility="public")
    assert m.claim_ok(publisher=m.key)["id"] == mm
    m.claim_none(publisher=m.key)
    assert b.claim_ok()["id"] == other


def test_revoke_by_key_id(server_factory):
    """The dashboard knows keys by the id /admin/keys shows, never the key."""
    srv = server_factory(env=admin_env())
    admin = admin_client(srv)
    key = admin.generate_key("dora")
    other = admin.generate_key("eve")
    key_id = [k["key_id"] for k in admin.get("/admin/keys").json["keys"] if k["owner"] == "dora"][0]
    for bad in ("", "xyz", key_id[:11], "Z" * 12):
        assert_error(admin.post("/admin/revoke_key", {"key_id": bad}), 400, "invalid_api_key")
    assert_error(admin.post("/admin/revoke_key", {"key_id": "0" * 12}), 404, "not_found")
    r = admin.post("/admin/revoke_key", {"key_id": key_id})
    assert r.status == 200 and r.json == {"ok": True, "revoked": True, "owner": "dora"}, r.raw
    assert srv.client(key=key).publish_raw().status == 401
    assert srv.client(key=other).publish_raw().status == 201
    assert_error(admin.post("/admin/revoke_key", {"key_id": key_id}), 404, "not_found")
