"""Where the CLI finds the bus and the API key (seed 002's order): --api-key,
then INTENT_API_KEY, then ~/.apikey (mode 0600 only); --url, then
INTENT_BUS_URL. And the exit codes of a wrong key, an unknown id, an
unreachable bus."""

import os


def write_key_file(home, content, mode):
    path = home / ".apikey"
    path.write_text(content)
    os.chmod(path, mode)
    return path


def test_key_from_the_environment(cli):
    assert len(cli.ok("publish", "g", "{}").strip()) == 32


def test_flag_wins_over_the_environment(cli, server):
    env = cli.env(INTENT_API_KEY="not-the-key")
    done = cli.run("publish", "g", "{}", "--api-key", server.key, env=env)
    assert done.returncode == 0, done.stderr


def test_environment_wins_over_the_key_file(cli):
    write_key_file(cli.home, "not-the-key\n", 0o600)
    assert cli.run("publish", "g", "{}").returncode == 0


def test_key_file_with_mode_0600_is_used(cli, server):
    write_key_file(cli.home, server.key + "\n", 0o600)  # the trailing newline is stripped
    done = cli.run("publish", "g", "{}", env=cli.env(INTENT_API_KEY=None))
    assert done.returncode == 0, done.stderr


def test_key_file_readable_by_others_is_refused(cli, server):
    path = write_key_file(cli.home, server.key + "\n", 0o644)
    done = cli.run("publish", "g", "{}", env=cli.env(INTENT_API_KEY=None))
    assert done.returncode == 3
    assert done.stderr == (f"intent-bus: publish: refusing to use {path}: its mode is 0644, so "
                           f"other users may read it; restrict it with: chmod 600 {path}\n")


def test_group_readable_key_file_is_refused_too(cli, server):
    write_key_file(cli.home, server.key, 0o640)
    done = cli.run("status", "0" * 32, env=cli.env(INTENT_API_KEY=None))
    assert done.returncode == 3
    assert "chmod 600" in done.stderr


def test_no_key_anywhere(cli):
    done = cli.run("publish", "g", "{}", env=cli.env(INTENT_API_KEY=None))
    assert done.returncode == 3
    assert "no API key" in done.stderr and "INTENT_API_KEY" in done.stderr
    assert done.stderr.count("\n") == 1


def test_wrong_key_exits_3_with_the_servers_reason(cli):
    done = cli.run("publish", "g", "{}", "--api-key", "wrong")
    assert done.returncode == 3
    assert done.stderr == "intent-bus: publish: 401 unauthorized: Invalid API key.\n"
    assert done.stdout == ""


def test_unknown_id_exits_4(cli):
    for command in (["status", "f" * 32], ["result", "f" * 32]):
        done = cli.run(*command)
        assert done.returncode == 4, done
        assert done.stderr == f"intent-bus: {command[0]}: 404 not_found: Intent not found.\n"


def test_url_flag_wins_over_the_environment(cli, server):
    env = cli.env(INTENT_BUS_URL="http://127.0.0.1:9")
    assert cli.run("publish", "g", "{}", "--url", server.url, env=env).returncode == 0


def test_unreachable_bus_exits_5_with_one_line(cli):
    done = cli.run("publish", "g", "{}", "--url", "http://127.0.0.1:9")
    assert done.returncode == 5
    assert done.stderr.startswith("intent-bus: publish: cannot reach http://127.0.0.1:9: ")
    assert done.stderr.count("\n") == 1


def test_default_url_is_local_8080(cli):
    # Nothing listens there in the test environment, or something else does:
    # either way the error names the default URL.
    done = cli.run("status", "0" * 32, env=cli.env(INTENT_BUS_URL=None))
    if done.returncode == 5:
        assert "http://127.0.0.1:8080" in done.stderr


def test_admin_token_from_flag_or_environment(cli, server):
    assert cli.run("admin", "stats").returncode == 3
    assert cli.run("admin", "stats", "--admin-token", server.admin).returncode == 0
    assert cli.run("admin", "stats", env=cli.env(INTENT_ADMIN_TOKEN=server.admin)).returncode == 0
    done = cli.run("admin", "stats", "--admin-token", "wrong")
    assert done.returncode == 3
    assert done.stderr.startswith("intent-bus: admin stats: 401 unauthorized")
