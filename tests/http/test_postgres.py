"""The PostgreSQL backend's own behaviour (docs/CONFIGURATION.md, issue 14):
choosing it on the command line, its migrations, and a lost database.

The tests that need a cluster run when the suite does (INTENT_BUS_DATABASE_URL,
`make test-postgres`); the one that stops and restarts the cluster also
needs INTENT_BUS_PG_CLUSTER_DIR, the directory scripts/pg-cluster.sh started
it in."""

import os
import subprocess
import threading
import time

import pytest

from conftest import (BIN, ON_POSTGRES, REPO, admin_client, admin_env, assert_error,
                      postgres_createdb, unique, wait_until)
from test_signing import (assert_signature_refused, publish_body, send, send_signed,
                          signing_headers)

needs_postgres = pytest.mark.skipif(not ON_POSTGRES, reason="needs INTENT_BUS_DATABASE_URL")
CLUSTER_DIR = os.environ.get("INTENT_BUS_PG_CLUSTER_DIR", "")


def run_bus(*args, env=None, timeout=30):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BUS_")}
    clean.update(env or {})
    return subprocess.run([str(BIN), *args], env=clean, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def psql(url, sql):
    return subprocess.run(["psql", url, "-qAtc", sql], check=True, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=30).stdout.strip()


def test_db_and_database_together_are_a_usage_error(tmp_path):
    done = run_bus("serve", "--port", "0", "--db", str(tmp_path / "bus.db"),
                   "--database", "postgresql:///bus", env={"BUS_SECRET": "a" * 32})
    assert done.returncode == 2, done
    assert "--db" in done.stderr and "--database" in done.stderr
    assert not (tmp_path / "bus.db").exists()


def test_bus_database_url_wins_over_bus_db_path(tmp_path):
    """Both set: PostgreSQL is used (here unreachable: exit 1), the file is
    never created; --db on the command line wins over the environment."""
    url = f"postgresql:///bus?host={tmp_path}&connect_timeout=2"
    env = {"BUS_SECRET": "a" * 32, "BUS_DB_PATH": str(tmp_path / "env.db"),
           "BUS_DATABASE_URL": url}
    done = run_bus("serve", "--port", "0", env=env)
    assert done.returncode == 1, done
    assert "cannot connect to the database" in done.stderr
    assert not (tmp_path / "env.db").exists()
    flag = subprocess.Popen([str(BIN), "serve", "--port", "0", "--db", str(tmp_path / "flag.db")],
                            env={**{k: v for k, v in os.environ.items() if not k.startswith("BUS_")},
                                 **env},
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: (tmp_path / "flag.db").exists() or flag.poll() is not None,
                   timeout=10, message="the server to open its file")
        assert flag.poll() is None, flag.stderr.read()
    finally:
        flag.terminate()
        flag.wait(10)
    assert (tmp_path / "flag.db").exists()


def test_a_database_url_needs_bus_secret():
    done = run_bus("serve", "--port", "0", "--database", "postgresql:///bus")
    assert done.returncode == 2, done
    assert "BUS_SECRET" in done.stderr


def test_an_unreachable_database_fails_the_start_cleanly(tmp_path):
    """Exit 1 with the reason, not a server that answers 503 forever."""
    url = f"postgresql:///bus?host={tmp_path}&connect_timeout=2"
    done = run_bus("serve", "--port", "0", "--database", url, env={"BUS_SECRET": "a" * 32})
    assert done.returncode == 1, done
    assert "cannot connect to the database" in done.stderr
    migrate = run_bus("migrate", "--database", url)
    assert migrate.returncode == 1, migrate
    assert "cannot connect to the database" in migrate.stderr


def test_backup_refuses_a_postgresql_database(tmp_path):
    done = run_bus("backup", str(tmp_path / "copy.db"),
                   env={"BUS_DATABASE_URL": "postgresql:///bus"})
    assert done.returncode == 2, done
    assert "pg_dump" in done.stderr
    assert not (tmp_path / "copy.db").exists()


def test_migrate_needs_a_database():
    done = run_bus("migrate")
    assert done.returncode == 2, done
    assert "--database" in done.stderr


@needs_postgres
def test_concurrent_migrations_apply_each_version_once():
    """Two `migrate` runs at once (two nodes starting together): both succeed,
    one applies the migrations, the other finds them applied; a third run
    changes nothing."""
    url = postgres_createdb()
    runs = [subprocess.Popen([str(BIN), "migrate", "--database", url], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    said = sorted(out for out, _ in outputs)
    assert "(0 migrations applied)" in said[0], said
    assert "(0 migrations applied)" not in said[1], said
    versions = psql(url, "SELECT string_agg(version::text, ',' ORDER BY version)"
                         " FROM schema_migrations")
    latest = psql(url, "SELECT max(version) FROM schema_migrations")
    # Each once, in order (a branch's numbers may leave a gap until merged).
    applied = [int(v) for v in versions.split(",")]
    assert applied == sorted(set(applied)) and applied[0] == 1 and applied[-1] == int(latest)
    again = run_bus("migrate", "--database", url)
    assert again.returncode == 0 and "(0 migrations applied)" in again.stdout, again
    assert psql(url, "SELECT count(*) FROM schema_migrations") == str(len(applied))


@needs_postgres
def test_two_nodes_share_one_queue(server_factory):
    """Two nodes on one database: what one publishes the other claims, and a
    lease taken on one is fulfilled on the other."""
    a = server_factory(name="a")
    b = server_factory(name="b", db=a.db, secret=a.secret)
    ca = a.client()
    cb = b.client(ns=ca.ns)
    ids = {ca.publish(goal="shared") for _ in range(20)}
    taken = set()
    for i in range(20):
        claimer, fulfiller = (ca, cb) if i % 2 else (cb, ca)
        claimed = claimer.claim_ok(goal="shared")
        assert claimed["id"] not in taken
        taken.add(claimed["id"])
        resp = fulfiller.fulfill(claimed["id"], claimed["claim_token"])
        assert resp.status == 200, resp
    assert taken == ids
    ca.claim_none(goal="shared")
    cb.claim_none(goal="shared")


def cluster(command):
    subprocess.run([str(REPO / "scripts" / "pg-cluster.sh"), command, CLUSTER_DIR], check=True,
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=120)


@needs_postgres
@pytest.mark.skipif(not CLUSTER_DIR, reason="needs INTENT_BUS_PG_CLUSTER_DIR (make test-postgres)")
def test_a_stopped_database_answers_503_and_the_bus_recovers_alone(server_factory):
    srv = server_factory()
    c = srv.client(ns=unique("ns"))
    published = [c.publish(goal="durable") for _ in range(10)]
    held = c.claim_ok(goal="durable")
    cluster("stop")
    try:
        resp = c.request("POST", "/intent", body=c.intent_body(goal="durable"), check=False)
        assert_error(resp, 503, "database_busy")
        assert resp.headers.get("retry-after") == "1"
        resp = c.request("GET", f"/status/{published[0]}", check=False)
        assert_error(resp, 503, "database_busy")
    finally:
        cluster("start")
    # The same process, reconnecting by itself.
    wait_until(lambda: c.request("GET", f"/status/{published[0]}", check=False).status == 200,
               timeout=20, message="reads to come back")
    later = None
    deadline = time.monotonic() + 20
    while later is None and time.monotonic() < deadline:
        resp = c.request("POST", "/intent", body=c.intent_body(goal="durable"), check=False)
        if resp.status in (200, 201, 202):
            later = resp.json["id"]
        else:
            assert_error(resp, 503, "database_busy")
            time.sleep(0.2)
    assert later is not None, "publishing never came back"
    assert c.fulfill(held["id"], held["claim_token"]).status == 200
    states = {iid: c.status(iid)["status"] for iid in published + [later]}
    assert states[held["id"]] == "fulfilled"
    assert sorted(set(states.values())) == ["fulfilled", "open"]
    assert list(states.values()).count("open") == len(published)
    assert srv.alive()


@needs_postgres
@pytest.mark.skipif(not CLUSTER_DIR, reason="needs INTENT_BUS_PG_CLUSTER_DIR (make test-postgres)")
def test_reads_and_writes_after_a_database_restart_answer_at_once(server_factory):
    """A restart of PostgreSQL while the bus is idle breaks every pooled
    connection unnoticed: the first read on each one finds out. Reads change
    nothing, so every kind of read mends its connection and answers, the
    first time, without a 503 (a key listing once answered 503 here); and
    so does a write, whose batch had not begun."""
    srv = server_factory(env=admin_env())
    c = srv.client(ns=unique("ns"))
    published = c.publish(goal="restart")
    admin = admin_client(srv)
    try:
        for path in ("/admin/keys", "/admin/goals", f"/admin/intents/{published}"):
            assert admin.get(path).status == 200
            cluster("stop")
            cluster("start")
            resp = admin.request("GET", path, check=False)
            assert resp.status == 200, (path, resp.status, resp.raw[:200])
        cluster("stop")
        cluster("start")
        assert c.status(published)["status"] == "open"
        # The writers' connections broke the same way: the first write on
        # each one finds out before anything of its batch ran, reconnects
        # and runs the batch (claims and publishes spread over the writers).
        cluster("stop")
        cluster("start")
        for _ in range(4):
            resp = c.request("POST", "/intent", body=c.intent_body(goal="restart"), check=False)
            assert resp.status in (200, 201), (resp.status, resp.raw[:200])
    finally:
        admin.close()
    assert srv.alive()


@needs_postgres
def test_concurrent_claims_on_two_nodes_never_share_an_intent(server_factory):
    """FOR UPDATE SKIP LOCKED: workers on two nodes racing for one queue."""
    a = server_factory(name="a")
    b = server_factory(name="b", db=a.db, secret=a.secret)
    ns = unique("ns")
    publisher = a.client(ns=ns)
    ids = {publisher.publish(goal="race") for _ in range(60)}
    got = []
    lock = threading.Lock()

    def worker(srv):
        c = srv.client(ns=ns)
        while True:
            resp = c.claim(goal="race")
            if resp.status == 204:
                return
            assert resp.status == 200, resp
            with lock:
                got.append(resp.json["id"])

    threads = [threading.Thread(target=worker, args=(srv,)) for srv in (a, b, a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(got) == sorted(ids), "an intent was claimed twice, or lost"


@needs_postgres
def test_a_nonce_used_on_one_node_is_refused_on_another(server_factory):
    """The nonces table's primary key decides, not a node's memory: the same
    signed request (same nonce) replayed on a second node is refused, and
    made nothing there."""
    a = server_factory(name="a")
    b = server_factory(name="b", db=a.db, secret=a.secret)
    ca, cb = a.client(), b.client()
    ns = unique("sig")
    body = publish_body(ns)
    headers = signing_headers(a.key, "POST", "/intent", body)
    first = send(ca, "POST", "/intent", body, headers)
    assert first.status == 201, first.raw
    assert_signature_refused(send(cb, "POST", "/intent", body, headers))
    assert send_signed(cb, "POST", f"/claim?namespace={ns}").status == 200
    assert send_signed(ca, "POST", f"/claim?namespace={ns}").status == 204
