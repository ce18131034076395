"""Recurring schedules (docs/PROTOCOL-EXTENSIONS.md "Schedules"): definition
and validation, firing exactly once per occurrence, overlap "skip", catch-up
after a stopped server, pause/resume, ownership by API key, metrics."""

import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from conftest import admin_client, admin_env, assert_error, unique, wait_until


def definition(client, name=None, **fields):
    body = {"name": unique("sched") if name is None else name, "every": 1,
            "intent": {"goal": "tick", "namespace": client.ns, "payload": {"n": 1}}}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def create(client, **fields):
    body = definition(client, **fields)
    r = client.post("/schedules", body)
    assert r.status == 201, r.raw
    return r.json


def show(client, name):
    r = client.get(f"/schedules/{name}")
    assert r.status == 200, r.raw
    return r.json


def drain(client):
    """Claims every claimable intent of the client's namespace: their ids."""
    ids = []
    while True:
        r = client.claim()
        if r.status == 204:
            return ids
        assert r.status == 200, r.raw
        ids.append(r.json["id"])


def fired(record):
    return [f for f in record["recent_fires"] if f["outcome"] == "fired"]


# ---------------------------------------------------------------------------
# definition


def test_create_show_list_delete(bus):
    made = create(bus, every=60, overlap="skip", catch_up="one")
    name = made["name"]
    assert made["every"] == 60 and made["cron"] is None
    assert made["timezone"] == "UTC"
    assert (made["overlap"], made["catch_up"], made["paused"]) == ("skip", "one", False)
    assert made["intent"] == {"goal": "tick", "namespace": bus.ns, "payload": {"n": 1}}
    runs = made["next_runs"]
    assert len(runs) == 5 and all(t % 60 == 0 for t in runs)
    assert [b - a for a, b in zip(runs, runs[1:])] == [60] * 4
    assert runs[0] > time.time() - 1 and made["next_at"] == runs[0]
    assert (made["fires"], made["skips"], made["last_fire_at"]) == (0, 0, None)

    assert show(bus, name)["recent_fires"] == []
    listed = bus.get("/schedules").json["schedules"]
    assert name in [s["name"] for s in listed]

    r = bus.request("DELETE", f"/schedules/{name}")
    assert r.status == 200 and r.json == {"name": name, "status": "deleted"}
    assert_error(bus.get(f"/schedules/{name}"), 404, "not_found")
    assert_error(bus.request("DELETE", f"/schedules/{name}"), 404, "not_found")


def test_defaults_allow_overlap_and_skip_missed(bus):
    made = create(bus, every=3600)
    assert (made["overlap"], made["catch_up"]) == ("allow", "none")
    bus.request("DELETE", f"/schedules/{made['name']}")


def test_posting_the_same_name_replaces_the_definition(bus):
    made = create(bus, every=3600)
    name = made["name"]
    r = bus.post("/schedules", definition(bus, name=name, every=None, cron="0 9 * * mon-fri",
                                          timezone="Europe/Berlin"))
    assert r.status == 200, r.raw
    assert r.json["cron"] == "0 9 * * mon-fri" and r.json["every"] is None
    assert r.json["created_at"] == made["created_at"]
    assert len(bus.get("/schedules").json["schedules"]) >= 1
    bus.request("DELETE", f"/schedules/{name}")


def test_cron_next_runs_in_a_named_zone(bus):
    made = create(bus, every=None, cron="30 2 * * *", timezone="Europe/Berlin")
    berlin = ZoneInfo("Europe/Berlin")
    for t in made["next_runs"]:
        local = datetime.fromtimestamp(t, berlin)
        assert (local.hour, local.minute, local.second) == (2, 30, 0)
    days = [datetime.fromtimestamp(t, berlin).date() for t in made["next_runs"]]
    assert all(b - a in (timedelta(days=1), timedelta(days=2)) for a, b in zip(days, days[1:]))
    bus.request("DELETE", f"/schedules/{made['name']}")


