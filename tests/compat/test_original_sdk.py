"""The original SDK's round trip against our server: what its users' code
does, with the main key, with BUS_REQUIRE_SIGNATURES=true, and with a tester
key. Every request is signed, as the SDK signs them."""

import time

import pytest

from compat_support import ADMIN_TOKEN, generate_tester_key, original_env, sdk_client, harness
from original_client import AuthError, ClientError, LeaseLostError, OriginalClient, build_path

unique = harness.unique


@pytest.fixture(params=["main_key", "signatures_required", "tester_key"])
def setup(request, server_factory):
    """(server, client under test, a second client with another key)."""
    required = "true" if request.param == "signatures_required" else "false"
    server = server_factory(env=original_env(BUS_REQUIRE_SIGNATURES=required))
    tester = generate_tester_key(server, "sdk-user")
    other = generate_tester_key(server, "someone-else")
    key = tester if request.param == "tester_key" else server.key
    return server, sdk_client(server, key), sdk_client(server, other)


def test_publish_claim_extend_fulfil_result(setup):
    server, sdk, _ = setup
    ns, idem = unique("ns"), unique("idem")
    published = sdk.publish("resize", {"w": 64}, namespace=ns, priority=700, idempotency_key=idem)
    assert published["status"] == "published" and published["namespace"] == ns
    assert sdk.publish("resize", {"w": 64}, namespace=ns, priority=700,
                       idempotency_key=idem)["id"] == published["id"]
    job = sdk.claim(goal="resize", namespace=ns, worker_id="pi-1", capabilities="gpu")
    # what the SDK's ClaimedIntent reads, with the types it insists on
    assert job["id"] == published["id"] and job["goal"] == "resize" and job["payload"] == {"w": 64}
    assert isinstance(job["claim_token"], str) and job["namespace"] == ns
    assert job["priority"] == 700 and job["claim_attempts"] == 1
    assert isinstance(job["claim_timeout"], int)
    assert job["target_worker"] is None and job["required_capability"] is None
    extended = sdk.extend_claim(job["id"], job["claim_token"], seconds=30)
    assert extended["ok"] is True and extended["id"] == job["id"] and extended["extended_by"] == 30
    done = sdk.fulfill(job["id"], job["claim_token"], result={"thumb": "ok"})
    assert done == {**done, "ok": True, "id": job["id"]}
    result = sdk.get_result(job["id"])
    assert result["status"] == "fulfilled" and result["result"] == {"thumb": "ok"}
    assert result["result_type"] == "json" and isinstance(result["completed_at"], float)
    status = sdk.get_status(job["id"])
    assert status["id"] == job["id"] and status["status"] == "fulfilled"
    assert sdk.claim(goal="resize", namespace=ns) is None and sdk.retry_after == 1.0


def test_public_intents_cross_keys_private_ones_do_not(setup):
    server, sdk, other = setup
    ns = unique("ns")
    public = sdk.publish("share", {"n": 1}, namespace=ns, visibility="public")
    sdk.publish("share", {"n": 2}, namespace=ns)  # private
    job = other.claim(goal="share", namespace=ns)
    assert job["id"] == public["id"]
    other.fulfill(job["id"], job["claim_token"], result="seen", result_type="text")
    assert other.claim(goal="share", namespace=ns) is None
    assert sdk.get_result(public["id"])["result"] == "seen"


def test_worker_runtime_listen_fulfils_and_fails(setup):
    server, sdk, _ = setup
    ns = unique("ns")
    first = sdk.publish("job", {"x": 2}, namespace=ns)
    job = sdk.listen_once("job", lambda payload: {"result": payload["x"] * 21, "result_type": "json"},
                          namespace=ns)
    assert job["id"] == first["id"]
    assert sdk.get_result(first["id"])["result"] == 42

    second = sdk.publish("job", {}, namespace=ns, max_attempts=1)
    sdk.listen_once("job", lambda payload: 1 / 0, namespace=ns)
    status = sdk.get_status(second["id"])
    assert status["status"] == "dead" and "division by zero" in status["last_error"]


def test_kv_set_and_get_with_ttl(setup):
    server, sdk, other = setup
    key = unique("k")
    assert sdk.set(key, {"temp": 21.5}, ttl=60)["ok"] is True
    assert sdk.get(key) == {"temp": 21.5}
    assert sdk.set(key, "plain", ttl=1)["ok"] is True
    assert sdk.get(key) == "plain"
    with pytest.raises(ClientError) as missing:
        other.get(key)  # private to the key that set it
    assert missing.value.status == 404
    # keys the SDK signs unencoded ("/set/a b") while sending them encoded
    for odd in ("a b " + key, "caf\u00e9-" + key, "x+y-" + key):
        assert sdk.set(odd, [odd])["ok"] is True
        assert sdk.get(odd) == [odd]
    time.sleep(2.2)
    with pytest.raises(ClientError) as expired:
        sdk.get(key)
    assert expired.value.status == 404


