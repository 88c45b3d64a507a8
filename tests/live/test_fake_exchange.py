"""The shipped fake Binance, exercised through real ``ccxt.async_support.binance``.

Expected prices are recomputed independently: the synthetic series with the test fake's own
formula (``tests/data/fake_binance.candle``), the sample from the bundled CSV files, balances
with ``Decimal`` arithmetic (``amount x price x (1 + fee)``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import ccxt.async_support
import pandas as pd
import pytest

from quantlab.errors import ParameterError
from quantlab.live.fake_exchange import FakeBinance, SampleCandles, SyntheticCandles
from tests.data.fake_binance import candle as reference_candle

HOUR = 3_600_000
DAY = 86_400_000
SRC = Path(__file__).resolve().parents[2] / "src"
SAMPLE_DIR = SRC / "quantlab" / "datasets" / "binance-spot-1d"


@pytest.fixture
def fake() -> Any:
    server = FakeBinance().start()
    yield server
    server.stop()


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@asynccontextmanager
async def client(fake: FakeBinance, **config: Any) -> AsyncIterator[Any]:
    ex = fake.exchange(**config)
    try:
        await ex.load_markets()
        yield ex
    finally:
        await ex.close()


def open_price(symbol: str, now_ms: int, step: int = HOUR) -> Decimal:
    """Open of the synthetic candle containing ``now_ms`` (the test fake's formula)."""
    return Decimal(repr(reference_candle(symbol, now_ms // step * step, step)[1]))


def cost_with_fee(amount: str, price: Decimal, fee: str = "0.001") -> Decimal:
    cost = Decimal(amount) * price
    return cost + (cost * Decimal(fee)).quantize(Decimal("0.00000001"))


# ---------------------------------------------------------------------- public endpoints
def test_markets_time_and_candles(fake: FakeBinance) -> None:
    async def body() -> None:
        async with client(fake) as ex:
            market = ex.market("BTC/USDT")
            assert market["precision"]["amount"] == 1e-05
            assert market["precision"]["price"] == 0.01
            assert market["limits"]["cost"]["min"] == 5.0
            assert sorted(ex.symbols) == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
            assert await ex.fetch_time() == fake.now_ms
            fake.advance(90 * 60_000)
            assert await ex.fetch_time() == fake.now_ms
            bars = await ex.fetch_ohlcv("ETH/USDT", "1h", limit=5)
            now = fake.now_ms
            last_open = now // HOUR * HOUR
            assert [b[0] for b in bars] == [last_open - k * HOUR for k in range(4, -1, -1)]
            for bar in bars[:-1]:  # closed candles: exactly the test fake's series
                assert bar == reference_candle("ETHUSDT", bar[0], HOUR)
            # the still-open candle is partial: its open, the close part-way, part of the volume
            full = reference_candle("ETHUSDT", last_open, HOUR)
            frac = (now - last_open) / HOUR
            assert bars[-1][1] == full[1]
            assert bars[-1][4] == pytest.approx(full[1] + frac * (full[4] - full[1]), abs=1e-8)
            assert bars[-1][5] == pytest.approx(full[5] * frac)
            await ex.fetch_ohlcv("BTC/USDT", "1d", since=fake.now_ms - 3 * DAY, limit=2)
            with pytest.raises(ccxt.BadSymbol):
                await ex.public_get_klines({"symbol": "XYZUSDT", "interval": "1h"})
            assert await ex.public_get_ping() == {}

    run(body())
    served = {"/api/v3/exchangeInfo", "/api/v3/time", "/api/v3/klines", "/api/v3/ping",
              "/sapi/v1/margin/allPairs", "/sapi/v1/margin/isolated/allPairs"}
    assert {r.path for r in fake.requests} == served
    klines = [r for r in fake.requests if r.path == "/api/v3/klines"]
    assert klines[1].query["interval"] == "1d" and int(klines[1].query["startTime"]) > 0


def test_balance_and_market_buy_by_id_and_client_id(fake: FakeBinance) -> None:
    price = open_price("BTCUSDT", fake.now_ms)

    async def body() -> None:
        async with client(fake) as ex:
            bal = await ex.fetch_balance()
            assert bal["USDT"] == {"free": 10_000.0, "used": 0.0, "total": 10_000.0}
            order = await ex.create_order("BTC/USDT", "market", "buy", 0.0123,
                                          params={"clientOrderId": "ql-buy-1"})
            assert order["status"] == "closed" and order["clientOrderId"] == "ql-buy-1"
            assert order["average"] == float(price) and order["filled"] == 0.0123
            by_id = await ex.fetch_order(order["id"], "BTC/USDT")
            by_cid = await ex.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "ql-buy-1"})
            assert by_id["id"] == by_cid["id"] == order["id"]
            assert by_cid["status"] == "closed" and by_cid["cost"] == pytest.approx(float(price) * 0.0123)
            trades = await ex.fetch_my_trades("BTC/USDT")
            assert len(trades) == 1
            t = trades[0]
            assert (t["order"], t["side"], t["amount"], t["price"]) == (order["id"], "buy", 0.0123, float(price))
            assert t["fee"] == {"currency": "USDT",
                                "cost": float((Decimal("0.0123") * price * Decimal("0.001")).quantize(Decimal("1e-8")))}
            assert t["takerOrMaker"] == "taker"
            bal = await ex.fetch_balance()
            assert Decimal(str(bal["USDT"]["free"])) == Decimal(10_000) - cost_with_fee("0.0123", price)
            assert bal["BTC"]["free"] == 0.0123

    run(body())
    assert fake.balances()["BTC"] == (0.0123, 0.0)
    assert [o["status"] for o in fake.orders()] == ["FILLED"]
    # every request recorded, never with its signature
    assert all("signature" not in r.query for r in fake.requests)
    posts = [r for r in fake.requests if r.method == "POST"]
    assert len(posts) == 1 and posts[0].query["newClientOrderId"] == "ql-buy-1"
    times = [r.at for r in fake.requests]
    assert times == sorted(times)


def test_limit_orders_rest_fill_on_advance_and_cancel(fake: FakeBinance) -> None:
    now = fake.now_ms
    # the first hourly candle whose low reaches 99 % of the current price (a day or more later)
    level = (open_price("BTCUSDT", now) * Decimal("0.99")).quantize(Decimal("0.01"))
    hit = next(t for t in range(now // HOUR * HOUR, now + 400 * HOUR, HOUR)
               if Decimal(repr(reference_candle("BTCUSDT", t, HOUR)[3])) <= level)
    assert hit > now + 24 * HOUR

    async def body() -> None:
        async with client(fake) as ex:
            buy = await ex.create_order("BTC/USDT", "limit", "buy", 0.01, float(level),
                                        params={"clientOrderId": "lim-1"})
            other = await ex.create_order("BTC/USDT", "limit", "buy", 0.02, 20_000.0)
            assert buy["status"] == "open" and buy["filled"] == 0.0
            assert {o["id"] for o in await ex.fetch_open_orders("BTC/USDT")} == {buy["id"], other["id"]}
            locked = cost_with_fee("0.01", level) + Decimal("0.02") * 20_000 * Decimal("1.001")
            bal = await ex.fetch_balance()
            assert Decimal(str(bal["USDT"]["used"])) == locked.quantize(Decimal("1e-8"))
            fake.set_time(hit)  # the candle reaching the level has not closed yet
            assert (await ex.fetch_order(buy["id"], "BTC/USDT"))["status"] == "open"
            fake.advance(HOUR)
            filled = await ex.fetch_order(buy["id"], "BTC/USDT")
            assert filled["status"] == "closed" and filled["average"] == float(level)
            (trade,) = await ex.fetch_my_trades("BTC/USDT")
            assert trade["takerOrMaker"] == "maker" and trade["timestamp"] == hit
            canceled = await ex.cancel_order(other["id"], "BTC/USDT")
            assert canceled["status"] == "canceled"
            assert await ex.fetch_open_orders("BTC/USDT") == []
            bal = await ex.fetch_balance()
            assert bal["USDT"]["used"] == 0.0
            assert Decimal(str(bal["USDT"]["free"])) == Decimal(10_000) - cost_with_fee("0.01", level)
            with pytest.raises(ccxt.OrderNotFound):  # canceling twice
                await ex.cancel_order(other["id"], "BTC/USDT")
            with pytest.raises(ccxt.OrderNotFound):
                await ex.fetch_order("999999", "BTC/USDT")

    run(body())


def test_marketable_limit_fills_at_once_at_the_market_price(fake: FakeBinance) -> None:
    price = open_price("SOLUSDT", fake.now_ms)

    async def body() -> None:
        async with client(fake) as ex:
            order = await ex.create_order("SOL/USDT", "limit", "buy", 1.5, float(price) + 10)
            assert order["status"] == "closed" and order["average"] == float(price)
            bal = await ex.fetch_balance()
            assert Decimal(str(bal["USDT"]["free"])) == Decimal(10_000) - cost_with_fee("1.5", price)
            assert bal["USDT"]["used"] == 0.0
            sell = await ex.create_order("SOL/USDT", "limit", "sell", 1.5, float(price) * 1.5)
            assert sell["status"] == "open" and fake.balances()["SOL"] == (0.0, 1.5)

    run(body())


def test_duplicate_client_id_of_an_open_order(fake: FakeBinance) -> None:
    async def body() -> None:
        async with client(fake) as ex:
            await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 20_000.0, params={"clientOrderId": "dup"})
            with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
                await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 20_000.0,
                                      params={"clientOrderId": "dup"})
            await ex.cancel_order(None, "BTC/USDT", params={"origClientOrderId": "dup"})
            again = await ex.create_order("BTC/USDT", "market", "buy", 0.001, params={"clientOrderId": "dup"})
            found = await ex.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "dup"})
            assert found["id"] == again["id"] and found["status"] == "closed"

    run(body())
    assert [o["status"] for o in fake.orders()] == ["CANCELED", "FILLED"]


