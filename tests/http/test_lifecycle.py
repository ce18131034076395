"""Claim tokens, leases, extend, fail, backoff, dead-lettering (spec 3, 7.4-7.6)."""

import secrets
import sqlite3
import time

import pytest

from conftest import Client, assert_error, compact, sqlite_only, wait_until

MUTATIONS = ("fulfill", "fail", "extend")


def mutate(client, op, iid, token, **fields):
    return getattr(client, op)(iid, token, **fields)


# ---- tokens --------------------------------------------------------------------

@pytest.mark.parametrize("op", MUTATIONS)
def test_wrong_token_is_404_and_lease_kept(bus, op):
    iid = bus.publish()
    c = bus.claim_ok()
    for bad in (secrets.token_hex(16), "", c["claim_token"].upper(), c["claim_token"][:-1],
                c["claim_token"] + "0"):
        if bad == c["claim_token"]:
            continue
        assert_error(mutate(bus, op, iid, bad), 404, "not_found")
    assert bus.status(iid)["status"] == "claimed"
    r = mutate(bus, op, iid, c["claim_token"])
    assert r.status == 200, r.raw


@pytest.mark.parametrize("op", MUTATIONS)
def test_token_of_another_intent_is_404(bus, op):
    a = bus.publish()
    b = bus.publish()
    ca = bus.claim_ok()
    cb = bus.claim_ok()
    assert {ca["id"], cb["id"]} == {a, b}
    assert_error(mutate(bus, op, ca["id"], cb["claim_token"]), 404, "not_found")
    assert mutate(bus, op, ca["id"], ca["claim_token"]).status == 200


@pytest.mark.parametrize("op", MUTATIONS)
def test_missing_token_is_400(bus, op):
    iid = bus.publish()
    bus.claim_ok()
    path = {"fulfill": "/fulfill/", "fail": "/fail/", "extend": "/extend_claim/"}[op] + iid
    assert_error(bus.post(path, {}), 400, "invalid_request")
    assert_error(bus.post(path, {"result": 1, "error": "x", "seconds": 60}), 400, "invalid_request")
    assert_error(bus.post(path, b""), 400, "invalid_request")
    assert_error(bus.post(path), 400, "invalid_request")
    assert bus.status(iid)["status"] == "claimed"


@pytest.mark.parametrize("op", MUTATIONS)
@pytest.mark.parametrize("token", [None, 123, True, ["x"]])
def test_non_string_token_refused(bus, op, token):
    iid = bus.publish()
    bus.claim_ok()
    path = {"fulfill": "/fulfill/", "fail": "/fail/", "extend": "/extend_claim/"}[op] + iid
    r = bus.post(path, {"claim_token": token})
    assert (r.status, r.json["error"]["code"]) in ((400, "invalid_request"), (404, "not_found")), r.raw
    assert bus.status(iid)["status"] == "claimed"


@pytest.mark.parametrize("op", MUTATIONS)
def test_unknown_intent_is_404(bus, op):
    assert_error(mutate(bus, op, secrets.token_hex(16), secrets.token_hex(16)), 404, "not_found")
    assert_error(mutate(bus, op, "not-an-id", secrets.token_hex(16)), 404, "not_found")


@pytest.mark.parametrize("op", MUTATIONS)
def test_unclaimed_intent_is_404(bus, op):
    iid = bus.publish()
    assert_error(mutate(bus, op, iid, secrets.token_hex(16)), 404, "not_found")
    assert bus.status(iid)["status"] == "open"


@pytest.mark.parametrize("op", MUTATIONS)
def test_token_dead_after_fulfill(bus, op):
    iid = bus.publish()
    c = bus.claim_ok()
    assert bus.fulfill(iid, c["claim_token"]).status == 200
    assert_error(mutate(bus, op, iid, c["claim_token"]), 404, "not_found")
    assert bus.status(iid)["status"] == "fulfilled"


@pytest.mark.parametrize("op", MUTATIONS)
def test_token_dead_after_fail(bus, op):
    iid = bus.publish(max_attempts=3)
    c = bus.claim_ok()
    assert bus.fail(iid, c["claim_token"]).status == 200
    assert_error(mutate(bus, op, iid, c["claim_token"]), 404, "not_found")
    assert bus.status(iid)["status"] == "open"


