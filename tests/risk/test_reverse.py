"""Reverse stress tests: minimal uniform/beta shocks and the plausibility ellipsoid."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from quantlab.errors import ParameterError
from quantlab.risk.reverse import (
    ellipsoid_coverage,
    ellipsoid_k,
    most_plausible_breach,
    reverse_beta,
    reverse_uniform,
    worst_case_ellipsoid,
)

# --------------------------------------------------------------------------- uniform / beta


def test_uniform_shock_is_limit_over_gross_long_exposure():
    w = {"BTC/USDT": 0.5, "ETH/USDT": 0.3}  # 20 % cash: gross long exposure 0.8
    res = reverse_uniform(w, 0.2, value=100_000)
    assert res.shock == pytest.approx(0.2 / 0.8)  # 25 %
    assert (res.scenario == -0.25).all()
    assert res.loss == pytest.approx(0.2)
    assert res.pnl == pytest.approx(-20_000)
    assert res.summary()["contribution"].sum() == pytest.approx(-0.2)
    assert res.table.loc["reverse_uniform", "portfolio_return"] == pytest.approx(-0.2)
    json.dumps(res.to_dict())
    assert "Reverse stress" in res._repr_html_()
    fig = res.plot()
    assert [t.type for t in fig.data] == ["bar"] and fig.data[0].orientation == "h"
    bars = dict(zip(fig.data[0].y, fig.data[0].x, strict=True))
    assert bars == pytest.approx({"BTC/USDT": -0.25, "ETH/USDT": -0.25, "portfolio": -0.2})
    assert res.describe() == "uniform: every asset falling 25.00% loses 20.00%"
    assert res.title().startswith("Reverse stress: uniform")


def test_uniform_shock_errors():
    with pytest.raises(ParameterError, match=r"no uniform fall of at most 100 % loses 90\.00%"):
        reverse_uniform({"A": 0.5, "B": 0.3}, 0.9)
    with pytest.raises(ParameterError, match="net exposure"):
        reverse_uniform({"A": 0.5, "B": -0.5}, 0.1)  # market-neutral: no uniform fall hurts
    for bad in (0, -0.1, 1.5, float("nan"), "x"):
        with pytest.raises(ParameterError, match="loss_limit"):
            reverse_uniform({"A": 1.0}, bad)


def test_beta_shock_closed_form():
    # loss(s) = 0.5 s + 0.5 x 2 s = 1.5 s = 0.3  ->  s = 0.2
    res = reverse_beta({"A": 0.5, "B": 0.5}, 0.3, betas={"A": 1.0, "B": 2.0}, value=1e6)
    assert res.shock == pytest.approx(0.2)
    assert res.scenario.to_dict() == pytest.approx({"A": -0.2, "B": -0.4})
    assert res.loss == pytest.approx(0.3)
    assert list(res.summary().columns) == ["weight", "beta", "scenario_return", "contribution",
                                           "pnl"]


def test_beta_shock_with_floor_kink():
    # B (beta 4) is wiped out at s = 0.25, where the loss is 0.125 + 0.5 = 0.625.
    # L = 0.6 is reached before the kink: 2.5 s = 0.6 -> s = 0.24.
    b = {"A": 1.0, "B": 4.0}
    assert reverse_beta({"A": 0.5, "B": 0.5}, 0.6, betas=b).shock == pytest.approx(0.24)
    # L = 0.7 after it: 0.5 s + 0.5 = 0.7 -> s = 0.4, with B floored at -100 %
    res = reverse_beta({"A": 0.5, "B": 0.5}, 0.7, betas=b)
    assert res.shock == pytest.approx(0.4)
    assert res.scenario["B"] == -1.0 and "floored" in res.notes[0]
    with pytest.raises(ParameterError, match=r"a 100 % fall loses 50\.00%"):
        reverse_beta({"A": 0.5, "B": 0.5}, 0.8, betas={"A": 1.0, "B": 0.0})


def test_beta_shock_estimated_on_bundled_sample():
    res = reverse_beta({"BTC/USDT": 0.5, "ETH/USDT": 0.5}, 0.25, lookback=365)
    assert res.betas["BTC/USDT"] == 1.0
    assert res.betas["ETH/USDT"] > 0.5
    expected = 0.25 / (0.5 + 0.5 * res.betas["ETH/USDT"])
    assert res.shock == pytest.approx(expected)
    assert res.loss == pytest.approx(0.25)


def test_beta_shock_from_given_returns():
    rng = np.random.default_rng(3)
    m = rng.normal(0, 0.02, 200)
    rets = pd.DataFrame({"M": m, "X": 3.0 * m}, index=pd.date_range("2024", periods=200))
    res = reverse_beta({"X": 1.0}, 0.3, rets, market_asset="M", lookback=200)
    assert res.betas["X"] == pytest.approx(3.0)
    assert res.shock == pytest.approx(0.1)


# --------------------------------------------------------------------------- ellipsoid


@pytest.fixture(scope="module")
def rets():
    rng = np.random.default_rng(11)
    cov = np.array([[4.0, 1.5, 0.5], [1.5, 6.0, 1.0], [0.5, 1.0, 2.0]]) * 1e-4
    x = rng.multivariate_normal([0.001, 0.0005, -0.0002], cov, size=400)
    return pd.DataFrame(x, columns=["A", "B", "C"])


def test_ellipsoid_closed_form(rets):
    w = np.array([0.5, 0.2, 0.3])
    res = worst_case_ellipsoid(w, rets, k=2.5)
    mu, cov = rets.mean().to_numpy(), rets.cov().to_numpy()
    sp = np.sqrt(w @ cov @ w)
    assert res.loss == pytest.approx(-(w @ mu) + 2.5 * sp, rel=1e-12)
    r_star = mu - 2.5 * cov @ w / sp
    assert res.scenario.to_numpy() == pytest.approx(r_star, rel=1e-12)
    assert -(w @ res.scenario.to_numpy()) == pytest.approx(res.loss, rel=1e-12)
    # r* lies on the ellipsoid's surface
    d = res.scenario.to_numpy() - mu
    assert d @ np.linalg.solve(cov, d) == pytest.approx(2.5**2, rel=1e-9)
    assert res.coverage == pytest.approx(stats.chi2.cdf(6.25, 3))
    assert res.exceedance == pytest.approx(1 - res.coverage)


def test_no_point_inside_ellipsoid_loses_more(rets):
    w = np.array([0.5, 0.2, 0.3])
    k = 3.0
    res = worst_case_ellipsoid(w, rets, k=k)
    mu, cov = rets.mean().to_numpy(), rets.cov().to_numpy()
    chol = np.linalg.cholesky(cov)
    rng = np.random.default_rng(0)
    u = rng.normal(size=(20_000, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    radius = k * rng.uniform(0, 1, size=(20_000, 1)) ** (1 / 3)
    points = mu + (radius * u) @ chol.T  # uniform in the ellipsoid
    losses = -(points @ w)
    assert losses.max() <= res.loss + 1e-12
    assert losses.max() > 0.95 * res.loss  # the sampler does reach the edge


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1, 1), min_size=3, max_size=3),
       st.lists(st.floats(-1, 1), min_size=3, max_size=3).filter(
           lambda v: np.linalg.norm(v) > 1e-3),
       st.floats(0.5, 4.0))
def test_ellipsoid_bound_holds_for_any_point(rets, weights, direction, k):
    w = np.array(weights)
    if np.abs(w).sum() < 1e-3:
        return
    res = worst_case_ellipsoid(w, rets, k=k, mean=False)
    cov = rets.cov().to_numpy()
    d = np.array(direction)
    scale = k / np.sqrt(d @ np.linalg.solve(cov, d))  # put the point on the surface
    assert -(w @ (scale * d)) <= res.loss + 1e-12


def test_probability_and_k(rets):
    k = ellipsoid_k(0.99, 3)
    assert ellipsoid_coverage(k, 3) == pytest.approx(0.99)
    res = worst_case_ellipsoid([0.4, 0.3, 0.3], rets, probability=0.99)
    assert res.k == pytest.approx(k) and res.coverage == pytest.approx(0.99)
    with pytest.raises(ParameterError, match="not both"):
        worst_case_ellipsoid([0.4, 0.3, 0.3], rets, k=2, probability=0.9)
    with pytest.raises(ParameterError, match="k="):
        worst_case_ellipsoid([0.4, 0.3, 0.3], rets, k=-1)
    with pytest.raises(ParameterError, match="probability="):
        worst_case_ellipsoid([0.4, 0.3, 0.3], rets, probability=1.0)


def test_most_plausible_breach(rets):
    w = {"A": 0.4, "B": 0.3, "C": 0.3}
    res = most_plausible_breach(w, rets, 0.05)
    assert res.loss == pytest.approx(0.05)
    wv = np.array(list(w.values()))
    sp = np.sqrt(wv @ rets.cov().to_numpy() @ wv)
    assert res.k == pytest.approx((0.05 + wv @ rets.mean().to_numpy()) / sp)
    # a smaller ellipsoid cannot reach the limit
    assert worst_case_ellipsoid(w, rets, k=0.99 * res.k).loss < 0.05
    assert res.table.index[0] == "reverse_breach"
