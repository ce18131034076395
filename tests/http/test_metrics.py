"""GET /metrics (spec 8) and the access log: who may read metrics, that the
text is valid Prometheus exposition (checked by promtool), that the numbers
move with traffic, and that logs name the key's owner but never the key."""

import http.client
import re
import secrets
import shutil
import subprocess

import pytest

from conftest import SECURITY_HEADERS, unique

PROMTOOL = shutil.which("promtool")
# The spec names these three gauges with a _total suffix; promtool's lint
# flags that, and nothing else may be flagged.
SPEC_GAUGES = {"intent_bus_intents_total", "intent_bus_dead_letters_total",
               "intent_bus_tester_keys_total"}


def raw_get(server, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        for name, value in SECURITY_HEADERS.items():
            assert resp.getheader(name) == value
        return resp.status, resp.getheader("content-type", ""), body.decode()
    finally:
        conn.close()


def samples(text):
    """{name{labels}: value} for every sample line."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


@pytest.fixture
def metrics_server(server_factory):
    return server_factory(env={"BUS_METRICS_TOKEN": "mt-" + secrets.token_hex(8),
                               "BUS_ADMIN_SECRET": "adm-" + secrets.token_hex(8),
                               "DASHBOARD_PASSWORD": "pw-" + secrets.token_hex(8)})


def bearer(server):
    return {"Authorization": "Bearer " + server.extra_env["BUS_METRICS_TOKEN"]}


def test_metrics_refuses_without_credentials(metrics_server):
    s = metrics_server
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-KEY": s.key},
                    {"Authorization": "Bearer " + s.key}, {"X-Admin-Token": s.key},
                    {"Authorization": "Bearer"}):
        status, ctype, body = raw_get(s, "/metrics", headers)
        assert status == 401, headers
        assert ctype.startswith("application/json") and '"unauthorized"' in body


def test_metrics_accepts_bearer_and_admin(metrics_server):
    s = metrics_server
    for headers in (bearer(s), {"X-Admin-Token": s.extra_env["BUS_ADMIN_SECRET"]}):
        status, ctype, body = raw_get(s, "/metrics", headers)
        assert status == 200
        assert ctype.startswith("text/plain; version=0.0.4")
        assert "# TYPE intent_bus_intents_total gauge" in body


def test_metrics_without_token_configured_needs_admin(server_factory):
    s = server_factory()
    assert raw_get(s, "/metrics", {"Authorization": "Bearer "})[0] == 401
    assert raw_get(s, "/metrics", {"Authorization": "Bearer x"})[0] == 401


def test_metrics_follow_traffic(metrics_server):
    s = metrics_server
    c = s.client(ns=unique("m"))
    ids = [c.publish() for _ in range(3)]
    first = c.claim_ok()
    assert c.fulfill(first["id"], first["claim_token"]).status == 200
    second = c.claim_ok()
    assert c.fail(second["id"], second["claim_token"], error="x").status == 200
    c.claim_ok()
    c.claim_none()
    status, _, text = raw_get(s, "/metrics", bearer(s))
    assert status == 200
    m = samples(text)
    assert m["intent_bus_published_total"] == 3
    assert m["intent_bus_claims_total"] == 3
    assert m["intent_bus_empty_claims_total"] == 1
    assert m["intent_bus_fulfills_total"] == 1
    assert m["intent_bus_failures_total"] == 1
    assert m["intent_bus_retries_total"] == 1
    ns = c.ns
    assert m[f'intent_bus_intents_total{{status="fulfilled",namespace="{ns}"}}'] == 1
    assert m[f'intent_bus_intents_total{{status="open",namespace="{ns}"}}'] == 1
    assert m[f'intent_bus_intents_total{{status="claimed",namespace="{ns}"}}'] == 1
    assert m['intent_bus_http_requests_total{route="/intent",method="POST",status="201"}'] == 3
    assert m['intent_bus_http_requests_total{route="/claim",method="POST",status="204"}'] == 1
    assert m['intent_bus_http_request_duration_seconds_count{route="/claim",method="POST"}'] == 4
    assert m["intent_bus_db_transactions_total"] >= 1
    assert m["intent_bus_db_operations_total"] >= 7
    assert len(ids) == 3


def test_metrics_dead_letters_by_reason(metrics_server):
    s = metrics_server
    c = s.client(ns=unique("m"))
    c.publish(max_attempts=1)
    r = c.claim_ok()
    c.fail(r["id"], r["claim_token"])
    m = samples(raw_get(s, "/metrics", bearer(s))[2])
    assert m['intent_bus_dead_lettered_total{reason="failed"}'] == 1
    assert m["intent_bus_dead_letters_total"] == 1


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) not installed")
def test_metrics_pass_promtool(metrics_server):
    s = metrics_server
    c = s.client(ns=unique("m"))
    c.publish()
    c.claim_ok()
    raw_get(s, "/nowhere")
    text = raw_get(s, "/metrics", bearer(s))[2]
    run = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                         text=True, timeout=30)
    problems = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    flagged = {line.split()[0] for line in problems}
    assert flagged <= SPEC_GAUGES, problems
    for line in problems:
        assert "should not have \"_total\" suffix" in line, problems


def test_access_log_names_owner_never_key(metrics_server):
    s = metrics_server
    c = s.client(ns=unique("log"))
    c.publish()
    c.get("/status/" + "0" * 32)
    raw_get(s, "/metrics", bearer(s))

    def published(lines):
        return any('path="/intent"' in l and "status=201" in l and 'who="main"' in l for l in lines)

    def looked_up(lines):
        return any('path="/status/' in l and "status=404" in l for l in lines)

    lines = s.log_lines(until=lambda lines: published(lines) and looked_up(lines))
    assert published(lines) and looked_up(lines), lines
    log = s.stderr_all()
    for line in lines:
        assert re.match(r"^time=\S+Z level=(info|error) msg=request client=\"127\.0\.0\.1\" "
                        r"method=\S+ path=\"[^\"]*\" "
                        r"status=\d{3} duration_ms=\d+\.\d+ who=\"[^\"]*\"$", line), line
    assert s.key not in log
    assert s.extra_env["BUS_METRICS_TOKEN"] not in log


def test_log_level_off_silences_requests(server_factory):
    s = server_factory(env={"BUS_LOG_LEVEL": "off"})
    s.client(ns=unique("q")).publish()
    assert s.stop() == 0  # every thread has written what it gathered
    assert "msg=request" not in s.stderr()