def test_response_types_and_cancel_all(fake: FakeBinance) -> None:
    price = fake.price("BTC/USDT")
    assert price == float(open_price("BTCUSDT", fake.now_ms))

    async def body() -> None:
        async with client(fake) as ex:
            base = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}
            ack = await ex.private_post_order({**base, "newOrderRespType": "ACK"})
            assert sorted(ack) == ["clientOrderId", "orderId", "orderListId", "symbol", "transactTime"]
            result = await ex.private_post_order({**base, "newOrderRespType": "RESULT"})
            assert result["status"] == "FILLED" and "fills" not in result
            full = await ex.private_post_order(base)  # FULL by default, as Binance
            assert full["fills"] == [{"price": f"{price:.8f}", "qty": "0.00100000",
                                      "commission": f"{price * 0.001 * 0.001:.8f}",
                                      "commissionAsset": "USDT", "tradeId": 3}]
            for p in (20_000.0, 21_000.0):
                await ex.create_order("BTC/USDT", "limit", "buy", 0.001, p)
            canceled = await ex.cancel_all_orders("BTC/USDT")
            assert [o["status"] for o in canceled] == ["canceled", "canceled"]
            with pytest.raises(ccxt.OrderNotFound):
                await ex.cancel_all_orders("BTC/USDT")

    run(body())
    assert fake.balances()["USDT"][1] == 0.0


