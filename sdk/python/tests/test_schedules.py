"""Recurring schedules through the SDK (docs/PROTOCOL-EXTENSIONS.md):
add_schedule, schedules, get_schedule, pause/resume, delete_schedule."""

import pytest

from conftest import unique, wait_until
from intent_bus import IntentBusNotFoundError, IntentBusValidationError


def test_schedule_round_trip(client, ns):
    name = unique("sdk-sched")
    made = client.add_schedule(name, "tick", {"n": 1}, every=1, namespace=ns, priority=9,
                               overlap="skip", catch_up="one")
    assert (made["name"], made["every"], made["overlap"], made["catch_up"]) == (name, 1, "skip", "one")
    assert made["intent"]["goal"] == "tick" and made["intent"]["priority"] == 9
    assert len(made["next_runs"]) == 5
    wait_until(lambda: client.get_schedule(name)["fires"] >= 1, timeout=6, what="a fire")
    shown = client.get_schedule(name)
    job = client.claim("tick", namespace=ns)
    assert job is not None and job.id == shown["last_intent_id"] and job.payload == {"n": 1}
    assert name in [s["name"] for s in client.schedules()]
    assert client.pause_schedule(name)["paused"] is True
    assert client.resume_schedule(name)["paused"] is False
    client.delete_schedule(name)
    with pytest.raises(IntentBusNotFoundError):
        client.get_schedule(name)


def test_cron_in_a_zone_and_replacing(client, ns):
    name = unique("sdk-cron")
    client.add_schedule(name, "report", {}, every=3600, namespace=ns)
    made = client.add_schedule(name, "report", {}, cron="0 9 * * mon-fri", timezone="Europe/Berlin",
                               namespace=ns)
    assert (made["cron"], made["every"], made["timezone"]) == ("0 9 * * mon-fri", None, "Europe/Berlin")
    client.delete_schedule(name)


@pytest.mark.parametrize("fields,code", [
    ({"cron": "61 * * * *"}, "invalid_cron"),
    ({"every": 0}, "invalid_every"),
    ({"every": 5, "timezone": "Nowhere/X"}, "invalid_timezone"),
    ({"every": 5, "overlap": "never"}, "invalid_overlap"),
    ({"cron": "* * * * *", "every": 5}, "invalid_cron"),
])
def test_refused_definitions_raise_the_field_code(client, fields, code):
    with pytest.raises(IntentBusValidationError) as caught:
        client.add_schedule(unique("bad"), "g", {}, **fields)
    assert caught.value.code == code


def test_another_keys_schedule_is_not_found(server, client):
    tester = server.client(key=server.tester_key("sched-owner"))
    name = unique("theirs")
    tester.add_schedule(name, "g", {}, every=3600)
    other = server.client(key=server.tester_key("someone-else"))
    with pytest.raises(IntentBusNotFoundError):
        other.get_schedule(name)
    assert name not in [s["name"] for s in other.schedules()]
    assert name in [s["name"] for s in client.schedules()]  # the main key sees all
    tester.delete_schedule(name)
