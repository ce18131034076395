"""Black-box HTTP test harness for the Intent Bus server.

Everything here talks to a real `intent-bus serve` process over TCP.

* `server_factory` starts servers with custom environment / database paths
  (lease-expiry tests, secret handling, durability).
* `shared_server` is one server per test session (default settings).
* `bus` is a keep-alive client bound to the shared server with a fresh,
  unique namespace in `bus.ns`, so tests never see each other's intents.

Every response that passes through `Client.request` is checked centrally:
the security headers of PROTOCOL.md "Every response", no 5xx, JSON
Content-Type on non-empty bodies, an empty body on 204, and the exact error
shape {"error": {"code": str, "message": str}} on every 4xx.

Run with:  cd <repo> && /usr/bin/python3 -m pytest tests/http -q
Binary:    $INTENT_BUS_BIN or <repo>/build/intent-bus

On PostgreSQL: with $INTENT_BUS_DATABASE_URL set (a superuser's URL of a
throw-away cluster, scripts/pg-cluster.sh), every server runs with
`--database` on a database of its own, created for it (one per `db` path, so
a restart on the same `db` finds its data again). Tests of SQLite's files
are skipped there (`sqlite_only`).
"""

import http.client
import itertools
import json
import os
import re
import secrets
import select
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.parse
from collections import namedtuple
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("INTENT_BUS_BIN", REPO / "build" / "intent-bus"))
START_TIMEOUT = float(os.environ.get("INTENT_BUS_START_TIMEOUT", "15"))

SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "x-intent-version": "2.1",
}

HEX32 = re.compile(r"^[0-9a-f]{32}$")

POSTGRES_URL = os.environ.get("INTENT_BUS_DATABASE_URL", "")
ON_POSTGRES = bool(POSTGRES_URL)


def sqlite_only(reason):
    """Marks a test of the SQLite backend's files: skipped on PostgreSQL."""
    return pytest.mark.skipif(ON_POSTGRES, reason=f"SQLite only: {reason}")


def postgres_url(database):
    """POSTGRES_URL naming another database of the same cluster."""
    match = re.match(r"^(postgres(?:ql)?://[^/?]*)(/[^?]*)?(\?.*)?$", POSTGRES_URL)
    assert match, f"INTENT_BUS_DATABASE_URL is not a postgresql:// URI: {POSTGRES_URL}"
    return f"{match[1]}/{database}{match[3] or ''}"


