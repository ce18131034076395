"""The same job through two clients: published by one, run by the other.

The bus requires signatures, so every request of both clients is signed.
"""

import json
import subprocess
import threading

from conftest import BIN, stop


def test_sdk_publishes_and_the_cli_runs_it(bus, ns):
    listener = bus.listen("cross.upper", "tr a-z A-Z", "-n", ns)
    try:
        with bus.sdk() as client:
            published = client.publish("cross.upper", {"text": "from python"}, namespace=ns)
            done = client.result(published.id, wait=20)
    finally:
        err = stop(listener)
    assert done.status == "fulfilled", err
    assert done.result == {"TEXT": "FROM PYTHON"}  # stdout parsed as JSON
    assert f"{published.id} cross.upper fulfilled" in err


def test_cli_publishes_and_the_sdk_runs_it(bus, ns):
    from intent_bus import WorkerRuntime

    seen = []

    def handler(job):
        seen.append((job.goal, job.namespace, job.payload, job.claim_attempts))
        return {"sum": sum(job.payload["numbers"])}

    with bus.sdk() as client:
        stop_event = threading.Event()
        runtime = WorkerRuntime(client)
        worker = threading.Thread(target=runtime.listen, args=("cross.sum", handler),
                                  kwargs={"namespace": ns, "wait": 1, "stop_event": stop_event})
        worker.start()
        try:
            out = bus.cli("publish", "cross.sum", '{"numbers":[1,2,39]}', "-n", ns,
                          "--wait", "20")
        finally:
            stop_event.set()
            worker.join(15)
    assert not worker.is_alive()
    assert json.loads(out) == {"sum": 42}
    assert seen == [("cross.sum", ns, {"numbers": [1, 2, 39]}, 1)]


def test_cli_fails_a_job_and_the_sdk_sees_the_retry_then_the_dead_letter(bus, ns):
    listener = bus.listen("cross.fail", "echo boom >&2; exit 1", "-n", ns)
    try:
        with bus.sdk() as client:
            published = client.publish("cross.fail", {}, namespace=ns, max_attempts=2,
                                       backoff_base=1)
            done = client.result(published.id, wait=20)
    finally:
        stop(listener)
    assert done.status == "dead"
    assert done.claim_attempts == 2
    assert "boom" in (done.error or "")


def test_public_job_of_one_tester_key_run_by_another_client_and_key(bus, ns):
    alice = bus.tester_key("alice")
    bob = bus.tester_key("bob")
    published = bus.cli("publish", "cross.public", '"hello"', "-n", ns, "--public",
                        key=alice).strip()
    with bus.sdk(bob) as client:
        job = client.claim("cross.public", namespace=ns)
        assert job is not None and job.id == published and job.payload == "hello"
        client.fulfill(job.id, job.claim_token, "seen by bob", result_type="text")
    assert json.loads(bus.cli("result", published, key=alice))["result"] == "seen by bob"


def test_private_job_is_invisible_to_the_other_key_through_either_client(bus, ns):
    alice = bus.tester_key("alice2")
    bob = bus.tester_key("bob2")
    with bus.sdk(alice) as client:
        published = client.publish("cross.private", {"secret": 1}, namespace=ns)
    claimed = subprocess.run([BIN, "claim", "cross.private", "-n", ns], env=bus.cli_env(bob),
                             capture_output=True, text=True, timeout=30)
    assert claimed.returncode == 6, claimed  # nothing to claim for bob
    with bus.sdk(alice) as client:
        assert client.status(published.id).status == "open"
