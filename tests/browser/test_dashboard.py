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
import json
import os
import re
import urllib.parse
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


PAGES = ("overview", "jobs", "workers", "dead", "schedules", "keys", "audit")
FIRST_TABLE = {"overview": "stats-body", "jobs": "intents-body", "dead": "dead-body",
               "workers": "workers-body", "schedules": "schedules-body",
               "keys": "keys-body", "audit": "audit-body", "job": "job-fields"}


def goto(browser, page):
    """Opens a page of the dashboard (its #fragment) and waits for its data."""
    # The page sets body[data-shown] once a refresh of this page's data has
    # been rendered; clearing it first means "wait for a fresh one".
    browser.execute("document.body.removeAttribute('data-shown');"
                    "window.location.hash = arguments[0];", "#" + page)
    name = page.split("/")[0]
    table = FIRST_TABLE[name]

    def loaded():
        state = browser.execute(
            "const p = document.getElementById('page-' + arguments[0]);"
            "const t = document.getElementById(arguments[1]);"
            "return {shown: p && !p.hidden, text: t ? t.textContent : null,"
            "        fresh: document.body.getAttribute('data-shown')};", name, table)
        return state["shown"] and state["text"] and "Loading" not in state["text"] and \
            state["fresh"] == name
    wait_until(loaded, timeout=10, message=f"the {page} page to load")


def accept_confirms(browser):
    """window.confirm() answers yes (a WebDriver script is not bound by the CSP)."""
    browser.execute("window.confirm = function () { return true; };")


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

    # Schedules of two keys that never fall due during the tests (a daily
    # cron and a daily every), so the queue's counts stay as seeded.
    s.schedule_main = "nightly-report"
    srv.ok("POST", "/schedules", {"name": s.schedule_main, "cron": "30 3 * * *",
                                  "timezone": "Europe/Berlin",
                                  "intent": {"goal": XSS_GOAL, "namespace": NS_BILLING,
                                             "payload": {}}})
    s.schedule_alice = "sandbox.daily"
    srv.ok("POST", "/schedules", {"name": s.schedule_alice, "every": 86400,
                                  "intent": {"goal": "probe", "namespace": NS_SANDBOX,
                                             "payload": {}}}, auth=s.alice_key)
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
    goto(browser, "overview")
    shown = wait_until(lambda: page_matches_api(browser, srv), timeout=10,
                       message="the page's numbers to equal GET /admin/stats")
    assert set(shown["namespaces"]) == {NS_BILLING, NS_MAIL, NS_SANDBOX}
    assert shown["deadCount"] == "2" and shown["keyCount"] == "1"
    # The stable ids, read through WebDriver as a user would see them.
    assert browser.text(browser.find_one(by_id(f"stat-{NS_MAIL}-dead"))) == "1"
    assert browser.text(browser.find_one(by_id(f"stat-{NS_BILLING}-claimed"))) == "1"
    assert browser.text(browser.find_one("#dead-count")) == "2"
    assert browser.text(browser.find_one("#key-count")) == "1"

    # Each page's table: both dead letters, the recent intents, both keys.
    goto(browser, "dead")
    assert set(page_snapshot(browser)["dead"]) == {seed.xss, seed.mail_dead}
    goto(browser, "jobs")
    intents = page_snapshot(browser)["intents"]
    assert intents[seed.billing_open] == "open"
    assert intents[seed.billing_claimed] == "claimed"
    assert intents[seed.xss] == "dead"
    # ids in full, not their first 8 hex digits (the time, alike in every row)
    row = f"#intents-body tr[data-intent-id={css_attr(seed.billing_open)}]"
    assert browser.text(browser.find_one(f"{row} code")) == seed.billing_open
    goto(browser, "keys")
    assert len(page_snapshot(browser)["keys"]) == 2
    keys_text = browser.text(browser.find_one("#keys-table"))
    assert "alice <ops@example.com>" in keys_text and "bob" in keys_text
    assert "revoked" in keys_text

    # Cancel is offered on open and claimed rows only; dead letters get both buttons.
    goto(browser, "jobs")
    for intent_id, status in intents.items():
        buttons = browser.find(f"#intents-body tr[data-intent-id={css_attr(intent_id)}] "
                               "button[data-action=cancel]")
        assert len(buttons) == (1 if status in ("open", "claimed") else 0), (intent_id, status)
    goto(browser, "dead")
    for intent_id in (seed.xss, seed.mail_dead):
        row = f"#dead-body tr[data-intent-id={css_attr(intent_id)}]"
        assert len(browser.find(f"{row} button[data-action=retry]")) == 1
        assert len(browser.find(f"{row} button[data-action=cancel]")) == 1

    # It refreshes itself: "last updated" moves on without any action.
    goto(browser, "overview")
    first = page_snapshot(browser)["lastUpdated"]
    wait_until(lambda: page_snapshot(browser)["lastUpdated"] != first, timeout=6,
               message="the 2-second refresh to update 'last updated'")


