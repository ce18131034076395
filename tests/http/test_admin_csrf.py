"""Cross-site request forgery on admin routes: a browser re-sends a cached
Basic password with any form another site makes it post, so state-changing
admin requests proven only by that password must come from the bus's own
origin. X-Admin-Token and non-browser clients are unaffected."""

import base64
import http.client
import json
import secrets

import pytest

from conftest import unique

PASSWORD = "pw-" + secrets.token_hex(8)
TOKEN = "adm-" + secrets.token_hex(8)


@pytest.fixture
def admin_server(server_factory):
    return server_factory(env={"DASHBOARD_PASSWORD": PASSWORD, "BUS_ADMIN_SECRET": TOKEN})


def post(server, path, body, headers):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def basic():
    return "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()


@pytest.mark.parametrize("extra", [
    {"Origin": "https://evil.example", "Content-Type": "text/plain"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "null"},
])
def test_cross_site_basic_posts_are_refused(admin_server, extra):
    s = admin_server
    c = s.client(ns=unique("csrf"))
    c.publish()
    status, body = post(s, "/admin/purge", '{"confirm":true,"a":"="}',
                        {"Authorization": basic(), **extra})
    assert status == 403 and body["error"]["code"] == "forbidden"
    assert c.claim().status == 200  # nothing was purged


def test_same_origin_and_scripted_basic_posts_work(admin_server):
    s = admin_server
    host = f"127.0.0.1:{s.port}"
    for extra in ({"Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"}, {}):
        status, body = post(s, "/admin/cleanup", "", {"Authorization": basic(), "Host": host, **extra})
        assert status == 200, body


def test_token_posts_ignore_browser_headers(admin_server):
    status, _ = post(admin_server, "/admin/cleanup", "",
                     {"X-Admin-Token": TOKEN, "Origin": "https://elsewhere.example",
                      "Sec-Fetch-Site": "cross-site"})
    assert status == 200
