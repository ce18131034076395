"""`intent-bus bench` and group commit: the bench runs a profile end to end
against a bus it starts (every job fulfilled, JSON report well formed), and
a burst of concurrent publishes, committed in shared transactions, is all
there after kill -9. Behaviour only: no timing is asserted."""

import json
import resource
import secrets
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import BIN, ON_POSTGRES, postgres_createdb, unique
from test_metrics import bearer, raw_get, samples


def run_bench(*args, timeout=120):
    run = subprocess.run([str(BIN), "bench", *args], capture_output=True, text=True,
                         timeout=timeout)
    return run.returncode, run.stdout, run.stderr


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def assert_bench_cpu_reported(report):
    """The bench's own CPU: a reading, and its figure per 1,000 jobs."""
    seconds = report["bench_cpu_seconds"]
    assert isinstance(seconds, float) and seconds >= 0
    per_1000 = report["bench_cpu_ms_per_1000_jobs"]
    assert per_1000 == pytest.approx(1e6 * seconds / report["fulfilled"])


def test_bench_light_profile_fulfils_every_job():
    used_before = children_cpu_seconds()
    code, out, err = run_bench("light", "--json")
    used = children_cpu_seconds() - used_before
    assert code == 0, err
    report = json.loads(out)
    assert report["profile"] == "light" and report["workers"] == 5 and report["jobs"] == 50
    assert report["fulfilled"] == 50 and report["success_percent"] == 100.0
    assert report["publish"]["count"] == 50 and report["fulfil"]["count"] == 50
    assert report["statuses"].get("201") == 50
    assert not any(int(k) >= 500 for k in report["statuses"] if k.isdigit())
    # One node of its own, and what the servers spent on the run.
    assert report["nodes"] == 1 and report["store"] == "sqlite"
    assert report["url"].startswith("http://127.0.0.1:") and "," not in report["url"]
    assert report["server_cpu_seconds"] >= 0 and report["server_cpu_ms_per_1000_jobs"] >= 0
    assert 0 < report["p50_ms"] <= report["p99_ms"]
    # The bench's own CPU, its server's not in it: no more than the system
    # counted for the bench and its server together (a few ticks of slack).
    assert_bench_cpu_reported(report)
    assert report["bench_cpu_seconds"] + report["server_cpu_seconds"] <= used + 0.03