def test_overview_charts_and_goals(dashboard):
    browser, srv = dashboard.browser, dashboard.server
    goto(browser, "overview")

    def charted():
        totals = browser.execute(
            "const out = {};"
            "for (const l of document.querySelectorAll('#chart-hour polyline'))"
            "  out[l.getAttribute('class')] = Number(l.getAttribute('data-total'));"
            "return out;")
        return totals if totals.get("line line-published", 0) >= 1 else None
    totals = wait_until(charted, timeout=15, message="the last hour's chart")
    history = srv.admin("GET", "/admin/history?minutes=60")
    assert totals["line line-published"] == sum(history["published"])
    assert totals["line line-fulfilled"] == sum(history["fulfilled"])
    assert totals["line line-failed"] == sum(history["failed"])
    assert len(browser.find("#chart-day polyline")) == 3
    goals = srv.admin("GET", "/admin/goals")["goals"]
    rows = browser.execute(
        "return Array.from(document.querySelectorAll('#goals-body tr[data-goal]'))"
        ".map(tr => [tr.getAttribute('data-namespace'), tr.getAttribute('data-goal')]);")
    assert sorted(map(tuple, rows)) == sorted((g["namespace"], g["goal"]) for g in goals)
    assert browser.text(browser.find_one("#oldest-open")) not in ("", "–", "—")
    assert browser.text(browser.find_one("#claim-rate")) != "–"


def test_api_text_is_escaped(dashboard):
    browser, seed = dashboard.browser, dashboard.seed
    xss_row = f"tr[data-intent-id={css_attr(seed.xss)}]"
    goto(browser, "dead")
    dead_row = browser.text(browser.find_one(f"#dead-body {xss_row}"))
    goto(browser, "jobs")
    intent_row = browser.text(browser.find_one(f"#intents-body {xss_row}"))
    goto(browser, "job/" + seed.xss)
    detail = browser.text(browser.find_one("#page-job"))
    for text in (dead_row, intent_row):
        assert XSS_GOAL in text, text
        assert XSS_ERROR in text, text
    assert XSS_GOAL in detail and XSS_ERROR in detail
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
    assert found["body"].count(XSS_GOAL) >= 3


def test_screenshots_of_every_page(dashboard, tmp_path):
    browser = dashboard.browser
    browser.set_window(1280, 900)
    for page in PAGES + ("job/" + dashboard.seed.mail_open,):
        goto(browser, page)
        height = browser.execute("return document.documentElement.scrollHeight"
                                 " + (window.outerHeight - window.innerHeight);")
        browser.set_window(1280, min(max(int(height) + 4, 600), 2400))
        goto(browser, page)
        png = browser.screenshot()
        check_png(png)
        (tmp_path / f"dashboard-{page.replace('/', '-')}.png").write_bytes(png)
        if page == "overview" and os.environ.get("INTENT_BUS_SCREENSHOT") == "1":
            SCREENSHOT_DOC.write_bytes(png)
    browser.set_window(1280, 900)


