"""Many concurrent workers: every intent fulfilled exactly once (spec 2, 6.3, 7.3)."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import assert_error, unique

N_INTENTS = 500
N_WORKERS = 50
EMPTY_STREAK = 5


def test_concurrent_claim_fulfill_exactly_once(shared_server):
    ns = unique("contend")

    # -- publish 500, 10 publishers in parallel
    def publish_range(start):
        c = shared_server.client(ns=ns)
        try:
            return [c.publish(payload={"i": i}) for i in range(start, start + N_INTENTS // 10)]
        finally:
            c.close()

    with ThreadPoolExecutor(10) as pool:
        published = [iid for chunk in pool.map(publish_range, range(0, N_INTENTS, N_INTENTS // 10))
                     for iid in chunk]
    assert len(published) == N_INTENTS and len(set(published)) == N_INTENTS

    # -- 50 workers: claim -> fulfil until several 204 in a row
    lock = threading.Lock()
    claims = []      # (id, token, worker)
    fulfils = []     # (id, status)
    errors = []
    barrier = threading.Barrier(N_WORKERS)

    def worker(w):
        c = shared_server.client(ns=ns)
        try:
            barrier.wait(30)
            empty = 0
            while empty < EMPTY_STREAK:
                r = c.claim()
                if r.status == 204:
                    empty += 1
                    time.sleep(0.02)
                    continue
                assert r.status == 200, (r.status, r.raw)
                empty = 0
                iid, token = r.json["id"], r.json["claim_token"]
                f = c.fulfill(iid, token, result={"worker": w})
                with lock:
                    claims.append((iid, token, w))
                    fulfils.append((iid, f.status, f.raw))
        except Exception as exc:  # noqa: BLE001 - reported below
            with lock:
                errors.append(f"worker {w}: {exc!r}")
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(N_WORKERS)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    elapsed = time.monotonic() - start
    assert not any(t.is_alive() for t in threads), "workers did not finish within 120 s"
    assert not errors, errors[:5]

    claimed_ids = [iid for iid, _, _ in claims]
    dupes = {i for i in claimed_ids if claimed_ids.count(i) > 1} if len(claimed_ids) != len(set(claimed_ids)) else set()
    assert not dupes, f"{len(dupes)} intents claimed more than once"
    assert set(claimed_ids) == set(published), (
        f"claimed {len(set(claimed_ids))} of {N_INTENTS}; missing {len(set(published) - set(claimed_ids))}")
    assert len({tok for _, tok, _ in claims}) == N_INTENTS, "claim tokens not unique"
    bad = [(iid, st, raw) for iid, st, raw in fulfils if st != 200]
    assert not bad, f"{len(bad)} fulfils failed, e.g. {bad[:3]}"
    print(f"\n{N_INTENTS} intents claimed+fulfilled by {N_WORKERS} workers in {elapsed:.2f}s")

    # -- every token is dead now; every intent fulfilled exactly once
    def recheck(chunk):
        c = shared_server.client(ns=ns)
        out = []
        try:
            for iid, token, w in chunk:
                r = c.fulfill(iid, token, result="again")
                st = c.status(iid)
                res = c.result(iid)
                out.append((iid, r.status, st["status"], st["claim_attempts"], res.get("result"), w))
        finally:
            c.close()
        return out

    chunks = [claims[i::10] for i in range(10)]
    with ThreadPoolExecutor(10) as pool:
        rows = [row for part in pool.map(recheck, chunks) for row in part]
    assert len(rows) == N_INTENTS
    for iid, refulfil, status, attempts, result, w in rows:
        assert refulfil == 404, f"{iid}: re-fulfil with a used token gave {refulfil}"
        assert status == "fulfilled", f"{iid}: status {status}"
        assert attempts == 1, f"{iid}: claim_attempts {attempts}"
        assert result == {"worker": w}, f"{iid}: result {result!r} (worker {w})"

    c = shared_server.client(ns=ns)
    c.claim_none()
    c.close()


def test_concurrent_claims_single_intent(shared_server):
    """50 workers race for one intent: exactly one wins."""
    ns = unique("race")
    c = shared_server.client(ns=ns)
    iid = c.publish()
    results = []
    lock = threading.Lock()
    barrier = threading.Barrier(N_WORKERS)

    def worker():
        cc = shared_server.client(ns=ns)
        cc.get("/health", key=None)  # connect first, so the race is on the claim
        barrier.wait(30)
        r = cc.claim()
        with lock:
            results.append(r)
        cc.close()

    threads = [threading.Thread(target=worker) for _ in range(N_WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == N_WORKERS
    winners = [r for r in results if r.status == 200]
    assert len(winners) == 1, [r.status for r in results]
    assert all(r.status == 204 for r in results if r.status != 200)
    assert winners[0].json["id"] == iid
    c.close()


def _run_workers(n, target, deadline_s):
    stop = threading.Event()
    errors = []

    def wrap(w):
        try:
            target(w, stop)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(f"worker {w}: {exc!r}")
            stop.set()

    threads = [threading.Thread(target=wrap, args=(w,)) for w in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(deadline_s + 10)
    stop.set()
    assert not any(t.is_alive() for t in threads), "workers hung"
    assert not errors, errors[:5]


def test_concurrent_fail_and_retry(shared_server):
    """Workers fail every first attempt and fulfil the retry: each intent fulfilled once,
    on its second attempt, with the first attempt's error kept."""
    ns = unique("retry")
    n = 200
    pub = shared_server.client(ns=ns)
    ids = [pub.publish(payload=i, max_attempts=3, backoff_base=1) for i in range(n)]
    lock = threading.Lock()
    done = {}
    fails = []
    deadline = time.monotonic() + 20

    def worker(w, stop):
        c = shared_server.client(ns=ns)
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                r = c.claim()
                if r.status == 204:
                    with lock:
                        if len(done) == n:
                            stop.set()
                    time.sleep(0.05)
                    continue
                assert r.status == 200, r.raw
                iid, tok, attempt = r.json["id"], r.json["claim_token"], r.json["claim_attempts"]
                if attempt == 1:
                    f = c.fail(iid, tok, error=f"attempt 1 failed by {w}")
                    assert f.status == 200 and f.json["status"] == "open", f.raw
                    with lock:
                        fails.append((iid, tok))
                else:
                    f = c.fulfill(iid, tok, result=w)
                    assert f.status == 200, f.raw
                    with lock:
                        assert iid not in done, f"{iid} fulfilled twice"
                        done[iid] = (attempt, w)
        finally:
            c.close()

    _run_workers(25, worker, 20)
    assert len(done) == n, f"only {len(done)} of {n} fulfilled before the deadline"
    assert all(attempt == 2 for attempt, _ in done.values())
    assert sorted(i for i, _ in fails) == sorted(ids)
    for iid, tok in fails[:50]:
        assert pub.fulfill(iid, tok).status == 404
    for iid in ids[:50]:
        res = pub.result(iid)
        assert res["status"] == "fulfilled" and res["claim_attempts"] == 2
        assert res["error"].startswith("attempt 1 failed by ")
        assert res["result"] == done[iid][1]


