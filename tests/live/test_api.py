"""ControlServer: a real aiohttp server on 127.0.0.1, real HTTP through aiohttp.ClientSession.

No pytest-asyncio in the environment: each test runs its async body with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from quantlab.errors import LiveError, UsageError
from quantlab.live.api import ControlServer, is_loopback
from quantlab.live.metrics import LiveMetrics

TOKEN = "s3cr3t-T0ken-4f9a2c"  # test token; grepped for in every response and log


class FakeController:
    """Records every call; ``fail`` makes the named method raise once."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.state = "healthy"
        self.reasons: list[str] = []
        self.fail: str | None = None

    def _maybe_fail(self, name: str) -> None:
        if self.fail == name:
            self.fail = None
            raise RuntimeError(f"{name} exploded\nsecond line with detail")

    def status(self) -> dict[str, Any]:
        self._maybe_fail("status")
        return {"equity": 10_250.5, "breaker_level": 1, "positions": {"BTC/USDT": 0.25}}

    def health(self) -> tuple[str, list[str]]:
        self._maybe_fail("health")
        return self.state, list(self.reasons)

    async def halt(self, reason: str, source: str) -> dict[str, Any]:
        self._maybe_fail("halt")
        self.calls.append(("halt", reason, source))
        return {"halted": True, "reason": reason}

    async def resume(self, source: str) -> dict[str, Any]:
        self._maybe_fail("resume")
        self.calls.append(("resume", source))
        return {"halted": False}

    async def flatten(self, source: str) -> dict[str, Any]:
        self._maybe_fail("flatten")
        self.calls.append(("flatten", source))
        return {"orders": 1}


Body = Callable[[str, aiohttp.ClientSession, FakeController, LiveMetrics], Awaitable[None]]


def serve(body: Body, token: str | None = TOKEN, **kw: Any) -> FakeController:
    """Start a ControlServer on a free port, run ``body(url, session, controller, metrics)``."""
    ctl = FakeController()
    metrics = LiveMetrics("btc_sma", "paper", version="2")

    async def main() -> None:
        server = ControlServer(ctl, metrics, token=token, **kw)
        url = await server.start()
        try:
            assert server.url == url
            async with aiohttp.ClientSession() as session:
                await body(url, session, ctl, metrics)
        finally:
            await server.stop()
        assert server.url is None

    asyncio.run(main())
    return ctl


def assert_no_secret(resp: aiohttp.ClientResponse, text: str) -> None:
    assert TOKEN not in text
    for name, val in resp.headers.items():
        assert TOKEN not in name and TOKEN not in val


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_start_binds_loopback_free_port():
    async def body(url, s, ctl, m):
        assert url.startswith("http://127.0.0.1:")
        assert int(url.rsplit(":", 1)[1]) > 0

    serve(body)


def test_metrics_endpoint_parses_with_values():
    async def body(url, s, ctl, m):
        m.set_equity(9_800.0, 0.02, 10_000.0)
        m.set_positions({"BTC/USDT": 500.0})
        m.set_breaker(1)
        m.inc_rejects("max_position_notional")
        async with s.get(f"{url}/metrics") as r:
            assert r.status == 200
            assert r.headers["Content-Type"] == CONTENT_TYPE_LATEST
            text = await r.text()
        got = {(x.name, tuple(sorted(x.labels.items()))): x.value
               for fam in text_string_to_metric_families(text) for x in fam.samples}
        strat = (("strategy", "btc_sma"),)
        assert got[("quantlab_equity", strat)] == 9_800.0
        assert got[("quantlab_drawdown", strat)] == 0.02
        assert got[("quantlab_breaker_level", strat)] == 1
        assert got[("quantlab_position_notional", (*strat, ("symbol", "BTC/USDT")))] == 500.0
        assert got[("quantlab_rejects_total", (("rule", "max_position_notional"), *strat))] == 1

    serve(body)


def test_status_and_health():
    async def body(url, s, ctl, m):
        async with s.get(f"{url}/status") as r:
            assert r.status == 200
            assert await r.json() == {"equity": 10_250.5, "breaker_level": 1,
                                      "positions": {"BTC/USDT": 0.25}}
        async with s.get(f"{url}/health") as r:
            assert (r.status, await r.json()) == (200, {"status": "healthy", "reasons": []})
        ctl.state, ctl.reasons = "degraded", ["data 2 bars stale"]
        async with s.get(f"{url}/health") as r:
            assert (r.status, await r.json()) == (
                200, {"status": "degraded", "reasons": ["data 2 bars stale"]})
        ctl.state, ctl.reasons = "critical", ["breaker level 3: drawdown 16% > 15%"]
        async with s.get(f"{url}/health") as r:
            assert (r.status, await r.json()) == (
                503, {"status": "critical", "reasons": ["breaker level 3: drawdown 16% > 15%"]})
        ctl.state = "fine"  # not a health state: a controller bug, reported as 500
        async with s.get(f"{url}/health") as r:
            assert r.status == 500
            assert "not one of" in (await r.json())["error"]

    serve(body)