# ---------------------------------------------------------------------- faults
FAULT_CASES = [
    ("timeout", ccxt.RequestTimeout, True),
    (429, ccxt.DDoSProtection, False),
    (500, ccxt.ExchangeNotAvailable, False),
    (502, ccxt.ExchangeNotAvailable, False),
    (503, ccxt.ExchangeNotAvailable, False),
    ("drop", ccxt.NetworkError, False),
    ("reject", ccxt.InsufficientFunds, False),
    ("drop_after_accept", ccxt.NetworkError, True),
]


@pytest.mark.parametrize(("fault", "error", "placed"), FAULT_CASES, ids=[str(c[0]) for c in FAULT_CASES])
def test_order_faults(fake: FakeBinance, fault: str | int, error: type, placed: bool) -> None:
    options = {"seconds": 1.0} if fault == "timeout" else {}
    fake.inject("order", fault, **options)

    async def body() -> None:
        async with client(fake, timeout=400) as ex:
            with pytest.raises(error) as info:
                await ex.create_order("ETH/USDT", "market", "buy", 0.05, params={"clientOrderId": "f-1"})
            if fault == "reject":
                assert "insufficient balance" in str(info.value)
            if placed:  # a retry must find the order instead of placing a second one
                found = await ex.fetch_order(None, "ETH/USDT", params={"origClientOrderId": "f-1"})
                assert found["status"] == "closed" and found["filled"] == 0.05
            else:
                with pytest.raises(ccxt.OrderNotFound):
                    await ex.fetch_order(None, "ETH/USDT", params={"origClientOrderId": "f-1"})
            # the fault was used up: the next order goes through
            nxt = await ex.create_order("ETH/USDT", "market", "buy", 0.05, params={"clientOrderId": "f-2"})
            assert nxt["status"] == "closed"

    run(body())
    assert len(fake.orders()) == (2 if placed else 1)
    assert fake.faults.pending() == []


