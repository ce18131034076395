"""`intent-bus listen -c COMMAND` end to end with `publish --wait`: results,
failures and retries, dead letters, SIGTERM, concurrency."""

import json
import re
import signal
import time

import pytest

from conftest import stop_listener

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ [0-9a-f]{32} \S+ .+ \d+\.\d\ds$")


@pytest.fixture
def listeners():
    """Listeners started by a test, stopped after it whatever happens."""
    started = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def job_lines(stderr):
    return [line for line in stderr.splitlines() if LOG_LINE.match(line)]


def test_json_round_trip(cli, ns, listeners):
    listeners.append(cli.listen("echo", "cat", "-n", ns))
    done = cli.run("publish", "echo", '{"hello":"world","n":[1,2]}', "-n", ns, "--wait", "20")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"hello": "world", "n": [1, 2]}
    assert done.stdout.startswith("{\n  ")  # indented
    intent_id = re.search(r"published ([0-9a-f]{32})", done.stderr).group(1)
    code, err = stop_listener(listeners[0])
    assert code == 0
    lines = job_lines(err)
    assert len(lines) == 1 and f" {intent_id} echo fulfilled " in lines[0]


def test_text_result_and_environment(cli, server, ns, listeners):
    command = 'read -r payload; echo "$INTENT_GOAL $INTENT_NAMESPACE $INTENT_ATTEMPT $payload"'
    listeners.append(cli.listen("hello", command, "-n", ns))
    done = cli.run("publish", "hello", '{"a":1}', "-n", ns, "--wait")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f'hello {ns} 1 {{"a":1}}\n'
    intent_id = re.search(r"published ([0-9a-f]{32})", done.stderr).group(1)
    result = server.result(intent_id)
    assert result["result_type"] == "text"
    assert result["result"] == f'hello {ns} 1 {{"a":1}}'  # the trailing newline dropped


def test_intent_id_in_the_environment_and_empty_output(cli, server, ns, tmp_path, listeners):
    seen = tmp_path / "seen"
    listeners.append(cli.listen("quiet", f'echo "$INTENT_ID" > {seen}', "-n", ns))
    intent_id = cli.publish("quiet", {}, "-n", ns)
    result = server.wait_for(intent_id)
    assert result["status"] == "fulfilled" and result["result"] is None
    assert seen.read_text().strip() == intent_id


def test_failure_is_retried_with_the_stderr_tail_as_error(cli, server, ns, listeners):
    command = ('if [ "$INTENT_ATTEMPT" = 1 ]; then echo "noise"; '
               'echo "first attempt: disk full" >&2; exit 3; fi; echo \'{"ok":true}\'')
    listeners.append(cli.listen("flaky", command, "-n", ns))
    intent_id = cli.publish("flaky", {}, "-n", ns, "--max-attempts", "3", "--backoff-base", "1")
    deadline = time.monotonic() + 10
    body = server.result(intent_id)
    while body["claim_attempts"] == 0 or body["status"] != "open":  # failed once, not retried yet
        assert time.monotonic() < deadline, body
        time.sleep(0.05)
        body = server.result(intent_id)
    assert body["error"] == "exit status 3: first attempt: disk full"
    done = cli.run("publish", "x", "{}", "-n", ns)  # keep the server busy meanwhile
    assert done.returncode == 0
    result = server.wait_for(intent_id, timeout=15)
    assert result["status"] == "fulfilled" and result["result"] == {"ok": True}
    assert result["claim_attempts"] == 2
    code, err = stop_listener(listeners[0])
    outcomes = [line.split(" ", 3)[3] for line in job_lines(err)]
    assert outcomes[0].startswith("failed (exit status 3; will retry)")
    assert outcomes[1].startswith("fulfilled")


