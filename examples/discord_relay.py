#!/usr/bin/env python3
"""discord_relay.py — relay jobs to a Discord webhook.

A worker (Python SDK WorkerRuntime, standard library only) for goal $GOAL
(default "discord"): each job's payload {"content": "..."} is POSTed with
urllib to the webhook URL in $DISCORD_WEBHOOK_URL as the JSON body
{"content": "..."}. A 2xx answer fulfils the job with the webhook's HTTP
status as its result (Discord answers 204); an error status (or a payload
without a "content" string) fails the job, so the bus retries it with backoff
or dead-letters it. SIGTERM / Ctrl-C stop it after the current job (exit 0).

Run (from the repository root):
    DISCORD_WEBHOOK_URL=https://discord.com/api/webhooks/<id>/<token> \
    INTENT_BUS_URL=http://127.0.0.1:8080 INTENT_API_KEY=$(cat infrastructure.db.secret) \
        python3 examples/discord_relay.py
    # then publish: {"goal": "discord", "payload": {"content": "Backup finished"}}

Environment: DISCORD_WEBHOOK_URL (required), INTENT_BUS_URL, INTENT_API_KEY,
GOAL (default "discord"), NAMESPACE (default "default"), CLAIM_WAIT (default 20).
"""

import json
import logging
import os
import sys
import urllib.error
import urllib.request

try:
    import intent_bus  # noqa: F401
except ImportError:  # use the SDK in this repository: <repo>/sdk/python
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sdk", "python"))

from intent_bus import IntentClient, Job, WorkerRuntime

WEBHOOK_URL = os.environ.get("DISCORD_WEBHOOK_URL", "")


def post_to_webhook(content: str) -> int:
    """POST {"content": content}; returns the HTTP status, raises on an error status."""
    request = urllib.request.Request(
        WEBHOOK_URL,
        data=json.dumps({"content": content}).encode("utf-8"),
        # Discord refuses urllib's default User-Agent.
        headers={"Content-Type": "application/json", "User-Agent": "DiscordBot (intent-bus-example, 1.0)"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status
    except urllib.error.HTTPError as e:  # 4xx / 5xx
        detail = e.read(300).decode("utf-8", "replace")
        raise RuntimeError(f"webhook answered HTTP {e.code}: {detail}") from None


def handle(job: Job) -> dict:
    payload = job.payload
    if not isinstance(payload, dict) or not isinstance(payload.get("content"), str):
        raise ValueError('payload must be {"content": "..."}')
    status = post_to_webhook(payload["content"][:2000])  # Discord's message limit
    print(f"job {job.id}: webhook answered {status}", flush=True)
    return {"webhook_status": status}  # fulfilled as a JSON result


def main() -> int:
    if not WEBHOOK_URL:
        print("set DISCORD_WEBHOOK_URL", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="[discord-relay] %(message)s")
    with IntentClient() as client:
        WorkerRuntime(client).listen(
            goal=os.environ.get("GOAL", "discord"),
            handler=handle,
            namespace=os.environ.get("NAMESPACE", "default"),
            wait=float(os.environ.get("CLAIM_WAIT", "20")),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