def test_bench_long_poll_and_custom_sizes():
    code, out, err = run_bench("--workers", "3", "--jobs", "30", "--publishers", "2",
                               "--long-poll", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["long_poll"] is True and report["fulfilled"] == 30
    # A long-poll 204 measures the wait, not the bus: only 200 claims are timed.
    statuses = report["statuses"]
    assert report["claim"]["count"] == statuses["200"] - 30
    assert report["empty_claims"] == statuses.get("204", 0)


@pytest.mark.parametrize("batch", ["10", "100"])
def test_bench_batches(batch):
    # 250 jobs: the last publish of each batch size is a short one.
    code, out, err = run_bench("--workers", "4", "--jobs", "250", "--publishers", "2",
                               "--batch", batch, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["batch"] == int(batch) and report["fulfilled"] == 250
    statuses = report["statuses"]
    publishes = -(-250 // int(batch))
    assert report["publish"]["count"] == publishes and "201" not in statuses
    # one POST /fulfill per claim that brought jobs, for all of its jobs
    claims = report["claim"]["count"] - statuses.get("204", 0)
    assert report["fulfil"]["count"] == claims and claims < 250
    assert report["publish_to_fulfil"]["count"] == 250
    # 200s: the publishes, the claims that brought jobs and their fulfils
    assert statuses["200"] == publishes + 2 * claims


def test_bench_counts_every_request_by_kind_and_status():
    code, out, err = run_bench("--workers", "4", "--jobs", "40", "--publishers", "2", "--json")
    assert code == 0, err
    report = json.loads(out)
    statuses = report["statuses"]
    assert report["publish"]["count"] == 40 and statuses["201"] == 40
    assert report["fulfil"]["count"] == 40 and report["publish_to_fulfil"]["count"] == 40
    # Polling: every claim is timed, the 200s (40 of the 200s are fulfils) and the 204s.
    assert report["empty_claims"] == statuses.get("204", 0)
    assert report["claim"]["count"] == statuses["200"] - 40 + report["empty_claims"]
    assert report["publish_to_fulfil"]["p50_ms"] > 0


def test_bench_spreads_clients_over_several_loops():
    code, out, err = run_bench("--workers", "7", "--jobs", "70", "--publishers", "3",
                               "--loops", "2", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["fulfilled"] == 70 and report["statuses"]["201"] == 70
    assert report["fulfil"]["count"] == 70
    # More loops than clients: the extra loops are not started.
    code, out, err = run_bench("--workers", "1", "--jobs", "5", "--publishers", "1",
                               "--loops", "8", "--long-poll", "--json")
    assert code == 0, err
    assert json.loads(out)["fulfilled"] == 5


def test_bench_signs_every_request_when_asked():
    # The bus it starts refuses unsigned requests, so every job proves a signature.
    code, out, err = run_bench("--workers", "3", "--jobs", "30", "--publishers", "2", "--sign",
                               "--server-env", "BUS_REQUIRE_SIGNATURES=true", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["signed"] is True and report["fulfilled"] == 30
    assert "401" not in report["statuses"] and "403" not in report["statuses"]
    # and without --sign that bus refuses the bench
    code, out, err = run_bench("--workers", "2", "--jobs", "4", "--publishers", "1",
                               "--server-env", "BUS_REQUIRE_SIGNATURES=true", "--timeout", "3",
                               "--json")
    assert code == 1
    assert json.loads(out)["statuses"].get("403", 0) > 0  # invalid_signature


def test_bench_against_a_running_bus(shared_server):
    code, out, err = run_bench("--url", f"http://127.0.0.1:{shared_server.port}", "--api-key",
                               shared_server.key, "--jobs", "20", "--workers", "2")
    assert code == 0, err
    assert "success 100.00 %" in out and "errors: none" in out


def test_bench_takes_a_list_of_nodes(shared_server):
    url = f"http://127.0.0.1:{shared_server.port}"
    code, out, err = run_bench("--url", f"{url},{url}", "--api-key", shared_server.key,
                               "--jobs", "20", "--workers", "3", "--publishers", "2", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["nodes"] == 2 and report["url"] == f"{url},{url}"
    assert report["fulfilled"] == 20 and report["statuses"]["201"] == 20
    # Not its own servers: their CPU is not the bench's to read.
    assert report["store"] is None and report["server_cpu_seconds"] is None
    assert report["server_cpu_ms_per_1000_jobs"] is None
    assert_bench_cpu_reported(report)  # its own, wherever the servers run
    code, out, err = run_bench("--url", f"{url},{url}", "--api-key", shared_server.key,
                               "--jobs", "4", "--workers", "1")
    assert code == 0, err
    assert "2 nodes: " in out and "server CPU: not measured" in out


def test_bench_spreads_each_role_over_the_nodes(server_factory):
    """Two separate buses sharing a key: a job published on one can only be
    claimed there, so every job is fulfilled only if each bus got its share
    of publishers and of workers."""
    key = "bench-" + secrets.token_hex(8)
    env = {"BUS_METRICS_TOKEN": "mt-" + secrets.token_hex(8)}
    buses = [server_factory(secret=key, env=env) for _ in range(2)]
    urls = ",".join(f"http://127.0.0.1:{bus.port}" for bus in buses)
    code, out, err = run_bench("--url", urls, "--api-key", key, "--jobs", "40", "--workers",
                               "4", "--publishers", "2", "--timeout", "60", "--json")
    assert code == 0, err
    assert json.loads(out)["fulfilled"] == 40
    if ON_POSTGRES:
        return  # /metrics answers database_busy there for now (its queue counts)
    counts = [samples(raw_get(bus, "/metrics", bearer(bus))[2]) for bus in buses]
    for m in counts:
        assert m["intent_bus_published_total"] > 0
        assert m["intent_bus_fulfills_total"] == m["intent_bus_published_total"]
    assert sum(m["intent_bus_published_total"] for m in counts) == 40


@pytest.mark.skipif(not ON_POSTGRES, reason="needs INTENT_BUS_DATABASE_URL (PostgreSQL)")
def test_bench_runs_several_nodes_on_one_postgresql_database():
    code, out, err = run_bench("--database", postgres_createdb(), "--nodes", "2", "--jobs",
                               "200", "--workers", "6", "--publishers", "4", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["fulfilled"] == 200 and report["success_percent"] == 100.0
    assert report["nodes"] == 2 and report["store"] == "postgresql"
    urls = report["url"].split(",")
    assert len(urls) == 2 and len(set(urls)) == 2
    assert report["statuses"]["201"] == 200
    assert not any(int(k) >= 500 for k in report["statuses"] if k.isdigit())
    assert report["server_cpu_seconds"] > 0 and report["server_cpu_ms_per_1000_jobs"] > 0


def test_bench_health_ceiling():
    code, out, err = run_bench("--health", "1", "--workers", "2", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["requests_per_second"] > 0 and report["failures"] == 0
    assert report["connections"] == 2
    code, out, err = run_bench("--health", "1", "--workers", "3", "--loops", "2")
    assert code == 0, err
    assert "GET /health: 3 connections" in out and "0 failures" in out


def test_bench_health_counts_failures_when_the_bus_is_gone():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nobody listens there
    code, out, err = run_bench("--health", "1", "--workers", "2", "--url",
                               f"http://127.0.0.1:{port}", "--json")
    assert code == 1, err
    report = json.loads(out)
    assert report["failures"] > 0 and report["requests_per_second"] == 0


def test_bench_rejects_bad_usage():
    assert run_bench("nosuchprofile")[0] == 2
    assert run_bench("--workers", "0")[0] == 2
    assert run_bench("--loops", "0")[0] == 2
    assert run_bench("--loops", "65")[0] == 2
    assert run_bench("--loops")[0] == 2
    assert run_bench("--batch", "0")[0] == 2
    assert run_bench("--batch", "101")[0] == 2
    # Several SQLite files would be several buses: nodes share one database.
    assert run_bench("--nodes", "2")[0] == 2
    assert run_bench("--nodes", "0", "--database", "postgresql:///x")[0] == 2
    assert run_bench("--nodes", "17", "--database", "postgresql:///x")[0] == 2
    # --url names running nodes; it does not start any.
    for extra in (["--database", "postgresql:///x"], ["--nodes", "2"]):
        code, _, err = run_bench("--url", "http://127.0.0.1:1", "--api-key", "k", *extra)
        assert code == 2 and "--url" in err
    for urls in ("http://127.0.0.1:1,", ",http://127.0.0.1:1", "a,,b", ",".join(["a"] * 17)):
        code, _, err = run_bench("--url", urls, "--api-key", "k")
        assert code == 2 and "comma-separated" in err


def test_concurrent_publishes_survive_kill_9(server_factory):
    s = server_factory()
    ns = unique("burst")

    def publish_some(_):
        c = s.client(ns=ns)
        try:
            return [c.publish() for _ in range(25)]
        finally:
            c.close()

    with ThreadPoolExecutor(16) as pool:
        ids = [i for chunk in pool.map(publish_some, range(16)) for i in chunk]
    assert len(set(ids)) == 400
    s.kill()
    s.start()
    c = s.client(ns=ns)
    for iid in ids:
        assert c.status(iid)["status"] == "open"
