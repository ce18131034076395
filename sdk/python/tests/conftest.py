"""Test harness for the Python SDK: real `intent-bus serve` processes.

Binary: $INTENT_BUS_BIN, else <repo>/build/intent-bus (the repository holding
sdk/python). Servers are started on a free loopback port with a temporary
database, polled on /health, and stopped with SIGTERM at the end of the
session. The SDK is imported from sdk/python (no installation needed).

Run:  /usr/bin/python3 -m pytest sdk/python/tests -q -p no:cacheprovider
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import os
import queue
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

SDK_DIR = Path(__file__).resolve().parents[1]
REPO = SDK_DIR.parents[1]
sys.path.insert(0, str(SDK_DIR))

from intent_bus import IntentClient  # noqa: E402

BIN = Path(os.environ.get("INTENT_BUS_BIN", str(REPO / "build" / "intent-bus")))
sys.path.insert(0, str(Path(REPO) / "tests" / "support"))
from bus_database import serve_database_args  # noqa: E402
if not BIN.is_absolute():
    BIN = REPO / BIN


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique(prefix: str = "t") -> str:
    """A name unique to this session, valid as a namespace, goal or key."""
    return f"{prefix}-{os.getpid()}-{secrets.token_hex(4)}"


class Server:
    """One `intent-bus serve` process."""

    def __init__(self, workdir: Path, env: Optional[Dict[str, str]] = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.key = "sk-" + secrets.token_hex(16)
        self.admin_secret = "adm-" + secrets.token_hex(16)
        self.env = {"BUS_ADMIN_SECRET": self.admin_secret, **(env or {})}
        self.port = free_port()
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = workdir / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> "Server":
        if not BIN.exists():
            pytest.fail(f"server binary {BIN} not found: build it or set INTENT_BUS_BIN")
        env = {k: v for k, v in os.environ.items() if not k.startswith("BUS_")}
        env.update(self.env)
        env["BUS_SECRET"] = self.key
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(BIN), "serve", "--bind", "127.0.0.1", "--port", str(self.port),
             *serve_database_args(self.workdir)],
            env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/health")
                resp = conn.getresponse()
                resp.read()
                conn.close()
                if resp.status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"server did not answer /health within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> Optional[int]:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def client(self, key: Optional[str] = None, **kw: Any) -> IntentClient:
        return IntentClient(self.url, key or self.key, **kw)

    def admin(self, method: str, path: str, body: Any = None) -> Tuple[int, Any]:
        """An admin request (X-Admin-Token); returns (status, decoded JSON)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"X-Admin-Token": self.admin_secret})
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
        return resp.status, (json.loads(raw) if raw else None)

    def tester_key(self, owner: str = "tester") -> str:
        status, data = self.admin("POST", "/admin/generate_key", {"owner": owner})
        assert status == 201, (status, data)
        return data["api_key"]


class _Servers:
    """Session-wide servers, one per configuration, started on first use."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.running: Dict[str, Server] = {}

    def get(self, name: str, env: Optional[Dict[str, str]] = None) -> Server:
        srv = self.running.get(name)
        if srv is None or srv.proc is None or srv.proc.poll() is not None:
            srv = Server(self.base / f"{name}-{secrets.token_hex(2)}", env).start()
            self.running[name] = srv
        return srv

    def stop_all(self) -> None:
        problems = []
        for name, srv in self.running.items():
            alive = srv.proc is not None and srv.proc.poll() is None
            rc = srv.stop()
            if alive and rc != 0:
                problems.append(f"{name}: exit {rc}\n{srv.log()}")
        assert not problems, "\n".join(problems)


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Servers]:
    holder = _Servers(tmp_path_factory.mktemp("servers"))
    yield holder
    holder.stop_all()


@pytest.fixture
def server(servers: _Servers) -> Server:
    """Default settings (plus admin credentials and a high tester rate limit)."""
    return servers.get("default", {"BUS_TESTER_RATE_LIMIT": "100000"})


@pytest.fixture
def client(server: Server) -> Iterator[IntentClient]:
    with server.client() as c:
        yield c


@pytest.fixture
def ns() -> str:
    return unique("ns")


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.05, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@contextlib.contextmanager
def deadline(event: threading.Event, seconds: float = 20.0) -> Iterator[None]:
    """Set ``event`` after ``seconds`` so a worker loop under test cannot hang the suite."""
    timer = threading.Timer(seconds, event.set)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


# ---------------------------------------------------------------------------
# A scripted fake bus, for what a real server cannot be made to do on demand
# (database_busy, invalid_payload, dropped connections, counting retries).


class FakeBus:
    """An HTTP/1.1 keep-alive server answering from a script.

    ``script`` holds items ``(status, headers, body_dict_or_None)`` or the
    string ``"drop"`` (read the request, close without answering). When the
    script is empty the answer is ``default``. ``requests`` records
    ``(method, target, headers, body)`` of every request.
    """

    def __init__(self) -> None:
        self.script: "queue.Queue[Any]" = queue.Queue()
        self.default: Any = (200, {}, {"ok": True})
        self.requests: List[Tuple[str, str, Dict[str, str], bytes]] = []
        self.connections: List[socket.socket] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                fake.connections.append(self.connection)

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fake.requests.append((self.command, self.path, dict(self.headers.items()), body))
                try:
                    item = fake.script.get_nowait()
                except queue.Empty:
                    item = fake.default
                if item == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                status, headers, payload = item
                raw = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if status != 204:
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                if raw:
                    self.wfile.write(raw)

            do_GET = _serve
            do_POST = _serve

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def push(self, *items: Any) -> None:
        for item in items:
            self.script.put(item)

    def drop_idle_connections(self) -> None:
        """Close every connection from the server's side."""
        for conn in self.connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def err(status: int, code: str, headers: Optional[Dict[str, str]] = None) -> Tuple[int, Dict[str, str], Any]:
    """A scripted protocol error answer."""
    return (status, headers or {}, {"error": {"code": code, "message": f"scripted {code}"}})


@pytest.fixture
def fake() -> Iterator[FakeBus]:
    bus = FakeBus()
    yield bus
    bus.close()
