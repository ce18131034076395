"""Each example run as a subprocess against a real intent-bus server."""

import http.server
import json
import os
import random
import subprocess
import sys
import threading
import time

import pytest

from conftest import EXAMPLES, free_port, stop

PY = sys.executable
TERMUX_WORKER = os.path.join(EXAMPLES, "termux-worker.sh")


def spawn(procs, args, env):
    p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(p)
    return p


def test_termux_worker_signs_fulfils_fails_and_stops(start_bus, procs):
    bus = start_bus(BUS_REQUIRE_SIGNATURES="true")
    handler = 'read -r p; case "$p" in *fail*) echo "boom: $INTENT_ID" >&2; exit 1;; esac; echo "ok $p"'
    worker = spawn(
        procs,
        ["bash", TERMUX_WORKER],
        bus.env(GOAL="phone", NAMESPACE="home", HANDLER=handler, CLAIM_WAIT="30"),
    )
    with bus.client() as c:  # the SDK signs too; the bus refuses unsigned requests
        good = c.publish("phone", {"text": 'hi "there"'}, namespace="home")
        bad = c.publish("phone", {"fail": True}, namespace="home", max_attempts=1)
        ok = c.result(good.id, wait=15)
        dead = c.result(bad.id, wait=15)
    assert ok.status == "fulfilled", ok
    assert ok.result_type == "text"
    assert ok.result == 'ok {"text":"hi \\"there\\""}'
    assert dead.status == "dead", dead
    assert dead.error == f"exit 1: boom: {bad.id}"

    started = time.monotonic()
    rc, out, err = stop(worker)  # interrupts its long-poll claim
    assert rc == 0, err
    assert time.monotonic() - started < 5
    assert "stopped" in err


def test_termux_worker_refused_without_valid_key(start_bus, procs):
    bus = start_bus(BUS_REQUIRE_SIGNATURES="true")
    env = bus.env(GOAL="phone", CLAIM_WAIT="1")
    env["INTENT_API_KEY"] = "wrong-key"
    worker = spawn(procs, ["bash", TERMUX_WORKER], env)
    assert worker.wait(10) == 1
    assert "HTTP 401" in worker.stderr.read()


def test_python_worker(bus, procs):
    worker = spawn(procs, [PY, os.path.join(EXAMPLES, "python_worker.py")], bus.env(CLAIM_WAIT="1"))
    with bus.client() as c:
        job = c.publish("shout", {"text": "hello"})
        answer = c.result(job.id, wait=15)
    assert (answer.status, answer.result, answer.result_type) == ("fulfilled", "HELLO", "text")
    rc, out, err = stop(worker)
    assert rc == 0, err
    assert "stopped after 1 job(s): 1 fulfilled, 0 failed" in out