def test_dead_after_max_attempts_makes_publish_wait_exit_1(cli, server, ns, listeners):
    command = "echo 'Traceback: it broke' >&2; exit 1"
    listeners.append(cli.listen("doomed", command, "-n", ns))
    done = cli.run("publish", "doomed", "{}", "-n", ns, "--max-attempts", "2",
                   "--backoff-base", "1", "--wait", "20")
    assert done.returncode == 1, done
    assert done.stdout == ""
    intent_id = re.search(r"published ([0-9a-f]{32})", done.stderr).group(1)
    assert done.stderr.splitlines()[-1] == (
        f"intent-bus: publish: {intent_id} is dead after 2 attempts: "
        "exit status 1: Traceback: it broke")
    dead = cli.json("admin", "dead", intent_id, "--admin-token", server.admin)
    assert dead["error"] == "exit status 1: Traceback: it broke"
    code, err = stop_listener(listeners[0])
    assert "dead after 2 attempts" in job_lines(err)[-1]


def test_long_stderr_is_cut_to_its_last_2000_bytes(cli, server, ns, listeners):
    command = "for i in $(seq 1 3000); do printf 'line %d\\n' $i >&2; done; exit 2"
    listeners.append(cli.listen("loud", command, "-n", ns))
    intent_id = cli.publish("loud", {}, "-n", ns, "--max-attempts", "1")
    error = server.wait_for(intent_id)["error"]
    assert len(error.encode()) <= 2000
    assert error.startswith("exit status 2: ") and error.endswith("line 3000")


def test_a_failed_commands_last_stderr_lines_show_in_the_workers_terminal(cli, server, ns,
                                                                         listeners):
    command = "for i in $(seq 1 15); do echo \"problem $i\" >&2; done; echo done; exit 4"
    listeners.append(cli.listen("noisy", command, "-n", ns))
    intent_id = cli.publish("noisy", {}, "-n", ns, "--max-attempts", "1")
    assert server.wait_for(intent_id)["status"] == "dead"
    code, err = stop_listener(listeners[0])
    lines = err.splitlines()
    job = next(i for i, line in enumerate(lines) if LOG_LINE.match(line))
    assert f" {intent_id} noisy " in lines[job]
    # the last ten lines of its stderr, indented under the job's line; stdout is not shown
    assert lines[job + 1:job + 11] == [f"  | problem {i}" for i in range(6, 16)]
    assert "problem 5" not in err and "  | done" not in err


def test_output_that_is_not_utf8_fails_the_job(cli, server, ns, listeners):
    listeners.append(cli.listen("binary", "printf '\\377\\376'", "-n", ns))
    intent_id = cli.publish("binary", {}, "-n", ns, "--max-attempts", "1")
    assert server.wait_for(intent_id)["error"] == "stdout is neither JSON nor UTF-8 text"


def test_sigterm_lets_the_running_job_finish(cli, server, ns, tmp_path, listeners):
    started = tmp_path / "started"
    command = f'touch {started}; sleep 2; echo \'"finished"\''
    proc = cli.listen("slow", command, "-n", ns)
    listeners.append(proc)
    intent_id = cli.publish("slow", {}, "-n", ns)
    deadline = time.monotonic() + 10
    while not started.exists():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "SIGTERM: stopping; 1 running job to finish" in err
    assert len(job_lines(err)) == 1 and " fulfilled " in job_lines(err)[0]
    result = server.result(intent_id)
    assert result["status"] == "fulfilled" and result["result"] == "finished"


def test_sigterm_while_idle_withdraws_the_waiting_claim(cli, ns, listeners):
    proc = cli.listen("idle", "cat", "-n", ns, "--wait", "30")
    listeners.append(proc)
    time.sleep(0.5)  # its claim is waiting on the bus
    started = time.monotonic()
    code, err = stop_listener(proc)
    assert code == 0, err
    assert time.monotonic() - started < 10  # not the 30 s of the wait
    assert ("SIGTERM: stopping; 0 running jobs to finish; "
            "withdrawing the claim waiting on the bus") in err
    assert job_lines(err) == [] and "claim failed" not in err and "aborted" not in err


def test_job_published_right_after_the_stop_is_not_lost(cli, server, ns, listeners):
    # The withdrawn claim's connection is closed, so the bus does not hand
    # it the next job: the job stays open and the next claim gets it at once.
    proc = cli.listen("late", "cat", "-n", ns, "--wait", "30")
    listeners.append(proc)
    time.sleep(0.5)
    code, err = stop_listener(proc)
    assert code == 0, err
    intent_id = cli.publish("late", {"late": True}, "-n", ns)
    assert server.result(intent_id)["status"] == "open"
    job = cli.json("claim", "late", "-n", ns)  # no --wait: now or never
    assert job["id"] == intent_id and job["payload"] == {"late": True}


