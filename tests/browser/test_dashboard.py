"""The admin dashboard in a real browser (headless Chromium via WebDriver).

Seeds a fresh bus through its API, opens /admin/dashboard with the admin
password, and checks that the page shows what the admin API says, escapes
what it shows, and that its Retry / Cancel buttons work.

Authentication in the browser: the page is opened as
http://admin:<password>@127.0.0.1:<port>/admin/dashboard. Chromium answers
the server's 401 challenge with those credentials, keeps them in its HTTP
auth cache, and re-sends them for the page's script, style and same-origin
fetch() calls (the page builds its URLs from location.origin, so they carry
no user:password@ part, which fetch() would refuse). Should a Chromium ever
stop doing that, the test falls back to an Authorization header set through
the DevTools protocol (Network.setExtraHTTPHeaders via chromedriver's
goog/cdp/execute) and says so; INTENT_BUS_BROWSER_AUTH=cdp forces that path.
"""

import base64
import os
import re
import time
from pathlib import Path

import pytest

# Nothing is imported from conftest.py: tests/http has a conftest module of
# the same name, and in a run over both directories `import conftest` would
# find whichever pytest loaded last. The fixtures carry what is needed.

REPO = Path(__file__).resolve().parents[2]
_MISSING = [p for p in ("/usr/bin/chromium", "/usr/bin/chromedriver") if not os.access(p, os.X_OK)]
pytestmark = pytest.mark.skipif(
    bool(_MISSING),
    reason=f"{' and '.join(_MISSING)} not installed: run scripts/install-deps.sh "
           "(Debian packages chromium and chromium-driver)")

DASHBOARD_DIR = REPO / "src" / "serve" / "dashboard"
SCREENSHOT_DOC = REPO / "docs" / "dashboard.png"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STATUSES = ("open", "claimed", "expired", "fulfilled", "dead")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

NS_BILLING = "billing"
NS_MAIL = "mail.eu-1"  # '.' and '-' in element ids
NS_SANDBOX = "sandbox"
XSS_GOAL = "<img src=x onerror=alert(1)>"
XSS_ERROR = "<script>alert(2)</script>"
MAIL_ERROR = "SMTP 421 4.7.0 try again later"


def wait_until(predicate, timeout=10.0, interval=0.1, message="condition"):
    """Polls predicate() until it returns something truthy and returns that.
    An AssertionError from predicate() counts as "not yet" (and is reported)."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except AssertionError as exc:
            last_error = exc
        if time.monotonic() > deadline:
            detail = f": {last_error}" if last_error else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {message}{detail}")
        time.sleep(interval)


def css_attr(value):
    """value as a double-quoted CSS attribute-selector string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def by_id(element_id):
    return f"[id={css_attr(element_id)}]"


# ---------------------------------------------------------------------------
# Page model
# ---------------------------------------------------------------------------

SNAPSHOT_JS = r"""
const out = {namespaces: {}, totals: {}, rows: {}, dead: [], intents: {}, keys: []};
for (const td of document.querySelectorAll('#stats-body td[data-status]')) {
  const ns = td.getAttribute('data-namespace'), st = td.getAttribute('data-status');
  (out.namespaces[ns] = out.namespaces[ns] || {})[st] = td.textContent;
  if (td.id !== 'stat-' + ns + '-' + st) out.badIds = (out.badIds || []).concat([td.id]);
}
for (const st of ['open', 'claimed', 'expired', 'fulfilled', 'dead', 'all'])
  out.totals[st] = (document.getElementById('total-' + st) || {}).textContent;
out.deadCount = (document.getElementById('dead-count') || {}).textContent;
out.keyCount = (document.getElementById('key-count') || {}).textContent;
for (const tr of document.querySelectorAll('#dead-body tr[data-intent-id]'))
  out.dead.push(tr.getAttribute('data-intent-id'));
for (const tr of document.querySelectorAll('#intents-body tr[data-intent-id]'))
  out.intents[tr.getAttribute('data-intent-id')] = tr.getAttribute('data-status');
for (const tr of document.querySelectorAll('#keys-body tr[data-key-id]'))
  out.keys.push(tr.getAttribute('data-key-id'));
const banner = document.getElementById('error-banner');
out.banner = banner && !banner.hidden ? banner.textContent : null;
out.conn = (document.getElementById('conn-state') || {}).textContent;
out.lastUpdated = (document.getElementById('last-updated') || {}).textContent;
return out;
"""


