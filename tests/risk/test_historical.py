"""Historical and age-weighted VaR/ES: order statistics, weights, aggregation, EWMA recursion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantlab.risk.ewma import ewma_covariance, ewma_forecast, ewma_variance
from quantlab.risk.historical import (
    age_weighted_var_es,
    aggregate_returns,
    historical_var_es,
    tail_count,
)
from quantlab.risk.var import value_at_risk


@pytest.fixture
def shuffled_1_to_100():
    # returns -1%, -2%, ..., -100% in random order: r_(k) = -k... sorted ascending -1.00 .. -0.01
    rng = np.random.default_rng(0)
    return pd.Series(rng.permutation(np.arange(1, 101)) / -100.0)


def test_tail_count_convention():
    # k = ceil(n * (1 - level)); 1 - 0.99 = 0.010000000000000009 must still give k = 1 for n=100
    assert tail_count(100, 0.99) == 1
    assert tail_count(250, 0.99) == 3
    assert tail_count(250, 0.95) == 13
    assert tail_count(1000, 0.99) == 10
    assert tail_count(10, 0.99) == 1


def test_historical_is_order_statistic(shuffled_1_to_100):
    r = shuffled_1_to_100
    # n=100, 99 %: k=1 -> the single worst return, -100 %
    res = value_at_risk(r, level=0.99, method="historical")
    assert res.var == 1.0 and res.es == 1.0
    # 95 %: k=5 -> 5th worst = -96 %, ES = mean(100, 99, 98, 97, 96)% = 98 %
    res = value_at_risk(r, level=0.95, method="historical")
    assert res.var == pytest.approx(0.96) and res.es == pytest.approx(0.98)
    # equals numpy's inverted-CDF quantile
    assert res.var == pytest.approx(-np.quantile(r, 0.05, method="inverted_cdf"))
    # 97.5 %: n*alpha = 2.5 -> k = 3 -> -98 %
    assert value_at_risk(r, level=0.975).var == pytest.approx(0.98)


@pytest.mark.parametrize("n", [37, 250, 1001])
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_historical_matches_numpy_inverted_cdf(n, level):
    x = np.random.default_rng(n).standard_t(4, n) * 0.02
    var, es = historical_var_es(x, level)
    assert var == -np.quantile(x, 1 - level, method="inverted_cdf")
    k = tail_count(n, level)
    assert es == pytest.approx(-np.sort(x)[:k].mean(), rel=1e-12)


def test_aggregation_compounds_overlapping_returns():
    x = np.array([0.1, -0.2, 0.05, 0.0])
    agg = aggregate_returns(x, 2)
    np.testing.assert_allclose(agg, [1.1 * 0.8 - 1, 0.8 * 1.05 - 1, 1.05 - 1])
    r = pd.Series(x)
    res = value_at_risk(r, level=0.5, method="historical", horizon=2)
    # 3 scenarios, k = ceil(1.5) = 2 -> second worst of (-0.12, -0.16, 0.05) = -0.12
    assert res.var == pytest.approx(0.12) and res.es == pytest.approx(0.14)
    assert res.scaling == "aggregation" and res.n_obs == 4


def test_age_weighted_hand_computed():
    # returns oldest..newest; lambda = 0.5, n = 4: weights by age (newest first) 8/15, 4/15,
    # 2/15, 1/15. Sorted: -0.04 (age 3, w=1/15), -0.03 (age 0, 8/15), -0.01 (age 1), 0.02 (age 2)
    x = np.array([-0.04, 0.02, -0.01, -0.03])
    var, es = age_weighted_var_es(x, level=0.9, lam=0.5)
    # alpha = 0.1: cumulative 1/15 = 0.067 < 0.1, then 9/15 >= 0.1 -> VaR = 0.03
    assert var == pytest.approx(0.03)
    assert es == pytest.approx((0.04 * 1 + 0.03 * 8) / 9)
    var, es = age_weighted_var_es(x, level=0.95, lam=0.5)  # 1/15 >= 0.05 -> worst one
    assert var == pytest.approx(0.04) and es == pytest.approx(0.04)


def test_age_weighted_lambda_to_one_is_historical(btc):
    r = btc["close"].pct_change().dropna()
    for level in (0.95, 0.99):
        hist = value_at_risk(r, level=level, method="historical")
        one = value_at_risk(r, level=level, method="age_weighted", lam=1.0)
        near = value_at_risk(r, level=level, method="age_weighted", lam=1 - 1e-9)
        assert one.var == hist.var and one.es == pytest.approx(hist.es, rel=1e-12)
        assert near.var == hist.var and near.es == pytest.approx(hist.es, rel=1e-6)


def test_age_weighted_reacts_to_recent_losses():
    rng = np.random.default_rng(1)
    calm = rng.normal(0, 0.01, 400)
    stressed = np.concatenate([calm, rng.normal(0, 0.05, 20)])
    hist = value_at_risk(stressed, method="historical").var
    aged = value_at_risk(stressed, method="age_weighted", lam=0.97).var
    assert aged > hist


def test_ewma_recursion_hand_checked():
    r = np.array([0.01, -0.02, 0.03, -0.01])
    lam = 0.94
    # init with the first 2 obs: (0.0001 + 0.0004)/2 = 0.00025
    s1 = 0.00025
    s2 = lam * s1 + 0.06 * 0.0001   # 0.000241
    s3 = lam * s2 + 0.06 * 0.0004   # 0.00025054
    s4 = lam * s3 + 0.06 * 0.0009   # 0.0002895076
    s5 = lam * s4 + 0.06 * 0.0001   # 0.000278137144
    assert (s2, s3, s4, s5) == pytest.approx((0.000241, 0.00025054, 0.0002895076, 0.000278137144))
    path = ewma_variance(r, lam, init_obs=2)
    np.testing.assert_allclose(path, [s1, s2, s3, s4, s5], rtol=1e-14)
    assert ewma_forecast(r, lam, init_obs=2) == pytest.approx(s5, rel=1e-14)
    res = value_at_risk(r, method="ewma", init_obs=2)
    assert res.params["sigma"] == pytest.approx(np.sqrt(s5), rel=1e-12)
    assert res.var == pytest.approx(2.326347874 * np.sqrt(s5), rel=1e-9)
    assert res.es == pytest.approx(2.665214220 * np.sqrt(s5), rel=1e-9)


def test_ewma_portfolio_sigma_equals_covariance_form(panel):
    r = panel["close"].pct_change(fill_method=None).dropna()
    w = np.array([0.4, 0.3, 0.2, 0.1])
    cov = ewma_covariance(r.to_numpy())
    port = value_at_risk(r, method="ewma", weights=w)
    assert port.params["sigma"] == pytest.approx(np.sqrt(w @ cov @ w), rel=1e-10)
    np.testing.assert_allclose(np.diag(cov), [ewma_forecast(r[c].to_numpy()) for c in r],
                               rtol=1e-12)
