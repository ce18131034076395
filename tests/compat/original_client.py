"""A client that puts on the wire exactly what the original Intent Bus SDK
(the PyPI package `intent_bus`, v7.61) sends, and reads answers the way it
reads them, so the compatibility tests can drive our server as that SDK's
users do. Written from the SDK's documented behaviour, not copied from it:

* every request is signed: X-API-KEY, X-Timestamp (whole seconds),
  X-Nonce (32 hex), X-Signature; Content-Type: application/json even without
  a body; X-Intent-Version: 7.61 (the SDK sends its own version there);
* the body is the JSON of the arguments with sorted keys and no spaces, and
  is signed as sent; a request without arguments has an empty body;
* the query is built by the client: parameters sorted by key, keys and
  values percent-encoded with nothing left unescaped but A-Z a-z 0-9 _ . - ~,
  and that path is what is signed; the path itself is signed as written
  (`/set/a b`), and its HTTP library percent-encodes it only when sending;
* 401 and 403 raise AuthError; 404 on /fulfill, /fail or /extend_claim
  raises LeaseLostError (the lease is gone: never retried); 429 raises
  RateLimitError; another 4xx or 5xx raises ClientError; 204 on /claim is
  "nothing to do", with Retry-After read as seconds.
"""

import hashlib
import hmac
import http.client
import json
import secrets
import time
import urllib.parse

SDK_VERSION = "7.61"
LEASE_ENDPOINTS = ("/fulfill/", "/fail/", "/extend_claim/")


class ClientError(Exception):
    def __init__(self, status, code, message):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class AuthError(ClientError):
    pass


class LeaseLostError(ClientError):
    pass


class RateLimitError(ClientError):
    pass


class Answer:
    def __init__(self, status, headers, raw):
        self.status, self.headers, self.raw = status, headers, raw
        self.json = json.loads(raw) if raw else None


def canonical_body(data):
    if data is None:
        return b""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def build_path(endpoint, params):
    pairs = sorted(((k, v) for k, v in (params or []) if v is not None), key=lambda kv: kv[0])
    if not pairs:
        return endpoint
    quote = lambda text: urllib.parse.quote(str(text), safe="")  # noqa: E731
    return endpoint + "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs)


def signature(key, method, path, timestamp, nonce, body):
    message = b"\n".join([method.upper().encode(), path.encode(), timestamp.encode(),
                          nonce.encode(), body])
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


