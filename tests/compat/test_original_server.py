"""What the original server's own test suite (tests/test_server_basic.py and
tests/test_server_advanced.py of dsecurity49/Intent-Bus) asks of a server,
asked of ours over real HTTP; then the differences found by using our bus as
a newcomer from the original would (issue 13, items 6 to 13).

The original's tests move a mocked clock past the retry backoff; over HTTP
these publish with the smallest backoff and wait instead."""

import hashlib
import hmac
import json
import re
import socket
import subprocess
import time

from compat_support import (ADMIN_TOKEN, DASHBOARD_PASSWORD, METRICS_TOKEN, generate_tester_key,
                      harness, original_env)

assert_error = harness.assert_error
unique = harness.unique


def basic(user, password):
    import base64
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# ---- the original's basic suite -------------------------------------------------

def test_health_reports_the_originals_version(bus):
    r = bus.client().get("/health", key=None)
    assert r.status == 200 and r.json["ok"] is True and r.json["version"] == "7.61"


def test_the_root_names_the_bus(bus):
    r = bus.client().get("/", key=None)
    assert r.status == 200 and r.json["name"] == "Intent Bus V7.61"


def test_another_keys_intent_is_403_access_denied_and_the_claimer_keeps_reading(bus):
    owner = bus.client(key=generate_tester_key(bus, "owner"))
    worker = bus.client(key=generate_tester_key(bus, "worker"))
    stranger = bus.client(key=generate_tester_key(bus, "stranger"))
    iid = owner.post("/intent", {"goal": "pub", "payload": {}, "visibility": "public"}).json["id"]
    for path in (f"/status/{iid}", f"/result/{iid}"):
        r = stranger.get(path)
        assert_error(r, 403, "forbidden")
        assert r.json["error"]["message"] == "Access denied."
    job = worker.post("/claim?goal=pub").json
    assert worker.post(f"/fulfill/{iid}", {"claim_token": job["claim_token"],
                                           "result": "done", "result_type": "text"}).status == 200
    assert worker.get(f"/result/{iid}").json["result"] == "done"  # after fulfilling, too
    assert_error(stranger.get(f"/status/{iid}"), 403, "forbidden")
    assert_error(stranger.get("/status/" + "0" * 32), 404, "not_found")


def test_a_missing_key_is_401_missing_api_key(bus):
    r = bus.client().post("/intent", {"goal": "test", "payload": {}}, key=None)
    assert_error(r, 401, "unauthorized")
    assert "Missing API key" in r.json["error"]["message"]


def test_publish_claim_fulfil_lifecycle(bus):
    c = bus.client()
    published = c.post("/intent", {"goal": "process_image", "namespace": "media",
                                   "payload": {"url": "http://example.com/image.png"}})
    assert published.status == 201
    claim = c.post("/claim?goal=process_image&namespace=media")
    assert claim.status == 200 and claim.json["id"] == published.json["id"]
    assert claim.json["payload"]["url"] == "http://example.com/image.png"
    assert claim.json["claim_token"]
    assert c.post("/claim?goal=process_image&namespace=media").status == 204
    done = c.post(f"/fulfill/{claim.json['id']}", {"claim_token": claim.json["claim_token"],
                                                   "result": {"status": "done"}, "result_type": "json"})
    assert done.status == 200


def test_fulfil_without_a_claim_token_is_400_missing_claim_token(bus):
    c = bus.client()
    iid = c.post("/intent", {"goal": "secure_job", "payload": {"task": "test"}}).json["id"]
    assert c.post("/claim?goal=secure_job").status == 200
    for path in (f"/fulfill/{iid}", f"/fail/{iid}", f"/extend_claim/{iid}"):
        r = c.post(path, {"result": "done", "result_type": "text"})
        assert_error(r, 400, "invalid_request")
        assert "Missing claim_token" in r.json["error"]["message"]
        r = c.post(path)  # no body at all
        assert_error(r, 400, "invalid_request")
        assert "Missing claim_token" in r.json["error"]["message"]


def test_a_fake_claim_token_is_404(bus):
    c = bus.client()
    iid = c.post("/intent", {"goal": "secure_job", "payload": {"task": "test"}}).json["id"]
    assert c.post("/claim?goal=secure_job").status == 200
    r = c.post(f"/fulfill/{iid}", {"claim_token": "invalid_token", "result": "done",
                                   "result_type": "text"})
    assert r.status == 404


