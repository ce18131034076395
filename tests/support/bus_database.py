"""Which database a test's `intent-bus serve` gets, shared by the suites that
start their own servers (tests/cli, tests/cross, tests/examples,
sdk/python/tests; tests/http has its own harness in its conftest).

With $INTENT_BUS_DATABASE_URL set (a superuser's URL of a throw-away
cluster, `make test-postgres`), every server gets a fresh PostgreSQL
database of its own; otherwise a SQLite file in its work directory.
"""

import os
import re
import secrets
import subprocess

POSTGRES_URL = os.environ.get("INTENT_BUS_DATABASE_URL", "")
ON_POSTGRES = bool(POSTGRES_URL)


def fresh_postgres_database():
    """Creates an empty database on the test cluster; returns its URL."""
    name = f"bus_{secrets.token_hex(8)}"
    subprocess.run(["psql", POSTGRES_URL, "-qAtc", f'CREATE DATABASE "{name}"'], check=True,
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    match = re.match(r"^(postgres(?:ql)?://[^/?]*)(/[^?]*)?(\?.*)?$", POSTGRES_URL)
    assert match, f"INTENT_BUS_DATABASE_URL is not a postgresql:// URI: {POSTGRES_URL}"
    return f"{match[1]}/{name}{match[3] or ''}"


def serve_database_args(workdir):
    """The `serve` arguments naming the database for a server in workdir."""
    if ON_POSTGRES:
        return ["--database", fresh_postgres_database()]
    return ["--db", str(workdir / "bus.db")]
