"""A local fake of the Binance spot REST API subset that ccxt's ``binance`` uses for candles.

Serves ``GET /api/v3/time``, ``/api/v3/exchangeInfo`` and ``/api/v3/klines`` from an aiohttp app
on 127.0.0.1 (random free port) in a background thread. Candles are deterministic functions of
their open time, so a test can compute exactly what a full fetch must store. Every request is
recorded (path, query, monotonic arrival time) for assertions on pagination and rate limits.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import ccxt
import pandas as pd
from aiohttp import web

_BINANCE = ccxt.binance  # captured so tests may monkeypatch ccxt.binance to build this one
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
INTERVAL_MS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": HOUR_MS, "2h": 2 * HOUR_MS, "4h": 4 * HOUR_MS, "6h": 6 * HOUR_MS, "8h": 8 * HOUR_MS,
    "12h": 12 * HOUR_MS, "1d": DAY_MS, "3d": 3 * DAY_MS, "1w": 7 * DAY_MS,
    "1M": 30 * DAY_MS,  # served as calendar months (open on the 1st, 00:00 UTC)
}
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def _filters(tick: str, step: str) -> list[dict[str, Any]]:
    return [
        {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000.00000000", "tickSize": tick},
        {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "9000.00000000", "stepSize": step},
        {"filterType": "ICEBERG_PARTS", "limit": 10},
        {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "100.0", "stepSize": "0.00000000"},
        {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
         "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
        {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
    ]


def _symbol_info(symbol: str, base: str, quote: str, tick: str, step: str) -> dict[str, Any]:
    return {
        "symbol": symbol, "status": "TRADING", "baseAsset": base, "baseAssetPrecision": 8,
        "quoteAsset": quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": True, "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": True,
        "filters": _filters(tick, step), "permissions": [], "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


SYMBOLS = {
    "BTCUSDT": ("BTC", "USDT", "0.01000000", "0.00001000", 40_000.0),
    "ETHUSDT": ("ETH", "USDT", "0.01000000", "0.00010000", 2_000.0),
    "SOLUSDT": ("SOL", "USDT", "0.01000000", "0.00100000", 100.0),
}


def candle(symbol: str, open_ms: int, interval_ms: int) -> list[float]:
    """Deterministic candle ``[open_ms, o, h, l, c, v]`` (floats) of ``symbol`` at ``open_ms``."""
    base = SYMBOLS[symbol][4]
    i = open_ms // interval_ms

    def price(k: int) -> float:
        return round(base * (1.0 + 0.05 * math.sin(k / 37.0) + 0.0001 * (k % 101)), 2)

    o, c = price(i), price(i + 1)
    h = round(max(o, c) * 1.004, 2)
    low = round(min(o, c) * 0.996, 2)
    v = round(1.0 + (i % 13) * 0.25, 8)
    return [float(open_ms), o, h, low, c, v]


@dataclass
class Request:
    path: str
    query: dict[str, str]
    at: float  # time.monotonic() on arrival


@dataclass
class FakeBinance:
    """The server. ``now_ms`` is the exchange clock; ``listed_ms`` the first candle per symbol.

    Fault injection, as real exchanges misbehave:

    * ``fail_klines`` maps a 1-based klines request number to ``500``, ``429``, ``"drop"``
      (close the connection without answering), ``"html"`` (HTTP 200 with an HTML page, as a
      CDN or captive portal sends), ``"object"`` (HTTP 200 with a JSON object, not candles) or
      ``"slow"`` (answer after ``slow_seconds``, longer than the client's timeout);
    * ``bad`` maps a candle open time (ms) to a corruption: ``"high_lt_low"``,
      ``"negative_close"``, ``"nan_close"``, ``"negative_volume"``, ``"zero_open"``;
    * ``holes``: open times the exchange has no candle for (an outage);
    * ``page_cap``: at most this many candles per page, whatever ``limit`` asks (partial pages);
    * ``delay``: seconds every klines answer takes (a slow server);
    * ``hold``: while True, klines answers wait (to keep a client inside its fetch).
    """

    now_ms: int = T0 + 2_500 * HOUR_MS + 30 * 60_000
    listed_ms: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SYMBOLS, T0))
    fail_klines: dict[int, int | str] = field(default_factory=dict)
    bad: dict[int, str] = field(default_factory=dict)
    holes: set[int] = field(default_factory=set)
    page_cap: int | None = None
    delay: float = 0.0
    slow_seconds: float = 3.0
    hold: bool = False  # while True, klines requests wait (a test holds a client mid-fetch)
    requests: list[Request] = field(default_factory=list)
    port: int = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeBinance:
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake binance server did not start")
        return self

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/api/v3/time", self._time)
        app.router.add_get("/api/v3/exchangeInfo", self._exchange_info)
        app.router.add_get("/api/v3/klines", self._klines)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def exchange(self, rate_limit: int = 1, **config: Any) -> ccxt.binance:
        """A real ccxt ``binance`` pointed at this server (spot markets only)."""
        ex = _BINANCE({
            "enableRateLimit": True,
            "rateLimit": rate_limit,
            "timeout": 5_000,
            "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False},
            **config,
        })
        for key, value in list(ex.urls["api"].items()):
            if isinstance(value, str):
                ex.urls["api"][key] = self.url + "/" + value.split("/", 3)[3]
        return ex

    # ------------------------------------------------------------------ helpers
    def klines_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path == "/api/v3/klines"]

    def expected(self, symbol: str, interval: str, start_ms: int, end_ms: int) -> list[list[float]]:
        """Candles with ``start_ms <= open <= end_ms`` (what a correct client stores)."""
        step = INTERVAL_MS[interval]
        first = max(start_ms, self.listed_ms[symbol])
        first = -(-first // step) * step
        return [candle(symbol, t, step) for t in range(first, end_ms + 1, step)]

    def _record(self, request: web.Request) -> None:
        self.requests.append(Request(request.path, dict(request.query), time.monotonic()))

    # ------------------------------------------------------------------ handlers
    async def _time(self, request: web.Request) -> web.Response:
        self._record(request)
        return web.json_response({"serverTime": self.now_ms})

    async def _exchange_info(self, request: web.Request) -> web.Response:
        self._record(request)
        return web.json_response({
            "timezone": "UTC", "serverTime": self.now_ms,
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            ],
            "exchangeFilters": [],
            "symbols": [_symbol_info(s, b, q, tick, step) for s, (b, q, tick, step, _) in SYMBOLS.items()],
        })

    async def _klines(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        n = len(self.klines_requests())
        failure = self.fail_klines.get(n)
        if failure == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        if failure == "html":
            return web.Response(
                text="<html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>",
                content_type="text/html",
            )
        if failure == "object":
            return web.json_response({"code": 0, "msg": "system maintenance"})
        if failure == "slow":
            await asyncio.sleep(self.slow_seconds)
            failure = None
        if self.delay:
            await asyncio.sleep(self.delay)
        while self.hold:
            await asyncio.sleep(0.01)
        if failure == 429:
            return web.json_response({"code": -1003, "msg": "Too many requests."}, status=429)
        if failure is not None:
            return web.Response(status=int(failure), text="Internal Server Error")
        q = request.query
        symbol = q.get("symbol", "")
        if symbol not in SYMBOLS:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        interval = q.get("interval", "")
        if interval not in INTERVAL_MS:
            return web.json_response({"code": -1120, "msg": "Invalid interval."}, status=400)
        limit = int(q.get("limit", 500))
        if not 1 <= limit <= 1000:
            return web.json_response(
                {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."}, status=400
            )
        step = INTERVAL_MS[interval]
        last_open = min(int(q.get("endTime", self.now_ms)), self.now_ms) // step * step
        if interval == "1M":  # calendar months, as Binance serves them
            first = max(int(q.get("startTime", 0)), self.listed_ms[symbol])
            t0 = pd.Timestamp(first, unit="ms", tz="UTC")
            month = t0.normalize().replace(day=1)
            if month < t0:
                month += pd.DateOffset(months=1)
            end = min(int(q.get("endTime", self.now_ms)), self.now_ms)
            opens = []
            while (t := int(month.value // 1_000_000)) <= end and len(opens) < limit:
                opens.append(t)
                month += pd.DateOffset(months=1)
        elif "startTime" in q:
            first = max(int(q["startTime"]), self.listed_ms[symbol])
            first = -(-first // step) * step
            opens = list(range(first, last_open + 1, step))[:limit]
        else:
            first = max(self.listed_ms[symbol], last_open - (limit - 1) * step)
            opens = list(range(-(-first // step) * step, last_open + 1, step))
        opens = [t for t in opens if t not in self.holes]
        if self.page_cap is not None:
            opens = opens[: self.page_cap]
        rows = []
        for t in opens:
            _, o, h, low, c, v = corrupt(candle(symbol, t, step), self.bad.get(t))
            rows.append([t, _num(o), _num(h), _num(low), _num(c), _num(v),
                         t + step - 1, f"{v * c:.8f}", 100, f"{v / 2:.8f}", f"{v * c / 2:.8f}", "0"])
        return web.json_response(rows)


def _num(x: float) -> str:
    return "NaN" if x != x else f"{x:.8f}"


def corrupt(row: list[float], kind: str | None) -> list[float]:
    """Apply one of the ``FakeBinance.bad`` corruptions to a candle."""
    t, o, h, low, c, v = row
    if kind is None:
        return row
    if kind == "high_lt_low":
        return [t, o, low * 0.99, h, c, v]
    if kind == "negative_close":
        return [t, o, h, low, -c, v]
    if kind == "nan_close":
        return [t, o, h, low, math.nan, v]
    if kind == "negative_volume":
        return [t, o, h, low, c, -v]
    if kind == "zero_open":
        return [t, 0.0, h, low, c, v]
    raise ValueError(kind)
