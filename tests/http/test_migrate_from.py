"""Moving house (docs/SCALING.md): `intent-bus migrate --from FILE --database
URL` copies a SQLite bus into an empty PostgreSQL database, and the bus
served from PostgreSQL answers as the SQLite one did. PostgreSQL only.
"""

import os
import secrets
import sqlite3
import subprocess
import time

import pytest

from conftest import (BIN, ON_POSTGRES, AdminClient, Client, free_port, postgres_database_for,
                      unique)
from test_signing import (assert_signature_refused, publish_body, send, send_signed,
                          signing_headers)

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="copies into PostgreSQL")


def run_bus(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUS_")}
    return subprocess.run([str(BIN), *args], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)


class SqliteBus:
    """A bus on a SQLite file, whatever backend the suite runs on."""

    def __init__(self, path, secret, admin_secret):
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("BUS_")}
        env.update({"BUS_SECRET": secret, "BUS_ADMIN_SECRET": admin_secret,
                    "BUS_CLAIM_TIMEOUT_SECONDS": "600"})
        self.proc = subprocess.Popen([str(BIN), "serve", "--bind", "127.0.0.1", "--port",
                                      str(self.port), "--db", str(path)], env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if Client(self.port, secret).get("/health").status == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the SQLite bus did not start")

    def stop(self):
        self.proc.terminate()
        assert self.proc.wait(10) == 0


def fill(bus_port, secret, admin_secret):
    """Intents in every state, a dead letter, a tester key, KV and a schedule;
    returns what to compare afterwards."""
    client = Client(bus_port, secret, ns=unique("moved"))
    admin = AdminClient(bus_port, {"X-Admin-Token": admin_secret})
    ids = {
        "open": client.publish(goal="wait", payload={"a": [1, 2.5, "x"]}, priority=7),
        "scheduled": client.publish(goal="later", payload={}, delay=3600),
    }
    ids["fulfilled"] = client.publish(goal="done", payload={})
    job = client.claim_ok(goal="done")
    assert client.fulfill(job["id"], job["claim_token"], result={"answer": 42}).status == 200
    ids["dead"] = client.publish(goal="doomed", payload={}, max_attempts=1)
    job = client.claim_ok(goal="doomed")
    assert client.fail(job["id"], job["claim_token"], error="boom").status == 200
    ids["claimed"] = client.publish(goal="held", payload={})
    held = client.claim_ok(goal="held")
    assert client.post("/set/moved-key", {"value": {"kept": True}, "ttl": 3600}).status == 200
    tester = admin.generate_key(owner=unique("owner"))
    made = client.post("/schedules", {"name": unique("sched"), "every": 3600,
                                      "intent": {"goal": "tick", "namespace": client.ns,
                                                 "payload": {}}})
    assert made.status == 201, made
    # a paused goal and a limited one: the operator's controls move too
    assert admin.post(f"/admin/goals/{client.ns}/wait/pause").status == 200
    assert admin.post(f"/admin/goals/{client.ns}/held/limit", {"max_claimed": 2}).status == 200
    statuses = {state: client.status(job_id) for state, job_id in ids.items()}
    dead = admin.get("/admin/dead").json
    attempts = {state: admin.get(f"/admin/intents/{job_id}").json["attempts"]
                for state, job_id in ids.items()}
    assert [a["outcome"] for a in attempts["dead"]] == ["failed"]
    return {"ns": client.ns, "ids": ids, "statuses": statuses, "held": held, "tester": tester,
            "schedule": made.json["name"], "dead": dead, "attempts": attempts}


def test_a_sqlite_bus_moves_to_postgresql_and_answers_the_same(server_factory, tmp_path):
    secret, admin_secret = secrets.token_hex(16), secrets.token_hex(16)
    sqlite_bus = SqliteBus(tmp_path / "old.db", secret, admin_secret)
    before = fill(sqlite_bus.port, secret, admin_secret)
    sqlite_bus.stop()

    target = tmp_path / "moved.db"  # stands for the PostgreSQL database
    url = postgres_database_for(target)
    moved = run_bus("migrate", "--from", str(tmp_path / "old.db"), "--database", url)
    assert moved.returncode == 0, moved.stderr
    assert "intents" in moved.stdout and "5 rows" in moved.stdout, moved.stdout

    again = run_bus("migrate", "--from", str(tmp_path / "old.db"), "--database", url)
    assert again.returncode == 1 and "already holds a bus" in again.stderr, again

    node = server_factory(secret=secret, db=target,
                          env={"BUS_ADMIN_SECRET": admin_secret,
                               "BUS_CLAIM_TIMEOUT_SECONDS": "600"})
    client = Client(node.port, secret, ns=before["ns"])
    for state, job_id in before["ids"].items():
        assert client.status(job_id) == before["statuses"][state], state
    # The worker holding a job keeps its token across the move.
    held = before["held"]
    assert client.fulfill(held["id"], held["claim_token"], result={"after": "move"}).status == 200
    assert client.get("/get/moved-key").json["value"] == {"kept": True}
    assert Client(node.port, before["tester"]).get(f"/status/{before['ids']['open']}").status in (200, 403)
    assert client.get(f"/schedules/{before['schedule']}").status == 200
    admin = AdminClient(node.port, {"X-Admin-Token": admin_secret})
    assert admin.get("/admin/dead").json == before["dead"]
    # The attempt history came along; the held job's attempt ends with the fulfil above.
    for state, job_id in before["ids"].items():
        attempts = admin.get(f"/admin/intents/{job_id}").json["attempts"]
        if state == "claimed":
            assert [a["outcome"] for a in attempts] == ["fulfilled"]
            assert attempts[0]["claimed_at"] == before["attempts"][state][0]["claimed_at"]
        else:
            assert attempts == before["attempts"][state], state
    admin.generate_key(owner="after-the-move")  # the audit log's ids go on after the copied ones
    assert len(admin.get("/admin/audit").json["entries"]) >= 2
    goals = {g["goal"]: g for g in admin.get("/admin/goals").json["goals"]
             if g["namespace"] == before["ns"]}
    assert goals["wait"]["paused"] is True and goals["held"]["max_claimed"] == 2, goals
    assert client.claim(goal="wait").status == 204  # still paused after the move
    assert admin.post(f"/admin/goals/{before['ns']}/wait/resume").status == 200
    # The open intent is claimable as before, payload intact.
    job = client.claim_ok(goal="wait")
    assert job["id"] == before["ids"]["open"] and job["payload"] == {"a": [1, 2.5, "x"]}


def test_migrate_from_refuses_a_file_that_is_not_a_bus(tmp_path):
    (tmp_path / "junk.db").write_bytes(b"not a database at all")
    done = run_bus("migrate", "--from", str(tmp_path / "junk.db"), "--database",
                   postgres_database_for(tmp_path / "target.db"))
    assert done.returncode == 1 and "not an Intent Bus database" in done.stderr, done


def test_nonces_move_and_a_replay_stays_refused(server_factory, tmp_path):
    """The SQLite file's nonces are a log (a nonce used again after the
    window has two rows); PostgreSQL's table has one row per nonce, the
    newest, and refuses the replay of a request signed on the old bus."""
    secret = secrets.token_hex(16)
    old = tmp_path / "old.db"
    sqlite_bus = SqliteBus(old, secret, secrets.token_hex(16))
    client = Client(sqlite_bus.port, secret, ns=unique("moved"))
    body = publish_body(client.ns)
    headers = signing_headers(secret, "POST", "/intent", body)
    assert send(client, "POST", "/intent", body, headers).status == 201
    client.close()
    sqlite_bus.stop()
    db = sqlite3.connect(old)
    (principal,) = db.execute("SELECT principal FROM nonces").fetchone()
    db.execute("INSERT INTO nonces (principal, nonce, seen_at) VALUES (?, ?, ?)",
               (principal, headers["X-Nonce"], time.time() - 10000))
    db.commit()
    db.close()

    target = tmp_path / "moved.db"  # stands for the PostgreSQL database
    moved = run_bus("migrate", "--from", str(old), "--database", postgres_database_for(target))
    assert moved.returncode == 0, moved.stderr
    assert "nonces" in moved.stdout and "1 rows" in moved.stdout, moved.stdout
    node = server_factory(secret=secret, db=target)
    client = Client(node.port, secret, ns=unique("moved"))
    assert_signature_refused(send(client, "POST", "/intent", body, headers))
    assert send_signed(client, "POST", "/intent", body).status == 201
