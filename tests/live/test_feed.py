"""The polling :class:`CcxtFeed` through real ``ccxt.async_support.binance`` against the fake.

Expected candles come from the data tests' own formula (``tests/data/fake_binance.candle``),
not from the fake exchange's code.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import pytest

from quantlab.errors import DataError, ExchangeError
from quantlab.live.fake_exchange import T0, FakeBinance
from quantlab.live.feed import CcxtFeed
from tests.data.fake_binance import candle as reference_candle

MIN = 60_000
#: 20 s into a one-minute bar: the candle containing the clock is still open
START = T0 + 2_500 * 3_600_000 + 30 * MIN + 20_000


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def fake() -> Any:
    server = FakeBinance(now_ms=START).start()
    yield server
    server.stop()


@asynccontextmanager
async def rest_feed(fake: FakeBinance, symbols: list[str], **kw: Any) -> AsyncIterator[CcxtFeed]:
    ex = fake.exchange()
    kw.setdefault("max_backfill", 30)
    kw.setdefault("retry_backoff", 0.01)
    feed = CcxtFeed(ex, symbols, "1m", **kw)
    try:
        await feed.start()
        yield feed
    finally:
        await feed.close()
        await ex.close()


def expected_rows(symbol: str, opens: list[int]) -> np.ndarray:
    return np.array([reference_candle(symbol, t, MIN)[1:6] for t in opens])


def last_closed(now_ms: int) -> int:
    return now_ms // MIN * MIN - MIN


def test_closed_bars_only_never_the_open_candle(fake: FakeBinance) -> None:
    async def body() -> None:
        async with rest_feed(fake, ["BTC/USDT", "ETH/USDT"], max_backfill=12) as feed:
            batch = await feed.next_bars(None)
            assert batch is not None
            newest = last_closed(fake.now_ms)
            assert newest == START - 20_000 - MIN
            assert batch.times.tolist() == [newest - k * MIN for k in range(11, -1, -1)]
            np.testing.assert_array_equal(batch.values[:, 0, :],
                                          expected_rows("BTCUSDT", batch.times.tolist()))
            np.testing.assert_array_equal(batch.values[:, 1, :],
                                          expected_rows("ETHUSDT", batch.times.tolist()))
            assert feed.last_closed_ms == newest
            assert feed.latency_s == 20.0  # exchange time at fetch minus the bar's close
            assert feed.staleness_bars == 0.0
            # the open candle closes only when the clock passes its end
            fake.advance(39_999)
            stop = asyncio.Event()
            stop.set()
            assert await feed.next_bars(newest, stop) is None

    run(body())


def test_backfill_after_a_pause_returns_every_missed_bar_in_order(fake: FakeBinance) -> None:
    async def body() -> None:
        async with rest_feed(fake, ["SOL/USDT"]) as feed:
            first = await feed.next_bars(None)
            after = int(first.times[-1])
            fake.advance(5 * MIN)  # the runner was away for five bars
            batch = await feed.next_bars(after)
            assert batch.times.tolist() == [after + k * MIN for k in range(1, 6)]
            np.testing.assert_array_equal(batch.values[:, 0, :],
                                          expected_rows("SOLUSDT", batch.times.tolist()))
            assert feed.stats.backfilled == 29 + 4  # first call: 30 bars, then 5
            assert feed.staleness_bars == 0.0
            frame = batch.frame(["SOL/USDT"])
            assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
            assert frame.index[0].value // 1_000_000 == after + MIN

    run(body())


def test_waits_for_the_close_by_the_exchange_clock(fake: FakeBinance) -> None:
    async def body() -> None:
        async with rest_feed(fake, ["BTC/USDT"], poll_interval=0.05) as feed:
            after = last_closed(fake.now_ms)
            task = asyncio.ensure_future(feed.next_bars(after))
            await asyncio.sleep(0.3)
            assert not task.done()  # the local clock moves, the exchange's does not
            fake.advance(40_000)
            batch = await asyncio.wait_for(task, 2)
            assert batch.times.tolist() == [after + MIN]
            assert feed.stats.polls >= 3

    run(body())


def test_retries_5xx_and_429_then_returns_the_bars(fake: FakeBinance) -> None:
    seen: list[tuple[str, str]] = []

    async def body() -> None:
        async with rest_feed(fake, ["BTC/USDT"], on_error=lambda k, m: seen.append((k, m))) as feed:
            after = last_closed(fake.now_ms) - 3 * MIN
            fake.inject("klines", 500)
            fake.inject("time", 429, retry_after=0)
            batch = await feed.next_bars(after)
            assert batch.times.tolist() == [after + k * MIN for k in (1, 2, 3)]
            np.testing.assert_array_equal(batch.values[:, 0, :],
                                          expected_rows("BTCUSDT", batch.times.tolist()))

    run(body())
    kinds = [k for k, _ in seen]
    assert sorted(kinds) == ["DDoSProtection", "ExchangeNotAvailable"]
    assert all(m.startswith(("fetch_time", "fetch_ohlcv BTC/USDT")) for _, m in seen)


def test_gives_up_after_max_retries_and_reports_staleness(fake: FakeBinance) -> None:
    async def body() -> None:
        async with rest_feed(fake, ["BTC/USDT"], max_retries=3) as feed:
            after = last_closed(fake.now_ms) - 3 * MIN
            fake.inject("klines", 503, times=3)
            t0 = time.monotonic()
            with pytest.raises(ExchangeError, match=r"fetch_ohlcv BTC/USDT failed 3 times"):
                await feed.next_bars(after)
            assert time.monotonic() - t0 < 2
            assert feed.staleness_bars == 3.0
            assert feed.stats.errors == {"ExchangeNotAvailable": 3}

    run(body())


def test_history_and_unknown_symbol(fake: FakeBinance) -> None:
    async def body() -> None:
        async with rest_feed(fake, ["ETH/USDT"]) as feed:
            hist = await feed.history(7)
            newest = last_closed(fake.now_ms)
            assert hist.times.tolist() == [newest - k * MIN for k in range(6, -1, -1)]
        with pytest.raises(DataError, match="binance has no market 'DOGE/USDT'"):
            async with rest_feed(fake, ["DOGE/USDT"]):
                pass

    run(body())


def test_history_before_a_bar_ends_at_that_bar(fake: FakeBinance) -> None:
    """After a restart the window is rebuilt up to and including the last processed bar."""
    last = last_closed(START) - 7 * MIN  # processed before a pause of 7 bars

    async def body() -> Any:
        async with rest_feed(fake, ["BTC/USDT"]) as feed:
            return await feed.history(5, before_ms=last)

    batch = run(body())
    assert list(batch.times) == [last - k * MIN for k in range(4, -1, -1)]
    np.testing.assert_array_equal(batch.values[:, 0, :], expected_rows("BTCUSDT", list(batch.times)))