BAD = [
    ({"name": ""}, "invalid_name"),
    ({"name": "has space"}, "invalid_name"),
    ({"name": "x" * 129}, "invalid_name"),
    ({"name": 5}, "invalid_name"),
    ({"every": None, "cron": None}, "invalid_cron"),
    ({"cron": "* * * * *"}, "invalid_cron"),  # with every: both given
    ({"every": None, "cron": "61 * * * *"}, "invalid_cron"),
    ({"every": None, "cron": "* * * *"}, "invalid_cron"),
    ({"every": None, "cron": "0 0 30 2 *"}, "invalid_cron"),  # never fires
    ({"every": None, "cron": 5}, "invalid_cron"),
    ({"every": 0}, "invalid_every"),
    ({"every": 1.5}, "invalid_every"),
    ({"every": "60"}, "invalid_every"),
    ({"every": 366 * 86400 + 1}, "invalid_every"),
    ({"timezone": "Mars/Olympus"}, "invalid_timezone"),
    ({"timezone": "../../etc/passwd"}, "invalid_timezone"),
    ({"timezone": 1}, "invalid_timezone"),
    ({"overlap": "never"}, "invalid_overlap"),
    ({"catch_up": "all"}, "invalid_catch_up"),
    ({"intent": "publish"}, "invalid_intent"),
    ({"intent": {"goal": "", "payload": {}}}, "invalid_goal"),
    ({"intent": {"goal": "g", "payload": {}, "priority": 9999}}, "invalid_priority"),
    ({"intent": {"goal": "g", "payload": {}, "namespace": "bad ns"}}, "invalid_namespace"),
    ({"intent": {"goal": "g", "payload": {}, "visibility": "secret"}}, "invalid_visibility"),
]


@pytest.mark.parametrize("fields,code", BAD)
def test_bad_definitions_are_refused(bus, fields, code):
    body = definition(bus, **fields)
    assert_error(bus.post("/schedules", body), 400, code)
    if fields.get("name") is None:
        assert_error(bus.get(f"/schedules/{body['name']}"), 404, "not_found")


def test_body_must_be_an_object(bus):
    assert_error(bus.post("/schedules", [1]), 400, "invalid_request")
    assert_error(bus.post("/schedules", "{nope"), 400, "invalid_json")


def test_routes_need_a_key(bus):
    assert_error(bus.get("/schedules", key=None), 401, "unauthorized")
    assert_error(bus.post("/schedules", definition(bus), key="wrong"), 401, "unauthorized")


# ---------------------------------------------------------------------------
# firing


def test_every_second_publishes_each_occurrence_exactly_once(bus):
    name = create(bus)["name"]
    time.sleep(4.6)
    bus.post(f"/schedules/{name}/pause")
    record = show(bus, name)
    fires = fired(record)
    times = [f["fire_at"] for f in fires]
    assert 3 <= len(fires) <= 6, record
    assert len(set(times)) == len(times)
    assert all(t == int(t) for t in times)
    assert sorted(times, reverse=True) == times
    assert [a - b for a, b in zip(times, times[1:])] == [1.0] * (len(times) - 1)
    assert all(f["recorded_at"] >= f["fire_at"] for f in fires)
    ids = [f["intent_id"] for f in fires]
    assert len(set(ids)) == len(ids) == record["fires"]
    assert record["last_intent_id"] == ids[0] and record["last_fire_at"] == times[0]
    assert sorted(drain(bus)) == sorted(ids)
    bus.request("DELETE", f"/schedules/{name}")


def test_published_intents_follow_the_template(bus):
    name = create(bus, intent={"goal": "report", "namespace": bus.ns, "payload": {"k": [1, 2]},
                               "priority": 7, "max_attempts": 5})["name"]
    wait_until(lambda: show(bus, name)["fires"] >= 1, timeout=5, message="a fire")
    bus.post(f"/schedules/{name}/pause")
    r = bus.claim_ok()
    assert (r["goal"], r["payload"], r["priority"]) == ("report", {"k": [1, 2]}, 7)
    assert bus.status(r["id"])["max_attempts"] == 5
    bus.request("DELETE", f"/schedules/{name}")


def test_overlap_skip_waits_for_the_previous_intent(bus):
    name = create(bus, overlap="skip")["name"]
    wait_until(lambda: show(bus, name)["skips"] >= 2, timeout=6, message="skips")
    record = show(bus, name)
    assert record["fires"] == 1
    assert {f["outcome"] for f in record["recent_fires"]} == {"fired", "skipped_overlap"}
    r = bus.claim()
    assert r.status == 200 and r.json["id"] == record["last_intent_id"]
    # still claimed: still skipping
    skips = record["skips"]
    wait_until(lambda: show(bus, name)["skips"] > skips, timeout=4, message="a skip while claimed")
    assert show(bus, name)["fires"] == 1
    assert bus.fulfill(r.json["id"], r.json["claim_token"]).status == 200
    wait_until(lambda: show(bus, name)["fires"] == 2, timeout=4, message="a fire after fulfil")
    bus.post(f"/schedules/{name}/pause")
    assert len(drain(bus)) == 1
    bus.request("DELETE", f"/schedules/{name}")


