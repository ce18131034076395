"""Crash test: publishers and workers under load while the server is killed
with kill -9 at random moments, ten times, and restarted on the same
database. Every acknowledged publish is there, every acknowledged fulfil is
still fulfilled with its result, no intent is acknowledged as fulfilled
twice, and SQLite's integrity check passes. Seeded (CRASH_TEST_SEED)."""

import http.client
import json
import os
import random
import sqlite3
import threading
import time

from conftest import ON_POSTGRES, free_port, unique

SEED = int(os.environ.get("CRASH_TEST_SEED", "15"))
KILLS = 10
PUBLISHERS = 3
WORKERS = 4


class Load:
    """The acknowledged writes of every thread, and where the server is."""

    def __init__(self, key, ns):
        self.key = key
        self.ns = ns
        self.port = None
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.published = set()
        self.fulfilled = {}  # id -> [result acknowledged], one entry unless fulfilled twice

    def call(self, conn, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"X-API-KEY": self.key, "Content-Type": "application/json"}
        conn.request(method, path, data, headers)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw else None)

    def run(self, role, number):
        conn = None
        sequence = 0
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                sequence += 1
                if role == "publisher":
                    self.publish(conn, number, sequence)
                else:
                    self.work(conn, number, sequence)
            except (OSError, http.client.HTTPException, ValueError):
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)  # the server is down: wait for the restart

    def publish(self, conn, number, sequence):
        body = {"goal": "crash", "namespace": self.ns, "payload": {"p": number, "s": sequence}}
        status, reply = self.call(conn, "POST", "/intent", body)
        if status == 201:
            with self.lock:
                self.published.add(reply["id"])

    def work(self, conn, number, sequence):
        status, job = self.call(conn, "POST", f"/claim?namespace={self.ns}&goal=crash",
                                {"worker_id": f"w{number}"})
        if status != 200:
            time.sleep(0.02)
            return
        result = {"w": number, "s": sequence}
        status, _ = self.call(conn, "POST", f"/fulfill/{job['id']}",
                              {"claim_token": job["claim_token"], "result": result})
        if status == 200:
            with self.lock:
                self.fulfilled.setdefault(job["id"], []).append(result)


def test_kill9_under_mixed_load_loses_nothing(server_factory):
    rng = random.Random(SEED)
    srv = server_factory(env={"BUS_CLAIM_TIMEOUT_SECONDS": "2"})
    load = Load(srv.key, unique("crash"))
    load.port = srv.port
    threads = [threading.Thread(target=load.run, args=("publisher", i)) for i in range(PUBLISHERS)]
    threads += [threading.Thread(target=load.run, args=("worker", i)) for i in range(WORKERS)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.2, 1.5))
            srv.kill()
            srv.port = free_port()
            srv.start()
            load.port = srv.port
        time.sleep(rng.uniform(0.5, 1.0))
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(30)

    print(f"published {len(load.published)}, fulfilled {len(load.fulfilled)}")
    assert len(load.published) > 50, "too little load to prove anything"
    assert load.fulfilled, "no fulfil was ever acknowledged"
    twice = {iid: results for iid, results in load.fulfilled.items() if len(results) > 1}
    assert not twice, f"acknowledged as fulfilled twice: {twice}"
    c = srv.client(ns=load.ns)
    for iid in load.published:
        status = c.status(iid)["status"]
        assert status in ("open", "claimed", "fulfilled"), (iid, status)
    for iid, (result,) in load.fulfilled.items():
        assert c.status(iid)["status"] == "fulfilled", iid
        assert c.result(iid)["result"] == result, iid
    srv.stop()
    if ON_POSTGRES:
        return  # the SQLite file's own check; every /status above came from PostgreSQL
    with sqlite3.connect(srv.db) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {row[0] for row in db.execute("SELECT id FROM intents WHERE namespace = ?",
                                               (load.ns,))}
    assert load.published <= stored
