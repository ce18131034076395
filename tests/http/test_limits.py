"""Tester-key limits (docs/ADMIN.md): 60 requests per minute (sliding window,
BUS_TESTER_RATE_LIMIT) and 2000 open intents; the main key and admin routes
are exempt."""

import threading
import time

import pytest

from conftest import Client, admin_client, admin_env, assert_error, unique

CAP = 2000


def assert_rate_limited(r, max_wait=60):
    assert_error(r, 429, "rate_limited")
    ra = r.headers.get("retry-after")
    assert ra is not None and ra.isdigit(), f"Retry-After must be an integer, got {ra!r}"
    assert 1 <= int(ra) <= max_wait, ra
    return int(ra)


def use_up(c, n):
    """n successful requests with c's key (a mix of endpoints); returns the elapsed time."""
    t0 = time.monotonic()
    iid = c.publish()
    for i in range(1, n):
        if i % 3 == 0:
            r = c.post(f"/set/k{i % 5}", {"value": i})
        elif i % 3 == 1:
            r = c.get(f"/status/{iid}")
        else:
            r = c.claim(goal="nothing-here")
            assert r.status == 204, r.raw
            continue
        assert r.status == 200, f"request {i + 1} of {n}: {r.status} {r.raw!r}"
    return time.monotonic() - t0


@pytest.fixture
def limited(server_factory):
    """A server with admin credentials and the default tester rate limit."""
    srv = server_factory(env=admin_env())
    return srv, admin_client(srv)


def test_rate_limit_default_60(limited):
    srv, admin = limited
    a = srv.client(ns=unique("ns"), key=admin.generate_key("a"))
    elapsed = use_up(a, 60)
    ra = assert_rate_limited(a.publish_raw())
    # sliding window: the first request leaves it 60 s after it was made
    assert ra >= 60 - elapsed - 1, (ra, elapsed)
    # every endpoint is limited, not only the one that went over
    assert_rate_limited(a.get("/get/k0"))
    assert_rate_limited(a.claim())
    assert_rate_limited(a.post("/set/x", {"value": 1}))


def test_rate_limit_exemptions_and_separate_windows(limited):
    srv, admin = limited
    ns = unique("ns")
    ka = admin.generate_key("a")
    a = srv.client(ns=ns, key=ka)
    use_up(a, 60)
    assert_rate_limited(a.publish_raw())

    # the main key is exempt
    m = srv.client(ns=ns)
    for i in range(150):
        r = m.publish_raw() if i % 2 else m.get("/get/nothing")
        assert r.status == (201 if i % 2 else 404), (i, r.status, r.raw)
    # admin routes are exempt, even when the limited tester key rides along
    for i in range(150):
        assert admin.get("/admin/stats").status == 200, i
    assert admin.get("/admin/keys", key=ka).status == 200
    assert admin.post("/admin/cleanup").status == 200

    # another tester key has its own window
    b = srv.client(ns=ns, key=admin.generate_key("b"))
    use_up(b, 60)
    assert_rate_limited(b.publish_raw())
    assert_rate_limited(a.publish_raw())

    # revoked: 401, no longer 429; a new key for the same owner starts fresh
    assert admin.revoke_key(ka).status == 200
    assert_error(a.publish_raw(), 401, "unauthorized")
    c = srv.client(ns=ns, key=admin.generate_key("a"))
    use_up(c, 60)
    assert_rate_limited(c.publish_raw())


def test_rate_limit_setting(server_factory):
    srv = server_factory(env=admin_env(BUS_TESTER_RATE_LIMIT="5"))
    admin = admin_client(srv)
    t = srv.client(ns=unique("ns"), key=admin.generate_key("five"))
    use_up(t, 5)
    assert_rate_limited(t.publish_raw())
    m = srv.client(ns=t.ns)
    for _ in range(20):
        m.publish()


def test_rate_limit_counts_per_key_not_per_connection(limited):
    srv, admin = limited
    tk = admin.generate_key("conns")
    clients = [Client(srv.port, tk, ns=unique("ns")) for _ in range(4)]
    srv.clients.extend(clients)
    ok = 0
    for i in range(60):
        c = clients[i % 4]
        if i % 4 == 0:
            c.close()  # a fresh connection now and then
        r = c.get("/get/nothing")
        assert r.status == 404, (i, r.raw)
        ok += 1
    assert ok == 60
    assert_rate_limited(clients[1].get("/get/nothing"))
    fresh = Client(srv.port, tk)
    srv.clients.append(fresh)
    assert_rate_limited(fresh.get("/get/nothing"))


