"""risk.stressed_var: stressed parametric VaR (volatility multiplier, common correlation)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from quantlab.errors import ParameterError, QuantlabError
from quantlab.risk.stressed_var import stressed_var


@pytest.fixture(scope="module")
def three_assets():
    rng = np.random.default_rng(42)
    cov = np.array([[4.0, 1.2, 0.6], [1.2, 9.0, 2.1], [0.6, 2.1, 1.0]]) * 1e-4
    x = rng.multivariate_normal(np.zeros(3), cov, size=500)
    return pd.DataFrame(x, columns=["A", "B", "C"])


def test_base_var_is_parametric_formula(three_assets):
    w = np.array([0.5, 0.3, 0.2])
    res = stressed_var(three_assets, w, level=0.99)
    z = stats.norm.ppf(0.99)
    sp = np.sqrt(w @ three_assets.cov().to_numpy() @ w)
    assert res.table.loc["base", "var"] == pytest.approx(z * sp, rel=1e-12)
    assert res.table.loc["base", "es"] == pytest.approx(sp * stats.norm.pdf(z) / 0.01, rel=1e-12)
    assert res.table.loc["stressed", "var"] == pytest.approx(z * sp, rel=1e-12)  # no stress


def test_rho_one_equals_sum_of_standalone_vars(three_assets):
    w = {"A": 0.5, "B": 0.3, "C": 0.2}
    res = stressed_var(three_assets, w, level=0.99, correlation=1.0)
    sig = three_assets.std(ddof=1)
    z = stats.norm.ppf(0.99)
    standalone = z * (pd.Series(w) * sig)
    assert res.var == pytest.approx(standalone.sum(), rel=1e-12)
    assert res.var == pytest.approx(res.table.loc["stressed", "undiversified_var"], rel=1e-12)
    assert res.assets["standalone_var"].to_numpy() == pytest.approx(standalone.to_numpy())
    assert res.table.loc["base", "var"] < res.var  # diversification is gone
    # with a short, rho = 1 makes the hedge perfect: |sum w sigma| z, below the undiversified sum
    short = stressed_var(three_assets, [0.5, -0.3, 0.2], correlation=1.0)
    assert short.var == pytest.approx(z * abs(0.5 * sig["A"] - 0.3 * sig["B"] + 0.2 * sig["C"]))
    assert short.var < short.table.loc["stressed", "undiversified_var"]


@pytest.mark.parametrize("k", [0.5, 2.0, 3.0])
def test_vol_multiplier_scales_var(three_assets, k):
    res = stressed_var(three_assets, [0.2, 0.5, 0.3], level=0.975, vol_multiplier=k,
                       horizon=10, value=1e6)
    base, stressed = res.table.loc["base"], res.table.loc["stressed"]
    assert stressed["var"] == pytest.approx(k * base["var"], rel=1e-12)
    assert stressed["es"] == pytest.approx(k * base["es"], rel=1e-12)
    assert stressed["var_pnl"] == pytest.approx(stressed["var"] * 1e6)


def test_correlation_must_stay_psd(three_assets):
    with pytest.raises(ParameterError, match=r"rho >= -0\.5"):
        stressed_var(three_assets, [0.3, 0.3, 0.4], correlation=-0.9)
    ok = stressed_var(three_assets, [0.3, 0.3, 0.4], correlation=-0.5)
    assert ok.var >= 0
    bad = np.array([[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1.0]])
    res = stressed_var(three_assets, [0.3, 0.3, 0.4], correlation=bad)
    assert np.linalg.eigvalsh(res.correlation.to_numpy()).min() > -1e-10
    assert "not positive semi-definite" in res.notes[0]
    json.dumps(res.to_dict())
    assert "Stressed VaR" in res._repr_html_()


def test_stressed_var_bad_inputs(three_assets):
    with pytest.raises(ParameterError, match="vol_multiplier"):
        stressed_var(three_assets, [0.3, 0.3, 0.4], vol_multiplier=0)
    with pytest.raises(ParameterError, match=r"correlation=1\.5"):
        stressed_var(three_assets, [0.3, 0.3, 0.4], correlation=1.5)
    with pytest.raises(ParameterError, match="level"):
        stressed_var(three_assets, [0.3, 0.3, 0.4], level=99)
    holes = three_assets.copy()
    holes.iloc[3, 1] = np.nan
    with pytest.raises(QuantlabError, match=r"NaN/inf at row 3"):
        stressed_var(holes, [0.3, 0.3, 0.4])
