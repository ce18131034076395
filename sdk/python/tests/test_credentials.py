"""Credential and URL resolution: argument, INTENT_API_KEY, ~/.apikey (0600 only)."""

import os

import pytest

from intent_bus import IntentBusAuthError, IntentClient, resolve_api_key, resolve_base_url


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A temporary HOME with no INTENT_* variables."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.delenv("INTENT_API_KEY", raising=False)
    monkeypatch.delenv("INTENT_BUS_URL", raising=False)
    return h


def write_key(home, key, mode):
    path = home / ".apikey"
    path.write_text(key + "\n")
    os.chmod(path, mode)
    return path


def test_argument_wins(home, monkeypatch):
    monkeypatch.setenv("INTENT_API_KEY", "from-env")
    write_key(home, "from-file", 0o600)
    assert resolve_api_key("from-arg") == "from-arg"


def test_env_before_file(home, monkeypatch):
    monkeypatch.setenv("INTENT_API_KEY", "from-env")
    write_key(home, "from-file", 0o600)
    assert resolve_api_key() == "from-env"


def test_file_0600_accepted(home):
    write_key(home, "from-file", 0o600)
    assert resolve_api_key() == "from-file"
    write_key(home, "from-file-2", 0o400)
    assert resolve_api_key() == "from-file-2"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_file_readable_by_others_refused(home, mode):
    write_key(home, "from-file", mode)
    with pytest.raises(IntentBusAuthError) as info:
        IntentClient("http://127.0.0.1:1")
    msg = str(info.value)
    assert "chmod 600" in msg and f"{mode:04o}" in msg, msg
    assert info.value.code == "insecure_key_file" and info.value.status is None


def test_no_key_anywhere(home):
    with pytest.raises(IntentBusAuthError) as info:
        IntentClient("http://127.0.0.1:1")
    assert "INTENT_API_KEY" in str(info.value) and info.value.code == "missing_api_key"


def test_base_url_resolution(home, monkeypatch):
    assert resolve_base_url() == "http://127.0.0.1:8080"
    monkeypatch.setenv("INTENT_BUS_URL", "http://bus.example:9000/")
    assert resolve_base_url() == "http://bus.example:9000"
    assert resolve_base_url("https://other") == "https://other"
    with pytest.raises(ValueError):
        IntentClient("ftp://x", api_key="k")


def test_resolved_credentials_work_against_the_server(server, home, monkeypatch):
    monkeypatch.setenv("INTENT_BUS_URL", server.url)
    monkeypatch.setenv("INTENT_API_KEY", server.key)
    with IntentClient() as c:
        c.set("cred", "env")
        assert c.get("cred") == "env"
    monkeypatch.delenv("INTENT_API_KEY")
    write_key(home, server.key, 0o600)
    with IntentClient() as c:
        assert c.get("cred") == "env"
    write_key(home, "not-the-key", 0o600)
    with IntentClient() as c:
        with pytest.raises(IntentBusAuthError) as info:
            c.get("cred")
        assert info.value.status == 401
