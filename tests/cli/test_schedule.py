"""`intent-bus schedule add|ls|show|pause|resume|rm` (docs/CLI.md): a
schedule made from the command line publishes its job, and each
subcommand prints the server's JSON; errors exit with the documented codes."""

import json
import time

from conftest import unique


def test_add_fires_then_pause_resume_rm(cli, server, ns):
    name = unique("cli-sched")
    made = cli.json("schedule", "add", name, "tick", '{"n": 1}', "--every", "1", "-n", ns,
                    "--priority", "7", "--overlap", "skip", "--catch-up", "one")
    assert (made["name"], made["every"], made["overlap"], made["catch_up"]) == (
        name, 1, "skip", "one")
    assert made["intent"] == {"goal": "tick", "payload": {"n": 1}, "namespace": ns, "priority": 7}
    assert len(made["next_runs"]) == 5

    deadline = time.monotonic() + 6
    while cli.json("schedule", "show", name)["fires"] < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    shown = cli.json("schedule", "show", name)
    assert shown["fires"] >= 1 and shown["recent_fires"]
    job = cli.json("claim", "tick", "-n", ns)
    assert job["id"] == shown["last_intent_id"] and job["payload"] == {"n": 1}

    assert name in [s["name"] for s in cli.json("schedule", "ls")["schedules"]]
    assert cli.json("schedule", "pause", name)["paused"] is True
    assert cli.json("schedule", "resume", name)["paused"] is False
    assert cli.json("schedule", "rm", name) == {"name": name, "status": "deleted"}
    gone = cli.run("schedule", "show", name)
    assert gone.returncode == 4 and "404 not_found" in gone.stderr


def test_add_with_cron_and_timezone(cli, server):
    name = unique("cli-cron")
    made = cli.json("schedule", "add", name, "report", "{}", "--cron", "30 2 * * *",
                    "--timezone", "Europe/Berlin", "--public")
    assert (made["cron"], made["timezone"], made["every"]) == ("30 2 * * *", "Europe/Berlin", None)
    assert made["intent"]["visibility"] == "public"
    status, body = server.http("GET", f"/schedules/{name}")
    assert status == 200 and body["cron"] == "30 2 * * *"
    cli.ok("schedule", "rm", name)


def test_payload_from_standard_input(cli, server):
    name = unique("cli-stdin")
    made = cli.json("schedule", "add", name, "g", "-", "--every", "3600", input='{"from": "stdin"}')
    assert made["intent"]["payload"] == {"from": "stdin"}
    cli.ok("schedule", "rm", name)


def test_refusals_exit_with_their_codes(cli):
    bad = cli.run("schedule", "add", unique("x"), "g", "{}", "--cron", "61 * * * *")
    assert bad.returncode == 1 and "400 invalid_cron" in bad.stderr
    zone = cli.run("schedule", "add", unique("x"), "g", "{}", "--every", "5", "--timezone", "Nowhere/X")
    assert zone.returncode == 1 and "invalid_timezone" in zone.stderr
    usage = cli.run("schedule", "add", "only-a-name")
    assert usage.returncode == 2
    assert cli.run("schedule", "add", "n", "g", "{}", "--every", "0").returncode == 2
    assert cli.run("schedule", "explode").returncode == 2
    assert cli.run("schedule").returncode == 2
    assert cli.run("schedule", "rm", unique("absent")).returncode == 4
    nokey = cli.run("schedule", "ls", env=cli.env(INTENT_API_KEY="wrong"))
    assert nokey.returncode == 3
    assert json.loads(cli.ok("schedule", "ls"))["schedules"] is not None
