"""A full disk (docs/SECURITY.md "Storage faults"): writes answered 507
insufficient_storage with Retry-After, logged once per episode, reads still
served, the server starts on the full disk, and writes come back without a
restart once there is space. A read-only file system: the server starts on
it, serves reads, answers writes 503 storage_read_only, and writes again
once it is remounted read-write. The disk is a small tmpfs made here, so
the tests need root (they are skipped otherwise, saying why)."""

import os
import sqlite3
import subprocess
import time

import pytest

from conftest import assert_error, sqlite_only

pytestmark = sqlite_only("fills the file system under the SQLite file")


@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def resize(mount_point, size):
    subprocess.run(["mount", "-o", f"remount,size={size}", str(mount_point)], check=True)


def remount(mount_point, mode):
    subprocess.run(["mount", "-o", f"remount,{mode}", str(mount_point)], check=True)


def publish_big(client):
    # check=False: the suite's central check refuses every 5xx, and a 507
    # is this test's point (its shape is checked by assert_error).
    return client.request("POST", "/intent", client.intent_body(payload={"x": "y" * 3000}),
                          check=False)


def fill(client, limit=2000):
    """Publishes 3 KB intents until the disk refuses one; returns the ids
    acknowledged and that refusal."""
    acknowledged = []
    for _ in range(limit):
        r = publish_big(client)
        if r.status != 201:
            return acknowledged, r
        acknowledged.append(r.json["id"])
    pytest.fail(f"the disk never filled up after {limit} intents")


def fault_lines(srv):
    return [line for line in srv.stderr().splitlines() if "storage fault" in line]


def test_full_disk_is_507_reads_go_on_and_writes_come_back(server_factory, small_disk):
    srv = server_factory(db=small_disk / "bus.db")
    c = srv.client()
    acknowledged, refusal = fill(c)
    assert acknowledged, "nothing fitted on the disk at all"
    assert_error(refusal, 507, "insufficient_storage")
    assert refusal.headers.get("retry-after") == "30"
    for _ in range(20):  # the same episode: refused, not logged again
        assert_error(publish_big(c), 507, "insufficient_storage")
    assert len(fault_lines(srv)) == 1, srv.stderr()
    assert "cannot rollback" not in srv.stderr()
    assert c.get(f"/status/{acknowledged[0]}").status == 200

    # It starts on the full disk and serves what was acknowledged.
    srv.restart()
    c = srv.client()
    for intent_id in acknowledged[:: max(1, len(acknowledged) // 10)]:
        assert c.get(f"/status/{intent_id}").status == 200
    assert_error(publish_big(c), 507, "insufficient_storage")

    # Space again: writes are accepted without a restart, and the log says so.
    resize(small_disk, "8m")
    r = publish_big(c)
    assert r.status == 201, r.raw
    assert c.get("/status/" + r.json["id"]).status == 200
    assert "storage fault cleared" in srv.stderr()
    srv.stop()
    with sqlite3.connect(srv.db) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {row[0] for row in db.execute("SELECT id FROM intents")}
    assert set(acknowledged) <= stored


def publish_until_accepted(client, seconds=5):
    """The first publish accepted within seconds (the server tries to open
    the database read-write again at most once a second)."""
    deadline = time.monotonic() + seconds
    while True:
        r = publish_big(client)
        if r.status == 201 or time.monotonic() > deadline:
            return r
        assert_error(r, 503, "storage_read_only")
        time.sleep(0.2)


@pytest.mark.parametrize("stop", ["clean", "kill"])
def test_read_only_file_system_serves_reads_and_recovers(server_factory, small_disk, stop):
    """clean: the database alone (its WAL folded in at shutdown); kill: a
    -wal and -shm left beside it, holding what was acknowledged last."""
    resize(small_disk, "8m")
    srv = server_factory(db=small_disk / "bus.db")
    c = srv.client()
    acknowledged = [c.publish(goal="ro") for _ in range(5)]
    srv.stop() if stop == "clean" else srv.kill()
    assert os.path.exists(str(srv.db) + "-wal") == (stop == "kill")
    remount(small_disk, "ro")

    srv.start()
    assert "cannot be written" in srv.stderr()
    c = srv.client()
    for intent_id in acknowledged:
        assert c.get(f"/status/{intent_id}").status == 200
    for _ in range(5):  # one episode: refused, logged once
        refusal = publish_big(c)
        assert_error(refusal, 503, "storage_read_only")
        assert refusal.headers.get("retry-after") == "30"
    assert len(fault_lines(srv)) == 1, srv.stderr()
    assert c.get("/health").status == 200

    remount(small_disk, "rw")
    r = publish_until_accepted(c)
    assert r.status == 201, r.raw
    # Read connections opened on the read-only file see the new write too.
    for _ in range(8):
        assert c.get("/status/" + r.json["id"]).status == 200
    assert "storage fault cleared" in srv.stderr()
    srv.stop()
    with sqlite3.connect(srv.db) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {row[0] for row in db.execute("SELECT id FROM intents")}
    assert set(acknowledged) | {r.json["id"]} <= stored