def postgres_createdb():
    """A fresh, empty database on the test cluster; returns its URL."""
    name = f"bus_{secrets.token_hex(8)}"
    subprocess.run(["psql", POSTGRES_URL, "-qAtc", f'CREATE DATABASE "{name}"'], check=True,
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    return postgres_url(name)


_postgres_databases = {}  # a server's db path -> the URL of the database standing in for it


def postgres_database_for(db_path):
    key = str(Path(db_path).resolve())
    if key not in _postgres_databases:
        _postgres_databases[key] = postgres_createdb()
    return _postgres_databases[key]

DEFAULT = object()  # "use the client's own key"
OMIT = object()  # "leave this field out of the request body"

Response = namedtuple("Response", "status headers json raw")

# The SQLite schema version a server leaves a database at (SCHEMA_LATEST in
# src/store/sqlite.c): 7 attempts, 8 webhooks, 9 the time-ordered nonce log,
# 10 the claim index of open rows alone, 11 attempt rows written when attempts
# end, 12 the cap's index of capped intents alone.
SQLITE_SCHEMA_LATEST = 12

_counter = itertools.count()


def unique(prefix="t"):
    """A name unique within this test session, valid as a namespace/goal/key."""
    return f"{prefix}-{os.getpid()}-{next(_counter)}-{secrets.token_hex(3)}"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def check_response(method, path, status, headers, header_list, raw):
    """The central per-response assertions. Returns the parsed JSON (or None)."""
    where = f"{method} {path} -> {status}"
    assert status < 500, f"{where}: server error, body={raw[:300]!r}"
    for name, value in SECURITY_HEADERS.items():
        got = [v for (n, v) in header_list if n.lower() == name]
        assert got == [value], f"{where}: header {name} expected [{value!r}], got {got!r}"
    if status == 204 or status == 304:
        assert raw == b"", f"{where}: 204 must have an empty body, got {raw[:200]!r}"
        return None
    if method == "HEAD":
        return None
    ctype = headers.get("content-type", "")
    assert ctype.split(";")[0].strip().lower() == "application/json", (
        f"{where}: Content-Type {ctype!r}, body={raw[:200]!r}"
    )
    try:
        parsed = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:  # pragma: no cover - assertion path
        raise AssertionError(f"{where}: body is not JSON ({exc}): {raw[:300]!r}")
    if 400 <= status < 500:
        assert isinstance(parsed, dict) and set(parsed) == {"error"}, f"{where}: bad error shape {parsed!r}"
        err = parsed["error"]
        assert isinstance(err, dict) and set(err) == {"code", "message"}, f"{where}: bad error shape {parsed!r}"
        assert isinstance(err["code"], str) and re.fullmatch(r"[a-z][a-z0-9_]*", err["code"]), (
            f"{where}: error code not snake_case: {parsed!r}"
        )
        assert isinstance(err["message"], str) and err["message"], f"{where}: empty message {parsed!r}"
    return parsed


class Client:
    """Keep-alive HTTP client for one server. Not thread-safe: one per thread."""

    def __init__(self, port, key, ns=None, host="127.0.0.1", timeout=30):
        self.host = host
        self.port = port
        self.key = key
        self.ns = ns or unique("ns")
        self.timeout = timeout
        self.conn = None

    # -- transport -------------------------------------------------------
    def _connect(self):
        self.close()
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, headers=None, key=DEFAULT, params=None,
                check=True, chunked=False):
        """Send one request; returns Response(status, headers, json, raw).

        body: dict/list -> JSON; bytes -> raw; str -> UTF-8 raw; None -> no body.
        key: DEFAULT -> the client's key; None -> no X-API-KEY header; str -> that key.
        params: dict/list of pairs -> query string.
        """
        if params:
            path = path + ("&" if "?" in path else "?") + urllib.parse.urlencode(params)
        hdrs = {}
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode("utf-8")
        elif isinstance(body, str):
            data = body.encode("utf-8")
        else:
            data = body
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        if key is DEFAULT:
            key = self.key
        if key is not None:
            hdrs["X-API-KEY"] = key
        if headers:
            hdrs.update(headers)
        for attempt in (0, 1):
            if self.conn is None:
                self._connect()
            sent = False
            try:
                if chunked:
                    chunks = [data[i:i + 1000] for i in range(0, len(data), 1000)] if data else []
                    self.conn.request(method, path, body=iter(chunks), headers=hdrs, encode_chunked=True)
                else:
                    self.conn.request(method, path, body=data, headers=hdrs)
                sent = True
                resp = self.conn.getresponse()
                raw = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                # A stale keep-alive connection: the server closed it before it saw
                # this request. Retry once on a fresh connection.
                self.close()
                if attempt == 1 or (sent and not isinstance(exc, http.client.RemoteDisconnected)):
                    raise
                continue
            break
        header_list = resp.getheaders()
        headers_out = {}
        for n, v in header_list:
            n = n.lower()
            headers_out[n] = v if n not in headers_out else headers_out[n] + ", " + v
        if resp.will_close:
            self.close()
        parsed = check_response(method, path, resp.status, headers_out, header_list, raw) if check else None
        if not check and raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
        return Response(resp.status, headers_out, parsed, raw)

    # -- shortcuts -------------------------------------------------------
    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def intent_body(self, **fields):
        body = {"goal": "job", "payload": {"n": 1}, "namespace": self.ns}
        body.update(fields)
        return {k: v for k, v in body.items() if v is not OMIT}

    def publish_raw(self, headers=None, **fields):
        return self.post("/intent", self.intent_body(**fields), headers=headers)

    def publish(self, **fields):
        """Publish in this client's namespace (unless overridden); returns the id."""
        r = self.publish_raw(**fields)
        assert r.status == 201, f"publish failed: {r.status} {r.raw!r}"
        assert HEX32.match(r.json["id"]), r.json
        return r.json["id"]

    def claim(self, namespace=DEFAULT, headers=None, body=None, **params):
        """POST /claim in this client's namespace (query parameters)."""
        q = {}
        if namespace is DEFAULT:
            q["namespace"] = self.ns
        elif namespace is not None:
            q["namespace"] = namespace
        q.update({k: v for k, v in params.items() if v is not None})
        return self.post("/claim", body, headers=headers, params=q)

    def claim_ok(self, **kw):
        r = self.claim(**kw)
        assert r.status == 200, f"claim expected 200, got {r.status} {r.raw!r}"
        return r.json

    def claim_none(self, **kw):
        r = self.claim(**kw)
        assert r.status == 204, f"claim expected 204, got {r.status} {r.raw!r}"
        assert r.headers.get("retry-after") == "1", r.headers
        return r

    def fulfill(self, intent_id, token, **fields):
        body = {"claim_token": token}
        body.update(fields)
        return self.post(f"/fulfill/{intent_id}", body)

    def fail(self, intent_id, token, **fields):
        body = {"claim_token": token}
        body.update(fields)
        return self.post(f"/fail/{intent_id}", body)

    def extend(self, intent_id, token, **fields):
        body = {"claim_token": token}
        body.update(fields)
        return self.post(f"/extend_claim/{intent_id}", body)

    def status(self, intent_id):
        r = self.get(f"/status/{intent_id}")
        assert r.status == 200, f"/status expected 200, got {r.status} {r.raw!r}"
        return r.json

    def result(self, intent_id):
        r = self.get(f"/result/{intent_id}")
        assert r.status == 200, f"/result expected 200, got {r.status} {r.raw!r}"
        return r.json


