#!/usr/bin/env python3
"""python_worker.py — an Intent Bus worker on the Python SDK's WorkerRuntime.

Claims jobs of goal $GOAL (default "shout") with long-polling and fulfils each
with a text result: the payload's "text" field upper-cased (any other payload
is echoed as JSON). A payload {"fail": true} makes the handler raise, so the
job is failed (retried with backoff, or dead-lettered). SIGTERM / Ctrl-C stop
it after the current job; it then exits 0.

Run (from the repository root):
    INTENT_BUS_URL=http://127.0.0.1:8080 INTENT_API_KEY=$(cat infrastructure.db.secret) \
        python3 examples/python_worker.py

Environment: INTENT_BUS_URL, INTENT_API_KEY (or ~/.apikey), GOAL (default
"shout"), NAMESPACE (default "default"), CLAIM_WAIT (long-poll seconds, default
20; a stop request takes effect when the current claim returns).
"""

import json
import logging
import os
import sys

try:
    import intent_bus  # noqa: F401
except ImportError:  # use the SDK in this repository: <repo>/sdk/python
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sdk", "python"))

from intent_bus import IntentClient, Job, WorkerRuntime


def handle(job: Job) -> str:
    payload = job.payload
    if isinstance(payload, dict) and payload.get("fail"):
        raise RuntimeError("asked to fail")
    if isinstance(payload, dict) and isinstance(payload.get("text"), str):
        result = payload["text"].upper()
    else:
        result = json.dumps(payload)
    print(f"job {job.id}: {result}", flush=True)
    return result  # a str is fulfilled as a text result


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="[python-worker] %(message)s")
    goal = os.environ.get("GOAL", "shout")
    with IntentClient() as client:
        runtime = WorkerRuntime(client)
        handled = runtime.listen(
            goal=goal,
            handler=handle,
            namespace=os.environ.get("NAMESPACE", "default"),
            wait=float(os.environ.get("CLAIM_WAIT", "20")),
        )
    print(f"stopped after {handled} job(s): {runtime.fulfilled} fulfilled, {runtime.failed} failed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
