"""Upgrades keep data: a database made by the first release (0.1.0, schema
version 1; tests/fixtures/README.md) opens in this build, which serves its
intents, results and KV values."""

import shutil
import sqlite3
import time
from pathlib import Path

from conftest import SQLITE_SCHEMA_LATEST, admin_client, admin_env, assert_error, sqlite_only

pytestmark = sqlite_only("opens database files of earlier releases")

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "first-release.db"
SECRET = "fixture-secret-of-the-first-release-0123456789"
FULFILLED_ID = "06c7a12f7a078ff30a5ebcb3613b4632"
# Every time column of schema version 1.
TIME_COLUMNS = {
    "intents": ["claimed_at", "claim_expires_at", "run_at", "created_at", "expires_at",
                "completed_at", "updated_at"],
    "dead_letters": ["died_at"],
    "kv": ["expires_at", "updated_at"],
    "idempotency": ["created_at"],
}


def shift_to_now(db):
    """Moves the fixture's clock to now, as if the old build had just
    stopped: its intents expire a day after they were made, and the test
    must not depend on when it runs. Only times change."""
    conn = sqlite3.connect(db)
    (made,) = conn.execute("SELECT max(updated_at) FROM intents").fetchone()
    delta = time.time() - made
    for table, columns in TIME_COLUMNS.items():
        sets = ", ".join(f"{c} = {c} + ?" for c in columns)
        conn.execute(f"UPDATE {table} SET {sets}", [delta] * len(columns))
    conn.commit()
    conn.close()


def test_first_release_database_is_served(server_factory, tmp_path):
    db = tmp_path / "old.db"
    shutil.copy(FIXTURE, db)
    shift_to_now(db)
    srv = server_factory(secret=SECRET, db=db)
    bus = srv.client(ns="default")

    done = bus.result(FULFILLED_ID)
    assert done["status"] == "fulfilled"
    assert done["result"] == "done in 0.1.0"

    payloads = []
    for _ in range(3):
        claimed = bus.claim_ok(goal="fixture_pending")
        payloads.append(claimed["payload"]["n"])
        assert bus.fulfill(claimed["id"], claimed["claim_token"],
                           result="upgraded").status == 200
    assert sorted(payloads) == [1, 2, 3]
    bus.claim_none(goal="fixture_pending")

    value = bus.get("/get/fixture_key")
    assert value.status == 200 and value.json["value"] == "kept"

    # New writes land beside the old rows, and survive a restart.
    fresh = bus.publish(goal="after_upgrade", payload={"ok": True})
    srv.restart()
    bus = srv.client(ns="default")
    assert bus.status(fresh)["goal"] == "after_upgrade"
    assert bus.result(FULFILLED_ID)["result"] == "done in 0.1.0"
    assert_error(bus.get("/get/never_set"), 404, "not_found")


def test_fixture_is_the_old_schema():
    """The fixture still is what it claims to be (nobody rewrote it with a
    newer build)."""
    conn = sqlite3.connect(f"file:{FIXTURE}?mode=ro", uri=True)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()


def test_a_version_9_database_gets_the_claim_index_of_open_rows(server_factory):
    """Schema 10 keeps only open rows in the claim index. A database of
    schema 9, with a lease held in its old index (intents_claim_scan), is
    moved over on open: the open intent is claimed first, and lapsed leases
    are claimable at once, in priority order, without a sweep first."""
    srv = server_factory(env={"BUS_CLAIM_TIMEOUT_SECONDS": "2"})
    bus = srv.client(ns="upgrade10")
    held_id = bus.publish(goal="g", priority=500)
    open_id = bus.publish(goal="g")
    assert bus.claim_ok(goal="g")["id"] == held_id
    srv.stop()
    db = sqlite3.connect(srv.db)
    db.execute("DROP INDEX intents_open_scan")
    db.execute("CREATE INDEX intents_claim_scan ON intents"
               " (namespace, priority DESC, run_at, claim_attempts, created_at, id,"
               "  status, claim_expires_at, goal) WHERE status IN ('open','claimed')")
    db.execute("PRAGMA user_version = 9")
    db.commit()
    db.close()
    srv.start()
    bus = srv.client(ns="upgrade10")
    assert bus.claim_ok(goal="g")["id"] == open_id
    time.sleep(2.2)  # both leases lapse; a lapsed one keeps its priority
    assert bus.claim_ok(goal="g")["id"] == held_id
    assert bus.claim_ok(goal="g")["id"] == open_id
    bus.claim_none(goal="g")
    db = sqlite3.connect(srv.db)
    names = {row[0] for row in db.execute("SELECT name FROM sqlite_schema WHERE type = 'index'")}
    version = db.execute("PRAGMA user_version").fetchone()[0]
    db.close()
    assert "intents_open_scan" in names and "intents_claim_scan" not in names
    assert version == SQLITE_SCHEMA_LATEST


def test_a_version_11_database_keeps_the_tester_cap(server_factory):
    """Schema 12 indexes only the open intents a cap counts (intents.capped,
    a tester key's). A version 11 database has no such column: the upgrade
    marks a tester key's intents, so the 2,000 it already has open still
    hold it at its cap, while the main key's stay out of the index."""
    srv = server_factory(env=admin_env(BUS_TESTER_RATE_LIMIT="100000"))
    admin = admin_client(srv)
    key = admin.generate_key("capped")
    tester = srv.client(ns="cap12", key=key)
    seed_id = tester.publish(goal="g")
    main_id = srv.client(ns="cap12").publish(goal="g")
    srv.stop()
    db = sqlite3.connect(srv.db)
    db.execute("DROP INDEX intents_open_capped")
    db.execute("ALTER TABLE intents DROP COLUMN capped")
    db.execute("CREATE INDEX intents_open_by_publisher ON intents (publisher)"
               " WHERE status = 'open'")
    # 1,999 more open intents of the tester's, copies of its first
    columns = [row[1] for row in db.execute("PRAGMA table_info(intents)") if row[1] != "id"]
    names = ", ".join(columns)
    db.execute(f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1999)"
               f" INSERT INTO intents (id, {names}) SELECT printf('%032x', 1000000 + i), {names}"
               f" FROM n, intents WHERE intents.id = ?", (seed_id,))
    db.execute("PRAGMA user_version = 11")
    db.commit()
    db.close()
    srv.start()
    admin = admin_client(srv)
    tester = srv.client(ns="cap12", key=key)
    assert_error(tester.post("/intent", {"goal": "g", "payload": {}}), 429, "limit_exceeded")
    assert [row["open_intents"] for row in admin.get("/admin/keys").json["keys"]] == [2000]
    tester.claim_ok(goal="g")  # one claimed: room for one, which a new publish takes
    assert tester.post("/intent", {"goal": "g", "payload": {}}).status == 201
    assert_error(tester.post("/intent", {"goal": "g", "payload": {}}), 429, "limit_exceeded")
    db = sqlite3.connect(srv.db)
    capped = dict(db.execute("SELECT id, capped FROM intents WHERE id IN (?, ?)",
                             (seed_id, main_id)).fetchall())
    names = {row[0] for row in db.execute("SELECT name FROM sqlite_schema WHERE type = 'index'")}
    version = db.execute("PRAGMA user_version").fetchone()[0]
    db.close()
    assert capped == {seed_id: 1, main_id: 0}
    assert "intents_open_capped" in names and "intents_open_by_publisher" not in names
    assert version == SQLITE_SCHEMA_LATEST
