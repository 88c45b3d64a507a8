"""Invariants on real data, metric formulas by hand, multi-asset runs and sweep consistency."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import quantlab
from quantlab.backtesting import STAT_NAMES, backtest, metrics, sweep
from quantlab.errors import ParameterError
from quantlab.strategies import get_strategy


def _check_accounting(res: quantlab.BacktestResult) -> None:
    # equity = cash + position value (units x close) at every bar
    value = (res.positions * res.prices.ffill().fillna(0.0)).sum(axis=1)
    np.testing.assert_allclose(res.equity.to_numpy(), (res.cash + value).to_numpy(), rtol=1e-9)
    # fees paid = sum of per-fill fees = fee rate x traded notional
    rate = res.options.fees_bps / 1e4
    np.testing.assert_allclose(res.orders["fee"].to_numpy(), res.orders["notional"].to_numpy() * rate,
                               rtol=1e-9)
    assert res.stats()["fees_paid"] == pytest.approx(res.orders["fee"].sum(), rel=1e-12)
    assert (res.cash >= -1e-6).all()


@pytest.mark.parametrize("options", [
    {},
    {"slippage_bps": 20, "fees_bps": 25},
    {"stop_loss": 0.08},
    {"trailing_stop": 0.15, "sizing": "risk_per_trade", "risk": 0.02},
    {"sizing": "vol_target", "target_vol": 0.3},
    {"direction": "long_short"},
])
def test_accounting_invariants_single(btc: pd.DataFrame, options: dict) -> None:
    res = backtest("sma_cross", btc, params={"fast": 10, "slow": 40}, symbol="BTC/USDT", **options)
    _check_accounting(res)
    stats = res.stats()
    assert list(stats.index[: len(STAT_NAMES)]) == list(STAT_NAMES)
    assert 0 <= stats["max_drawdown"] < 1
    assert 0 <= stats["exposure"] <= 1


def test_sma_cross_reference_run(btc: pd.DataFrame) -> None:
    # The demo's headline run, pinned: SMA(10, 50) on bundled BTC/USDT, next-open fills, 10 bps.
    res = backtest("sma_cross", btc, params={"fast": 10, "slow": 50})
    s = res.stats()
    assert s["trades"] == 25
    assert s["total_return"] == pytest.approx(9.3042, abs=1e-4)
    assert s["max_drawdown"] == pytest.approx(0.5415, abs=1e-4)
    # Buy-and-hold: last close / first close - 1 = 68347.36 / 7200.85 - 1
    assert s["benchmark_return"] == pytest.approx(68347.36 / 7200.85 - 1, rel=1e-12)
    # The first fill is on the bar after the first crossover, at that bar's open.
    first = res.orders.iloc[0]
    entries = res.signals.entries
    signal_bar = entries[entries].index[0]
    assert first["time"] == btc.index[btc.index.get_loc(signal_bar) + 1]
    assert first["price"] == btc.loc[first["time"], "open"]


def test_panel_sleeves_and_weights(panel: pd.DataFrame) -> None:
    res = backtest("sma_cross", panel, params={"fast": 10, "slow": 50})
    _check_accounting(res)
    assert res.symbols == ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT"]
    # No SOL fill before it was listed.
    sol = res.orders[res.orders["symbol"] == "SOL/USDT"]
    assert sol["time"].min() > pd.Timestamp("2020-08-11", tz="UTC")
    rot = backtest("momentum_rotation", panel, params={"lookback": 60, "top_k": 2, "rebalance": 7})
    _check_accounting(rot)
    weights = (rot.positions * rot.prices.ffill().fillna(0)).div(rot.equity, axis=0)
    assert weights.sum(axis=1).max() <= 1.0 + 1e-9
    assert (weights >= -1e-12).all().all()
    assert rot.stats()["trades"] > 0


def test_period_slicing_keeps_warmup(btc: pd.DataFrame) -> None:
    res = backtest("sma_cross", btc, params={"fast": 10, "slow": 50}, start="2023-01-01",
                   end="2023-12-31")
    assert res.equity.index[0] == pd.Timestamp("2023-01-01", tz="UTC")
    assert res.equity.index[-1] == pd.Timestamp("2023-12-31", tz="UTC")
    # Signals exist from the first traded bar: indicators were warmed up on 2022 data.
    full = backtest("sma_cross", btc, params={"fast": 10, "slow": 50})
    pd.testing.assert_series_equal(res.signals.entries, full.signals.entries.loc["2023"])


def test_metrics_by_hand() -> None:
    eq = np.array([100.0, 110.0, 99.0, 120.0])
    r = metrics.returns_from_equity(eq, 100.0)[:, 0]
    np.testing.assert_allclose(r, [0.0, 0.1, -0.1, 120 / 99 - 1])
    assert metrics.max_drawdown(eq) == pytest.approx(0.1)          # 110 -> 99
    assert metrics.max_drawdown_duration(eq) == 1.0                # one bar under water
    assert metrics.max_drawdown_duration(np.array([3.0, 2, 1, 2, 2.5, 4, 3])) == 4.0
    mean, sd = r.mean(), r.std(ddof=1)
    assert metrics.sharpe(r, 365) == pytest.approx(mean / sd * np.sqrt(365))
    down = np.sqrt(np.mean(np.minimum(r, 0) ** 2))
    assert metrics.sortino(r, 365) == pytest.approx(mean / down * np.sqrt(365))
    # 4 daily bars with 365 bars a year: CAGR = 1.2 ** (365 / 4) - 1
    assert metrics.cagr(eq, 100.0, 365) == pytest.approx(1.2 ** (365 / 4) - 1)
    ts = metrics.trade_stats(np.array([10.0, -5, 3, -1, 7]), np.array([1, 1, 1, 1, 0], bool),
                             np.array([0, 0, 0, 0, 1]), 2)
    assert ts["trades"].tolist() == [4, 1]
    assert ts["win_rate"][0] == 0.5 and np.isnan(ts["win_rate"][1])
    assert ts["profit_factor"][0] == pytest.approx(13 / 6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.5, 2.0), min_size=2, max_size=60))
def test_drawdown_properties(factors: list[float]) -> None:
    eq = 100 * np.cumprod(factors)
    dd = metrics.drawdown(eq)[:, 0]
    assert (dd >= 0).all() and (dd < 1).all()
    peak = np.maximum.accumulate(eq)
    np.testing.assert_allclose(eq, peak * (1 - dd), rtol=1e-12)
    assert metrics.max_drawdown_duration(eq) <= len(eq) - 1


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


def test_result_surfaces(btc: pd.DataFrame) -> None:
    res = quantlab.backtest("sma_cross", btc)
    d = res.to_dict()
    for name in STAT_NAMES:
        assert name in d
    assert d["params"] == {"fast": 10, "slow": 50}
    assert "<table" in res._repr_html_()
    fig = res.plot()
    assert len(fig.data) >= 4


def test_vol_target_overlay_sweep_uses_its_sizes(btc: pd.DataFrame) -> None:
    # The overlay subclasses sma_cross but must not inherit its batched fast path (no sizes).
    sw = sweep("sma_cross+vol_target", btc, fast=[10], slow=[50], target_vol=[0.2], progress=False)
    single = backtest("sma_cross+vol_target", btc,
                      params={"fast": 10, "slow": 50, "target_vol": 0.2}).stats()
    plain = backtest("sma_cross", btc, params={"fast": 10, "slow": 50}).stats()
    row = sw.table.iloc[0]
    assert row["total_return"] == pytest.approx(single["total_return"], rel=1e-9)
    assert row["volatility"] < plain["volatility"]


def test_leverage_sizes_are_refused(btc: pd.DataFrame) -> None:
    from quantlab.errors import StrategyError

    with pytest.raises(StrategyError, match="without leverage"):
        backtest("sma_cross+vol_target", btc, params={"target_vol": 3.0, "max_leverage": 2.0})
