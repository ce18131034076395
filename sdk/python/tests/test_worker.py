"""WorkerRuntime against a real server: results, failures, lease extension,
long polling and clean shutdown on SIGTERM."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from conftest import SDK_DIR, deadline, wait_until
from intent_bus import IntentClient, Job, WorkerRuntime
from intent_bus.worker import _outcome


def test_outcome_rules():
    assert _outcome(None) == ("fulfill", None, None)
    assert _outcome(True) == ("fulfill", None, None)
    assert _outcome(False) == ("fail", "handler returned False", None)
    assert _outcome("hi") == ("fulfill", "hi", "text")
    assert _outcome({"a": 1}) == ("fulfill", {"a": 1}, "json")
    assert _outcome([1]) == ("fulfill", [1], "json")
    assert _outcome(3) == ("fulfill", 3, "json")
    assert _outcome({"result": "delivered", "result_type": "text"}) == ("fulfill", "delivered", "text")
    assert _outcome({"result": {"x": 1}, "result_type": "json"}) == ("fulfill", {"x": 1}, "json")
    # not an envelope: an ordinary JSON result
    assert _outcome({"result": 5}) == ("fulfill", {"result": 5}, "json")
    assert _outcome({"result": 5, "result_type": "xml"})[2] == "json"


def test_listen_handles_n_jobs_then_stops(client, ns):
    kinds = ["json", "text", "none", "envelope", "list"]
    ids = {k: client.publish("work", {"kind": k}, namespace=ns).id for k in kinds}
    stop = threading.Event()
    seen = []

    def handler(job: Job):
        assert isinstance(job, Job) and job.goal == "work" and job.claim_token
        seen.append(job.id)
        if len(seen) == len(kinds):
            stop.set()
        kind = job.payload["kind"]
        return {"json": {"ok": kind}, "text": "plain", "none": None,
                "envelope": {"result": "delivered", "result_type": "text"}, "list": [1, 2]}[kind]

    runtime = WorkerRuntime(client, max_idle_backoff=0.5)
    with deadline(stop):
        handled = runtime.listen("work", handler, namespace=ns, poll_interval=0.1, stop_event=stop)
    assert handled == 5 and runtime.fulfilled == 5 and sorted(seen) == sorted(ids.values())
    expect = {"json": ({"ok": "json"}, "json"), "text": ("plain", "text"), "none": (None, None),
              "envelope": ("delivered", "text"), "list": ([1, 2], "json")}
    for kind, intent_id in ids.items():
        r = client.result(intent_id)
        assert r.status == "fulfilled", kind
        assert (r.result, r.result_type) == expect[kind], kind
    assert client.claim("work", namespace=ns) is None  # nothing claimed after the stop


def test_failing_handler_fails_then_retry_succeeds(client, ns):
    flaky = client.publish("flaky", {"n": 1}, namespace=ns, max_attempts=2, backoff_base=1.0).id
    falsy = client.publish("flaky", {"n": 2}, namespace=ns, max_attempts=1).id
    stop = threading.Event()
    calls = []

    def handler(job):
        calls.append((job.id, job.claim_attempts))
        if job.id == falsy:
            return False
        if job.claim_attempts == 1:
            raise ValueError("boom " + "é" * 3000)
        # the failure was reported with the exception text, cut to 2000 bytes
        st = client.status(job.id)
        assert st.error.startswith("ValueError: boom é") and len(st.error.encode()) <= 2000
        stop.set()
        return "second time lucky"

    runtime = WorkerRuntime(client, max_idle_backoff=1.0)
    with deadline(stop):
        runtime.listen("flaky", handler, namespace=ns, poll_interval=0.2, stop_event=stop)
    assert (flaky, 1) in calls and (flaky, 2) in calls and (falsy, 1) in calls
    assert runtime.failed == 2 and runtime.fulfilled == 1
    r = client.result(flaky)
    assert (r.status, r.claim_attempts, r.result) == ("fulfilled", 2, "second time lucky")
    d = client.status(falsy)
    assert (d.status, d.error) == ("dead", "handler returned False")


def test_lease_extended_while_handler_outlives_the_lease(servers, ns):
    srv = servers.get("lease2", {"BUS_CLAIM_TIMEOUT_SECONDS": "2"})
    client = srv.client()
    thief = srv.client()
    published = client.publish("slow", {"n": 1}, namespace=ns)
    tokens = []
    stolen = []
    finished = threading.Event()

    def steal():
        while not finished.is_set():
            job = thief.claim("slow", namespace=ns)
            if job is not None:
                stolen.append(job)
            time.sleep(0.2)

    stealer = threading.Thread(target=steal)

    def handler(job):
        assert job.claim_timeout == 2
        tokens.append(job.claim_token)
        stealer.start()  # another worker tries to claim it while the handler runs
        time.sleep(3)
        # extended: the lease now ends well after the original 2 s
        assert client.status(job.id).claim_expires_at > time.time() + 3
        time.sleep(2)
        stop.set()
        return {"slept": 5}

    stop = threading.Event()
    try:
        with deadline(stop):
            runtime = WorkerRuntime(client, max_idle_backoff=0.5)
            runtime.listen("slow", handler, namespace=ns, poll_interval=0.1, stop_event=stop)
    finally:
        finished.set()
        if stealer.is_alive():
            stealer.join()
    assert stolen == [], "the job was claimed twice"
    assert len(tokens) == 1 and runtime.fulfilled == 1 and runtime.lease_lost == 0
    r = client.result(published.id)
    assert (r.status, r.claim_attempts, r.result) == ("fulfilled", 1, {"slept": 5})
    client.close()
    thief.close()


class NoExtendClient(IntentClient):
    """A client whose lease extensions never reach the bus."""

    def extend(self, intent_id, claim_token, seconds=60):  # type: ignore[override]
        return None


def test_lost_lease_is_reported_not_fatal(servers, ns):
    srv = servers.get("lease2", {"BUS_CLAIM_TIMEOUT_SECONDS": "2"})
    client = NoExtendClient(srv.url, srv.key)
    published = client.publish("lost", {}, namespace=ns)
    stop = threading.Event()

    def handler(job):
        time.sleep(2.3)  # the lease (2 s) runs out; another worker takes the job
        with srv.client() as other:
            other_job = other.claim("lost", namespace=ns)
            assert other_job is not None and other_job.claim_token != job.claim_token
            other.fulfill(other_job.id, other_job.claim_token, "by the other worker", "text")
        stop.set()
        return "too late"

    runtime = WorkerRuntime(client)
    with deadline(stop):
        runtime.listen("lost", handler, namespace=ns, poll_interval=0.1, stop_event=stop)
    assert runtime.lease_lost == 1 and runtime.fulfilled == 0
    assert client.result(published.id).result == "by the other worker"
    client.close()


def test_long_poll_worker(server, client, ns):
    stop = threading.Event()
    done = []

    def handler(job):
        done.append(time.monotonic())
        stop.set()
        return None

    runtime = WorkerRuntime(client)
    t = threading.Thread(target=runtime.listen, args=("lp", handler),
                         kwargs={"namespace": ns, "stop_event": stop, "wait": 2})
    t.start()
    time.sleep(0.4)
    sent = time.monotonic()
    client.publish("lp", {}, namespace=ns)
    t.join(10)
    assert not t.is_alive() and done and done[0] - sent < 1.0


def test_client_listen_shortcut_passes_the_payload(client, ns):
    client.publish("notify", {"message": "System backup complete."}, namespace=ns)
    client.publish("notify", {}, namespace=ns, max_attempts=1)
    stop = threading.Event()
    got = []

    def handle_notification(payload):
        got.append(payload)
        if len(got) == 2:
            stop.set()
        if not payload.get("message"):
            return False  # explicit failure
        return True  # fulfilment

    with deadline(stop):
        handled = client.listen(goal="notify", handler=handle_notification, namespace=ns,
                                poll_interval=0.1, stop_event=stop)
    assert handled == 2
    assert {"message": "System backup complete."} in got and {} in got


def test_fatal_claim_errors_are_raised(server, ns):
    from intent_bus import IntentBusAuthError, IntentBusValidationError
    with IntentClient(server.url, "wrong") as bad:
        with pytest.raises(IntentBusAuthError):
            WorkerRuntime(bad).listen("g", lambda job: None, namespace=ns)
    with server.client() as c:
        with pytest.raises(IntentBusValidationError):
            WorkerRuntime(c).listen("g", lambda job: None, namespace="bad namespace!")


WORKER_SCRIPT = textwrap.dedent("""
    import sys, time
    from intent_bus import IntentClient, WorkerRuntime

    marker, ns = sys.argv[1], sys.argv[2]

    def handler(job):
        with open(marker, "a") as f:
            f.write(job.id + "\\n")
        time.sleep(1.5)
        return {"finished": job.id}

    with IntentClient() as client:
        n = WorkerRuntime(client).listen("graceful", handler, namespace=ns, poll_interval=0.2)
    print("handled", n)
""")


def test_sigterm_finishes_the_current_job_then_exits_0(server, client, ns, tmp_path):
    first = client.publish("graceful", {"n": 1}, namespace=ns, priority=900).id
    second = client.publish("graceful", {"n": 2}, namespace=ns).id
    script = tmp_path / "worker.py"
    script.write_text(WORKER_SCRIPT)
    marker = tmp_path / "started"
    env = dict(os.environ, PYTHONPATH=str(SDK_DIR), INTENT_BUS_URL=server.url, INTENT_API_KEY=server.key)
    proc = subprocess.Popen([sys.executable, str(script), str(marker), ns], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: marker.exists() and marker.read_text().strip(), timeout=10, what="the job to start")
        proc.send_signal(signal.SIGTERM)
        out, errs = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, errs.decode()
    assert out.decode().strip() == "handled 1"
    assert marker.read_text().split() == [first]
    r = client.result(first)
    assert (r.status, r.result) == ("fulfilled", {"finished": first})
    st = client.status(second)
    assert (st.status, st.claim_attempts) == ("open", 0)  # no new claim after SIGTERM
