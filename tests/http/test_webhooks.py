"""Completion webhooks (issue 18, docs/PROTOCOL-EXTENSIONS.md "Completion
webhooks"): an intent published with a notify_url gets one signed POST when
it is fulfilled or goes dead, retried with backoff until it is answered 2xx;
the delivery state shows in /result. Off unless BUS_WEBHOOK_ALLOW allows the
target; never to loopback or private addresses unless a pattern names the
IP literal (as these tests' 127.0.0.1:* does) or BUS_WEBHOOK_ALLOW_PRIVATE=1."""

import hashlib
import http.client
import hmac
import json
import os
import secrets
import sqlite3
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import (BIN, ON_POSTGRES, SQLITE_SCHEMA_LATEST, Client, admin_client, admin_env,
                      assert_error, free_port, postgres_database_for, sqlite_only, wait_until)

SECRET = "whsec-" + secrets.token_hex(16)


class Receiver:
    """An HTTP receiver on loopback: records every POST, answers with the
    statuses in `plan` first (then 200); a float in the plan hangs that many
    seconds first."""

    def __init__(self, plan=()):
        self.plan = list(plan)
        self.calls = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.calls.append({"at": time.monotonic(), "path": self.path,
                                           "headers": dict(self.headers), "body": body})
                    status = receiver.plan.pop(0) if receiver.plan else 200
                if isinstance(status, float):  # hang that long, then answer 200
                    time.sleep(status)
                    status = 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/hook"):
        return f"http://127.0.0.1:{self.port}{path}"

    def count(self):
        with self.lock:
            return len(self.calls)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(plan=()):
        r = Receiver(plan)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


METRICS_TOKEN = "mt-" + secrets.token_hex(8)


def hook_env(**extra):
    env = {"BUS_WEBHOOK_ALLOW": "127.0.0.1:*", "BUS_WEBHOOK_SECRET": SECRET,
           "BUS_METRICS_TOKEN": METRICS_TOKEN}
    env.update(extra)
    return env


def key_secret(api_key, base=SECRET):
    """The secret of the events of api_key's intents: the hex HMAC-SHA256,
    under the bus's webhook secret, of the key's id (its SHA-256 in hex)."""
    key_id = hashlib.sha256(api_key.encode()).hexdigest()
    return hmac.new(base.encode(), key_id.encode(), hashlib.sha256).hexdigest()


def fetched_secret(srv, api_key=None):
    """GET /webhooks/secret with the key (the server's main key by default)."""
    r = Client(srv.port, api_key or srv.key).get("/webhooks/secret")
    assert r.status == 200, r.raw
    assert r.json["header"] == "X-Intent-Signature"
    return r.json["secret"]


def verify(call, secret, tolerance=300):
    """What a receiver does (the Python example of PROTOCOL-EXTENSIONS.md)."""
    header = call["headers"]["X-Intent-Signature"]
    parts = dict(item.split("=", 1) for item in header.split(","))
    signed = parts["t"].encode() + b"." + call["body"]
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, parts["v1"]), header
    assert abs(time.time() - int(parts["t"])) < tolerance
    return json.loads(call["body"])


def metrics(srv):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        resp = conn.getresponse()
        body = resp.read().decode()
        assert resp.status == 200, body
        return body
    finally:
        conn.close()


def settle(c, intent_id, result=None):
    job = c.claim_ok()
    assert job["id"] == intent_id
    r = c.fulfill(intent_id, job["claim_token"], result=result)
    assert r.status == 200, r.raw
    return job


def webhook_of(c, intent_id):
    return c.result(intent_id).get("webhook")