def test_no_console_errors(dashboard):
    """No CSP violations, script errors or failed requests so far."""
    problems = console_problems(dashboard.browser)
    assert not problems, f"browser console: {problems!r}"


def test_job_detail(dashboard):
    browser, srv, seed = dashboard.browser, dashboard.server, dashboard.seed
    goto(browser, "jobs")
    click(browser, f"#intents-body tr[data-intent-id={css_attr(seed.billing_claimed)}] a")
    wait_until(lambda: browser.execute("return location.hash;") == "#job/" + seed.billing_claimed,
               timeout=5, message="the job's page")
    goto(browser, "job/" + seed.billing_claimed)
    fields = browser.execute(
        "const out = {}; const dts = document.querySelectorAll('#job-fields dt');"
        "for (const dt of dts) out[dt.textContent] = dt.nextElementSibling.textContent;"
        "return out;")
    intent = srv.admin("GET", f"/admin/intents/{seed.billing_claimed}")
    assert browser.text(browser.find_one("#job-id")) == seed.billing_claimed
    assert fields["Status"] == "claimed" and fields["Goal"] == "refund"
    assert fields["Claimed by key"] == intent["claimed_by"]
    assert fields["Lease until"] != "—" and fields["Created"] != "—"
    payload = browser.text(browser.find_one("#job-payload"))
    assert json.loads(payload) == intent["payload"] and "\n" in payload  # pretty-printed
    # a fulfilled job shows its result
    done = [i for i in srv.admin("GET", f"/admin/intents?namespace={NS_MAIL}&state=fulfilled")["intents"]]
    goto(browser, "job/" + done[0]["id"])
    assert browser.text(browser.find_one("#job-result")) == "—"  # fulfilled without a result
    goto(browser, "job/" + seed.billing_claimed)
    assert browser.find("#job-actions button[data-action=cancel]")


def attempt_rows(browser):
    """The job page's attempts table, one {column label: text} per row."""
    return browser.execute(
        "return Array.from(document.querySelectorAll('#attempts-body tr')).map(function (tr) {"
        "  const out = {empty: tr.classList.contains('empty')};"
        "  for (const td of tr.cells) out[td.getAttribute('data-label') || ''] = td.textContent;"
        "  return out; });")


def test_job_detail_attempts_table(dashboard):
    browser, srv, seed = dashboard.browser, dashboard.server, dashboard.seed
    # held now: one attempt, running, its lease end shown
    goto(browser, "job/" + seed.billing_claimed)
    rows = attempt_rows(browser)
    api = srv.admin("GET", f"/admin/intents/{seed.billing_claimed}")["attempts"]
    assert len(rows) == len(api) == 1, rows
    assert rows[0]["#"] == "1" and rows[0]["Outcome"] == "running"
    assert rows[0]["Claimed"] != "—" and rows[0]["Lease until"] != "—"
    assert rows[0]["Ended"] == "—" and rows[0]["Error"] == "—"
    # failed with the XSS probe as its error: shown as text, outcome failed
    goto(browser, "job/" + seed.xss)
    rows = attempt_rows(browser)
    assert len(rows) == 1 and rows[0]["Outcome"] == "failed", rows
    assert rows[0]["Error"] == XSS_ERROR and rows[0]["Ended"] != "—"
    assert browser.execute("return document.querySelectorAll('#attempts-body script').length;") == 0
    # never claimed: says so
    goto(browser, "job/" + seed.billing_open)
    rows = attempt_rows(browser)
    assert len(rows) == 1 and rows[0]["empty"] and "Never claimed" in rows[0][""], rows