class OriginalClient:
    def __init__(self, base_url, api_key):
        parsed = urllib.parse.urlsplit(base_url)
        self.host, self.port = parsed.hostname, parsed.port
        self.api_key = api_key
        self.last_request = None  # (method, path, body, headers) as sent, for replays

    # -- transport -------------------------------------------------------
    def send(self, method, path, body=b"", headers=None):
        """One raw request; returns an Answer (no error mapping)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        # what `requests` does to a URL before sending it: escape what may
        # not appear in a request line, leave existing escapes alone
        path = urllib.parse.quote(path, safe="!#$%&'()*+,/:;=?@[]~")
        try:
            conn.request(method, path, body=body or None, headers=headers or {})
            resp = conn.getresponse()
            return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def signed_headers(self, method, path, body, idempotency_key=None, extra=None):
        timestamp = str(int(time.time()))
        nonce = secrets.token_hex(16)
        headers = {
            "X-API-KEY": self.api_key,
            "X-Timestamp": timestamp,
            "X-Nonce": nonce,
            "X-Signature": signature(self.api_key, method, path, timestamp, nonce, body),
            "Content-Type": "application/json",
            "User-Agent": f"intent-bus-python/{SDK_VERSION}",
            "X-Intent-Version": SDK_VERSION,
        }
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        headers.update(extra or {})
        return headers

    def request(self, method, endpoint, params=None, data=None, idempotency_key=None,
                extra_headers=None):
        path = build_path(endpoint, params)
        body = canonical_body(data)
        headers = self.signed_headers(method, path, body, idempotency_key, extra_headers)
        self.last_request = (method, path, body, headers)
        answer = self.send(method, path, body, headers)
        return self._check(answer, endpoint)

    @staticmethod
    def _check(answer, endpoint):
        if answer.status < 400:
            return answer
        error = (answer.json or {}).get("error", {}) if answer.raw.startswith(b"{") else {}
        args = (answer.status, error.get("code", ""), error.get("message", answer.raw.decode()))
        if answer.status in (401, 403):
            raise AuthError(*args)
        if answer.status == 404 and endpoint.startswith(LEASE_ENDPOINTS):
            raise LeaseLostError(*args)
        if answer.status == 429:
            raise RateLimitError(*args)
        raise ClientError(*args)

    # -- the SDK's calls -------------------------------------------------
    def publish(self, goal, payload, namespace="default", visibility="private", priority=100,
                delay=0.0, max_attempts=3, backoff_base=5.0, target_worker=None,
                required_capability=None, idempotency_key=None):
        data = {"goal": goal, "payload": payload, "namespace": namespace,
                "visibility": visibility, "priority": priority, "delay": delay,
                "max_attempts": max_attempts, "backoff_base": backoff_base}
        if target_worker:
            data["target_worker"] = target_worker
        if required_capability:
            data["required_capability"] = required_capability
        key = idempotency_key or secrets.token_hex(16)  # the SDK always sends one
        return self.request("POST", "/intent", data=data, idempotency_key=key).json

    def claim(self, goal=None, publisher=None, namespace="default", worker_id=None,
              capabilities=None):
        """The claimed intent (a dict), or None with self.retry_after set."""
        params = [("namespace", namespace), ("goal", goal), ("publisher", publisher)]
        headers = {}
        if worker_id:
            headers["X-Worker-ID"] = worker_id
        if capabilities:
            headers["X-Worker-Capabilities"] = capabilities
        answer = self.request("POST", "/claim", params=params, extra_headers=headers)
        self.retry_after = float(answer.headers["retry-after"]) if answer.status == 204 else None
        return answer.json if answer.status == 200 else None

    def extend_claim(self, intent_id, claim_token, seconds=60):
        return self.request("POST", f"/extend_claim/{intent_id}",
                            data={"claim_token": claim_token, "seconds": seconds}).json

    def fail(self, intent_id, claim_token, error="Worker failure"):
        return self.request("POST", f"/fail/{intent_id}",
                            data={"claim_token": claim_token, "error": error}).json

    def fulfill(self, intent_id, claim_token, result=None, result_type="json"):
        data = {"claim_token": claim_token, "result_type": result_type}
        if result is not None:
            data["result"] = result
        return self.request("POST", f"/fulfill/{intent_id}", data=data).json

    def get_result(self, intent_id):
        return self.request("GET", f"/result/{intent_id}").json

    def get_status(self, intent_id):
        return self.request("GET", f"/status/{intent_id}").json

    def set(self, key, value, ttl=600):
        # The SDK sends dicts and lists as JSON text, and parses them back in get().
        if isinstance(value, (dict, list)):
            value = json.dumps(value, separators=(",", ":"))
        return self.request("POST", f"/set/{key}", data={"value": value, "ttl": ttl},
                            idempotency_key=secrets.token_hex(16)).json

    def get(self, key):
        value = self.request("GET", f"/get/{key}").json.get("value")
        if isinstance(value, str) and value[:1] in ("{", "["):
            try:
                return json.loads(value)
            except ValueError:
                pass
        return value

    def listen_once(self, goal, handler, namespace="default", worker_id=None, capabilities=None,
                    timeout=10.0):
        """The SDK worker runtime's loop, until one job is handled: claim, sleep
        Retry-After on 204, run the handler, fulfil its return value (a dict
        with "result"/"result_type" is taken apart), fail on False or an
        exception. Returns the job."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.claim(goal=goal, namespace=namespace, worker_id=worker_id,
                             capabilities=capabilities)
            if job is None:
                time.sleep(min(self.retry_after or 1.0, 0.2))
                continue
            try:
                outcome = handler(job["payload"])
            except Exception as exc:  # the runtime fails the job with the text
                self.fail(job["id"], job["claim_token"], error=str(exc))
                return job
            if outcome is False:
                self.fail(job["id"], job["claim_token"], error="Worker handler returned False")
            elif isinstance(outcome, dict) and ("result" in outcome or "result_type" in outcome):
                self.fulfill(job["id"], job["claim_token"], **outcome)
            else:
                self.fulfill(job["id"], job["claim_token"], result=outcome)
            return job
        raise AssertionError(f"no {goal} job to claim within {timeout}s")
