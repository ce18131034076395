#!/usr/bin/env python3
"""Publish-to-claim latency with N long-polling workers (docs/BENCHMARKS.md).

N workers park `POST /claim?wait=30` on their own keep-alive connections
(asyncio, one event loop, raw HTTP/1.1). A publisher then posts --jobs
intents one at a time, --interval seconds apart, so there are always
parked workers for each new job. For every job it records the moment the
publish was acknowledged (the job is durable and claimable) and the moment
a worker's parked claim delivered it; the worker fulfils it and parks
again. Prints P50/P99/max of ack-to-claim and of send-to-claim.

    /usr/bin/python3 bench/long_poll_latency.py --port PORT --key KEY [-n 100] [--jobs 2000]
"""

import argparse
import asyncio
import json
import secrets
import time


async def request(reader, writer, method, path, key, body=b""):
    writer.write((f"{method} {path} HTTP/1.1\r\nHost: bench\r\nX-API-KEY: {key}\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
                 .encode() + body)
    await writer.drain()
    status = int((await reader.readline()).split(b" ")[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return status, await reader.readexactly(length) if length else b""


async def worker(args, namespace, delivered, done):
    reader, writer = await asyncio.open_connection("127.0.0.1", args.port)
    path = f"/claim?namespace={namespace}&wait=30"
    while not done.is_set():
        status, body = await request(reader, writer, "POST", path, args.key)
        if status != 200:
            continue
        arrived = time.perf_counter()
        job = json.loads(body)
        delivered[job["id"]] = arrived
        fulfil = json.dumps({"claim_token": job["claim_token"]}).encode()
        await request(reader, writer, "POST", f"/fulfill/{job['id']}", args.key, fulfil)
    writer.close()


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def main(args):
    namespace = "lp-latency-" + secrets.token_hex(4)
    delivered, done = {}, asyncio.Event()
    workers = [asyncio.create_task(worker(args, namespace, delivered, done))
               for _ in range(args.n)]
    await asyncio.sleep(2)  # every worker parked
    reader, writer = await asyncio.open_connection("127.0.0.1", args.port)
    published = []  # (id, sent, acknowledged)
    body = json.dumps({"goal": "latency", "payload": {}, "namespace": namespace}).encode()
    for _ in range(args.jobs):
        sent = time.perf_counter()
        status, answer = await request(reader, writer, "POST", "/intent", args.key, body)
        acknowledged = time.perf_counter()
        if status == 201:
            published.append((json.loads(answer)["id"], sent, acknowledged))
        await asyncio.sleep(args.interval)
    await asyncio.sleep(2)
    done.set()
    writer.close()
    for task in workers:
        task.cancel()
    claimed = [(delivered[i] - ack, delivered[i] - sent)
               for i, sent, ack in published if i in delivered]
    print(f"{args.n} long-polling workers, {len(published)} jobs published one at a time, "
          f"{len(claimed)} delivered to a parked claim")
    for name, column in (("ack->claim", 0), ("send->claim", 1)):
        values = [row[column] * 1000 for row in claimed]
        print(f"  {name:<12} p50 {percentile(values, 0.5):6.2f} ms   "
              f"p99 {percentile(values, 0.99):6.2f} ms   max {max(values):6.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("-n", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=0.005)
    asyncio.run(main(parser.parse_args()))
