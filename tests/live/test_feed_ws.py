"""The websocket feed (real ``ccxt.pro.binance``) and the fake exchange's kline streams.

Everything runs on 127.0.0.1: the fake's aiohttp app serves REST and the websocket; the
clock is the fake's (explicit), so "woken by the websocket" is proven by a bar close that no
poll could have seen in time (``poll_interval`` 30 s).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import numpy as np
import pytest

from quantlab.errors import ParameterError
from quantlab.live.exchange import point_at
from quantlab.live.fake_exchange import T0, FakeBinance
from quantlab.live.feed import CcxtFeed
from quantlab.live.feed_ws import WsFeed, make_feed, pro_exchange, supports_watch_ohlcv
from tests.data.fake_binance import candle as reference_candle

MIN = 60_000
#: 20 s into a one-minute bar
START = T0 + 2_500 * 3_600_000 + 30 * MIN + 20_000


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def fake() -> Any:
    server = FakeBinance(now_ms=START).start()
    yield server
    server.stop()


def last_closed(now_ms: int) -> int:
    return now_ms // MIN * MIN - MIN


@asynccontextmanager
async def ws_feed(fake: FakeBinance, symbols: list[str], **kw: Any) -> AsyncIterator[WsFeed]:
    ex = fake.exchange()
    kw.setdefault("max_backfill", 20)
    kw.setdefault("retry_backoff", 0.01)
    feed = WsFeed(ex, symbols, "1m", **kw)
    try:
        await feed.start()
        yield feed
    finally:
        await feed.close()
        await ex.close()


async def until(cond: Any, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def ws_requests(fake: FakeBinance, method: str) -> list[Any]:
    """Websocket connections (``GET``) or subscription messages (``WS``) the fake saw."""
    return [r for r in fake.requests
            if r.method == method and r.path.startswith(("/ws", "/stream"))]


# ---------------------------------------------------------------------- the fake's streams
async def recv(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await asyncio.wait_for(ws.receive(), 2)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def recv_until(ws: aiohttp.ClientWebSocketResponse, pred: Any) -> dict[str, Any]:
    for _ in range(50):
        msg = await recv(ws)
        if pred(msg):
            return msg
    raise AssertionError("no such message")


def test_fake_serves_binance_kline_events(fake: FakeBinance) -> None:
    bar = START // MIN * MIN

    async def body() -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(fake.ws_url + "/ws/0") as ws:
            await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"],
                                          "id": 7}))
            assert await recv(ws) == {"result": None, "id": 7}
            first = await recv(ws)
            ref = reference_candle("BTCUSDT", bar, MIN)
            frac = (START - bar) / MIN
            last = round(ref[1] + frac * (ref[4] - ref[1]), 8)
            assert first["e"] == "kline" and first["E"] == START and first["s"] == "BTCUSDT"
            k = first["k"]
            assert (k["t"], k["T"], k["s"], k["i"], k["x"], k["B"]) == (
                bar, bar + MIN - 1, "BTCUSDT", "1m", False, "0")
            assert float(k["o"]) == ref[1] and float(k["c"]) == pytest.approx(last, abs=1e-8)
            assert float(k["v"]) == pytest.approx(ref[5] * frac)
            assert set(k) == {"t", "T", "s", "i", "f", "L", "o", "c", "h", "l", "v", "n", "x",
                              "q", "V", "Q", "B"}
            # crossing the boundary: the closed candle (final, x=true), then the new one
            fake.advance(MIN)
            closed = await recv_until(ws, lambda m: m["k"]["t"] == bar)
            while not closed["k"]["x"]:
                closed = await recv(ws)
            full = reference_candle("BTCUSDT", bar, MIN)
            assert [float(closed["k"][f]) for f in "ohlcv"] == full[1:6]
            nxt = await recv(ws)
            assert (nxt["k"]["t"], nxt["k"]["x"]) == (bar + MIN, False)
            await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 8}))
            listed = await recv_until(ws, lambda m: m.get("id") == 8)
            assert listed == {"result": ["btcusdt@kline_1m"], "id": 8}
            await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["xyzusdt@kline_1m"],
                                          "id": 9}))
            err = await recv_until(ws, lambda m: m.get("id") == 9)
            assert err == {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 9}

    run(body())
    subs = [r.query for r in ws_requests(fake, "WS")]
    assert subs[0] == {"method": "SUBSCRIBE", "params": "btcusdt@kline_1m"}
    assert [q["method"] for q in subs] == ["SUBSCRIBE", "LIST_SUBSCRIPTIONS", "SUBSCRIBE"]


def test_fake_combined_stream_and_ws_drop_fault(fake: FakeBinance) -> None:
    async def body() -> None:
        url = fake.ws_url + "/stream?streams=ethusdt@kline_1m/solusdt@kline_1h"
        async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
            got = {(await recv(ws))["stream"] for _ in range(2)}
            assert got == {"ethusdt@kline_1m", "solusdt@kline_1h"}
            msg = await recv(ws)
            assert msg["data"]["s"] in ("ETHUSDT", "SOLUSDT") and msg["data"]["e"] == "kline"
            fake.inject("*", 500)  # REST faults are not the websocket's
            await asyncio.sleep(0.5)
            assert not ws.closed
            fake.inject("ws", "drop")
            for _ in range(50):
                if (await asyncio.wait_for(ws.receive(), 2)).type in (
                        aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    break
            else:
                raise AssertionError("the connection was not dropped")
        assert [f.endpoint for f in fake.faults.pending()] == ["*"]

    run(body())
    with pytest.raises(ParameterError, match="endpoint 'ws' takes fault 'drop' only, not 500"):
        fake.inject("ws", 500)


def test_fake_stops_promptly_right_after_a_clock_move() -> None:
    """A push woken by ``advance`` while the server stops must not keep it alive (a cancel
    swallowed by ``asyncio.wait_for`` hung ``stop()`` for 10 s)."""
    t0 = time.monotonic()
    for _ in range(40):
        with FakeBinance(speed=3600) as fake:
            fake.advance(MIN)
    assert time.monotonic() - t0 < 5


# ---------------------------------------------------------------------- building the feed
def test_pro_exchange_follows_redirected_rest_urls(fake: FakeBinance) -> None:
    import ccxt.async_support as ccxt_async

    async def body() -> None:
        ex = ccxt_async.binance({"timeout": 1234, "options": {"defaultType": "spot"}})
        plain = pro_exchange(ex)
        assert plain.urls["api"]["ws"]["spot"] == "wss://stream.binance.com:9443/ws"
        point_at(ex, fake.url)
        pro = pro_exchange(ex)
        assert pro.id == "binance" and pro.timeout == 1234
        assert pro.options["defaultType"] == "spot"
        assert pro.urls["api"]["ws"]["spot"] == fake.ws_url + "/ws"
        assert pro.urls["api"]["public"] == fake.url + "/api/v3"
        assert pro.apiKey in ("", None)  # public streams only: no credentials copied
        assert supports_watch_ohlcv(ex)
        feed = make_feed(ex, ["BTC/USDT"], "1m", websocket=True)
        assert isinstance(feed, WsFeed)
        await feed.close()
        assert type(make_feed(ex, ["BTC/USDT"], "1m", websocket=False)) is CcxtFeed
        no_pro = ccxt_async.btcbox()  # ccxt has no websocket class for it
        assert not supports_watch_ohlcv(no_pro) and pro_exchange(no_pro) is None
        assert type(make_feed(no_pro, ["BTC/JPY"], "1m")) is CcxtFeed
        for e in (ex, plain, pro, no_pro):
            await e.close()

    run(body())


# ---------------------------------------------------------------------- the feed
def test_ws_feed_returns_the_rest_feeds_bars_on_the_same_clock_path(fake: FakeBinance) -> None:
    symbols = ["BTC/USDT", "ETH/USDT"]

    async def body() -> None:
        rest_ex = fake.exchange()
        rest = CcxtFeed(rest_ex, symbols, "1m", max_backfill=20, poll_interval=0.05)
        await rest.start()
        try:
            async with ws_feed(fake, symbols, poll_interval=30) as ws:
                after_r = after_w = None
                for step in (0, MIN, 3 * MIN + 5_000, 30_000, 30_000, MIN):
                    fake.advance(step)
                    if step == 30_000 and fake.now_ms % MIN:  # mid-bar: nothing new to hand out
                        continue
                    a = await asyncio.wait_for(rest.next_bars(after_r), 5)
                    b = await asyncio.wait_for(ws.next_bars(after_w), 5)
                    assert a.times.tolist() == b.times.tolist()
                    np.testing.assert_array_equal(a.values, b.values)
                    assert b.times[-1] == last_closed(fake.now_ms)  # never the open candle
                    for j, sym in enumerate(("BTCUSDT", "ETHUSDT")):
                        ref = [reference_candle(sym, t, MIN)[1:6] for t in b.times]
                        np.testing.assert_array_equal(b.values[:, j, :], ref)
                    after_r, after_w = int(a.times[-1]), int(b.times[-1])
                assert after_w == last_closed(fake.now_ms)
                assert ws.stats.backfilled == rest.stats.backfilled == 19 + 3
        finally:
            await rest_ex.close()

    run(body())


def test_ws_wakes_the_feed_at_the_bar_close(fake: FakeBinance) -> None:
    async def body() -> None:
        async with ws_feed(fake, ["BTC/USDT", "SOL/USDT"], poll_interval=30) as feed:
            first = await feed.next_bars(None)
            after = int(first.times[-1])
            await until(lambda: feed.websocket_ok)
            polls = feed.stats.polls
            task = asyncio.ensure_future(feed.next_bars(after))
            await asyncio.sleep(0.6)  # open-candle pushes arrive; none closes a bar
            assert not task.done()
            fake.advance(40_000)  # the bar closes now
            t0 = time.monotonic()
            batch = await asyncio.wait_for(task, 5)
            woke = time.monotonic() - t0
            assert woke < 0.5, woke
            assert batch.times.tolist() == [after + MIN]
            assert feed.woken_by == "websocket" and feed.stats.ws_wakeups == 1
            assert feed.stats.poll_wakeups == 0
            assert feed.stats.polls - polls == 2  # one look before waiting, one after the wake
            assert feed.ws_closed_ms == after + MIN
            assert feed.stats.ws_errors == {} and feed.stats.ws_connects == 2

    run(body())
    subs = ws_requests(fake, "WS")
    assert sorted(r.query["params"] for r in subs) == ["btcusdt@kline_1m", "solusdt@kline_1m"]


def test_dropped_websocket_falls_back_to_polling_and_reconnects(fake: FakeBinance) -> None:
    errors: list[tuple[str, str]] = []

    async def body() -> None:
        async with ws_feed(fake, ["ETH/USDT"], poll_interval=0.1, reconnect_backoff=1.5,
                           on_error=lambda k, m: errors.append((k, m))) as feed:
            first = await feed.next_bars(None)
            after = int(first.times[-1])
            await until(lambda: feed.websocket_ok)
            fake.inject("ws", "drop")
            await until(lambda: not feed.websocket_ok)
            assert feed.stats.ws_errors == {"NetworkError": 1}
            # while it is down, bars still come, by polling
            task = asyncio.ensure_future(feed.next_bars(after))
            await asyncio.sleep(0.3)
            fake.advance(40_000)
            batch = await asyncio.wait_for(task, 3)
            assert batch.times.tolist() == [after + MIN] and feed.woken_by == "poll"
            assert not feed.websocket_ok
            # then it reconnects by itself and wakes the feed again
            await until(lambda: feed.websocket_ok, timeout=5)
            assert feed.stats.ws_connects == 2
            feed.poll_interval = 30.0
            task = asyncio.ensure_future(feed.next_bars(after + MIN))
            await asyncio.sleep(0.3)
            fake.advance(MIN)
            t0 = time.monotonic()
            batch = await asyncio.wait_for(task, 3)
            assert time.monotonic() - t0 < 0.5
            assert batch.times.tolist() == [after + 2 * MIN] and feed.woken_by == "websocket"

    run(body())
    assert [k for k, _ in errors] == ["websocket NetworkError"]
    assert errors[0][1].startswith("watch_ohlcv ETH/USDT: Connection closed")
    assert errors[0][1].endswith("; polling, retry in 1.5s")
    assert len(ws_requests(fake, "GET")) == 2  # two websocket connections


def test_exchange_without_watch_ohlcv_still_delivers_by_polling(fake: FakeBinance) -> None:
    errors: list[tuple[str, str]] = []

    async def body() -> None:
        pro = fake.exchange(pro=True)
        pro.has["watchOHLCV"] = False
        async with ws_feed(fake, ["BTC/USDT"], ws_exchange=pro, poll_interval=0.1,
                           on_error=lambda k, m: errors.append((k, m))) as feed:
            first = await feed.next_bars(None)
            after = int(first.times[-1])
            task = asyncio.ensure_future(feed.next_bars(after))
            await asyncio.sleep(0.2)
            fake.advance(MIN)
            batch = await asyncio.wait_for(task, 3)
            assert batch.times.tolist() == [after + MIN] and feed.woken_by == "poll"
            assert not feed.websocket_ok
            assert feed.stats.ws_errors == {"NotSupported": 1}

    run(body())
    assert errors == [("websocket NotSupported", "binance has no websocket watchOHLCV; polling")]
    assert ws_requests(fake, "GET") == []  # no websocket was opened


def test_refused_websocket_url_still_delivers_by_polling(fake: FakeBinance) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]

    async def body() -> None:
        pro = fake.exchange(pro=True)
        pro.urls["api"]["ws"]["spot"] = f"ws://127.0.0.1:{dead}/ws"
        async with ws_feed(fake, ["BTC/USDT"], ws_exchange=pro, poll_interval=0.1,
                           reconnect_backoff=0.2) as feed:
            first = await feed.next_bars(None)
            after = int(first.times[-1])
            fake.advance(2 * MIN)
            batch = await asyncio.wait_for(feed.next_bars(after), 3)
            assert batch.times.tolist() == [after + MIN, after + 2 * MIN]
            await until(lambda: feed.stats.ws_errors.get("NetworkError", 0) >= 2)
            assert not feed.websocket_ok and feed.stats.ws_connects == 0

    run(body())


def test_a_final_kline_marks_its_bar_closed_before_the_next_candle(fake: FakeBinance) -> None:
    """Binance's ``"x": true`` alone (no later candle yet) is a close: ccxt drops the flag from
    the candle, the feed reads it from the event."""
    bar = START // MIN * MIN

    async def body() -> None:
        async with ws_feed(fake, ["BTC/USDT"], poll_interval=30) as feed:
            await until(lambda: feed.websocket_ok)
            assert feed.ws_closed_ms is None
            client = next(iter(feed.ws_exchange.clients.values()))
            final = {"e": "kline", "E": bar + MIN, "s": "BTCUSDT",
                     "k": {"t": bar, "T": bar + MIN - 1, "s": "BTCUSDT", "i": "1m", "f": 0,
                           "L": 0, "o": "1", "c": "2", "h": "2", "l": "1", "v": "3", "n": 1,
                           "x": True, "q": "6", "V": "1", "Q": "2", "B": "0"}}
            feed.ws_exchange.handle_message(client, final)
            assert feed.ws_closed_ms == bar
            not_final = {**final, "k": {**final["k"], "t": bar + MIN, "x": False}}
            feed.ws_exchange.handle_message(client, {**not_final, "k": {**not_final["k"],
                                                                       "i": "5m", "x": True}})
            assert feed.ws_closed_ms == bar  # another timeframe's final candle is not ours

    run(body())
