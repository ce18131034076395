"""Several bus nodes on one PostgreSQL database (docs/SCALING.md).

Three `serve` processes share one database; every guarantee of the protocol
must hold across them as it does inside one: a job is fulfilled once, a
token is good on no node once it is stale, a nonce is spent on all of them,
a tester key's 60 requests a minute are counted together, and a long-poll
on one node hears a publish or a fulfil on another (through LISTEN/NOTIFY,
without waiting for the periodic re-check). Runs only on PostgreSQL
(INTENT_BUS_DATABASE_URL, `make test-postgres`).
"""

import secrets
import statistics
import threading
import time

import pytest

from conftest import ON_POSTGRES, AdminClient, Client, unique
from test_signing import signing_headers

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="several nodes need PostgreSQL")

NODES = 3


@pytest.fixture
def nodes(server_factory, tmp_path):
    """Three nodes on one database, with one key, one admin secret and 2-second leases."""
    secret = secrets.token_hex(16)
    env = {"BUS_ADMIN_SECRET": secrets.token_hex(16), "BUS_CLAIM_TIMEOUT_SECONDS": "2"}
    shared_db = tmp_path / "shared.db"  # stands for one PostgreSQL database
    return [server_factory(env=env, secret=secret, db=shared_db, name=f"node{i}")
            for i in range(NODES)]


def admin_of(node):
    return AdminClient(node.port, {"X-Admin-Token": node.extra_env["BUS_ADMIN_SECRET"]})


