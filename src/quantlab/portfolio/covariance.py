"""Covariance estimators for portfolio construction: sample, Ledoit–Wolf, EWMA.

* ``sample``: the unbiased sample covariance (``ddof=1``). Needs at least ``n_assets + 1``
  observations (fewer give a singular matrix).
* ``ledoit_wolf``: Ledoit & Wolf (2004), "Honey, I shrunk the sample covariance matrix",
  *Journal of Portfolio Management* 30(4), 110–119. Shrinks toward the **constant-correlation**
  target ``F`` (sample variances on the diagonal, ``rbar sqrt(s_ii s_jj)`` off it, ``rbar`` the
  average sample correlation) with the optimal intensity

  ``delta* = max(0, min(1, kappa / T))``,  ``kappa = (pi - rho) / gamma``, where (``x`` the
  demeaned returns, ``s = x'x / T``)

  - ``pi   = sum_ij pi_ij``, ``pi_ij = 1/T sum_t (x_ti x_tj - s_ij)^2``
  - ``rho  = sum_i pi_ii + rbar/2 sum_{i!=j} (sqrt(s_jj/s_ii) theta_ii,ij + sqrt(s_ii/s_jj)
    theta_jj,ij)``, ``theta_ii,ij = 1/T sum_t (x_ti^2 - s_ii)(x_ti x_tj - s_ij)``
  - ``gamma = sum_ij (f_ij - s_ij)^2``

  exactly as in the paper's appendix (and the authors' ``covCor.m``). As in the paper, the sample
  matrix ``S`` inside the formula and in the result is the ``1/T`` (maximum-likelihood) one, so
  ``Sigma = delta* F + (1 - delta*) S``. With two assets (or any sample whose correlations are all
  equal) ``F == S``, ``gamma == 0`` and the intensity is reported as 1 (the matrix is the same for
  every intensity). Needs at least 2 observations.
* ``ewma``: RiskMetrics exponentially weighted covariance (zero mean, ``lambda = 0.94``), the
  one-step-ahead forecast of :func:`quantlab.risk.ewma.ewma_covariance`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from quantlab._validate import as_returns
from quantlab.errors import DataError, ParameterError
from quantlab.risk.ewma import LAMBDA, check_lambda, ewma_covariance

__all__ = [
    "COV_METHODS",
    "covariance",
    "ewma_cov",
    "ledoit_wolf",
    "ledoit_wolf_shrinkage",
    "sample_covariance",
]

COV_METHODS = ("sample", "ledoit_wolf", "ewma")


def _frame(returns: Any, min_obs: int = 2) -> pd.DataFrame:
    out = as_returns(returns, min_obs=min_obs, name="returns")
    if isinstance(out, pd.Series):
        out = out.to_frame()
    return out


def sample_covariance(returns: Any) -> pd.DataFrame:
    """Unbiased sample covariance (``ddof=1``) of the columns of ``returns``.

    Raises
    ------
    DataError
        NaN/inf returns or fewer than ``n_assets + 1`` (and 2) observations.
    """
    frame = _frame(returns, min_obs=2)
    if len(frame) < frame.shape[1] + 1:
        raise DataError(f"returns has {len(frame)} observations for {frame.shape[1]} assets; the "
                        f"sample covariance needs at least {frame.shape[1] + 1} (or use "
                        "cov='ledoit_wolf')")
    x = frame.to_numpy()
    cov = np.cov(x, rowvar=False, ddof=1).reshape(x.shape[1], x.shape[1])
    return pd.DataFrame(cov, index=frame.columns, columns=frame.columns)


def _lw_parts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Sample (1/T) matrix, constant-correlation target and optimal intensity (see module doc)."""
    t, n = x.shape
    x = x - x.mean(axis=0)
    s = x.T @ x / t
    var = np.diag(s).copy()
    if (var <= 0).any():
        raise ParameterError("ledoit_wolf needs every asset to have non-zero variance "
                             f"(constant: column {int(np.argmin(var))})")
    sd = np.sqrt(var)
    corr = s / np.outer(sd, sd)
    rbar = (corr.sum() - n) / (n * (n - 1)) if n > 1 else 0.0
    target = rbar * np.outer(sd, sd)
    np.fill_diagonal(target, var)
    y = x**2
    pi_mat = y.T @ y / t - s**2                              # pi_ij
    pi_hat = pi_mat.sum()
    theta = (x**3).T @ x / t - var[:, None] * s              # theta_ii,ij (row i, column j)
    np.fill_diagonal(theta, 0.0)
    rho_hat = np.trace(pi_mat) + rbar * ((sd[None, :] / sd[:, None]) * theta).sum()
    gamma_hat = float(((target - s) ** 2).sum())
    if gamma_hat <= 1e-300 * max(1.0, float(var.max()) ** 2):
        return s, target, 1.0
    kappa = (pi_hat - rho_hat) / gamma_hat
    return s, target, float(max(0.0, min(1.0, kappa / t)))


def ledoit_wolf(returns: Any) -> tuple[pd.DataFrame, float]:
    """Ledoit–Wolf (2004) constant-correlation shrinkage covariance and its intensity.

    Returns
    -------
    (DataFrame, float)
        ``delta* F + (1 - delta*) S`` and ``delta*`` in [0, 1] (module docstring for formulas).
    """
    frame = _frame(returns, min_obs=2)
    s, target, delta = _lw_parts(frame.to_numpy())
    cov = delta * target + (1.0 - delta) * s
    return pd.DataFrame(cov, index=frame.columns, columns=frame.columns), delta


def ledoit_wolf_shrinkage(returns: Any) -> float:
    """The optimal Ledoit–Wolf (2004) shrinkage intensity ``delta*`` in [0, 1]."""
    return ledoit_wolf(returns)[1]


def ewma_cov(returns: Any, lam: float = LAMBDA) -> pd.DataFrame:
    """RiskMetrics EWMA covariance forecast (zero mean, decay ``lam``) after the last row."""
    lam = check_lambda(lam, "ewma_lambda")
    frame = _frame(returns, min_obs=2)
    cov = ewma_covariance(frame.to_numpy(), lam)
    return pd.DataFrame(cov, index=frame.columns, columns=frame.columns)


def covariance(returns: Any, method: str = "sample", *, ewma_lambda: float = LAMBDA
               ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Covariance by name (one of :data:`COV_METHODS`) plus estimator details.

    Returns
    -------
    (DataFrame, dict)
        The matrix and ``{"cov": method, ...}`` (``shrinkage`` for Ledoit–Wolf, ``ewma_lambda``
        for EWMA).
    """
    if method == "sample":
        return sample_covariance(returns), {"cov": "sample"}
    if method == "ledoit_wolf":
        cov, delta = ledoit_wolf(returns)
        return cov, {"cov": "ledoit_wolf", "shrinkage": delta}
    if method == "ewma":
        lam = check_lambda(ewma_lambda, "ewma_lambda")
        return ewma_cov(returns, lam), {"cov": "ewma", "ewma_lambda": lam}
    raise ParameterError(f"cov={method!r} is not a covariance estimator; "
                         f"use one of {', '.join(COV_METHODS)} or pass a matrix")