# ---- transitions -----------------------------------------------------------------

def test_open_claimed_fulfilled(bus):
    iid = bus.publish()
    assert bus.status(iid)["status"] == "open"
    c = bus.claim_ok()
    st = bus.status(iid)
    assert st["status"] == "claimed" and st["claim_attempts"] == 1
    assert st["claim_expires_at"] is not None
    before = time.time()
    r = bus.fulfill(iid, c["claim_token"])
    after = time.time()
    assert r.status == 200, r.raw
    assert set(r.json) == {"ok", "id", "status", "completed_at"} and r.json["ok"] is True
    assert r.json["id"] == iid and r.json["status"] == "fulfilled"
    assert before - 1 <= r.json["completed_at"] <= after + 1
    st = bus.status(iid)
    assert st["status"] == "fulfilled" and st["claim_attempts"] == 1
    assert abs(st["completed_at"] - r.json["completed_at"]) < 0.01
    bus.claim_none()


def test_api_key_never_echoed(bus):
    iid = bus.publish()
    c = bus.claim_ok()
    for path in (f"/status/{iid}", f"/result/{iid}"):
        assert bus.key.encode() not in bus.get(path).raw
    r = bus.fulfill(iid, c["claim_token"])
    assert bus.key.encode() not in r.raw
    assert bus.key.encode() not in bus.get(f"/result/{iid}").raw


# ---- extend --------------------------------------------------------------------

def test_extend_shape_and_default(bus):
    iid = bus.publish()
    c = bus.claim_ok()
    before = time.time()
    r = bus.extend(iid, c["claim_token"])
    after = time.time()
    assert r.status == 200, r.raw
    assert set(r.json) == {"ok", "id", "extended_by", "status", "claim_expires_at"}
    assert r.json["ok"] is True and r.json["extended_by"] == 60
    assert r.json["id"] == iid and r.json["status"] == "claimed"
    assert before + 60 - 1 <= r.json["claim_expires_at"] <= after + 60 + 1
    assert abs(bus.status(iid)["claim_expires_at"] - r.json["claim_expires_at"]) < 0.01


@pytest.mark.parametrize("seconds", [10, 10.0, 60, 600.5, 3600])
def test_extend_seconds_in_bounds(bus, seconds):
    iid = bus.publish()
    c = bus.claim_ok()
    before = time.time()
    r = bus.extend(iid, c["claim_token"], seconds=seconds)
    after = time.time()
    assert r.status == 200, r.raw
    assert before + seconds - 1 <= r.json["claim_expires_at"] <= after + seconds + 1
    assert r.json["extended_by"] == seconds


@pytest.mark.parametrize("seconds", [9, 9.99, 3601, 3600.5, 0, -60, "60", True, [60]])
def test_extend_seconds_out_of_bounds(bus, seconds):
    iid = bus.publish()
    c = bus.claim_ok()
    assert_error(bus.extend(iid, c["claim_token"], seconds=seconds), 400, "invalid_seconds")
    # the lease is untouched and still usable
    assert bus.status(iid)["status"] == "claimed"
    assert bus.extend(iid, c["claim_token"], seconds=30).status == 200


def test_extend_can_shorten(bus):
    iid = bus.publish()
    c = bus.claim_ok()
    r = bus.extend(iid, c["claim_token"], seconds=3600)
    r2 = bus.extend(iid, c["claim_token"], seconds=10)
    assert r2.status == 200
    assert r2.json["claim_expires_at"] < r.json["claim_expires_at"]


def test_extend_keeps_lease_past_original_timeout(lbus):
    iid = lbus.publish()
    c = lbus.claim_ok()
    assert c["claim_timeout"] == 1
    r = lbus.extend(iid, c["claim_token"], seconds=10)
    assert r.status == 200, r.raw
    time.sleep(1.5)
    lbus.claim_none()
    assert lbus.status(iid)["status"] == "claimed"
    assert lbus.fulfill(iid, c["claim_token"]).status == 200


# ---- lease expiry (1 s leases) -----------------------------------------------------

def test_lease_not_reclaimable_before_expiry(lbus):
    lbus.publish()
    c = lbus.claim_ok()
    assert c["claim_timeout"] == 1
    lbus.claim_none()