def test_fail_until_dead_and_the_dead_letter_list(setup):
    server, sdk, _ = setup
    ns = unique("ns")
    published = sdk.publish("fragile", {}, namespace=ns, max_attempts=1)
    job = sdk.claim(goal="fragile", namespace=ns)
    failed = sdk.fail(job["id"], job["claim_token"], error="fatal crash")
    assert failed["ok"] is True and failed["id"] == published["id"]
    assert sdk.get_status(published["id"])["status"] == "dead"
    admin = server.client()
    dead = admin.get("/admin/dead", key=None, headers={"X-Admin-Token": ADMIN_TOKEN}).json
    assert isinstance(dead, list)
    mine = [item for item in dead if item["intent_id"] == published["id"]]
    assert len(mine) == 1 and mine[0]["reason"] == "fatal crash"


def test_a_stale_claim_token_is_a_lost_lease(setup):
    server, sdk, _ = setup
    ns = unique("ns")
    published = sdk.publish("retry", {}, namespace=ns, backoff_base=1.0)
    first = sdk.claim(goal="retry", namespace=ns)
    sdk.fail(first["id"], first["claim_token"], error="temporary")
    deadline = time.monotonic() + 10
    second = None
    while second is None and time.monotonic() < deadline:  # backoff: 1 * 2^1 s + jitter
        time.sleep(0.2)
        second = sdk.claim(goal="retry", namespace=ns)
    assert second is not None and second["id"] == published["id"]
    assert second["claim_token"] != first["claim_token"]
    for call in (lambda: sdk.fulfill(first["id"], first["claim_token"], result="old"),
                 lambda: sdk.extend_claim(first["id"], first["claim_token"]),
                 lambda: sdk.fail(first["id"], first["claim_token"])):
        with pytest.raises(LeaseLostError) as lost:
            call()
        assert lost.value.code == "not_found" and "not found" in lost.value.message.lower()
    assert sdk.fulfill(second["id"], second["claim_token"], result="new")["ok"] is True


def test_replayed_and_tampered_requests_are_refused(setup):
    server, sdk, _ = setup
    ns = unique("ns")
    sdk.publish("guarded", {"n": 1}, namespace=ns)
    replay = sdk.send(*sdk.last_request)  # the publish again, byte for byte
    assert replay.status == 403, replay.raw
    assert replay.json["error"] == {"code": "invalid_signature", "message": "Replay detected"}
    body = b'{"goal":"guarded","payload":{"n":1}}'

    def refused(method, path, body, headers):
        answer = sdk.send(method, path, body, headers)
        assert answer.status == 403, answer.raw
        assert answer.json["error"]["code"] == "invalid_signature"
        return answer.json["error"]["message"]

    # a tampered body, path and query, each with a fresh nonce
    path = build_path("/claim", [("namespace", ns), ("goal", "guarded")])
    signed = sdk.signed_headers("POST", path, b"")
    assert refused("POST", path.replace("guarded", "other"), b"", signed) == "Bad signature"
    signed = sdk.signed_headers("POST", "/intent", body)
    assert refused("POST", "/intent", body.replace(b"1", b"2"), signed) == "Bad signature"
    signed = sdk.signed_headers("GET", "/status/" + "0" * 32, b"")
    assert refused("GET", "/result/" + "0" * 32, b"", signed) == "Bad signature"
    # the same request twice: the second is a replay
    path = build_path("/claim", [("namespace", ns), ("goal", "nothing-here")])
    signed = sdk.signed_headers("POST", path, b"")
    assert sdk.send("POST", path, b"", signed).status == 204
    assert refused("POST", path, b"", signed) == "Replay detected"


def test_a_wrong_key_is_an_auth_error(setup):
    server, sdk, _ = setup
    wrong = OriginalClient(f"http://127.0.0.1:{server.port}", "not-a-key-" + unique())
    with pytest.raises(AuthError) as refused:
        wrong.publish("x", {})
    assert refused.value.status == 401 and refused.value.code == "unauthorized"
    assert refused.value.message == "Invalid API key."
    tester = OriginalClient(f"http://127.0.0.1:{server.port}", "tk_" + "0" * 40)
    with pytest.raises(AuthError):
        tester.get_status("0" * 32)


def test_the_main_key_claims_for_any_publisher_a_tester_only_for_itself(server_factory):
    server = server_factory(env=original_env())
    tester_key = generate_tester_key(server)
    main, tester = sdk_client(server), sdk_client(server, tester_key)
    ns = unique("ns")
    theirs = tester.publish("owned", {}, namespace=ns)  # private to the tester key
    mine = main.publish("owned", {}, namespace=ns)
    assert main.claim(goal="owned", namespace=ns, publisher=tester_key)["id"] == theirs["id"]
    with pytest.raises(AuthError) as forbidden:
        tester.claim(goal="owned", namespace=ns, publisher=server.key)
    assert (forbidden.value.status, forbidden.value.code) == (403, "forbidden")
    assert main.claim(goal="owned", namespace=ns, publisher=server.key)["id"] == mine["id"]