def test_job_detail_shows_the_webhook(dashboard):
    browser, srv = dashboard.browser, dashboard.server
    hooked = srv.publish("hooks", "notify", notify_url="http://127.0.0.1:1/hook")
    done, token = srv.claim("hooks", "notify")
    assert done == hooked
    srv.ok("POST", f"/fulfill/{done}", {"claim_token": token})
    wait_until(lambda: srv.admin("GET", f"/admin/intents/{hooked}")["webhook"]["attempts"] == 1,
               timeout=10, message="the failed attempt")
    goto(browser, "job/" + hooked)
    wait_until(lambda: browser.execute(
        "return document.getElementById('job-id').textContent;") == hooked,
        timeout=5, message="the job's page")
    fields = browser.execute(
        "const out = {}; const dts = document.querySelectorAll('#job-fields dt');"
        "for (const dt of dts) out[dt.textContent] = dt.nextElementSibling.textContent;"
        "return out;")
    assert fields["Webhook"] == "http://127.0.0.1:1/hook"
    assert fields["Webhook delivery"] == "pending after 1 attempt"
    assert fields["Webhook last answer"]  # libcurl's words for the refused connection
    assert fields["Webhook next attempt"] != "—"


def test_jobs_filters_and_pages(dashboard):
    browser, srv = dashboard.browser, dashboard.server
    ns = "paging"
    ids = [srv.publish(ns, "page-me") for _ in range(57)]
    goto(browser, "jobs")
    browser.execute("document.getElementById('f-namespace').value = arguments[0];"
                    "document.getElementById('f-goal').value = 'page-me';", ns)
    click(browser, "#jobs-search")

    def rows():
        return browser.execute(
            "return Array.from(document.querySelectorAll('#intents-body tr[data-intent-id]'))"
            ".map(tr => tr.getAttribute('data-intent-id'));")
    first = wait_until(lambda: (lambda r: r if r and r[0] == ids[-1] else None)(rows()),
                       timeout=10, message="the filtered first page")
    assert first == ids[::-1][:50]
    click(browser, "#jobs-next")
    second = wait_until(lambda: (lambda r: r if r and r[0] == ids[6] else None)(rows()),
                        timeout=10, message="the second page")
    assert second == ids[::-1][50:]
    assert browser.execute("return document.getElementById('jobs-next').disabled;")
    click(browser, "#jobs-first")
    wait_until(lambda: rows() == first, timeout=10, message="back to the first page")
    # by state and by error text
    browser.execute("document.getElementById('jobs-filter').reset();"
                    "document.getElementById('f-state').value = 'dead';"
                    "document.getElementById('f-error').value = 'SMTP';")
    click(browser, "#jobs-search")
    wait_until(lambda: rows() == [dashboard.seed.mail_dead], timeout=10,
               message="the dead job whose error says SMTP")
    click(browser, "#jobs-clear")
    wait_until(lambda: len(rows()) == 50, timeout=10, message="the unfiltered list")


def test_retry_dead_letter(dashboard):
    browser, srv, seed = dashboard.browser, dashboard.server, dashboard.seed
    goto(browser, "overview")
    wait_until(lambda: page_matches_api(browser, srv), timeout=10, message="page == API")
    before = int(srv.admin("GET", "/admin/stats")["namespaces"][NS_MAIL]["open"])
    goto(browser, "dead")
    click(browser, f"#dead-body tr[data-intent-id={css_attr(seed.mail_dead)}] button[data-action=retry]")

    intent = wait_until(
        lambda: (lambda i: i if i["status"] == "open" else None)(
            srv.admin("GET", f"/admin/intents/{seed.mail_dead}")),
        timeout=10, message="the API to show the retried intent open")
    assert intent["claim_attempts"] == 0
    assert srv.request("GET", f"/admin/dead/{seed.mail_dead}", auth="admin")[0] == 404
    wait_until(lambda: seed.mail_dead not in page_snapshot(browser)["dead"], timeout=10,
               message="the dead letter to leave the list")
    goto(browser, "overview")

    def page_caught_up():
        shown = page_matches_api(browser, srv)
        assert shown["namespaces"][NS_MAIL]["open"] == str(before + 1), shown["namespaces"]
        assert shown["deadCount"] == "1"
        return shown
    wait_until(page_caught_up, timeout=10, message="the page to show the retry")