def test_fulfilled_and_dead_events_arrive_once_signed(server_factory, receiver):
    hooks = receiver()
    srv = server_factory(env=hook_env())
    c = srv.client(ns="hooks")
    done = c.publish(goal="resize", notify_url=hooks.url("/done"))
    assert webhook_of(c, done)["state"] == "waiting"
    settle(c, done, result={"width": 640})
    wait_until(lambda: hooks.count() == 1, message="the fulfilled event")
    call = hooks.calls[0]
    assert call["path"] == "/done"
    assert call["headers"]["Content-Type"] == "application/json"
    event = verify(call, fetched_secret(srv))
    assert set(event) == {"id", "goal", "namespace", "status", "result", "result_type", "error",
                          "completed_at"}
    assert event["id"] == done and event["goal"] == "resize" and event["namespace"] == "hooks"
    assert event["status"] == "fulfilled" and event["result"] == {"width": 640}
    assert event["result_type"] == "json" and event["error"] is None
    assert event["completed_at"] == c.result(done)["completed_at"]

    dead = c.publish(goal="resize", max_attempts=1, notify_url=hooks.url("/dead"))
    job = c.claim_ok()
    assert c.fail(dead, job["claim_token"], error="disk full").status == 200
    wait_until(lambda: hooks.count() == 2, message="the dead event")
    event = verify(hooks.calls[1], fetched_secret(srv))
    assert event["id"] == dead and event["status"] == "dead" and event["error"] == "disk full"
    assert event["result"] is None and isinstance(event["completed_at"], float)

    time.sleep(1.0)  # nothing is sent twice
    assert hooks.count() == 2
    state = webhook_of(c, done)
    assert state["state"] == "delivered" and state["attempts"] == 1
    assert state["last_status"] == 200 and state["last_error"] is None
    assert state["url"] == hooks.url("/done") and state["next_attempt_at"] is None
    assert isinstance(state["delivered_at"], float)
    assert c.status(dead)["webhook"]["state"] == "delivered"
    assert "webhook" not in c.result(c.publish(goal="plain"))


def test_an_admin_cancel_sends_the_dead_event(server_factory, receiver):
    hooks = receiver()
    srv = server_factory(env=admin_env(**hook_env()))
    c = srv.client(ns="cancel")
    intent = c.publish(notify_url=hooks.url())
    admin = admin_client(srv)
    assert admin.post(f"/admin/intents/{intent}/cancel").status == 200
    wait_until(lambda: hooks.count() == 1, message="the cancel's event")
    event = verify(hooks.calls[0], fetched_secret(srv))
    assert event["status"] == "dead" and event["id"] == intent
    detail = admin.get(f"/admin/intents/{intent}").json
    wait_until(lambda: admin.get(f"/admin/intents/{intent}").json["webhook"]["state"]
               == "delivered", message="the admin's view of the delivery")
    assert detail["webhook"]["url"] == hooks.url()
    # cancelled again, already dead: no new event, the delivery stays delivered
    assert admin.post(f"/admin/intents/{intent}/cancel").status == 200
    time.sleep(1.0)  # the delivery threads would have sent a re-armed event by now
    assert hooks.count() == 1
    assert admin.get(f"/admin/intents/{intent}").json["webhook"]["state"] == "delivered"


