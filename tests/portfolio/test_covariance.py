"""Covariance estimators: sample, Ledoit–Wolf (2004, constant correlation), EWMA."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantlab.errors import DataError, ParameterError, QuantlabError
from quantlab.portfolio.covariance import (
    COV_METHODS,
    covariance,
    ewma_cov,
    ledoit_wolf,
    ledoit_wolf_shrinkage,
    sample_covariance,
)
from quantlab.risk.ewma import ewma_covariance


def _lw_reference(x: np.ndarray) -> float:
    """Ledoit & Wolf (2004, JPM) appendix formulas written out term by term with loops."""
    t, n = x.shape
    x = x - x.mean(axis=0)
    s = np.array([[sum(x[k, i] * x[k, j] for k in range(t)) / t for j in range(n)]
                  for i in range(n)])
    r = np.array([[s[i, j] / np.sqrt(s[i, i] * s[j, j]) for j in range(n)] for i in range(n)])
    rbar = sum(r[i, j] for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    f = np.array([[s[i, i] if i == j else rbar * np.sqrt(s[i, i] * s[j, j]) for j in range(n)]
                  for i in range(n)])
    pi = np.array([[sum((x[k, i] * x[k, j] - s[i, j]) ** 2 for k in range(t)) / t
                    for j in range(n)] for i in range(n)])

    def theta(i: int, j: int) -> float:  # theta_ii,ij
        return sum((x[k, i] ** 2 - s[i, i]) * (x[k, i] * x[k, j] - s[i, j]) for k in range(t)) / t

    rho = sum(pi[i, i] for i in range(n)) + rbar / 2 * sum(
        np.sqrt(s[j, j] / s[i, i]) * theta(i, j) + np.sqrt(s[i, i] / s[j, j]) * theta(j, i)
        for i in range(n) for j in range(n) if i != j)
    gamma = sum((f[i, j] - s[i, j]) ** 2 for i in range(n) for j in range(n))
    return max(0.0, min(1.0, (pi.sum() - rho) / gamma / t))


def test_sample_covariance_is_ddof1(returns: pd.DataFrame) -> None:
    got = sample_covariance(returns)
    pd.testing.assert_frame_equal(got, returns.cov(ddof=1))


def test_ledoit_wolf_hand_computation() -> None:
    # Three assets, T = 16 (the 8 rows below twice), entries +-1 (scaled by 0.01, which leaves
    # the intensity unchanged), all columns mean zero and unit variance:
    #   S = [[1, .5, 0], [.5, 1, .5], [0, .5, 1]]       (1/T sample; e.g. s12 = (6 - 2)/8 = .5)
    #   rbar = (.5 + 0 + .5) / 3 = 1/3;  F = 1 on the diagonal, 1/3 off it
    #   pi_ii = mean((x^2 - 1)^2) = 0;  pi_ij = mean(x_i^2 x_j^2) - s_ij^2 = 1 - s_ij^2
    #   pi = 2 (3/4 + 1 + 3/4) = 5
    #   theta_ii,ij = mean((x_i^2 - 1)(...)) = 0  ->  rho = sum pi_ii = 0
    #   gamma = ||F - S||^2 = 2 (2 (1/3 - 1/2)^2 + (1/3)^2) = 1/3
    #   kappa = (5 - 0) / (1/3) = 15,  delta = kappa / T = 15/16 = 0.9375
    #   Sigma_12 = 15/16 * 1/3 + 1/16 * 1/2 = 11/32,  Sigma_13 = 15/16 * 1/3 = 5/16 (x 1e-4)
    rows = np.array([
        [1, 1, 1], [1, 1, -1], [1, 1, 1], [1, -1, -1],
        [-1, 1, 1], [-1, -1, -1], [-1, -1, 1], [-1, -1, -1],
    ], dtype=float)
    x = pd.DataFrame(np.vstack([rows, rows]) * 0.01, columns=["a", "b", "c"])
    cov, delta = ledoit_wolf(x)
    assert delta == pytest.approx(15 / 16, abs=1e-12)
    expected = 1e-4 * np.array([[1, 11 / 32, 5 / 16], [11 / 32, 1, 11 / 32],
                                [5 / 16, 11 / 32, 1]])
    np.testing.assert_allclose(cov.to_numpy(), expected, rtol=1e-12, atol=1e-18)
    assert list(cov.index) == ["a", "b", "c"]


def test_ledoit_wolf_matches_term_by_term_formula_3x3() -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_t(4, size=(20, 3)) @ np.array([[1, .9, 0], [0, .5, .3], [0, 0, 1]]) * 0.02
    delta = ledoit_wolf_shrinkage(x)
    ref = _lw_reference(x)
    assert 0.0 < ref < 1.0  # a non-clipped case, so the formula itself is tested
    assert delta == pytest.approx(ref, rel=1e-12)
    # and the matrix is the convex combination of target and 1/T sample matrix
    xc = x - x.mean(axis=0)
    s = xc.T @ xc / len(x)
    cov, _ = ledoit_wolf(x)
    sd = np.sqrt(np.diag(s))
    corr = s / np.outer(sd, sd)
    rbar = (corr.sum() - 3) / 6
    f = rbar * np.outer(sd, sd)
    np.fill_diagonal(f, np.diag(s))
    np.testing.assert_allclose(cov.to_numpy(), delta * f + (1 - delta) * s, rtol=1e-12)


def test_ledoit_wolf_on_sample_in_unit_interval(returns: pd.DataFrame) -> None:
    cov, delta = ledoit_wolf(returns)
    assert 0.0 <= delta <= 1.0
    assert delta == pytest.approx(ledoit_wolf_shrinkage(returns), rel=1e-15)
    assert np.linalg.eigvalsh(cov.to_numpy())[0] > 0
    np.testing.assert_allclose(np.diag(cov), returns.var(ddof=0), rtol=1e-12)


def test_ledoit_wolf_two_assets_target_equals_sample() -> None:
    x = 0.03 * np.random.default_rng(1).normal(size=(30, 2))  # plausible daily returns
    cov, delta = ledoit_wolf(x)
    assert delta == 1.0
    np.testing.assert_allclose(cov.to_numpy(), np.cov(x, rowvar=False, ddof=0), rtol=1e-12)


def test_ewma_matches_risk_layer(returns: pd.DataFrame) -> None:
    got = ewma_cov(returns, 0.97)
    np.testing.assert_allclose(got.to_numpy(), ewma_covariance(returns.to_numpy(), 0.97))
    cov, info = covariance(returns, "ewma", ewma_lambda=0.97)
    assert info == {"cov": "ewma", "ewma_lambda": 0.97}
    pd.testing.assert_frame_equal(cov, got)


def test_covariance_dispatch_and_errors(returns: pd.DataFrame) -> None:
    assert COV_METHODS == ("sample", "ledoit_wolf", "ewma")
    _, info = covariance(returns, "ledoit_wolf")
    assert set(info) == {"cov", "shrinkage"}
    with pytest.raises(ParameterError, match=r"cov='bogus'.*sample, ledoit_wolf, ewma"):
        covariance(returns, "bogus")
    with pytest.raises(DataError, match=r"at least 9"):
        sample_covariance(returns.iloc[:5])
    ledoit_wolf(returns.iloc[:5])  # shrinkage copes with T < n
    bad = returns.copy()
    bad.iloc[3, 2] = np.nan
    with pytest.raises(DataError, match=r"NaN/inf at row 3"):
        covariance(bad)
    with pytest.raises(DataError, match=r"at least 2"):
        ledoit_wolf(returns.iloc[:1])
    with pytest.raises(ParameterError, match=r"ewma_lambda"):
        ewma_cov(returns, 1.5)
    with pytest.raises(QuantlabError, match=r"non-zero variance"):
        ledoit_wolf(pd.DataFrame({"a": [0.01, 0.02, 0.0], "b": [0.0, 0.0, 0.0],
                                  "c": [0.1, -0.1, 0.0]}))
