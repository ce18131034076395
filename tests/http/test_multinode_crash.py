"""Crashes under load with several nodes on PostgreSQL (docs/SCALING.md).

- One node is killed with SIGKILL while workers on every node claim and
  fulfil: the jobs its workers held come back when their leases lapse and
  other nodes hand them out; every acknowledged publish and fulfil is kept.
- PostgreSQL is restarted (fast shutdown) under load: meanwhile requests
  get 503 database_busy with Retry-After, nothing else; afterwards service
  resumes without restarting any node, and nothing acknowledged is lost.

Runs on PostgreSQL only (`make test-postgres`); the restart also needs
INTENT_BUS_PG_CLUSTER_DIR, the directory scripts/pg-cluster.sh started the
cluster in.
"""

import http.client
import json
import os
import secrets
import subprocess
import threading
import time

import pytest

from conftest import ON_POSTGRES, REPO, Client, unique

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="several nodes need PostgreSQL")
CLUSTER_DIR = os.environ.get("INTENT_BUS_PG_CLUSTER_DIR", "")
LEASE = 2


class Ledger:
    """What the bus acknowledged, as the clients saw it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.published = set()
        self.fulfilled = set()
        self.unexpected = []  # (what, status, body): anything but 2xx, 204, 404/409 or 503
        self.busy = 0  # well-formed 503 database_busy answers
        # Publishes whose node went away before it answered: the intent may
        # have been committed all the same (at-least-once), and be fulfilled.
        self.unanswered = 0

    def note(self, what, status, body):
        with self.lock:
            self.unexpected.append((what, status, body[:200]))


def send(port, key, method, path, body=None):
    """One request on a fresh connection: (status, headers, parsed body), or
    (None, {}, None) when the node is gone."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data,
                     headers={"X-API-KEY": key, "Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
    except OSError:
        return None, {}, None
    parsed = json.loads(raw) if raw else None
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed


def busy_is_well_formed(status, headers, body, ledger=None):
    busy = (status == 503 and body["error"]["code"] == "database_busy"
            and int(headers.get("retry-after", "0")) >= 1)
    if busy and ledger is not None:
        with ledger.lock:
            ledger.busy += 1
    return busy


def publisher(port, key, ns, ledger, stop, count):
    for n in range(count):
        if stop.is_set():
            return
        status, headers, body = send(port, key, "POST", "/intent",
                                     {"goal": "crash", "namespace": ns, "payload": {"n": n}})
        if status == 201:
            with ledger.lock:
                ledger.published.add(body["id"])
        elif status is None:
            with ledger.lock:
                ledger.unanswered += 1
            return  # this publisher's node is gone
        elif not busy_is_well_formed(status, headers, body, ledger):
            ledger.note("publish", status, json.dumps(body))
        else:
            time.sleep(0.05)


def worker(port, key, ns, ledger, stop):
    while not stop.is_set():
        status, headers, job = send(port, key, "POST", f"/claim?namespace={ns}")
        if status is None:
            return
        if status == 204:
            time.sleep(0.02)
            continue
        if status == 503 and busy_is_well_formed(status, headers, job, ledger):
            time.sleep(0.05)
            continue
        if status != 200:
            ledger.note("claim", status, json.dumps(job))
            continue
        status, headers, body = send(port, key, "POST", f"/fulfill/{job['id']}",
                                     {"claim_token": job["claim_token"], "result": {"ok": 1}})
        if status == 200:
            with ledger.lock:
                ledger.fulfilled.add(job["id"])
        elif status is None:
            return
        elif status not in (404, 409) and not busy_is_well_formed(status, headers, body, ledger):
            ledger.note("fulfill", status, json.dumps(body))


def drain(port, key, ns, ledger, seconds=90):
    """Claims and fulfils until every acknowledged publish is fulfilled."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with ledger.lock:
            missing = ledger.published - ledger.fulfilled
        if not missing:
            return
        status, _, job = send(port, key, "POST", f"/claim?namespace={ns}")
        if status == 200:
            fulfilled, _, _ = send(port, key, "POST", f"/fulfill/{job['id']}",
                                   {"claim_token": job["claim_token"], "result": {"ok": 1}})
            if fulfilled == 200:
                with ledger.lock:
                    ledger.fulfilled.add(job["id"])
        else:
            time.sleep(0.2)  # waiting for leases of a dead node's workers to lapse


def check_nothing_lost(node, ns, ledger):
    client = Client(node.port, node.key, ns=ns)
    for job_id in sorted(ledger.published):
        assert client.status(job_id)["status"] == "fulfilled", job_id
    client.close()
    # Only a publish left unanswered by a killed node may add a job nobody
    # was told about; at most one per publisher.
    assert len(ledger.fulfilled - ledger.published) <= ledger.unanswered
    assert not ledger.unexpected, ledger.unexpected[:5]


@pytest.fixture
def three_nodes(server_factory, tmp_path):
    secret = secrets.token_hex(16)
    env = {"BUS_CLAIM_TIMEOUT_SECONDS": str(LEASE)}
    return [server_factory(env=env, secret=secret, db=tmp_path / "shared.db", name=f"node{i}")
            for i in range(3)]


def start_load(nodes, ns, ledger, stop, jobs_per_publisher=300, workers_per_node=5):
    threads = [threading.Thread(target=publisher,
                                args=(node.port, node.key, ns, ledger, stop, jobs_per_publisher))
               for node in nodes]
    threads += [threading.Thread(target=worker, args=(node.port, node.key, ns, ledger, stop))
                for node in nodes for _ in range(workers_per_node)]
    for t in threads:
        t.start()
    return threads


def test_a_node_killed_under_load_loses_nothing(three_nodes):
    ns, ledger, stop = unique("kill"), Ledger(), threading.Event()
    threads = start_load(three_nodes, ns, ledger, stop)
    deadline = time.monotonic() + 30
    while len(ledger.fulfilled) < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    three_nodes[2].kill()  # SIGKILL: its workers' leases are left to lapse
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join(60)
    assert len(ledger.published) > 100
    drain(three_nodes[0].port, three_nodes[0].key, ns, ledger)
    check_nothing_lost(three_nodes[1], ns, ledger)


def cluster(command):
    subprocess.run([str(REPO / "scripts" / "pg-cluster.sh"), command, CLUSTER_DIR], check=True,
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=120)


@pytest.mark.skipif(not CLUSTER_DIR, reason="needs INTENT_BUS_PG_CLUSTER_DIR (make test-postgres)")
def test_postgresql_restarted_under_load_loses_nothing(three_nodes):
    nodes = three_nodes[:2]
    ns, ledger, stop = unique("restart"), Ledger(), threading.Event()
    threads = start_load(nodes, ns, ledger, stop, jobs_per_publisher=100000)
    deadline = time.monotonic() + 30
    while len(ledger.fulfilled) < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        cluster("stop")
        time.sleep(1.5)  # load meets the outage: 503s only
    finally:
        cluster("start")
    before = len(ledger.fulfilled)
    deadline = time.monotonic() + 30
    while len(ledger.fulfilled) < before + 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(60)
    assert ledger.busy > 0, "the load never met the outage"
    assert len(ledger.fulfilled) >= before + 100, "service did not resume after the restart"
    drain(nodes[0].port, nodes[0].key, ns, ledger)
    check_nothing_lost(nodes[1], ns, ledger)