def test_overlap_allow_publishes_regardless(bus):
    name = create(bus, overlap="allow")["name"]
    wait_until(lambda: show(bus, name)["fires"] >= 3, timeout=6, message="fires")
    bus.post(f"/schedules/{name}/pause")
    assert show(bus, name)["skips"] == 0
    assert len(drain(bus)) == show(bus, name)["fires"]
    bus.request("DELETE", f"/schedules/{name}")


def test_pause_and_resume(bus):
    name = create(bus)["name"]
    wait_until(lambda: show(bus, name)["fires"] >= 1, timeout=5, message="a fire")
    r = bus.post(f"/schedules/{name}/pause")
    assert r.status == 200 and r.json["paused"] is True
    assert r.json["next_runs"] == [] and r.json["next_at"] is None
    fires = show(bus, name)["fires"]
    time.sleep(2.5)
    assert show(bus, name)["fires"] == fires
    r = bus.post(f"/schedules/{name}/resume")
    assert r.status == 200 and r.json["paused"] is False
    assert r.json["next_at"] > time.time() - 1  # nothing of the pause is caught up
    wait_until(lambda: show(bus, name)["fires"] > fires, timeout=5, message="a fire after resume")
    assert_error(bus.post("/schedules/nope-nothing/pause"), 404, "not_found")

    bus.request("DELETE", f"/schedules/{name}")


def test_a_longer_name_never_reaches_a_shorter_one(bus):
    name = (unique("long") + "x" * 128)[:128]
    create(bus, name=name, every=3600)
    assert_error(bus.post(f"/schedules/{name}y/pause"), 404, "not_found")
    assert_error(bus.get(f"/schedules/{name}y"), 404, "not_found")
    assert show(bus, name)["paused"] is False
    bus.request("DELETE", f"/schedules/{name}")


def test_catch_up_after_a_stopped_server(server_factory):
    srv = server_factory()
    c = srv.client()
    one = create(c, name="catch-one", every=2, catch_up="one")["name"]
    none = create(c, name="catch-none", every=2, catch_up="none")["name"]
    wait_until(lambda: show(c, one)["fires"] >= 1 and show(c, none)["fires"] >= 1, timeout=6,
               message="first fires")
    srv.stop()
    stopped = time.time()
    time.sleep(7)
    srv.start()
    started = time.time()
    c = srv.client(ns=c.ns)
    time.sleep(3)
    c.post(f"/schedules/{one}/pause")
    c.post(f"/schedules/{none}/pause")
    # Both schedules have the same occurrences; after the restart they are
    # published alike, except the one missed occurrence "one" catches up.
    after = {name: {f["fire_at"] for f in fired(show(c, name)) if f["fire_at"] > stopped}
             for name in (one, none)}
    cutoff = min(max(after[one]), max(after[none]))
    caught_one = {t for t in after[one] if t <= cutoff}
    caught_none = {t for t in after[none] if t <= cutoff}
    assert caught_none and caught_none < caught_one, after
    extra = caught_one - caught_none
    assert len(extra) == 1 and stopped < min(extra) < min(caught_none) and min(extra) < started
    # 7 s down, every 2 s, less the 2 s of grace: 2 or 3 missed
    assert show(c, none)["skips"] >= 2
    assert show(c, none)["skips"] == show(c, one)["skips"] + 1


def test_a_bus_in_maintenance_publishes_no_occurrence(server_factory):
    first = server_factory()
    c = first.client()
    name = create(c)["name"]
    wait_until(lambda: show(c, name)["fires"] >= 1, timeout=5, message="a fire")
    first.stop()
    maintenance = server_factory(env=admin_env(BUS_MAINTENANCE_MODE="true"), db=first.db)
    admin = admin_client(maintenance)
    fires = admin.get(f"/schedules/{name}").json["fires"]
    time.sleep(2.5)
    record = admin.get(f"/schedules/{name}").json
    assert record["fires"] == fires and record["last_fire_at"] < time.time() - 2.5
    r = maintenance.client().get("/schedules", check=False)
    assert r.status == 503 and r.json["error"]["code"] == "maintenance"


# ---------------------------------------------------------------------------
# ownership