@pytest.mark.parametrize(("endpoint", "fault", "call", "error"), [
    ("account", 503, lambda ex: ex.fetch_balance(), ccxt.ExchangeNotAvailable),
    ("query", "timeout", lambda ex: ex.fetch_order("1", "BTC/USDT"), ccxt.RequestTimeout),
    ("openOrders", 429, lambda ex: ex.fetch_open_orders("BTC/USDT"), ccxt.DDoSProtection),
    ("myTrades", 500, lambda ex: ex.fetch_my_trades("BTC/USDT"), ccxt.ExchangeNotAvailable),
    ("klines", 502, lambda ex: ex.fetch_ohlcv("BTC/USDT", "1h"), ccxt.ExchangeNotAvailable),
    ("time", "timeout", lambda ex: ex.fetch_time(), ccxt.RequestTimeout),
    # aiohttp repeats an idempotent request (DELETE too) once when a reused connection closes:
    # the repeat finds the order already canceled
    ("cancel", "drop_after_accept", lambda ex: ex.cancel_order("1", "BTC/USDT"), ccxt.OrderNotFound),
    ("*", 503, lambda ex: ex.fetch_time(), ccxt.ExchangeNotAvailable),
])
def test_faults_on_other_endpoints(fake: FakeBinance, endpoint: str, fault: str | int,
                                   call: Callable[[Any], Any], error: type) -> None:
    async def body() -> None:
        async with client(fake, timeout=400) as ex:
            await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 20_000.0)  # order id 1
            fake.inject(endpoint, fault, **({"seconds": 0.8} if fault == "timeout" else {}))
            with pytest.raises(error):
                await call(ex)
            assert fake.faults.pending() == []
            if endpoint == "cancel":  # done although its answer never came: now unknown
                assert fake.orders()[0]["status"] == "CANCELED"
                with pytest.raises(ccxt.OrderNotFound):
                    await call(ex)
            else:  # the fault was used up
                await call(ex)

    run(body())


def test_dropped_get_is_retried_once_by_aiohttp(fake: FakeBinance) -> None:
    """aiohttp repeats an idempotent request once when a reused connection closes: one
    dropped GET is invisible to ccxt, two in a row reach it as a network error."""

    async def body() -> None:
        async with client(fake) as ex:
            fake.inject("account", "drop", times=2)
            with pytest.raises(ccxt.NetworkError):
                await ex.fetch_balance()
            assert (await ex.fetch_balance())["USDT"]["free"] == 10_000.0

    run(body())


def test_429_sends_retry_after(fake: FakeBinance) -> None:
    fake.inject("time", 429, retry_after=7)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(fake.url + "/api/v3/time", timeout=5)
    assert info.value.code == 429 and info.value.headers["Retry-After"] == "7"
    assert json.loads(info.value.read())["code"] == -1003


def test_partial_fills(fake: FakeBinance) -> None:
    price = open_price("BTCUSDT", fake.now_ms)
    fake.inject("order", "partial", fraction=0.4)
    fake.inject("order", "partial", fraction=0.25)

    async def body() -> None:
        async with client(fake) as ex:
            market = await ex.create_order("BTC/USDT", "market", "buy", 0.01)
            assert market["status"] == "expired" and market["filled"] == 0.004
            assert market["remaining"] == pytest.approx(0.006)
            limit = await ex.create_order("BTC/USDT", "limit", "sell", 0.004, float(price) * 1.02)
            assert limit["status"] == "open" and limit["filled"] == 0.001
            assert (await ex.fetch_order(limit["id"], "BTC/USDT"))["info"]["status"] == "PARTIALLY_FILLED"
            assert fake.balances()["BTC"] == (0.0, 0.003)
            t = fake.now_ms
            while (await ex.fetch_order(limit["id"], "BTC/USDT"))["status"] == "open":
                fake.advance(HOUR)
                assert fake.now_ms - t < 300 * HOUR
            done = await ex.fetch_order(limit["id"], "BTC/USDT")
            assert done["status"] == "closed" and done["filled"] == 0.004
            assert done["average"] == limit["price"] > float(price)
            trades = await ex.fetch_my_trades("BTC/USDT")
            assert [tr["amount"] for tr in trades] == [0.004, 0.001, 0.003]
            assert [int(tr["id"]) for tr in trades] == [1, 2, 3]
            assert [tr["takerOrMaker"] for tr in trades] == ["taker", "maker", "maker"]

    run(body())
    assert fake.balances()["BTC"] == (0.0, 0.0)


