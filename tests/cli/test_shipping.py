"""What ships beside the binaries, checked against the build under test: the
man pages generated from --help render, the completion scripts load and
complete from --help, and the project states one version everywhere."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, REPO

PACKAGING = REPO / "packaging"


def text(path):
    return (REPO / path).read_text()


@pytest.fixture(scope="module")
def man_pages(tmp_path_factory):
    out = tmp_path_factory.mktemp("man")
    subprocess.run(["bash", PACKAGING / "make-man.sh", Path(BIN).parent, out], check=True,
                   timeout=60)
    return out


@pytest.mark.skipif(shutil.which("man") is None, reason="man (Debian package man-db) not installed")
@pytest.mark.parametrize("page", ["intent-bus.1", "intent-bus-serve.8"])
def test_man_pages_render_without_warnings(man_pages, page):
    done = subprocess.run(["man", "--warnings", "-l", man_pages / page], capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "MANWIDTH": "80"})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "SEE ALSO" in done.stdout


def test_man_pages_hold_every_help_text(man_pages):
    """Generated from --help: each command's usage line is in its page."""
    client = (man_pages / "intent-bus.1").read_text()
    server = (man_pages / "intent-bus-serve.8").read_text()
    for command in ["publish", "listen", "result", "status", "claim", "fulfill", "fail",
                    "extend", "set", "get", "admin", "bench"]:
        usage = subprocess.run([BIN, command, "--help"], capture_output=True, text=True,
                               timeout=10).stdout.splitlines()[0]
        assert usage.replace("-", "\\-") in client, command
    for command in ["serve", "backup"]:
        usage = subprocess.run([BIN, command, "--help"], capture_output=True, text=True,
                               timeout=10).stdout.splitlines()[0]
        assert usage.replace("-", "\\-") in server, command
    names = set(re.findall(r"\b(?:BUS|DASHBOARD)_[A-Z_]+", text("README.md")))
    missing = [name for name in names if name not in server]
    assert not missing, f"settings the README names but intent-bus-serve(8) does not: {missing}"


def complete(*words):
    """COMPREPLY of the bash completion for a command line ending in words[-1]."""
    script = f"""set -e
source {PACKAGING / "completion" / "intent-bus.bash"}
COMP_WORDS=({" ".join(f"'{w}'" for w in words)}); COMP_CWORD={len(words) - 1}
_intent_bus
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                          env={"PATH": f"{Path(BIN).parent}:/usr/bin:/bin"})
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout.split()


def test_bash_completion_of_commands_and_flags():
    assert {"serve", "backup", "publish", "listen", "admin", "version"} <= set(complete("intent-bus", ""))
    assert complete("intent-bus", "pub") == ["publish"]
    assert complete("intent-bus", "serve", "--po") == ["--port"]
    assert "--priority" in complete("intent-bus", "publish", "--")
    assert complete("intent-bus", "admin", "revoke") == ["revoke-key"]
    assert complete("intent-bus", "bench", "he") == ["heavy"]


def zsh_candidates(*words):
    """What the zsh completion offers for words, with compadd and _files
    stubbed to print their candidates (compadd itself filters by prefix)."""
    script = f"""
compadd() {{ [[ $1 == -a ]] && {{ print -l -- ${{(P)2}}; return }}; [[ $1 == -- ]] && shift; print -l -- "$@" }}
_files() {{ print _files }}
words=({" ".join(f"'{w}'" for w in words)}); CURRENT={len(words)}
source {PACKAGING / "completion" / "_intent-bus"}
"""
    done = subprocess.run(["zsh", "-f", "-c", script], capture_output=True, text=True, timeout=30,
                          env={"PATH": f"{Path(BIN).parent}:/usr/bin:/bin"})
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout.split()


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh not installed")
def test_zsh_completion_of_commands_and_flags():
    done = subprocess.run(["zsh", "-n", PACKAGING / "completion" / "_intent-bus"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert {"serve", "backup", "publish", "admin", "--help"} <= set(zsh_candidates("intent-bus", ""))
    assert "revoke-key" in zsh_candidates("intent-bus", "admin", "")
    assert {"--port", "--db", "--tls-cert"} <= set(zsh_candidates("intent-bus", "serve", "--"))
    assert zsh_candidates("intent-bus", "backup", "x") == ["_files"]
    assert zsh_candidates("intent-bus", "bench", "") == ["light", "medium", "heavy", "extreme"]


def test_one_version_everywhere():
    version = re.search(r'#define INTENT_BUS_VERSION "([0-9.]+)"', text("src/version.h"))[1]
    stated = {
        "intent-bus version": subprocess.run([BIN, "version"], capture_output=True, text=True,
                                             timeout=10).stdout.split()[1],
        "include/intentbus.h IB_VERSION":
            re.search(r'#define IB_VERSION "([0-9.]+)"', text("include/intentbus.h"))[1],
        "sdk/python __version__":
            re.search(r'__version__ = "([0-9.]+)"', text("sdk/python/intent_bus/__init__.py"))[1],
        "CHANGELOG.md newest release": re.search(r"^## ([0-9.]+) ", text("CHANGELOG.md"), re.M)[1],
    }
    assert stated == {where: version for where in stated}
    # /health's "version" is the protocol server version, not this one.
    assert '#define INTENT_BUS_API_VERSION "7.61"' in text("src/version.h")
