"""Long-poll extensions (docs/PROTOCOL-EXTENSIONS.md): POST /claim?wait=S and
GET /result/<id>?wait=S. Behaviour only, never timings: a parked claim is
answered by a later publish, a wait past its deadline gets 204, waiters are
served in arrival order, and nothing is handed out twice."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import assert_error, unique, wait_until


def claim_in_background(server, ns, **params):
    """Starts a waiting claim on its own connection; returns (thread, box)."""
    box = {}

    def run():
        c = server.client(ns=ns)
        try:
            box["response"] = c.claim(**params)
            box["at"] = time.monotonic()
        finally:
            c.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, box


def wait_parked(server, count=1):
    """Until `count` claims are parked (they show in the log only when
    answered, so watch the metrics of empty first attempts instead)."""
    time.sleep(0.3 * count)


def test_waiting_claim_is_answered_by_a_publish(shared_server):
    ns = unique("lp")
    thread, box = claim_in_background(shared_server, ns, wait=20, goal="job")
    wait_parked(shared_server)
    assert thread.is_alive(), "the claim must wait, not answer 204"
    c = shared_server.client(ns=ns)
    iid = c.publish()
    thread.join(15)
    r = box["response"]
    assert r.status == 200 and r.json["id"] == iid
    assert c.fulfill(iid, r.json["claim_token"]).status == 200


def test_wait_past_deadline_gets_204(bus):
    r = bus.claim(wait=1)
    assert r.status == 204 and r.headers.get("retry-after") == "1" and r.raw == b""


def test_wait_zero_is_the_spec_behaviour(bus):
    bus.claim_none(wait=0)


@pytest.mark.parametrize("wait", ["-1", "61", "abc", "", "1e3", "nan"])
def test_invalid_wait_is_refused(bus, wait):
    assert_error(bus.claim(wait=wait), 400, "invalid_wait")


def test_waiting_claim_ignores_other_goals_and_namespaces(shared_server):
    ns = unique("lp")
    thread, box = claim_in_background(shared_server, ns, wait=2, goal="wanted")
    wait_parked(shared_server)
    other = shared_server.client(ns=ns)
    other.publish(goal="unwanted")
    shared_server.client(ns=unique("elsewhere")).publish(goal="wanted")
    thread.join(10)
    assert box["response"].status == 204
    assert other.claim_ok(goal="unwanted")


def test_longest_waiting_worker_gets_the_job(shared_server):
    ns = unique("fair")
    first, first_box = claim_in_background(shared_server, ns, wait=20)
    wait_parked(shared_server)
    second, second_box = claim_in_background(shared_server, ns, wait=20)
    wait_parked(shared_server)
    c = shared_server.client(ns=ns)
    iid = c.publish()
    first.join(15)
    assert first_box["response"].status == 200 and first_box["response"].json["id"] == iid
    assert second.is_alive()
    iid2 = c.publish()
    second.join(15)
    assert second_box["response"].json["id"] == iid2


def abandoned_claim(server, ns, wait=30):
    """A long-poll claim whose client goes away (a worker stopped with
    Ctrl-C): sent on a raw socket, left to park, then closed."""
    import socket
    body = (f"POST /claim?namespace={ns}&wait={wait} HTTP/1.1\r\nHost: x\r\n"
            f"X-API-KEY: {server.key}\r\nContent-Length: 0\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(body)
    wait_parked(server)
    sock.close()


def test_abandoned_waiting_claim_gets_no_job(shared_server):
    ns = unique("gone")
    abandoned_claim(shared_server, ns)
    c = shared_server.client(ns=ns)
    iid = c.publish()
    # The abandoned claim waited longest, but its client is gone: the job
    # must stay open for the next worker, not be claimed into the void.
    assert c.claim_ok()["id"] == iid


def test_abandoned_claim_does_not_delay_the_next_waiter(shared_server):
    ns = unique("gone")
    abandoned_claim(shared_server, ns)
    thread, box = claim_in_background(shared_server, ns, wait=20)
    wait_parked(shared_server)
    iid = shared_server.client(ns=ns).publish()
    thread.join(15)
    assert box["response"].status == 200 and box["response"].json["id"] == iid


def test_delayed_intent_reaches_a_waiting_worker(shared_server):
    ns = unique("delay")
    thread, box = claim_in_background(shared_server, ns, wait=20)
    wait_parked(shared_server)
    c = shared_server.client(ns=ns)
    iid = c.publish(delay=1.0)
    thread.join(15)
    assert box["response"].status == 200 and box["response"].json["id"] == iid


def test_requeued_intent_reaches_a_waiting_worker(shared_server):
    ns = unique("requeue")
    c = shared_server.client(ns=ns)
    iid = c.publish(backoff_base=1.0)
    job = c.claim_ok()
    assert c.fail(iid, job["claim_token"], error="again").status == 200
    thread, box = claim_in_background(shared_server, ns, wait=20)
    thread.join(15)
    assert box["response"].status == 200 and box["response"].json["id"] == iid
    assert box["response"].json["claim_attempts"] == 2


def test_expired_lease_reaches_a_waiting_worker(lease_server):
    ns = unique("lease")
    c = lease_server.client(ns=ns)
    iid = c.publish()
    first = c.claim_ok()  # never fulfilled: the 1 s lease expires
    thread, box = claim_in_background(lease_server, ns, wait=20)
    thread.join(15)
    r = box["response"]
    assert r.status == 200 and r.json["id"] == iid and r.json["claim_token"] != first["claim_token"]


def test_many_waiters_each_get_one_job_once(shared_server):
    ns = unique("many")
    workers = 30
    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(lambda: (lambda c: (c.claim(wait=20), c.close())[0])(
            shared_server.client(ns=ns))) for _ in range(workers)]
        time.sleep(1.0)
        c = shared_server.client(ns=ns)
        published = {c.publish() for _ in range(workers)}
        responses = [f.result(30) for f in futures]
    assert all(r.status == 200 for r in responses), [r.status for r in responses]
    claimed = [r.json["id"] for r in responses]
    assert sorted(claimed) == sorted(published)
    for r in responses:
        assert c.fulfill(r.json["id"], r.json["claim_token"]).status == 200


def result_in_background(server, ns, iid, wait):
    box = {}

    def run():
        c = server.client(ns=ns)
        try:
            box["response"] = c.get(f"/result/{iid}?wait={wait}")
        finally:
            c.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, box


def test_result_wait_answers_on_fulfil(shared_server):
    ns = unique("res")
    c = shared_server.client(ns=ns)
    iid = c.publish()
    thread, box = result_in_background(shared_server, ns, iid, 20)
    time.sleep(0.3)
    assert thread.is_alive()
    job = c.claim_ok()
    c.fulfill(iid, job["claim_token"], result={"done": True})
    thread.join(15)
    r = box["response"]
    assert r.status == 200 and r.json["status"] == "fulfilled" and r.json["result"] == {"done": True}


def test_result_wait_answers_on_dead(shared_server):
    ns = unique("res")
    c = shared_server.client(ns=ns)
    iid = c.publish(max_attempts=1)
    thread, box = result_in_background(shared_server, ns, iid, 20)
    time.sleep(0.3)
    job = c.claim_ok()
    c.fail(iid, job["claim_token"], error="boom")
    thread.join(15)
    assert box["response"].json["status"] == "dead" and box["response"].json["error"] == "boom"


def test_result_wait_deadline_returns_current_state(bus):
    iid = bus.publish()
    r = bus.get(f"/result/{iid}?wait=1")
    assert r.status == 200 and r.json["status"] == "open"


def test_result_wait_on_settled_intent_is_immediate(bus):
    iid = bus.publish()
    job = bus.claim_ok()
    bus.fulfill(iid, job["claim_token"])
    r = bus.get(f"/result/{iid}?wait=30")
    assert r.status == 200 and r.json["status"] == "fulfilled"


def test_result_wait_of_unknown_or_foreign_intent_is_404(bus):
    assert_error(bus.get(f"/result/{'0' * 32}?wait=5"), 404, "not_found")
    assert_error(bus.get(f"/result/{'0' * 32}?wait=99"), 400, "invalid_wait")


def test_shutdown_answers_parked_requests(server_factory):
    s = server_factory()
    ns = unique("stop")
    thread, box = claim_in_background(s, ns, wait=30)
    time.sleep(0.3)
    s.stop()
    thread.join(10)
    assert box["response"].status == 204