def test_concurrent_lease_expiry(lease_server):
    """1-second leases: workers abandon every first claim; the intents come back once the
    lease expires and are fulfilled exactly once; abandoned tokens are dead."""
    ns = unique("abandon")
    n = 100
    pub = lease_server.client(ns=ns)
    ids = [pub.publish(payload=i, max_attempts=5) for i in range(n)]
    lock = threading.Lock()
    done = {}
    abandoned = []
    lost = []
    deadline = time.monotonic() + 20

    def worker(w, stop):
        c = lease_server.client(ns=ns)
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                r = c.claim()
                if r.status == 204:
                    with lock:
                        if len(done) == n:
                            stop.set()
                    time.sleep(0.05)
                    continue
                assert r.status == 200, r.raw
                iid, tok, attempt = r.json["id"], r.json["claim_token"], r.json["claim_attempts"]
                if attempt == 1:
                    with lock:
                        abandoned.append((iid, tok))
                    continue
                f = c.fulfill(iid, tok)
                if f.status == 404:  # this lease expired too (slow machine): it comes back
                    with lock:
                        lost.append((iid, tok))
                    continue
                assert f.status == 200, f.raw
                with lock:
                    assert iid not in done, f"{iid} fulfilled twice"
                    done[iid] = attempt
        finally:
            c.close()

    _run_workers(20, worker, 20)
    assert len(done) == n, f"only {len(done)} of {n} fulfilled before the deadline"
    assert sorted(i for i, _ in abandoned) == sorted(ids)
    for iid, tok in abandoned + lost:
        assert_error(pub.fulfill(iid, tok), 404, "not_found")
    for iid in ids:
        st = pub.status(iid)
        assert st["status"] == "fulfilled", st
        assert st["claim_attempts"] == done[iid]
