"""Parameter sweeps (backtesting/sweep.py): equal to single backtests, batching, constraints, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantlab.backtesting import STAT_NAMES, backtest, sweep
from quantlab.errors import ParameterError
from quantlab.strategies import get_strategy


def test_sweep_matches_single_backtests(btc: pd.DataFrame) -> None:
    sw = sweep("sma_cross", btc, fast=[5, 10, 20], slow=[20, 50], fees_bps=10, progress=False)
    assert len(sw.table) == 5 and sw.rejected == 1        # (20, 20) is not fast < slow
    for fast, slow in [(10, 50), (5, 20)]:
        single = backtest("sma_cross", btc, params={"fast": fast, "slow": slow}).stats()
        row = sw.table.loc[(fast, slow)]
        for name in STAT_NAMES:
            assert row[name] == pytest.approx(float(single[name]), rel=1e-9, nan_ok=True), name
    best = sw.best("sharpe")
    assert best["sharpe"] == sw.table["sharpe"].max()
    assert sw.best("max_drawdown")["max_drawdown"] == sw.table["max_drawdown"].min()
    fig = sw.heatmap("fast", "slow", "sharpe")
    assert fig.data[0].z.shape == (2, 3)

def test_batch_signals_equal_per_run_signals(btc: pd.DataFrame) -> None:
    cls = get_strategy("sma_cross")
    runs = [cls(fast=f, slow=s) for f, s in [(2, 3), (5, 40), (17, 18), (30, 200), (99, 100)]]
    batch = cls.batch_signals(btc, runs)
    for i, run in enumerate(runs):
        one = run.signals(btc)
        np.testing.assert_array_equal(batch.entries.iloc[:, i].to_numpy(), one.entries.to_numpy())
        np.testing.assert_array_equal(batch.exits.iloc[:, i].to_numpy(), one.exits.to_numpy())

def test_sweep_panel_weights_and_constraint(panel: pd.DataFrame) -> None:
    sw = sweep("momentum_rotation", panel, lookback=[30, 90], top_k=[1, 2],
               constraint=lambda p: p["lookback"] > 30 or p["top_k"] == 1, progress=False)
    assert len(sw.table) == 3 and sw.rejected == 1
    single = backtest("momentum_rotation", panel, params={"lookback": 90, "top_k": 2}).stats()
    assert sw.table.loc[(90, 2), "total_return"] == pytest.approx(single["total_return"], rel=1e-9)

def test_sweep_errors(btc: pd.DataFrame) -> None:
    with pytest.raises(ParameterError, match="no parameter 'fats'"):
        sweep("sma_cross", btc, fats=range(2, 5))
    with pytest.raises(ParameterError, match="no valid parameter combination"):
        sweep("sma_cross", btc, fast=[50], slow=[10])
    sw = sweep("sma_cross", btc, fast=[5], slow=[20], progress=False)
    with pytest.raises(ParameterError, match="unknown metric"):
        sw.best("sharp")

def test_vol_target_overlay_sweep_uses_its_sizes(btc: pd.DataFrame) -> None:
    # The overlay subclasses sma_cross but must not inherit its batched fast path (no sizes).
    sw = sweep("sma_cross+vol_target", btc, fast=[10], slow=[50], target_vol=[0.2], progress=False)
    single = backtest("sma_cross+vol_target", btc,
                      params={"fast": 10, "slow": 50, "target_vol": 0.2}).stats()
    plain = backtest("sma_cross", btc, params={"fast": 10, "slow": 50}).stats()
    row = sw.table.iloc[0]
    assert row["total_return"] == pytest.approx(single["total_return"], rel=1e-9)
    assert row["volatility"] < plain["volatility"]


def test_sweep_result_protocol(btc: pd.DataFrame) -> None:
    sw = sweep("sma_cross", btc, fast=[5, 10, 20], slow=[20, 50], progress=False)
    s = sw.stats()
    best = sw.best("sharpe")
    assert (s["combinations"], s["rejected"]) == (5, 1)
    assert s["best_sharpe"] == best["sharpe"] and (s["best_fast"], s["best_slow"]) == (best["fast"], best["slow"])
    assert s["share_positive_return"] == pytest.approx((sw.table["total_return"] > 0).mean())
    assert sw.summary().equals(sw.best("sharpe", n=10))
    shown = sw.summary(formatted=True)
    assert shown.shape == sw.summary().shape and shown["total_return"].str.endswith("%").all()
    assert list(sw.describe().index) == list(STAT_NAMES)
    fig = sw.plot("total_return")
    assert fig.data[0].type == "heatmap" and fig.data[0].z.shape == (2, 3)
    assert repr(sw).startswith("Sweep of sma_cross on asset: 5 combinations (1 skipped)")