def test_publish_and_wait(bus, procs):
    worker = spawn(procs, [PY, os.path.join(EXAMPLES, "python_worker.py")], bus.env(CLAIM_WAIT="1"))
    done = subprocess.run(
        [PY, os.path.join(EXAMPLES, "publish_and_wait.py"), "shout", '{"text": "wait for me"}', "--wait", "20"],
        env=bus.env(), capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "WAIT FOR ME\n"
    assert stop(worker)[0] == 0


class FakeWebhook(http.server.BaseHTTPRequestHandler):
    received = []  # (JSON body, headers) of every POST

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeWebhook.received.append((body, dict(self.headers)))
        self.send_response(500 if body.get("content") == "make it fail" else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    FakeWebhook.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeWebhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/webhooks/1/token"
    server.shutdown()
    server.server_close()


def test_discord_relay(bus, procs, webhook):
    relay = spawn(
        procs, [PY, os.path.join(EXAMPLES, "discord_relay.py")],
        bus.env(DISCORD_WEBHOOK_URL=webhook, CLAIM_WAIT="1"),
    )
    with bus.client() as c:
        good = c.publish("discord", {"content": "Backup finished ✓"})
        ok = c.result(good.id, wait=15)
        bad = c.publish("discord", {"content": "make it fail"}, max_attempts=1)
        dead = c.result(bad.id, wait=15)
    assert (ok.status, ok.result) == ("fulfilled", {"webhook_status": 204})
    assert dead.status == "dead"
    assert "HTTP 500" in dead.error
    bodies = [body for body, _ in FakeWebhook.received]
    assert bodies == [{"content": "Backup finished ✓"}, {"content": "make it fail"}]
    assert FakeWebhook.received[0][1]["Content-Type"] == "application/json"
    assert stop(relay)[0] == 0


def test_termux_worker_finishes_running_job_on_sigterm(bus, procs, tmp_path):
    # The handler marks that it has begun: the job's "claimed" status alone
    # comes a moment before the worker has the claim's answer, and a signal
    # then aborts the claim (the job waits for its lease, as documented).
    began = tmp_path / "began"
    worker = spawn(
        procs,
        ["bash", TERMUX_WORKER],
        bus.env(GOAL="slow", HANDLER=f"touch {began}; sleep 1; echo finished",
                CLAIM_WAIT="30"),
    )
    with bus.client() as c:
        job = c.publish("slow", {})
        deadline = time.monotonic() + 10
        while not began.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        rc, out, err = stop(worker)  # arrives while the handler sleeps
        answer = c.result(job.id)
    assert rc == 0, err
    assert (answer.status, answer.result) == ("fulfilled", "finished")


def test_termux_worker_builtin_action_prints_payload(bus, procs):
    worker = spawn(
        procs, ["bash", TERMUX_WORKER], bus.env(GOAL="notify", CLAIM_WAIT="30"),
    )
    with bus.client() as c:
        job = c.publish("notify", {"instruction": "Hello\nphone"})
        answer = c.result(job.id, wait=15)
    assert (answer.status, answer.result) == ("fulfilled", '{"instruction":"Hello\\nphone"}')
    rc, out, err = stop(worker)
    assert rc == 0, err
    assert out == '{"instruction":"Hello\\nphone"}\n'


def test_termux_worker_result_keeps_text_and_drops_control_bytes(bus, procs):
    # Quotes, backslashes, tabs and inner newlines survive; other control
    # bytes are dropped, and trailing newlines go as with $(...).
    handler = r"""printf 'a\tb "c" \\d\001e\nf\r\n\n'"""
    worker = spawn(
        procs, ["bash", TERMUX_WORKER],
        bus.env(GOAL="text", HANDLER=handler, CLAIM_WAIT="30"),
    )
    with bus.client() as c:
        job = c.publish("text", {})
        answer = c.result(job.id, wait=15)
    assert (answer.status, answer.result) == ("fulfilled", 'a\tb "c" \\de\nf\r')
    assert stop(worker)[0] == 0


def _script_lines_after(path, marker):
    with open(path) as f:
        lines = f.read().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(marker))
    return [(i + 1, line) for i, line in enumerate(lines) if i > start and not line.lstrip().startswith("#")]


def test_termux_worker_has_no_command_substitution_once_signals_are_trapped():
    # bash 5.2 runs a trap that arrives while it parses a $(...) inside that
    # parse, where the trap's text fails to parse and the signal is lost (the
    # worker then goes on long-polling). The script's comment says more.
    code = _script_lines_after(TERMUX_WORKER, "trap on_signal")
    assert code, "the script no longer traps TERM with on_signal"
    offending = [(n, line) for n, line in code if "$(" in line.replace("$((", "") or "`" in line]
    assert offending == []


def test_termux_worker_stops_whenever_the_signal_comes(bus, procs):
    # Each stop lands at a different moment of the worker's round (reporting,
    # signing, claiming); every one must end the worker at once, with status 0.
    rounds = random.Random(16)
    for i in range(30):
        worker = spawn(
            procs, ["bash", TERMUX_WORKER], bus.env(GOAL="round", CLAIM_WAIT="30"),
        )
        with bus.client() as c:
            job = c.publish("round", {"round": i})
            assert c.result(job.id, wait=15).status == "fulfilled"
        time.sleep(rounds.random() * 0.05)
        rc, out, err = stop(worker, timeout=5)
        assert rc == 0, err
        assert err.endswith("[termux-worker] stopped\n"), err


def test_termux_worker_stops_during_its_pause_before_a_retry(procs):
    # Nothing listens on the port: each claim fails at once and the worker
    # pauses 5 s; a stop must end the pause too, leaving no `sleep` behind
    # holding its pipes (communicate would then wait for it).
    port = free_port()
    env = dict(os.environ, INTENT_BUS_URL=f"http://127.0.0.1:{port}", INTENT_API_KEY="k", GOAL="g")
    worker = spawn(procs, ["bash", TERMUX_WORKER], env)
    time.sleep(1)
    rc, out, err = stop(worker, timeout=3)
    assert rc == 0, err
    assert "retrying in 5 s" in err
    assert err.endswith("[termux-worker] stopped\n"), err