def test_cancel_from_jobs(dashboard):
    browser, srv, seed = dashboard.browser, dashboard.server, dashboard.seed
    goto(browser, "jobs")
    browser.execute("document.getElementById('jobs-filter').reset();"
                    "document.getElementById('f-namespace').value = arguments[0];", NS_BILLING)
    click(browser, "#jobs-search")
    wait_until(lambda: seed.billing_open in page_snapshot(browser)["intents"], timeout=10,
               message="billing's jobs")
    click(browser, f"#intents-body tr[data-intent-id={css_attr(seed.billing_open)}] "
                   "button[data-action=cancel]")
    wait_until(lambda: srv.admin("GET", f"/admin/intents/{seed.billing_open}")["status"] == "dead",
               timeout=10, message="the API to show the cancelled intent dead")
    assert srv.admin("GET", f"/admin/dead/{seed.billing_open}")["reason"] == "Cancelled by admin"
    row = f"#intents-body tr[data-intent-id={css_attr(seed.billing_open)}]"
    wait_until(lambda: page_snapshot(browser)["intents"].get(seed.billing_open) == "dead",
               timeout=10, message="the page to show the cancel")
    assert browser.find(f"{row} button[data-action=cancel]") == []
    goto(browser, "dead")
    assert seed.billing_open in page_snapshot(browser)["dead"]
    assert not console_problems(browser)


def test_dead_letter_bulk_actions(dashboard):
    browser, srv = dashboard.browser, dashboard.server
    ns = "bulk"
    smtp, paper = [], []
    for i in range(3):
        for goal, bucket, error in (("mail", smtp, "SMTP 450"), ("print", paper, "no paper")):
            iid = srv.publish(ns, goal, max_attempts=1)
            got, token = srv.claim(ns, goal)
            srv.ok("POST", f"/fail/{got}", {"claim_token": token, "error": error})
            bucket.append(got)
    goto(browser, "dead")
    browser.execute("document.getElementById('d-namespace').value = arguments[0];"
                    "document.getElementById('d-error').value = 'SMTP';", ns)
    click(browser, "#dead-search")
    wait_until(lambda: sorted(page_snapshot(browser)["dead"]) == sorted(smtp), timeout=10,
               message="only the matching dead letters")
    accept_confirms(browser)
    click(browser, "#dead-retry-all")
    wait_until(lambda: all(srv.admin("GET", f"/admin/intents/{i}")["status"] == "open" for i in smtp),
               timeout=10, message="every matching dead letter retried")
    assert all(srv.admin("GET", f"/admin/intents/{i}")["status"] == "dead" for i in paper)
    wait_until(lambda: page_snapshot(browser)["dead"] == [], timeout=10,
               message="the retried ones to leave the list")
    browser.execute("document.getElementById('d-error').value = 'paper';")
    click(browser, "#dead-search")
    wait_until(lambda: sorted(page_snapshot(browser)["dead"]) == sorted(paper), timeout=10,
               message="the other dead letters")
    accept_confirms(browser)
    click(browser, "#dead-purge-all")
    wait_until(lambda: all(srv.request("GET", f"/admin/intents/{i}", auth="admin")[0] == 404
                           for i in paper), timeout=10, message="the matching ones purged")
    wait_until(lambda: page_snapshot(browser)["dead"] == [], timeout=10, message="an empty list")
    browser.execute("document.getElementById('dead-filter').reset();")
    click(browser, "#dead-search")


def test_keys_generate_and_revoke(dashboard):
    browser, srv = dashboard.browser, dashboard.server
    goto(browser, "keys")
    browser.execute("document.getElementById('k-owner').value = 'carol';")
    click(browser, "#key-generate")
    key = wait_until(lambda: (lambda t: t if t.startswith("tk_") else None)(
        browser.text(browser.find_one("#new-key-value"))), timeout=10, message="the new key")
    assert srv.request("POST", "/intent", {"goal": "g", "payload": {}}, auth=key)[0] == 201
    keys = srv.admin("GET", "/admin/keys")["keys"]
    carol = [k for k in keys if k["owner"] == "carol"][0]
    row = f"#keys-body tr[data-key-id={css_attr(carol['key_id'])}]"
    wait_until(lambda: browser.find(row), timeout=10, message="carol's row")
    accept_confirms(browser)
    click(browser, f"{row} button[data-action=revoke]")
    wait_until(lambda: srv.request("POST", "/intent", {"goal": "g", "payload": {}}, auth=key)[0] == 401,
               timeout=10, message="the revoked key refused")
    wait_until(lambda: "revoked" in browser.execute(
        "const r = document.querySelector(arguments[0]); return r ? r.textContent : '';", row),
        timeout=10, message="the row to say revoked")
    assert browser.find(f"{row} button[data-action=revoke]") == []