def test_schedules_belong_to_their_key(admin_server):
    admin = admin_client(admin_server)
    key_a, key_b = admin.generate_key("a"), admin.generate_key("b")
    a = admin_server.client(key=key_a)
    b = admin_server.client(key=key_b)
    name = create(a, every=3600)["name"]
    assert name not in [s["name"] for s in b.get("/schedules").json["schedules"]]
    assert [s["name"] for s in a.get("/schedules").json["schedules"]] == [name]
    assert_error(b.get(f"/schedules/{name}"), 404, "not_found")
    assert_error(b.post(f"/schedules/{name}/pause"), 404, "not_found")
    assert_error(b.request("DELETE", f"/schedules/{name}"), 404, "not_found")
    assert_error(b.post("/schedules", definition(b, name=name)), 400, "invalid_name")
    assert show(a, name)["every"] == 3600

    main = admin_server.client()
    assert name in [s["name"] for s in main.get("/schedules").json["schedules"]]
    assert admin.get(f"/schedules/{name}").json["name"] == name
    assert name in [s["name"] for s in admin.get("/schedules").json["schedules"]]
    assert admin.post(f"/schedules/{name}/pause").json["paused"] is True
    assert_error(admin.post("/schedules", definition(admin)), 403, "forbidden")
    assert admin.request("DELETE", f"/schedules/{name}").status == 200
    assert_error(a.get(f"/schedules/{name}"), 404, "not_found")


def test_a_tester_schedule_publishes_as_its_key(admin_server):
    admin = admin_client(admin_server)
    tester = admin_server.client(key=admin.generate_key("t"))
    name = create(tester, intent={"goal": "mine", "namespace": tester.ns, "payload": {}})["name"]
    wait_until(lambda: show(tester, name)["fires"] >= 1, timeout=5, message="a fire")
    tester.post(f"/schedules/{name}/pause")
    intent_id = show(tester, name)["last_intent_id"]
    assert tester.status(intent_id)["status"] == "open"  # private: only its publisher sees it
    other = admin_server.client(key=admin.generate_key("o"), ns=tester.ns)
    assert other.claim().status == 204
    tester.request("DELETE", f"/schedules/{name}")


def test_a_tester_schedule_counts_toward_its_keys_cap(server_factory):
    """A tester key holds at most 2,000 open intents (TESTER_OPEN_INTENT_LIMIT),
    its schedules' among them: with 1,999 open, one fire fits, then the
    occurrences are skipped for the limit."""
    srv = server_factory(env=admin_env(BUS_TESTER_RATE_LIMIT="100000"))
    admin = admin_client(srv)
    tester = srv.client(ns=unique("cap"), key=admin.generate_key("t"))
    for count in [100] * 19 + [99]:
        body = {"intents": [{"goal": "fill", "namespace": tester.ns, "payload": {}}] * count}
        r = tester.post("/intents", body)
        assert r.status == 200 and r.json["published"] == count, r.raw[:200]
    name = create(tester)["name"]
    wait_until(lambda: "skipped_limit" in {f["outcome"] for f in show(tester, name)["recent_fires"]},
               timeout=10, message="a skip at the cap")
    tester.post(f"/schedules/{name}/pause")
    assert len(fired(show(tester, name))) == 1
    tester.request("DELETE", f"/schedules/{name}")


def test_a_revoked_keys_schedule_stops_publishing(admin_server):
    admin = admin_client(admin_server)
    key = admin.generate_key("leaving")
    tester = admin_server.client(key=key)
    name = create(tester)["name"]
    wait_until(lambda: show(tester, name)["fires"] >= 1, timeout=5, message="a fire")
    assert admin.revoke_key(key).status == 200
    main = admin_server.client()
    wait_until(lambda: any(f["outcome"] == "skipped_revoked" for f in show(main, name)["recent_fires"]),
               timeout=5, message="a skip after the revocation")
    fires = show(main, name)["fires"]
    time.sleep(1.5)
    assert show(main, name)["fires"] == fires
    main.request("DELETE", f"/schedules/{name}")


def test_metrics_count_fires_and_skips(admin_server):
    admin = admin_client(admin_server)
    c = admin_server.client()
    name = create(c, overlap="skip")["name"]
    wait_until(lambda: show(c, name)["skips"] >= 1, timeout=6, message="a skip")
    c.post(f"/schedules/{name}/pause")
    text = admin.get("/metrics", check=False).raw.decode()
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
              if line.startswith("intent_bus_schedule_")}
    assert values["intent_bus_schedule_fires_total"] >= 1
    assert values["intent_bus_schedule_skips_total"] >= 1
    c.request("DELETE", f"/schedules/{name}")
