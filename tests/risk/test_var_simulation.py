"""Monte Carlo and filtered historical simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from quantlab.risk.fhs import backcast_center, filter_windows, fit_garch
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


def test_garch_filter_reproduces_arch(btc):
    from arch import arch_model

    r = btc["close"].pct_change().dropna().to_numpy()[-600:]
    gp = fit_garch(r)
    res = arch_model(100 * r, mean="Constant", vol="GARCH", p=1, q=1,
                     rescale=False).fit(disp="off")
    z, s2_next = filter_windows(r[None], np.array([gp.mu]), gp.omega, gp.alpha, gp.beta,
                                backcast_center=backcast_center(r, "constant"))
    sigma = (r - gp.mu) / z[0]
    np.testing.assert_allclose(sigma, res.conditional_volatility / 100, rtol=1e-8)
    fc = res.forecast(horizon=1, reindex=False).variance.to_numpy()[0, 0] / 1e4
    assert s2_next[0] == pytest.approx(fc, rel=1e-8)


def test_fhs_figures_and_seed(btc):
    r = btc["close"].pct_change().dropna().iloc[-800:]
    a = value_at_risk(r, method="fhs", seed=4, n_paths=20_000)
    b = value_at_risk(r, method="fhs", seed=4, n_paths=20_000)
    assert (a.var, a.es) == (b.var, b.es)
    assert a.es >= a.var > 0
    assert 0 < a.params["alpha"] < 1 and 0 < a.params["beta"] < 1
    # one-bar FHS = mu + sigma_next * (bootstrap quantile of the standardized residuals)
    z, _ = filter_windows(r.to_numpy()[None], np.array([a.params["mu"]]), a.params["omega"],
                          a.params["alpha"], a.params["beta"],
                          backcast_center=backcast_center(r.to_numpy(), "constant"))
    q = np.quantile(z[0], 0.01)
    assert a.var == pytest.approx(-(a.params["mu"] + a.params["sigma"] * q), rel=0.1)
    ew = value_at_risk(r, method="fhs", seed=4, n_paths=20_000, filter="ewma", horizon=5)
    assert ew.scaling == "aggregation" and ew.es >= ew.var
    assert ew.params["lambda"] == 0.94


def test_fhs_normal_residuals_close_to_normal_var():
    # GARCH-free iid normal data: FHS ~ normal VaR with the sample sigma
    r = pd.Series(np.random.default_rng(8).normal(0, 0.02, 3000))
    f = value_at_risk(r, method="fhs", seed=1, filter="ewma", lam=0.999, mean="zero")
    assert f.var == pytest.approx(0.02 * -stats.norm.ppf(0.01), rel=0.1)
