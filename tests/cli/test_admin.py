"""`intent-bus admin ...` with --admin-token: tester keys, dead letters,
retry, cancel, purge, cleanup, stats, listings."""

import json

import pytest

from conftest import unique


@pytest.fixture
def admin(cli, server):
    def run(*args, **kwargs):
        return cli.json("admin", *args, "--admin-token", server.admin, **kwargs)
    return run


def test_generate_and_revoke_a_tester_key(cli, admin):
    owner = unique("alice")
    made = admin("generate-key", owner)
    assert made["owner"] == owner and made["api_key"].startswith("tk_")
    assert cli.run("publish", "g", "{}", "--api-key", made["api_key"]).returncode == 0
    assert any(key["owner"] == owner for key in admin("keys")["keys"])
    assert admin("revoke-key", made["api_key"]) == {"ok": True, "revoked": True, "owner": owner}
    done = cli.run("publish", "g", "{}", "--api-key", made["api_key"])
    assert done.returncode == 3
    assert "401 unauthorized" in done.stderr


def test_dead_retry_cancel(cli, server, admin, ns):
    intent_id = cli.publish("g", {"p": 1}, "-n", ns, "--max-attempts", "1")
    token = cli.json("claim", "g", "-n", ns)["claim_token"]
    cli.ok("fail", intent_id, token, "broken")
    letters = admin("dead")
    assert any(letter["intent_id"] == intent_id for letter in letters)
    letter = admin("dead", intent_id)
    assert letter["error"] == "broken" and letter["reason"] == "broken" and letter["payload"] == {"p": 1}
    assert admin("retry", intent_id) == {"ok": True, "id": intent_id, "status": "open"}
    assert server.result(intent_id)["status"] == "open"
    assert admin("intent", intent_id)["claim_attempts"] == 0
    assert admin("cancel", intent_id) == {"ok": True, "id": intent_id, "status": "dead"}
    assert server.result(intent_id)["status"] == "dead"


def test_stats_intents_cleanup(cli, admin, ns):
    cli.publish("g", {}, "-n", ns)
    assert admin("stats")["namespaces"][ns]["open"] == 1
    listed = admin("intents", "--namespace", ns, "--status", "open", "--limit", "5")["intents"]
    assert len(listed) == 1 and listed[0]["namespace"] == ns
    counters = admin("cleanup")
    assert isinstance(counters, dict) and all(isinstance(v, int) for v in counters.values())


def test_purge_needs_yes(cli, server, admin, ns):
    cli.publish("g", {}, "-n", ns)
    done = cli.run("admin", "purge", "--namespace", ns, "--admin-token", server.admin)
    assert done.returncode == 2 and "--yes" in done.stderr
    assert admin("purge", "--namespace", ns, "--yes") == {"ok": True, "intents_deleted": 1,
                                                            "dead_letters_deleted": 0}
    assert ns not in admin("stats")["namespaces"]


def test_admin_errors(cli, server):
    done = cli.run("admin", "retry", "f" * 32, "--admin-token", server.admin)
    assert done.returncode == 4
    assert done.stderr.startswith("intent-bus: admin retry: 404 not_found")
    done = cli.run("admin", "stats", env=cli.env(INTENT_ADMIN_TOKEN=None))
    assert done.returncode == 3 and "no admin token" in done.stderr
    # The API key never opens admin routes, and is not what admin commands send.
    done = cli.run("admin", "stats", "--admin-token", server.key)
    assert done.returncode == 3


def test_jobs_filters(cli, admin, ns):
    kept = cli.publish("crunch", {"n": 1}, "-n", ns, "--max-attempts", "1")
    cli.publish("other", {}, "-n", ns)
    token = cli.json("claim", "crunch", "-n", ns)["claim_token"]
    cli.ok("fail", kept, token, "disk on fire")
    found = admin("jobs", "--goal", "crunch", "--state", "dead", "--namespace", ns)
    assert [job["id"] for job in found["intents"]] == [kept] and found["next"] is None
    assert admin("jobs", "--error", "on fire", "-n", ns)["intents"][0]["id"] == kept
    assert admin("jobs", "--id", kept[:24], "--limit", "5")["intents"][0]["id"] == kept
    assert admin("jobs", "--goal", "crunch", "--state", "open", "-n", ns)["intents"] == []
    assert admin("jobs", "--owner", "main", "-n", ns, "--limit", "1")["next"] is not None


def test_jobs_refuses_a_bad_state(cli, server):
    done = cli.run("admin", "jobs", "--state", "stuck", "--admin-token", server.admin)
    assert done.returncode != 0 and "invalid_status" in done.stderr
    done = cli.run("admin", "stats", "--goal", "g", "--admin-token", server.admin)
    assert done.returncode == 2 and "does not apply" in done.stderr