def test_a_failing_receiver_gets_it_on_the_fourth_try(server_factory, receiver):
    hooks = receiver(plan=[500, 503, 404])
    srv = server_factory(env=hook_env(BUS_WEBHOOK_RETRY_BASE_MS="200"))
    c = srv.client(ns="retry")
    intent = c.publish(notify_url=hooks.url())
    settle(c, intent, result="ok")
    wait_until(lambda: hooks.count() >= 1, message="the first attempt")
    wait_until(lambda: (webhook_of(c, intent) or {}).get("attempts") == 1, message="a record")
    state = webhook_of(c, intent)
    assert state["state"] == "pending" and state["last_status"] == 500
    assert state["last_error"] == "HTTP 500" and isinstance(state["next_attempt_at"], float)
    wait_until(lambda: webhook_of(c, intent)["state"] == "delivered", timeout=10,
               message="delivery on the fourth try")
    assert hooks.count() == 4
    state = webhook_of(c, intent)
    assert state["attempts"] == 4 and state["last_status"] == 200
    events = [verify(call, fetched_secret(srv)) for call in hooks.calls]
    assert all(e["id"] == intent and e["result"] == "ok" for e in events)
    gaps = [b["at"] - a["at"] for a, b in zip(hooks.calls, hooks.calls[1:])]
    # 0.2 s, then 0.4 s, then 0.8 s, each stretched by up to 25 % (plus polling)
    assert gaps[0] >= 0.19 and gaps[1] >= 0.39 and gaps[2] >= 0.79, gaps
    assert gaps[2] > gaps[0]
    text = metrics(srv)
    assert 'intent_bus_webhook_deliveries_total{outcome="succeeded"} 1' in text
    assert 'intent_bus_webhook_deliveries_total{outcome="failed"} 3' in text
    assert 'intent_bus_webhook_deliveries_total{outcome="given_up"} 0' in text
    assert "intent_bus_webhook_pending 0" in text


def test_a_pending_delivery_survives_a_restart(server_factory, receiver, tmp_path):
    hooks = receiver(plan=[500])
    srv = server_factory(env=hook_env(BUS_WEBHOOK_RETRY_BASE_MS="1500"))
    c = srv.client(ns="restart")
    intent = c.publish(notify_url=hooks.url())
    settle(c, intent)
    wait_until(lambda: (webhook_of(c, intent) or {}).get("attempts") == 1, message="1st attempt")
    assert webhook_of(c, intent)["state"] == "pending"
    assert "intent_bus_webhook_pending 1" in metrics(srv)
    srv.stop()
    assert hooks.count() == 1
    srv.start()
    c = srv.client(ns="restart")
    wait_until(lambda: webhook_of(c, intent)["state"] == "delivered", timeout=10,
               message="delivery after the restart")
    assert hooks.count() == 2
    assert webhook_of(c, intent)["attempts"] == 2
    verify(hooks.calls[1], fetched_secret(srv))


def test_an_intent_published_before_a_restart_sends_its_event_after_it(server_factory,
                                                                         receiver):
    """The webhook waits in the database while the intent is open: a bus
    started again over it, before any publish names a notify_url, still
    arms it at the fulfil."""
    hooks = receiver()
    srv = server_factory(env=hook_env())
    c = srv.client(ns="before")
    intent = c.publish(notify_url=hooks.url())
    srv.stop()
    srv.start()
    c = srv.client(ns="before")
    settle(c, intent, result={"ok": 1})
    wait_until(lambda: hooks.count() == 1, timeout=10, message="the event after the restart")
    event = verify(hooks.calls[0], fetched_secret(srv))
    assert event["id"] == intent and event["status"] == "fulfilled"
    assert webhook_of(c, intent)["state"] == "delivered"


def test_a_shutdown_interrupts_an_attempt_without_counting_it(server_factory, receiver):
    hooks = receiver(plan=[30.0])
    srv = server_factory(env=hook_env())
    c = srv.client(ns="hang")
    intent = c.publish(notify_url=hooks.url())
    settle(c, intent)
    wait_until(lambda: hooks.count() == 1, message="the hanging attempt")
    started = time.monotonic()
    assert srv.stop() == 0
    assert time.monotonic() - started < 5  # not the 10-second attempt timeout
    srv.start()
    c = srv.client(ns="hang")
    wait_until(lambda: webhook_of(c, intent)["state"] == "delivered", timeout=10,
               message="delivery after the restart")
    assert webhook_of(c, intent)["attempts"] == 1 and hooks.count() == 2


