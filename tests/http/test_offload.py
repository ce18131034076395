"""The admin API, the schedule API and /metrics run on a thread of their
own (serve/offload.c), not on an HTTP loop: with one loop (the default on
two cores) an admin write waiting for the writer, or a scan of a large
database, must not hold up every other connection."""

import http.client
import json
import signal
import sqlite3
import threading
import time

from conftest import admin_client, admin_env, answered_once_unlocked, sqlite_only, unique


@sqlite_only("holds the SQLite database's write lock from outside the bus")
def test_admin_write_does_not_hold_up_the_loop(server_factory):
    """With one loop and the write lock held from outside, an admin key
    creation waits for the writer, yet a request on another connection is
    answered meanwhile; the key is made once the lock goes, and works."""
    srv = server_factory(env=admin_env(), extra_args=["--threads", "1"])
    admin = admin_client(srv)
    headers = {"X-Admin-Token": srv.extra_env["BUS_ADMIN_SECRET"],
               "Content-Type": "application/json"}
    status, made = answered_once_unlocked(srv, "POST", "/admin/generate_key", headers,
                                          json.dumps({"owner": unique("o")}).encode())
    assert status == 201, made
    assert any(k["owner"] == made["owner"] for k in admin.get("/admin/keys").json["keys"])


@sqlite_only("holds the SQLite database's write lock from outside the bus")
def test_schedule_write_does_not_hold_up_the_loop(server_factory):
    """The same for the schedule API, called with an API key."""
    srv = server_factory(extra_args=["--threads", "1"])
    name = unique("s")
    body = json.dumps({"name": name, "every": 3600,
                       "intent": {"goal": "g", "namespace": unique("ns"), "payload": {}}}).encode()
    headers = {"X-API-KEY": srv.key, "Content-Type": "application/json"}
    status, made = answered_once_unlocked(srv, "POST", "/schedules", headers, body)
    assert status in (200, 201), made
    listed = srv.client().get("/schedules")
    assert listed.status == 200 and name in listed.raw.decode(), listed.raw


@sqlite_only("holds the SQLite database's write lock from outside the bus")
def test_shutdown_waits_for_an_offloaded_request(server_factory):
    """SIGTERM while an admin write waits for the lock: the server answers
    it once the lock goes, and then exits cleanly."""
    srv = server_factory(env=admin_env(), extra_args=["--threads", "1"])
    lock = sqlite3.connect(srv.db, timeout=5, isolation_level=None, check_same_thread=False)
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        lock.execute("BEGIN IMMEDIATE")
        conn.request("POST", "/admin/generate_key", body=json.dumps({"owner": "late"}),
                     headers={"X-Admin-Token": srv.extra_env["BUS_ADMIN_SECRET"],
                              "Content-Type": "application/json"})
        time.sleep(0.3)  # the request is on the offload thread, waiting for the writer
        srv.proc.send_signal(signal.SIGTERM)
        threading.Timer(1.0, lambda: lock.execute("ROLLBACK")).start()
        answer = conn.getresponse()
        assert answer.status == 201, answer.read()
        assert srv.proc.wait(timeout=15) == 0
    finally:
        conn.close()
        time.sleep(1.1)
        lock.close()