def test_each_job_is_fulfilled_once_across_three_nodes(nodes):
    jobs, workers = 5000, 50
    ns = unique("multi")
    published, fulfilled = [], []
    lock = threading.Lock()
    publishing_done = threading.Event()
    errors = []

    def publisher(index, count):
        try:
            client = Client(nodes[index % NODES].port, nodes[0].key, ns=ns)
            ids = [client.publish(goal="job", payload={"n": index * count + i}) for i in range(count)]
            client.close()
            with lock:
                published.extend(ids)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def worker(index):
        try:
            client = Client(nodes[index % NODES].port, nodes[0].key, ns=ns)
            while True:
                r = client.claim(worker_id=f"w{index}")
                if r.status == 204:
                    with lock:
                        finished = publishing_done.is_set() and len(fulfilled) >= len(published)
                    if finished:
                        break
                    time.sleep(0.02)
                    continue
                assert r.status == 200, r
                job = r.json
                done = client.fulfill(job["id"], job["claim_token"], result={"by": index})
                assert done.status == 200, done
                with lock:
                    fulfilled.append((job["id"], job["claim_token"]))
            client.close()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    publishers = [threading.Thread(target=publisher, args=(i, jobs // 5)) for i in range(5)]
    claimers = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for t in publishers + claimers:
        t.start()
    for t in publishers:
        t.join()
    publishing_done.set()
    for t in claimers:
        t.join(timeout=300)
    assert not errors, errors[:3]
    assert len(published) == jobs
    ids = [job_id for job_id, _ in fulfilled]
    assert len(ids) == len(set(ids)), "a job was fulfilled twice"
    assert set(ids) == set(published), "a job was lost"

    # A spent token is good on no node, and every node reports the same end.
    probes = [Client(node.port, node.key, ns=ns) for node in nodes]
    for job_id, token in fulfilled[:30]:
        for probe in probes:
            again = probe.fulfill(job_id, token, result={})
            assert again.status in (404, 409), again
            assert probe.status(job_id)["status"] == "fulfilled"
    for probe in probes:
        probe.close()


def test_a_stale_token_is_refused_on_every_node(nodes):
    a, b, c = (node.client() for node in nodes)
    job_id = a.publish(goal="stale")
    first = a.claim_ok(namespace=a.ns)
    assert first["id"] == job_id
    time.sleep(2.3)  # the 2-second lease lapses
    second = b.claim_ok(namespace=a.ns)
    assert second["id"] == job_id and second["claim_token"] != first["claim_token"]
    for client in (a, b, c):
        for attempt in (client.fulfill, client.extend):
            refused = attempt(job_id, first["claim_token"])
            assert refused.status in (404, 409), refused
    assert c.fulfill(job_id, second["claim_token"], result={"ok": 1}).status == 200
    assert a.status(job_id)["status"] == "fulfilled"


def test_a_nonce_spent_on_one_node_is_refused_on_another(nodes):
    a, b = nodes[0].client(), nodes[1].client()
    body = b'{"goal":"signed","payload":{}}'
    headers = signing_headers(nodes[0].key, "POST", "/intent", body)
    headers["Content-Type"] = "application/json"
    assert a.request("POST", "/intent", body, headers=headers).status == 201
    replay = b.request("POST", "/intent", body, headers=headers)
    assert replay.status == 403, replay
    assert replay.json["error"]["code"] == "invalid_signature"
    assert "Replay" in replay.json["error"]["message"]


def test_a_tester_key_gets_sixty_requests_a_minute_across_all_nodes(nodes):
    key = admin_of(nodes[0]).generate_key(owner=unique("limited"))
    clients = [Client(node.port, key) for node in nodes]
    job_id = clients[0].publish(goal="limited")
    for i in range(59):  # the publish was the first of the 60
        r = clients[i % NODES].get(f"/status/{job_id}")
        assert r.status == 200, (i, r)
    for client in clients:
        over = client.get(f"/status/{job_id}")
        assert over.status == 429, over
        assert int(over.headers["retry-after"]) >= 1


def parked_claims(node):
    """How many long-poll claims wait on node (its /metrics)."""
    text = Client(node.port, node.key).get("/metrics", check=False).raw.decode()
    for line in text.splitlines():
        if line.startswith('intent_bus_long_poll_waiters{kind="claim"}'):
            return int(float(line.split()[-1]))
    return 0


def test_a_long_poll_on_one_node_hears_a_publish_on_another(nodes):
    """Each wait ends on the other node's notification: a worker parked on
    node B gets a job published on node A long before the one-second
    re-check would find it (the median of five is what is compared, to be
    fair to a noisy machine); the latencies are printed for the record."""
    publisher = nodes[0].client()
    latencies = []
    for _ in range(5):
        answer = {}
        waiter = Client(nodes[1].port, nodes[1].key, ns=publisher.ns)

        def wait_for_job():
            answer["response"] = waiter.claim(wait=10)
            answer["at"] = time.monotonic()

        thread = threading.Thread(target=wait_for_job)
        thread.start()
        deadline = time.monotonic() + 5
        while parked_claims(nodes[1]) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # past any tick that parking itself triggered
        job_id = publisher.publish(goal="wake")
        sent = time.monotonic()
        thread.join(15)
        waiter.close()
        assert answer["response"].status == 200 and answer["response"].json["id"] == job_id
        latencies.append(answer["at"] - sent)
        publisher.fulfill(job_id, answer["response"].json["claim_token"], result={})
    print("cross-node claim wake-up latencies (s):", [round(x, 4) for x in latencies])
    assert statistics.median(latencies) < 0.5, latencies


def test_a_result_wait_on_one_node_hears_a_fulfil_on_another(nodes):
    """A result long-poll re-checks only every five seconds by itself; the
    fulfil's notification must end it long before that."""
    a, b = nodes[0].client(), nodes[1].client()
    job_id = a.publish(goal="result")
    job = a.claim_ok(namespace=a.ns)
    answer = {}

    def wait_for_result():
        answer["response"] = b.get(f"/result/{job_id}", params={"wait": 20})
        answer["at"] = time.monotonic()

    thread = threading.Thread(target=wait_for_result)
    thread.start()
    time.sleep(0.5)
    assert a.fulfill(job_id, job["claim_token"], result={"answer": 42}).status == 200
    sent = time.monotonic()
    thread.join(25)
    assert answer["response"].status == 200, answer["response"]
    assert answer["response"].json["status"] == "fulfilled"
    print("cross-node result wake-up latency (s):", round(answer["at"] - sent, 4))
    assert answer["at"] - sent < 3.0


def test_a_result_wait_on_one_node_hears_a_batch_fulfil_on_another(nodes):
    """Each item of a batch fulfil (POST /fulfill) is announced as a single
    fulfil is."""
    a, b = nodes[0].client(), nodes[1].client()
    ids = [a.publish(goal="batch-result") for _ in range(3)]
    jobs = a.claim_ok(namespace=a.ns, max=3)["intents"]
    assert sorted(j["id"] for j in jobs) == sorted(ids)
    answers = {}

    def wait_for_result(job_id):
        answers[job_id] = (Client(nodes[1].port, b.key, ns=b.ns)
                           .get(f"/result/{job_id}", params={"wait": 20}), time.monotonic())

    threads = [threading.Thread(target=wait_for_result, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    items = [{"id": j["id"], "claim_token": j["claim_token"], "result": j["id"]} for j in jobs]
    r = a.post("/fulfill", {"items": items})
    assert r.status == 200 and r.json["fulfilled"] == 3, r.raw
    sent = time.monotonic()
    for thread in threads:
        thread.join(25)
    for job_id in ids:
        response, at = answers[job_id]
        assert response.status == 200 and response.json["result"] == job_id, response.raw
        assert at - sent < 3.0


def test_a_goal_limit_holds_across_nodes(nodes):
    """max_claimed 3, 21 workers spread over three nodes: never more than 3
    jobs of the goal held at once (the claim's recheck under the goal's row
    lock, in docs/SCALING.md)."""
    ns, goal = unique("limit"), "scarce"
    admin = admin_of(nodes[0])
    r = admin.post(f"/admin/goals/{ns}/{goal}/limit", {"max_claimed": 3})
    assert r.status == 200, r
    publisher = Client(nodes[0].port, nodes[0].key, ns=ns)
    for n in range(60):
        publisher.publish(goal=goal, payload={"n": n})
    lock = threading.Lock()
    state = {"held": 0, "most": 0, "done": 0}
    errors = []

    def worker(index):
        client = Client(nodes[index % NODES].port, nodes[0].key, ns=ns)
        try:
            while True:
                with lock:
                    if state["done"] >= 60:
                        return
                r = client.claim(goal=goal)
                if r.status == 204:
                    time.sleep(0.01)
                    continue
                assert r.status == 200, r
                with lock:
                    state["held"] += 1
                    state["most"] = max(state["most"], state["held"])
                time.sleep(0.05)
                with lock:
                    state["held"] -= 1  # before the fulfil: never over-counted
                assert client.fulfill(r.json["id"], r.json["claim_token"], result={}).status == 200
                with lock:
                    state["done"] += 1
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(21)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    assert state["done"] == 60
    assert state["most"] <= 3, state


def test_an_every_second_schedule_fires_once_per_occurrence_across_nodes(nodes):
    """Every node runs a scheduler; the unique (schedule, fire time) row,
    taken in the publish's transaction, lets only one of them publish each
    occurrence."""
    ns = unique("sched")
    first, other = nodes[0].client(ns=ns), nodes[1].client(ns=ns)
    name = unique("every1")
    r = first.post("/schedules", {"name": name, "every": 1,
                                  "intent": {"goal": "tick", "namespace": ns, "payload": {}}})
    assert r.status == 201, r.raw
    time.sleep(5.5)
    assert other.post(f"/schedules/{name}/pause").status == 200
    time.sleep(0.5)  # a fire already under way on some node settles
    record = other.get(f"/schedules/{name}").json
    fires = [f for f in record["recent_fires"] if f["outcome"] == "fired"]
    times = sorted(f["fire_at"] for f in fires)
    assert len(times) >= 4, record
    assert len(set(times)) == len(times), record  # no occurrence twice
    assert [b - a for a, b in zip(times, times[1:])] == [1.0] * (len(times) - 1), record
    published = []
    for node in nodes:  # every intent of the namespace, whichever node claims it
        c = node.client(ns=ns)
        while (claimed := c.claim()).status == 200:
            published.append(claimed.json["id"])
    assert sorted(published) == sorted(f["intent_id"] for f in fires)
    assert record["fires"] == len(published)
