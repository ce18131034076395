#!/usr/bin/env python3
"""What 1,000 idle long-polling workers cost the bus (docs/BENCHMARKS.md).

Parks N `POST /claim?wait=30` requests on a running server (asyncio, one
socket each, nothing to claim), then reads the server's CPU time from /proc
for 20 s, and its thread count and RSS. Usage:

    ulimit -n 4096
    /usr/bin/python3 bench/idle_long_poll.py --pid PID --port PORT --key KEY [-n 1000]
"""

import argparse
import asyncio
import os
import time


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_field(pid, name):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return "?"


async def park(port, key):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write((f"POST /claim?goal=idle-bench&wait=30 HTTP/1.1\r\nHost: bench\r\n"
                  f"X-API-KEY: {key}\r\nContent-Length: 0\r\n\r\n").encode())
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    return status_line.split(b" ")[1].decode()


async def main(args):
    tasks = [asyncio.create_task(park(args.port, args.key)) for _ in range(args.n)]
    await asyncio.sleep(5)  # every request parked
    before, started = cpu_seconds(args.pid), time.time()
    threads, rss = status_field(args.pid, "Threads"), status_field(args.pid, "VmRSS")
    await asyncio.sleep(20)
    used = cpu_seconds(args.pid) - before
    elapsed = time.time() - started
    print(f"{args.n} parked long-polls: server CPU {100 * used / elapsed:.2f} % of a core "
          f"over {elapsed:.0f} s, {threads} threads, RSS {rss}")
    answers = await asyncio.gather(*tasks)
    print("answers at the deadline:", sorted(set(answers)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("-n", type=int, default=1000)
    asyncio.run(main(parser.parse_args()))
