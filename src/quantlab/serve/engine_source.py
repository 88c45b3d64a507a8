"""One source of the data engine: an exchange's REST API through ccxt and its websocket kline
stream through ccxt.pro (:class:`Source`).

REST is the source of truth: :meth:`Source.fetch` asks for the closed candles of a time range
(paged), validates each page with :func:`quantlab.data.candles.check_page` and returns the good
rows per symbol and every refused candle with its reason. The websocket (``watch_ohlcv``, one
subscription per symbol) only says *when* a bar has closed — a candle with a later open time
arrived — so the engine asks REST at once instead of at its next poll.

The source keeps its own health, which the engine's failover ladder reads:

* REST: :attr:`Source.rest_ok_since` (monotonic time of the first success after the last
  failure, None while failing) and :attr:`Source.rest_error`; a request is retried
  ``max_retries`` times on network errors before it counts as failed;
* websocket: :attr:`Source.ws_ok_since` (every symbol delivered since the last failure) and
  :attr:`Source.ws_failures` (errors and stalls so far). A subscription that fails is retried
  with exponential backoff; one that stays silent for ``stall_s`` (the connection alive but no
  update: :meth:`Source.check_ws`) counts as a failure and is subscribed again.

Every exchange ccxt knows goes through the same code: the tests run two local fake Binance
servers as "binance" and the fallback; a real ``okx`` source differs only in its ccxt id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quantlab.data.candles import check_page
from quantlab.data.timeframes import timeframe_ms
from quantlab.errors import DataError, ExchangeError
from quantlab.live.config import ExchangeConfig
from quantlab.live.exchange import make_exchange
from quantlab.live.feed import one_line as _one_line
from quantlab.live.feed_ws import pro_exchange
from quantlab.serve.engine_config import SourceSpec

__all__ = ["Fetched", "Rejection", "Source", "last_closed_open"]


def last_closed_open(now_ms: int, tf_ms: int) -> int:
    """Open time of the newest bar closed at ``now_ms``."""
    return (int(now_ms) // tf_ms) * tf_ms - tf_ms


@dataclass(frozen=True)
class Rejection:
    """A candle refused by validation: where it came from, when it opened and why."""

    source: str
    symbol: str
    open_ms: int | None
    reason: str


@dataclass
class Fetched:
    """What :meth:`Source.fetch` got: valid rows ``[open_ms, o, h, l, c, v]`` per symbol (time
    order) and the refused candles."""

    rows: dict[str, np.ndarray]
    rejected: list[Rejection] = field(default_factory=list)


def _point_ws(pro: Any, ws_url: str) -> None:
    """Send every websocket endpoint of ``pro`` to ``ws_url`` (scheme, host, port), paths kept."""
    base = ws_url.rstrip("/")

    def move(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        if isinstance(value, str) and value.startswith("ws"):
            parts = value.split("/", 3)
            return base + ("/" + parts[3] if len(parts) > 3 else "")
        return value

    pro.urls["api"]["ws"] = move(pro.urls["api"].get("ws"))


class Source:
    """One exchange the engine can take closed bars from.

    Parameters
    ----------
    spec : SourceSpec
        Its ``[[source]]`` entry.
    symbols : list of str
        Unified symbols of the group.
    timeframe : str
        Bar length.
    max_retries : int
        Attempts of one REST request on network errors.
    retry_backoff : float
        First retry delay (seconds, doubled each retry).
    reconnect_backoff, max_reconnect_backoff : float
        First and longest wait before subscribing again after a websocket error.
    exchange, ws_exchange : optional
        Ready-made ccxt async and ccxt.pro exchanges (default: from ``spec``); the source
        owns and closes them.
    on_event : callable, optional
        Called with ``(kind, message)`` on every REST or websocket failure (logs).
    """

    def __init__(self, spec: SourceSpec, symbols: list[str], timeframe: str, *,
                 max_retries: int = 2, retry_backoff: float = 0.25,
                 reconnect_backoff: float = 1.0, max_reconnect_backoff: float = 30.0,
                 exchange: Any | None = None, ws_exchange: Any | None = None,
                 on_event: Callable[[str, str], None] | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.symbols = list(symbols)
        self.timeframe = timeframe
        self.tf_ms = timeframe_ms(timeframe)
        self.max_retries = int(max_retries)
        self.retry_backoff = float(retry_backoff)
        self.reconnect_backoff = float(reconnect_backoff)
        self.max_reconnect_backoff = float(max_reconnect_backoff)
        self.on_event = on_event
        self.rest = exchange if exchange is not None else make_exchange(ExchangeConfig(
            name=spec.exchange or spec.name, url=spec.url, sandbox=spec.sandbox,
            timeout_ms=spec.timeout_ms, rate_limit_ms=spec.rate_limit_ms))
        self.ws: Any | None = ws_exchange
        self.started = False
        self.has_ws = False
        # REST health
        self.rest_ok_since: float | None = None
        self.rest_error = "not started"
        self.rest_failures = 0
        # websocket state
        self.ws_ok_since: float | None = None
        self.ws_error = ""
        self.ws_failures = 0
        self.ws_closed_ms: int | None = None
        self.wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._subscribed_at = 0.0
        self._last_update: dict[str, float] = {}
        self._delivered: set[str] = set()
        self._erroring: set[str] = set()
        self._newest_open: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"Source({self.name!r}, {self.rest.id})"

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Load the markets, check the symbols, subscribe to the kline streams.

        Raises
        ------
        ExchangeError
            The exchange did not answer (the source stays down; start again later).
        DataError
            The exchange does not list one of the symbols (a configuration mistake).
        """
        if self.started:
            return
        await self._call("load_markets", self.rest.load_markets)
        unknown = [s for s in self.symbols if s not in self.rest.markets]
        if unknown:
            raise DataError(f"source {self.name!r} ({self.rest.id}) has no market "
                            f"{unknown[0]!r}")
        self.started = True
        if self.spec.websocket:
            if self.ws is None:
                self.ws = pro_exchange(self.rest)
                if self.ws is not None and self.spec.ws_url:
                    _point_ws(self.ws, self.spec.ws_url)
            self.has_ws = self.ws is not None and bool(self.ws.has.get("watchOHLCV"))
            if self.has_ws:
                self.ws.set_markets_from_exchange(self.rest)
                self._subscribe()
            else:
                self.ws_error = f"{self.rest.id} has no websocket watchOHLCV"

    async def close(self) -> None:
        """Stop the subscriptions and close both exchanges."""
        self._closing = True
        await self._unsubscribe()
        if self.ws is not None:
            await self.ws.close()
        await self.rest.close()

    # ------------------------------------------------------------------ REST
    def _ok(self) -> None:
        if self.rest_ok_since is None:
            self.rest_ok_since = time.monotonic()
        self.rest_error = ""

    def mark_failed(self, reason: str) -> None:
        """Count the source's REST side as failing (since now) for ``reason``."""
        self.rest_ok_since = None
        self.rest_error = reason
        self.rest_failures += 1
        if self.on_event is not None:
            self.on_event("rest", f"{self.name}: {reason}")

    async def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        import ccxt

        delay = self.retry_backoff
        for attempt in range(1, self.max_retries + 1):
            try:
                result = await fn(*args, **kw)
            except ccxt.NetworkError as exc:
                if attempt < self.max_retries:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
                    continue
                reason = f"{what} failed {attempt} times: {type(exc).__name__}: {_one_line(exc)}"
            except ccxt.BaseError as exc:
                reason = f"{what}: {type(exc).__name__}: {_one_line(exc)}"
            else:
                self._ok()
                return result
            self.mark_failed(reason)
            raise ExchangeError(f"source {self.name!r}: {reason}")
        raise AssertionError("unreachable")  # pragma: no cover

    async def now_ms(self) -> int:
        """The exchange clock (ms).

        Raises
        ------
        ExchangeError
            The request failed ``max_retries`` times.
        """
        return int(await self._call("fetch_time", self.rest.fetch_time))

    async def fetch(self, first_ms: int, last_ms: int, now_ms: int,
                    symbols: list[str] | None = None) -> Fetched:
        """The closed candles opening in ``[first_ms, last_ms]`` (closed by ``now_ms``, the
        exchange clock) of ``symbols`` (default: all), validated by ``check_page``.

        Raises
        ------
        ExchangeError
            A request failed ``max_retries`` times.
        """
        wanted = self.symbols if symbols is None else list(symbols)
        got = await asyncio.gather(*(self._fetch_symbol(s, first_ms, last_ms, now_ms)
                                     for s in wanted), return_exceptions=True)
        for item in got:
            if isinstance(item, BaseException):
                raise item
        out = Fetched({})
        for symbol, (rows, rejected) in zip(wanted, got, strict=True):  # type: ignore[misc]
            out.rows[symbol] = rows
            out.rejected += rejected
        return out

    async def _fetch_symbol(self, symbol: str, first_ms: int, last_ms: int, now_ms: int
                            ) -> tuple[np.ndarray, list[Rejection]]:
        last_ms = min(last_ms, last_closed_open(now_ms, self.tf_ms))
        pages: list[np.ndarray] = []
        rejected: list[Rejection] = []
        cursor = first_ms
        while cursor <= last_ms:
            limit = int(min((last_ms - cursor) // self.tf_ms + 1, 1000))
            page = await self._call(f"fetch_ohlcv {symbol}", self.rest.fetch_ohlcv, symbol,
                                    self.timeframe, cursor, limit)
            check = check_page(page, timeframe_ms=self.tf_ms, anchor_ms=first_ms)
            for r in check.rejected:
                t = None if r.time is None else int(r.time.value // 1_000_000)
                if t is None or first_ms <= t <= last_ms:
                    rejected.append(Rejection(self.name, symbol, t, r.reason))
            rows = check.rows
            if len(rows):
                pages.append(rows[(rows[:, 0] >= cursor) & (rows[:, 0] <= last_ms)])
            times = [t for t in map(_time, page if isinstance(page, list) else [])
                     if t is not None]
            newest = max(times, default=None)
            if newest is None or newest >= last_ms or newest < cursor:
                break
            cursor = newest + self.tf_ms
        rows = np.concatenate(pages) if pages else np.empty((0, 6))
        return rows, rejected

    async def probe(self, now_ms: int | None = None) -> int:
        """Check the source answers and has the newest closed bar (of its first symbol):
        returns that bar's open time. A source one bar or more behind is marked failed.

        Raises
        ------
        ExchangeError
            The source did not answer, or is behind.
        """
        if not self.started:
            await self.start()
        now = await self.now_ms() if now_ms is None else int(now_ms)
        want = last_closed_open(now, self.tf_ms)
        page = await self._call(f"fetch_ohlcv {self.symbols[0]}", self.rest.fetch_ohlcv,
                                self.symbols[0], self.timeframe, want - 2 * self.tf_ms, 3)
        rows = check_page(page, timeframe_ms=self.tf_ms, anchor_ms=want).rows
        closed = rows[rows[:, 0] <= want, 0] if len(rows) else rows
        newest = int(closed.max()) if len(closed) else None
        if newest is None or newest < want - self.tf_ms:
            reason = (f"behind: no valid closed {self.symbols[0]} bar since "
                      f"{want - 2 * self.tf_ms}")
            self.mark_failed(reason)
            raise ExchangeError(f"source {self.name!r}: {reason}")
        return newest

    # ------------------------------------------------------------------ websocket
    def _subscribe(self) -> None:
        if self._tasks or self._closing or not self.has_ws:
            return
        self._subscribed_at = time.monotonic()
        self._tasks = [asyncio.ensure_future(self._watch(s)) for s in self.symbols]

    async def _unsubscribe(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def resubscribe(self) -> None:
        """Drop the websocket connections and subscribe again."""
        await self._unsubscribe()
        if self.ws is not None:
            await self.ws.close()
        self._erroring.clear()
        self._subscribe()

    async def _watch(self, symbol: str) -> None:
        delay = self.reconnect_backoff
        while not self._closing:
            try:
                candles = await self.ws.watch_ohlcv(symbol, self.timeframe)  # type: ignore[union-attr]
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: report, retry later
                self._erroring.add(symbol)
                self._ws_failed(f"watch_ohlcv {symbol}: {type(exc).__name__}: "
                                f"{_one_line(exc)}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_reconnect_backoff)
                continue
            delay = self.reconnect_backoff
            self._delivered_now(symbol, candles)

    def _ws_failed(self, reason: str) -> None:
        first = self.ws_ok_since is not None or not self.ws_error
        self.ws_ok_since = None
        self.ws_error = reason
        self._delivered.clear()
        if first:
            self.ws_failures += 1
            if self.on_event is not None:
                self.on_event("websocket", f"{self.name}: {reason}")
        self.wake.set()

    def _delivered_now(self, symbol: str, candles: Any) -> None:
        now = time.monotonic()
        self._last_update[symbol] = now
        self._erroring.discard(symbol)
        self._delivered.add(symbol)
        if self.ws_ok_since is None and self._delivered >= set(self.symbols):
            self.ws_ok_since = now
            self.ws_error = ""
        for candle in candles or []:
            t = _time(candle)
            if t is None:
                continue
            prev = self._newest_open.get(symbol)
            if prev is None or t > prev:
                self._newest_open[symbol] = t
            if prev is not None and t > prev:
                closed = t - self.tf_ms
                if self.ws_closed_ms is None or closed > self.ws_closed_ms:
                    self.ws_closed_ms = closed
                self.wake.set()

    def stalled(self, stall_s: float, now: float | None = None) -> str | None:
        """Why the websocket counts as stalled (a symbol without an update for ``stall_s``
        while no error is pending), or None."""
        if not self._tasks or self._erroring:
            return None
        now = time.monotonic() if now is None else now
        for s in self.symbols:
            seen = max(self._last_update.get(s, 0.0), self._subscribed_at)
            if now - seen > stall_s:
                return f"websocket stalled: no {s} update for {stall_s:g} s"
        return None

    async def check_ws(self, stall_s: float) -> None:
        """Count a stalled websocket as failed and subscribe it again."""
        reason = self.stalled(stall_s)
        if reason is None:
            return
        self._ws_failed(reason)
        await self.resubscribe()


def _time(candle: Any) -> int | None:
    try:
        return int(candle[0])
    except (TypeError, ValueError, IndexError):
        return None
