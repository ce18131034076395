"""--help everywhere, usage errors, and the exit-code table."""

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BIN

COMMANDS = ["publish", "listen", "claim", "fulfill", "fail", "extend", "result", "status",
            "set", "get", "admin", "schedule"]
ADMIN_COMMANDS = ["generate-key", "revoke-key", "dead", "retry", "cancel", "purge", "cleanup",
                  "stats", "keys", "intents", "intent"]


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=10,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"})


@pytest.mark.parametrize("command", COMMANDS)
def test_help_on_every_subcommand(command):
    done = run(command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: intent-bus {command}")
    assert done.stderr == ""


@pytest.mark.parametrize("command", ADMIN_COMMANDS)
def test_help_on_every_admin_subcommand(command):
    done = run("admin", command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: intent-bus admin {command}")
    assert "--admin-token" in done.stdout


@pytest.mark.parametrize("command", ["serve", "bench", "backup"])
def test_help_of_the_bus_commands_is_on_stdout(command):
    """Server-side commands too: --help is an answer, not an error."""
    done = run(command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: intent-bus {command}")
    assert done.stderr == ""


@pytest.mark.parametrize("args", [["serve", "--bogus"], ["bench", "--bogus"],
                                  ["backup", "--bogus"]])
def test_usage_errors_of_the_bus_commands_stay_on_stderr(args):
    done = run(*args)
    assert done.returncode == 2
    assert "usage: intent-bus" in done.stderr
    assert done.stdout == ""


def test_top_level_help_lists_commands_and_exit_codes():
    done = run("--help")
    assert done.returncode == 0
    for command in COMMANDS + ["serve", "bench", "backup", "version"]:
        assert command in done.stdout
    for code in range(7):
        assert f"\n  {code}  " in done.stdout


def test_no_command_is_a_usage_error():
    done = run()
    assert done.returncode == 2
    assert "usage:" in done.stderr


@pytest.mark.parametrize("args, message", [
    (["publish", "g", "{}", "--bogus"], "unknown option --bogus"),
    (["publish", "g"], "missing argument"),
    (["publish", "g", "{not json"], "JSON is not valid JSON"),
    (["publish", "g", "{}", "--priority", "high"], "--priority must be a whole number"),
    (["listen", "g"], "-c COMMAND is required"),
    (["listen", "g", "-c", "true", "--wait", "61"], "--wait must be a whole number"),
    (["get", "a", "b"], "too many arguments"),
    (["admin", "purge"], "add --yes to confirm"),
    (["admin", "stats", "--yes"], "option --yes does not apply"),
    (["admin", "explode"], "unknown command 'explode'"),
])
def test_usage_errors_exit_2_with_one_line(args, message):
    done = run(*args)
    assert done.returncode == 2, done
    assert message in done.stderr
    assert done.stderr.startswith("intent-bus: ")
    assert done.stderr.count("\n") == 1
    assert done.stdout == ""


def test_unknown_command_says_so_and_lists_the_commands():
    done = run("frobnicate")
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == "intent-bus: unknown command 'frobnicate'"
    assert "publish GOAL JSON" in done.stderr


def test_version_is_unchanged():
    done = run("version")
    assert done.returncode == 0
    assert done.stdout.startswith("intent-bus ")


def test_client_commands_run_in_the_partner_executable():
    """intent-bus hands every client command to intent-bus-client beside it."""
    partner = Path(BIN).resolve().parent / "intent-bus-client"
    assert partner.is_file()
    direct = subprocess.run([str(partner), "status", "--help"], capture_output=True, text=True,
                            timeout=10)
    assert direct.returncode == 0, direct.stderr
    assert direct.stdout == run("status", "--help").stdout


def test_a_missing_partner_is_named(tmp_path):
    lone = tmp_path / "intent-bus"
    shutil.copy(Path(BIN).resolve(), lone)
    done = subprocess.run([str(lone), "status", "x"], capture_output=True, text=True, timeout=10)
    assert done.returncode == 2
    assert "intent-bus-client" in done.stderr
    assert subprocess.run([str(lone), "version"], capture_output=True, timeout=10).returncode == 0
