"""Tangency portfolio (quantlab.portfolio.max_sharpe): closed forms and constrained optimality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantlab.errors import ParameterError
from quantlab.portfolio.optimize import optimize
from tests.portfolio._helpers import dummy_returns as _dummy_returns

# ----------------------------------------------------------------------------- max Sharpe


def test_max_sharpe_unconstrained_tangency() -> None:
    # tangency w = S^-1 (mu - rf) / 1'S^-1 (mu - rf); mu chosen so that 1'S^-1(mu - rf) > 0
    rng = np.random.default_rng(11)
    a = rng.normal(size=(6, 6))
    s = (a @ a.T + 6 * np.eye(6)) * 1e-4
    mu = pd.Series([0.010, 0.008, 0.004, 0.012, 0.002, 0.006], index=[f"A{i}" for i in range(6)])
    rf = 0.001
    x = np.linalg.solve(s, mu.to_numpy() - rf)
    assert x.sum() > 0
    res = optimize(_dummy_returns(6), "max_sharpe", cov=s, expected_returns=mu,
                          risk_free=rf, long_only=False)
    np.testing.assert_allclose(res.weights.to_numpy(), x / x.sum(), atol=1e-5)
    # the tangency Sharpe ratio is sqrt((mu - rf)' S^-1 (mu - rf))
    assert res.sharpe == pytest.approx(np.sqrt((mu.to_numpy() - rf) @ x), rel=1e-8)


def test_max_sharpe_sample_unconstrained(returns: pd.DataFrame) -> None:
    s = returns.cov().to_numpy()
    x = np.linalg.solve(s, returns.mean().to_numpy())
    w = optimize(returns, "max_sharpe", long_only=False).weights
    np.testing.assert_allclose(w.to_numpy(), x / x.sum(), atol=1e-5)


def test_max_sharpe_long_only_with_groups_beats_random(returns: pd.DataFrame) -> None:
    groups = {"majors": (["BTC/USDT", "ETH/USDT"], 0.3, None)}
    res = optimize(returns, "max_sharpe", groups=groups, bounds=(0, 0.35))
    w = res.weights.to_numpy()
    assert w[[3, 5]].sum() >= 0.3 - 1e-9 and w.max() <= 0.35 + 1e-9
    s, mu = returns.cov().to_numpy(), returns.mean().to_numpy()
    rng = np.random.default_rng(5)
    cand = rng.dirichlet(np.ones(8) * 0.5, 20000)
    cand = cand[(cand.max(axis=1) <= 0.35) & (cand[:, [3, 5]].sum(axis=1) >= 0.3)]
    assert len(cand) > 100
    sharpe = cand @ mu / np.sqrt(np.einsum("ki,ij,kj->k", cand, s, cand))
    assert res.sharpe >= sharpe.max() - 1e-12


def test_max_sharpe_needs_positive_excess(returns: pd.DataFrame) -> None:
    with pytest.raises(ParameterError, match=r"risk_free=0.1"):
        optimize(returns, "max_sharpe", risk_free=0.1)
