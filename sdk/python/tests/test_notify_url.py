"""publish(notify_url=...) (docs/PROTOCOL-EXTENSIONS.md "Completion
webhooks"): the URL goes with the intent; a target the bus's operator does
not allow is the server's validation error."""

import hashlib
import hmac

import pytest

from intent_bus import IntentBusNotFoundError, IntentBusValidationError


def test_notify_url_goes_with_the_intent(servers, ns):
    srv = servers.get("webhooks", {"BUS_WEBHOOK_ALLOW": "127.0.0.1:*"})
    url = "http://127.0.0.1:9/hook"  # the discard port: deliveries fail, the URL stays
    with srv.client() as c:
        published = c.publish("g", {"n": 1}, namespace=ns, notify_url=url)
        secret = c.webhook_secret()
    key_id = hashlib.sha256(srv.key.encode()).hexdigest()
    base = hmac.new(srv.key.encode(), b"intent-bus webhook secret", hashlib.sha256).hexdigest()
    assert secret == hmac.new(base.encode(), key_id.encode(), hashlib.sha256).hexdigest()
    status, detail = srv.admin("GET", f"/admin/intents/{published.id}")
    assert status == 200, detail
    assert detail["webhook"]["url"] == url


def test_a_target_the_bus_does_not_allow_is_refused(client, ns):
    with pytest.raises(IntentBusValidationError) as refused:
        client.publish("g", {}, namespace=ns, notify_url="https://hooks.example.com/x")
    assert refused.value.code == "webhook_not_allowed"


def test_webhook_secret_when_webhooks_are_off(client):
    with pytest.raises(IntentBusNotFoundError) as off:
        client.webhook_secret()
    assert off.value.code == "webhooks_off"
