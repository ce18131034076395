"""POST /fulfill results, GET /result and GET /status (spec 7.5, 7.7, 7.8)."""

import secrets
import time

import pytest

from conftest import assert_error

RESULT_KEYS = {"id", "namespace", "goal", "status", "priority", "visibility", "claim_attempts",
               "run_at", "claim_expires_at", "target_worker", "required_capability", "result_type",
               "result", "completed_at", "max_attempts", "created_at", "expires_at"}


def claimed(bus, **fields):
    iid = bus.publish(**fields)
    c = bus.claim_ok()
    assert c["id"] == iid
    return iid, c["claim_token"]


def test_fulfill_json_result(bus):
    iid, token = claimed(bus, goal="send_notification")
    before = time.time()
    r = bus.fulfill(iid, token, result={"status": "sent", "n": [1, 2.5, None]}, result_type="json")
    after = time.time()
    assert r.status == 200, r.raw
    assert r.json == {"ok": True, "id": iid, "status": "fulfilled", "completed_at": r.json["completed_at"]}
    res = bus.result(iid)
    assert RESULT_KEYS <= set(res), sorted(RESULT_KEYS - set(res))
    assert res["id"] == iid and res["goal"] == "send_notification" and res["namespace"] == bus.ns
    assert res["status"] == "fulfilled"
    assert res["result"] == {"status": "sent", "n": [1, 2.5, None]}
    assert res["result_type"] == "json"
    assert before - 1 <= res["completed_at"] <= after + 1
    assert res["claim_attempts"] == 1
    assert res["priority"] == 100 and res["visibility"] == "private"


def test_fulfill_result_type_defaults_to_json(bus):
    iid, token = claimed(bus)
    assert bus.fulfill(iid, token, result=[1, 2, 3]).status == 200
    res = bus.result(iid)
    assert res["result"] == [1, 2, 3] and res["result_type"] == "json"


@pytest.mark.parametrize("result", ["plain string", 0, False, None, {"a": {"b": "☃"}}])
def test_fulfill_json_result_values(bus, result):
    iid, token = claimed(bus)
    assert bus.fulfill(iid, token, result=result).status == 200
    res = bus.result(iid)
    assert res["result"] == result
    assert type(res["result"]) is type(result)


def test_fulfill_text_result(bus):
    iid, token = claimed(bus)
    text = "line one\nline two ☃ \"quoted\""
    r = bus.fulfill(iid, token, result=text, result_type="text")
    assert r.status == 200, r.raw
    res = bus.result(iid)
    assert res["result"] == text and res["result_type"] == "text"


def test_fulfill_without_result(bus):
    iid, token = claimed(bus)
    r = bus.fulfill(iid, token)
    assert r.status == 200, r.raw
    res = bus.result(iid)
    assert res["status"] == "fulfilled"
    assert res.get("result") is None


def test_fulfill_no_body_is_400(bus):
    # claim_token is strictly required, so a bodyless fulfill cannot succeed.
    iid, token = claimed(bus)
    assert_error(bus.post(f"/fulfill/{iid}"), 400, "invalid_request")
    assert bus.status(iid)["status"] == "claimed"


@pytest.mark.parametrize("rtype", ["xml", "JSON", "Text", "", 1, True, ["json"]])
def test_fulfill_invalid_result_type(bus, rtype):
    iid, token = claimed(bus)
    assert_error(bus.fulfill(iid, token, result="x", result_type=rtype), 400, "invalid_result_type")
    # the refusal does not consume the lease
    assert bus.status(iid)["status"] == "claimed"
    assert bus.fulfill(iid, token, result="x", result_type="text").status == 200


@pytest.mark.parametrize("result", [{"a": 1}, 5, ["x"], True])
def test_fulfill_text_needs_string(bus, result):
    iid, token = claimed(bus)
    r = bus.fulfill(iid, token, result=result, result_type="text")
    assert r.status == 400, r.raw
    assert bus.status(iid)["status"] == "claimed"


def test_fulfill_large_result(bus):
    iid, token = claimed(bus)
    result = "r" * 8000
    assert bus.fulfill(iid, token, result=result, result_type="text").status == 200
    assert bus.result(iid)["result"] == result


def test_status_has_no_result(bus):
    iid, token = claimed(bus)
    assert bus.fulfill(iid, token, result={"secret": "sauce"}).status == 200
    st = bus.status(iid)
    res = bus.result(iid)
    assert "result" not in st and "result_type" not in st
    assert b"sauce" not in bus.get(f"/status/{iid}").raw
    assert st["status"] == "fulfilled"
    for k in set(res) - {"result", "result_type"}:
        assert k in st, k
        assert st[k] == res[k], k


def test_result_of_open_intent(bus):
    iid = bus.publish(priority=5, visibility="public", target_worker="w", required_capability="c",
                      max_attempts=4)
    res = bus.result(iid)
    assert res["status"] == "open"
    assert res["priority"] == 5 and res["visibility"] == "public"
    assert res["target_worker"] == "w" and res["required_capability"] == "c"
    assert res["max_attempts"] == 4 and res["claim_attempts"] == 0
    assert res.get("result") is None
    assert res.get("completed_at") is None


def test_result_and_status_unknown_id(bus):
    for path in ("/result/", "/status/"):
        assert_error(bus.get(path + secrets.token_hex(16)), 404, "not_found")
        assert_error(bus.get(path + "zz"), 404, "not_found")
        assert_error(bus.get(path + "%00"), 404, "not_found")


def test_result_needs_key(bus):
    iid = bus.publish()
    for path in (f"/result/{iid}", f"/status/{iid}"):
        assert_error(bus.get(path, key=None), 401, "unauthorized")
        assert_error(bus.get(path, key="nope"), 401, "unauthorized")


def test_result_after_failure_shows_error(bus):
    iid, token = claimed(bus, max_attempts=3)
    assert bus.fail(iid, token, error="boom").status == 200
    res = bus.result(iid)
    assert res["error"] == "boom" and res["status"] == "open"


def test_id_with_nul_suffix_is_not_the_id(bus):
    # "%00" decodes to NUL; "<id>\0zzz" is not the intent's id.
    iid = bus.publish()
    assert_error(bus.get(f"/status/{iid}%00zzz"), 404, "not_found")
    assert_error(bus.get(f"/result/{iid}%00"), 404, "not_found")
