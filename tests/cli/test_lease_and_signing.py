"""Servers with special settings: a 4-second lease (the listener must extend
it), and required request signatures (the CLI signs by default)."""

import json
import re

import pytest

from conftest import Cli, Server, stop_listener


@pytest.fixture(scope="module")
def short_lease_server(tmp_path_factory):
    bus = Server(tmp_path_factory.mktemp("short-lease"), {"BUS_CLAIM_TIMEOUT_SECONDS": "4"})
    yield bus
    bus.stop()


@pytest.fixture(scope="module")
def signing_server(tmp_path_factory):
    bus = Server(tmp_path_factory.mktemp("signing"), {"BUS_REQUIRE_SIGNATURES": "true"})
    yield bus
    bus.stop()


def test_lease_is_extended_while_the_command_outlives_it(short_lease_server, tmp_path, ns):
    cli = Cli(short_lease_server, tmp_path / "home")
    runs = tmp_path / "runs"
    command = f'echo "$INTENT_ID $INTENT_ATTEMPT" >> {runs}; sleep 7; echo \'{{"done":1}}\''
    # Two slots: had the 4-second lease run out, the second would claim the
    # job again. The first extension is due after 2 s: 2 s of slack for a
    # loaded machine.
    proc = cli.listen("long", command, "-n", ns, "--concurrency", "2", "--wait", "5")
    try:
        intent_id = cli.publish("long", {}, "-n", ns)
        result = short_lease_server.wait_for(intent_id, timeout=20)
    finally:
        code, err = stop_listener(proc)
    assert result["status"] == "fulfilled" and result["result"] == {"done": 1}
    assert result["claim_attempts"] == 1
    assert runs.read_text() == f"{intent_id} 1\n"
    assert code == 0
    assert re.search(rf" {intent_id} long fulfilled ([7-9]|1\d)\.\d\ds", err), err


def test_signed_requests_are_accepted(signing_server, tmp_path, ns):
    cli = Cli(signing_server, tmp_path / "home")
    proc = cli.listen("signed", "cat", "-n", ns)
    try:
        done = cli.run("publish", "signed", '{"s":1}', "-n", ns, "--wait", "20")
    finally:
        code, _ = stop_listener(proc)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"s": 1}
    assert code == 0
    key = "k-" + ns
    cli.ok("set", key, "[1]")
    assert cli.json("get", key) == [1]


def test_unsigned_requests_are_refused_with_exit_3(signing_server, tmp_path):
    cli = Cli(signing_server, tmp_path / "home")
    done = cli.run("publish", "g", "{}", "--no-sign")
    assert done.returncode == 3
    assert done.stderr.startswith("intent-bus: publish: 403 invalid_signature")
    assert done.stderr.count("\n") == 1


def test_lost_lease_is_logged_and_not_reported(short_lease_server, tmp_path, ns):
    import time
    cli = Cli(short_lease_server, tmp_path / "home")
    started = tmp_path / "started"
    proc = cli.listen("lost", f"touch {started}; sleep 3.5; echo '\"late\"'", "-n", ns)
    try:
        intent_id = cli.publish("lost", {}, "-n", ns)
        deadline = time.monotonic() + 10
        while not started.exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        # The admin takes the job away: the next extension gets 404.
        done = cli.run("admin", "cancel", intent_id, "--admin-token", short_lease_server.admin)
        assert done.returncode == 0, done.stderr
        time.sleep(4)
    finally:
        code, err = stop_listener(proc)
    assert code == 0
    assert re.search(rf" {intent_id} lost lease lost \d+\.\d\ds", err), err
    result = short_lease_server.result(intent_id)
    assert result["status"] == "dead" and result["result"] is None
