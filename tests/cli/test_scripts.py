"""The subcommands for scripts: publish (its options), claim, fulfill, fail,
extend, result, status, set, get."""

import json
import time

from conftest import unique


def test_publish_prints_only_the_id(cli, server, ns):
    done = cli.run("publish", "g", '{"a":1}', "-n", ns)
    assert done.returncode == 0 and done.stderr == ""
    intent_id = done.stdout.strip()
    assert done.stdout == intent_id + "\n" and len(intent_id) == 32
    body = server.result(intent_id)
    assert (body["namespace"], body["goal"], body["status"]) == (ns, "g", "open")


def test_publish_options_reach_the_bus(cli, server, ns):
    intent_id = cli.publish("g", {"x": [1, 2]}, "-n", ns, "--priority", "900", "--delay", "30",
                            "--max-attempts", "5", "--backoff-base", "2.5", "--target-worker",
                            "phone-1", "--capability", "whisper", "--public")
    _, job = server.http("GET", f"/status/{intent_id}")
    assert job["priority"] == 900 and job["max_attempts"] == 5
    assert job["visibility"] == "public"
    assert job["target_worker"] == "phone-1" and job["required_capability"] == "whisper"
    assert job["run_at"] >= job["created_at"] + 29


def test_publish_payload_from_stdin(cli, ns):
    intent_id = cli.ok("publish", "g", "-", "-n", ns, input='{"from":"stdin"}').strip()
    job = cli.json("claim", "g", "-n", ns)
    assert job["id"] == intent_id and job["payload"] == {"from": "stdin"}


def test_idempotency_key_replays_the_first_id(cli, ns):
    key = unique("order")
    first = cli.publish("charge", {"amount": 50}, "-n", ns, "--idempotency-key", key)
    assert cli.publish("charge", {"amount": 50}, "-n", ns, "--idempotency-key", key) == first
    done = cli.run("publish", "charge", '{"amount":51}', "-n", ns, "--idempotency-key", key)
    assert done.returncode == 1
    assert "422 idempotency_conflict" in done.stderr


def test_server_validation_errors_exit_1(cli, ns):
    done = cli.run("publish", "g", "{}", "-n", ns, "--priority", "5000")
    assert done.returncode == 1
    assert done.stderr.startswith("intent-bus: publish: 400 invalid_priority: ")


def test_claim_fulfill_result(cli, server, ns):
    intent_id = cli.publish("resize", {"w": 10}, "-n", ns)
    job = cli.json("claim", "resize", "-n", ns)
    assert job["id"] == intent_id and job["payload"] == {"w": 10}
    assert job["claim_attempts"] == 1 and len(job["claim_token"]) == 32
    assert job["claim_timeout"] == 60 and job["claim_expires_at"] > time.time()
    done = cli.json("fulfill", intent_id, job["claim_token"], '{"ok":true}')
    assert done == {"id": intent_id, "status": "fulfilled"}
    result = cli.json("result", intent_id)
    assert result["status"] == "fulfilled"
    assert (result["result"], result["result_type"]) == ({"ok": True}, "json")
    status = cli.json("status", intent_id)
    assert status["status"] == "fulfilled" and "result" not in status


def test_fulfill_with_text_and_without_result(cli, ns):
    first = cli.publish("g", {}, "-n", ns)
    second = cli.publish("g", {}, "-n", ns)
    token = cli.json("claim", "g", "-n", ns)["claim_token"]
    cli.ok("fulfill", first, token, "all done", "--text")
    result = cli.json("result", first)
    assert (result["result"], result["result_type"]) == ("all done", "text")
    token = cli.json("claim", "g", "-n", ns)["claim_token"]
    cli.ok("fulfill", second, token)
    assert cli.json("result", second)["status"] == "fulfilled"


def test_claim_with_nothing_exits_6(cli, ns):
    done = cli.run("claim", "g", "-n", ns)
    assert done.returncode == 6
    assert done.stdout == "" and done.stderr == "intent-bus: claim: nothing to claim\n"


