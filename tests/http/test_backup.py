"""`intent-bus backup FILE` while the bus serves under load, then a restore:
every intent acknowledged before the backup started is in the copy, and a
bus started on the restored file serves them (docs/DEPLOY.md, "Backups")."""

import shutil
import sqlite3
import subprocess
import threading
from pathlib import Path

from conftest import BIN, assert_error, sqlite_only, unique, wait_until

pytestmark = sqlite_only("`intent-bus backup` copies the SQLite file")


def run_backup(*args, env=None):
    return subprocess.run([str(BIN), "backup", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def publisher(srv, ns, ids, stop):
    """Publishes until told to stop, recording each acknowledged id."""
    client = srv.client(ns=ns)
    while not stop.is_set() and len(ids) < 20000:
        ids.append(client.publish(goal="load", payload={"n": len(ids)}))
    client.close()


def test_backup_under_load_then_restore(server_factory, tmp_path):
    srv = server_factory(name="live")
    ns = unique("backup")
    seed = srv.client(ns=ns)
    seeded = [seed.publish(goal="load", payload={"n": n}) for n in range(200)]

    stop = threading.Event()
    streams = [[] for _ in range(3)]
    threads = [threading.Thread(target=publisher, args=(srv, ns, ids, stop)) for ids in streams]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: sum(map(len, streams)) >= 300, timeout=60,
                   message="the load to get under way")
        acknowledged = {i for ids in streams for i in ids}.union(seeded)  # before it starts
        copy = tmp_path / "copy.db"
        done = run_backup("--db", str(srv.db), str(copy))
        # The bus kept serving the writers through the backup and after it.
        after = sum(map(len, streams))
        wait_until(lambda: sum(map(len, streams)) >= after + 100, timeout=60,
                   message="the publishers to go on after the backup")
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "copy.db.partial").exists()
    published = {i for ids in streams for i in ids}.union(seeded)

    conn = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    in_copy = {row[0] for row in conn.execute("SELECT id FROM intents WHERE namespace = ?", (ns,))}
    conn.close()
    assert acknowledged <= in_copy, f"{len(acknowledged - in_copy)} acknowledged intents missing"
    assert in_copy <= published, "the copy holds intents nobody published"

    # Restore as docs/DEPLOY.md says: stop the bus, remove the WAL files,
    # put the copy in place, start it again.
    srv.stop()
    for suffix in ("-wal", "-shm"):
        Path(f"{srv.db}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(copy, srv.db)
    srv.start()
    client = srv.client(ns=ns)
    for intent in sorted(acknowledged)[::50]:
        assert client.status(intent)["goal"] == "load"
    assert_error(client.get(f"/status/{sorted(published - in_copy)[-1]}"), 404, "not_found")
    claimed = client.claim_ok(goal="load")
    assert claimed["id"] in in_copy
    assert client.status(client.publish(goal="after_restore", payload={}))["goal"] == "after_restore"


def test_backup_takes_the_database_as_serve_does(server_factory, tmp_path):
    srv = server_factory(name="env")
    intent = srv.client().publish(goal="g", payload={})
    copy = tmp_path / "by-env.db"
    env = {"PATH": "/usr/bin:/bin", "BUS_DB_PATH": str(srv.db)}
    done = run_backup(str(copy), env=env)
    assert done.returncode == 0, done.stderr
    conn = sqlite3.connect(copy)
    assert conn.execute("SELECT count(*) FROM intents WHERE id = ?", (intent,)).fetchone()[0] == 1
    conn.close()


def test_backup_failures_are_reported(tmp_path):
    missing = run_backup("--db", str(tmp_path / "nope.db"), str(tmp_path / "out.db"))
    assert missing.returncode == 1
    assert "nope.db" in missing.stderr
    assert not (tmp_path / "out.db").exists()
    assert not (tmp_path / "nope.db").exists()  # read only: never created

    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    junk = run_backup("--db", str(tmp_path / "junk.db"), str(tmp_path / "out.db"))
    assert junk.returncode == 1 and "backup of" in junk.stderr
    assert not (tmp_path / "out.db").exists()
    assert not (tmp_path / "out.db.partial").exists()

    assert run_backup().returncode == 2
    assert run_backup("a", "b").returncode == 2
    shown = run_backup("--help")
    assert shown.returncode == 0 and shown.stdout.startswith("usage: intent-bus backup")