def assert_error(resp, status, code):
    assert resp.status == status, f"expected {status} {code}, got {resp.status} {resp.raw!r}"
    assert resp.json["error"]["code"] == code, f"expected code {code}, got {resp.json!r}"


class Server:
    """One `intent-bus serve` process."""

    def __init__(self, workdir, env=None, secret=DEFAULT, db=None, port=None, extra_args=()):
        if ON_POSTGRES and secret is None:
            pytest.skip("SQLite only: a generated key is kept in a file beside the SQLite "
                        "database; on PostgreSQL BUS_SECRET is required")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db = Path(db) if db else self.workdir / "bus.db"
        self.secret = secrets.token_hex(16) if secret is DEFAULT else secret
        self.extra_env = dict(env or {})
        self.extra_args = list(extra_args)
        self.port = port
        self.proc = None
        self.stderr_path = None
        self._runs = 0
        self.clients = []

    @property
    def key(self):
        """The API key to use: BUS_SECRET, or the generated one from <db>.secret."""
        if self.secret is not None:
            return self.secret
        return self.secret_file.read_text().strip()

    @property
    def secret_file(self):
        return Path(str(self.db) + ".secret")

    @property
    def database_url(self):
        """On PostgreSQL, the database standing in for self.db."""
        return postgres_database_for(self.db) if ON_POSTGRES else None

    def command(self):
        database = ["--database", self.database_url] if ON_POSTGRES else ["--db", str(self.db)]
        return [str(BIN), "serve", "--bind", "127.0.0.1", "--port", str(self.port),
                *database, *self.extra_args]

    def environment(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("BUS_")}
        if self.secret is not None:
            env["BUS_SECRET"] = self.secret
        env.update(self.extra_env)
        return env

    def spawn(self):
        """Start the process without waiting for it to be ready."""
        if not BIN.exists():
            pytest.fail(f"server binary {BIN} not found: build it first or set INTENT_BUS_BIN")
        if self.port is None:
            self.port = free_port()
        self._runs += 1
        self.stderr_path = self.workdir / f"server-{self._runs}.stderr"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.command(), env=self.environment(), stdin=subprocess.DEVNULL,
                                     stdout=self._stderr, stderr=self._stderr)
        return self.proc

    def start(self, timeout=START_TIMEOUT):
        self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited with {self.proc.returncode} during start:\n{self.stderr()}")
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
        self.kill()
        pytest.fail(f"server did not answer /health within {timeout}s:\n{self.stderr()}")

    def stderr_all(self):
        """Everything the server wrote to stderr so far ("" if none)."""
        try:
            return self.stderr_path.read_text(errors="replace")
        except (OSError, AttributeError):
            return ""

    def stderr(self):
        return self.stderr_all()[-4000:]

    def log_lines(self, until=lambda lines: bool(lines), timeout=5):
        """The access log's lines (msg=request) in the whole stderr, read
        again until until(lines) holds or timeout seconds pass: each HTTP
        thread writes its lines when it next waits, just after answering."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [line for line in self.stderr_all().splitlines() if "msg=request" in line]
            if until(lines) or time.monotonic() >= deadline:
                return lines
            time.sleep(0.02)

    SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                         "WARNING: ThreadSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")

    def sanitizer_report(self):
        """Sanitizer findings in any stderr file of this server ('' when clean)."""
        found = []
        for f in sorted(self.workdir.glob("server-*.stderr")):
            text = f.read_text(errors="replace")
            if any(m in text for m in self.SANITIZER_MARKERS):
                found.append(f"--- {f.name}\n{text[-6000:]}")
        return "\n".join(found)

    def shutdown_and_check(self):
        """Graceful stop; asserts a clean exit and no sanitizer reports."""
        was_alive = self.alive()
        rc = self.stop()
        report = self.sanitizer_report()
        assert not report, f"sanitizer report from the server:\n{report}"
        if was_alive:
            assert rc == 0, f"server exited with {rc} on SIGTERM:\n{self.stderr()}"

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _close_clients(self):
        for c in self.clients:
            c.close()

    def stop(self, timeout=10):
        """SIGTERM, wait, SIGKILL if needed. Returns the exit code."""
        self._close_clients()
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()
        return self.proc.returncode

    def kill(self):
        """kill -9."""
        self._close_clients()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc is not None and not self._stderr.closed:
            self._stderr.close()

    def restart(self):
        self.stop()
        return self.start()

    def client(self, ns=None, key=DEFAULT):
        c = Client(self.port, self.key if key is DEFAULT else key, ns=ns)
        self.clients.append(c)
        return c


@pytest.fixture
def server_factory(tmp_path):
    """Start servers with custom settings: server_factory(env={...}, secret=..., db=...)."""
    started = []

    def make(env=None, secret=DEFAULT, db=None, start=True, name=None, extra_args=()):
        workdir = tmp_path / (name or f"srv{len(started)}")
        srv = Server(workdir, env=env, secret=secret, db=db, extra_args=extra_args)
        started.append(srv)
        if start:
            srv.start()
        return srv

    yield make
    problems = []
    for srv in started:
        try:
            srv.shutdown_and_check()
        except AssertionError as exc:
            problems.append(str(exc))
        finally:
            srv.kill()
    assert not problems, "\n".join(problems)


class _Shared:
    server = None


@pytest.fixture(scope="session")
def _shared_holder(tmp_path_factory):
    holder = _Shared()
    holder.workdir = tmp_path_factory.mktemp("shared")
    yield holder
    if holder.server is not None:
        holder.server.shutdown_and_check()


@pytest.fixture
def shared_server(_shared_holder):
    """The session's default-settings server (restarted if a previous test killed it)."""
    h = _shared_holder
    if h.server is None or not h.server.alive():
        if h.server is not None:
            h.server.kill()
            report = h.server.sanitizer_report()
            assert not report, f"the shared server died:\n{report}"
        h.server = Server(h.workdir / f"run{secrets.token_hex(2)}")
        h.server.start()
    return h.server


