"""HMAC-SHA256 request signing (Intent Protocol v2.1 section 5.2, docs/SIGNING.md).

The string to sign is five fields joined by ``\\n``::

    METHOD \\n CANONICAL_PATH \\n TIMESTAMP \\n NONCE \\n BODY

``BODY`` is the exact bytes sent. ``CANONICAL_PATH`` is rebuilt from the
request-target the way the server decodes it: the path percent-decoded and
re-encoded byte by byte (RFC 3986 unreserved ``A-Z a-z 0-9 - . _ ~`` kept,
``/`` kept, everything else ``%XX`` uppercase); query parameters split on
``&`` and the first ``=``, decoded (``+`` is a space), re-encoded, sorted by
decoded key (a stable sort: a repeated key keeps the order it was sent in,
as the original server has it), joined with ``&``; no ``?`` when there are no
parameters. The signature is the lowercase hex HMAC-SHA256 keyed with the API
key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import urllib.parse
from typing import Dict, List, Optional, Tuple, Union

__all__ = [
    "encode_component",
    "canonical_path",
    "string_to_sign",
    "compute_signature",
    "sign_request",
]

_UNRESERVED = "-._~"  # with A-Z a-z 0-9, which quote() never encodes


def encode_component(value: Union[str, bytes], keep: str = "") -> str:
    """RFC 3986 percent-encoding (uppercase hex) of a string's UTF-8 bytes or of
    raw bytes; only ``A-Z a-z 0-9 - . _ ~`` and the characters in ``keep`` are
    left as they are."""
    return urllib.parse.quote(value, safe=_UNRESERVED + keep)


def _query_unquote(text: str) -> bytes:
    """Decode a query key or value like the server: ``+`` is a space, then ``%XX``."""
    return urllib.parse.unquote_to_bytes(text.replace("+", " "))


def canonical_path(target: str) -> str:
    """The CANONICAL_PATH of a request-target (path plus optional query).

    >>> canonical_path("/claim?namespace=default&goal=send_notification")
    '/claim?goal=send_notification&namespace=default'
    >>> canonical_path("/set/a+b%20c")
    '/set/a%2Bb%20c'
    """
    target = target.split("#", 1)[0]
    path, _, query = target.partition("?")
    out = encode_component(urllib.parse.unquote_to_bytes(path), keep="/")
    params: List[Tuple[bytes, str, str]] = []
    for part in query.split("&"):
        if part == "":
            continue  # '&&', a trailing '&', or no query at all
        key, _, value = part.partition("=")  # no '=' means a blank value
        decoded_key = _query_unquote(key)
        params.append((decoded_key, encode_component(decoded_key), encode_component(_query_unquote(value))))
    params.sort(key=lambda param: param[0])  # stable: repeated keys keep their order
    if params:
        out += "?" + "&".join(f"{k}={v}" for _, k, v in params)
    return out


def string_to_sign(method: str, target: str, timestamp: str, nonce: str, body: bytes = b"") -> bytes:
    """The exact bytes that are signed for a request."""
    return b"\n".join(
        [
            method.upper().encode("ascii"),
            canonical_path(target).encode("ascii"),
            timestamp.encode("utf-8"),
            nonce.encode("utf-8"),
            body,
        ]
    )


def compute_signature(
    api_key: str, method: str, target: str, timestamp: str, nonce: str, body: bytes = b""
) -> str:
    """Lowercase hex HMAC-SHA256 of :func:`string_to_sign`, keyed with the API key."""
    message = string_to_sign(method, target, timestamp, nonce, body)
    return hmac.new(api_key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign_request(
    api_key: str,
    method: str,
    target: str,
    body: Optional[bytes] = None,
    *,
    timestamp: Optional[str] = None,
    nonce: Optional[str] = None,
) -> Dict[str, str]:
    """The ``X-Timestamp``, ``X-Nonce`` and ``X-Signature`` headers for one request.

    ``target`` is the request-target exactly as sent (path and query), ``body``
    the exact body bytes (``None`` or ``b""`` for none). A fresh nonce
    (``secrets.token_hex(16)``) and the current Unix time are used unless given.
    """
    ts = str(int(time.time())) if timestamp is None else timestamp
    nc = secrets.token_hex(16) if nonce is None else nonce
    return {
        "X-Timestamp": ts,
        "X-Nonce": nc,
        "X-Signature": compute_signature(api_key, method, target, ts, nc, body or b""),
    }
