"""Expected-shortfall backtest (Acerbi-Szekely Z2).

Reference values
----------------
[MW-ES] MathWorks Risk Management Toolbox, ``esbacktest`` examples on ESBacktestData
    (1966 observations, VaRLevel 0.975, TestLevel 0.99), pages esbacktest.unconditionalnormal
    and esbacktest.unconditionalt: TestStatistic -0.38265;
    unconditionalNormal: reject, PValue 0.0054099, CriticalValue -0.34639;
    unconditionalT (t, 3 df): accept, PValue 0.018566, CriticalValue -0.42986.
    MATLAB's critical values are precomputed by simulation, ours are simulated afresh, so they
    agree up to Monte Carlo error (tolerances below are a few standard errors).
[AS14] Acerbi, C. and Szekely, B. (2014), "Backtesting expected shortfall", MSCI / Risk: for
    T = 250 and alpha = 2.5 % the Z2 test thresholds are about -0.70 (5 % significance) and
    -1.8 (0.01 %), nearly the same across the distributions they tried (values as quoted from
    the paper; the stored text of the paper could not be consulted here).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from quantlab.errors import DataError, ParameterError, QuantlabError
from quantlab.risk.es_backtest import ESBacktestResult, _simulate_z2, _z2_null_sd, es_backtest

LEVEL = 0.975
ALPHA = 1 - LEVEL


def normal_forecasts(n: int, sigma: float, true_sigma: float, seed: int):
    """i.i.d. N(0, true_sigma) returns; VaR/ES forecasts of a N(0, sigma) model."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC")
    returns = pd.Series(rng.normal(0.0, true_sigma, n), index=idx)
    z = stats.norm.ppf(LEVEL)
    var = pd.Series(sigma * z, index=idx)
    es = pd.Series(sigma * stats.norm.pdf(z) / ALPHA, index=idx)
    return returns, var, es


def data_with_z2(z2: float, n: int = 1966, k: int = 49):
    """Returns with Z2 exactly ``z2``: k equal failures, other returns 0; VaR 2 %, ES 2.5 %.

    Z2 = 1 + sum(X_t I_t) / (N alpha ES)  =>  each failure = (z2 - 1) N alpha ES / k.
    """
    es, var = 0.025, 0.02
    each = (z2 - 1) * n * ALPHA * es / k
    assert each < -var
    returns = np.zeros(n)
    returns[np.linspace(10, n - 10, k).astype(int)] = each
    return returns, np.full(n, var), np.full(n, es)


def test_statistic_by_hand():
    # N = 4, level 0.75 (alpha 0.25); returns -0.03 (fails, VaR 0.02, ES 0.04), -0.01 (no),
    # 0.02, -0.05 (fails, ES 0.05): Z2 = 1 + (-0.03/0.04 - 0.05/0.05) / (4 * 0.25)
    #                                  = 1 + (-0.75 - 1.0) / 1 = -0.75
    res = es_backtest(
        [-0.03, -0.01, 0.02, -0.05],
        [0.02] * 4,
        [0.04, 0.03, 0.03, 0.05],
        0.75,
        critical="normal_approx",
    )
    assert res.statistic == pytest.approx(-0.75)
    assert res.n_failures == 2 and res.n_obs == 4


def test_matlab_unconditional_normal():
    # [MW-ES] unconditionalNormal, TestLevel 0.99
    r, v, e = data_with_z2(-0.38265)
    res = es_backtest(
        r, v, e, LEVEL, test_level=0.99, method="unconditional_normal", n_sims=10_000, seed=7
    )
    assert res.statistic == pytest.approx(-0.38265, abs=1e-10)
    assert res.critical_value == pytest.approx(-0.34639, abs=0.012)
    assert res.p_value == pytest.approx(0.0054099, abs=0.003)
    assert res.result == "reject"


def test_matlab_unconditional_t():
    # [MW-ES] unconditionalT (t with 3 df), TestLevel 0.99
    r, v, e = data_with_z2(-0.38265)
    res = es_backtest(
        r, v, e, LEVEL, test_level=0.99, method="unconditional_t", n_sims=10_000, seed=7
    )
    assert res.dist == "t" and res.df == 3.0
    assert res.critical_value == pytest.approx(-0.42986, abs=0.02)
    assert res.p_value == pytest.approx(0.018566, abs=0.005)
    assert res.result == "accept"


def test_acerbi_szekely_threshold_250():
    # [AS14] T = 250, alpha = 2.5 %: 5 % threshold about -0.70
    sims = _simulate_z2("normal", None, ALPHA, 250, 20_000, np.random.default_rng(3))
    assert np.quantile(sims, 0.05) == pytest.approx(-0.70, abs=0.03)
    assert np.mean(sims) == pytest.approx(0.0, abs=0.01)  # E[Z2] = 0 under the null