def test_dead_filters_and_bulk_actions(cli, server, admin, ns):
    ids = []
    for error in ("quota hit", "quota hit again", "segfault"):
        intent_id = cli.publish("crunch", {}, "-n", ns, "--max-attempts", "1")
        token = cli.json("claim", "crunch", "-n", ns)["claim_token"]
        cli.ok("fail", intent_id, token, error)
        ids.append(intent_id)
    found = admin("dead", "-n", ns, "--error", "quota", "--reason", "failed", "--goal", "crunch")
    assert [d["intent_id"] for d in found] == ids[1::-1]
    done = cli.run("admin", "dead-retry", "-n", ns, "--error", "quota", "--admin-token",
                   server.admin)
    assert done.returncode == 2 and "--yes" in done.stderr
    assert admin("dead-retry", "-n", ns, "--error", "quota", "--yes") == {"ok": True, "retried": 2}
    assert admin("dead-purge", "-n", ns, "--yes") == {"ok": True, "purged": 1}
    assert admin("dead", "-n", ns) == []
    entries = admin("audit", "--limit", "2")
    assert [e["action"] for e in entries["entries"]] == ["dead_purge", "dead_retry"]
    older = admin("audit", "--limit", "1", "--before", str(entries["entries"][0]["id"]))
    assert older["entries"][0]["action"] == "dead_retry"


def test_workers_and_goals(cli, admin, ns):
    cli.publish("g1", {}, "-n", ns)
    cli.json("claim", "g1", "-n", ns, "--worker-id", "cli-w1")
    workers = admin("workers")["workers"]
    assert any(w["worker_id"] == "cli-w1" and w["held"] == 1 for w in workers), workers
    goals = [g for g in admin("goals")["goals"] if g["namespace"] == ns]
    assert goals == [dict(goals[0], goal="g1", claimed=1)]


def test_goal_pause_resume_limit(cli, server, admin, ns):
    goal = "reports/daily run"
    cli.publish(goal, {}, "-n", ns)
    assert admin("goal", "pause", ns, goal) == {"ok": True, "namespace": ns, "goal": goal,
                                                "paused": True, "max_claimed": None}
    assert cli.run("claim", goal, "-n", ns).returncode != 0  # nothing handed out
    assert admin("goal", "limit", ns, goal, "2")["max_claimed"] == 2
    resumed = admin("goal", "resume", ns, goal)
    assert resumed["paused"] is False and resumed["max_claimed"] == 2
    assert cli.json("claim", goal, "-n", ns)["goal"] == goal
    assert admin("goal", "limit", ns, goal, "none")["max_claimed"] is None
    listed = [g for g in admin("goals")["goals"] if g["namespace"] == ns]
    assert listed[0]["paused"] is False and listed[0]["max_claimed"] is None


@pytest.mark.parametrize("args", [("stop", "ns", "g"), ("limit", "ns", "g"),
                                  ("pause", "ns", "g", "3"), ("limit", "ns", "g", "1.5")])
def test_goal_usage_errors(cli, server, args):
    done = cli.run("admin", "goal", *args, "--admin-token", server.admin)
    assert done.returncode == 2, done.stderr


def test_goal_limit_out_of_range_is_the_servers_400(cli, server):
    done = cli.run("admin", "goal", "limit", "ns", "g", "0", "--admin-token", server.admin)
    assert done.returncode != 0 and "invalid_max_claimed" in done.stderr


def test_schedules_and_schedule_pause_resume(cli, server, admin, ns):
    key = admin("generate-key", unique("dora"))["api_key"]
    name = unique("cli-sched")
    made = cli.json("schedule", "add", name, "tick", "{}", "--every", "3600", "-n", ns,
                    "--api-key", key)
    listed = {s["name"]: s for s in admin("schedules")["schedules"]}
    assert listed[name]["key_owner"].startswith("dora") and listed[name]["namespace"] == ns
    assert listed[name]["next_runs"] == made["next_runs"]
    paused = admin("schedule", "pause", name)
    assert paused["name"] == name and paused["paused"] is True
    assert cli.json("schedule", "show", name, "--api-key", key)["paused"] is True
    assert admin("schedule", "resume", name)["paused"] is False
    actions = [(e["action"], e["target"]) for e in admin("audit", "--limit", "2")["entries"]]
    assert actions == [("schedule_resume", name), ("schedule_pause", name)]
    done = cli.run("admin", "schedule", "pause", unique("none"), "--admin-token", server.admin)
    assert done.returncode != 0 and "not_found" in done.stderr


@pytest.mark.parametrize("args", [("stop", "x"), ("pause",), ("pause", "a", "b")])
def test_schedule_usage_errors(cli, server, args):
    done = cli.run("admin", "schedule", *args, "--admin-token", server.admin)
    assert done.returncode == 2, done.stderr
