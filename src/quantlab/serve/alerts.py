"""The Alertmanager webhook sink behind ``quantlab alerts serve`` (:class:`AlertSink`).

An aiohttp server, bound to ``127.0.0.1:9095`` by default:

=====================  ==================================================================
``POST /webhook``      an Alertmanager notification (webhook payload version 4): every
                       alert is recorded (:class:`~quantlab.serve.alert_store.AlertStore`,
                       idempotent by fingerprint + status + startsAt), then the notification
                       is forwarded in the background to each configured forwarder (URL,
                       SMTP), retried with exponential backoff. Answers
                       ``{"received": n, "new": k}``; 400 for a body that is not a
                       notification.
``GET /alerts``        recorded alerts, newest first (``?status=firing|resolved``,
                       ``?alertname=X``, ``?limit=N``, default 100)
``GET /deliveries``    forwarding outcomes, newest first (``?limit=N``)
``GET /health``        ``{"status": "ok", "alerts": n, "deliveries": {"ok": a, "failed": b},
                       "forwarders": [...]}``
=====================  ==================================================================

With a token (``$QUANTLAB_ALERTS_TOKEN``) ``POST /webhook`` needs ``Authorization: Bearer
<token>`` (401 without it; Alertmanager sends it with ``http_config.authorization``); a
non-loopback address is refused without a token. The access log is off; the token never
appears in a response or a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from aiohttp import web

from quantlab.errors import ParameterError, QuantlabError, UsageError
from quantlab.live.api import is_loopback
from quantlab.live.http import http_error_response, serve_app
from quantlab.live.http import json_response as _json
from quantlab.serve.alert_email import SmtpForwarder, parse_smtp_address
from quantlab.serve.alert_forward import Forwarder, UrlForwarder, deliver
from quantlab.serve.alert_payload import AlertPayloadError, Notification, parse_notification
from quantlab.serve.alert_store import AlertStore

__all__ = ["DEFAULT_PORT", "TOKEN_ENV", "AlertSink", "build_forwarders", "serve_alerts"]

log = logging.getLogger(__name__)

#: Environment variable holding the sink's bearer token.
TOKEN_ENV = "QUANTLAB_ALERTS_TOKEN"
#: Default port of ``quantlab alerts serve`` (deploy/alertmanager/alertmanager.yml sends there).
DEFAULT_PORT = 9095
_MAX_BODY = 4 * 1024 * 1024

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]




def build_forwarders(forward_url: str | None = None, smtp: str | None = None,
                     smtp_from: str | None = None, smtp_to: Sequence[str] = (), *,
                     smtp_username: str | None = None, smtp_password: str | None = None,
                     timeout_s: float = 10.0) -> list[Forwarder]:
    """The forwarders of the ``quantlab alerts serve`` options.

    Parameters
    ----------
    forward_url : str, optional
        POST each notification there (:class:`~quantlab.serve.alert_forward.UrlForwarder`).
    smtp : str, optional
        ``HOST:PORT`` of an SMTP server (:class:`~quantlab.serve.alert_email.SmtpForwarder`);
        needs ``smtp_from`` and ``smtp_to``.
    smtp_from : str, optional
    smtp_to : sequence of str
        Recipients (each entry may hold several, comma-separated).
    smtp_username, smtp_password : str, optional
        SMTP login.
    timeout_s : float, default 10.0

    Returns
    -------
    list of Forwarder
        Possibly empty (record only).

    Raises
    ------
    ParameterError
        ``--smtp-from``/``--smtp-to`` without ``--smtp`` or the other way round, or a
        malformed URL or address.
    """
    out: list[Forwarder] = []
    if forward_url:
        out.append(UrlForwarder(forward_url, timeout_s=timeout_s))
    recipients = [r.strip() for item in smtp_to for r in str(item).split(",") if r.strip()]
    if smtp:
        if not smtp_from or not recipients:
            raise ParameterError("--smtp needs --smtp-from and at least one --smtp-to")
        host, port = parse_smtp_address(smtp)
        out.append(SmtpForwarder(host, port, smtp_from, recipients, username=smtp_username,
                                 password=smtp_password, timeout_s=timeout_s))
    elif smtp_from or recipients:
        raise ParameterError("--smtp-from/--smtp-to need --smtp HOST:PORT")
    return out


def _check_options(host: str, port: int, token: str | None, retries: int,
                   backoff_s: float) -> None:
    if not token and not is_loopback(host):
        raise UsageError(f"refusing to bind {host} without a token (set {TOKEN_ENV})")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise UsageError(f"alerts port must be an integer in 0..65535, got {port!r}")
    if retries < 0 or backoff_s < 0:
        raise ParameterError(f"retries and backoff_s must be >= 0, got {retries}, {backoff_s}")


class AlertSink:
    """Webhook receiver of Alertmanager notifications: record, list, forward.

    Parameters
    ----------
    store : AlertStore
        Where alerts and forwarding outcomes are recorded.
    host : str, default "127.0.0.1"
        Address to bind; a non-loopback address needs a token.
    port : int, default 9095
        Port to bind; 0 picks a free one (see :attr:`url` after :meth:`start`).
    token : str, optional
        Bearer token required on ``POST /webhook``.
    forwarders : sequence of Forwarder
        Where each notification is forwarded (:func:`build_forwarders`).
    retries : int, default 4
        Retries of a transient forwarding failure.
    backoff_s : float, default 0.5
        First retry delay, doubled each retry.

    Raises
    ------
    UsageError
        A non-loopback ``host`` without a token, or a port outside 0..65535.
    """

    def __init__(self, store: AlertStore, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 token: str | None = None, forwarders: Sequence[Forwarder] = (),
                 retries: int = 4, backoff_s: float = 0.5) -> None:
        _check_options(host, port, token, retries, backoff_s)
        self.store = store
        self.forwarders = list(forwarders)
        self._host, self._port = host, port
        self._token = token.encode() if token else None
        self._retries, self._backoff = int(retries), float(backoff_s)
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.url: str | None = None

    async def start(self) -> str:
        """Bind and serve; returns the base URL (``http://127.0.0.1:PORT``)."""
        if self._runner is not None:
            raise UsageError(f"alert sink already running at {self.url}")
        app = web.Application(middlewares=[self._errors], client_max_size=_MAX_BODY)
        app.router.add_post("/webhook", self._webhook)
        app.router.add_get("/alerts", self._alerts)
        app.router.add_get("/deliveries", self._deliveries)
        app.router.add_get("/health", self._health)
        self._runner, self.url = await serve_app(app, self._host, self._port, "alert sink", UsageError)
        log.info("alert sink listening on %s", self.url)
        return self.url

    async def drain(self, timeout: float = 30.0) -> bool:
        """Wait for the forwards in flight; False when some are still running at ``timeout``."""
        pending = set(self._tasks)
        if not pending:
            return True
        _, still = await asyncio.wait(pending, timeout=timeout)
        return not still

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting notifications, give forwards in flight ``timeout`` seconds, stop."""
        if self._runner is None:
            return
        for site in list(self._runner.sites):
            await site.stop()
        if not await self.drain(timeout):
            log.error("alert sink: %d forward(s) still running at shutdown, cancelled",
                      sum(not t.done() for t in self._tasks))
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._runner.cleanup()
        self._runner = None
        self.url = None

    # -- plumbing ------------------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return http_error_response(exc)
        except QuantlabError as exc:
            return _json({"error": str(exc)}, 400)
        except Exception as exc:
            log.exception("alert sink %s %s failed", request.method, request.path)
            return _json({"error": type(exc).__name__}, 500)

    def _authorized(self, request: web.Request) -> bool:
        if self._token is None:
            return True
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                                   self._token)

    def _forward(self, notification: Notification) -> None:
        for forwarder in self.forwarders:
            task = asyncio.get_running_loop().create_task(self._deliver(forwarder, notification))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, forwarder: Forwarder, notification: Notification) -> None:
        try:
            result = await deliver(forwarder, notification, retries=self._retries,
                                   backoff_s=self._backoff)
        except Exception as exc:  # a forwarder bug must not kill the sink
            log.exception("alert forward to %s crashed", forwarder.target)
            self.store.add_delivery(forwarder.target, False, 1, len(notification.alerts),
                                    f"{type(exc).__name__}: {exc}")
            return
        self.store.add_delivery(result.target, result.ok, result.attempts,
                                len(notification.alerts), result.error)

    @staticmethod
    def _limit(request: web.Request) -> int:
        text = request.query.get("limit", "100")
        try:
            limit = int(text)
        except ValueError:
            raise ParameterError(f"limit must be an integer, got {text!r}") from None
        if limit < 1:
            raise ParameterError(f"limit must be >= 1, got {limit}")
        return limit

    # -- routes --------------------------------------------------------------------------------

    async def _webhook(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            log.warning("alert sink: unauthorized POST %s", request.path)
            return _json({"error": "unauthorized"}, 401, {"WWW-Authenticate": "Bearer"})
        try:
            doc = json.loads(await request.text())
        except ValueError:
            return _json({"error": "request body is not valid JSON"}, 400)
        try:
            notification = parse_notification(doc)
        except AlertPayloadError as exc:
            return _json({"error": str(exc)}, 400)
        new = self.store.record(notification)
        log.info("alert sink: %s notification with %d alert(s), %d new",
                 notification.status, len(notification.alerts), new)
        self._forward(notification)
        return _json({"received": len(notification.alerts), "new": new})

    async def _alerts(self, request: web.Request) -> web.Response:
        alerts = self.store.alerts(status=request.query.get("status"),
                                   alertname=request.query.get("alertname"),
                                   limit=self._limit(request))
        return _json({"alerts": alerts})

    async def _deliveries(self, request: web.Request) -> web.Response:
        return _json({"deliveries": self.store.deliveries(self._limit(request))})

    async def _health(self, request: web.Request) -> web.Response:
        return _json({"status": "ok", "alerts": self.store.count(),
                      "deliveries": self.store.delivery_counts(),
                      "forwarders": [f.target for f in self.forwarders]})


def serve_alerts(store: str | Path, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 token: str | None = None, forwarders: Sequence[Forwarder] = (),
                 retries: int = 4, backoff_s: float = 0.5,
                 on_ready: Callable[[str], None] | None = None) -> None:
    """Run an :class:`AlertSink` until SIGTERM or SIGINT (what ``quantlab alerts serve`` does).

    Parameters
    ----------
    store : path
        The SQLite file of recorded alerts (created on first use).
    host, port, token, forwarders, retries, backoff_s
        As :class:`AlertSink`.
    on_ready : callable, optional
        Called with the sink's URL once it listens.
    """
    _check_options(host, port, token, retries, backoff_s)

    async def main() -> None:
        with AlertStore(store) as db:
            sink = AlertSink(db, host=host, port=port, token=token, forwarders=forwarders,
                             retries=retries, backoff_s=backoff_s)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signal.SIGTERM, stop.set)
                loop.add_signal_handler(signal.SIGINT, stop.set)
            url = await sink.start()
            try:
                if on_ready is not None:
                    on_ready(url)
                await stop.wait()
            finally:
                await sink.stop()

    asyncio.run(main())
