"""risk.montecarlo: Monte Carlo VaR (normal/t, sample/EWMA covariance, multi-day paths)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantlab.risk.var import value_at_risk


@pytest.fixture(scope="module")
def asset_returns(panel):
    return panel["close"].pct_change(fill_method=None).dropna()


W4 = [0.25, 0.25, 0.25, 0.25]


def test_monte_carlo_normal_converges_to_parametric(asset_returns):
    mc = value_at_risk(asset_returns, method="monte_carlo", weights=W4, seed=11)
    par = value_at_risk(asset_returns, method="parametric", weights=W4)
    assert mc.params["n_paths"] == 100_000
    assert mc.var == pytest.approx(par.var, rel=0.03)
    assert mc.es == pytest.approx(par.es, rel=0.03)
    assert mc.params["sigma"] == pytest.approx(par.params["sigma"], rel=1e-10)


def test_monte_carlo_seed_reproducible(asset_returns):
    a = value_at_risk(asset_returns, method="monte_carlo", weights=W4, seed=5, n_paths=5000)
    b = value_at_risk(asset_returns, method="monte_carlo", weights=W4,
                      seed=np.random.default_rng(5), n_paths=5000)
    c = value_at_risk(asset_returns, method="monte_carlo", weights=W4, seed=6, n_paths=5000)
    assert (a.var, a.es) == (b.var, b.es)
    assert a.var != c.var


def test_monte_carlo_student_t(asset_returns):
    t = value_at_risk(asset_returns, method="monte_carlo", weights=W4, seed=1, dist="t", df=4,
                      n_paths=200_000)
    # the portfolio of a multivariate t (covariance Sigma) is t with the same df and std
    ref = value_at_risk(asset_returns, method="student_t", weights=W4, df=4)
    assert t.var == pytest.approx(ref.var, rel=0.03)
    assert t.es == pytest.approx(ref.es, rel=0.04)
    fitted = value_at_risk(asset_returns, method="monte_carlo", weights=W4, seed=1, dist="t",
                           n_paths=2000)
    assert 2 < fitted.params["df"] < 10 and fitted.params["df_fitted"]


def test_monte_carlo_multiday_aggregation():
    # one asset, normal, zero mean: compounding h daily steps ~ sqrt(h) scaling for small sigma
    r = pd.Series(np.random.default_rng(2).normal(0, 0.01, 500))
    one = value_at_risk(r, method="monte_carlo", seed=3, n_paths=50_000, mean="zero")
    ten = value_at_risk(r, method="monte_carlo", seed=3, n_paths=50_000, horizon=10, mean="zero")
    assert ten.scaling == "aggregation"
    assert ten.var == pytest.approx(np.sqrt(10) * one.var, rel=0.05)


def test_monte_carlo_ewma_covariance(asset_returns):
    mc = value_at_risk(asset_returns, method="monte_carlo", weights=W4, seed=2, cov="ewma",
                       mean="zero", n_paths=20_000)
    ew = value_at_risk(asset_returns, method="ewma", weights=W4)
    assert mc.params["sigma"] == pytest.approx(ew.params["sigma"], rel=1e-10)
    assert mc.var == pytest.approx(ew.var, rel=0.06)
