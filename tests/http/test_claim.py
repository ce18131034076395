"""POST /claim: response shape, ordering, filters, routing (spec 6, 7.3)."""

import time

import pytest

from conftest import HEX32, assert_error, unique, wait_until

CLAIM_KEYS = {"id", "namespace", "goal", "payload", "claim_attempts", "priority", "target_worker",
              "required_capability", "claim_token", "claim_timeout", "claim_expires_at"}


def test_claim_response_shape(bus):
    iid = bus.publish(goal="send_notification", payload={"message": "Hello"}, priority=321)
    before = time.time()
    c = bus.claim_ok()
    after = time.time()
    assert set(c) == CLAIM_KEYS, sorted(c)
    assert c["id"] == iid
    assert c["namespace"] == bus.ns
    assert c["goal"] == "send_notification"
    assert c["payload"] == {"message": "Hello"}
    assert c["claim_attempts"] == 1
    assert c["priority"] == 321
    assert c["target_worker"] is None
    assert c["required_capability"] is None
    assert isinstance(c["claim_token"], str) and HEX32.match(c["claim_token"]), c["claim_token"]
    assert c["claim_timeout"] == 60 and isinstance(c["claim_timeout"], (int, float))
    assert before + 60 - 2 <= c["claim_expires_at"] <= after + 60 + 2


def test_claim_status_after_claim(bus):
    iid = bus.publish()
    c = bus.claim_ok()
    st = bus.status(iid)
    assert st["status"] == "claimed"
    assert st["claim_attempts"] == 1
    assert abs(st["claim_expires_at"] - c["claim_expires_at"]) < 0.01


def test_claim_tokens_unique(bus):
    for _ in range(20):
        bus.publish()
    tokens = {bus.claim_ok()["claim_token"] for _ in range(20)}
    assert len(tokens) == 20
    assert all(HEX32.match(t) for t in tokens)


def test_claim_empty_is_204(bus):
    r = bus.claim_none()
    assert r.raw == b""
    assert r.json is None


def test_claim_each_intent_once(bus):
    ids = {bus.publish() for _ in range(5)}
    got = {bus.claim_ok()["id"] for _ in range(5)}
    assert got == ids
    bus.claim_none()


def test_claim_priority_order(bus):
    prios = [100, 500, 0, 1000, 250, 999, 1]
    ids = {bus.publish(priority=p, payload=p): p for p in prios}
    order = [bus.claim_ok()["payload"] for _ in prios]
    assert order == sorted(prios, reverse=True)
    assert len(ids) == len(prios)
    bus.claim_none()


def test_claim_created_at_order_within_priority(bus):
    ids = [bus.publish(payload=i) for i in range(6)]
    got = [bus.claim_ok()["id"] for _ in ids]
    assert got == ids


def test_claim_run_at_before_created_at(bus):
    # X is published first but with a small delay: its run_at is later than Y's.
    x = bus.publish(delay=0.4, payload="x")
    y = bus.publish(payload="y")
    assert bus.status(x)["created_at"] <= bus.status(y)["created_at"]
    time.sleep(0.6)
    assert bus.claim_ok()["id"] == y
    assert bus.claim_ok()["id"] == x


def test_claim_priority_beats_run_at(bus):
    low = bus.publish(priority=1)
    high = bus.publish(priority=2, delay=0.3)
    time.sleep(0.5)
    assert bus.claim_ok()["id"] == high
    assert bus.claim_ok()["id"] == low


def test_claim_mixed_order(bus):
    spec = [(5, "a"), (7, "b"), (5, "c"), (7, "d"), (1, "e"), (5, "f")]
    for prio, name in spec:
        bus.publish(priority=prio, payload=name)
    got = [bus.claim_ok()["payload"] for _ in spec]
    assert got == ["b", "d", "a", "c", "f", "e"]


def test_claim_goal_filter(bus):
    a = bus.publish(goal="alpha", priority=900)
    b = bus.publish(goal="beta", priority=1)
    c = bus.claim_ok(goal="beta")
    assert c["id"] == b and c["goal"] == "beta"
    bus.claim_none(goal="beta")
    bus.claim_none(goal="gamma")
    bus.claim_none(goal="Alpha")  # exact, case-sensitive
    assert bus.claim_ok(goal="alpha")["id"] == a


def test_claim_goal_filter_in_json_body(bus):
    bus.publish(goal="alpha", priority=900)
    b = bus.publish(goal="beta")
    r = bus.post("/claim", {"namespace": bus.ns, "goal": "beta"})
    assert r.status == 200, r.raw
    assert r.json["id"] == b