def test_idempotency_key_reuse_with_another_body_is_422(bus):
    c = bus.client()
    headers = {"Idempotency-Key": "test-key-123"}
    first = c.post("/intent", {"goal": "test_idempotency", "payload": {"data": 1}}, headers=headers)
    again = c.post("/intent", {"goal": "test_idempotency", "payload": {"data": 1}}, headers=headers)
    assert first.status == again.status == 201 and first.json["id"] == again.json["id"]
    other = c.post("/intent", {"goal": "test_idempotency", "payload": {"data": 2}}, headers=headers)
    assert_error(other, 422, "idempotency_conflict")
    assert "Key reused with different payload" in other.json["error"]["message"]


def test_metrics_need_the_bearer_token(bus):
    c = bus.client()
    assert c.get("/metrics", key=None).status == 401
    r = c.request("GET", "/metrics", key=None, check=False,
                  headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert r.status == 200 and "intent_bus_intents_total" in r.raw.decode()


# ---- the original's advanced suite ----------------------------------------------

def test_capability_routing(bus):
    c = bus.client()
    assert c.post("/intent", {"goal": "process_video", "payload": {},
                              "required_capability": "ffmpeg"}).status == 201
    assert c.post("/claim?goal=process_video").status == 204
    assert c.post("/claim?goal=process_video",
                  headers={"X-Worker-Capabilities": "gpu,imagemagick"}).status == 204
    r = c.post("/claim?goal=process_video", headers={"X-Worker-Capabilities": "cpu,ffmpeg,gpu"})
    assert r.status == 200 and r.json["goal"] == "process_video" and "claim_token" in r.json


def test_a_tester_key_gets_60_requests_a_minute(bus):
    tester = bus.client(key=generate_tester_key(bus, "ci_test"))
    for _ in range(60):
        assert tester.post("/intent", {"goal": "spam", "payload": {}}).status == 201
    r = tester.post("/intent", {"goal": "spam", "payload": {}})
    assert_error(r, 429, "rate_limited")
    assert "Too many requests" in r.json["error"]["message"]


def test_signatures_and_replays(bus):
    c = bus.client()
    timestamp, nonce = str(int(time.time())), "unique-nonce-001"
    body = b'{"goal":"secure_task","payload":{}}'
    message = f"POST\n/intent\n{timestamp}\n{nonce}\n".encode() + body
    signature = hmac.new(bus.key.encode(), message, hashlib.sha256).hexdigest()
    headers = {"X-Timestamp": timestamp, "X-Nonce": nonce, "X-Signature": signature}
    assert c.post("/intent", body, headers=headers).status == 201
    replay = c.post("/intent", body, headers=headers)
    assert_error(replay, 403, "invalid_signature")
    assert "Replay detected" in replay.json["error"]["message"]
    headers.update({"X-Nonce": "unique-nonce-002", "X-Signature": "deadbeef1234567890badsignature"})
    forged = c.post("/intent", body, headers=headers)
    assert_error(forged, 403, "invalid_signature")
    assert "Bad signature" in forged.json["error"]["message"]


def test_signature_refusals_carry_the_originals_messages(bus):
    c = bus.client()
    now = int(time.time())

    def refused(headers):
        r = c.post("/intent", b"{}", headers=headers)
        assert_error(r, 403, "invalid_signature")
        return r.json["error"]["message"]

    assert refused({"X-Signature": "ab" * 32}) == "Missing required signature headers."
    assert refused({"X-Nonce": "n1"}) == "Missing required signature headers."
    assert refused({"X-Timestamp": "soon", "X-Nonce": "n2", "X-Signature": "ab" * 32}) == \
        "Invalid timestamp"
    assert refused({"X-Timestamp": str(now - 301), "X-Nonce": "n3",
                    "X-Signature": "ab" * 32}) == "Stale timestamp"
    assert refused({"X-Timestamp": str(now), "X-Nonce": "n4", "X-Signature": "ab" * 32}) == \
        "Bad signature"


def test_dead_letters_list_their_reason(bus):
    c, admin = bus.client(), {"X-Admin-Token": ADMIN_TOKEN}
    iid = c.post("/intent", {"goal": "fragile_task", "payload": {}, "max_attempts": 2,
                             "backoff_base": 1}).json["id"]
    first = c.post("/claim?goal=fragile_task").json
    assert c.post(f"/fail/{iid}", {"claim_token": first["claim_token"],
                                   "error": "first crash"}).status == 200
    second, deadline = None, time.monotonic() + 10
    while second is None and time.monotonic() < deadline:  # 1 s * 2^1 + jitter
        time.sleep(0.2)
        r = c.post("/claim?goal=fragile_task")
        second = r.json if r.status == 200 else None
    assert second and second["claim_token"] != first["claim_token"]
    assert c.post(f"/fail/{iid}", {"claim_token": second["claim_token"],
                                   "error": "fatal crash"}).status == 200
    assert c.post("/claim?goal=fragile_task").status == 204
    dead = c.get("/admin/dead", key=None, headers=admin)
    assert dead.status == 200 and isinstance(dead.json, list) and len(dead.json) == 1
    assert dead.json[0]["reason"] == "fatal crash" and dead.json[0]["intent_id"] == iid
    # cancelled and retried by an admin: the original's answers and reasons
    other = c.post("/intent", {"goal": "x", "payload": {}}).json["id"]
    cancelled = c.post(f"/admin/intents/{other}/cancel", key=None, headers=admin)
    assert cancelled.json == {**cancelled.json, "ok": True, "id": other, "status": "dead"}
    newest = c.get("/admin/dead", key=None, headers=admin).json
    assert [item["intent_id"] for item in newest] == [other, iid]  # newest first
    assert newest[0]["reason"] == "Cancelled by admin"
    retried = c.post(f"/admin/intents/{other}/retry", key=None, headers=admin)
    assert retried.json == {**retried.json, "ok": True, "id": other, "status": "open"}


def test_admin_routes_refuse_an_api_key(bus):
    tester = generate_tester_key(bus, "hacker")
    r = bus.client().post("/admin/purge", {"confirm": True}, key=tester)
    assert r.status == 401 and "Authentication required" in r.raw.decode()
    assert r.json["error"]["message"] == "Authentication required."
    assert r.headers["www-authenticate"].startswith("Basic")


def test_admin_success_bodies(bus):
    admin = bus.client()
    headers = {"X-Admin-Token": ADMIN_TOKEN}
    key = generate_tester_key(bus)
    revoked = admin.post("/admin/revoke_key", {"api_key": key}, key=None, headers=headers)
    assert revoked.status == 200 and revoked.json["ok"] is True
    purged = admin.post("/admin/purge", {"confirm": True, "namespace": unique("ns")}, key=None,
                        headers=headers)
    assert purged.status == 200 and purged.json["ok"] is True


def test_an_old_claim_token_is_refused_after_a_retry(bus):
    c = bus.client()
    iid = c.post("/intent", {"goal": "retry_task", "payload": {"data": "test"},
                             "backoff_base": 1}).json["id"]
    token1 = c.post("/claim?goal=retry_task").json["claim_token"]
    assert c.post(f"/fail/{iid}", {"claim_token": token1, "error": "temporary failure"}).status == 200
    token2, deadline = None, time.monotonic() + 10
    while token2 is None and time.monotonic() < deadline:
        time.sleep(0.2)
        r = c.post("/claim?goal=retry_task")
        token2 = r.json["claim_token"] if r.status == 200 else None
    assert token2 and token1 != token2
    old = c.post(f"/fulfill/{iid}", {"claim_token": token1, "result": "old", "result_type": "text"})
    assert old.status == 404 and "not found" in old.json["error"]["message"].lower()
    assert c.post(f"/fulfill/{iid}", {"claim_token": token2, "result": "new",
                                      "result_type": "text"}).status == 200
    assert c.get(f"/status/{iid}").json["status"] == "fulfilled"


# ---- found trying it as a newcomer from the original ------------------------------

def test_a_wrong_admin_token_is_not_rescued_by_a_right_password(bus):
    c = bus.client()
    right = basic("admin", DASHBOARD_PASSWORD)
    assert c.get("/admin/stats", key=None, headers={"Authorization": right}).status == 200
    for path in ("/admin/dashboard", "/admin/stats"):
        r = c.request("GET", path, key=None, check=False,
                      headers={"X-Admin-Token": "wrong", "Authorization": right})
        assert r.status == 401, (path, r.raw[:200])


def test_a_goal_of_only_whitespace_is_refused(bus):
    c = bus.client()
    for goal in (" ", "   ", "\t\n"):
        assert_error(c.post("/intent", {"goal": goal, "payload": {}}), 400, "invalid_goal")


def test_blank_claim_values_mean_not_given(bus):
    c = bus.client()
    ns = unique("ns")
    iid = c.post("/intent", {"goal": "g", "payload": {}, "namespace": ns}).json["id"]
    r = c.post(f"/claim?namespace={ns}&goal=&worker_id=&capabilities=&publisher=",
               headers={"X-Worker-ID": ""})
    assert r.status == 200 and r.json["id"] == iid
    # the original's singular spellings of the capability list
    capable = c.post("/intent", {"goal": "g", "payload": {}, "namespace": ns,
                                 "required_capability": "ffmpeg"}).json["id"]
    assert c.post(f"/claim?namespace={ns}&capability=ffmpeg").json["id"] == capable


def test_a_second_server_on_a_used_port_fails(bus, tmp_path):
    second = subprocess.run(
        [str(harness.BIN), "serve", "--bind", "127.0.0.1", "--port", str(bus.port),
         "--db", str(tmp_path / "second.db")],
        env={**bus.environment(), "BUS_SECRET": "another"}, capture_output=True, text=True,
        timeout=30, stdin=subprocess.DEVNULL)
    assert second.returncode != 0
    assert "address already in use" in second.stderr
    # and the first one still answers every request with its own key
    c = bus.client()
    for _ in range(20):
        assert c.get("/status/" + "0" * 32).status == 404


def test_the_access_log_does_not_call_a_refused_key_main(server_factory):
    server = server_factory(env=original_env(BUS_LOG_LEVEL="info"))
    c = server.client()
    assert c.get("/status/" + "0" * 32, key="wrong-key").status == 401
    assert c.get("/status/" + "0" * 32).status == 404
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and server.stderr().count("/status/") < 2:
        time.sleep(0.05)
    lines = [line for line in server.stderr().splitlines() if "/status/" in line]
    assert len(lines) == 2, server.stderr()
    assert "status=401" in lines[0] and 'who="-"' in lines[0], lines[0]
    assert "status=404" in lines[1] and 'who="main"' in lines[1], lines[1]


def test_the_banner_says_when_the_admin_api_is_off(server_factory):
    off = server_factory(env={"BUS_ADMIN_SECRET": "", "DASHBOARD_PASSWORD": ""})
    banner = off.stderr()
    assert "admin API and dashboard are off" in banner
    assert "BUS_ADMIN_SECRET" in banner and "DASHBOARD_PASSWORD" in banner
    on = server_factory(env=original_env())
    assert "are off" not in on.stderr()


def test_an_expired_lease_is_not_counted_as_claimed(server_factory):
    server = server_factory(env=original_env(BUS_CLAIM_TIMEOUT_SECONDS="1"))
    c = server.client()
    ns = unique("ns")
    iid = c.post("/intent", {"goal": "stuck", "payload": {}, "namespace": ns}).json["id"]
    held = c.post("/intent", {"goal": "held", "payload": {}, "namespace": ns}).json["id"]
    c.post(f"/claim?namespace={ns}&goal=stuck", headers={"X-Worker-ID": "pi-7"})
    claim = c.post(f"/claim?namespace={ns}&goal=held").json
    assert c.post(f"/extend_claim/{held}", {"claim_token": claim["claim_token"],
                                            "seconds": 60}).status == 200
    time.sleep(1.5)  # the stuck one's one-second lease runs out
    admin = {"X-Admin-Token": ADMIN_TOKEN}
    counts = c.get("/admin/stats", key=None, headers=admin).json["namespaces"][ns]
    assert counts["claimed"] == 1  # the held one only
    assert counts.get("expired", 0) + counts["open"] == 1
    listed = c.get(f"/admin/intents?namespace={ns}", key=None, headers=admin).json["intents"]
    stuck = next(item for item in listed if item["id"] == iid)
    assert stuck["lease_expired"] is True and stuck["claim_expires_at"] < time.time()
    assert stuck["claimed_by"]  # who held it, to spot the stuck worker's key
    live = next(item for item in listed if item["id"] == held)
    assert live["lease_expired"] is False
    assert live["claim_expires_at"] > time.time() and live["claimed_by"]
