"""What the compatibility suite's tests share (conftest.py declares the
fixtures). The servers and the checked HTTP client are tests/http's harness, loaded
from there rather than copied; `sdk_client` speaks the original SDK's wire
format (see original_client.py).
"""

import importlib.util
import secrets
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("bus_http_harness", _HERE.parent / "http" / "conftest.py")
harness = importlib.util.module_from_spec(_spec)
sys.modules["bus_http_harness"] = harness
_spec.loader.exec_module(harness)
sys.path.insert(0, str(_HERE))

from original_client import OriginalClient  # noqa: E402

ADMIN_TOKEN = "compat-admin-" + secrets.token_hex(8)
DASHBOARD_PASSWORD = "compat-dash-" + secrets.token_hex(8)
METRICS_TOKEN = "compat-metrics-" + secrets.token_hex(8)


def original_env(**extra):
    """The settings the original's own tests start their server with."""
    env = {"BUS_ADMIN_SECRET": ADMIN_TOKEN, "DASHBOARD_PASSWORD": DASHBOARD_PASSWORD,
           "BUS_METRICS_TOKEN": METRICS_TOKEN, "BUS_REQUIRE_SIGNATURES": "false"}
    env.update(extra)
    return env


def generate_tester_key(server, owner="compat"):
    admin = server.client()
    r = admin.post("/admin/generate_key", {"owner": owner}, key=None,
                   headers={"X-Admin-Token": ADMIN_TOKEN})
    assert r.status == 201, r.raw
    return r.json["api_key"]


def sdk_client(server, key=None):
    return OriginalClient(f"http://127.0.0.1:{server.port}", key or server.key)
