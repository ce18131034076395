"""`intent-bus backup FILE` while the bus serves under load, then a restore:
every intent acknowledged before the backup started is in the copy, and a
bus started on the restored file serves them (docs/DEPLOY.md, "Backups")."""

import sqlite3
import subprocess
import threading

from conftest import BIN, unique


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
        while sum(map(len, streams)) < 300:  # the load is under way
            threads[0].join(0.05)
        acknowledged = {i for ids in streams for i in ids}.union(seeded)  # before it starts
        copy = tmp_path / "copy.db"
        done = run_backup("--db", str(srv.db), str(copy))
        during = sum(map(len, streams))
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert done.returncode == 0, done.stderr
    assert during > len(acknowledged), "the backup did not run while the bus was writing"
    assert not (tmp_path / "copy.db.partial").exists()

    conn = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()

    # Restore: a bus on the copy (the service stopped, the file put back).
    restored = server_factory(name="restored", secret=srv.secret, db=copy)
    client = restored.client(ns=ns)
    missing = [i for i in acknowledged if client.status(i).status != 200]
    assert not missing, f"{len(missing)} acknowledged intents missing after restore"
    assert client.status(client.publish(goal="after_restore", payload={})).status == 200


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