@pytest.fixture
def bus(shared_server):
    """A keep-alive client on the shared server with a fresh namespace (bus.ns)."""
    client = Client(shared_server.port, shared_server.key)
    yield client
    client.close()
    assert shared_server.alive(), f"server died during this test:\n{shared_server.stderr()}"


def wait_until(predicate, timeout=5.0, interval=0.1, message="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def _lease_holder(tmp_path_factory):
    holder = _Shared()
    holder.workdir = tmp_path_factory.mktemp("lease1")
    yield holder
    if holder.server is not None:
        holder.server.shutdown_and_check()


@pytest.fixture
def lease_server(_lease_holder):
    """A shared server whose leases last 1 second (BUS_CLAIM_TIMEOUT_SECONDS=1)."""
    h = _lease_holder
    if h.server is None or not h.server.alive():
        if h.server is not None:
            h.server.kill()
        h.server = Server(h.workdir / f"run{secrets.token_hex(2)}", env={"BUS_CLAIM_TIMEOUT_SECONDS": "1"})
        h.server.start()
    return h.server


@pytest.fixture
def lbus(lease_server):
    """Like `bus`, on the 1-second-lease server."""
    client = Client(lease_server.port, lease_server.key)
    yield client
    client.close()
    assert lease_server.alive(), f"server died during this test:\n{lease_server.stderr()}"


# ---------------------------------------------------------------------------
# Admin API helpers (test_admin.py, test_tester_keys.py, test_limits.py,
# test_maintenance.py). Additive only: nothing above depends on them.

TK_KEY = re.compile(r"^tk_[0-9a-f]{64}$")


def basic_auth(user, password):
    """An `Authorization: Basic` header for user:password."""
    import base64
    token = base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")
    return {"Authorization": "Basic " + token}


class AdminClient(Client):
    """A keep-alive client for admin routes: sends `auth` headers (X-Admin-Token
    or Basic) on every request and no X-API-KEY unless key= is given."""

    def __init__(self, port, auth, ns=None):
        super().__init__(port, key=None, ns=ns)
        self.auth = dict(auth)

    def request(self, method, path, body=None, headers=None, **kw):
        hdrs = dict(self.auth)
        hdrs.update(headers or {})
        return super().request(method, path, body, headers=hdrs, **kw)

    def generate_key(self, owner="tester"):
        r = self.post("/admin/generate_key", {"owner": owner})
        assert r.status == 201, f"generate_key: {r.status} {r.raw!r}"
        assert TK_KEY.match(r.json["api_key"]), r.json
        return r.json["api_key"]

    def revoke_key(self, api_key):
        return self.post("/admin/revoke_key", {"api_key": api_key})

    def intent(self, intent_id):
        r = self.get(f"/admin/intents/{intent_id}")
        assert r.status == 200, f"/admin/intents/{intent_id}: {r.status} {r.raw!r}"
        return r.json

    def stats(self):
        r = self.get("/admin/stats")
        assert r.status == 200, f"/admin/stats: {r.status} {r.raw!r}"
        return r.json


def admin_client(srv, auth=None):
    """An AdminClient for `srv` (X-Admin-Token: srv.admin_secret unless auth is given)."""
    if auth is None:
        auth = {"X-Admin-Token": srv.extra_env["BUS_ADMIN_SECRET"]}
    c = AdminClient(srv.port, auth)
    srv.clients.append(c)
    return c


def admin_env(**extra):
    """Environment for a server with both admin credentials set (fresh random values)."""
    env = {"BUS_ADMIN_SECRET": "adm-" + secrets.token_hex(16),
           "DASHBOARD_PASSWORD": "pw-" + secrets.token_hex(12)}
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def _admin_holder(tmp_path_factory):
    holder = _Shared()
    holder.workdir = tmp_path_factory.mktemp("admin")
    yield holder
    if holder.server is not None:
        holder.server.shutdown_and_check()


@pytest.fixture
def admin_server(_admin_holder):
    """A shared server with BUS_ADMIN_SECRET and DASHBOARD_PASSWORD set and a
    tester rate limit high enough (100000/min) not to get in the way.
    Tests on it use unique namespaces and must not purge everything."""
    h = _admin_holder
    if h.server is None or not h.server.alive():
        if h.server is not None:
            h.server.kill()
            report = h.server.sanitizer_report()
            assert not report, f"the admin server died:\n{report}"
        h.server = Server(h.workdir / f"run{secrets.token_hex(2)}",
                          env=admin_env(BUS_TESTER_RATE_LIMIT="100000"))
        h.server.start()
    yield h.server
    assert h.server.alive(), f"server died during this test:\n{h.server.stderr()}"


@pytest.fixture
def admin(admin_server):
    """An AdminClient (X-Admin-Token) on the shared admin server."""
    c = admin_client(admin_server)
    yield c
    c.close()


def answered_once_unlocked(srv, method, target, headers, body=None):
    """Sends a request to a one-thread server while SQLite's write lock is
    held from outside: a request on another connection must still be
    answered, and this one not before the lock goes. Its status and JSON."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    other = Client(srv.port, srv.key, timeout=3)  # the writer gives up after 5 s
    lock = sqlite3.connect(srv.db, timeout=5, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        conn.request(method, target, body=body, headers=headers)
        assert other.get("/health").status == 200
        waiting, _, _ = select.select([conn.sock], [], [], 0)
        assert not waiting, f"{method} {target} was answered before its write was committed"
    finally:
        lock.execute("ROLLBACK")
        lock.close()
        other.close()
    answer = conn.getresponse()
    status, data = answer.status, json.loads(answer.read())
    conn.close()
    return status, data
