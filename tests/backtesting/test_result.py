"""BacktestResult (backtesting/result.py): statistics, the result protocol and its chart."""

from __future__ import annotations

import numpy as np
import pandas as pd

import quantlab
from quantlab.backtesting import STAT_NAMES


def test_result_surfaces(btc: pd.DataFrame) -> None:
    res = quantlab.backtest("sma_cross", btc)
    d = res.to_dict()
    for name in STAT_NAMES:
        assert name in d
    assert d["params"] == {"fast": 10, "slow": 50}
    assert "<table" in res._repr_html_()
    fig = res.plot()
    assert len(fig.data) >= 4


def test_result_protocol_and_chart_traces(btc: pd.DataFrame) -> None:
    res = quantlab.backtest("sma_cross", btc, params={"fast": 10, "slow": 50})
    stats = res.stats()
    raw = res.summary()
    shown = res.summary(formatted=True)
    assert list(raw.index) == list(stats.index) and raw["value"]["sharpe"] == stats["sharpe"]
    assert shown.shape == raw.shape and shown["value"]["total_return"].endswith("%")
    assert shown["value"]["total_return"] == f"{stats['total_return']:.2%}"
    assert repr(res).startswith("SmaCross(fast=10, slow=50) on asset\n")
    fig = res.plot()
    names = [t.name for t in fig.data]
    assert names == ["asset", "buy", "sell", "strategy", "buy & hold", "drawdown"]
    # buy markers sit at the fill prices; the equity trace is the equity curve
    buys = res.orders[res.orders["side"] == "buy"]
    np.testing.assert_allclose(fig.data[1].y, buys["price"].to_numpy())
    np.testing.assert_allclose(fig.data[3].y, res.equity.to_numpy())
    np.testing.assert_allclose(fig.data[5].y, -res.drawdown.to_numpy())
    assert fig.layout.title.text == res.title()
