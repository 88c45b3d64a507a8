"""Small shared pieces of quantlab's local HTTP servers (aiohttp).

The runner's control API, the supervisor's API, the data engine's metrics and the alert sink
all bind a loopback address, answer JSON and report a failed bind as one line:
:func:`serve_app` and :func:`json_response` are that common part.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from quantlab.errors import QuantlabError

__all__ = ["http_error_response", "json_response", "serve_app"]


def json_response(payload: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    """A JSON answer (values JSON cannot encode are written with ``str``)."""
    return web.json_response(payload, status=status, headers=headers,
                             dumps=lambda obj: json.dumps(obj, default=str))


def http_error_response(exc: web.HTTPException) -> web.Response:
    """aiohttp's 4xx/5xx (404, 405, 413...) as ``{"error": "not found"}``, keeping ``Allow``."""
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    return json_response({"error": (exc.reason or "").lower()}, exc.status, headers)


async def serve_app(app: web.Application, host: str, port: int, what: str,
                    error: type[QuantlabError]) -> tuple[web.AppRunner, str]:
    """Bind ``app`` on ``host:port`` (0: a free port) without an access log.

    Parameters
    ----------
    app : aiohttp.web.Application
        The routes.
    host, port : str, int
        Where to listen.
    what : str
        The server's name for the error message (``"control API"``).
    error : type of QuantlabError
        Raised, with one line naming the address, when the port cannot be bound.

    Returns
    -------
    (AppRunner, str)
        The runner (``await runner.cleanup()`` stops it) and the base URL.
    """
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise error(f"{what} cannot bind {host}:{port}: {exc.strerror or exc}") from None
    bound_host, bound_port = runner.addresses[0][:2]
    url = (f"http://[{bound_host}]:{bound_port}" if ":" in bound_host
           else f"http://{bound_host}:{bound_port}")
    return runner, url
