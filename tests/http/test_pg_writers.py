"""Several PostgreSQL writers in one node (BUS_PG_WRITERS, docs/SCALING.md):
each a connection with its own transactions, so the guarantees that hold
between nodes must hold between them: a job is claimed once, an
idempotency key makes one intent, a goal's limit holds, and the write
counters add up over the writers. Runs only on PostgreSQL
(INTENT_BUS_DATABASE_URL, `make test-postgres`)."""

import secrets
import threading
import time

import pytest

from conftest import AdminClient, ON_POSTGRES, unique
from test_metrics import raw_get, samples
from test_postgres import run_bus

needs_postgres = pytest.mark.skipif(not ON_POSTGRES, reason="needs INTENT_BUS_DATABASE_URL")

WRITERS = "4"


def run_threads(target, count):
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)


@pytest.mark.parametrize("value", ["0", "17", "2.5", "many"])
def test_bus_pg_writers_out_of_range_is_refused(value):
    done = run_bus("serve", "--port", "0", "--database", "postgresql:///bus",
                   env={"BUS_SECRET": "a" * 32, "BUS_PG_WRITERS": value})
    assert done.returncode == 2, done
    assert "BUS_PG_WRITERS" in done.stderr


@needs_postgres
def test_concurrent_claims_on_several_writers_never_share_an_intent(server_factory):
    srv = server_factory(env={"BUS_PG_WRITERS": WRITERS,
                              "BUS_METRICS_TOKEN": "mt-" + secrets.token_hex(8)})
    ns = unique("ns")
    publisher = srv.client(ns=ns)
    ids = set()
    lock = threading.Lock()

    def publish(_):
        c = srv.client(ns=ns)
        for _ in range(20):
            new = c.publish(goal="race")
            with lock:
                ids.add(new)

    run_threads(publish, 4)
    got = []

    def worker(_):
        c = srv.client(ns=ns)
        while True:
            resp = c.claim(goal="race")
            if resp.status == 204:
                return
            assert resp.status == 200, resp
            assert c.fulfill(resp.json["id"], resp.json["claim_token"]).status == 200
            with lock:
                got.append(resp.json["id"])

    run_threads(worker, 8)
    assert len(ids) == 80
    assert sorted(got) == sorted(ids), "an intent was claimed twice, or lost"
    headers = {"Authorization": "Bearer " + srv.extra_env["BUS_METRICS_TOKEN"]}
    status, _, text = raw_get(srv, "/metrics", headers)
    assert status == 200
    m = samples(text)
    # every write of every writer, counted once: 80 publishes, 80 claims,
    # 80 fulfils and the 8 empty claims, at least
    assert m["intent_bus_db_operations_total"] >= 248
    assert m["intent_bus_db_retried_transactions_total"] >= 0
    assert publisher.get(f"/status/{next(iter(ids))}").json["status"] == "fulfilled"


@needs_postgres
def test_one_idempotency_key_makes_one_intent_across_writers(server_factory):
    srv = server_factory(env={"BUS_PG_WRITERS": WRITERS})
    ns = unique("idem")
    body = srv.client(ns=ns).intent_body(payload={"once": True})
    answers = []
    lock = threading.Lock()

    def publish(_):
        c = srv.client(ns=ns)
        r = c.post("/intent", body, headers={"Idempotency-Key": "one-key"})
        with lock:
            answers.append((r.status, r.raw))

    run_threads(publish, 12)
    assert {status for status, _ in answers} == {201}, answers
    assert len({raw for _, raw in answers}) == 1, "two intents for one key"
    c = srv.client(ns=ns)
    c.claim_ok()
    c.claim_none()


