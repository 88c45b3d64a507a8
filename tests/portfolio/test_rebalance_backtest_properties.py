"""Property tests: accounting invariants of the rebalancing backtest on random price paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantlab.portfolio.policies import Calendar, CostAware, Threshold
from quantlab.portfolio.rebalance_backtest import backtest_rebalancing

POLICIES = st.sampled_from(["monthly", "weekly", "daily", "bands-threshold", "bands-cost",
                            "bands-calendar"])


def _policy(name: str, band: float):
    return {"bands-threshold": Threshold(band), "bands-cost": CostAware(band),
            "bands-calendar": Calendar("monthly", band=band)}.get(name, name)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_assets=st.integers(2, 5), bars=st.integers(20, 150),
       policy=POLICIES, band=st.floats(0.005, 0.2), fees=st.floats(0.0, 100.0),
       spread=st.floats(0.0, 50.0), vol=st.floats(0.001, 0.15))
def test_invariants_on_random_paths(seed, n_assets, bars, policy, band, fees, spread, vol):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2023-01-17", periods=bars, freq="D", tz="UTC")
    prices = pd.DataFrame(50 * np.exp(np.cumsum(rng.normal(0, vol, (bars, n_assets)), axis=0)),
                          index=idx, columns=[f"S{i}" for i in range(n_assets)])
    w = pd.Series(rng.dirichlet(np.ones(n_assets)), index=prices.columns)
    res = backtest_rebalancing(prices, _policy(policy, band), target=w,
                               fees_bps=fees, spread_bps=spread, init_cash=1_000.0)
    rate = (fees + spread / 2) / 1e4
    t = res.trades
    assert t["fee"].to_numpy() == pytest.approx(rate * t["notional"].abs().to_numpy(),
                                                rel=1e-12, abs=1e-15)
    marked = res.cash + (res.holdings * prices).sum(axis=1)
    assert res.equity.to_numpy() == pytest.approx(marked.to_numpy(), rel=1e-12)
    assert res.weights.sum(axis=1).to_numpy() == pytest.approx(1.0, abs=1e-9)
    assert (res.holdings.to_numpy() >= -1e-12).all()  # long-only target, no shorting by drift
    # calendar policies: same dates and post-trade weights with or without costs, so costs
    # can only lower the equity curve (never above the costless one)
    if policy in ("monthly", "weekly", "daily"):
        free = backtest_rebalancing(prices, policy, target=w, fees_bps=0.0, init_cash=1_000.0)
        assert (res.equity <= free.equity * (1 + 1e-12)).all()
        if rate == 0:
            pd.testing.assert_series_equal(res.equity, free.equity)
    s = res.stats()
    assert s["fees_paid"] >= 0 and s["turnover"] >= 0
    assert s["rebalances"] == len(res.rebalances) == len(res.turnover)
    # cost-aware: each rebalance trades at most the full way back to target
    if policy == "bands-cost" and len(res.rebalances):
        pre = (res.holdings.shift(1) * prices).loc[res.rebalances]
        w_pre = pre.div(pre.sum(axis=1), axis=0)
        full = (w_pre - w).abs().sum(axis=1)
        assert (res.turnover.to_numpy() <= full.to_numpy() + 1e-9).all()
