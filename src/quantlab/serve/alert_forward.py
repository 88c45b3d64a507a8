"""Forwarding of a notification, with retries (:func:`deliver`) — to a URL (:class:`UrlForwarder`).

A forwarder has a ``target`` (shown in the store and the log, never holding a secret) and an
``async send(notification)`` that raises :class:`TransientForwardError` for a failure worth
retrying (connection refused, timeout, HTTP 5xx or 429, SMTP 4xx) and :class:`ForwardError`
for one that is not (HTTP 4xx, SMTP 5xx). :func:`deliver` retries the transient ones with
exponential backoff. The email forwarder is :class:`quantlab.serve.alert_email.SmtpForwarder`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp

from quantlab.errors import ParameterError, QuantlabError
from quantlab.serve.alert_payload import Notification

__all__ = ["Delivery", "ForwardError", "Forwarder", "TransientForwardError", "UrlForwarder",
           "deliver"]

log = logging.getLogger(__name__)


class ForwardError(QuantlabError):
    """A notification could not be forwarded (not worth retrying)."""


class TransientForwardError(ForwardError):
    """A forwarding failure that may pass (connection refused, timeout, 5xx, 429)."""


class Forwarder(Protocol):
    """Something a notification can be forwarded to."""

    target: str

    async def send(self, notification: Notification) -> None:
        """Forward one notification; raise :class:`ForwardError` on failure."""
        ...


@dataclass(frozen=True)
class Delivery:
    """Outcome of :func:`deliver`: target, ok, attempts made, last error ("" when ok)."""

    target: str
    ok: bool
    attempts: int
    error: str = ""


class UrlForwarder:
    """POST the notification, as received from Alertmanager, as JSON to a URL.

    Parameters
    ----------
    url : str
        ``http://`` or ``https://`` URL.
    timeout_s : float, default 10.0
        Timeout of one request.
    headers : mapping, optional
        Extra request headers (e.g. an ``Authorization`` of the receiving service).

    Raises
    ------
    ParameterError
        ``url`` is not an http(s) URL with a host.
    """

    def __init__(self, url: str, *, timeout_s: float = 10.0,
                 headers: Mapping[str, str] | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ParameterError(f"--forward-url must be an http(s) URL with a host, got {url!r}")
        if not timeout_s > 0:
            raise ParameterError(f"forward timeout must be > 0 seconds, got {timeout_s}")
        self.url = url
        self.target = f"{parts.scheme}://{parts.hostname}" + (
            f":{parts.port}" if parts.port else "") + parts.path
        self._timeout = aiohttp.ClientTimeout(total=float(timeout_s))
        self._headers = {"Content-Type": "application/json", **dict(headers or {})}

    async def send(self, notification: Notification) -> None:
        """POST ``notification.raw``; 2xx is success."""
        body = json.dumps(notification.raw, separators=(",", ":")).encode()
        try:
            async with aiohttp.ClientSession(timeout=self._timeout) as session, \
                    session.post(self.url, data=body, headers=self._headers) as resp:
                text = (await resp.text(errors="replace"))[:200]
                if 200 <= resp.status < 300:
                    return
                error = f"{self.target} answered HTTP {resp.status}: {text.strip()}"
                if resp.status >= 500 or resp.status in (408, 429):
                    raise TransientForwardError(error)
                raise ForwardError(error)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise TransientForwardError(
                f"{self.target}: {type(exc).__name__}: {exc}".rstrip(": ")) from None


async def deliver(forwarder: Forwarder, notification: Notification, *, retries: int = 4,
                  backoff_s: float = 0.5,
                  sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> Delivery:
    """Send ``notification`` through ``forwarder``, retrying transient failures.

    Parameters
    ----------
    forwarder : Forwarder
    notification : Notification
    retries : int, default 4
        Retries after the first attempt (so at most ``retries + 1`` attempts).
    backoff_s : float, default 0.5
        Delay before the first retry, doubled before each next one.
    sleep : callable, default asyncio.sleep
        Waits between attempts.

    Returns
    -------
    Delivery
        Never raises for a forwarding failure: the outcome says what happened.
    """
    if retries < 0 or backoff_s < 0:
        raise ParameterError(f"retries and backoff_s must be >= 0, got {retries}, {backoff_s}")
    delay, attempt = backoff_s, 0
    while True:
        attempt += 1
        try:
            await forwarder.send(notification)
            return Delivery(forwarder.target, True, attempt)
        except TransientForwardError as exc:
            if attempt > retries:
                log.error("alert forward to %s failed after %d attempts: %s",
                          forwarder.target, attempt, exc)
                return Delivery(forwarder.target, False, attempt, str(exc))
            log.warning("alert forward to %s failed (attempt %d, retry in %.2fs): %s",
                        forwarder.target, attempt, delay, exc)
        except ForwardError as exc:
            log.error("alert forward to %s failed: %s", forwarder.target, exc)
            return Delivery(forwarder.target, False, attempt, str(exc))
        await sleep(delay)
        delay *= 2