def test_audit_page_lists_the_actions(dashboard):
    browser, srv = dashboard.browser, dashboard.server
    goto(browser, "audit")
    actions = browser.execute(
        "return Array.from(document.querySelectorAll('#audit-body tr[data-action-name]'))"
        ".map(tr => tr.getAttribute('data-action-name'));")
    api = [e["action"] for e in srv.admin("GET", "/admin/audit?limit=100")["entries"]]
    assert actions == api
    for done in ("retry", "cancel", "dead_retry", "dead_purge", "generate_key", "revoke_key"):
        assert done in actions, (done, actions)
    text = browser.text(browser.find_one("#audit-body"))
    assert "127.0.0.1" in text and "carol" in text


def test_phone_sized_window(dashboard, tmp_path):
    browser, seed = dashboard.browser, dashboard.seed
    try:
        browser.set_window(390, 844)
        wait_until(lambda: browser.execute("return window.innerWidth;") <= 420, timeout=5,
                   message="the window to shrink")
        for page in PAGES + ("job/" + seed.mail_dead,):
            goto(browser, page)
            overflow = browser.execute(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
            assert overflow <= 1, f"{page} scrolls sideways by {overflow}px in a 390px window"
            png = browser.screenshot()
            check_png(png)
            (tmp_path / f"phone-{page.replace('/', '-')}.png").write_bytes(png)
        goto(browser, "overview")
        for css in ("#dead-count", "#key-count", "#chart-hour"):
            element = browser.find_one(css)
            assert browser.s("GET", f"/element/{element}/displayed"), f"{css} hidden when narrow"
        goto(browser, "jobs")
        browser.execute("document.getElementById('jobs-filter').reset();"
                        "document.getElementById('f-id').value = arguments[0];", seed.mail_dead)
        click(browser, "#jobs-search")
        row = f"#intents-body tr[data-intent-id={css_attr(seed.mail_dead)}]"
        wait_until(lambda: browser.find(row), timeout=10, message="the job by its id")
        code = browser.find_one(f"{row} code")
        assert browser.text(code) == seed.mail_dead, "the full id, readable on a phone"
        assert browser.s("GET", f"/element/{browser.find_one('#jobs-search')}/displayed")
    finally:
        browser.set_window(1280, 900)


def test_error_banner_when_a_fetch_fails(dashboard):
    browser, srv = dashboard.browser, dashboard.server
    goto(browser, "overview")
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


def test_workers_page(dashboard):
    browser, srv = dashboard.browser, dashboard.server
    srv.publish("workers", "render")
    query = urllib.parse.urlencode({"namespace": "workers", "goal": "render"})
    status, _, held = srv.request("POST", f"/claim?{query}",
                                  headers={"X-Worker-ID": "gpu-7", "X-Worker-Capabilities": "gpu"})
    assert status == 200, held
    goto(browser, "workers")
    row = "#workers-body tr[data-worker-id=\"gpu-7\"]"
    wait_until(lambda: browser.find(row), timeout=10, message="gpu-7's row")
    text = browser.text(browser.find_one(row))
    assert "gpu" in text and "main" in text and "workers" in text
    click(browser, f"{row} a.held-link")
    wait_until(lambda: list(page_snapshot(browser)["intents"]) == [held["id"]], timeout=10,
               message="the Jobs page with the job gpu-7 holds")
    assert browser.execute("return location.hash;") == "#jobs"


def test_goal_pause_resume_and_limit(dashboard):
    """The goals table shows each goal's controls, and its buttons and limit
    field change them through the admin API (issue 18)."""
    browser, srv = dashboard.browser, dashboard.server
    ns, goal = "ops.goals", "reports/daily run"
    srv.publish(ns, goal)
    goto(browser, "overview")
    row = (f"#goals-body tr[data-namespace={css_attr(ns)}][data-goal={css_attr(goal)}]")

    def cells():
        return browser.execute(
            "const tr = document.querySelector(arguments[0]);"
            "if (!tr) return null;"
            "const get = l => tr.querySelector(`td[data-label=\"${l}\"]`).textContent.trim();"
            "return {paused: get('Paused'), limit: get('Limit'),"
            "        buttons: Array.from(tr.querySelectorAll('button[data-action]'))"
            "          .map(b => b.getAttribute('data-action'))};", row)

    wait_until(lambda: cells() is not None, timeout=15, message="the goal's row")
    assert cells() == {"paused": "—", "limit": "—", "buttons": ["goal-pause", "goal-limit"]}

    def api():
        return next(g for g in srv.admin("GET", "/admin/goals")["goals"]
                    if g["namespace"] == ns and g["goal"] == goal)

    click(browser, f"{row} button[data-action=goal-pause]")
    wait_until(lambda: api()["paused"], timeout=10, message="the API to show the pause")
    wait_until(lambda: (cells() or {}).get("paused") == "paused", timeout=10,
               message="the page to show the pause")
    assert "goal-resume" in cells()["buttons"]

    browser.execute("document.querySelector(arguments[0] + ' input[data-goal-key]').value = '3';", row)
    click(browser, f"{row} button[data-action=goal-limit]")
    wait_until(lambda: api()["max_claimed"] == 3, timeout=10, message="the API to show the limit")
    wait_until(lambda: (cells() or {}).get("limit") == "3", timeout=10,
               message="the page to show the limit")

    click(browser, f"{row} button[data-action=goal-unlimit]")
    wait_until(lambda: api()["max_claimed"] is None, timeout=10, message="the limit removed")
    click(browser, f"{row} button[data-action=goal-resume]")
    wait_until(lambda: not api()["paused"], timeout=10, message="the API to show the resume")
    wait_until(lambda: (cells() or {}).get("paused") == "—", timeout=10,
               message="the page to show the resume")
    actions = [e["action"] for e in srv.admin("GET", "/admin/audit?limit=4")["entries"]]
    assert actions == ["goal_resume", "goal_limit", "goal_limit", "goal_pause"]
    assert not console_problems(browser)


def test_schedules_panel_pause_and_resume(dashboard):
    """The Schedules page lists every key's schedules with their next runs,
    and its buttons pause and resume one through the admin API (issues 18
    and 19)."""
    browser, srv, seed = dashboard.browser, dashboard.server, dashboard.seed
    goto(browser, "schedules")

    def rows():
        return browser.execute(
            "return Array.from(document.querySelectorAll('#schedules-body tr[data-schedule]'))"
            ".map(tr => {"
            "  const get = l => tr.querySelector(`td[data-label=\"${l}\"]`);"
            "  return {name: tr.getAttribute('data-schedule'),"
            "          owner: get('Key owner').textContent, what: get('Publishes').textContent,"
            "          when: get('When').textContent, paused: get('Paused').textContent.trim(),"
            "          runs: Array.from(get('Next runs').querySelectorAll('time'))"
            "                  .map(t => Date.parse(t.getAttribute('datetime')) / 1000),"
            "          buttons: Array.from(tr.querySelectorAll('button[data-action]'))"
            "                  .map(b => b.getAttribute('data-action'))};"
            "});")

    def api():
        return {x["name"]: x for x in srv.admin("GET", "/admin/schedules")["schedules"]}

    listed = api()
    shown = {r["name"]: r for r in rows()}
    assert set(shown) == set(listed) >= {seed.schedule_main, seed.schedule_alice}
    main, alice = shown[seed.schedule_main], shown[seed.schedule_alice]
    assert main["owner"].startswith("main · key ") and alice["owner"].startswith("alice <ops@")
    assert main["what"] == f"{NS_BILLING} / {XSS_GOAL}"  # as text, never as HTML
    assert main["when"] == "cron 30 3 * * * (Europe/Berlin)" and alice["when"] == "every 1 d"
    for name in (seed.schedule_main, seed.schedule_alice):
        assert shown[name]["runs"] == listed[name]["next_runs"]
        assert shown[name]["paused"] == "—" and shown[name]["buttons"] == ["schedule-pause"]

    row = f"#schedules-body tr[data-schedule={css_attr(seed.schedule_alice)}]"
    click(browser, f"{row} button[data-action=schedule-pause]")
    wait_until(lambda: api()[seed.schedule_alice]["paused"], timeout=10,
               message="the API to show the pause")
    owner_view = srv.ok("GET", f"/schedules/{seed.schedule_alice}", auth=seed.alice_key)
    assert owner_view["paused"] is True and owner_view["next_runs"] == []
    wait_until(lambda: {r["name"]: r for r in rows()}[seed.schedule_alice]["paused"] == "paused",
               timeout=10, message="the page to show the pause")
    paused = {r["name"]: r for r in rows()}[seed.schedule_alice]
    assert paused["runs"] == [] and paused["buttons"] == ["schedule-resume"]
    assert not api()[seed.schedule_main]["paused"]

    click(browser, f"{row} button[data-action=schedule-resume]")
    wait_until(lambda: not api()[seed.schedule_alice]["paused"], timeout=10,
               message="the API to show the resume")
    wait_until(lambda: len({r["name"]: r for r in rows()}[seed.schedule_alice]["runs"]) == 5,
               timeout=10, message="the page to show the next runs again")
    audit = [(e["action"], e["target"], e["who"])
             for e in srv.admin("GET", "/admin/audit?limit=2")["entries"]]
    assert audit == [("schedule_resume", seed.schedule_alice, "admin-password"),
                     ("schedule_pause", seed.schedule_alice, "admin-password")]
    assert browser.alert_text() is None
    assert not console_problems(browser)


def test_viewer_sees_but_cannot_act(dashboard):
    """The read-only credential: the pages, no action buttons or forms."""
    browser, srv, seed = dashboard.browser, dashboard.server, dashboard.seed
    token = base64.b64encode(f"viewer:{srv.viewer_password}".encode()).decode()
    browser.cdp("Network.enable")
    browser.cdp("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}})
    try:
        browser.get(f"http://127.0.0.1:{srv.port}/admin/dashboard#dead")
        goto(browser, "dead")
        wait_until(lambda: browser.execute("return document.body.classList.contains('read-only');"),
                   timeout=10, message="the page to know it is read-only")
        assert page_snapshot(browser)["dead"], "a viewer sees the dead letters"
        visible = browser.execute(
            "return Array.from(document.querySelectorAll('button[data-action], .admin-only'))"
            ".filter(b => b.offsetParent !== null).length;")
        assert visible == 0
        goto(browser, "overview")
        visible = browser.execute(
            "return Array.from(document.querySelectorAll('#goals-body button, #goals-body input'))"
            ".filter(b => b.offsetParent !== null).length;")
        assert visible == 0, "a viewer gets no goal controls"
        goto(browser, "schedules")
        assert browser.find("#schedules-body tr[data-schedule]"), "a viewer sees the schedules"
        visible = browser.execute(
            "return Array.from(document.querySelectorAll('#schedules-body button'))"
            ".filter(b => b.offsetParent !== null).length;")
        assert visible == 0, "a viewer gets no schedule controls"
        goto(browser, "keys")
        assert not browser.s("GET", f"/element/{browser.find_one('#key-form')}/displayed")
        assert browser.text(browser.find_one("#role")) == "read-only"
    finally:
        browser.cdp("Network.setExtraHTTPHeaders", {"headers": {}})


