"""The data engine against real ccxt / ccxt.pro and local fake exchanges.

Two :class:`~quantlab.live.fake_exchange.FakeBinance` servers play the primary ("binance")
and the secondary exchange ("okx" — a second fake Binance under another URL; a real okx
source goes through the same ccxt code with another id). Their clocks stand still unless the
test advances both, so bar closes happen exactly when the test says. Faults: the fakes' own
(``inject("ws", "drop")``, ``inject("klines", 500)``, ``bad`` candles); a *silent* websocket is
a small aiohttp server here that accepts the subscription and then sends nothing. Every served
bar is compared with the fakes' candles (:func:`synthetic_candle`, a pure function of time).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from quantlab.errors import DataError, ParameterError
from quantlab.live.audit import verify_audit
from quantlab.live.fake_exchange import T0, FakeBinance, synthetic_candle
from quantlab.serve.engine import DataEngine
from quantlab.serve.engine_checks import check_new_bars
from quantlab.serve.engine_config import EngineConfig
from quantlab.serve.engine_http import EngineServer
from quantlab.serve.engine_ladder import Ladder

MIN = 60_000
START = T0 + 2_500 * 3_600_000 + 30 * MIN + 20_000  # 20 s into a minute
SYMBOLS = ["BTC/USDT", "ETH/USDT"]
ROOT = Path(__file__).resolve().parents[2]


def closed(now_ms: int) -> int:
    return now_ms // MIN * MIN - MIN


def write_config(tmp: Path, primary: str, secondary: str, *, ws_url: str | None = None,
                 **engine: Any) -> Path:
    keys = {"group": "t", "symbols": SYMBOLS, "timeframe": "1m",
            "store": str(tmp / "bars.sqlite"), "backfill_bars": 5, "poll_interval_s": 0.05,
            "stall_s": 1.5, "stale_s": 1.0, "recover_s": 0.5, "probe_interval_s": 0.15,
            "heartbeat_s": 0.2, "max_retries": 1, "retry_backoff_s": 0.02,
            "reconnect_backoff_s": 0.1, "max_reconnect_backoff_s": 0.3, "port": "off"} | engine
    lines = ["[engine]"] + [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    for name, url in (("binance", primary), ("okx", secondary)):
        lines += ["", "[[source]]", f'name = "{name}"', 'exchange = "binance"', f'url = "{url}"',
                  "rate_limit_ms = 0", "timeout_ms = 2000"]
        if name == "binance" and ws_url:
            lines.append(f'ws_url = "{ws_url}"')
    path = tmp / "engine.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def fakes() -> Any:
    a = FakeBinance(now_ms=START).start()
    b = FakeBinance(now_ms=START).start()
    yield a, b
    a.stop()
    b.stop()


async def until(cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout} s")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def running(config: Path) -> AsyncIterator[DataEngine]:
    engine = DataEngine(EngineConfig.load(config, env={}))
    task = asyncio.ensure_future(engine.run())
    try:
        await until(lambda: engine.head is not None or task.done(), what="first bars")
        if task.done():
            task.result()
        yield engine
    finally:
        engine.stop_event.set()
        await task


async def next_bar(engine: DataEngine, *fakes: FakeBinance) -> int:
    """Move every fake one minute on; wait until the engine served the bar that closed."""
    for f in fakes:
        f.advance(MIN)
    want = closed(fakes[0].now_ms)
    await until(lambda: engine.head is not None and engine.head >= want, what=f"bar {want}")
    return want


def assert_true_candles(engine: DataEngine) -> None:
    bars = engine.store.bars()
    assert len(bars)
    for row in bars.itertuples():
        ref = synthetic_candle(row.symbol.replace("/", ""), int(row.open_ms), MIN)
        assert [row.open, row.high, row.low, row.close, row.volume] == ref[1:], row


def sources_at(engine: DataEngine, *times: int) -> set[str]:
    bars = engine.store.bars()
    return set(bars[bars["open_ms"].isin(times)]["source"])


def first_payload(engine: DataEngine, kind: str) -> dict[str, Any]:
    return next(r.payload for r in engine.store.audit.records() if r.kind == kind)


def switches(engine: DataEngine) -> list[tuple[str, str, str]]:
    return [(r.kind, r.payload["from"], r.payload["to"]) for r in engine.store.audit.records()
            if r.kind in ("failover", "failback")]


# ---------------------------------------------------------------------- pure parts
def test_ladder_fails_over_in_order_and_recovers_after_recover_s() -> None:
    ladder = Ladder([("binance", True), ("okx", False)])
    assert [p.label for p in ladder.paths] == ["binance/ws", "binance/rest", "okx/rest"]
    health = {"binance/ws": None, "binance/rest": 5.0, "okx/rest": 9.0}
    sw = ladder.fail("ws dropped", lambda p: health[p.label])
    assert (sw.kind, sw.old.label, sw.new.label) == ("failover", "binance/ws", "binance/rest")
    health["binance/rest"] = None
    sw = ladder.fail("rest down", lambda p: health[p.label])
    assert (sw.kind, sw.new.label, sw.to_dict()["reason"]) == ("failover", "okx/rest", "rest down")
    assert ladder.fail("okx down too", lambda p: None) is None  # nothing better: stays
    health.update({"binance/ws": 0.3, "binance/rest": 0.3})
    assert ladder.recover(lambda p: health[p.label], recover_s=1.0) is None
    health.update({"binance/ws": 1.2, "binance/rest": 1.2})
    sw = ladder.recover(lambda p: health[p.label], recover_s=1.0)
    assert (sw.kind, sw.new.label, ladder.active) == ("failback", "binance/ws", 0)
    # no healthy later path: the next source anyway
    ladder2 = Ladder([("a", False), ("b", False)])
    assert ladder2.fail("down", lambda p: None).new.label == "b/rest"


def test_quality_checks_refuse_unclosed_and_inconsistent_candles() -> None:
    tail = np.array([[t, 100.0, 101.0, 99.0, 100.5, 5.0] for t in range(T0, T0 + 5 * MIN, MIN)])
    new = np.array([[T0 + 5 * MIN, 100.5, 102.0, 100.0, 101.0, 4.0],
                    [T0 + 6 * MIN, 101.0, 103.0, 100.5, 102.0, 0.0]])
    ok = check_new_bars("binance", "BTC/USDT", tail, new, timeframe="1m", now_ms=T0 + 7 * MIN)
    assert ok.rows.tolist() == new.tolist() and not ok.rejected
    assert ok.warnings == [(T0 + 6 * MIN, "zero_volume")]
    # the clock says the last candle has not closed: refused as partial
    early = check_new_bars("binance", "BTC/USDT", tail, new, timeframe="1m",
                           now_ms=T0 + 7 * MIN - 1)
    assert early.rows.tolist() == new[:1].tolist()
    assert [(r.open_ms, r.reason.split(":")[0]) for r in early.rejected] == [
        (T0 + 6 * MIN, "partial_candle")]
    bad = new.copy()
    bad[0, 2] = 99.0  # high below low
    out = check_new_bars("binance", "BTC/USDT", tail, bad, timeframe="1m", now_ms=T0 + 7 * MIN)
    assert [r.open_ms for r in out.rejected] == [T0 + 5 * MIN]
    assert "ohlc_inconsistent" in out.rejected[0].reason


def test_config_example_env_overrides_and_mistakes(tmp_path: Path) -> None:
    cfg = EngineConfig.load(ROOT / "engine.example.toml", env={
        "QUANTLAB_ENGINE_SYMBOLS": "btc/usdt, SOL-USDT", "QUANTLAB_ENGINE_PORT": "off",
        "QUANTLAB_SOURCE_OKX_URL": "http://127.0.0.1:9"})
    assert cfg.engine.symbols == ("BTC/USDT", "SOL/USDT")
    assert cfg.engine.port is None and cfg.engine.stale_s == 30.0
    assert cfg.engine.store_path == Path("state/bars-spot.sqlite")
    assert [(s.name, s.exchange, s.url) for s in cfg.sources] == [
        ("binance", "binance", None), ("okx", "okx", "http://127.0.0.1:9")]
    assert "QUANTLAB_SOURCE_OKX_URL" in cfg.source
    bad = tmp_path / "e.toml"
    cases = {
        '[engine]\nstal_s = 3\n[[source]]\nname = "binance"\n':
            "unknown key 'stal_s' (did you mean 'stall_s'?)",
        '[engine]\nstall_s = 0\n[[source]]\nname = "binance"\n': "stall_s=0",
        "[engine]\n": "no [[source]]",
        '[[source]]\nname = "binance"\n[[source]]\nname = "binance"\n': "named 'binance'",
        '[[source]]\nname = "nosuch"\n': "ccxt has no exchange 'nosuch'",
        '[engine]\nhost = "0.0.0.0"\n[[source]]\nname = "okx"\n': "loopback",
        '[[source]]\nname = "okx"\nws_url = "http://x"\n': "must start with ws:// or wss://",
    }
    for text, message in cases.items():
        bad.write_text(text)
        with pytest.raises(ParameterError, match=None) as info:
            EngineConfig.load(bad, env={})
        assert message in str(info.value), (text, str(info.value))
    with pytest.raises(DataError, match="does not exist"):
        EngineConfig.load(tmp_path / "missing.toml", env={})


# ---------------------------------------------------------------------- against the fakes
def test_serves_true_closed_bars_and_survives_a_websocket_drop(fakes, tmp_path: Path) -> None:
    a, b = fakes
    config = write_config(tmp_path, a.url, b.url)

    async def body() -> None:
        async with running(config) as engine:
            server = EngineServer(engine, port=0)
            url = await server.start()
            try:
                # the backfill: the 5 bars closed at start, both symbols, from the primary
                await until(lambda: engine.head == closed(START))
                assert sorted(set(engine.store.bars()["open_ms"])) == [
                    closed(START) - k * MIN for k in range(4, -1, -1)]
                for _ in range(2):
                    await next_bar(engine, a, b)
                assert engine.ladder.current.label == "binance/ws"
                a.inject("ws", "drop")
                await until(lambda: switches(engine), what="the failover")
                assert switches(engine)[0] == ("failover", "binance/ws", "binance/rest")
                reason = first_payload(engine, "failover")["reason"]
                assert "watch_ohlcv" in reason and "Connection closed" in reason
                for _ in range(2):  # bars keep flowing while the websocket reconnects
                    await next_bar(engine, a, b)
                await until(lambda: engine.ladder.current.label == "binance/ws",
                            what="the failback to the websocket")
                assert switches(engine)[-1] == ("failback", "binance/rest", "binance/ws")
                await next_bar(engine, a, b)
                async with aiohttp.ClientSession() as http:
                    async with http.get(url + "/metrics") as resp:
                        text = await resp.text()
                    async with http.get(url + "/health") as resp:
                        health = (resp.status, await resp.json())
                    async with http.get(url + "/status") as resp:
                        status = await resp.json()
            finally:
                await server.stop()
            bars = engine.store.bars()
            assert set(bars["source"]) == {"binance"}
            assert len(bars) == 2 * 10 and bars["open_ms"].max() == closed(a.now_ms)
            assert_true_candles(engine)
            assert 'quantlab_data_failovers_total{group="t"} 1.0' in text
            assert 'quantlab_data_failbacks_total{group="t"} 1.0' in text
            assert 'quantlab_data_served_bars_total{group="t",source="binance"} 20.0' in text
            assert 'quantlab_data_active_path{group="t",path="binance/ws"} 1.0' in text
            assert 'quantlab_data_source_up{group="t",source="okx"} 1.0' in text
            # latency of the 5 bars closed while the engine ran (not the backfill)
            assert 'quantlab_data_served_latency_seconds_count{group="t"} 5.0' in text
            assert engine.metrics.value("quantlab_data_source_uptime_seconds_total",
                                        source="binance") > 0
            assert health == (200, {"status": "healthy", "reasons": []})
            assert (status["state"], status["path"], status["staleness_bars"]) == (
                "serving", "binance/ws", 0.0)
            assert status["last_bar"] == "2024-04-14T04:34:00+00:00"  # closed(START) + 5 min
            assert [(x["name"], x["rest_up"]) for x in status["sources"]] == [
                ("binance", True), ("okx", True)]

    asyncio.run(body())
    assert verify_audit(tmp_path / "bars.sqlite").ok


@asynccontextmanager
async def silent_websocket() -> AsyncIterator[str]:
    """A websocket server that acknowledges subscriptions and then never sends a candle."""
    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(json.dumps({"result": None, "id": json.loads(msg.data)["id"]}))
        return ws

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.2)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"ws://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def test_silent_stall_then_rest_failure_fails_over_to_the_secondary_and_back(
        fakes, tmp_path: Path) -> None:
    a, b = fakes

    async def body() -> None:
        async with silent_websocket() as ws_url, \
                running(write_config(tmp_path, a.url, b.url, ws_url=ws_url)) as engine:
            # the websocket is connected but silent: after stall_s the primary is polled
            await until(lambda: switches(engine), what="the stall")
            assert switches(engine)[0] == ("failover", "binance/ws", "binance/rest")
            assert "websocket stalled" in first_payload(engine, "failover")["reason"]
            first = await next_bar(engine, a, b)
            assert sources_at(engine, first) == {"binance"}
            # the primary's REST fails too: the secondary serves
            a.inject("klines", 500, times=100_000)
            t1 = await next_bar(engine, a, b)
            t2 = await next_bar(engine, a, b)
            assert ("failover", "binance/rest", "okx/ws") in switches(engine)
            assert sources_at(engine, t1, t2) == {"okx"}
            assert engine.metrics.value("quantlab_data_failovers_total") == 2
            assert engine.status()["state"] == "degraded"
            assert engine.health()[0] == "degraded"
            # the primary answers again: back to it once healthy for recover_s (its websocket
            # is still silent, so to REST polling)
            a.faults.clear()
            await until(lambda: engine.ladder.current.name == "binance", what="the failback")
            assert switches(engine)[-1] == ("failback", "okx/ws", "binance/rest")
            t3 = await next_bar(engine, a, b)
            assert sources_at(engine, t3) == {"binance"}
            assert engine.metrics.value("quantlab_data_failbacks_total") == 1
            assert_true_candles(engine)

    asyncio.run(body())


def test_a_bad_bar_is_never_served_and_comes_from_the_secondary(fakes, tmp_path: Path) -> None:
    a, b = fakes
    t_bad = closed(START) + MIN
    a.bad[t_bad] = "high_lt_low"

    async def body() -> None:
        async with running(write_config(tmp_path, a.url, b.url)) as engine:
            assert await next_bar(engine, a, b) == t_bad
            bars = engine.store.bars()
            at_bad = bars[bars["open_ms"] == t_bad]
            assert list(at_bad["symbol"]) == SYMBOLS and set(at_bad["source"]) == {"okx"}
            rejected = [r.payload for r in engine.store.audit.records() if r.kind == "rejected"]
            assert [(p["source"], p["symbol"]) for p in rejected] == [
                ("binance", "BTC/USDT"), ("binance", "ETH/USDT")]
            assert all("high" in p["reason"] and "low" in p["reason"] for p in rejected)
            assert engine.metrics.value("quantlab_data_rejected_bars_total",
                                        source="binance") == 2
            after = await next_bar(engine, a, b)
            assert sources_at(engine, after) == {"binance"}
            assert switches(engine) == []
            # bad on both exchanges: never served; given up after stale_s, then bars go on
            t_both = after + MIN
            a.bad[t_both] = b.bad[t_both] = "negative_close"
            for f in (a, b):
                f.advance(MIN)
            await until(lambda: any(r.kind == "gap" for r in engine.store.audit.records()),
                        what="the gap")
            t_next = await next_bar(engine, a, b)
            assert t_next == t_both + MIN
            assert t_both not in set(engine.store.bars()["open_ms"])
            gap = first_payload(engine, "gap")
            assert gap["missing"] == {s: "refused by validation" for s in SYMBOLS}
            assert switches(engine) == []
            assert_true_candles(engine)

    asyncio.run(body())


def test_primary_unreachable_at_start_then_no_source_at_all(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    b = FakeBinance(now_ms=START).start()
    stopped = False

    async def body() -> None:
        nonlocal stopped
        async with running(write_config(tmp_path, dead, b.url)) as engine:
            assert engine.ladder.current.name == "okx"
            assert switches(engine)[0][:2] == ("failover", "binance/ws")
            assert "load_markets" in first_payload(engine, "failover")["reason"]
            assert sources_at(engine, closed(START)) == {"okx"}
            assert engine.metrics.value("quantlab_data_source_up", source="binance") == 0
            b.stop()
            stopped = True
            await until(lambda: engine.state() == "down", what="down")
            state, reasons = engine.health()
            assert state == "critical" and "okx" in reasons[0] and "binance" in reasons[0]
            await until(lambda: engine.store.heartbeat().state == "down", what="heartbeat")

    try:
        asyncio.run(body())
    finally:
        if not stopped:
            b.stop()