def test_bad_signature_and_wrong_key(fake: FakeBinance) -> None:
    async def body() -> None:
        ex = fake.exchange(secret="not-the-secret")
        try:  # with credentials, load_markets also asks for the (signed) margin pairs
            with pytest.raises(ccxt.AuthenticationError, match="Signature for this request is not valid"):
                await ex.load_markets()
        finally:
            await ex.close()
        ex = fake.exchange(options={"fetchMargins": False})
        ex.secret = "not-the-secret"
        try:
            with pytest.raises(ccxt.AuthenticationError, match="-1022"):
                await ex.fetch_balance()
            ex.secret, ex.apiKey = fake.secret, "someone-else"
            with pytest.raises(ccxt.AuthenticationError, match="-2015"):
                await ex.create_order("BTC/USDT", "market", "buy", 0.001)
        finally:
            await ex.close()

    run(body())
    assert fake.orders() == []


def test_filter_failures_and_insufficient_balance() -> None:
    with FakeBinance(balances={"USDT": 10_000_000.0}) as fake:
        async def body() -> None:
            async with client(fake) as ex:
                with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):
                    await ex.create_order("BTC/USDT", "limit", "buy", 9500, 100.0)
                with pytest.raises(ccxt.InvalidOrder, match="PRICE_FILTER"):
                    await ex.create_order("BTC/USDT", "limit", "sell", 0.01, 2_000_000.0)
                with pytest.raises(ccxt.InvalidOrder, match="MARKET_LOT_SIZE"):
                    await ex.create_order("BTC/USDT", "market", "buy", 150)
                # ccxt maps -1013 without a LOT_SIZE/PRICE_FILTER text to BadRequest
                with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL"):
                    await ex.create_order("BTC/USDT", "market", "buy", 0.0001)
                with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):  # off the step, unrounded
                    await ex.private_post_order({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                                 "quantity": "0.000015"})
                with pytest.raises(ccxt.InsufficientFunds):
                    await ex.create_order("BTC/USDT", "market", "sell", 0.01)
                with pytest.raises(ccxt.InsufficientFunds):
                    await ex.create_order("BTC/USDT", "limit", "buy", 300, 40_000.0)

        run(body())
        assert fake.orders() == [] and fake.balances()["USDT"] == (10_000_000.0, 0.0)


def test_my_trades_filters_and_concurrent_orders(fake: FakeBinance) -> None:
    async def body() -> None:
        async with client(fake) as ex:
            orders = await asyncio.gather(*(
                ex.create_order("BTC/USDT", "market", "buy", 0.001, params={"clientOrderId": f"c{i}"})
                for i in range(12)))
            assert sorted(int(o["id"]) for o in orders) == list(range(1, 13))
            fake.advance(2 * HOUR)
            await ex.create_order("BTC/USDT", "market", "sell", 0.002)
            raw = await ex.private_get_mytrades({"symbol": "BTCUSDT"})
            assert [t["id"] for t in raw] == list(range(1, 14))  # ascending, as Binance sends
            # ccxt orders same-millisecond trades by their id string: compare as numbers
            trades = await ex.fetch_my_trades("BTC/USDT", params={"fromId": 10})
            assert sorted(int(t["id"]) for t in trades) == [10, 11, 12, 13]
            assert len(await ex.fetch_my_trades("BTC/USDT", limit=3)) == 3
            later = await ex.fetch_my_trades("BTC/USDT", since=fake.now_ms - HOUR)
            assert [t["side"] for t in later] == ["sell"]
            one = await ex.fetch_my_trades("BTC/USDT", params={"orderId": orders[4]["id"]})
            assert [t["order"] for t in one] == [orders[4]["id"]]

    run(body())
    free, locked = fake.balances()["BTC"]
    assert free == pytest.approx(0.010) and locked == 0.0


def test_slippage_and_fee_rate() -> None:
    with FakeBinance(slippage_bps=25, fee_rate=0.002) as fake:
        price = open_price("BTCUSDT", fake.now_ms)
        want_buy = (price * Decimal("1.0025")).quantize(Decimal("0.01"), rounding="ROUND_UP")

        async def body() -> None:
            async with client(fake) as ex:
                buy = await ex.create_order("BTC/USDT", "market", "buy", 0.01)
                assert buy["average"] == float(want_buy)
                sell = await ex.create_order("BTC/USDT", "market", "sell", 0.01)
                assert sell["average"] == float((price * Decimal("0.9975")).quantize(Decimal("0.01"), rounding="ROUND_DOWN"))
                bal = await ex.fetch_balance()
                spent = cost_with_fee("0.01", want_buy, "0.002")
                got = Decimal("0.01") * Decimal(str(sell["average"]))
                got -= (got * Decimal("0.002")).quantize(Decimal("1e-8"))
                assert Decimal(str(bal["USDT"]["free"])) == Decimal(10_000) - spent + got

        run(body())


