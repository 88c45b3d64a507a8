"""Causality of every built-in (and the vol-target overlay), single asset and panel.

For several cut points ``t`` the signals computed on ``bars.iloc[:t+1]`` must equal the
full-history signals up to ``t`` exactly, and perturbing the bars after ``t`` must not change
them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantlab.strategies import (
    DonchianBreakout,
    MomentumRotation,
    RsiReversion,
    SmaCross,
    Strategy,
    with_vol_target,
)

CASES: list[tuple[str, Strategy]] = [
    ("sma_cross", SmaCross(fast=10, slow=50)),
    ("rsi_reversion", RsiReversion(window=14)),
    ("rsi_reversion_confirm", RsiReversion(window=7, lower=25, upper=75, confirm=True)),
    ("donchian", DonchianBreakout(entry=20, exit=10)),
    ("donchian_shorts", DonchianBreakout(entry=30, exit=15, shorts=True)),
    ("momentum_rotation", MomentumRotation(lookback=60, top_k=2, rebalance=5)),
    ("sma_cross+vol_target", with_vol_target(SmaCross)(fast=5, slow=20, vol_lookback=30)),
    ("donchian+vol_target", with_vol_target(DonchianBreakout)(shorts=True, vol_lookback=40)),
    ("momentum+vol_target", with_vol_target(MomentumRotation)(lookback=30, max_leverage=0.7)),
]


def cut_points(bars: pd.DataFrame, warmup: int) -> list[int]:
    n = len(bars)
    cuts = {0, 1, 5, warmup - 1, warmup, warmup + 1, 2 * warmup + 3, n // 2, n - 2}
    if isinstance(bars.columns, pd.MultiIndex):  # around the late listing of SOL
        first = int(np.flatnonzero(bars["close"].notna().all(axis=1).to_numpy())[0])
        cuts |= {first - 1, first, first + warmup, first + warmup + 1}
    return sorted(c for c in cuts if 0 <= c < n - 1)


def assert_prefix_equal(part, full, t: int) -> None:
    pa, fa = part.arrays(), full[: t + 1].arrays()
    assert pa.keys() == fa.keys()
    for key in pa:
        if isinstance(pa[key], pd.Series):
            pd.testing.assert_series_equal(pa[key], fa[key], check_exact=True, obj=f"{key}@{t}")
        else:
            pd.testing.assert_frame_equal(pa[key], fa[key], check_exact=True, obj=f"{key}@{t}")


@pytest.fixture(params=["btc", "panel"])
def bars(request: pytest.FixtureRequest) -> pd.DataFrame:
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize(("label", "strategy"), CASES, ids=[c[0] for c in CASES])
def test_prefix_equals_full_history(label: str, strategy: Strategy, bars: pd.DataFrame) -> None:
    full = strategy.run(bars)
    assert len(next(iter(full.arrays().values()))) == len(bars)
    for t in cut_points(bars, strategy.warmup()):
        assert_prefix_equal(strategy.run(bars.iloc[: t + 1]), full, t)


@pytest.mark.parametrize(("label", "strategy"), CASES, ids=[c[0] for c in CASES])
def test_future_perturbation_does_not_leak(
    label: str, strategy: Strategy, bars: pd.DataFrame
) -> None:
    rng = np.random.default_rng(7)
    full = strategy.run(bars)
    for t in (strategy.warmup() + 10, len(bars) // 3, len(bars) - 50):
        shocked = bars.copy()
        factor = np.exp(rng.normal(0.0, 0.2, size=(len(bars) - t - 1, 1)))
        shocked.iloc[t + 1 :] = shocked.iloc[t + 1 :].to_numpy() * factor
        out = strategy.run(shocked)
        assert_prefix_equal(out[: t + 1], full, t)
        # and the shock does change something later (the test has teeth)
        later = {k: v.iloc[t + 1 :] for k, v in out.arrays().items()}
        orig = {k: v.iloc[t + 1 :] for k, v in full.arrays().items()}
        assert any(not later[k].equals(orig[k]) for k in later), label


def test_signals_are_causal_at_each_bar_for_rsi_short_series() -> None:
    """Exhaustive check on a short random walk: every prefix, every bar."""
    rng = np.random.default_rng(1)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, 80)))
    idx = pd.date_range("2024-01-01", periods=80, freq="h", tz="UTC", name="time")
    bars = pd.DataFrame(
        {"open": close, "high": close * 1.01, "low": close * 0.99, "close": close, "volume": 1.0},
        index=idx,
    )
    strategy = with_vol_target(RsiReversion)(window=5, lower=40, upper=60, vol_lookback=10)
    full = strategy.run(bars)
    assert full.entries.any() and full.exits.any()
    for t in range(len(bars)):
        assert_prefix_equal(strategy.run(bars.iloc[: t + 1]), full, t)
