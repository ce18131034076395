"""Fixtures for the examples' tests: a real intent-bus server per test.

The binary is $INTENT_BUS_BIN, default <repo>/build/intent-bus (run `make`).
"""

import os
from pathlib import Path
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(REPO, "examples")
BIN = os.environ.get("INTENT_BUS_BIN", os.path.join(REPO, "build", "intent-bus"))
sys.path.insert(0, str(Path(REPO) / "tests" / "support"))
from bus_database import serve_database_args  # noqa: E402

sys.path.insert(0, os.path.join(REPO, "sdk", "python"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bus:
    def __init__(self, tmp_path, extra_env):
        self.key = "ex_" + secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, BUS_SECRET=self.key, BUS_LOG_LEVEL="warn", **extra_env)
        self.log = open(tmp_path / "bus.log", "wb")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--bind", "127.0.0.1", "--port", str(self.port),
             *serve_database_args(tmp_path)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"intent-bus did not start: {(tmp_path / 'bus.log').read_text()}")
            time.sleep(0.05)

    def env(self, **extra):
        """Environment for an example talking to this bus."""
        return dict(os.environ, INTENT_BUS_URL=self.url, INTENT_API_KEY=self.key, **extra)

    def client(self):
        from intent_bus import IntentClient
        return IntentClient(self.url, self.key)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def start_bus(tmp_path):
    """start_bus(**env) -> Bus; every bus started is stopped with SIGTERM afterwards."""
    buses = []

    def start(**extra_env):
        bus = Bus(tmp_path, extra_env)
        buses.append(bus)
        return bus

    yield start
    for bus in buses:
        bus.stop()


@pytest.fixture
def bus(start_bus):
    return start_bus()


@pytest.fixture
def procs():
    """Subprocesses started by a test; any still running at the end are killed."""
    started = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
            p.wait()


def stop(proc, timeout=10):
    """SIGTERM a worker; return (exit status, stdout, stderr)."""
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err