@sqlite_only("upgrades a SQLite file")
def test_a_version_6_database_gains_the_webhooks(server_factory, receiver):
    hooks = receiver()
    srv = server_factory(env=hook_env())
    c = srv.client(ns="upgrade")
    old = c.publish(goal="old")
    srv.stop()
    db = sqlite3.connect(srv.db)
    db.executescript("DROP TRIGGER webhooks_forget;"
                     "DROP TABLE webhooks; PRAGMA user_version = 6;")
    db.close()
    srv.start()
    c = srv.client(ns="upgrade")
    assert "webhook" not in c.result(old)
    intent = c.publish(goal="new", notify_url=hooks.url())
    job = c.claim_ok(goal="new")
    assert c.fulfill(intent, job["claim_token"]).status == 200
    wait_until(lambda: hooks.count() == 1, message="the event")
    db = sqlite3.connect(srv.db)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SQLITE_SCHEMA_LATEST
    db.close()


def test_the_default_secret_is_derived_from_the_api_key(server_factory, receiver):
    hooks = receiver()
    srv = server_factory(env={"BUS_WEBHOOK_ALLOW": "127.0.0.1:*"})
    c = srv.client(ns="derived")
    intent = c.publish(notify_url=hooks.url())
    settle(c, intent)
    wait_until(lambda: hooks.count() == 1, message="the event")
    base = hmac.new(srv.key.encode(), b"intent-bus webhook secret", hashlib.sha256).hexdigest()
    assert fetched_secret(srv) == key_secret(srv.key, base)
    assert verify(hooks.calls[0], key_secret(srv.key, base))["id"] == intent


def test_each_key_has_its_own_secret(server_factory, receiver):
    """A tester key fetches its own secret and verifies its own events with
    it; it cannot verify (so cannot forge) the main key's."""
    hooks = receiver()
    srv = server_factory(env=admin_env(**hook_env()))
    tester = admin_client(srv).generate_key(owner="hooks")
    mine, theirs = Client(srv.port, tester, ns="own"), srv.client(ns="own-main")
    assert fetched_secret(srv, tester) == key_secret(tester)
    assert fetched_secret(srv, tester) != fetched_secret(srv)
    own = mine.publish(notify_url=hooks.url("/tester"))
    settle(mine, own)
    other = theirs.publish(notify_url=hooks.url("/main"))
    settle(theirs, other)
    wait_until(lambda: hooks.count() == 2, message="both events")
    by_path = {call["path"]: call for call in hooks.calls}
    assert verify(by_path["/tester"], fetched_secret(srv, tester))["id"] == own
    with pytest.raises(AssertionError):
        verify(by_path["/main"], fetched_secret(srv, tester))
    assert verify(by_path["/main"], fetched_secret(srv))["id"] == other


def test_the_secret_route_needs_a_key_and_webhooks(server_factory):
    srv = server_factory()
    r = srv.client().get("/webhooks/secret")
    assert r.status == 404 and r.json["error"]["code"] == "webhooks_off", r.raw
    on = server_factory(env=hook_env())
    assert Client(on.port, None).get("/webhooks/secret").status == 401


def test_webhooks_are_off_unless_allowed(server_factory):
    srv = server_factory()
    c = srv.client(ns="off")
    r = c.publish_raw(notify_url="https://hooks.example.com/x")
    assert_error(r, 400, "webhook_not_allowed")
    assert "BUS_WEBHOOK_ALLOW" in r.json["error"]["message"]
    c.claim_none()  # nothing was published