# ---------------------------------------------------------------------------
# Open-intent cap


def publish_many(port, key, namespaces, total, threads=8):
    """Publish `total` intents with `key`, spread over `namespaces`, from several
    keep-alive connections at once. Returns the ids."""
    ids = []
    errors = []
    lock = threading.Lock()
    per = [total // threads + (1 if i < total % threads else 0) for i in range(threads)]

    def work(n, idx):
        c = Client(port, key)
        try:
            for j in range(n):
                ns = namespaces[(idx + j) % len(namespaces)]
                r = c.post("/intent", {"goal": "bulk", "payload": {"i": j}, "namespace": ns})
                if r.status != 201:
                    with lock:
                        errors.append((r.status, r.raw))
                    return
                with lock:
                    ids.append(r.json["id"])
        except Exception as exc:  # pragma: no cover - reported below
            with lock:
                errors.append(repr(exc))
        finally:
            c.close()

    ts = [threading.Thread(target=work, args=(n, i)) for i, n in enumerate(per)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors[:3]
    assert len(ids) == total
    return ids


def open_intents(admin, key):
    import hashlib
    kid = hashlib.sha256(key.encode()).hexdigest()[:12]
    rows = [k for k in admin.get("/admin/keys").json["keys"] if k["key_id"] == kid]
    assert len(rows) == 1
    return rows[0]["open_intents"]


def test_open_intent_cap(server_factory):
    srv = server_factory(env=admin_env(BUS_TESTER_RATE_LIMIT="100000"))
    admin = admin_client(srv)
    tk = admin.generate_key("capped")
    ns1, ns2, ns3 = unique("ns"), unique("ns"), unique("ns")
    t = srv.client(ns=ns1, key=tk)

    # one intent that is dead before the cap is reached (for the admin retry below)
    parked = t.publish(goal="parked")
    assert admin.post(f"/admin/intents/{parked}/cancel").status == 200

    ids = publish_many(srv.port, tk, [ns1, ns2], CAP)
    assert len(set(ids)) == CAP
    assert open_intents(admin, tk) == CAP

    # the 2001st open intent, in any namespace, with or without a delay
    assert_error(t.publish_raw(namespace=ns3), 429, "limit_exceeded")
    assert_error(t.publish_raw(), 429, "limit_exceeded")
    assert_error(t.publish_raw(delay=60), 429, "limit_exceeded")
    assert_error(t.publish_raw(headers={"Idempotency-Key": "cap-1"}), 429, "limit_exceeded")
    assert open_intents(admin, tk) == CAP

    # other keys are not affected
    other = srv.client(ns=ns1, key=admin.generate_key("other"))
    other.publish()
    m = srv.client(ns=ns1)
    m.publish()

    # claiming one makes room for exactly one more
    claim = t.claim_ok(namespace=ns2)
    assert open_intents(admin, tk) == CAP - 1
    t.publish(namespace=ns3)
    assert_error(t.publish_raw(namespace=ns3), 429, "limit_exceeded")
    # the claim goes on as usual
    assert t.fulfill(claim["id"], claim["claim_token"]).status == 200

    # admin routes are exempt from the cap: retrying the parked intent makes 2001 open
    r = admin.post(f"/admin/intents/{parked}/retry")
    assert r.status == 200 and r.json == {"ok": True, "id": parked, "status": "open"}, r.raw
    assert open_intents(admin, tk) == CAP + 1
    t.claim_ok(namespace=ns1)
    assert open_intents(admin, tk) == CAP
    assert_error(t.publish_raw(), 429, "limit_exceeded")
    t.claim_ok(namespace=ns1)
    assert open_intents(admin, tk) == CAP - 1
    t.publish()
    assert_error(t.publish_raw(), 429, "limit_exceeded")

    # cancelling an open one makes room as well
    still_open = next(i for i in ids if admin.intent(i)["status"] == "open")
    assert admin.post(f"/admin/intents/{still_open}/cancel").status == 200
    assert open_intents(admin, tk) == CAP - 1
    t.publish()
    assert_error(t.publish_raw(), 429, "limit_exceeded")


def test_main_key_not_capped(server_factory):
    srv = server_factory(env=admin_env())
    ns = unique("ns")
    publish_many(srv.port, srv.key, [ns], CAP + 5)
    m = srv.client(ns=ns)
    m.publish()
    admin = admin_client(srv)
    assert admin.stats()["namespaces"][ns]["open"] == CAP + 6