def page_snapshot(browser):
    return browser.execute(SNAPSHOT_JS)


def api_view(server):
    """What the page should show, computed from GET /admin/stats."""
    stats = server.admin("GET", "/admin/stats")
    namespaces = {}
    totals = dict.fromkeys(STATUSES, 0)
    for ns, counts in stats["namespaces"].items():
        row = {st: counts.get(st, 0) for st in STATUSES}
        for st in STATUSES:
            totals[st] += row[st]
        row["total"] = sum(row[st] for st in STATUSES)
        namespaces[ns] = {k: str(v) for k, v in row.items()}
    totals["all"] = sum(totals.values())
    return {
        "namespaces": namespaces,
        "totals": {k: str(v) for k, v in totals.items()},
        "deadCount": str(stats["dead_letters"]),
        "keyCount": str(stats["tester_keys"]),
    }


def page_matches_api(browser, server):
    """Truthy when every number on the page equals the API's; else AssertionError."""
    expected = api_view(server)
    shown = page_snapshot(browser)
    assert not shown.get("badIds"), f"stat cells with unexpected ids: {shown['badIds']}"
    got = {k: shown[k] for k in expected}
    assert got == expected, f"page shows {got!r}, API says {expected!r} (banner: {shown['banner']!r})"
    return shown


def click(browser, css):
    """A real WebDriver element click, retried if a re-render replaced the element."""
    for attempt in range(5):
        element = browser.find_one(css)
        try:
            browser.execute("arguments[0].scrollIntoView({block: 'center'});",
                            browser.element_ref(element))
            browser.click(element)
            return
        except browser.Error as exc:
            if exc.error not in ("stale element reference", "element click intercepted") or attempt == 4:
                raise
            time.sleep(0.2)


def console_problems(browser):
    """SEVERE console entries except the browser's own favicon probe."""
    entries = browser.console()
    if entries is None:  # this chromedriver has no log endpoint
        return []
    return [e for e in entries
            if e.get("level") == "SEVERE" and "favicon.ico" not in e.get("message", "")]


def check_png(data):
    assert data[:8] == PNG_MAGIC, f"not a PNG: {data[:16]!r}"
    assert len(data) > 2000, f"suspiciously small screenshot ({len(data)} bytes)"
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    assert width > 100 and height > 100, (width, height)


# ---------------------------------------------------------------------------
# Fixtures: seed data, open the page
# ---------------------------------------------------------------------------

class Seed:
    pass


@pytest.fixture(scope="module")
def seed(bus_server):
    srv = bus_server
    s = Seed()
    # billing: one fulfilled, one claimed, one left open, and the XSS probe, dead.
    srv.publish(NS_BILLING, "send_invoice")
    s.billing_open = srv.publish(NS_BILLING, "send_invoice", priority=50)
    srv.publish(NS_BILLING, "refund", priority=500)
    done, token = srv.claim(NS_BILLING, "send_invoice")
    assert done != s.billing_open
    srv.ok("POST", f"/fulfill/{done}", {"claim_token": token, "result": {"ok": True}})
    s.billing_claimed, _ = srv.claim(NS_BILLING, "refund")
    s.xss = srv.publish(NS_BILLING, XSS_GOAL, max_attempts=1, payload={"html": XSS_GOAL})
    xss_id, token = srv.claim(NS_BILLING, XSS_GOAL)
    assert xss_id == s.xss
    failed = srv.ok("POST", f"/fail/{s.xss}", {"claim_token": token, "error": XSS_ERROR})
    assert failed["status"] == "dead", failed

    # mail.eu-1: one fulfilled, one open, one dead after its only attempt.
    srv.publish(NS_MAIL, "send_welcome")
    s.mail_open = srv.publish(NS_MAIL, "send_welcome")
    done, token = srv.claim(NS_MAIL, "send_welcome")
    srv.ok("POST", f"/fulfill/{done}", {"claim_token": token})
    s.mail_dead = srv.publish(NS_MAIL, "send_digest", max_attempts=1)
    dead_id, token = srv.claim(NS_MAIL, "send_digest")
    assert dead_id == s.mail_dead
    failed = srv.ok("POST", f"/fail/{s.mail_dead}", {"claim_token": token, "error": MAIL_ERROR})
    assert failed["status"] == "dead", failed

    # Tester keys: alice (active, one open intent in sandbox), bob (revoked).
    alice = srv.admin("POST", "/admin/generate_key", {"owner": "alice <ops@example.com>"})
    s.alice_key = alice["api_key"]
    s.sandbox = srv.publish(NS_SANDBOX, "probe", auth=s.alice_key)
    bob = srv.admin("POST", "/admin/generate_key", {"owner": "bob"})
    srv.admin("POST", "/admin/revoke_key", {"api_key": bob["api_key"]})
    return s


