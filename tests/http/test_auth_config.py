"""Server start-up configuration: BUS_SECRET, generated key file, lease length."""

import os
import secrets
import socket
import stat
import subprocess

import pytest

from conftest import assert_error, unique


def wait_exit(srv, timeout=10):
    try:
        return srv.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        srv.kill()
        pytest.fail("server kept running although it should have refused to start")


def test_configured_secret_is_the_key(server_factory):
    srv = server_factory()
    c = srv.client()
    assert c.post("/intent", c.intent_body()).status == 201
    assert_error(c.post("/intent", c.intent_body(), key=secrets.token_hex(16)), 401, "unauthorized")
    assert_error(c.post("/intent", c.intent_body(), key=None), 401, "unauthorized")


def test_dev_secret_refused(server_factory):
    srv = server_factory(secret="dev_secret", start=False)
    srv.spawn()
    rc = wait_exit(srv)
    assert rc != 0, srv.stderr()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()


def test_generated_secret_file(server_factory):
    srv = server_factory(secret=None)
    f = srv.secret_file
    assert f.exists(), "BUS_SECRET unset: <db>.secret must be created"
    mode = stat.S_IMODE(os.stat(f).st_mode)
    assert mode == 0o600, oct(mode)
    key = f.read_text().strip()
    assert len(key) >= 32 and key != "dev_secret"
    c = srv.client()
    assert c.key == key
    iid = c.publish()
    assert_error(c.post("/intent", c.intent_body(), key=secrets.token_hex(32)), 401, "unauthorized")
    assert_error(c.post("/intent", c.intent_body(), key=None), 401, "unauthorized")

    # restart: the same key is reused, the file is not rewritten
    srv.restart()
    assert f.read_text().strip() == key
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    c2 = srv.client()
    assert c2.status(iid)["status"] == "open"
    assert c2.claim_ok(namespace=c.ns)["id"] == iid


def test_generated_secrets_differ(server_factory):
    a = server_factory(secret=None)
    b = server_factory(secret=None)
    assert a.key != b.key
    ca = a.client()
    assert_error(ca.post("/intent", ca.intent_body(), key=b.key), 401, "unauthorized")


def test_claim_timeout_setting(server_factory):
    srv = server_factory(env={"BUS_CLAIM_TIMEOUT_SECONDS": "2"})
    c = srv.client()
    c.publish()
    claim = c.claim_ok()
    assert claim["claim_timeout"] == 2


def test_claim_timeout_default_60(server_factory):
    srv = server_factory()
    c = srv.client()
    c.publish()
    assert c.claim_ok()["claim_timeout"] == 60


@pytest.mark.parametrize("value", ["0", "3601", "-1", "abc"])
def test_claim_timeout_out_of_range_refused(server_factory, value):
    srv = server_factory(env={"BUS_CLAIM_TIMEOUT_SECONDS": value}, start=False)
    srv.spawn()
    assert wait_exit(srv) != 0


@pytest.mark.parametrize("value", ["1", "3600"])
def test_claim_timeout_bounds_accepted(server_factory, value):
    srv = server_factory(env={"BUS_CLAIM_TIMEOUT_SECONDS": value})
    c = srv.client(ns=unique("ns"))
    c.publish()
    assert c.claim_ok()["claim_timeout"] == int(value)


def test_sigterm_exits_cleanly(server_factory):
    srv = server_factory()
    c = srv.client()
    c.publish()
    assert srv.stop() == 0, srv.stderr()


@pytest.mark.parametrize("value", ["59", "604801", "-1", "abc"])
def test_retention_out_of_range_refused(server_factory, value):
    srv = server_factory(env={"BUS_RETENTION_SECONDS": value}, start=False)
    srv.spawn()
    assert wait_exit(srv) != 0


@pytest.mark.parametrize("value", ["60", "604800"])
def test_retention_bounds_accepted(server_factory, value):
    srv = server_factory(env={"BUS_RETENTION_SECONDS": value})
    c = srv.client(ns=unique("ns"))
    c.publish()
    assert c.claim_ok()