@needs_postgres
def test_a_goal_limit_holds_across_writers(server_factory):
    """max_claimed 2 with 12 workers on one node of 4 writers: the claim's
    recheck under the goal's row lock holds between writers as between
    nodes."""
    admin_secret = secrets.token_hex(16)
    srv = server_factory(env={"BUS_PG_WRITERS": WRITERS, "BUS_ADMIN_SECRET": admin_secret})
    ns, goal = unique("limit"), "scarce"
    admin = AdminClient(srv.port, {"X-Admin-Token": admin_secret})
    assert admin.post(f"/admin/goals/{ns}/{goal}/limit", {"max_claimed": 2}).status == 200
    publisher = srv.client(ns=ns)
    for n in range(30):
        publisher.publish(goal=goal, payload={"n": n})
    lock = threading.Lock()
    state = {"held": 0, "most": 0, "done": 0}
    errors = []

    def worker(_):
        client = srv.client(ns=ns)
        try:
            while True:
                with lock:
                    if state["done"] >= 30:
                        return
                r = client.claim(goal=goal)
                if r.status == 204:
                    time.sleep(0.01)
                    continue
                assert r.status == 200, r
                with lock:
                    state["held"] += 1
                    state["most"] = max(state["most"], state["held"])
                time.sleep(0.03)
                with lock:
                    state["held"] -= 1  # before the fulfil: never over-counted
                assert client.fulfill(r.json["id"], r.json["claim_token"]).status == 200
                with lock:
                    state["done"] += 1
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    run_threads(worker, 12)
    assert not errors, errors[:3]
    assert state["done"] == 30
    assert state["most"] <= 2, state


def run_together(target, count):
    """count threads calling target(i) at once (a barrier), so their writes
    queue together and the writer runs them as one batch or a few: the
    merged statements (store/postgres_merge.c) are what is tested."""
    barrier = threading.Barrier(count)

    def at_once(i):
        barrier.wait(30)
        target(i)

    run_threads(at_once, count)


@needs_postgres
def test_merged_batches_answer_each_operation_its_own(server_factory):
    """One node, the default writer: publishes (an idempotency key among
    plain ones), then more claimers than intents, then fulfils with stale
    tokens among good ones, each set sent at once. Every publish makes
    its intent (one for the key), every intent is claimed once, each
    stale fulfil is refused alone and the good ones kept."""
    srv = server_factory()
    ns = unique("merge")
    lock = threading.Lock()
    published = []
    body = srv.client(ns=ns).intent_body(payload={"keyed": 'a "quoted" \\ word'})

    def publish(i):
        c = srv.client(ns=ns)
        if i < 2:
            r = c.post("/intent", body, headers={"Idempotency-Key": "merge-key"})
        else:
            r = c.publish_raw(goal="job", payload={"n": i, "text": "{x,\"y\"}"})
        with lock:
            published.append((r.status, r.json["id"] if r.status == 201 else r.raw))

    run_together(publish, 18)
    assert {status for status, _ in published} == {201}, published
    ids = {id_ for _, id_ in published}
    assert len(ids) == 17, "the key made two intents, or a publish was lost"

    claims = []

    def claim(_):
        r = srv.client(ns=ns).claim()
        with lock:
            claims.append((r.status, r.json if r.status == 200 else None))

    run_together(claim, 24)
    taken = [job for status, job in claims if status == 200]
    assert sorted(status for status, _ in claims) == [200] * 17 + [204] * 7, claims
    assert sorted(job["id"] for job in taken) == sorted(ids), "an intent claimed twice, or lost"
    assert len({job["claim_token"] for job in taken}) == 17
    keyed = [job for job in taken if job["payload"].get("keyed")]
    assert keyed and keyed[0]["payload"]["keyed"] == 'a "quoted" \\ word'

    answers = {}

    def fulfil(i):
        job = taken[i // 2]
        token = job["claim_token"]
        stale = i % 2 == 1 and i // 2 < 8
        if stale:
            token = ("0" if token[0] != "0" else "1") + token[1:]
        r = srv.client(ns=ns).fulfill(job["id"], token)
        with lock:
            answers[i] = r.status

    run_together(fulfil, 34)
    # Leases 0-7: a good fulfil and a stale one; 8-16: two good ones, of
    # which one only fulfils. Each lease fulfilled once, by a good token.
    for n in range(17):
        pair = [answers[2 * n], answers[2 * n + 1]]
        if n < 8:
            assert pair == [200, 404], (n, pair)
        else:
            assert sorted(pair) == [200, 404], (n, pair)
    c = srv.client(ns=ns)
    for job in taken:
        assert c.get(f"/status/{job['id']}").json["status"] == "fulfilled"