def test_refusals_at_publish(server_factory):
    # Wildcards allow every host; the private-address rule still refuses.
    srv = server_factory(env={"BUS_WEBHOOK_ALLOW": "hooks.example.com, *.example.org:*, *:8080,"
                                                   " 10.*, 192.168.*, 169.254.*, 0.0.0.0x.*,"
                                                   " *:80"})
    c = srv.client(ns="refuse")
    cases = [
        ("https://other.example.net/x", "webhook_not_allowed", "BUS_WEBHOOK_ALLOW"),
        ("https://hooks.example.com:8443/x", "webhook_not_allowed", "BUS_WEBHOOK_ALLOW"),
        ("http://127.0.0.1:8080/x", "webhook_not_allowed", "loopback"),
        ("http://10.1.2.3/x", "webhook_not_allowed", "private"),
        ("http://192.168.0.10/x", "webhook_not_allowed", "private"),
        ("http://169.254.169.254/latest/meta-data", "webhook_not_allowed", "link-local"),
        ("http://0.0.0.0/x", "webhook_not_allowed", "unspecified"),
        ("http://[::1]/x", "webhook_not_allowed", "loopback"),
        ("http://[fd00::1]/x", "webhook_not_allowed", "private"),
        ("http://[::ffff:127.0.0.1]/x", "webhook_not_allowed", "loopback"),
        ("http://localhost/x", "webhook_not_allowed", "loopback"),
        ("http://a.localhost/x", "webhook_not_allowed", "loopback"),
        ("http://LocalHost./x", "webhook_not_allowed", "loopback"),
        ("ftp://hooks.example.com/x", "invalid_notify_url", "http"),
        ("hooks.example.com/x", "invalid_notify_url", "http"),
        ("https://user:pw@hooks.example.com/x", "invalid_notify_url", "user"),
        ("https://hooks.example.com:99999/x", "invalid_notify_url", "port"),
        ("https://hooks.example.com/a b", "invalid_notify_url", "spaces"),
        ("https:///x", "invalid_notify_url", "host"),
        ("https://" + "a" * 2050 + ".com/", "invalid_notify_url", "2048"),
        (42, "invalid_notify_url", "string"),
        ("https://hooks.example.com/\u0000x", "invalid_notify_url", "string"),
    ]
    for url, code, words in cases:
        r = c.publish_raw(notify_url=url)
        assert_error(r, 400, code)
        assert words in r.json["error"]["message"], (url, r.json)
    c.claim_none()
    # Allowed: the exact host on its default port, any port of the wildcard.
    c.publish(notify_url="https://hooks.example.com/ok")
    c.publish(notify_url="https://a.b.example.org:9443/ok")
    c.publish(notify_url=None)  # null: no webhook
    r = c.post("/schedules", {"name": "hooked", "every": 60,
                              "intent": {"goal": "g", "payload": {},
                                         "notify_url": "https://hooks.example.com/x"}})
    assert_error(r, 400, "invalid_intent")
    assert "notify_url" in r.json["error"]["message"]


def test_private_addresses_need_an_explicit_allowance(server_factory, receiver):
    hooks = receiver()
    # A wildcard that matches the loopback literal is not enough ...
    srv = server_factory(env={"BUS_WEBHOOK_ALLOW": "*:*", "BUS_WEBHOOK_SECRET": SECRET})
    assert_error(srv.client(ns="p").publish_raw(notify_url=hooks.url()), 400,
                 "webhook_not_allowed")
    # ... BUS_WEBHOOK_ALLOW_PRIVATE=1 is.
    srv2 = server_factory(env={"BUS_WEBHOOK_ALLOW": "*:*", "BUS_WEBHOOK_ALLOW_PRIVATE": "1",
                               "BUS_WEBHOOK_SECRET": SECRET})
    c = srv2.client(ns="p")
    intent = c.publish(notify_url=hooks.url())
    settle(c, intent)
    wait_until(lambda: hooks.count() == 1, message="the event")


def test_a_name_resolving_to_loopback_is_refused_at_delivery(server_factory, receiver):
    """A host name passes the publish check (it is not resolved there); at
    delivery its addresses are checked, and loopback is refused."""
    hooks = receiver()
    srv = server_factory(env={"BUS_WEBHOOK_ALLOW": "*:*", "BUS_WEBHOOK_SECRET": SECRET,
                              "BUS_WEBHOOK_RETRY_BASE_MS": "100000"})
    c = srv.client(ns="dns")
    # Not a literal inet_pton reads, so a name to the publish check; the
    # resolver reads it as 127.0.0.1 (the old inet_aton forms).
    intent = c.publish(notify_url=f"http://2130706433:{hooks.port}/x")
    settle(c, intent)
    wait_until(lambda: (webhook_of(c, intent) or {}).get("attempts") == 1, message="an attempt")
    state = webhook_of(c, intent)
    assert state["state"] == "pending" and state["last_status"] is None
    assert "loopback" in state["last_error"], state
    assert hooks.count() == 0


