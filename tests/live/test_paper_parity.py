"""Paper mode on the exchange's live bars trades exactly like a backtest of the same bars.

``quantlab live --mode paper`` polls the local fake Binance for closed 1-minute candles and
fills on paper through the simulator's one-bar step; a backtest of the very candles it saw (the
fake's candles are a deterministic function of their open time), trading from the first bar
the runner acted on, must give the same fills.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import quantlab as ql
from quantlab.live.fake_exchange import T0, FakeBinance, SyntheticCandles, synthetic_candle
from quantlab.live.session import run_live
from quantlab.live.store import LiveStore
from quantlab.promote.artifact import load_promoted
from tests.live.helpers import backtest_fills, live_config, promote_flip, store_fills

MIN = 60_000


def test_paper_on_live_bars_equals_backtest_of_those_bars(tmp_path):
    fake = FakeBinance(SyntheticCandles("1m"), now_ms=T0 + 300 * MIN + 5_000, speed=300).start()
    try:
        root = tmp_path / "strategies"
        promote_flip(root, period=3, options={"fees_bps": 10.0, "slippage_bps": 5.0})
        conf = live_config(tmp_path / "live.toml", fake.url)
        state = tmp_path / "paper.sqlite"
        run = run_live("flip", mode="paper", config=conf, root=root, state=state, max_bars=20,
                       env={})
    finally:
        fake.stop()
    assert run.bars == 20
    with LiveStore.open(state) as st:
        decided = [r.payload["bar"] for r in st.audit.records() if r.kind == "decision"]
        window = st.get_meta("identity")
    assert window["mode"] == "paper"
    first = pd.Timestamp(decided[0])
    last = pd.Timestamp(decided[-1])
    first_ms = first.value // 1_000_000
    times = range(first_ms - 10 * MIN, last.value // 1_000_000 + 1, MIN)  # window = 10
    rows = [synthetic_candle("BTCUSDT", t, MIN) for t in times]
    bars = pd.DataFrame([r[1:] for r in rows], columns=["open", "high", "low", "close", "volume"],
                        index=pd.DatetimeIndex(pd.to_datetime([r[0] for r in rows], unit="ms",
                                                              utc=True), name="time"))
    strategy = load_promoted("flip", root=root).strategy
    res = ql.backtest(strategy, bars, start=first, fees_bps=10.0, slippage_bps=5.0)
    live, bt = store_fills(state), backtest_fills(res)
    assert len(bt) >= 4
    assert list(live["ts_ms"]) == list(bt["ts_ms"])
    assert list(live["side"]) == list(bt["side"])
    np.testing.assert_array_equal(live["price"].to_numpy(), bt["price"].to_numpy())
    np.testing.assert_allclose(live["amount"].to_numpy(), bt["amount"].to_numpy(), rtol=1e-12)
    assert run.equity == float(res.equity.iloc[-1])
