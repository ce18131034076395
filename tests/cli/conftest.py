"""Harness for the intent-bus client subcommands (docs/CLI.md).

Each test drives the real `intent-bus` binary as a subprocess against a real
`intent-bus serve` on a free loopback port with a temporary database, the way
a user's shell would: INTENT_BUS_URL and INTENT_API_KEY in the environment,
HOME pointing at an empty temporary directory (so a developer's own
~/.apikey never leaks in).

Run with:  cd <repo> && /usr/bin/python3 -m pytest tests/cli -q -p no:cacheprovider
Binary:    $INTENT_BUS_BIN or <repo>/build/intent-bus
"""

import itertools
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

_counter = itertools.count()


def unique(prefix="t"):
    """A name unique within the session, valid as a goal, namespace or key."""
    return f"{prefix}-{os.getpid()}-{next(_counter)}-{secrets.token_hex(3)}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `intent-bus serve` process."""

    def __init__(self, workdir, extra_env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.key = "cli-test-key-" + secrets.token_hex(16)
        self.admin = "cli-admin-" + secrets.token_hex(16)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BUS_")}
        env.update(BUS_SECRET=self.key, BUS_ADMIN_SECRET=self.admin, BUS_LOG_LEVEL="warn")
        env.update(extra_env or {})
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = open(workdir / "server.log", "wb")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--bind", "127.0.0.1", "--port", str(self.port),
             *serve_database_args(workdir)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_healthy()

    def _wait_healthy(self):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.05)
        raise RuntimeError("server did not become healthy")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def http(self, method, path, body=None, key=None):
        """A direct request (not through the CLI), to check what the CLI did."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("X-API-KEY", key or self.key)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def result(self, intent_id):
        status, body = self.http("GET", f"/result/{intent_id}")
        assert status == 200, body
        return body

    def wait_for(self, intent_id, statuses=("fulfilled", "dead"), timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.result(intent_id)
            if body["status"] in statuses:
                return body
            time.sleep(0.1)
        raise AssertionError(f"{intent_id} still {body['status']} after {timeout}s")


class Cli:
    """Runs `intent-bus` subcommands against one server."""

    def __init__(self, server, home):
        self.server = server
        self.home = home
        home.mkdir(parents=True, exist_ok=True)

    def env(self, **overrides):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("INTENT_") and not k.startswith("BUS_")}
        env.update(HOME=str(self.home), INTENT_BUS_URL=self.server.url,
                   INTENT_API_KEY=self.server.key)
        for name, value in overrides.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def run(self, *args, env=None, input=None, timeout=30):
        """Runs one subcommand to its end: CompletedProcess with text output."""
        return subprocess.run([BIN, *args], env=env or self.env(), input=input,
                              capture_output=True, text=True, timeout=timeout)

    def ok(self, *args, **kwargs):
        """Runs a subcommand that must succeed; returns its stdout."""
        done = self.run(*args, **kwargs)
        assert done.returncode == 0, (args, done.returncode, done.stdout, done.stderr)
        return done.stdout

    def json(self, *args, **kwargs):
        return json.loads(self.ok(*args, **kwargs))

    def publish(self, goal, payload, *extra):
        return self.ok("publish", goal, json.dumps(payload), *extra).strip()

    def listen(self, goal, command, *extra, env=None, log=None):
        """Starts a listener; stop it with stop_listener(). Its claims wait
        1 s unless extra says otherwise."""
        if "--wait" not in extra:
            extra = (*extra, "--wait", "1")
        return subprocess.Popen([BIN, "listen", goal, "-c", command, *extra],
                                env=env or self.env(), stdout=subprocess.PIPE,
                                stderr=log or subprocess.PIPE, text=True)


def stop_listener(proc, timeout=15):
    """SIGTERM, then its exit code and stderr."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"listener did not stop on SIGTERM; stderr: {err}")
    return proc.returncode, err


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    bus = Server(tmp_path_factory.mktemp("bus"))
    yield bus
    bus.stop()


@pytest.fixture
def cli(server, tmp_path):
    return Cli(server, tmp_path / "home")


@pytest.fixture
def ns():
    return unique("ns")
