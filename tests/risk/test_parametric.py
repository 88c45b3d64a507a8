"""Parametric VaR/ES: normal, Student-t, Cornish–Fisher, moment-based entry point."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from quantlab.errors import ParameterError
from quantlab.risk.parametric import (
    cornish_fisher_var_es,
    cornish_fisher_z,
    fit_t_df,
    moments,
    normal_var_es,
    parametric_var,
    student_t_var_es,
)
from quantlab.risk.var import value_at_risk


@pytest.mark.parametrize(
    ("level", "var", "es"),
    [
        # standard normal quantile z and ES = phi(z)/(1-a) (McNeil, Frey & Embrechts 2015,
        # ex. 2.15); phi(1.644853627) = 0.1031356404, /0.05 = 2.062712808 (scipy.stats.norm)
        (0.99, 2.326347874, 2.665214220),
        (0.95, 1.644853627, 2.062712808),
        (0.975, 1.959963985, 2.337802792),
    ],
)
def test_normal_reference_values(level, var, es):
    v, e = normal_var_es(0.0, 1.0, level)
    assert v == pytest.approx(var, abs=1e-9)
    assert e == pytest.approx(es, abs=1e-9)


def test_normal_with_mean_and_sigma():
    # mu = 0.001, sigma = 0.02 at 99 %: VaR = -0.001 + 0.02*2.326347874 = 0.04552695748
    v, e = normal_var_es(0.001, 0.02, 0.99)
    assert v == pytest.approx(0.04552695748, abs=1e-10)
    assert e == pytest.approx(-0.001 + 0.02 * 2.665214220, abs=1e-10)


def test_sqrt_time_scaling_zero_mean():
    v1, e1 = normal_var_es(0.0, 0.03, 0.99, 1)
    v10, e10 = normal_var_es(0.0, 0.03, 0.99, 10)
    assert v10 == pytest.approx(np.sqrt(10) * v1, rel=1e-12)
    assert e10 == pytest.approx(np.sqrt(10) * e1, rel=1e-12)
    r = parametric_var(0.0, 0.03, 0.99, horizon=10)
    assert r.var == pytest.approx(np.sqrt(10) * v1) and r.scaling == "sqrt_time"


@pytest.mark.parametrize("df", [2.5, 3.0, 4.0, 8.0, 30.0])
@pytest.mark.parametrize("level", [0.95, 0.99])
def test_student_t_es_closed_form_matches_integration(df, level):
    mu, sd = 0.001, 0.03
    var, es = student_t_var_es(mu, sd, df, level)
    s = sd * np.sqrt((df - 2) / df)
    dist = stats.t(df, loc=mu, scale=s)
    assert dist.std() == pytest.approx(sd, rel=1e-10)  # std matched
    assert var == pytest.approx(-dist.ppf(1 - level), rel=1e-10)
    # ES = -(1/alpha) * int_0^alpha q(u) du, numerically
    tail, _ = integrate.quad(dist.ppf, 0, 1 - level, limit=200)
    assert es == pytest.approx(-tail / (1 - level), rel=1e-6)
    assert es >= var


def test_student_t_large_df_approaches_normal():
    v, e = student_t_var_es(0.0, 1.0, 1e7, 0.99)
    assert v == pytest.approx(2.326347874, rel=1e-5)
    assert e == pytest.approx(2.665214220, rel=1e-5)


def test_fit_t_df_close_to_scipy_and_vectorized():
    x = stats.t.rvs(4, size=4000, random_state=7) * 0.02
    df = fit_t_df(x)
    assert 3.3 < df < 5.0
    assert df == pytest.approx(stats.t.fit(x)[0], rel=0.05)
    # profile likelihood optimum: better than neighbours
    mu, sd, _, _ = moments(x)

    def ll(nu):
        return stats.t.logpdf(x, nu, loc=mu, scale=sd * np.sqrt((nu - 2) / nu)).sum()
    assert ll(df) >= max(ll(df * 0.98), ll(df * 1.02))
    rows = np.stack([x[:1000], x[1000:2000]])
    both = fit_t_df(rows)
    assert both.shape == (2,)
    assert both[0] == pytest.approx(fit_t_df(x[:1000]), rel=1e-12)


def test_fit_t_df_normal_data_gives_large_df():
    x = np.random.default_rng(3).standard_normal(5000)
    assert fit_t_df(x) > 30


def test_cornish_fisher_zero_moments_is_normal():
    assert cornish_fisher_var_es(0.0, 1.0, 0.0, 0.0, 0.99) == pytest.approx(
        (2.326347874, 2.665214220), abs=1e-9)


def test_cornish_fisher_hand_computed():
    # z = -2.326347874 (1 %), S = -0.5, K = 3 (hand-computed):
    # z^2-1 = 4.411894 -> *S/6 = -0.367658; z^3-3z = -5.610905 -> *K/24 = -0.701363;
    # 2z^3-5z = -13.548159 -> *S^2/36 = -0.094084 (subtracted: +0.094084)
    # z_cf = -2.326348 - 0.367658 - 0.701363 + 0.094084 = -3.301285
    z = stats.norm.ppf(0.01)
    assert cornish_fisher_z(z, -0.5, 3.0) == pytest.approx(-3.301285, abs=2e-6)
    var, _ = cornish_fisher_var_es(0.0, 0.02, -0.5, 3.0, 0.99)
    assert var == pytest.approx(0.02 * 3.301285, abs=1e-7)


@pytest.mark.parametrize(("skew", "kurt"), [(0.0, 0.0), (-0.5, 3.0), (0.3, 1.0), (-1.0, 5.0)])
def test_cornish_fisher_es_equals_quadrature_of_cf_quantile(skew, kurt):
    level, mu, sd = 0.99, 0.0005, 0.025
    _, es = cornish_fisher_var_es(mu, sd, skew, kurt, level)

    def q(u):
        return mu + sd * cornish_fisher_z(stats.norm.ppf(u), skew, kurt)
    tail, _ = integrate.quad(q, 0, 1 - level, limit=200)
    assert es == pytest.approx(-tail / (1 - level), rel=1e-6)


def test_cornish_fisher_horizon_scales_moments():
    v, _ = cornish_fisher_var_es(0.0, 0.02, -0.6, 4.0, 0.99, horizon=4)
    v2, _ = cornish_fisher_var_es(0.0, 0.04, -0.3, 1.0, 0.99)
    assert v == pytest.approx(v2, rel=1e-12)


def test_parametric_var_from_moments():
    r = parametric_var(0.0, 1.0, 0.99)
    assert r.var == pytest.approx(2.326347874, abs=1e-9)
    assert r.es == pytest.approx(2.665214220, abs=1e-9)
    assert r.method == "parametric" and r.n_obs == 0 and r.start is None
    t = parametric_var(0.0, 0.02, 0.99, dist="t", df=4)
    assert t.params["df"] == 4 and t.es > t.var
    cf = parametric_var(0.0, 0.02, 0.99, dist="cornish_fisher", skew=-0.5, excess_kurtosis=3)
    assert cf.var == pytest.approx(0.02 * 3.301285, abs=1e-7)


def test_parametric_var_errors():
    with pytest.raises(ParameterError, match=r"^df is required for dist='t'$"):
        parametric_var(0, 1, dist="t")
    with pytest.raises(ParameterError, match=r"^dist='lognormal' must be one of"):
        parametric_var(0, 1, dist="lognormal")
    with pytest.raises(ParameterError, match=r"^std=-1.0 must be >= 0$"):
        parametric_var(0, -1)
    with pytest.raises(ParameterError, match=r"^df=2.0 must be > 2"):
        parametric_var(0, 1, dist="t", df=2)
    with pytest.raises(ParameterError, match=r"^level=1.5 must be in \(0, 1\)"):
        parametric_var(0, 1, level=1.5)


def test_value_at_risk_parametric_matches_sample_moments(btc):
    r = btc["close"].pct_change().dropna()
    res = value_at_risk(r, method="parametric")
    assert res.var == pytest.approx(-(r.mean() + r.std() * stats.norm.ppf(0.01)), rel=1e-12)
    assert res.params["sigma"] == pytest.approx(r.std(), rel=1e-12)
    t = value_at_risk(r, method="student_t")
    assert 2 < t.params["df"] < 10  # crypto returns are fat-tailed
    cf = value_at_risk(r, method="cornish_fisher")
    assert cf.params["skew"] == pytest.approx(stats.skew(r), rel=1e-10)
    assert cf.params["kurt"] == pytest.approx(stats.kurtosis(r), rel=1e-10)
    fixed = value_at_risk(r, method="student_t", df=5)
    assert fixed.params["df"] == 5 and fixed.params["df_fitted"] is False


# --------------------------------------------------------------------------- Cornish-Fisher domain


@pytest.mark.parametrize(("skew", "kurt", "valid"), [
    (0.0, 0.0, True), (0.0, 8.0, True), (0.0, 8.5, False), (0.0, -0.5, False),
    (-0.5, 3.0, True), (-0.6, 11.2, False), (1.5, 2.0, False),
])
def test_cornish_fisher_domain_is_where_the_quantile_map_is_monotone(skew, kurt, valid):
    from quantlab.risk.parametric import cornish_fisher_valid

    assert cornish_fisher_valid(skew, kurt) is valid
    z = np.linspace(-8, 8, 4001)
    monotone = bool(np.all(np.diff(cornish_fisher_z(z, skew, kurt)) >= -1e-12))
    assert monotone is valid or abs(kurt) > 8  # outside the domain it bends back beyond |z| 8


def _sample(skew_target: str, n: int = 4000) -> np.ndarray:
    rng = np.random.default_rng(5)
    if skew_target == "inside":   # mildly fat-tailed: t(12), excess kurtosis ~ 0.75
        return 0.01 * rng.standard_t(12, n)
    x = 0.01 * rng.standard_t(3, n)  # crypto-like: excess kurtosis far above 8
    return np.concatenate([x, [-0.4, -0.35, -0.3]])


def test_cornish_fisher_outside_domain_is_flagged_and_warned():
    from quantlab.risk.parametric import CornishFisherDomainWarning

    r = _sample("outside")
    with pytest.warns(CornishFisherDomainWarning) as caught:
        res = value_at_risk(r, method="cornish_fisher")
    msg = str(caught[0].message)
    assert "\n" not in msg and "skew" in msg and "excess kurtosis" in msg
    assert f"{res.params['skew']:.3g}" in msg and f"{res.params['kurt']:.3g}" in msg
    assert res.params["cf_valid"] is False and res.stats()["cf_valid"] is False
    assert "outside Cornish-Fisher domain" in res.title()
    with pytest.warns(CornishFisherDomainWarning):
        assert parametric_var(0.0, 0.01, dist="cornish_fisher", skew=0.0,
                              excess_kurtosis=12.0).params["cf_valid"] is False


def test_cornish_fisher_inside_domain_is_silent():
    import warnings

    r = _sample("inside")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = value_at_risk(r, method="cornish_fisher")
    assert res.params["cf_valid"] is True and "domain" not in res.title()
    # a long horizon shrinks S/sqrt(h) and K/h into the domain
    out = _sample("outside")
    with pytest.warns(UserWarning):
        k = value_at_risk(out, method="cornish_fisher").params["kurt"]
    h = int(np.ceil(k / 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert value_at_risk(out, method="cornish_fisher", horizon=h).params["cf_valid"] is True


def test_rolling_cornish_fisher_flags_days():
    from quantlab.risk.parametric import CornishFisherDomainWarning
    from quantlab.risk.rolling import rolling_var

    r = pd.Series(np.concatenate([_sample("inside")[:600], _sample("outside")[-600:]]))
    with pytest.warns(CornishFisherDomainWarning, match=r"on \d+ of 900 forecast days"):
        fc = rolling_var(r, method="cornish_fisher", window=300)
    valid = fc.forecasts["cf_valid"]
    assert valid.iloc[0] and not valid.all()
    assert fc.stats()["cf_invalid_days"] == int((~valid).sum())
