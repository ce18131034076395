"""Browser test harness for the admin dashboard (stdlib only).

Drives Debian's Chromium through chromedriver's W3C WebDriver HTTP API with
urllib: no selenium, no playwright. Starts its own `intent-bus serve` with
BUS_SECRET, DASHBOARD_PASSWORD and BUS_ADMIN_SECRET set to random values.

* `bus_server`   one server per test module (fresh database in a temp dir).
* `browser`      one chromedriver + headless Chromium per test module.

Run with:  cd <repo> && /usr/bin/python3 -m pytest tests/browser -q
Binary:    $INTENT_BUS_BIN or <repo>/build/intent-bus
Browser:   /usr/bin/chromium and /usr/bin/chromedriver (scripts/install-deps.sh)
Screenshot to docs/dashboard.png: INTENT_BUS_SCREENSHOT=1
"""

import base64
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("INTENT_BUS_BIN", REPO / "build" / "intent-bus"))
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
START_TIMEOUT = float(os.environ.get("INTENT_BUS_START_TIMEOUT", "15"))

CHROME_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",  # CI containers often have a 64 MB /dev/shm
]

# The W3C "web element identifier" key of an element reference.
ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"

# Talk to 127.0.0.1 directly, whatever http_proxy says.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def browser_missing_reason():
    """Why the browser tests cannot run here, or None when they can."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        return (f"{' and '.join(missing)} not installed: run scripts/install-deps.sh "
                "(Debian packages chromium and chromium-driver)")
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=10.0, interval=0.1, message="condition"):
    """Polls predicate() until it returns something truthy; returns that."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except AssertionError as exc:  # keep the last reason for the timeout message
            last_error = exc
        if time.monotonic() > deadline:
            detail = f": {last_error}" if last_error else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {message}{detail}")
        time.sleep(interval)


# ---------------------------------------------------------------------------
# The bus server and its HTTP API
# ---------------------------------------------------------------------------

