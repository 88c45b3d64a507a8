"""REST API of ``quantlab serve`` (:class:`ServeApi`), an aiohttp server on 127.0.0.1:4000.

=====================================  ==================================================
``GET /api/status``                    supervisor, effective configuration (secrets
                                       masked), components
``GET /api/health``                    ``{"status": "healthy"|"degraded"|"critical",
                                       "reasons", "critical", "degraded"}`` (503 when
                                       critical)
``GET /api/metrics``                   Prometheus text (:mod:`quantlab.serve.metrics`)
``GET /api/components``                every component: state, pid, restarts, uptime,
                                       health, log file
``GET /api/components/{name}``         one component, with the last lines it printed
``POST /api/components/{name}/restart``  restart it now (lifts ``critical``) → 202
``POST /api/system/restart``           read the configuration again and restart every
                                       component in order → 202 (400 if it is invalid)
``POST /api/system/shutdown``          stop the components (reverse order) and exit → 202
=====================================  ==================================================

Write endpoints need ``Authorization: Bearer <token>`` (401 without or with a wrong one; 403
when no token is configured); a non-loopback host is refused without a token. Every request
spends a token of its client address's bucket (:class:`~quantlab.serve.ratelimit.RateLimiter`);
an empty bucket answers 429 with ``Retry-After``. The access log is off and no answer contains
the token.
"""

from __future__ import annotations

import hmac
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from quantlab.errors import LiveError, QuantlabError, UsageError
from quantlab.live.api import is_loopback
from quantlab.live.http import http_error_response, serve_app
from quantlab.live.http import json_response as _json
from quantlab.serve.ratelimit import RateLimiter

__all__ = ["ServeApi"]

log = logging.getLogger(__name__)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ServeApi:
    """The supervisor's HTTP API.

    Parameters
    ----------
    supervisor : Supervisor
        What the endpoints show and control.
    host : str, default "127.0.0.1"
        Address to bind (a non-loopback one needs a token).
    port : int, default 4000
        0 picks a free port (see :attr:`url`).
    token : str or None
        Bearer token of the write endpoints.
    rate, burst : float, int
        Token bucket per client address.

    Raises
    ------
    UsageError
        Non-loopback ``host`` without a token, or a bad port.
    """

    def __init__(self, supervisor: Any, *, host: str = "127.0.0.1", port: int = 4000,
                 token: str | None = None, rate: float = 20.0, burst: int = 40) -> None:
        if not token and not is_loopback(host):
            raise UsageError(f"refusing to bind the serve API to {host} without a token "
                             f"(set {supervisor.config.serve.token_env})")
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise UsageError(f"serve API port must be an integer in 0..65535, got {port!r}")
        self._sup = supervisor
        self._host, self._port = host, port
        self._token = token.encode() if token else None
        self._limiter = RateLimiter(rate, burst)
        self._runner: web.AppRunner | None = None
        self.url: str | None = None

    async def start(self) -> str:
        """Bind and serve; returns the base URL (``http://127.0.0.1:PORT``).

        Raises
        ------
        LiveError
            The address cannot be bound (port in use...).
        """
        app = web.Application(middlewares=[self._errors, self._rate_limit])
        r = app.router
        r.add_get("/api/status", self._status)
        r.add_get("/api/health", self._health)
        r.add_get("/api/metrics", self._metrics)
        r.add_get("/api/components", self._components)
        r.add_get("/api/components/{name}", self._component)
        r.add_post("/api/components/{name}/restart", self._restart)
        r.add_post("/api/system/restart", self._system_restart)
        r.add_post("/api/system/shutdown", self._shutdown)
        self._runner, self.url = await serve_app(app, self._host, self._port, "serve API", LiveError)
        return self.url

    async def stop(self) -> None:
        """Stop serving (no-op when not running)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- middleware ----------------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return http_error_response(exc)
        except QuantlabError as exc:
            return _json({"error": str(exc)}, 404 if isinstance(exc, LookupError) else 400)
        except Exception as exc:  # the API keeps serving
            log.error("serve API %s %s failed: %s: %s", request.method, request.path,
                      type(exc).__name__, exc)
            return _json({"error": type(exc).__name__}, 500)

    @web.middleware
    async def _rate_limit(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        wait = self._limiter.take(request.remote or "?")
        if wait > 0:
            return _json({"error": "too many requests"}, 429,
                         {"Retry-After": str(max(1, math.ceil(wait)))})
        return await handler(request)

    def _authorize(self, request: web.Request) -> web.Response | None:
        if self._token is None:
            return _json({"error": "write endpoints disabled: no token configured"}, 403)
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                  self._token):
            log.warning("serve API: unauthorized %s %s", request.method, request.path)
            return _json({"error": "unauthorized"}, 401, {"WWW-Authenticate": "Bearer"})
        return None

    def _source(self, request: web.Request) -> str:
        return f"api {request.remote or '?'}"

    # -- routes --------------------------------------------------------------------------------

    async def _status(self, request: web.Request) -> web.Response:
        return _json(self._sup.status())

    async def _health(self, request: web.Request) -> web.Response:
        health = self._sup.health()
        return _json(health, 503 if health["status"] == "critical" else 200)

    async def _metrics(self, request: web.Request) -> web.Response:
        self._sup.refresh_metrics()
        return web.Response(body=self._sup.metrics.exposition(),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _components(self, request: web.Request) -> web.Response:
        return _json({"components": self._sup.components_view()})

    async def _component(self, request: web.Request) -> web.Response:
        return _json(self._sup.component_view(request.match_info["name"]))

    async def _restart(self, request: web.Request) -> web.Response:
        if (denied := self._authorize(request)) is not None:
            return denied
        return _json(self._sup.restart(request.match_info["name"], self._source(request)), 202)

    async def _system_restart(self, request: web.Request) -> web.Response:
        if (denied := self._authorize(request)) is not None:
            return denied
        return _json(self._sup.restart_all(self._source(request)), 202)

    async def _shutdown(self, request: web.Request) -> web.Response:
        if (denied := self._authorize(request)) is not None:
            return denied
        return _json(self._sup.request_shutdown(self._source(request)), 202)
