"""/metrics for the operator (issue 19): per namespace/goal counters and
the queue-wait and run-time histograms, the oldest open job, expired
leases, long-poll waiters kept out of the request latencies, the database
files, build and process families; promtool-clean after a mixed load, and
the number of goal series capped however many goals clients invent."""

import http.client
import json
import re
import secrets
import shutil
import subprocess
import threading
import time

import pytest

from conftest import ON_POSTGRES, unique, wait_until
from test_metrics import samples

PROMTOOL = shutil.which("promtool")
SPEC_GAUGES = {"intent_bus_intents_total", "intent_bus_dead_letters_total",
               "intent_bus_tester_keys_total"}
GOAL_SERIES_MAX = 200  # src/bus/goal_stats.h


@pytest.fixture
def server(server_factory):
    return server_factory(env={"BUS_METRICS_TOKEN": "mt-" + secrets.token_hex(8),
                               "BUS_CLAIM_TIMEOUT_SECONDS": "1"})


def scrape(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", "/metrics",
                     headers={"Authorization": "Bearer " + server.extra_env["BUS_METRICS_TOKEN"]})
        resp = conn.getresponse()
        body = resp.read().decode()
        assert resp.status == 200, body
        return body
    finally:
        conn.close()


def labels(ns, goal):
    return f'namespace="{ns}",goal="{goal}"'


def promtool_problems(text):
    run = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                         text=True, timeout=60)
    return [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]


def test_per_goal_series_follow_the_jobs(server):
    c = server.client(ns=unique("m"))
    ns = c.ns
    done = c.publish(goal="mail")
    c.publish(goal="mail")
    claim = c.claim_ok(goal="mail")
    assert claim["id"] == done
    assert c.fulfill(done, claim["claim_token"]).status == 200
    dies = c.publish(goal="pdf", max_attempts=1)
    claim = c.claim_ok(goal="pdf")
    assert c.fail(dies, claim["claim_token"], error="boom").json["status"] == "dead"
    stuck = c.publish(goal="stuck")
    c.claim_ok(goal="stuck")

    m = samples(scrape(server))
    assert m[f"intent_bus_goal_published_total{{{labels(ns, 'mail')}}}"] == 2
    assert m[f"intent_bus_goal_claimed_total{{{labels(ns, 'mail')}}}"] == 1
    assert m[f"intent_bus_goal_fulfilled_total{{{labels(ns, 'mail')}}}"] == 1
    assert m[f"intent_bus_goal_failed_total{{{labels(ns, 'pdf')}}}"] == 1
    assert m[f"intent_bus_goal_dead_lettered_total{{{labels(ns, 'pdf')}}}"] == 1
    assert m[f"intent_bus_goal_dead_lettered_total{{{labels(ns, 'mail')}}}"] == 0
    assert m[f"intent_bus_queue_wait_seconds_count{{{labels(ns, 'mail')}}}"] == 1
    assert m[f"intent_bus_run_time_seconds_count{{{labels(ns, 'mail')}}}"] == 1
    assert m[f"intent_bus_run_time_seconds_count{{{labels(ns, 'pdf')}}}"] == 1
    assert f"intent_bus_run_time_seconds_count{{{labels(ns, 'stuck')}}}" not in m  # still running
    # one mail job still open: the oldest-open gauge has its goal, none for fulfilled-only goals
    assert m[f"intent_bus_oldest_open_age_seconds{{{labels(ns, 'mail')}}}"] >= 0
    assert f"intent_bus_oldest_open_age_seconds{{{labels(ns, 'pdf')}}}" not in m

    # the stuck lease lapses: counted apart, then taken back by a claim
    wait_until(lambda: samples(scrape(server))["intent_bus_expired_leases"] == 1, timeout=5,
               message="the lease to lapse")
    again = c.claim_ok(goal="stuck")
    assert again["id"] == stuck
    m = samples(scrape(server))
    assert m["intent_bus_expired_leases"] == 0
    assert m[f"intent_bus_goal_leases_reclaimed_total{{{labels(ns, 'stuck')}}}"] == 1
    assert m[f"intent_bus_queue_wait_seconds_count{{{labels(ns, 'stuck')}}}"] == 2


