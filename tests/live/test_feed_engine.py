"""The runner's feed from the data engine's bar store (:class:`EngineFeed`).

The first tests write a bar store with the engine's own writer
(:class:`~quantlab.serve.engine_store.BarStore`) and read it back. The last two run
``quantlab data-engine`` as a real subprocess against the local fake Binance (real ccxt and
ccxt.pro) and a real paper runner (``run_live`` with ``[runner] feed = "engine:PATH"``) on its
bar store: the runner's fills equal a backtest of the very bars served; after the engine stops
or is killed, the feed's staleness grows.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import quantlab as ql
from quantlab.errors import DataError, ParameterError
from quantlab.live.fake_exchange import T0, FakeBinance, SyntheticCandles, synthetic_candle
from quantlab.live.feed_engine import EngineFeed, engine_feed_path
from quantlab.live.session import run_live
from quantlab.live.store import LiveStore
from quantlab.promote.artifact import load_promoted
from quantlab.serve.engine_store import BarStore, Heartbeat, ServedBar
from tests.live.helpers import backtest_fills, live_config, promote_flip, store_fills

MIN = 60_000
SRC = Path(__file__).resolve().parents[2] / "src"
SYMS = ["BTC/USDT", "ETH/USDT"]


def candle(symbol: str, t: int) -> tuple[float, ...]:
    return tuple(synthetic_candle(symbol.replace("/", ""), t, MIN)[1:])


def store_with_bars(path: Path, n: int = 12, missing: tuple[str, int] | None = None) -> BarStore:
    """A bar store with ``n`` one-minute bars of both symbols (``missing``: one symbol absent
    at one bar index), served by "binance" 1.5 s after each close."""
    store = BarStore.open(path, group="t", symbols=SYMS, timeframe="1m")
    for i in range(n):
        t = T0 + i * MIN
        bars = [ServedBar(s, t, candle(s, t), "binance") for s in SYMS if (s, i) != missing]
        store.serve(bars, served_ms=t + MIN + 1_500)
    return store


def beat(store: BarStore, exchange_ms: int, *, state: str = "serving", pid: int | None = None,
         age_s: float = 0.0, rate: float = 1.0) -> None:
    store.beat(Heartbeat(pid=os.getpid() if pid is None else pid,
                         wall_ms=int((time.time() - age_s) * 1000), exchange_ms=exchange_ms,
                         clock_rate=rate, source="binance", path="binance/ws", state=state,
                         started_ms=0))


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# ---------------------------------------------------------------------- reading the store
def test_history_and_next_bars_read_what_the_engine_served(tmp_path: Path) -> None:
    path = tmp_path / "bars.sqlite"
    store = store_with_bars(path, missing=("ETH/USDT", 10))
    beat(store, T0 + 12 * MIN + 2_000)
    times = [T0 + i * MIN for i in range(12)]

    async def body() -> None:
        feed = EngineFeed(path, ["ETH/USDT", "BTC/USDT"], "1m", poll_interval=0.02)
        await feed.start()
        hist = await feed.history(5)
        assert hist.times.tolist() == times[-5:]
        assert hist.values[-1, 0].tolist() == list(candle("ETH/USDT", times[-1]))
        assert hist.values[-1, 1].tolist() == list(candle("BTC/USDT", times[-1]))
        assert np.isnan(hist.values[-2, 0]).all()  # ETH not served at bar 10
        assert hist.values[-2, 1].tolist() == list(candle("BTC/USDT", times[-2]))
        assert (await feed.history(3, before_ms=times[6])).times.tolist() == times[4:7]
        newest = await feed.next_bars(None)
        assert newest.times.tolist() == [times[-1]]
        assert (await feed.next_bars(times[8])).times.tolist() == times[9:]
        assert feed.latency_s == 1.5 and feed.source == "binance"
        assert feed.staleness_bars == 0.0 and feed.engine_alive
        # waiting: a bar served later arrives; a stop ends the wait
        t12 = T0 + 12 * MIN

        async def later() -> None:
            await asyncio.sleep(0.2)
            store.serve([ServedBar(s, t12, candle(s, t12), "okx") for s in SYMS], t12 + MIN)

        writer = asyncio.ensure_future(later())
        got = await asyncio.wait_for(feed.next_bars(times[-1]), 5)
        await writer
        assert got.times.tolist() == [t12] and feed.source == "okx"
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.1, stop.set)
        assert await asyncio.wait_for(feed.next_bars(t12, stop), 5) is None
        capped = EngineFeed(path, SYMS, "1m", max_backfill=2)
        await capped.start()
        assert (await capped.next_bars(times[3])).times.tolist() == [times[-1], t12]
        await capped.close()
        await feed.close()

    run(body())
    store.close()


def test_staleness_from_the_heartbeat_grows_once_the_engine_is_dead(tmp_path: Path) -> None:
    path = tmp_path / "bars.sqlite"
    store = store_with_bars(path)  # newest bar opens at T0 + 11 min
    head = T0 + 11 * MIN

    async def body() -> None:
        feed = EngineFeed(path, SYMS, "1m", poll_interval=0.02)
        await feed.start()
        assert feed.staleness_bars == 0.0  # no heartbeat yet
        beat(store, head + 2 * MIN + 10_000)  # one more bar has closed and is not served
        await feed.history(1)
        assert feed.engine_alive and feed.staleness_bars == 1.0
        assert feed.heartbeat["path"] == "binance/ws"
        # stopped cleanly: dead at once; the clock runs on at the heartbeat's rate
        beat(store, head + MIN + 10_000, state="stopped", rate=600.0)
        await feed.history(1)
        assert not feed.engine_alive
        first = feed.staleness_bars
        time.sleep(0.3)  # 0.3 s at 600x: 3 minutes
        assert feed.staleness_bars >= first + 2.5
        # a heartbeat older than dead_after_s, or of a process that no longer exists
        beat(store, head + MIN + 50_000, age_s=30.0)  # 30 s later, the next bar has closed
        await feed.history(1)
        assert not feed.engine_alive and feed.staleness_bars == 1.0
        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
        beat(store, head + MIN + 10_000, pid=int(gone.stdout))
        await feed.history(1)
        assert not feed.engine_alive
        beat(store, head + MIN + 10_000)
        await feed.history(1)
        assert feed.engine_alive and feed.staleness_bars == 0.0
        await feed.close()

    run(body())
    store.close()


def test_refuses_another_timeframe_a_missing_symbol_or_no_store(tmp_path: Path) -> None:
    path = tmp_path / "bars.sqlite"
    store_with_bars(path, n=1).close()
    (tmp_path / "other.sqlite").write_bytes(b"not sqlite at all, just bytes" * 10)

    async def fails(feed: EngineFeed, message: str) -> None:
        with pytest.raises(DataError) as info:
            await feed.start()
        assert message in str(info.value)

    run(fails(EngineFeed(path, SYMS, "1h"), "serves 1m bars, not 1h"))
    run(fails(EngineFeed(path, ["SOL/USDT"], "1m"),
              "does not serve SOL/USDT (group 't' serves BTC/USDT, ETH/USDT)"))
    run(fails(EngineFeed(tmp_path / "none.sqlite", SYMS, "1m", start_timeout_s=0.2,
                         poll_interval=0.05),
              "no data engine bar store at"))
    run(fails(EngineFeed(tmp_path / "other.sqlite", SYMS, "1m"), "is not a data engine bar store"))
    assert engine_feed_path("engine:state/bars-spot.sqlite") == Path("state/bars-spot.sqlite")
    with pytest.raises(ParameterError, match="does not name a data engine bar store"):
        engine_feed_path("exchange")


# ---------------------------------------------------------------------- with the real engine
def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    return env


class Engine:
    """``quantlab data-engine`` as a subprocess; its stderr lines collected by a thread."""

    def __init__(self, tmp: Path, url: str, **engine: Any) -> None:
        self.store = tmp / "bars.sqlite"
        keys = {"group": "paper", "symbols": ["BTC/USDT"], "timeframe": "1m",
                "store": str(self.store), "backfill_bars": 30, "poll_interval_s": 0.05,
                "heartbeat_s": 0.2, "stall_s": 5.0, "stale_s": 5.0, "port": 0} | engine
        config = tmp / "engine.toml"
        config.write_text("[engine]\n" + "".join(f"{k} = {json.dumps(v)}\n"
                                                 for k, v in keys.items())
                          + f'[[source]]\nname = "binance"\nurl = "{url}"\n'
                          "rate_limit_ms = 0\ntimeout_ms = 2000\n")
        self.proc = subprocess.Popen([sys.executable, "-m", "quantlab", "data-engine",
                                      "--config", str(config)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=_env())
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:  # type: ignore[union-attr]
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, prefix: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.seen.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no {prefix!r} line; stderr so far: {self.seen}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def test_paper_runner_on_the_engine_trades_like_a_backtest_of_the_served_bars(
        tmp_path: Path) -> None:
    fake = FakeBinance(SyntheticCandles("1m"), now_ms=T0 + 300 * MIN + 5_000, speed=300).start()
    engine = Engine(tmp_path, fake.url)
    try:
        url = engine.wait_for("data engine metrics on ").split()[-1]
        assert url.startswith("http://127.0.0.1:")
        root = tmp_path / "strategies"
        promote_flip(root, period=3, options={"fees_bps": 10.0, "slippage_bps": 5.0})
        conf = live_config(tmp_path / "live.toml", "http://127.0.0.1:9",  # never asked
                           runner={"feed": f"engine:{engine.store}"})
        state = tmp_path / "paper.sqlite"
        run_ = run_live("flip", mode="paper", config=conf, root=root, state=state,
                        max_bars=20, env={})
        with urllib.request.urlopen(url + "/health", timeout=5) as resp:
            health = json.loads(resp.read())
        with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
            metrics = resp.read().decode()
        engine.proc.send_signal(signal.SIGTERM)
        assert engine.proc.wait(20) == 0
    finally:
        engine.stop()
        fake.stop()
    assert health == {"status": "healthy", "reasons": []}
    assert 'quantlab_data_active_source{group="paper",source="binance"} 1.0' in metrics
    assert run_.bars == 20
    with BarStore.open(engine.store, group="paper", symbols=["BTC/USDT"], timeframe="1m") as st:
        served = st.bars()
        assert st.heartbeat().state == "stopped"
        kinds = [r.kind for r in st.audit.records()]
    assert kinds[0] == "start" and kinds[-1] == "stop" and "failover" not in kinds
    # every served bar is the exchange's candle, from the primary
    assert set(served["source"]) == {"binance"}
    for row in served.itertuples():
        assert (row.open, row.high, row.low, row.close, row.volume) == candle(row.symbol,
                                                                              row.open_ms)
    with LiveStore.open(state) as st:
        decided = [pd.Timestamp(r.payload["bar"]) for r in st.audit.records()
                   if r.kind == "decision"]
    decided_ms = [t.value // 1_000_000 for t in decided]
    assert set(decided_ms) <= set(served["open_ms"])
    # a backtest of the served bars (window 10 before the first decision) gives the same fills
    bars = served.set_index(pd.to_datetime(served["open_ms"], unit="ms", utc=True))
    bars = bars.loc[:decided[-1], ["open", "high", "low", "close", "volume"]]
    bars.index.name = "time"
    bars = bars.loc[decided[0] - pd.Timedelta(minutes=10):]
    res = ql.backtest(load_promoted("flip", root=root).strategy, bars, start=decided[0],
                      fees_bps=10.0, slippage_bps=5.0)
    live, bt = store_fills(state), backtest_fills(res)
    assert len(bt) >= 4
    assert list(live["ts_ms"]) == list(bt["ts_ms"])
    assert list(live["side"]) == list(bt["side"])
    np.testing.assert_array_equal(live["price"].to_numpy(), bt["price"].to_numpy())
    np.testing.assert_allclose(live["amount"].to_numpy(), bt["amount"].to_numpy(), rtol=1e-12)
    assert run_.equity == float(res.equity.iloc[-1])
    # the engine has stopped: the feed says so and its staleness grows (clock 300x wall)
    feed = EngineFeed(engine.store, ["BTC/USDT"], "1m")

    async def stale() -> tuple[float, float, bool]:
        await feed.start()
        first = feed.staleness_bars
        await asyncio.sleep(0.5)
        second = feed.staleness_bars
        alive = feed.engine_alive
        await feed.close()
        return first, second, alive

    first, second, alive = run(stale())
    assert not alive and second >= first + 2


def test_a_killed_engine_makes_the_feed_stale(tmp_path: Path) -> None:
    fake = FakeBinance(SyntheticCandles("1m"), now_ms=T0 + 300 * MIN + 5_000, speed=120).start()
    engine = Engine(tmp_path, fake.url, port="off")
    feed = EngineFeed(engine.store, ["BTC/USDT"], "1m", poll_interval=0.02)

    async def body() -> tuple[list[float], list[float], bool, bool]:
        await feed.start()
        batch = await asyncio.wait_for(feed.next_bars(None), 30)
        deadline = time.monotonic() + 20
        while feed.heartbeat["clock_rate"] < 60:  # the engine has measured the fake's speed
            assert time.monotonic() < deadline, feed.heartbeat
            batch = await asyncio.wait_for(feed.next_bars(int(batch.times[-1])), 10)
        alive_before = feed.engine_alive
        before = [feed.staleness_bars]
        engine.proc.kill()  # SIGKILL: no "stopped" heartbeat
        engine.proc.wait(10)
        after = []
        for _ in range(3):
            await asyncio.sleep(0.5)  # 0.5 s at 120x: one bar
            after.append(feed.staleness_bars)
        alive_after = feed.engine_alive
        await feed.close()
        return before, after, alive_before, alive_after

    try:
        before, after, alive_before, alive_after = run(body())
    finally:
        engine.stop()
        fake.stop()
    assert alive_before and before[0] <= 1.0
    assert not alive_after
    assert after[0] < after[1] < after[2] and after[2] >= before[0] + 1.0
