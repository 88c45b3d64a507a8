"""Health, status and metrics of the data engine over HTTP (:class:`EngineServer`), read-only,
on a loopback address:

==================  ==================================================================
``GET /health``     ``{"status": "healthy"|"degraded"|"critical", "reasons": [...]}``
                    (HTTP 200, or 503 when critical: no source answers or bars overdue)
``GET /status``     :meth:`DataEngine.status` (state, active path, newest bar, sources)
``GET /metrics``    Prometheus text of :class:`~quantlab.serve.engine_metrics.EngineMetrics`
==================  ==================================================================
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from quantlab.errors import LiveError, UsageError
from quantlab.live.api import is_loopback
from quantlab.live.http import json_response as _json
from quantlab.live.http import serve_app

__all__ = ["EngineServer"]




class EngineServer:
    """The engine's read-only HTTP endpoints.

    Parameters
    ----------
    engine : DataEngine
        Its status, health and metrics.
    host : str
        A loopback address.
    port : int
        Port (0: a free one; see :attr:`url` after :meth:`start`).

    Raises
    ------
    UsageError
        ``host`` is not a loopback address.
    """

    def __init__(self, engine: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        if not is_loopback(host):
            raise UsageError(f"the data engine serves its metrics on a loopback address only, "
                             f"not {host!r}")
        self._engine = engine
        self._host = host
        self._port = int(port)
        self._runner: web.AppRunner | None = None
        self.url: str | None = None

    async def start(self) -> str:
        """Bind and serve; returns the base URL.

        Raises
        ------
        LiveError
            The port cannot be bound.
        """
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/status", self._status)
        app.router.add_get("/metrics", self._metrics)
        self._runner, self.url = await serve_app(app, self._host, self._port, "data engine metrics", LiveError)
        return self.url

    async def stop(self) -> None:
        """Stop serving (no-op when not running)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self.url = None

    async def _health(self, request: web.Request) -> web.Response:
        state, reasons = self._engine.health()
        return _json({"status": state, "reasons": reasons}, 503 if state == "critical" else 200)

    async def _status(self, request: web.Request) -> web.Response:
        return _json(self._engine.status())

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self._engine.metrics.exposition(),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})
