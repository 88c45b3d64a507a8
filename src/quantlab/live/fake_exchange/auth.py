"""Binance request signing, checked as the exchange does.

A signed request carries the API key in the ``X-MBX-APIKEY`` header and ``timestamp`` and
``signature`` parameters; the signature is the hex HMAC-SHA256, keyed with the secret, of the
query string concatenated with the body (``signature`` itself left out) — exactly the text the
client sent, so parameter order and encoding matter.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from quantlab.live.fake_exchange.errors import ApiError, mandatory

__all__ = ["check_signed"]

_MAX_RECV_WINDOW = 60_000


def _without_signature(raw: str) -> tuple[str, str | None]:
    parts = raw.split("&") if raw else []
    kept = [p for p in parts if not p.startswith("signature=")]
    sig = next((p.split("=", 1)[1] for p in parts if p.startswith("signature=")), None)
    return "&".join(kept), sig


def check_signed(headers: Mapping[str, str], raw_query: str, raw_body: str,
                 params: Mapping[str, str], api_key: str, secret: str) -> None:
    """Verify a signed request; raise the :class:`ApiError` Binance answers with.

    Errors
    ------
    -2014 (401) no API key; -2015 (401) wrong API key; -1102 no ``timestamp`` or
    ``signature``; -1131 ``recvWindow`` over 60000; -1021 ``timestamp`` outside the receive
    window of the (wall) clock; -1022 (400) the signature does not match.
    """
    key = headers.get("X-MBX-APIKEY", "")
    if not key:
        raise ApiError(-2014, "API-key format invalid.", 401)
    if not hmac.compare_digest(key.encode(), api_key.encode()):
        raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
    query, sig_q = _without_signature(raw_query)
    body, sig_b = _without_signature(raw_body)
    signature = sig_b or sig_q
    if not signature:
        raise mandatory("signature")
    try:
        stamp = int(params.get("timestamp", ""))
    except ValueError:
        raise mandatory("timestamp") from None
    try:
        window = int(params.get("recvWindow", 5000))
    except ValueError:
        raise mandatory("recvWindow") from None
    if window > _MAX_RECV_WINDOW:
        raise ApiError(-1131, "recvWindow must be less than 60000")
    wall = int(time.time() * 1000)
    if stamp > wall + 1000 or wall - stamp > window:
        raise ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")
    expected = hmac.new(secret.encode(), (query + body).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature.lower(), expected):
        raise ApiError(-1022, "Signature for this request is not valid.")