def test_claim_namespace_in_json_body(bus):
    iid = bus.publish()
    r = bus.post("/claim", {"namespace": bus.ns})
    assert r.status == 200, r.raw
    assert r.json["id"] == iid


def test_claim_query_wins_over_body(bus):
    other = unique("ns")
    iid = bus.publish()
    bus.publish(namespace=other)
    r = bus.post("/claim", {"namespace": other}, params={"namespace": bus.ns})
    assert r.status == 200, r.raw
    assert r.json["id"] == iid and r.json["namespace"] == bus.ns


def test_claim_goal_too_long(bus):
    assert_error(bus.claim(goal="g" * 257), 400, "invalid_goal")
    assert_error(bus.post("/claim", {"namespace": bus.ns, "goal": "g" * 257}), 400, "invalid_goal")


def test_claim_goal_256_ok(bus):
    goal = "g" * 256
    iid = bus.publish(goal=goal)
    assert bus.claim_ok(goal=goal)["id"] == iid


def test_claim_goal_empty_in_body(bus):
    assert_error(bus.post("/claim", {"namespace": bus.ns, "goal": ""}), 400, "invalid_goal")


def test_claim_goal_wrong_type_in_body(bus):
    assert_error(bus.post("/claim", {"namespace": bus.ns, "goal": 5}), 400, "invalid_goal")


@pytest.mark.parametrize("ns", ["a b", "n" * 65, "a/b", "é"])
def test_claim_bad_namespace(bus, ns):
    assert_error(bus.claim(namespace=ns), 400, "invalid_namespace")


def test_claim_bad_namespace_in_body(bus):
    assert_error(bus.post("/claim", {"namespace": 5}), 400, "invalid_namespace")


def test_claim_namespaces_never_crossed(bus):
    ns2 = unique("ns")
    a = bus.publish(priority=1000)
    b = bus.publish(namespace=ns2, priority=0)
    c2 = bus.claim_ok(namespace=ns2)
    assert c2["id"] == b and c2["namespace"] == ns2
    bus.claim_none(namespace=ns2)
    c1 = bus.claim_ok()
    assert c1["id"] == a and c1["namespace"] == bus.ns
    bus.claim_none()


def test_claim_default_namespace_when_absent(bus):
    goal = unique("goal")
    iid = bus.publish(namespace="default", goal=goal)
    bus.claim_none(goal=goal)  # our own namespace has nothing
    c = bus.claim_ok(namespace=None, goal=goal)  # no namespace parameter at all
    assert c["id"] == iid and c["namespace"] == "default"


def test_claim_delay(bus):
    iid = bus.publish(delay=2)
    run_at = bus.status(iid)["run_at"]
    bus.claim_none()
    c = wait_until(lambda: bus.claim().json, timeout=6, interval=0.1, message="delayed intent")
    assert time.time() >= run_at - 0.05
    assert c["id"] == iid


def test_claim_visibility_public_and_private_both_claimable_by_publisher(bus):
    pub = bus.publish(visibility="public", priority=2)
    priv = bus.publish(visibility="private", priority=1)
    assert bus.status(pub)["visibility"] == "public"
    assert bus.status(priv)["visibility"] == "private"
    assert bus.claim_ok()["id"] == pub
    assert bus.claim_ok()["id"] == priv
    assert bus.result(pub)["visibility"] == "public"
    assert bus.result(priv)["visibility"] == "private"


# ---- target_worker ---------------------------------------------------------

def test_target_worker_header(bus):
    iid = bus.publish(target_worker="w1")
    bus.claim_none()
    bus.claim_none(headers={"X-Worker-ID": "w2"})
    bus.claim_none(headers={"X-Worker-ID": "W1"})
    bus.claim_none(headers={"X-Worker-ID": "w1x"})
    c = bus.claim_ok(headers={"X-Worker-ID": "w1"})
    assert c["id"] == iid and c["target_worker"] == "w1"


def test_target_worker_query_param(bus):
    iid = bus.publish(target_worker="w1")
    bus.claim_none(worker_id="w2")
    c = bus.claim_ok(worker_id="w1")
    assert c["id"] == iid and c["target_worker"] == "w1"


def test_target_worker_in_json_body(bus):
    iid = bus.publish(target_worker="w1")
    r = bus.post("/claim", {"namespace": bus.ns, "worker_id": "w1"})
    assert r.status == 200, r.raw
    assert r.json["id"] == iid


def test_target_worker_header_wins_over_query(bus):
    bus.publish(target_worker="w1")
    bus.claim_none(headers={"X-Worker-ID": "w2"}, worker_id="w1")
    bus.claim_ok(headers={"X-Worker-ID": "w1"}, worker_id="w2")


