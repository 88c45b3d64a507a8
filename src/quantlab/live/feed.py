"""Closed bars for the runner: from an exchange through ccxt, or from history (replay).

A bar is *closed* when the exchange's clock has passed its open time plus the timeframe; the
still-open candle an exchange returns last is never used. :class:`CcxtFeed` polls the
exchange's time (so a skewed local clock cannot make it early), fetches the closed candles
since the last one processed — all of them after a pause or a restart, so missed bars are
backfilled before the next decision — validates each page (:func:`quantlab.data.candles.check_page`)
and returns them as one row per bar and symbol. Network errors, rate limits and outages are
retried with backoff; the feed reports its staleness (how many bar intervals the newest closed
bar is late) so the circuit breaker can act on it.

:class:`ReplayFeed` hands out bars of a historical frame one at a time, as fast as the runner
takes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from quantlab.data.candles import check_page
from quantlab.data.timeframes import timeframe_ms
from quantlab.errors import DataError, ExchangeError

__all__ = ["BarBatch", "CcxtFeed", "ReplayFeed", "one_line", "panel_rows"]

FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class BarBatch:
    """Closed bars in time order: ``times`` (open ms) and ``values`` float64[bars, n, 5] (OHLCV;
    NaN where a symbol has no candle)."""

    times: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.times)

    def frame(self, symbols: list[str]) -> pd.DataFrame:
        """The bars as one OHLCV frame (one symbol) or a ``(field, symbol)`` panel."""
        index = pd.DatetimeIndex(pd.to_datetime(self.times, unit="ms", utc=True))
        if len(symbols) == 1:
            return pd.DataFrame(self.values[:, 0, :], index=index, columns=list(FIELDS))
        cols = pd.MultiIndex.from_product([FIELDS, symbols])
        data = np.transpose(self.values, (0, 2, 1)).reshape(len(self.times), -1)
        return pd.DataFrame(data, index=index, columns=cols)


def panel_rows(bars: pd.DataFrame, symbols: list[str]) -> BarBatch:
    """A :class:`BarBatch` of a frame or ``(field, symbol)`` panel."""
    times = (pd.DatetimeIndex(bars.index).as_unit("ns").asi8 // 1_000_000).astype(np.int64)
    if isinstance(bars.columns, pd.MultiIndex):
        values = np.stack([bars[f][symbols].to_numpy(dtype=float) for f in FIELDS], axis=2)
    else:
        values = bars[list(FIELDS)].to_numpy(dtype=float)[:, None, :]
    return BarBatch(times, values)


class ReplayFeed:
    """Bars of a historical frame, one per call (replay mode).

    Parameters
    ----------
    bars : DataFrame
        One OHLCV frame or a ``(field, symbol)`` panel.
    symbols : list[str]
        The symbols, in the runner's order.
    """

    def __init__(self, bars: pd.DataFrame, symbols: list[str]) -> None:
        self.batch = panel_rows(bars, symbols)
        self.symbols = symbols
        self._next = 0
        self.staleness_bars = 0.0
        self.latency_s = 0.0

    async def start(self) -> None:
        """Nothing to connect."""

    async def close(self) -> None:
        """Nothing to close."""

    def skip_to(self, after_ms: int | None) -> None:
        """Continue after the bar opened at ``after_ms`` (a resumed replay)."""
        if after_ms is not None:
            self._next = int(np.searchsorted(self.batch.times, after_ms, side="right"))

    async def history(self, n: int, before_ms: int | None = None) -> BarBatch:
        """The ``n`` bars before the next one (the decision window after a restart)."""
        end = self._next
        start = max(0, end - n)
        return BarBatch(self.batch.times[start:end], self.batch.values[start:end])

    async def next_bars(self, after_ms: int | None, stop: asyncio.Event | None = None) -> BarBatch | None:
        """The next bar, or None when the history is exhausted."""
        if self._next >= len(self.batch):
            return None
        i = self._next
        self._next += 1
        return BarBatch(self.batch.times[i:i + 1], self.batch.values[i:i + 1])


@dataclass
class FeedStats:
    """What the feed saw: request errors by kind, retries, rejected candles, backfilled bars."""

    errors: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    backfilled: int = 0
    polls: int = 0


class CcxtFeed:
    """Closed bars of ``symbols`` from a ccxt async exchange, by REST polling.

    Parameters
    ----------
    exchange : ccxt.async_support.Exchange
        Markets loaded or not; the feed never closes it (its owner does).
    symbols : list[str]
        Unified symbols.
    timeframe : str
        Bar length, e.g. ``"1m"``, ``"1d"``.
    poll_interval : float
        Longest sleep between polls of the exchange clock (seconds).
    max_backfill : int
        Most bars fetched after a pause; older missed bars are skipped with a warning.
    on_error : callable, optional
        Called with ``(kind, message)`` for every failed request (metrics, audit).
    max_retries : int
        Consecutive failures of one request before :class:`ExchangeError` is raised.
    """

    def __init__(self, exchange: Any, symbols: list[str], timeframe: str, *,
                 poll_interval: float | None = None, max_backfill: int = 10_000,
                 on_error: Callable[[str, str], None] | None = None, max_retries: int = 8,
                 retry_backoff: float = 0.5) -> None:
        self.exchange = exchange
        self.symbols = list(symbols)
        self.timeframe = timeframe
        self.tf_ms = timeframe_ms(timeframe)
        default_poll = min(max(self.tf_ms / 1000 / 20, 0.2), 10.0)
        self.poll_interval = float(poll_interval) if poll_interval else default_poll
        self.max_backfill = int(max_backfill)
        self.on_error = on_error
        self.max_retries = int(max_retries)
        self.retry_backoff = float(retry_backoff)
        self.stats = FeedStats()
        self.exchange_now_ms: int | None = None
        self.last_closed_ms: int | None = None
        self.staleness_bars = 0.0
        self.latency_s = 0.0  # exchange time at fetch minus bar close, seconds

    async def start(self) -> None:
        """Load markets and check the symbols exist on the exchange."""
        import ccxt

        await self._retry("load_markets", self.exchange.load_markets)
        unknown = [s for s in self.symbols if s not in self.exchange.markets]
        if unknown:
            raise DataError(f"{self.exchange.id} has no market {unknown[0]!r}")
        del ccxt

    async def close(self) -> None:
        """Nothing of its own to close (the exchange belongs to the caller)."""

    async def _retry(self, what: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        import ccxt

        delay = self.retry_backoff
        for attempt in range(1, self.max_retries + 1):
            try:
                return await fn(*args, **kw)
            except (ccxt.NetworkError, ccxt.ExchangeNotAvailable) as exc:
                # NetworkError covers RequestTimeout, RateLimitExceeded/DDoSProtection, ExchangeNotAvailable
                kind = type(exc).__name__
                self.stats.errors[kind] = self.stats.errors.get(kind, 0) + 1
                if self.on_error is not None:
                    self.on_error(kind, f"{what}: {_one_line(exc)}")
                if attempt == self.max_retries:
                    raise ExchangeError(f"{self.exchange.id} {what} failed {attempt} times: "
                                        f"{kind}: {_one_line(exc)}") from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            except ccxt.BaseError as exc:
                raise ExchangeError(f"{self.exchange.id} {what}: {type(exc).__name__}: "
                                    f"{_one_line(exc)}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def exchange_time(self) -> int:
        """The exchange clock (ms)."""
        now = int(await self._retry("fetch_time", self.exchange.fetch_time))
        self.exchange_now_ms = now
        return now

    def _last_closed_open(self, now_ms: int) -> int:
        """Open time of the newest bar closed at ``now_ms``."""
        return (now_ms // self.tf_ms) * self.tf_ms - self.tf_ms

    async def _fetch_symbol(self, symbol: str, since_ms: int, until_open_ms: int) -> np.ndarray:
        rows: list[np.ndarray] = []
        cursor = since_ms
        while cursor <= until_open_ms:
            page = await self._retry(f"fetch_ohlcv {symbol}", self.exchange.fetch_ohlcv,
                                     symbol, self.timeframe, cursor, 1000)
            check = check_page(page, timeframe_ms=self.tf_ms, anchor_ms=since_ms)
            self.stats.rejected += len(check.rejected)
            good = check.rows[(check.rows[:, 0] >= cursor) & (check.rows[:, 0] <= until_open_ms)] \
                if len(check.rows) else check.rows
            if len(good):
                rows.append(good)
            if not len(check.rows) or check.rows[-1, 0] >= until_open_ms:
                break
            nxt = int(check.rows[-1, 0]) + self.tf_ms
            if nxt <= cursor:
                break
            cursor = nxt
        return np.concatenate(rows) if rows else np.empty((0, 6))

    async def _closed_since(self, after_ms: int | None, now_ms: int) -> BarBatch:
        last_open = self._last_closed_open(now_ms)
        if after_ms is None:
            since = last_open - (self.max_backfill - 1) * self.tf_ms
        else:
            since = after_ms + self.tf_ms
            oldest = last_open - (self.max_backfill - 1) * self.tf_ms
            since = max(since, oldest)
        if since > last_open:
            return BarBatch(np.empty(0, dtype=np.int64), np.empty((0, len(self.symbols), 5)))
        per_symbol = await asyncio.gather(*(self._fetch_symbol(s, since, last_open)
                                            for s in self.symbols))
        times = sorted({int(t) for rows in per_symbol for t in rows[:, 0]})
        values = np.full((len(times), len(self.symbols), 5), np.nan)
        pos = {t: i for i, t in enumerate(times)}
        for j, rows in enumerate(per_symbol):
            for r in rows:
                values[pos[int(r[0])], j, :] = r[1:6]
        return BarBatch(np.asarray(times, dtype=np.int64), values)

    async def history(self, n: int, before_ms: int | None = None) -> BarBatch:
        """The last ``n`` closed bars (up to and including ``before_ms`` when given)."""
        now = await self.exchange_time()
        if before_ms is not None:
            now = min(now, before_ms + self.tf_ms)  # the bar opened at before_ms is the last closed
        last_open = self._last_closed_open(now)
        start = last_open - (int(n) - 1) * self.tf_ms
        return await self._closed_since(start - self.tf_ms, now)

    async def next_bars(self, after_ms: int | None, stop: asyncio.Event | None = None) -> BarBatch | None:
        """Wait for the bar after ``after_ms`` to close and return every closed bar since.

        Returns None when ``stop`` is set while waiting.
        """
        while True:
            if stop is not None and stop.is_set():
                return None
            self.stats.polls += 1
            now = await self.exchange_time()
            last_open = self._last_closed_open(now)
            expected = last_open if after_ms is None else after_ms + self.tf_ms
            self._update_staleness(now, after_ms)
            if last_open >= expected:
                batch = await self._closed_since(after_ms, now)
                if len(batch):
                    self.stats.backfilled += max(len(batch) - 1, 0)
                    self.last_closed_ms = int(batch.times[-1])
                    self.latency_s = max(now - (self.last_closed_ms + self.tf_ms), 0) / 1000.0
                    self._update_staleness(now, self.last_closed_ms)
                    return batch
            # sleep until the next close (by the exchange clock), at most poll_interval
            wait_ms = expected + self.tf_ms - now if last_open < expected else self.tf_ms
            wait = min(max(wait_ms / 1000.0, 0.05), self.poll_interval)
            if stop is None:
                await asyncio.sleep(wait)
            else:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=wait)
                except TimeoutError:
                    pass

    def _update_staleness(self, now_ms: int, last_ms: int | None) -> None:
        if last_ms is None:
            self.staleness_bars = 0.0
            return
        # the newest bar that should be closed is now//tf - 1; how many intervals behind it are we
        self.staleness_bars = max((self._last_closed_open(now_ms) - last_ms) / self.tf_ms, 0.0)


def one_line(exc: BaseException, limit: int = 160) -> str:
    """An exception as one line of at most ``limit`` characters."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_one_line = one_line