def test_claim_wait_returns_when_a_job_arrives(cli, server, ns):
    import subprocess
    from conftest import BIN
    waiting = subprocess.Popen([BIN, "claim", "g", "-n", ns, "--wait", "10"], env=cli.env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    intent_id = cli.publish("g", {"late": True}, "-n", ns)
    out, err = waiting.communicate(timeout=10)
    assert waiting.returncode == 0, err
    assert json.loads(out)["id"] == intent_id


def test_claim_filters(cli, ns):
    cli.publish("g", {}, "-n", ns, "--target-worker", "pi-2")
    assert cli.run("claim", "g", "-n", ns, "--worker-id", "pi-1").returncode == 6
    assert cli.json("claim", "g", "-n", ns, "--worker-id", "pi-2")["target_worker"] == "pi-2"
    cli.publish("t", {}, "-n", ns, "--capability", "gpu")
    assert cli.run("claim", "-n", ns, "--capabilities", "ffmpeg").returncode == 6
    job = cli.json("claim", "-n", ns, "--capabilities", "whisper, gpu")
    assert job["required_capability"] == "gpu"


def test_fail_requeues_then_dead(cli, server, ns):
    intent_id = cli.publish("g", {}, "-n", ns, "--max-attempts", "1")
    token = cli.json("claim", "g", "-n", ns)["claim_token"]
    outcome = cli.json("fail", intent_id, token, "disk full")
    assert outcome == {"id": intent_id, "status": "dead", "claim_attempts": 1, "run_at": None}
    assert server.result(intent_id)["error"] == "disk full"

    intent_id = cli.publish("g", {}, "-n", ns, "--max-attempts", "2")
    token = cli.json("claim", "g", "-n", ns)["claim_token"]
    outcome = cli.json("fail", intent_id, token)
    assert outcome["status"] == "open" and outcome["run_at"] > time.time()


def test_extend_prints_the_new_lease_end(cli, ns):
    intent_id = cli.publish("g", {}, "-n", ns)
    token = cli.json("claim", "g", "-n", ns)["claim_token"]
    outcome = cli.json("extend", intent_id, token, "600")
    assert outcome["id"] == intent_id and outcome["status"] == "claimed"
    assert outcome["claim_expires_at"] > time.time() + 590
    done = cli.run("extend", intent_id, token, "5")
    assert done.returncode == 1 and "400 invalid_seconds" in done.stderr


def test_lease_lost_exits_4(cli, ns):
    intent_id = cli.publish("g", {}, "-n", ns)
    cli.json("claim", "g", "-n", ns)
    for command in (["fulfill", intent_id, "0" * 32], ["fail", intent_id, "0" * 32],
                    ["extend", intent_id, "0" * 32]):
        done = cli.run(*command)
        assert done.returncode == 4, done
        assert done.stderr.startswith(f"intent-bus: {command[0]}: 404 not_found")


def test_result_wait_times_out_with_6(cli, ns):
    intent_id = cli.publish("g", {}, "-n", ns)
    started = time.monotonic()
    done = cli.run("result", intent_id, "--wait", "1")
    assert done.returncode == 6
    assert json.loads(done.stdout)["status"] == "open"
    assert 0.8 < time.monotonic() - started < 5


def test_set_and_get(cli, ns):
    key = unique("k")
    assert cli.json("set", key, '{"state":"active","n":[1,2]}') == {"key": key, "ok": True}
    assert cli.json("get", key) == {"state": "active", "n": [1, 2]}
    cli.ok("set", key, '"plain"', "--ttl", "60")
    assert cli.ok("get", key) == '"plain"\n'
    cli.ok("set", key, "-", input="[1, 2, 3]")
    assert cli.json("get", key) == [1, 2, 3]


def test_set_rules_and_missing_keys(cli):
    done = cli.run("get", unique("absent"))
    assert done.returncode == 4 and "404 not_found" in done.stderr
    done = cli.run("set", "k", "{}", "--ttl", "100000")
    assert done.returncode == 1 and "400 invalid_ttl" in done.stderr
    assert cli.run("set", "k", "not json").returncode == 2