def test_untargeted_intent_claimable_by_any_worker(bus):
    iid = bus.publish()
    assert bus.claim_ok(headers={"X-Worker-ID": "anyone"})["id"] == iid


def test_targeted_skipped_untargeted_taken(bus):
    t = bus.publish(target_worker="w1", priority=900)
    u = bus.publish(priority=1)
    assert bus.claim_ok(headers={"X-Worker-ID": "w2"})["id"] == u
    assert bus.claim_ok(headers={"X-Worker-ID": "w1"})["id"] == t


# ---- required_capability -------------------------------------------------------

def test_capability_header(bus):
    iid = bus.publish(required_capability="gpu")
    bus.claim_none()
    bus.claim_none(headers={"X-Worker-Capabilities": "GPU"})
    bus.claim_none(headers={"X-Worker-Capabilities": "gpus"})
    bus.claim_none(headers={"X-Worker-Capabilities": "gp"})
    bus.claim_none(headers={"X-Worker-Capabilities": "cpu,GPU"})
    bus.claim_none(headers={"X-Worker-Capabilities": "gpu-large"})
    c = bus.claim_ok(headers={"X-Worker-Capabilities": "gpu"})
    assert c["id"] == iid and c["required_capability"] == "gpu"


def test_capability_list_with_spaces(bus):
    a = bus.publish(required_capability="ffmpeg")
    b = bus.publish(required_capability="whisper")
    got = {bus.claim_ok(headers={"X-Worker-Capabilities": "whisper, ffmpeg"})["id"] for _ in range(2)}
    assert got == {a, b}


def test_capability_list_empty_tokens(bus):
    iid = bus.publish(required_capability="ffmpeg")
    assert bus.claim_ok(headers={"X-Worker-Capabilities": " , ,ffmpeg ,, "})["id"] == iid


def test_capability_query_param(bus):
    iid = bus.publish(required_capability="gpu")
    bus.claim_none(capabilities="GPU")
    bus.claim_none(capabilities="cpu")
    c = bus.claim_ok(capabilities="cpu,gpu")
    assert c["id"] == iid


def test_capability_query_param_with_spaces(bus):
    iid = bus.publish(required_capability="ffmpeg")
    assert bus.claim_ok(capabilities="whisper, ffmpeg")["id"] == iid


def test_capability_in_json_body(bus):
    iid = bus.publish(required_capability="gpu")
    r = bus.post("/claim", {"namespace": bus.ns, "capabilities": "gpu"})
    assert r.status == 200, r.raw
    assert r.json["id"] == iid


def test_capability_header_wins_over_query(bus):
    bus.publish(required_capability="gpu")
    bus.claim_none(headers={"X-Worker-Capabilities": "cpu"}, capabilities="gpu")
    bus.claim_ok(headers={"X-Worker-Capabilities": "gpu"}, capabilities="cpu")


def test_uncapable_intent_claimable_with_capabilities(bus):
    iid = bus.publish()
    assert bus.claim_ok(headers={"X-Worker-Capabilities": "gpu"})["id"] == iid


def test_target_and_capability_both_required(bus):
    iid = bus.publish(target_worker="w1", required_capability="gpu")
    bus.claim_none(headers={"X-Worker-ID": "w1"})
    bus.claim_none(headers={"X-Worker-Capabilities": "gpu"})
    bus.claim_none(headers={"X-Worker-ID": "w2", "X-Worker-Capabilities": "gpu"})
    c = bus.claim_ok(headers={"X-Worker-ID": "w1", "X-Worker-Capabilities": "gpu"})
    assert c["id"] == iid
    assert c["target_worker"] == "w1" and c["required_capability"] == "gpu"


def test_claim_with_goal_and_routing(bus):
    bus.publish(goal="a", required_capability="gpu", priority=1000)
    b = bus.publish(goal="b", required_capability="gpu")
    assert bus.claim_ok(goal="b", capabilities="gpu")["id"] == b


# ---- publisher filter (spec 7.3: "Filter by publisher key (admin only, or own key)") -----

def test_claim_publisher_own_key(bus):
    iid = bus.publish()
    assert bus.claim_ok(publisher=bus.key)["id"] == iid


def test_claim_publisher_other_key_never_returns_our_intent(bus):
    bus.publish()
    r = bus.claim(publisher="tk_" + "0" * 32)
    # Either filtered out (204) or refused (403 forbidden: not admin, not own key).
    assert r.status in (204, 403), f"publisher filter ignored: {r.status} {r.raw!r}"
    if r.status == 403:
        assert r.json["error"]["code"] == "forbidden"