def test_concurrency_runs_jobs_in_parallel(cli, server, ns, tmp_path, listeners):
    spans = tmp_path / "spans"
    command = (f'start=$(date +%s.%N); sleep 1.5; '
               f'echo "$start $(date +%s.%N)" >> {spans}')
    listeners.append(cli.listen("par", command, "-n", ns, "--concurrency", "3"))
    ids = [cli.publish("par", {"i": i}, "-n", ns) for i in range(3)]
    began = time.monotonic()
    for intent_id in ids:
        assert server.wait_for(intent_id)["status"] == "fulfilled"
    assert time.monotonic() - began < 4  # one after another would take 4.5 s
    rows = [tuple(map(float, line.split())) for line in spans.read_text().splitlines()]
    assert len(rows) == 3
    assert max(start for start, _ in rows) < min(end for _, end in rows)


def test_fatal_claim_error_stops_the_listener(cli, ns):
    proc = cli.listen("g", "cat", "-n", ns, "--api-key", "wrong")
    _, err = proc.communicate(timeout=10)  # no signal: it stops by itself
    assert proc.returncode == 3
    assert "intent-bus: listen: 401 unauthorized: Invalid API key." in err


def claim_requests(server):
    """POST /claim requests the server has answered, from /metrics."""
    import urllib.request
    request = urllib.request.Request(server.url + "/metrics",
                                     headers={"X-Admin-Token": server.admin})
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith('intent_bus_http_requests_total{route="/claim"'))


def test_idle_listener_makes_one_request_per_wait_period(tmp_path):
    # A server of its own: another test's long-poll ending in the window
    # would be counted too.
    from conftest import Cli, Server
    bus = Server(tmp_path / "bus")
    try:
        before = claim_requests(bus)
        proc = Cli(bus, tmp_path / "home").listen("idle", "cat", "--wait", "3")
        time.sleep(4)
        answered = claim_requests(bus) - before
        stop_listener(proc)
    finally:
        bus.stop()
    # Long-polling: one claim answered at 3 s, the next one still waiting.
    # Polling once a second would have made four.
    assert 1 <= answered <= 2


def test_ctrl_c_on_the_terminal_does_not_kill_the_running_command(cli, server, ns, tmp_path):
    import os
    import subprocess
    from conftest import BIN
    started = tmp_path / "started"
    command = f"touch {started}; sleep 1.5; echo survived"
    proc = subprocess.Popen([BIN, "listen", "ctrl-c", "-n", ns, "-c", command], env=cli.env(),
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        intent_id = cli.publish("ctrl-c", {}, "-n", ns)
        deadline = time.monotonic() + 10
        while not started.exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "SIGINT: stopping; 1 running job to finish" in err
    assert server.result(intent_id)["result"] == "survived"


def test_second_signal_stops_at_once_and_stops_the_command(cli, server, ns, tmp_path):
    import os
    pid_file = tmp_path / "pid"
    proc = cli.listen("stuck", f"echo $$ > {pid_file}.tmp; mv {pid_file}.tmp {pid_file}; "
                               "exec sleep 30", "-n", ns)
    try:
        intent_id = cli.publish("stuck", {}, "-n", ns)
        deadline = time.monotonic() + 10
        while not pid_file.exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        child = int(pid_file.read_text())
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    assert "second signal: stopping now; 1 job left to the bus to redeliver" in err
    deadline = time.monotonic() + 5
    while True:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "the command outlived its listener"
        time.sleep(0.05)
    assert server.result(intent_id)["status"] == "claimed"  # its lease will run out


def test_unreachable_bus_is_retried_with_backoff(cli, ns):
    proc = cli.listen("g", "cat", "-n", ns, "--url", "http://127.0.0.1:9")
    time.sleep(1.2)
    code, err = stop_listener(proc)
    assert code == 0
    lines = [line for line in err.splitlines() if "claim failed" in line]
    assert 1 <= len(lines) <= 2, err
    assert re.match(r"intent-bus: listen: claim failed \(.*Couldn't connect.*\); "
                    r"retrying in \d+\.\ds$", lines[0])
