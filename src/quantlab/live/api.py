"""Control, health and metrics HTTP API of one live runner (:class:`ControlServer`).

An aiohttp server, bound to ``127.0.0.1`` by default:

=========================  =============================================================
``GET /health``            ``{"status": "healthy"|"degraded"|"critical", "reasons": [...]}``
                           (HTTP 200, or 503 when critical)
``GET /status``            the controller's status (positions, equity, breaker, last bar...)
``GET /metrics``           Prometheus text (:meth:`LiveMetrics.exposition`)
``POST /halt``             halt (JSON body optional: ``{"reason": "..."}``)
``POST /resume``           resume after a halt
``POST /flatten``          close every position
=========================  =============================================================

Write endpoints need ``Authorization: Bearer <token>`` (401 without it). With no token
configured they answer 403 and only the read endpoints work; a non-loopback address is refused
without a token. The token never appears in a response or a log line, and the access log is off.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from quantlab.errors import LiveError, UsageError
from quantlab.live.http import http_error_response, serve_app
from quantlab.live.http import json_response as _json
from quantlab.live.metrics import LiveMetrics

__all__ = ["HEALTH_STATUSES", "TOKEN_ENV", "ControlServer", "Controller", "is_loopback"]

log = logging.getLogger(__name__)

#: Environment variable the runner reads the API token from.
TOKEN_ENV = "QUANTLAB_API_TOKEN"
#: Health states, best to worst; ``critical`` answers HTTP 503.
HEALTH_STATUSES = ("healthy", "degraded", "critical")

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Controller(Protocol):
    """What the control server needs from a runner."""

    def status(self) -> dict[str, Any]:
        """JSON-safe state: positions, equity, drawdown, breaker level, last bar, ..."""
        ...

    def health(self) -> tuple[str, list[str]]:
        """``("healthy"|"degraded"|"critical", reasons)``."""
        ...

    async def halt(self, reason: str, source: str) -> dict[str, Any]:
        """Halt trading (survives restarts until resumed); returns a JSON-safe result."""
        ...

    async def resume(self, source: str) -> dict[str, Any]:
        """Resume after a halt; returns a JSON-safe result."""
        ...

    async def flatten(self, source: str) -> dict[str, Any]:
        """Close every position; returns a JSON-safe result."""
        ...


def is_loopback(host: str) -> bool:
    """True for ``localhost``, ``127.0.0.0/8`` and ``::1``."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False



class ControlServer:
    """The runner's HTTP control/health/metrics endpoints.

    Parameters
    ----------
    controller : Controller
        The runner (status, health, halt, resume, flatten).
    metrics : LiveMetrics
        Served at ``GET /metrics``.
    host : str, default "127.0.0.1"
        Address to bind. A non-loopback address needs a token.
    port : int, default 0
        Port to bind; 0 picks a free one (see :attr:`url` after :meth:`start`).
    token : str or None
        Bearer token of the write endpoints (usually from ``$QUANTLAB_API_TOKEN``). Without
        one, ``POST`` endpoints answer 403.

    Raises
    ------
    UsageError
        ``host`` is not a loopback address and no token is given.

    Attributes
    ----------
    url : str or None
        Base URL (``http://127.0.0.1:PORT``) once started, else None.
    """

    def __init__(self, controller: Controller, metrics: LiveMetrics, *, host: str = "127.0.0.1",
                 port: int = 0, token: str | None = None) -> None:
        if not token and not is_loopback(host):
            raise UsageError(f"refusing to bind {host} without an API token (set {TOKEN_ENV})")
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise UsageError(f"API port must be an integer in 0..65535, got {port!r}")
        self._controller = controller
        self._metrics = metrics
        self._host = host
        self._port = port
        self._token = token.encode() if token else None
        self._secret = token or None
        self._runner: web.AppRunner | None = None
        self.url: str | None = None

    async def start(self) -> str:
        """Bind and serve; returns the base URL (``http://127.0.0.1:PORT``)."""
        if self._runner is not None:
            raise LiveError(f"control API already running at {self.url}")
        app = web.Application(middlewares=[self._errors])
        app.router.add_get("/health", self._health)
        app.router.add_get("/status", self._status)
        app.router.add_get("/metrics", self._metrics_page)
        app.router.add_post("/halt", self._halt)
        app.router.add_post("/resume", self._resume)
        app.router.add_post("/flatten", self._flatten)
        self._runner, self.url = await serve_app(app, self._host, self._port, "control API", LiveError)
        log.info("control API listening on %s", self.url)
        return self.url

    async def stop(self) -> None:
        """Stop serving (no-op when not running)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self.url = None

    # -- plumbing ------------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    @web.middleware
    async def _errors(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        """Every error as JSON; a failing controller gives 500 and the server keeps running."""
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return http_error_response(exc)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            message = self._redact(f"{type(exc).__name__}: {first}" if first else type(exc).__name__)
            log.error("control API %s %s failed: %s", request.method, request.path, message)
            return _json({"error": message}, 500)

    def _authorize(self, request: web.Request) -> web.Response | None:
        """None when the request carries the right bearer token, else the error response."""
        if self._token is None:
            return _json({"error": "control API disabled: no token configured"}, 403)
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                  self._token):
            log.warning("control API: unauthorized %s %s", request.method, request.path)
            return _json({"error": "unauthorized"}, 401, {"WWW-Authenticate": "Bearer"})
        return None

    # -- routes --------------------------------------------------------------------------------

    async def _health(self, request: web.Request) -> web.Response:
        state, reasons = self._controller.health()
        if state not in HEALTH_STATUSES:
            raise LiveError(f"controller health() returned {state!r}, not one of {HEALTH_STATUSES}")
        return _json({"status": state, "reasons": [str(r) for r in reasons]},
                     503 if state == "critical" else 200)

    async def _status(self, request: web.Request) -> web.Response:
        return _json(self._controller.status())

    async def _metrics_page(self, request: web.Request) -> web.Response:
        return web.Response(body=self._metrics.exposition(),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _halt(self, request: web.Request) -> web.Response:
        if (denied := self._authorize(request)) is not None:
            return denied
        reason = "halted via API"
        if request.can_read_body:
            try:
                body = json.loads(await request.text() or "{}")
            except ValueError:
                return _json({"error": "request body is not valid JSON"}, 400)
            if not isinstance(body, dict):
                return _json({"error": 'request body must be a JSON object like {"reason": "..."}'},
                             400)
            given = body.get("reason")
            if given is not None and not isinstance(given, str):
                return _json({"error": "reason must be a string"}, 400)
            reason = given or reason
        return _json(await self._controller.halt(reason, "api"))

    async def _resume(self, request: web.Request) -> web.Response:
        if (denied := self._authorize(request)) is not None:
            return denied
        return _json(await self._controller.resume("api"))

    async def _flatten(self, request: web.Request) -> web.Response:
        if (denied := self._authorize(request)) is not None:
            return denied
        return _json(await self._controller.flatten("api"))