def test_write_endpoints_need_the_bearer_token():
    async def body(url, s, ctl, m):
        for path in ("/halt", "/resume", "/flatten"):
            for headers in ({}, bearer("wrong-token"), {"Authorization": f"Basic {TOKEN}"},
                            {"Authorization": TOKEN}, bearer(TOKEN + "x"), bearer("")):
                async with s.post(f"{url}{path}", headers=headers) as r:
                    text = await r.text()
                    assert r.status == 401, (path, headers)
                    assert await r.json() == {"error": "unauthorized"}
                    assert r.headers["WWW-Authenticate"] == "Bearer"
                    assert_no_secret(r, text)
        assert ctl.calls == []

        async with s.post(f"{url}/halt", headers=bearer(TOKEN),
                          json={"reason": "manual stop before CPI"}) as r:
            assert r.status == 200
            assert await r.json() == {"halted": True, "reason": "manual stop before CPI"}
            assert_no_secret(r, await r.text())
        assert ctl.calls == [("halt", "manual stop before CPI", "api")]

        async with s.post(f"{url}/halt", headers=bearer(TOKEN)) as r:  # no body: default reason
            assert r.status == 200
        assert ctl.calls[-1] == ("halt", "halted via API", "api")

        async with s.post(f"{url}/resume", headers=bearer(TOKEN)) as r:
            assert (r.status, await r.json()) == (200, {"halted": False})
        async with s.post(f"{url}/flatten", headers={"authorization": f"bearer {TOKEN}"}) as r:
            assert (r.status, await r.json()) == (200, {"orders": 1})
        assert ctl.calls[2:] == [("resume", "api"), ("flatten", "api")]

        for path in ("/status", "/health", "/metrics", "/nope"):
            async with s.get(f"{url}{path}", headers=bearer(TOKEN)) as r:
                assert_no_secret(r, await r.text())

    serve(body)


def test_halt_body_errors():
    async def body(url, s, ctl, m):
        cases = [("{not json", "not valid JSON"), ("[1, 2]", "must be a JSON object"),
                 ('{"reason": 5}', "reason must be a string")]
        for raw, msg in cases:
            async with s.post(f"{url}/halt", headers={**bearer(TOKEN),
                                                      "Content-Type": "application/json"},
                              data=raw) as r:
                assert r.status == 400
                assert msg in (await r.json())["error"]
        assert ctl.calls == []

    serve(body)


def test_no_token_configured_disables_writes_only():
    async def body(url, s, ctl, m):
        for path in ("/halt", "/resume", "/flatten"):
            async with s.post(f"{url}{path}", headers=bearer("anything")) as r:
                assert r.status == 403
                assert await r.json() == {"error": "control API disabled: no token configured"}
        async with s.get(f"{url}/status") as r:
            assert r.status == 200
        async with s.get(f"{url}/health") as r:
            assert r.status == 200
        async with s.get(f"{url}/metrics") as r:
            assert r.status == 200
            assert "quantlab_up" in await r.text()
        assert ctl.calls == []

    serve(body, token=None)
    serve(body, token="")


def test_unknown_route_and_method_are_json():
    async def body(url, s, ctl, m):
        async with s.get(f"{url}/nope") as r:
            assert (r.status, await r.json()) == (404, {"error": "not found"})
        async with s.get(f"{url}/halt", headers=bearer(TOKEN)) as r:
            assert r.status == 405
            assert r.headers["Allow"] == "POST"
            assert (await r.json()) == {"error": "method not allowed"}
        assert ctl.calls == []

    serve(body)


def test_controller_error_is_500_and_server_keeps_running(caplog):
    async def body(url, s, ctl, m):
        ctl.fail = "halt"
        async with s.post(f"{url}/halt", headers=bearer(TOKEN)) as r:
            assert r.status == 500
            assert await r.json() == {"error": "RuntimeError: halt exploded"}
        async with s.post(f"{url}/halt", headers=bearer(TOKEN)) as r:
            assert r.status == 200
        ctl.fail = "status"
        async with s.get(f"{url}/status") as r:
            assert (r.status, await r.json()) == (500, {"error": "RuntimeError: status exploded"})
        async with s.get(f"{url}/status") as r:
            assert r.status == 200

    with caplog.at_level(logging.DEBUG):
        ctl = serve(body)
    assert ctl.calls == [("halt", "halted via API", "api")]
    assert "halt exploded" in caplog.text
    assert TOKEN not in caplog.text


def test_error_message_never_carries_the_token():
    async def body(url, s, ctl, m):
        async def leaky(source: str) -> dict[str, Any]:
            raise RuntimeError(f"cannot use {TOKEN}")

        ctl.flatten = leaky  # type: ignore[method-assign]
        async with s.post(f"{url}/flatten", headers=bearer(TOKEN)) as r:
            assert r.status == 500
            text = await r.text()
            assert_no_secret(r, text)
            assert (await r.json()) == {"error": "RuntimeError: cannot use ***"}

    serve(body)


def test_non_loopback_bind_needs_a_token():
    ctl, m = FakeController(), LiveMetrics("s", "live")
    for host in ("0.0.0.0", "192.168.1.10", "::", "example.org"):
        for token in (None, ""):
            with pytest.raises(UsageError, match=f"refusing to bind {host} without an API token"):
                ControlServer(ctl, m, host=host, token=token)
    # with a token it is allowed (constructed only: binding 0.0.0.0 is not allowed here)
    server = ControlServer(ctl, m, host="0.0.0.0", token=TOKEN)
    assert server.url is None
    for host in ("127.0.0.1", "127.3.2.1", "::1", "localhost"):
        assert is_loopback(host)
        ControlServer(ctl, m, host=host)
    with pytest.raises(UsageError, match="port must be an integer"):
        ControlServer(ctl, m, port=70000)


def test_start_twice_and_port_in_use():
    async def main() -> None:
        ctl, m = FakeController(), LiveMetrics("s", "paper")
        a = ControlServer(ctl, m)
        url = await a.start()
        try:
            with pytest.raises(LiveError, match="already running"):
                await a.start()
            port = int(url.rsplit(":", 1)[1])
            with pytest.raises(LiveError, match=f"cannot bind 127.0.0.1:{port}"):
                await ControlServer(ctl, m, port=port).start()
        finally:
            await a.stop()
        await a.stop()  # idempotent

    asyncio.run(main())