def test_sample_source_prices_and_intervals() -> None:
    csv = pd.read_csv(SAMPLE_DIR / "BTC_USDT.csv", index_col="date")
    start = int(pd.Timestamp("2024-03-05", tz="UTC").value // 1_000_000)
    with FakeBinance(SampleCandles(["BTC/USDT", "ETH/USDT"]), now_ms=start + 6 * HOUR) as fake:
        async def body() -> None:
            async with client(fake) as ex:
                assert sorted(ex.symbols) == ["BTC/USDT", "ETH/USDT"]
                bars = await ex.fetch_ohlcv("BTC/USDT", "1d", limit=3)
                assert [pd.Timestamp(b[0], unit="ms").strftime("%Y-%m-%d") for b in bars] == [
                    "2024-03-03", "2024-03-04", "2024-03-05"]
                row = csv.loc["2024-03-04"]
                assert bars[1][1:] == [row.open, row.high, row.low, row.close, row.volume]
                with pytest.raises(ccxt.BadRequest, match="-1120"):
                    await ex.fetch_ohlcv("BTC/USDT", "1h")
                order = await ex.create_order("BTC/USDT", "market", "buy", 0.01)
                assert order["average"] == csv.loc["2024-03-05", "open"]
                fake.set_time(int(pd.Timestamp("2030-01-01", tz="UTC").value // 1_000_000))
                with pytest.raises(ccxt.MarketClosed):  # after the sample ends
                    await ex.create_order("BTC/USDT", "market", "buy", 0.01)

        run(body())


def test_sync_ccxt_client(fake: FakeBinance) -> None:
    ex = fake.exchange(async_=False)
    assert isinstance(ex, ccxt.binance) and not isinstance(ex, ccxt.async_support.binance)
    order = ex.create_order("ETH/USDT", "market", "buy", 0.01, params={"clientOrderId": "sync-1"})
    assert ex.fetch_order(None, "ETH/USDT", params={"origClientOrderId": "sync-1"})["id"] == order["id"]
    assert ex.fetch_balance()["ETH"]["free"] == 0.01


def test_wall_clock_speed() -> None:
    with FakeBinance(now_ms=1_735_689_600_000, speed=3600) as fake:
        t0 = fake.now_ms
        time.sleep(0.2)
        assert 0.15 * HOUR <= fake.now_ms - t0 <= 0.5 * HOUR
        fake.advance(DAY)
        assert fake.now_ms - t0 >= DAY


def test_user_mistakes_raise_parameter_errors(fake: FakeBinance) -> None:
    with pytest.raises(ParameterError, match="unknown endpoint 'orders'"):
        fake.inject("orders", 500)
    with pytest.raises(ParameterError, match="unknown fault 404"):
        fake.inject("order", 404)
    with pytest.raises(ParameterError, match="'partial' applies to endpoint 'order' only"):
        fake.inject("query", "partial")
    with pytest.raises(ParameterError, match="fraction"):
        fake.inject("order", "partial", fraction=1.5)
    with pytest.raises(ParameterError, match="cannot go back"):
        fake.set_time(fake.now_ms - 1)
    with pytest.raises(ParameterError, match="timeframe"):
        SyntheticCandles("1M")
    assert fake.faults.pending() == []


# ---------------------------------------------------------------------- command line
def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_cli_serves_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "quantlab.live.fake_exchange", "--port", "0", "--sample",
         "--start", "2025-01-01", "--speed", "3600", "--api-key", "K1", "--secret", "S1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        line = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert line.startswith("fake binance on http://127.0.0.1:") and line.endswith("(api key K1)")
        url = line.split()[3]
        with urllib.request.urlopen(url + "/api/v3/time", timeout=5) as resp:
            server_time = json.loads(resp.read())["serverTime"]
        start = 1_735_689_600_000
        assert start <= server_time <= start + DAY  # an hour per wall second
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert "S1" not in proc.stdout.read() + proc.stderr.read()  # type: ignore[union-attr]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_bad_start_is_a_usage_error() -> None:
    out = subprocess.run([sys.executable, "-m", "quantlab.live.fake_exchange", "--port", "0",
                          "--start", "not-a-date"], capture_output=True, text=True, env=_env(), timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == ["error: --start: cannot parse 'not-a-date' as a date"]
