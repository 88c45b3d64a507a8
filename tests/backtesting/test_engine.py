"""Engine invariants on real data: accounting, reference run, panels, period slicing, leverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import quantlab
from quantlab.backtesting import STAT_NAMES, backtest


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


def test_leverage_sizes_are_refused(btc: pd.DataFrame) -> None:
    from quantlab.errors import StrategyError

    with pytest.raises(StrategyError, match="above leverage=1"):
        backtest("sma_cross+vol_target", btc, params={"target_vol": 3.0, "max_leverage": 2.0})
