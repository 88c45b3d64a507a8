"""risk.fhs: filtered historical simulation (GARCH/EWMA filters)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from quantlab.risk.fhs import backcast_center, filter_windows, fit_garch
from quantlab.risk.var import value_at_risk


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
