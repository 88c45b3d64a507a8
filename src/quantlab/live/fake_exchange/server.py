"""The fake Binance spot server: one aiohttp app on 127.0.0.1 in a background thread.

Serves ``GET /api/v3/ping``, ``time``, ``exchangeInfo`` and ``klines``, and, signed,
``GET /api/v3/account``, ``POST|GET|DELETE /api/v3/order``, ``GET|DELETE /api/v3/openOrders``,
``GET /api/v3/myTrades`` and the margin pair lists ``GET /sapi/v1/margin/allPairs`` and
``/sapi/v1/margin/isolated/allPairs`` — the subset real ``ccxt.binance`` uses for spot trading — with
Binance's answers and error codes. Faults armed with :meth:`FakeBinance.inject` make the next
requests misbehave; every request is recorded in :attr:`FakeBinance.requests`. The same app
serves Binance's websocket kline streams on ``/ws`` and ``/stream`` (:mod:`.ws`, always on;
websocket connections are recorded as ``GET``, subscription messages as ``WS``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from aiohttp import web

from quantlab.errors import ParameterError
from quantlab.live.fake_exchange.auth import check_signed
from quantlab.live.fake_exchange.book import Book
from quantlab.live.fake_exchange.candles import CandleSource, SyntheticCandles, check_bad, klines
from quantlab.live.fake_exchange.clock import Clock
from quantlab.live.fake_exchange.errors import ApiError, insufficient_balance
from quantlab.live.fake_exchange.faults import Fault, FaultPlan
from quantlab.live.fake_exchange.markets import exchange_info, margin_pairs
from quantlab.live.fake_exchange.ws import WS_PATHS, KlineStreams

__all__ = ["FakeBinance", "RequestRecord"]

_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


class RequestRecord(NamedTuple):
    """One request as the server saw it (``query``: query and form parameters, no signature)."""

    method: str
    path: str
    query: dict[str, str]
    at: float  # time.monotonic() on arrival


class _Route(NamedTuple):
    endpoint: str  # the fault-injection name
    signed: bool
    handler: Callable[[dict[str, str], Fault | None, int], Any]


class FakeBinance:
    """A local fake Binance spot exchange (REST and websocket klines) that real ccxt trades
    against.

    Parameters
    ----------
    candles : CandleSource, optional
        Prices: :class:`~.candles.SyntheticCandles` (default, pricing timeframe 1h) or
        :class:`~.candles.SampleCandles` (the bundled daily sample).
    balances : mapping of str to float, optional
        Initial free balances (default ``{"USDT": 10_000}``).
    now_ms : int, optional
        Exchange time at start (default: the source's ``default_now_ms``).
    speed : float
        0 (default): the clock moves only by :meth:`advance` / :meth:`set_time`; otherwise it
        also follows wall time times ``speed``.
    fee_rate : float
        Fee as a fraction of notional, in the quote asset (0.001 = 0.1 %).
    slippage_bps : float
        Market fills move this many basis points against the trader.
    api_key, secret : str
        Credentials signed requests must use.
    port : int
        Port on 127.0.0.1 (0: a free one).
    timeout_seconds : float
        How long a ``"timeout"`` fault holds its answer unless ``seconds=`` is given (longer
        than the 2 s client timeout of :meth:`exchange`; ccxt's own default is 10 s).
    bad : mapping of int to str, optional
        Candles ``GET /api/v3/klines`` serves corrupted: ``{open_ms: kind}`` with a kind of
        :data:`~.candles.BAD_KINDS` (every symbol and interval; the websocket streams keep the
        true candle). The mapping is :attr:`bad`; change it while the server runs.

    Examples
    --------
    >>> fake = FakeBinance().start()
    >>> ex = fake.exchange()            # ccxt.async_support.binance pointed at it
    >>> fake.inject("order", "drop_after_accept")
    >>> fake.advance(3_600_000)         # one hour later: resting limit orders may fill
    >>> fake.stop()
    """

    def __init__(self, candles: CandleSource | None = None, *,
                 balances: Mapping[str, float] | None = None, now_ms: int | None = None,
                 speed: float = 0.0, fee_rate: float = 0.001, slippage_bps: float = 0.0,
                 api_key: str = "fake-key", secret: str = "fake-secret", port: int = 0,
                 timeout_seconds: float = 3.0, bad: Mapping[int, str] | None = None) -> None:
        if not 0 <= fee_rate < 1:
            raise ParameterError(f"fee_rate must be in [0, 1), got {fee_rate}")
        if not slippage_bps >= 0:
            raise ParameterError(f"slippage_bps must be >= 0, got {slippage_bps}")
        for asset, amount in (balances or {}).items():
            if not amount >= 0:
                raise ParameterError(f"balances[{asset!r}] must be >= 0, got {amount}")
        self.source = candles if candles is not None else SyntheticCandles()
        start = self.source.default_now_ms if now_ms is None else int(now_ms)
        self.clock = Clock(start, speed)
        self.book = Book(self.source, {"USDT": 10_000.0} if balances is None else balances,
                         fee_rate, slippage_bps, start)
        self.faults = FaultPlan()
        self.requests: list[RequestRecord] = []
        self.api_key, self.secret = api_key, secret
        self.port = int(port)
        self.timeout_seconds = float(timeout_seconds)
        self.bad = check_bad(bad or {})
        self.streams = KlineStreams(self.source, self.clock.now_ms, self.faults,
                                    record=self._record)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._routes: dict[tuple[str, str], _Route] = {
            ("GET", "/api/v3/ping"): _Route("ping", False, lambda p, f, now: {}),
            ("GET", "/api/v3/time"): _Route("time", False, lambda p, f, now: {"serverTime": now}),
            ("GET", "/api/v3/exchangeInfo"): _Route(
                "exchangeInfo", False, lambda p, f, now: exchange_info(self.source.specs, now)),
            ("GET", "/api/v3/klines"): _Route("klines", False, lambda p, f, now: klines(self.source, p, now, self.bad)),
            ("GET", "/api/v3/account"): _Route("account", True, lambda p, f, now: self.book.account(now)),
            ("POST", "/api/v3/order"): _Route("order", True, self._place),
            ("GET", "/api/v3/order"): _Route("query", True, lambda p, f, now: self.book.get(p)),
            ("DELETE", "/api/v3/order"): _Route("cancel", True, lambda p, f, now: self.book.cancel(p, now)),
            ("GET", "/api/v3/openOrders"): _Route(
                "openOrders", True, lambda p, f, now: self.book.open_orders(p)),
            ("DELETE", "/api/v3/openOrders"): _Route(
                "cancel", True, lambda p, f, now: self.book.cancel_all(p, now)),
            ("GET", "/api/v3/myTrades"): _Route("myTrades", True, lambda p, f, now: self.book.my_trades(p)),
            # ccxt's load_markets asks for margin pairs when it has credentials
            ("GET", "/sapi/v1/margin/allPairs"): _Route(
                "marginPairs", True, lambda p, f, now: margin_pairs(self.source.specs, isolated=False)),
            ("GET", "/sapi/v1/margin/isolated/allPairs"): _Route(
                "marginPairs", True, lambda p, f, now: margin_pairs(self.source.specs, isolated=True)),
        }

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeBinance:
        """Serve in a background thread; returns self once listening."""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fake-binance", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake binance server did not start")
        if self._error is not None:
            self._thread.join(5)
            raise self._error
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        for path in WS_PATHS:
            app.router.add_get(path, self.streams.handle)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        app.on_startup.append(self._start_streams)
        app.on_shutdown.append(self.streams.stop)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        try:
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port)
            self._loop.run_until_complete(site.start())
        except OSError as exc:
            self._error = exc
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()
            self._ready.set()
            return
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self._loop.run_forever()

    async def _start_streams(self, app: web.Application) -> None:
        self.streams.start()

    def _poke(self) -> None:
        """Let the websocket streams push now (from any thread)."""
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self.streams.wake)

    def stop(self) -> None:
        """Stop serving (answers still held by a ``timeout`` fault are dropped, websockets are
        closed)."""
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> FakeBinance:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:PORT`` (market streams on ``/ws`` and ``/stream``)."""
        return f"ws://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ clock
    @property
    def now_ms(self) -> int:
        """Exchange time (epoch ms)."""
        return self.clock.now_ms()

    def advance(self, ms: int) -> int:
        """Move the exchange clock forward by ``ms``; resting limit orders fill on the candles
        passed. Returns the new time."""
        with self.book.lock:
            now = self.clock.advance(ms)
            self.book.sync(now)
        self._poke()
        return now

    def set_time(self, ms: int) -> int:
        """Set the exchange clock to ``ms`` (never backwards); returns it."""
        with self.book.lock:
            now = self.clock.set(ms)
            self.book.sync(now)
        self._poke()
        return now

    # ------------------------------------------------------------------ inspection
    def inject(self, endpoint: str, fault: str | int, times: int = 1, **kw: Any) -> None:
        """Make the next ``times`` requests of ``endpoint`` misbehave.

        Parameters
        ----------
        endpoint : str
            ``"order"`` (create), ``"query"`` (GET order), ``"cancel"``, ``"openOrders"``,
            ``"myTrades"``, ``"account"``, ``"klines"``, ``"time"``, ``"exchangeInfo"``,
            ``"ping"``, ``"*"`` (any REST endpoint) or ``"ws"`` (the websocket streams: only
            ``"drop"``, which closes one open connection — or the next to open — per
            ``times``).
        fault : str or int
            ``"timeout"`` (do the work, answer after ``seconds``, default
            ``timeout_seconds``), ``429`` (-1003 with ``Retry-After: retry_after``),
            ``500``/``502``/``503``, ``"drop"`` (close the connection, nothing done),
            ``"reject"`` (order: -2010 insufficient balance), ``"drop_after_accept"`` (do the
            work, then close the connection), ``"partial"`` (order: fill ``fraction``, default
            0.4; a market order then expires, a limit order rests partially filled).
        times : int
            How many requests the fault affects. aiohttp (under ccxt) repeats an idempotent
            request (GET, DELETE) once when a reused connection closes unanswered, so a single
            ``"drop"`` of such a request may not reach the caller; use ``times=2``.

        Raises
        ------
        ParameterError
            Unknown endpoint, fault or option, or a fault that does not apply to the endpoint.
        """
        self.faults.add(endpoint, fault, times, **kw)
        if endpoint == "ws":
            self._poke()

    def price(self, symbol: str) -> float:
        """Current price of ``symbol`` (``"BTCUSDT"`` or ``"BTC/USDT"``): what a market order
        fills at before slippage."""
        with self.book.lock:
            try:
                return float(self.book.price(self.book.spec(symbol.replace("/", "")).symbol, self.now_ms))
            except ApiError as exc:
                raise ParameterError(f"no price for {symbol}: {exc.msg}") from None

    def orders(self) -> list[dict[str, Any]]:
        """Every order, oldest first, as ``GET /api/v3/order`` answers it."""
        with self.book.lock:
            self.book.sync(self.now_ms)
            return self.book.orders()

    def trades(self) -> list[dict[str, Any]]:
        """Every trade, oldest first, as ``GET /api/v3/myTrades`` answers it."""
        with self.book.lock:
            self.book.sync(self.now_ms)
            return self.book.trades()

    def balances(self) -> dict[str, tuple[float, float]]:
        """``{asset: (free, locked)}``."""
        with self.book.lock:
            self.book.sync(self.now_ms)
            return self.book.balances()

    def exchange(self, async_: bool = True, *, pro: bool = False, **config: Any) -> Any:
        """A real ccxt ``binance`` (``ccxt.async_support`` unless ``async_=False``;
        ``ccxt.pro`` when ``pro``) pointed at this server, with this server's API key and
        secret and spot markets only.

        ``config`` is passed to the ccxt constructor (``options`` are merged; the client
        timeout is 2 s unless ``timeout`` is given). Close an async exchange with
        ``await ex.close()``.
        """
        import ccxt
        import ccxt.async_support
        import ccxt.pro

        module = ccxt.pro if pro else ccxt.async_support if async_ else ccxt
        options = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
                   **config.pop("options", {})}
        ex = module.binance({"apiKey": self.api_key, "secret": self.secret, "timeout": 2_000,
                             "enableRateLimit": True, "rateLimit": 1, **config, "options": options})
        for key, value in list(ex.urls["api"].items()):
            if isinstance(value, str) and value.startswith("https://"):
                ex.urls["api"][key] = self.url + "/" + value.split("/", 3)[3]
        if isinstance(ex.urls["api"].get("ws"), dict):
            ex.urls["api"]["ws"] = self._ws_urls(ex.urls["api"]["ws"])
        return ex

    def _ws_urls(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._ws_urls(v) for k, v in value.items()}
        if isinstance(value, str) and value.startswith("wss://"):
            parts = value.split("/", 3)
            return self.ws_url + ("/" + parts[3] if len(parts) > 3 else "")
        return value

    def _record(self, method: str, path: str, query: dict[str, str]) -> None:
        self.requests.append(RequestRecord(method, path, query, time.monotonic()))

    # ------------------------------------------------------------------ serving
    def _place(self, params: dict[str, str], fault: Fault | None, now: int) -> dict[str, Any]:
        if fault is not None and fault.kind == "reject":
            self.book.spec(params.get("symbol", ""))
            raise insufficient_balance()
        fraction = fault.options.get("fraction", 0.4) if fault is not None and fault.kind == "partial" else None
        return self.book.place(params, now, fraction)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        raw_query = request.rel_url.raw_query_string
        raw_body = await request.text() if request.can_read_body else ""
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        params.update(parse_qsl(raw_body, keep_blank_values=True))
        self.requests.append(RequestRecord(
            request.method, request.path,
            {k: v for k, v in params.items() if k != "signature"}, time.monotonic()))
        route = self._routes.get((request.method, request.path))
        if route is None:
            return web.Response(status=404, text="Not Found")
        fault = self.faults.take(route.endpoint)
        kind = fault.kind if fault is not None else None
        if kind == "drop":
            return self._drop(request)
        if kind == 429:
            retry = fault.options.get("retry_after", 1)  # type: ignore[union-attr]
            return web.json_response(
                {"code": -1003, "msg": "Too many requests; current limit of IP is 6000 requests per minute."},
                status=429, headers={"Retry-After": str(retry)})
        if isinstance(kind, int):
            return web.Response(status=kind, text=_REASONS[kind])
        response = self._answer(route, request, raw_query, raw_body, params, fault)
        if kind == "timeout":
            await asyncio.sleep(fault.options.get("seconds", self.timeout_seconds))  # type: ignore[union-attr]
        if kind == "drop_after_accept":
            return self._drop(request)
        return response

    def _answer(self, route: _Route, request: web.Request, raw_query: str, raw_body: str,
                params: dict[str, str], fault: Fault | None) -> web.Response:
        try:
            if route.signed:
                check_signed(request.headers, raw_query, raw_body, params, self.api_key, self.secret)
            with self.book.lock:
                now = self.clock.now_ms()
                self.book.sync(now)
                body = route.handler(params, fault, now)
        except ApiError as exc:
            return web.json_response(exc.body(), status=exc.status)
        return web.json_response(body)

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)
