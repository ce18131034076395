"""The container's entrypoint (deploy/entrypoint.sh), run outside a
container: no container engine runs on the CI machine. It serves on
0.0.0.0 with the database from BUS_DB_PATH, its healthcheck follows /health,
other commands pass through, and SIGTERM reaches the bus (exec), which
drains and exits 0. The Dockerfile's promises are checked as text."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from conftest import BIN, REPO, free_port

ENTRYPOINT = REPO / "deploy" / "entrypoint.sh"
DOCKERFILE = REPO / "deploy" / "Dockerfile"


def environment(tmp_path, port):
    return {"PATH": f"{Path(BIN).parent}:/usr/bin:/bin", "BUS_DB_PATH": str(tmp_path / "bus.db"),
            "INTENT_BUS_PORT": str(port), "HOME": str(tmp_path)}


def healthcheck(env):
    return subprocess.run([ENTRYPOINT, "healthcheck"], env=env, capture_output=True,
                          timeout=30).returncode


def test_entrypoint_serves_on_all_interfaces_and_checks_health(tmp_path):
    port = free_port()
    env = environment(tmp_path, port)
    assert healthcheck(env) != 0  # nothing listens yet
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([ENTRYPOINT], env=env, stdout=log, stderr=log, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while healthcheck(env) != 0:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "the entrypoint's bus never became healthy"
            time.sleep(0.1)
        banner = (tmp_path / "serve.log").read_text()
        assert f"listening on http://0.0.0.0:{port} (database {tmp_path}/bus.db" in banner
        assert (tmp_path / "bus.db.secret").exists()
        # The shell is gone: the bus itself has the entrypoint's pid.
        assert Path(f"/proc/{proc.pid}/exe").resolve().name == "intent-bus"
        version = subprocess.run([ENTRYPOINT, "version"], env=env, capture_output=True,
                                 text=True, timeout=30)
        assert version.returncode == 0 and version.stdout.startswith("intent-bus ")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert healthcheck(env) != 0


def test_healthcheck_fails_on_a_port_that_is_not_the_bus(tmp_path):
    import socket
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        env = environment(tmp_path, other.getsockname()[1])
        # Accepts, never answers: the check must give up, not hang.
        assert healthcheck(env) != 0


def test_dockerfile_keeps_its_promises():
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM (\S+)", text, re.M)
    assert len(stages) == 2 and stages[-1] == "debian:12-slim"
    runtime = text.split("\nFROM debian:12-slim\n", 1)[1]
    assert re.search(r"^USER intent-bus$", runtime, re.M)
    assert re.search(r"^VOLUME /var/lib/intent-bus$", runtime, re.M)
    assert re.search(r"^HEALTHCHECK .*\n.*healthcheck", runtime, re.M)
    assert 'ENTRYPOINT ["intent-bus-entrypoint"]' in runtime
    assert "COPY deploy/entrypoint.sh /usr/local/bin/intent-bus-entrypoint" in runtime
    assert os.access(ENTRYPOINT, os.X_OK)