def test_normal_approx_variance_matches_simulation():
    sd = _z2_null_sd("normal", None, ALPHA, 500)
    sims = _simulate_z2("normal", None, ALPHA, 500, 20_000, np.random.default_rng(4))
    assert np.std(sims) == pytest.approx(sd, rel=0.03)
    sd_t = _z2_null_sd("t", 5.0, ALPHA, 500)
    sims_t = _simulate_z2("t", 5.0, ALPHA, 500, 20_000, np.random.default_rng(5))
    assert np.std(sims_t) == pytest.approx(sd_t, rel=0.05)


@pytest.mark.parametrize("critical", ["simulation", "normal_approx"])
def test_correct_normal_model_accepted(critical):
    returns, var, es = normal_forecasts(1000, 0.02, 0.02, seed=11)
    res = es_backtest(returns, var, es, LEVEL, critical=critical, n_sims=2000, seed=1)
    assert res.result == "accept"
    assert res.p_value > 0.05
    assert abs(res.statistic) < 0.5


@pytest.mark.parametrize("critical", ["simulation", "normal_approx"])
def test_underestimated_es_rejected(critical):
    # true volatility twice the model's: VaR and ES are understated by half
    returns, var, es = normal_forecasts(1000, 0.01, 0.02, seed=12)
    res = es_backtest(returns, var, es, LEVEL, critical=critical, n_sims=2000, seed=1)
    assert res.result == "reject"
    assert res.statistic < res.critical_value < 0
    assert res.p_value < 0.01


def test_es_understated_alone_lowers_z2():
    returns, var, es = normal_forecasts(1000, 0.02, 0.02, seed=13)
    good = es_backtest(returns, var, es, LEVEL, critical="normal_approx")
    bad = es_backtest(returns, var, es * 0.6 + var * 0.4, LEVEL, critical="normal_approx")
    assert bad.statistic < good.statistic


def test_reproducible_with_seed():
    returns, var, es = normal_forecasts(300, 0.02, 0.02, seed=14)
    a = es_backtest(returns, var, es, LEVEL, n_sims=1000, seed=42)
    b = es_backtest(returns, var, es, LEVEL, n_sims=1000, seed=42)
    c = es_backtest(returns, var, es, LEVEL, n_sims=1000, seed=43)
    assert a == b
    assert a.critical_value != c.critical_value
    assert a.statistic == c.statistic


def test_t_null_gives_lower_critical_value():
    returns, var, es = normal_forecasts(500, 0.02, 0.02, seed=15)
    n = es_backtest(returns, var, es, LEVEL, critical="normal_approx")
    t = es_backtest(returns, var, es, LEVEL, critical="normal_approx", dist="t", df=4)
    assert t.critical_value < n.critical_value < 0


def test_result_object():
    returns, var, es = normal_forecasts(200, 0.02, 0.02, seed=16)
    res = es_backtest(returns, var, es, LEVEL, n_sims=500, seed=0)
    assert isinstance(res, ESBacktestResult)
    s = res.summary()
    assert list(s.index) == ["acerbi_szekely_z2"]
    assert {"statistic", "p_value", "critical_value", "result"} <= set(s.columns)
    d = res.to_dict()
    json.dumps(d)
    assert d["result"] in ("accept", "reject") and d["n_sims"] == 500
    assert "<table" in res._repr_html_()
    assert res.expected_failures == pytest.approx(5.0)


@pytest.mark.parametrize(
    ("kwargs", "exc", "word"),
    [
        ({"level": 1.2}, ParameterError, "level"),
        ({"test_level": 0.0}, ParameterError, "test_level"),
        ({"method": "z9"}, ParameterError, "method"),
        ({"critical": "exact"}, ParameterError, "critical"),
        ({"dist": "cauchy"}, ParameterError, "dist"),
        ({"dist": "t"}, ParameterError, "df"),
        ({"dist": "t", "df": 1.0}, ParameterError, "df"),
        ({"dist": "t", "df": 2.0, "critical": "normal_approx"}, ParameterError, "df"),
        ({"n_sims": 10}, ParameterError, "n_sims"),
        ({"es": [0.01, 0.03, 0.03]}, DataError, "es"),
        ({"es": [0.0, 0.03, 0.03]}, DataError, "es"),
        ({"es": [0.03, np.nan, 0.03]}, DataError, "es"),
        ({"var": [-0.02, 0.02, 0.02]}, DataError, "var"),
        ({"var": [0.02, 0.02]}, DataError, "var"),
        ({"returns": [0.01, np.inf, 0.0]}, DataError, "returns"),
    ],
)
def test_bad_input(kwargs, exc, word):
    args = {
        "returns": [0.01, -0.03, 0.0],
        "var": [0.02] * 3,
        "es": [0.03] * 3,
        "level": 0.975,
        **kwargs,
    }
    with pytest.raises(exc) as info:
        es_backtest(**args)
    assert isinstance(info.value, QuantlabError)
    assert word in str(info.value) and "\n" not in str(info.value)
