"""Weights-drift figure: stacked weights, rebalance markers, target boundaries, equity panel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from quantlab.charts.portfolio import weights_drift_figure
from quantlab.portfolio.rebalance_backtest import backtest_rebalancing


def _result():
    idx = pd.date_range("2024-01-01", "2024-04-30", freq="D", tz="UTC", name="time")
    rng = np.random.default_rng(0)
    prices = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, 0.02, (len(idx), 3)), axis=0)),
                          index=idx, columns=["A", "B", "C"])
    return backtest_rebalancing(prices, "monthly", target={"A": 0.5, "B": 0.3, "C": 0.2})


def test_figure_from_result():
    res = _result()
    fig = res.plot()
    assert isinstance(fig, go.Figure)
    stacked = [t for t in fig.data if getattr(t, "stackgroup", None) == "weights"]
    assert [t.name for t in stacked] == ["A", "B", "C"]
    assert len(stacked[0].x) == len(res.weights)
    reb = [t for t in fig.data if t.name and t.name.startswith("rebalance")]
    assert len(reb) == 1 and reb[0].name == "rebalance (3)"
    assert sum(x is not None for x in reb[0].x) == 2 * 3
    targets = [t for t in fig.data if t.name == "target"]
    assert len(targets) == 2  # the n-1 inner boundaries of the stack
    assert targets[0].y[0] == 0.5 and targets[1].y[0] == 0.8
    eq = [t for t in fig.data if t.name == "equity"]
    assert len(eq) == 1 and eq[0].yaxis == "y2"
    assert "3 rebalances" in fig.layout.title.text
    fig.to_json()


def test_figure_weights_only():
    res = _result()
    fig = weights_drift_figure(res.weights, pd.DatetimeIndex([]))
    assert [t.name for t in fig.data] == ["A", "B", "C"]
    assert fig.layout.yaxis.tickformat == ".0%"