def test_goal_labels_are_escaped(server):
    c = server.client(ns=unique("m"))
    c.publish(goal='say "hi" \\ now')
    text = scrape(server)
    assert f'goal="say \\"hi\\" \\\\ now"' in text
    if PROMTOOL:
        assert {p.split()[0] for p in promtool_problems(text)} <= SPEC_GAUGES


def test_long_poll_waits_kept_out_of_request_latency(server):
    ns = unique("lp")
    box = {}

    def wait_for_job():
        waiter = server.client(ns=ns)
        box["r"] = waiter.claim(wait=20, goal="job")
        waiter.close()

    thread = threading.Thread(target=wait_for_job)
    thread.start()
    wait_until(lambda: 'intent_bus_long_poll_waiters{kind="claim"} 1' in scrape(server),
               timeout=10, message="the claim to park")
    c = server.client(ns=ns)
    iid = c.publish(goal="job")
    thread.join(15)
    assert box["r"].status == 200 and box["r"].json["id"] == iid
    m = samples(scrape(server))
    assert m['intent_bus_long_poll_waiters{kind="claim"}'] == 0
    assert m['intent_bus_http_long_poll_wait_seconds_count{route="/claim",method="POST"}'] == 1
    # its first, empty attempt is not answered then: no /claim request latency recorded
    assert 'intent_bus_http_request_duration_seconds_count{route="/claim",method="POST"}' not in m
    assert m['intent_bus_http_requests_total{route="/claim",method="POST",status="200"}'] == 1


def test_build_process_and_database_families(server):
    c = server.client(ns=unique("m"))
    c.publish()
    m = samples(scrape(server))
    build = [k for k in m if k.startswith("intent_bus_build_info{")]
    assert len(build) == 1 and m[build[0]] == 1 and re.search(r'version="[0-9.]+"', build[0])
    assert m["process_resident_memory_bytes"] > 1_000_000
    assert m["process_open_fds"] >= 3 and m["process_max_fds"] >= m["process_open_fds"]
    assert abs(m["process_start_time_seconds"] - time.time()) < 600
    assert m["process_cpu_seconds_total"] >= 0
    # The read pool (--threads connections by default), on either backend.
    assert m["intent_bus_db_pool_connections"] >= 1
    assert 0 <= m["intent_bus_db_pool_in_use"] <= m["intent_bus_db_pool_connections"]
    if ON_POSTGRES:  # the database's files are PostgreSQL's own business
        assert "intent_bus_db_size_bytes" not in m
    else:
        assert m["intent_bus_db_size_bytes"] > 0
        assert m["intent_bus_db_wal_size_bytes"] >= 0


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) not installed")
def test_promtool_clean_after_a_mixed_load(server):
    c = server.client(ns=unique("mix"))
    for i in range(30):
        c.publish(goal=f"g{i % 4}", priority=i % 3)
    for i in range(20):
        claim = c.claim_ok()
        if i % 3 == 0:
            c.fail(claim["id"], claim["claim_token"], error=f"e{i}")
        elif i % 3 == 1:
            c.fulfill(claim["id"], claim["claim_token"], result={"i": i})
    c.claim(wait=1)
    c.get("/nowhere")
    problems = promtool_problems(scrape(server))
    assert {line.split()[0] for line in problems} <= SPEC_GAUGES, problems


def test_goal_series_capped_under_ten_thousand_goals(server):
    c = server.client(ns=unique("many"))
    goals = 10_000
    for i in range(goals):
        r = c.request("POST", "/intent", {"goal": f"goal-{i}", "payload": {}})
        assert r.status == 201
    text = scrape(server)
    published = {k: v for k, v in samples(text).items()
                 if k.startswith("intent_bus_goal_published_total{")}
    assert len(published) == GOAL_SERIES_MAX + 1, len(published)
    assert published[f"intent_bus_goal_published_total{{{labels('_other', '_other')}}}"] == \
        goals - GOAL_SERIES_MAX
    assert sum(published.values()) == goals
    oldest = [k for k in samples(text) if k.startswith("intent_bus_oldest_open_age_seconds{")]
    assert len(oldest) == GOAL_SERIES_MAX + 1
    assert f"intent_bus_oldest_open_age_seconds{{{labels('_other', '_other')}}}" in oldest
    assert len(text.splitlines()) < 20_000
