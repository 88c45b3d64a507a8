"""CVaR (quantlab.portfolio.cvar): tail means by hand, LP vs brute-force grid, constraints."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantlab.portfolio.cvar import portfolio_cvar
from quantlab.portfolio.optimize import optimize

# ----------------------------------------------------------------------------- min CVaR


def test_portfolio_cvar_tail_mean() -> None:
    # 20 equally likely losses 1..20 (%), level 0.9: CVaR is the mean of the worst 2 = 19.5 %
    r = -np.arange(1, 21, dtype=float)[:, None] / 100
    assert portfolio_cvar(r, [1.0], 0.9) == pytest.approx(0.195)
    # level 0.875: worst 2.5 scenarios -> (20 + 19 + 0.5 * 18) / 2.5 = 19.2 %
    assert portfolio_cvar(r, [1.0], 0.875) == pytest.approx(0.192)


def test_min_cvar_beats_equal_weight(returns: pd.DataFrame) -> None:
    res = optimize(returns, "min_cvar", level=0.95)
    w = res.weights.to_numpy()
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    cvar = portfolio_cvar(returns.to_numpy(), w, 0.95)
    assert cvar <= portfolio_cvar(returns.to_numpy(), np.full(8, 1 / 8), 0.95)
    assert res.params["cvar"] == pytest.approx(cvar, abs=1e-12)
    assert res.params["var"] <= cvar


def test_min_cvar_matches_brute_force_grid(returns: pd.DataFrame) -> None:
    two = returns[["ETH/USDT", "SOL/USDT"]].iloc[-500:]
    res = optimize(two, "min_cvar", level=0.9)
    grid = np.linspace(0, 1, 2001)
    r = two.to_numpy()
    vals = np.array([portfolio_cvar(r, [g, 1 - g], 0.9) for g in grid])
    best = vals.min()
    assert res.params["cvar"] <= best + 1e-12           # the LP is the exact minimum
    assert res.params["cvar"] >= best - 1e-4            # and the grid gets close to it
    assert res.weights.iloc[0] == pytest.approx(grid[vals.argmin()], abs=2e-3)


def test_min_cvar_with_constraints(returns: pd.DataFrame) -> None:
    w0 = pd.Series(1 / 8, index=returns.columns)
    groups = {"alts": (["ADA/USDT", "AVAX/USDT", "DOGE/USDT", "XRP/USDT", "SOL/USDT"], 0.2, 0.5)}
    res = optimize(returns, "min_cvar", bounds=(0.02, 0.5), groups=groups,
                          current_weights=w0, max_turnover=0.6)
    w = res.weights
    assert w.min() >= 0.02 - 1e-9 and w.max() <= 0.5 + 1e-9
    assert 0.2 - 1e-9 <= w[list(groups["alts"][0])].sum() <= 0.5 + 1e-9
    assert (w - w0).abs().sum() <= 0.6 + 1e-9
    assert res.params["turnover"] == pytest.approx((w - w0).abs().sum())