@pytest.mark.skipif(not ON_POSTGRES, reason="copies a SQLite bus into PostgreSQL")
def test_migrate_from_carries_the_deliveries(server_factory, receiver, tmp_path):
    hooks = receiver(plan=[500])
    env = hook_env(BUS_WEBHOOK_RETRY_BASE_MS="1500")
    old_db = tmp_path / "old.db"
    port = free_port()
    bus_env = {k: v for k, v in os.environ.items() if not k.startswith("BUS_")}
    bus_env.update(env, BUS_SECRET="k-" + secrets.token_hex(16))
    proc = subprocess.Popen([str(BIN), "serve", "--bind", "127.0.0.1", "--port", str(port),
                             "--db", str(old_db)], env=bus_env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _answers(port), message="the SQLite bus")
        c = Client(port, bus_env["BUS_SECRET"], ns="moved")
        waiting = c.publish(goal="later", notify_url=hooks.url("/later"))
        pending = c.publish(goal="now", notify_url=hooks.url("/now"))
        job = c.claim_ok(goal="now")
        assert c.fulfill(pending, job["claim_token"]).status == 200
        wait_until(lambda: (webhook_of(c, pending) or {}).get("attempts") == 1, message="try 1")
        c.close()
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
    target = tmp_path / "moved.db"
    moved = subprocess.run([str(BIN), "migrate", "--from", str(old_db), "--database",
                            postgres_database_for(target)], env=bus_env, capture_output=True,
                           text=True, timeout=120)
    assert moved.returncode == 0 and "webhooks" in moved.stdout, moved
    node = server_factory(secret=bus_env["BUS_SECRET"], db=target, env=env)
    c = node.client(ns="moved")
    assert webhook_of(c, waiting)["state"] == "waiting"
    wait_until(lambda: webhook_of(c, pending)["state"] == "delivered", timeout=10,
               message="the moved delivery")
    assert webhook_of(c, pending)["attempts"] == 2
    assert [call["path"] for call in hooks.calls] == ["/now", "/now"]


@pytest.mark.skipif(not ON_POSTGRES, reason="several nodes need PostgreSQL")
def test_three_nodes_send_each_event_once(server_factory, receiver, tmp_path):
    """Every node's delivery threads look for due deliveries; the lease
    (FOR UPDATE SKIP LOCKED) gives each to one node, so each event arrives
    once, even with a slow receiver and failures to retry."""
    hooks = receiver(plan=[500] * 5)
    secret = "k-" + secrets.token_hex(16)
    env = hook_env(BUS_WEBHOOK_RETRY_BASE_MS="100")
    nodes = [server_factory(env=env, secret=secret, db=tmp_path / "shared.db", name=f"n{i}")
             for i in range(3)]
    clients = [node.client(ns="multi") for node in nodes]
    ids = [clients[i % 3].publish(goal="g", notify_url=hooks.url(), payload={"i": i})
           for i in range(30)]
    for i in range(30):
        c = clients[i % 3]
        job = c.claim_ok()
        assert c.fulfill(job["id"], job["claim_token"], result=i).status == 200
    wait_until(lambda: all(webhook_of(clients[0], i)["state"] == "delivered" for i in ids),
               timeout=20, message="every event delivered")
    delivered = [verify(call, key_secret(secret))["id"] for call in hooks.calls]
    assert len(delivered) == 30 + 5 and set(delivered) == set(ids)
    assert sum(webhook_of(clients[0], i)["attempts"] for i in ids) == 35


def _answers(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()
