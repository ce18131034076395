"""`intent-bus publish --notify-url URL` (docs/PROTOCOL-EXTENSIONS.md
"Completion webhooks"): the URL goes with the intent, and the bus's refusal
of a target its operator does not allow reaches the user."""

from conftest import Cli, Server


def test_notify_url_is_sent_and_shown_in_the_result(tmp_path, ns):
    bus = Server(tmp_path / "bus", extra_env={"BUS_WEBHOOK_ALLOW": "127.0.0.1:*"})
    try:
        cli = Cli(bus, tmp_path / "home")
        url = "http://127.0.0.1:9/hook"  # the discard port: deliveries fail, the URL stays
        intent_id = cli.publish("g", {"n": 1}, "-n", ns, "--notify-url", url)
        assert bus.result(intent_id)["webhook"]["url"] == url
    finally:
        bus.stop()


def test_a_target_the_bus_does_not_allow_is_refused(cli, ns):
    # the session's bus has webhooks off (no BUS_WEBHOOK_ALLOW)
    done = cli.run("publish", "g", "{}", "-n", ns, "--notify-url", "https://hooks.example.com/x")
    assert done.returncode != 0
    assert "webhook_not_allowed" in done.stderr or "BUS_WEBHOOK_ALLOW" in done.stderr, done.stderr
