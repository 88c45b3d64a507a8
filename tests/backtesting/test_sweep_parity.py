"""Every sweep path equals ``quantlab.backtest``: for each built-in strategy, each row of a small
grid matches a single backtest with those parameters on every metric of ``STAT_NAMES``
(rtol 1e-9, NaN == NaN). Paths: fused (sma_cross on one asset), streamed (other single-asset
signal strategies, incl. the vol-target overlay) and per run (panels / target weights)."""

from __future__ import annotations

import itertools
import math

import pandas as pd
import pytest

import quantlab as ql
from quantlab.backtesting import sweep
from quantlab.backtesting.metrics import STAT_NAMES


@pytest.fixture(scope="module")
def btc() -> pd.DataFrame:
    return ql.load_sample("BTC/USDT")


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return ql.load_sample(["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT"])


def assert_parity(strategy: str, data: pd.DataFrame, grid: dict, *, start=None, end=None,
                  **options) -> pd.DataFrame:
    sw = sweep(strategy, data, start=start, end=end, progress=False, **grid, **options)
    names = list(grid)
    combos = [dict(zip(names, c, strict=True)) for c in itertools.product(*grid.values())]
    checked = 0
    for params in combos:
        key = tuple(params[n] for n in names) if len(names) > 1 else params[names[0]]
        if key not in sw.table.index:
            continue                            # rejected by the strategy (e.g. fast >= slow)
        row = sw.table.loc[key]
        single = ql.backtest(strategy, data, params=params, start=start, end=end,
                             **options).stats()
        for name in STAT_NAMES:
            got, want = float(row[name]), float(single[name])
            if math.isnan(want):
                assert math.isnan(got), (params, name, got)
            else:
                assert got == pytest.approx(want, rel=1e-9, abs=1e-12), (params, name, got, want)
        checked += 1
    assert checked == len(sw.table) >= 2
    return sw.table


def test_sma_cross_fused(btc):
    t = assert_parity("sma_cross", btc, {"fast": [5, 10, 20], "slow": [20, 50]}, fees_bps=10,
                      slippage_bps=5)
    assert (t["trades"] > 0).all()


def test_sma_cross_fused_long_short_with_stops(btc):
    t = assert_parity("sma_cross", btc, {"fast": [5, 12], "slow": [30, 60]}, fees_bps=10,
                      direction="long_short", stop_loss=0.05, trailing_stop=0.08,
                      take_profit=0.3, sizing="fixed_fraction", fraction=0.7)
    assert (t["trades"] > 0).all()


def test_sma_cross_sliced_sweep_uses_the_warmup_bars(btc):
    # slow=100 needs 100 bars before the first crossover: with start= they come from before
    # the start date, exactly as backtest(start=...) computes them.
    t = assert_parity("sma_cross", btc, {"fast": [10, 30], "slow": [50, 100]},
                      start="2023-01-01", end="2024-06-30", fees_bps=10)
    assert (t["trades"] > 0).all()
    # and it is not the sweep of the sliced data alone (which would lose the warm-up)
    cut = btc.loc["2023-01-01":"2024-06-30"]
    alone = sweep("sma_cross", cut, fast=[10, 30], slow=[50, 100], fees_bps=10, progress=False)
    assert not alone.table["total_return"].equals(t["total_return"])


def test_donchian_streamed(btc):
    assert_parity("donchian_breakout", btc, {"entry": [10, 20], "exit": [5, 10]}, fees_bps=10)


@pytest.mark.parametrize("shorts", [False, True])
def test_donchian_streamed_long_short_with_stops(btc, shorts):
    # shorts=False: exits go short (direction long_short); shorts=True: its own short signals
    t = assert_parity("donchian_breakout", btc,
                      {"entry": [15, 30], "exit": [7, 12], "shorts": [shorts]},
                      fees_bps=10, slippage_bps=5, direction="long_short", stop_loss=0.06,
                      trailing_stop=0.1)
    assert (t["trades"] > 0).all()


def test_donchian_sweep_mixing_shorts_false_and_true(btc):
    assert_parity("donchian_breakout", btc, {"entry": [15], "exit": [7], "shorts": [False, True]},
                  fees_bps=10, direction="long_short")


def test_donchian_sweep_mixing_shorts_true_and_false(btc):
    assert_parity("donchian_breakout", btc, {"entry": [15], "exit": [7], "shorts": [True, False]},
                  fees_bps=10, direction="long_short")


def test_rsi_reversion_streamed(btc):
    assert_parity("rsi_reversion", btc, {"window": [7, 14], "lower": [25.0, 35.0],
                                         "confirm": [False, True]}, fees_bps=10,
                  stop_loss=0.08)


def test_vol_target_overlay(btc):
    t = assert_parity("sma_cross+vol_target", btc,
                      {"fast": [10], "slow": [30, 50], "target_vol": [0.3, 0.6]}, fees_bps=10)
    assert t["exposure"].gt(0).all()


def test_momentum_rotation_panel(panel):
    assert_parity("momentum_rotation", panel, {"lookback": [30, 60], "top_k": [1, 2]},
                  fees_bps=10)


def test_momentum_rotation_panel_sliced(panel):
    assert_parity("momentum_rotation", panel, {"lookback": [30, 90], "rebalance": [7, 14]},
                  start="2022-01-01", fees_bps=10)
