#!/usr/bin/env python3
"""publish_and_wait.py — publish one job and wait for its result.

Publishes an intent with the Python SDK, then long-polls
GET /result/<id>?wait=S (IntentClient.result(id, wait=S)) until a worker
fulfils it or it is dead-lettered, and prints the result (JSON results as
JSON, text results as they are). Exit status: 0 fulfilled, 1 dead (the last
error goes to stderr), 2 still pending when the wait ran out.

Run (from the repository root; start a worker too, e.g. examples/python_worker.py):
    INTENT_BUS_URL=http://127.0.0.1:8080 INTENT_API_KEY=$(cat infrastructure.db.secret) \
        python3 examples/publish_and_wait.py shout '{"text": "hello"}' --wait 60
"""

import argparse
import json
import os
import sys

try:
    import intent_bus  # noqa: F401
except ImportError:  # use the SDK in this repository: <repo>/sdk/python
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sdk", "python"))

from intent_bus import IntentClient


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("goal")
    parser.add_argument("payload", help="the payload, as JSON")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait, 1-60 (default 60)")
    args = parser.parse_args()

    with IntentClient() as bus:
        published = bus.publish(args.goal, json.loads(args.payload), namespace=args.namespace)
        print(f"published {published.id}", file=sys.stderr)
        answer = bus.result(published.id, wait=args.wait)
    if answer.status == "fulfilled":
        print(answer.result if answer.result_type == "text" else json.dumps(answer.result))
        return 0
    if answer.status == "dead":
        print(f"job {published.id} failed: {answer.error}", file=sys.stderr)
        return 1
    print(f"job {published.id} is still {answer.status} after {args.wait:g} s", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
