"""The README's client quickstarts, run verbatim.

Each ```sh block under "## Clients" is run with bash, as a newcomer would run
it from the directory of `make run`: a temporary directory holding the key
file `infrastructure.db.secret`, with `build/` and `sdk/` of the build under
test. INTENT_BUS_URL points at the test's server (the README's default,
127.0.0.1:8080, may be taken). The C quickstart builds against a temporary
`cmake --install` prefix through PKG_CONFIG_PATH, the way `make install`
would provide it.
"""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BIN, REPO, Bus

BUILD = Path(BIN).parent


def quickstarts():
    """{heading: code} of the sh blocks in README.md's "## Clients" section."""
    text = (REPO / "README.md").read_text()
    section = text.split("\n## Clients\n", 1)[1].split("\n## ", 1)[0]
    blocks = {}
    for part in section.split("\n### ")[1:]:
        heading, body = part.split("\n", 1)
        found = re.search(r"```sh\n(.*?)```", body, re.S)
        if found:
            blocks[heading.strip()] = found.group(1)
    return blocks


def sanitized_build():
    cache = (BUILD / "CMakeCache.txt").read_text()
    return "INTENT_BUS_SANITIZE:BOOL=ON" in cache


@pytest.fixture(scope="module")
def newcomer(tmp_path_factory):
    """A bus and the directory a newcomer runs the quickstarts from."""
    bus = Bus(tmp_path_factory.mktemp("readme-bus"))
    home = tmp_path_factory.mktemp("readme")
    (home / "infrastructure.db.secret").write_text(bus.key + "\n")
    (home / "build").symlink_to(BUILD)
    (home / "sdk").symlink_to(REPO / "sdk")
    yield bus, home
    bus.stop()


def run_block(code, bus, cwd, env=None, timeout=60):
    """Runs a block with bash in its own process group, then waits for every
    process it left behind (a worker it stopped) to end."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("INTENT_") and not k.startswith("BUS_")}
    base.update(INTENT_BUS_URL=bus.url, **(env or {}))
    proc = subprocess.Popen(["bash", "-e", "-c", code], cwd=cwd, env=base, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        deadline = time.monotonic() + 45
        while True:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            if time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                raise AssertionError("the block left a process running")
            time.sleep(0.1)
    assert proc.returncode == 0, (out, err)
    return out


def test_the_readme_has_a_quickstart_for_each_client():
    assert set(quickstarts()) >= {"Command line (`intent-bus`)",
                                  "Python SDK (`sdk/python`, standard library only)",
                                  "C library (`libintentbus`)"}


def test_cli_quickstart(newcomer):
    bus, home = newcomer
    out = run_block(quickstarts()["Command line (`intent-bus`)"], bus, home)
    assert json.loads(out) == {"INSTRUCTION": "HELLO"}


def test_python_quickstart(newcomer):
    bus, home = newcomer
    out = run_block(quickstarts()["Python SDK (`sdk/python`, standard library only)"], bus, home)
    assert out == "{'delivered': True}\n"


def test_c_quickstart(newcomer, tmp_path):
    bus, home = newcomer
    prefix = tmp_path / "prefix"
    subprocess.run(["cmake", "--install", str(BUILD), "--prefix", str(prefix)],
                   check=True, capture_output=True)
    pc = next(prefix.rglob("intentbus.pc"))
    env = {"PKG_CONFIG_PATH": str(pc.parent), "LD_LIBRARY_PATH": str(pc.parent.parent)}
    if sanitized_build():
        # The instrumented library needs an instrumented program: a `cc`
        # that adds the build's sanitizer flags, first on PATH.
        shim = tmp_path / "bin"
        shim.mkdir()
        (shim / "cc").write_text('#!/bin/sh\nexec /usr/bin/cc -fsanitize=address,undefined "$@"\n')
        (shim / "cc").chmod(0o755)
        env["PATH"] = f"{shim}:{os.environ['PATH']}"
    out = run_block(quickstarts()["C library (`libintentbus`)"], bus, home, env)
    intent = json.loads(out)
    assert intent["status"] == "fulfilled" and intent["result"] == {"delivered": True}