class BusServer:
    """One `intent-bus serve` process with an API key, an admin token and a
    dashboard password, all random."""

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.db = self.workdir / "bus.db"
        self.key = secrets.token_hex(16)
        self.admin_token = secrets.token_hex(16)
        self.password = secrets.token_urlsafe(12)
        self.viewer_password = "ro-" + secrets.token_urlsafe(12)
        self.port = None
        self.proc = None
        self._log = None

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        if not BIN.exists():
            pytest.fail(f"server binary {BIN} not found: build it first or set INTENT_BUS_BIN")
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("BUS_")}
        env.update(BUS_SECRET=self.key, DASHBOARD_PASSWORD=self.password,
                   BUS_ADMIN_SECRET=self.admin_token,
                   BUS_ADMIN_READONLY_PASSWORD=self.viewer_password,
                   # completion webhooks on, to a closed loopback port only
                   # (test_job_detail_shows_the_webhook); one attempt, then a long wait
                   BUS_WEBHOOK_ALLOW="127.0.0.1:1", BUS_WEBHOOK_RETRY_BASE_MS="3600000")
        self._log = open(self.workdir / "server.log", "wb")
        self.proc = subprocess.Popen(
            [str(BIN), "serve", "--bind", "127.0.0.1", "--port", str(self.port), "--db", str(self.db)],
            env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited with {self.proc.returncode} during start:\n{self.log()}")
            try:
                if self.request("GET", "/health", auth=None)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"server did not answer /health within {START_TIMEOUT}s:\n{self.log()}")

    def log(self):
        try:
            return (self.workdir / "server.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        return None if self.proc is None else self.proc.returncode

    # -- HTTP ----------------------------------------------------------------
    def request(self, method, path, body=None, auth="key", headers=None):
        """One request; returns (status, headers dict, parsed JSON or raw bytes).

        auth: "key" -> X-API-KEY (main key), "admin" -> X-Admin-Token,
        a string starting with "tk_" -> that tester key, None -> nothing.
        """
        hdrs = dict(headers or {})
        if auth == "key":
            hdrs["X-API-KEY"] = self.key
        elif auth == "admin":
            hdrs["X-Admin-Token"] = self.admin_token
        elif auth is not None:
            hdrs["X-API-KEY"] = auth
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            resp_headers = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        parsed = raw
        if resp_headers.get("content-type", "").startswith("application/json") and raw:
            parsed = json.loads(raw)
        return resp.status, resp_headers, parsed

    def ok(self, method, path, body=None, auth="key", expect=(200, 201)):
        status, _, parsed = self.request(method, path, body, auth=auth)
        assert status in expect, f"{method} {path} -> {status} {parsed!r}"
        return parsed

    # -- shortcuts ---------------------------------------------------------------
    def publish(self, namespace, goal, auth="key", **fields):
        body = {"goal": goal, "payload": {"n": 1}, "namespace": namespace}
        body.update(fields)
        return self.ok("POST", "/intent", body, auth=auth)["id"]

    def claim(self, namespace, goal):
        query = urllib.parse.urlencode({"namespace": namespace, "goal": goal})
        claimed = self.ok("POST", f"/claim?{query}", expect=(200,))
        return claimed["id"], claimed["claim_token"]

    def admin(self, method, path, body=None, expect=(200, 201)):
        return self.ok(method, path, body, auth="admin", expect=expect)


@pytest.fixture(scope="module")
def bus_server():
    workdir = Path(tempfile.mkdtemp(prefix="intent-bus-browser-srv-"))
    server = BusServer(workdir)
    try:
        server.start()
        yield server
        assert server.alive(), f"the server died during the test:\n{server.log()}"
        rc = server.stop()
        assert rc == 0, f"server exited with {rc} on SIGTERM:\n{server.log()}"
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------------------
# WebDriver over urllib
# ---------------------------------------------------------------------------

class WebDriverError(Exception):
    def __init__(self, status, error, message):
        super().__init__(f"WebDriver {status} {error}: {message}")
        self.status = status
        self.error = error
        self.message = message


class Browser:
    """A chromedriver process and one W3C session on it."""

    Error = WebDriverError

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.port = None
        self.proc = None
        self.session = None
        self._log = None

    # -- transport -----------------------------------------------------------------
    def call(self, method, path, body=None, timeout=60):
        url = f"http://127.0.0.1:{self.port}{path}"
        data = None
        if method == "POST":
            data = json.dumps({} if body is None else body).encode("utf-8")
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with _opener.open(req, timeout=timeout) as resp:
                payload = json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                value = json.loads(raw).get("value", {})
            except ValueError:
                value = {"error": "unknown error", "message": raw[:500].decode(errors="replace")}
            raise WebDriverError(exc.code, value.get("error"), value.get("message")) from None
        return payload.get("value")

    def s(self, method, path, body=None, timeout=60):
        """A call inside the session: path is relative to /session/{id}."""
        return self.call(method, f"/session/{self.session}{path}", body, timeout)

    # -- lifecycle -------------------------------------------------------------------
    def start(self):
        self.port = free_port()
        self._log = open(self.workdir / "chromedriver.stdout", "wb")
        # Own process group, so teardown can also stop any Chromium it left behind.
        self.proc = subprocess.Popen(
            [str(CHROMEDRIVER), f"--port={self.port}",
             f"--log-path={self.workdir / 'chromedriver.log'}"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, start_new_session=True)
        wait_until(self._ready, timeout=15, message="chromedriver to answer /status")
        profile = self.workdir / "profile"
        profile.mkdir()
        caps = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "goog:chromeOptions": {
                        "binary": str(CHROMIUM),
                        "args": CHROME_ARGS + [f"--user-data-dir={profile}"],
                    },
                    "goog:loggingPrefs": {"browser": "ALL"},
                }
            }
        }
        try:
            created = self.call("POST", "/session", caps, timeout=90)
        except WebDriverError as exc:
            raise AssertionError(f"could not start Chromium: {exc}\n{self.log()}") from None
        self.session = created["sessionId"]
        self.s("POST", "/timeouts", {"implicit": 0, "pageLoad": 30000, "script": 10000})
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"chromedriver exited with {self.proc.returncode}:\n{self.log()}")
        try:
            return self.call("GET", "/status", timeout=2).get("ready")
        except (OSError, WebDriverError):
            return False

    def log(self):
        parts = []
        for name in ("chromedriver.stdout", "chromedriver.log"):
            try:
                parts.append((self.workdir / name).read_text(errors="replace")[-3000:])
            except OSError:
                pass
        return "\n".join(parts)

    def quit(self):
        if self.session is not None:
            try:
                self.call("DELETE", f"/session/{self.session}", timeout=20)
            except (OSError, WebDriverError):
                pass
            self.session = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            try:  # anything still in chromedriver's own process group
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- commands ----------------------------------------------------------------------
    def get(self, url):
        self.s("POST", "/url", {"url": url})

    def current_url(self):
        return self.s("GET", "/url")

    def execute(self, script, *args):
        return self.s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def cdp(self, cmd, params=None):
        """A Chrome DevTools Protocol command through chromedriver."""
        return self.s("POST", "/goog/cdp/execute", {"cmd": cmd, "params": params or {}})

    def find(self, css):
        """Element references for a CSS selector (possibly none)."""
        found = self.s("POST", "/elements", {"using": "css selector", "value": css})
        return [e[ELEMENT_KEY] for e in found]

    def find_one(self, css):
        found = self.find(css)
        assert found, f"no element matches {css!r}"
        return found[0]

    @staticmethod
    def element_ref(element):
        """An element id as a script argument."""
        return {ELEMENT_KEY: element}

    def text(self, element):
        return self.s("GET", f"/element/{element}/text")

    def click(self, element):
        self.s("POST", f"/element/{element}/click")

    def screenshot(self):
        """The viewport as PNG bytes."""
        return base64.b64decode(self.s("GET", "/screenshot"))

    def set_window(self, width, height):
        return self.s("POST", "/window/rect", {"width": width, "height": height})

    def alert_text(self):
        """The text of an open alert/confirm dialog, or None."""
        try:
            return self.s("GET", "/alert/text")
        except WebDriverError as exc:
            if exc.error == "no such alert":
                return None
            raise

    def console(self):
        """Browser console entries since the last call (chromedriver extension)."""
        try:
            return self.s("POST", "/se/log", {"type": "browser"})
        except WebDriverError:
            return None


@pytest.fixture(scope="module")
def browser():
    reason = browser_missing_reason()
    if reason:
        pytest.skip(reason)
    workdir = Path(tempfile.mkdtemp(prefix="intent-bus-browser-"))
    driver = Browser(workdir)
    try:
        driver.start()
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(workdir, ignore_errors=True)
