#!/usr/bin/env python3
"""Soak: a million jobs through one bus at `heavy` concurrency (docs/BENCHMARKS.md).

Starts `intent-bus serve` on a temporary database, runs `intent-bus bench`
against it for --jobs jobs, and meanwhile samples /metrics (fulfilled
intents) and the size of the database files every --sample seconds,
asking for a cleanup pass (POST /admin/cleanup) every --cleanup seconds.
Prints the throughput of each tenth of the jobs and the database size when
that tenth ended: flat throughput means the last tenth is within 15 % of
the first; a bounded database stops growing once cleanup deletes as many
finished rows as the load adds (set a short retention with
--server-env BUS_RETENTION_SECONDS=60, or the spec's 7 days keep them all).

    /usr/bin/python3 bench/soak.py [--bin build/intent-bus] [--jobs 1000000]
        [--workers 40] [--publishers 16] [--server-env NAME=VALUE ...]
"""

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bus:
    """The server under soak, with the admin token for /metrics and cleanup."""

    def __init__(self, binary, workdir, extra_env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.key = "soak-" + secrets.token_hex(16)
        self.admin = "soak-admin-" + secrets.token_hex(16)
        self.db = Path(workdir) / "soak.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith("BUS_")}
        env.update(BUS_SECRET=self.key, BUS_ADMIN_SECRET=self.admin, BUS_LOG_LEVEL="warn")
        env.update(extra_env)
        self.proc = subprocess.Popen([binary, "serve", "--port", str(self.port),
                                      "--db", str(self.db)], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/health", timeout=1).read()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("soak: the server did not start")

    def admin_request(self, method, path):
        request = urllib.request.Request(self.url + path, method=method,
                                         data=b"{}" if method == "POST" else None,
                                         headers={"X-Admin-Token": self.admin,
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.read().decode()

    def fulfilled(self):
        for line in self.admin_request("GET", "/metrics").splitlines():
            if line.startswith("intent_bus_fulfills_total "):
                return int(float(line.split()[1]))
        return 0

    def db_bytes(self):
        return sum(p.stat().st_size for p in self.db.parent.glob(self.db.name + "*"))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


def sample(bus, bench, every, cleanup_every, samples):
    """(seconds, fulfilled, db bytes) until the bench ends; cleanup on schedule."""
    started = time.monotonic()
    next_cleanup = started + cleanup_every
    while bench.poll() is None:
        time.sleep(every)
        now = time.monotonic()
        if now >= next_cleanup:
            bus.admin_request("POST", "/admin/cleanup")
            next_cleanup = now + cleanup_every
        samples.append((now - started, bus.fulfilled(), bus.db_bytes()))


def crossing(samples, goal):
    """(seconds, db bytes) when `fulfilled` reached goal, interpolated
    between the two samples around it."""
    before = (0.0, 0, samples[0][2])
    for sample_ in samples:
        if sample_[1] >= goal:
            span = sample_[1] - before[1]
            part = (goal - before[1]) / span if span else 1.0
            return before[0] + part * (sample_[0] - before[0]), sample_[2]
        before = sample_
    return samples[-1][0], samples[-1][2]


def tenths(samples, jobs):
    """Per tenth of the jobs: (jobs/s over it, db MB when it ended)."""
    rows, previous_t = [], 0.0
    for k in range(1, 11):
        seconds, db_bytes = crossing(samples, jobs * k // 10)
        rows.append(((jobs // 10) / max(seconds - previous_t, 1e-9), db_bytes / 1e6))
        previous_t = seconds
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default=str(REPO / "build" / "intent-bus"))
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=40)
    parser.add_argument("--publishers", type=int, default=16)
    parser.add_argument("--sample", type=float, default=0.5)
    parser.add_argument("--cleanup", type=float, default=30.0)
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    extra_env = dict(item.split("=", 1) for item in args.server_env)
    with tempfile.TemporaryDirectory(prefix="intent-bus-soak-") as workdir:
        bus = Bus(args.bin, workdir, extra_env)
        try:
            bench = subprocess.Popen(
                [args.bin, "bench", "--url", bus.url, "--api-key", bus.key, "--workers",
                 str(args.workers), "--publishers", str(args.publishers), "--jobs",
                 str(args.jobs), "--timeout", "36000", "--json"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            samples = []
            sampler = threading.Thread(target=sample, args=(bus, bench, args.sample,
                                                            args.cleanup, samples))
            sampler.start()
            summary = json.loads(bench.communicate()[0])
            sampler.join()
            samples.append((samples[-1][0] if samples else 0.0, bus.fulfilled(), bus.db_bytes()))
        finally:
            bus.stop()
    rows = tenths(samples, args.jobs)
    flat = rows[-1][0] / rows[0][0]
    if args.json:
        print(json.dumps({"bench": summary, "tenths": rows, "last_over_first": flat}))
        return
    print(f"soak: {args.jobs} jobs, {args.workers} workers, {args.publishers} publishers, "
          f"success {summary['success_percent']:.2f} %, {summary['jobs_per_second']:.0f} jobs/s "
          f"overall, P99 {summary['p99_ms']:.2f} ms")
    print("tenth   jobs/s   db MB")
    for k, (rate, megabytes) in enumerate(rows, 1):
        print(f"{k:>5} {rate:>8.0f} {megabytes:>7.1f}")
    print(f"last tenth / first tenth: {flat:.2f}")


if __name__ == "__main__":
    sys.exit(main())
