"""How many HTTP threads and read connections `serve` runs: by default one
thread fewer than the CPUs it may use (at least 1, at most 16), and a read
connection per thread but never fewer than 4 (README, `--threads`)."""

import os
import secrets
from pathlib import Path

from test_metrics_jobs import samples, scrape


def http_threads(pid):
    """The server's HTTP loops, by the names they give themselves."""
    names = (Path(task, "comm").read_text().strip() for task in Path(f"/proc/{pid}/task").iterdir())
    return sum(1 for name in names if name.startswith("bus-http-"))


def start_on(server_factory, cpus, extra_args=()):
    """A server started with the affinity cpus (its child inherits it)."""
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        return server_factory(env={"BUS_METRICS_TOKEN": "mt-" + secrets.token_hex(8)},
                              extra_args=extra_args)
    finally:
        os.sched_setaffinity(0, mine)


def test_default_threads_follow_the_cpus(server_factory):
    cpus = sorted(os.sched_getaffinity(0))
    srv = start_on(server_factory, set(cpus))
    assert http_threads(srv.proc.pid) == max(1, min(16, len(cpus) - 1))
    assert samples(scrape(srv)).get("intent_bus_db_pool_connections") == max(
        4, http_threads(srv.proc.pid))


def test_one_cpu_gets_one_thread_and_four_read_connections(server_factory):
    srv = start_on(server_factory, {sorted(os.sched_getaffinity(0))[0]})
    assert http_threads(srv.proc.pid) == 1
    assert samples(scrape(srv))["intent_bus_db_pool_connections"] == 4
    c = srv.client()
    iid = c.publish()
    assert c.claim_ok()["id"] == iid


def test_threads_flag_wins(server_factory):
    srv = start_on(server_factory, {sorted(os.sched_getaffinity(0))[0]},
                   extra_args=["--threads", "6"])
    assert http_threads(srv.proc.pid) == 6
    assert samples(scrape(srv))["intent_bus_db_pool_connections"] == 6
