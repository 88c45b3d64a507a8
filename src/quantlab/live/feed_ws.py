"""Closed bars woken up by the exchange's websocket kline stream, fetched over REST.

:class:`WsFeed` is the polling :class:`~quantlab.live.feed.CcxtFeed` plus a ccxt.pro
subscription (``watch_ohlcv``) per symbol. The websocket only *wakes the feed up* at a bar
close: when a kline event says the candle is final (Binance's ``"x": true``) or a candle with a
later open time arrives. The closed candles are then fetched over REST exactly as the polling
feed does (validated, every missed bar backfilled after a pause or reconnect), so REST stays
the source of truth and the still-open candle is never used.

A silent websocket never stalls the runner: the exchange clock is still polled every
``poll_interval``. When the websocket fails (connection refused or dropped, an exchange without
``watchOHLCV``), the error goes to ``on_error`` and :attr:`WsFeed.stats`, the feed falls back to
the polling schedule, and the subscription is retried with exponential backoff.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from typing import Any

from quantlab.live.feed import BarBatch, CcxtFeed, FeedStats
from quantlab.live.feed import one_line as _one_line

__all__ = ["WsFeed", "WsStats", "make_feed", "pro_exchange", "supports_watch_ohlcv"]

#: Constructor settings copied from the REST exchange (credentials are not: klines are public).
_COPIED = ("timeout", "enableRateLimit", "rateLimit", "userAgent", "headers", "httpProxy",
           "httpsProxy", "socksProxy", "wsProxy", "wssProxy", "wsSocksProxy")


def _pro_class(exchange_id: str) -> Any:
    import ccxt.pro

    return getattr(ccxt.pro, exchange_id, None) if exchange_id in ccxt.pro.exchanges else None


def supports_watch_ohlcv(exchange: Any) -> bool:
    """Whether ccxt.pro has a websocket ``watch_ohlcv`` for ``exchange``'s id.

    Parameters
    ----------
    exchange : ccxt.async_support.Exchange
        The REST exchange.
    """
    cls = _pro_class(exchange.id)
    return cls is not None and bool(cls().has.get("watchOHLCV"))


def make_feed(exchange: Any, symbols: list[str], timeframe: str, *, websocket: bool = True,
              **kwargs: Any) -> CcxtFeed:
    """The live feed of ``exchange``: a :class:`WsFeed` when ``websocket`` is on and ccxt.pro
    can watch its klines, the polling :class:`~quantlab.live.feed.CcxtFeed` otherwise.

    Parameters
    ----------
    exchange : ccxt.async_support.Exchange
        The REST exchange.
    symbols, timeframe
        Unified symbols and bar length.
    websocket : bool
        ``[runner] websocket``.
    **kwargs
        Passed to the feed (``poll_interval``, ``max_backfill``, ``on_error``...).
    """
    if websocket and supports_watch_ohlcv(exchange):
        return WsFeed(exchange, symbols, timeframe, **kwargs)
    return CcxtFeed(exchange, symbols, timeframe, **kwargs)


def pro_exchange(exchange: Any) -> Any | None:
    """The ccxt.pro twin of a REST exchange: same id, settings, options, sandbox mode and
    URLs (REST endpoints redirected elsewhere — the local fake exchange, a gateway — take their
    websocket endpoints along: ``http://host:port`` becomes ``ws://host:port`` with the
    websocket paths kept). None when ccxt.pro has no such exchange.

    Parameters
    ----------
    exchange : ccxt.async_support.Exchange
        The REST exchange (not modified).
    """
    cls = _pro_class(exchange.id)
    if cls is None:
        return None
    config: dict[str, Any] = {k: getattr(exchange, k) for k in _COPIED
                              if getattr(exchange, k, None) not in (None, "")}
    config["options"] = copy.deepcopy(exchange.options)
    pro = cls(config)
    if getattr(exchange, "isSandboxModeEnabled", False):
        pro.set_sandbox_mode(True)
    _follow_urls(exchange.urls["api"], pro.urls["api"])
    return pro


def _follow_urls(rest: dict[str, Any], pro: dict[str, Any]) -> None:
    """Copy the REST endpoints into ``pro``; move its websocket endpoints where they went."""
    base = None
    for key, url in rest.items():
        if key == "ws" or not isinstance(url, str) or not url.startswith("http"):
            continue
        if url != pro.get(key) and base is None:
            base = "/".join(url.split("/", 3)[:3])
        pro[key] = url
    if base is None or not isinstance(pro.get("ws"), dict):
        return
    ws_base = "ws" + base[len("http"):]

    def move(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        if isinstance(value, str) and value.startswith("ws"):
            parts = value.split("/", 3)
            return ws_base + ("/" + parts[3] if len(parts) > 3 else "")
        return value

    pro["ws"] = move(pro["ws"])


@dataclass
class WsStats(FeedStats):
    """:class:`~quantlab.live.feed.FeedStats` plus the websocket's figures: errors by kind,
    candle updates received, (re)subscriptions that delivered, and what woke each batch."""

    ws_errors: dict[str, int] = field(default_factory=dict)
    ws_updates: int = 0
    ws_connects: int = 0
    ws_wakeups: int = 0
    poll_wakeups: int = 0


class WsFeed(CcxtFeed):
    """Closed bars of ``symbols``, woken up by ``watch_ohlcv`` and fetched over REST.

    Parameters
    ----------
    exchange : ccxt.async_support.Exchange
        The REST exchange (source of truth; the feed never closes it).
    symbols, timeframe
        As :class:`~quantlab.live.feed.CcxtFeed`.
    ws_exchange : ccxt.pro.Exchange, optional
        The websocket exchange; default :func:`pro_exchange` of ``exchange``. The feed owns it
        and closes it in :meth:`close`.
    reconnect_backoff, max_reconnect_backoff : float
        First and longest wait (seconds) before re-subscribing after a websocket error.
    **kwargs
        ``poll_interval`` (the safety-net poll of the exchange clock while the websocket is
        up; the longest wait otherwise), ``max_backfill``, ``on_error``, ``max_retries``,
        ``retry_backoff``: as :class:`~quantlab.live.feed.CcxtFeed`.

    Attributes
    ----------
    ws_closed_ms : int or None
        Open time of the newest bar the websocket reported closed.
    woken_by : str
        What ended the wait of the last batch: ``"websocket"``, ``"poll"`` or ``"none"``
        (the bar was already closed when :meth:`next_bars` was called).
    """

    def __init__(self, exchange: Any, symbols: list[str], timeframe: str, *,
                 ws_exchange: Any | None = None, reconnect_backoff: float = 1.0,
                 max_reconnect_backoff: float = 60.0, **kwargs: Any) -> None:
        super().__init__(exchange, symbols, timeframe, **kwargs)
        self.ws_exchange = ws_exchange if ws_exchange is not None else pro_exchange(exchange)
        self.reconnect_backoff = float(reconnect_backoff)
        self.max_reconnect_backoff = float(max_reconnect_backoff)
        self.stats: WsStats = WsStats()
        self.ws_closed_ms: int | None = None
        self.woken_by = "none"
        self._up = dict.fromkeys(self.symbols, False)
        self._newest_open: dict[str, int] = {}
        self._signal = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._hooked = False
        self._unsupported = False

    # ------------------------------------------------------------------ lifecycle
    @property
    def websocket_ok(self) -> bool:
        """Every symbol's subscription is delivering (else the feed keeps the polling
        schedule)."""
        return bool(self._tasks) and all(self._up.values())

    async def start(self) -> None:
        """Load markets over REST, check the symbols and subscribe to their klines."""
        await super().start()
        if self.ws_exchange is not None and self.ws_exchange.id == self.exchange.id:
            self.ws_exchange.set_markets_from_exchange(self.exchange)
        self._subscribe()

    async def close(self) -> None:
        """Stop the subscriptions and close the websocket exchange."""
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.ws_exchange is not None:
            await self.ws_exchange.close()

    def _subscribe(self) -> None:
        if self._tasks or self._closing or self._unsupported:
            return
        ex = self.ws_exchange
        if ex is None or not ex.has.get("watchOHLCV"):
            self._unsupported = True
            name = self.exchange.id if ex is None else ex.id
            self._failed(None, "NotSupported", f"{name} has no websocket watchOHLCV; polling")
            return
        self._hook_final_flag(ex)
        self._tasks = [asyncio.ensure_future(self._watch(s)) for s in self.symbols]

    # ------------------------------------------------------------------ websocket side
    async def _watch(self, symbol: str) -> None:
        delay = self.reconnect_backoff
        while not self._closing:
            try:
                candles = await self.ws_exchange.watch_ohlcv(symbol, self.timeframe)
            except Exception as exc:  # any failure: report, poll meanwhile, retry later
                self._failed(symbol, type(exc).__name__,
                             f"watch_ohlcv {symbol}: {_one_line(exc)}; polling, retry in "
                             f"{delay:g}s")
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_reconnect_backoff)
                continue
            delay = self.reconnect_backoff
            self.stats.ws_updates += 1
            if not self._up[symbol]:
                self._up[symbol] = True
                self.stats.ws_connects += 1
                self._signal.set()
            for candle in candles:
                self._saw_open(symbol, int(candle[0]))

    def _failed(self, symbol: str | None, kind: str, message: str) -> None:
        self.stats.ws_errors[kind] = self.stats.ws_errors.get(kind, 0) + 1
        if symbol is not None:
            self._up[symbol] = False
            self._signal.set()  # the waiter switches to the polling schedule
        if self.on_error is not None:
            self.on_error(f"websocket {kind}", message)

    def _saw_open(self, symbol: str, open_ms: int) -> None:
        """A candle opening at ``open_ms``: every bar before it is closed."""
        prev = self._newest_open.get(symbol)
        if prev is None or open_ms > prev:
            self._newest_open[symbol] = open_ms
        if prev is not None and open_ms > prev:
            self._closed(open_ms - self.tf_ms)

    def _closed(self, open_ms: int) -> None:
        if self.ws_closed_ms is None or open_ms > self.ws_closed_ms:
            self.ws_closed_ms = open_ms
            self._signal.set()

    def _hook_final_flag(self, ex: Any) -> None:
        """See Binance's ``"x": true`` (candle final) before ccxt drops it from the candle."""
        original = getattr(ex, "handle_ohlcv", None)
        if original is None or self._hooked:
            return
        interval = str(ex.timeframes.get(self.timeframe, self.timeframe)) \
            if isinstance(getattr(ex, "timeframes", None), dict) else self.timeframe

        def handle_ohlcv(client: Any, message: Any) -> Any:
            k = message.get("k") if isinstance(message, dict) else None
            if isinstance(k, dict) and k.get("x") is True and k.get("i") == interval:
                try:
                    self._closed(int(k["t"]))
                except (KeyError, TypeError, ValueError):
                    pass
            return original(client, message)

        ex.handle_ohlcv = handle_ohlcv
        self._hooked = True

    # ------------------------------------------------------------------ bars
    async def next_bars(self, after_ms: int | None, stop: asyncio.Event | None = None
                        ) -> BarBatch | None:
        """Wait for the bar after ``after_ms`` to close and return every closed bar since
        (fetched over REST); None when ``stop`` is set while waiting."""
        self._subscribe()
        woken = "none"
        while True:
            if stop is not None and stop.is_set():
                return None
            self._signal.clear()
            self.stats.polls += 1
            now = await self.exchange_time()
            last_open = self._last_closed_open(now)
            expected = last_open if after_ms is None else after_ms + self.tf_ms
            self._update_staleness(now, after_ms)
            if last_open >= expected:
                batch = await self._closed_since(after_ms, now)
                if len(batch):
                    return self._deliver(batch, now, woken)
                wait = min(self.poll_interval, 1.0)  # closed by the clock, not yet served
            elif not self.websocket_ok:
                wait_ms = expected + self.tf_ms - now
                wait = min(max(wait_ms / 1000.0, 0.05), self.poll_interval)
            elif self.ws_closed_ms is not None and self.ws_closed_ms >= expected:
                wait = min(self.poll_interval, 0.25)  # the websocket is ahead of REST's clock
            else:
                wait = self.poll_interval
            signalled = await self._wait(wait, stop)
            closed_seen = self.ws_closed_ms is not None and self.ws_closed_ms >= expected
            woken = "websocket" if signalled and closed_seen else "poll"

    def _deliver(self, batch: BarBatch, now: int, woken: str) -> BarBatch:
        self.stats.backfilled += max(len(batch) - 1, 0)
        self.last_closed_ms = int(batch.times[-1])
        self.latency_s = max(now - (self.last_closed_ms + self.tf_ms), 0) / 1000.0
        self._update_staleness(now, self.last_closed_ms)
        self.woken_by = woken
        if woken == "websocket":
            self.stats.ws_wakeups += 1
        elif woken == "poll":
            self.stats.poll_wakeups += 1
        return batch

    async def _wait(self, timeout: float, stop: asyncio.Event | None) -> bool:
        """Sleep until the websocket signals, ``stop`` is set or ``timeout`` passes; True if
        the websocket signalled."""
        waiters = [asyncio.ensure_future(self._signal.wait())]
        if stop is not None:
            waiters.append(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        return self._signal.is_set()
