"""docs/OBSERVABILITY.md's alert rules and Grafana dashboard: promtool
accepts the rules, their unit tests (each alert firing on the series that
should raise it, quiet on a healthy bus) pass, and every metric the rules
and the dashboard name is one a live bus exports."""

import json
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ON_POSTGRES, unique
from test_metrics_jobs import samples, scrape

PROMTOOL = shutil.which("promtool")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "observability"
needs_promtool = pytest.mark.skipif(PROMTOOL is None,
                                    reason="promtool (Debian package prometheus) not installed")
METRIC = re.compile(r"\b((?:intent_bus|process)_[a-z_]+)")


def promtool(*args):
    return subprocess.run([PROMTOOL, *args], cwd=DOCS, capture_output=True, text=True, timeout=120)


@needs_promtool
def test_alert_rules_pass_promtool_check():
    run = promtool("check", "rules", "alerts.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS: 6 rules found" in run.stdout


@needs_promtool
def test_alert_rules_fire_as_documented():
    run = promtool("test", "rules", "alerts_test.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    alerts = set(re.findall(r"alert: (\w+)", (DOCS / "alerts.yml").read_text()))
    tested = set(re.findall(r"alertname: (\w+)", (DOCS / "alerts_test.yml").read_text()))
    assert alerts == tested, alerts ^ tested


def exported_names(text):
    names = set()
    for key in samples(text):
        name = key.split("{")[0]
        names.add(name)
        names.add(re.sub(r"_(bucket|sum|count)$", "", name))
    return names


def test_rules_and_dashboard_name_only_exported_metrics(server_factory):
    srv = server_factory(env={"BUS_METRICS_TOKEN": "mt-" + secrets.token_hex(8)})
    c = srv.client(ns=unique("obs"))
    c.publish(goal="g")
    c.publish(goal="g", max_attempts=1)
    first = c.claim_ok(goal="g")
    c.fulfill(first["id"], first["claim_token"])
    second = c.claim_ok(goal="g")
    c.fail(second["id"], second["claim_token"], error="x")
    c.publish(goal="g")
    exported = exported_names(scrape(srv))
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(dashboard["panels"]) >= 10
    named = set()
    for text in exprs + [(DOCS / "alerts.yml").read_text()]:
        named |= set(METRIC.findall(text))
    if ON_POSTGRES:  # the SQLite file gauges (docs/OBSERVABILITY.md) are SQLite's only
        named -= {"intent_bus_db_size_bytes", "intent_bus_db_wal_size_bytes"}
    missing = {n for n in named if re.sub(r"_(bucket|sum|count)$", "", n) not in exported}
    assert not missing, missing
    assert {"intent_bus_queue_wait_seconds_bucket", "intent_bus_oldest_open_age_seconds",
            "intent_bus_dead_lettered_total"} <= named