def test_lease_expiry_reclaim_and_old_token(lbus):
    iid = lbus.publish(max_attempts=3)
    c1 = lbus.claim_ok()
    time.sleep(1.2)
    c2 = lbus.claim_ok()  # immediately claimable once the lease has expired
    assert c2["id"] == iid
    assert c2["claim_attempts"] == 2
    assert c2["claim_token"] != c1["claim_token"]
    for op in MUTATIONS:
        assert_error(mutate(lbus, op, iid, c1["claim_token"]), 404, "not_found")
    assert lbus.extend(iid, c2["claim_token"], seconds=10).status == 200
    r = lbus.fulfill(iid, c2["claim_token"], result="done", result_type="text")
    assert r.status == 200, r.raw
    assert lbus.result(iid)["result"] == "done"


@pytest.mark.parametrize("op", MUTATIONS)
def test_expired_lease_mutation_is_404(lbus, op):
    iid = lbus.publish(max_attempts=3)
    c = lbus.claim_ok()
    time.sleep(1.2)
    assert_error(mutate(lbus, op, iid, c["claim_token"]), 404, "not_found")
    # still claimable afterwards
    c2 = lbus.claim_ok()
    assert c2["id"] == iid and c2["claim_attempts"] == 2


def test_lease_expiry_last_attempt_goes_dead(lbus):
    iid = lbus.publish(max_attempts=1)
    c = lbus.claim_ok()
    time.sleep(1.1)
    lbus.claim_none()  # no attempts left: never claimable again

    def dead():
        lbus.get("/health", key=None)  # some traffic for the sweep
        return lbus.status(iid)["status"] == "dead"

    wait_until(dead, timeout=5, interval=0.2, message="expired last-attempt lease to become dead")
    st = lbus.status(iid)
    assert st["claim_attempts"] == 1
    assert_error(lbus.fulfill(iid, c["claim_token"]), 404, "not_found")
    lbus.claim_none()