class Dashboard:
    def __init__(self, server, browser, seed, auth_method):
        self.server = server
        self.browser = browser
        self.seed = seed
        self.auth_method = auth_method

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.port}/admin/dashboard"


def _connection_settled(browser):
    shown = page_snapshot(browser)
    if shown["conn"] in ("live", "offline", "partial"):
        return shown
    return None


@pytest.fixture(scope="module")
def dashboard(bus_server, browser, seed):
    srv = bus_server
    method = os.environ.get("INTENT_BUS_BROWSER_AUTH", "url")
    shown = None
    if method == "url":
        browser.get(f"http://admin:{srv.password}@127.0.0.1:{srv.port}/admin/dashboard")
        shown = wait_until(lambda: _connection_settled(browser), timeout=10,
                           message="the dashboard's first refresh")
        if shown["conn"] != "live":
            print(f"\nURL credentials did not carry over to fetch() ({shown['banner']!r}); "
                  "falling back to a DevTools Authorization header")
            method = "cdp"
    if method == "cdp":
        token = base64.b64encode(f"admin:{srv.password}".encode()).decode()
        browser.cdp("Network.enable")
        browser.cdp("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}})
        browser.get(f"http://127.0.0.1:{srv.port}/admin/dashboard")
        shown = wait_until(lambda: _connection_settled(browser), timeout=10,
                           message="the dashboard's first refresh")
    assert shown["conn"] == "live", f"dashboard could not load its data: {shown['banner']!r}"
    print(f"\nbrowser authentication: {method}")
    return Dashboard(srv, browser, seed, method)


# ---------------------------------------------------------------------------
# Static rules (CSP: no inline code or style; no HTML from data)
# ---------------------------------------------------------------------------

def test_assets_need_no_inline_code_and_build_no_html():
    html = (DASHBOARD_DIR / "dashboard.html").read_text()
    js = (DASHBOARD_DIR / "dashboard.js").read_text()
    code = re.sub(r"/\*.*?\*/", "", js, flags=re.S)  # the comments may name the sinks
    css = (DASHBOARD_DIR / "dashboard.css").read_text()
    assert '<script src="/admin/dashboard.js"' in html
    assert '<link rel="stylesheet" href="/admin/dashboard.css">' in html
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S | re.I)
    assert scripts and all(body.strip() == "" for body in scripts), "inline script in the HTML"
    assert not re.search(r"<style\b", html, re.I), "inline <style> in the HTML"
    assert not re.search(r"\sstyle\s*=", html, re.I), "style= attribute in the HTML"
    assert not re.search(r"\son[a-z]+\s*=", html, re.I), "inline event handler in the HTML"
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", html, re.I), "external asset"
    assert not re.search(r"url\(\s*[\"']?(?:https?:)?//", css, re.I), "external asset in CSS"
    assert "@import" not in css
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", ".style.", "setAttribute('style'", 'setAttribute("style"'):
        assert sink not in code, f"dashboard.js uses {sink}"


def test_dashboard_is_served_with_its_csp(bus_server):
    srv = bus_server
    auth = base64.b64encode(f"admin:{srv.password}".encode()).decode()
    for path, ctype, name in (("/admin/dashboard", "text/html", "dashboard.html"),
                              ("/admin/dashboard.js", "text/javascript", "dashboard.js"),
                              ("/admin/dashboard.css", "text/css", "dashboard.css")):
        status, headers, body = srv.request("GET", path, auth=None,
                                            headers={"Authorization": f"Basic {auth}"})
        assert status == 200, (path, status, body)
        assert headers.get("content-type", "").startswith(ctype), (path, headers)
        assert headers.get("content-security-policy") == CSP, (path, headers)
        assert body == (DASHBOARD_DIR / name).read_bytes(), (
            f"{path} differs from src/serve/dashboard/{name}: rebuild the server")
    status, headers, _ = srv.request("GET", "/admin/dashboard", auth=None)
    assert status == 401
    assert headers.get("www-authenticate", "").startswith("Basic"), headers


# ---------------------------------------------------------------------------
# In the browser
# ---------------------------------------------------------------------------

def test_page_shows_the_api_numbers(dashboard):
    browser, srv, seed = dashboard.browser, dashboard.server, dashboard.seed
    shown = wait_until(lambda: page_matches_api(browser, srv), timeout=10,
                       message="the page's numbers to equal GET /admin/stats")
    assert set(shown["namespaces"]) == {NS_BILLING, NS_MAIL, NS_SANDBOX}
    assert shown["deadCount"] == "2" and shown["keyCount"] == "1"
    # The stable ids, read through WebDriver as a user would see them.
    assert browser.text(browser.find_one(by_id(f"stat-{NS_MAIL}-dead"))) == "1"
    assert browser.text(browser.find_one(by_id(f"stat-{NS_BILLING}-claimed"))) == "1"
    assert browser.text(browser.find_one("#dead-count")) == "2"
    assert browser.text(browser.find_one("#key-count")) == "1"

    # Tables: both dead letters, the recent intents, both keys.
    assert set(shown["dead"]) == {seed.xss, seed.mail_dead}
    assert shown["intents"][seed.billing_open] == "open"
    assert shown["intents"][seed.billing_claimed] == "claimed"
    assert shown["intents"][seed.xss] == "dead"
    assert len(shown["keys"]) == 2
    keys_text = browser.text(browser.find_one("#keys-table"))
    assert "alice <ops@example.com>" in keys_text and "bob" in keys_text
    assert "revoked" in keys_text

    # Cancel is offered on open and claimed rows only; dead letters get both buttons.
    for intent_id, status in shown["intents"].items():
        buttons = browser.find(f"#intents-body tr[data-intent-id={css_attr(intent_id)}] "
                               "button[data-action=cancel]")
        assert len(buttons) == (1 if status in ("open", "claimed") else 0), (intent_id, status)
    for intent_id in shown["dead"]:
        row = f"#dead-body tr[data-intent-id={css_attr(intent_id)}]"
        assert len(browser.find(f"{row} button[data-action=retry]")) == 1
        assert len(browser.find(f"{row} button[data-action=cancel]")) == 1

    # It refreshes itself: "last updated" moves on without any action.
    first = shown["lastUpdated"]
    wait_until(lambda: page_snapshot(browser)["lastUpdated"] != first, timeout=6,
               message="the 2-second refresh to update 'last updated'")


def test_api_text_is_escaped(dashboard):
    browser, seed = dashboard.browser, dashboard.seed
    found = browser.execute(r"""
      return {
        imgs: document.querySelectorAll('img').length,
        scripts: Array.from(document.scripts).map(s => s.getAttribute('src')),
        styled: document.querySelectorAll('[style]').length,
        body: document.body.textContent,
      };""")
    assert found["imgs"] == 0, "an <img> from the API data got into the DOM"
    assert found["scripts"] == ["/admin/dashboard.js"], found["scripts"]
    assert found["styled"] == 0
    assert browser.alert_text() is None, "an alert() ran"

    xss_row = f"tr[data-intent-id={css_attr(seed.xss)}]"
    dead_row = browser.text(browser.find_one(f"#dead-body {xss_row}"))
    intent_row = browser.text(browser.find_one(f"#intents-body {xss_row}"))
    for text in (dead_row, intent_row):
        assert XSS_GOAL in text, text
        assert XSS_ERROR in text, text
    assert found["body"].count(XSS_GOAL) >= 2


def test_screenshot(dashboard, tmp_path):
    browser = dashboard.browser
    browser.set_window(1280, 900)
    # Tall enough for the whole page (the screenshot is of the viewport).
    height = browser.execute("return document.documentElement.scrollHeight"
                             " + (window.outerHeight - window.innerHeight);")
    browser.set_window(1280, min(max(int(height) + 4, 600), 2400))
    wait_until(lambda: page_matches_api(browser, dashboard.server), timeout=10,
               message="the page to settle after the resize")
    png = browser.screenshot()
    check_png(png)
    (tmp_path / "dashboard.png").write_bytes(png)
    if os.environ.get("INTENT_BUS_SCREENSHOT") == "1":
        SCREENSHOT_DOC.write_bytes(png)
    browser.set_window(1280, 900)


def test_no_console_errors(dashboard):
    """No CSP violations, script errors or failed requests so far."""
    problems = console_problems(dashboard.browser)
    assert not problems, f"browser console: {problems!r}"


def test_retry_dead_letter(dashboard):
    browser, srv, seed = dashboard.browser, dashboard.server, dashboard.seed
    wait_until(lambda: page_matches_api(browser, srv), timeout=10, message="page == API")
    before = int(srv.admin("GET", "/admin/stats")["namespaces"][NS_MAIL]["open"])

    click(browser, f"#dead-body tr[data-intent-id={css_attr(seed.mail_dead)}] button[data-action=retry]")

    intent = wait_until(
        lambda: (lambda i: i if i["status"] == "open" else None)(
            srv.admin("GET", f"/admin/intents/{seed.mail_dead}")),
        timeout=10, message="the API to show the retried intent open")
    assert intent["claim_attempts"] == 0
    assert srv.request("GET", f"/admin/dead/{seed.mail_dead}", auth="admin")[0] == 404

    def page_caught_up():
        shown = page_matches_api(browser, srv)
        assert shown["namespaces"][NS_MAIL]["open"] == str(before + 1), shown["namespaces"]
        assert seed.mail_dead not in shown["dead"], shown["dead"]
        assert shown["intents"].get(seed.mail_dead) == "open", shown["intents"]
        assert shown["deadCount"] == "1"
        return shown
    wait_until(page_caught_up, timeout=10, message="the page to show the retry")


def test_cancel_from_recent_intents(dashboard):
    browser, srv, seed = dashboard.browser, dashboard.server, dashboard.seed
    click(browser, f"#intents-body tr[data-intent-id={css_attr(seed.billing_open)}] "
                   "button[data-action=cancel]")
    wait_until(lambda: srv.admin("GET", f"/admin/intents/{seed.billing_open}")["status"] == "dead",
               timeout=10, message="the API to show the cancelled intent dead")
    assert srv.admin("GET", f"/admin/dead/{seed.billing_open}")["reason"] == "Cancelled by admin"

    def page_caught_up():
        shown = page_matches_api(browser, srv)
        assert seed.billing_open in shown["dead"], shown["dead"]
        assert shown["intents"].get(seed.billing_open) == "dead", shown["intents"]
        return shown
    wait_until(page_caught_up, timeout=10, message="the page to show the cancel")
    row = f"#intents-body tr[data-intent-id={css_attr(seed.billing_open)}]"
    assert browser.find(f"{row} button[data-action=cancel]") == []
    assert not console_problems(browser)


def test_narrow_window(dashboard):
    browser = dashboard.browser
    try:
        browser.set_window(390, 844)
        wait_until(lambda: browser.execute("return window.innerWidth;") <= 420, timeout=5,
                   message="the window to shrink")
        overflow = browser.execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
        assert overflow <= 1, f"the page scrolls sideways by {overflow}px in a 390px window"
        for css in ("#dead-count", "#key-count",
                    "#dead-body tr[data-intent-id] button[data-action=retry]"):
            element = browser.find_one(css)
            assert browser.s("GET", f"/element/{element}/displayed"), f"{css} hidden when narrow"
    finally:
        browser.set_window(1280, 900)


def test_error_banner_when_a_fetch_fails(dashboard):
    browser, srv = dashboard.browser, dashboard.server
    assert page_snapshot(browser)["banner"] is None
    browser.cdp("Network.enable")
    browser.cdp("Network.setBlockedURLs", {"urls": ["*/admin/stats*"]})
    try:
        shown = wait_until(lambda: (lambda s: s if s["banner"] else None)(page_snapshot(browser)),
                           timeout=10, message="the error banner")
        assert "/admin/stats" in shown["banner"], shown["banner"]
        assert browser.s("GET", f"/element/{browser.find_one('#error-banner')}/displayed")
    finally:
        browser.cdp("Network.setBlockedURLs", {"urls": []})
    wait_until(lambda: page_snapshot(browser)["banner"] is None, timeout=10,
               message="the banner to go away once fetches work again")
    wait_until(lambda: page_matches_api(browser, srv), timeout=10, message="page == API")
    browser.console()  # drop the blocked-request errors this test caused
