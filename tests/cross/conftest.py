"""Harness for the cross-client tests: one job, two different clients.

A real `intent-bus serve` that requires signatures on every client request
(BUS_REQUIRE_SIGNATURES=true), so each job also proves that the Python SDK
and the CLI (libintentbus) sign the same way the server checks.

Binary: $INTENT_BUS_BIN, else <repo>/build/intent-bus. The SDK is imported
from sdk/python without installing it.
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = str(Path(os.environ.get("INTENT_BUS_BIN", REPO / "build" / "intent-bus")))
sys.path.insert(0, str(Path(REPO) / "tests" / "support"))
from bus_database import serve_database_args  # noqa: E402
sys.path.insert(0, str(REPO / "sdk" / "python"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bus:
    """One `intent-bus serve` on a free loopback port and a temporary database."""

    def __init__(self, workdir):
        self.url = f"http://127.0.0.1:{free_port()}"
        self.key = "cross-key-" + secrets.token_hex(16)
        self.admin = "cross-admin-" + secrets.token_hex(16)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BUS_")}
        env.update(BUS_SECRET=self.key, BUS_ADMIN_SECRET=self.admin,
                   BUS_REQUIRE_SIGNATURES="true", BUS_LOG_LEVEL="warn")
        self.log = open(workdir / "server.log", "wb")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--bind", "127.0.0.1", "--port", self.url.rsplit(":", 1)[1],
             *serve_database_args(workdir)],
            env=env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while True:
            assert self.proc.poll() is None, f"server exited with {self.proc.returncode}"
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1):
                    return
            except (urllib.error.URLError, OSError):
                assert time.monotonic() < deadline, "server did not become healthy"
                time.sleep(0.05)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def tester_key(self, owner):
        request = urllib.request.Request(
            self.url + "/admin/generate_key", method="POST",
            data=json.dumps({"owner": owner}).encode(),
            headers={"X-Admin-Token": self.admin, "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["api_key"]

    def cli_env(self, key=None):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("INTENT_") and not k.startswith("BUS_")}
        env.update(INTENT_BUS_URL=self.url, INTENT_API_KEY=key or self.key)
        return env

    def cli(self, *args, key=None, timeout=30):
        """Runs a CLI subcommand that must succeed; returns its stdout."""
        done = subprocess.run([BIN, *args], env=self.cli_env(key), capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, (args, done.returncode, done.stdout, done.stderr)
        return done.stdout

    def listen(self, goal, command, *extra, key=None):
        """Starts `intent-bus listen`; stop it with stop()."""
        return subprocess.Popen([BIN, "listen", goal, "-c", command, "--wait", "1", *extra],
                                env=self.cli_env(key), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)

    def sdk(self, key=None):
        from intent_bus import IntentClient
        return IntentClient(self.url, key or self.key)


def stop(listener):
    """SIGTERM a listener; returns its stderr after checking it exited 0."""
    listener.send_signal(signal.SIGTERM)
    _, err = listener.communicate(timeout=15)
    assert listener.returncode == 0, err
    return err


@pytest.fixture(scope="session")
def bus(tmp_path_factory):
    server = Bus(tmp_path_factory.mktemp("cross"))
    yield server
    server.stop()


@pytest.fixture
def ns():
    return f"cross-{os.getpid()}-{secrets.token_hex(4)}"