@sqlite_only("holds the SQLite database's write lock from outside the bus")
def test_lease_sweep_does_not_hold_up_its_thread(server_factory):
    """The lease sweep a request triggers (once a second, spec 11: lazy, on
    traffic) is queued to the writer, not waited for: with one HTTP thread
    and the database's write lock held from outside, the request that
    triggers it is answered at once; the sweep dead-letters the lapsed lease
    once the lock goes."""
    token = "mt-" + secrets.token_hex(8)
    srv = server_factory(env={"BUS_CLAIM_TIMEOUT_SECONDS": "1", "BUS_METRICS_TOKEN": token},
                         extra_args=["--threads", "1"])
    c = srv.client()
    iid = c.publish(max_attempts=1)
    c.claim_ok()
    time.sleep(1.2)  # the lease has lapsed, and a sweep is due
    other = Client(srv.port, srv.key, timeout=3)  # the writer gives up after 5 s
    lock = sqlite3.connect(srv.db, timeout=5, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        assert other.get("/health").status == 200  # it triggers the sweep
    finally:
        lock.execute("ROLLBACK")
        lock.close()
        other.close()
    wait_until(lambda: c.status(iid)["status"] == "dead", timeout=5, interval=0.1,
               message="the queued sweep to dead-letter the lapsed lease")
    # and counted, on the writer's thread, where the sweep ended
    metrics = c.get("/metrics", key=None, headers={"Authorization": "Bearer " + token},
                    check=False)
    assert metrics.status == 200
    assert b"\nintent_bus_lease_expiries_total 1\n" in metrics.raw, metrics.raw


def test_lease_expiry_twice_then_dead(lbus):
    iid = lbus.publish(max_attempts=2)
    lbus.claim_ok()
    time.sleep(1.2)
    c2 = lbus.claim_ok()
    assert c2["id"] == iid and c2["claim_attempts"] == 2
    time.sleep(1.2)
    lbus.claim_none()
    wait_until(lambda: lbus.status(iid)["status"] == "dead", timeout=5, interval=0.2,
               message="dead after second expiry")


# ---- fail ------------------------------------------------------------------------

def test_fail_requeues_with_backoff(bus):
    iid = bus.publish(max_attempts=3, backoff_base=1)
    c = bus.claim_ok()
    before = time.time()
    r = bus.fail(iid, c["claim_token"], error="Connection timed out")
    after = time.time()
    assert r.status == 200, r.raw
    assert set(r.json) == {"ok", "id", "status", "claim_attempts", "run_at"} and r.json["ok"] is True
    assert r.json["id"] == iid and r.json["status"] == "open" and r.json["claim_attempts"] == 1
    # run_at = now + backoff_base * 2^claim_attempts + jitter[0,2) = now + 2 + [0,2)
    assert before + 2 - 0.05 <= r.json["run_at"] < after + 4 + 0.05
    res = bus.result(iid)
    assert res["status"] == "open"
    assert res["error"] == "Connection timed out"
    assert res["claim_attempts"] == 1
    assert abs(res["run_at"] - r.json["run_at"]) < 0.01
    assert bus.status(iid)["error"] == "Connection timed out"
    bus.claim_none()  # backing off
    c2 = wait_until(lambda: bus.claim().json, timeout=6, interval=0.1, message="retry after backoff")
    assert time.time() >= r.json["run_at"] - 0.05
    assert c2["id"] == iid and c2["claim_attempts"] == 2
    assert c2["claim_token"] != c["claim_token"]


def test_fail_default_backoff_base_is_5(bus):
    iid = bus.publish()
    c = bus.claim_ok()
    before = time.time()
    r = bus.fail(iid, c["claim_token"])
    after = time.time()
    assert r.status == 200
    # 5 * 2^1 = 10 s plus jitter [0, 2)
    assert before + 10 - 0.05 <= r.json["run_at"] < after + 12 + 0.05


def test_fail_without_error_has_no_error_field(bus):
    iid = bus.publish()
    c = bus.claim_ok()
    assert bus.fail(iid, c["claim_token"]).status == 200
    assert "error" not in bus.result(iid)


def test_fail_error_truncated_to_2000_bytes(bus):
    iid = bus.publish()
    c = bus.claim_ok()
    assert bus.fail(iid, c["claim_token"], error="e" * 3000).status == 200
    assert bus.result(iid)["error"] == "e" * 2000


def test_fail_error_truncation_keeps_utf8_valid(bus):
    iid = bus.publish()
    c = bus.claim_ok()
    # sent as raw UTF-8 (3000 bytes), not as \u escapes, to stay under the body limit
    body = compact({"claim_token": c["claim_token"], "error": "é" * 1500}).encode()
    assert bus.post(f"/fail/{iid}", body).status == 200
    err = bus.result(iid)["error"]  # the central check already decoded the body as UTF-8
    assert len(err.encode()) <= 2000
    assert err == "é" * len(err) and len(err) >= 999


@pytest.mark.parametrize("error", [5, True, {"a": 1}, ["x"]])
def test_fail_error_wrong_type(bus, error):
    iid = bus.publish()
    c = bus.claim_ok()
    assert_error(bus.fail(iid, c["claim_token"], error=error), 400, "invalid_error")
    assert bus.status(iid)["status"] == "claimed"
    assert bus.fail(iid, c["claim_token"], error="ok").status == 200


def test_fail_max_attempts_1_goes_dead(bus):
    iid = bus.publish(max_attempts=1)
    c = bus.claim_ok()
    r = bus.fail(iid, c["claim_token"], error="fatal")
    assert r.status == 200, r.raw
    assert r.json["status"] == "dead" and r.json["claim_attempts"] == 1
    st = bus.status(iid)
    assert st["status"] == "dead" and st["error"] == "fatal"
    bus.claim_none()
    for op in MUTATIONS:
        assert_error(mutate(bus, op, iid, c["claim_token"]), 404, "not_found")
    assert bus.status(iid)["status"] == "dead"


def test_fail_until_dead(bus):
    iid = bus.publish(max_attempts=2, backoff_base=1)
    c = bus.claim_ok()
    assert bus.fail(iid, c["claim_token"], error="first").json["status"] == "open"
    c2 = wait_until(lambda: bus.claim().json, timeout=6, interval=0.1, message="retry")
    assert c2["claim_attempts"] == 2
    r = bus.fail(iid, c2["claim_token"], error="second")
    assert r.json["status"] == "dead" and r.json["claim_attempts"] == 2
    st = bus.result(iid)
    assert st["status"] == "dead" and st["error"] == "second"
    bus.claim_none()
