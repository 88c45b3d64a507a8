"""RiskMetrics EWMA volatility and covariance (J.P. Morgan/Reuters 1996).

Recursion (zero mean, as in RiskMetrics: daily means are negligible next to volatility)::

    sigma2_1     = mean(r_1^2, ..., r_m^2),  m = min(init_obs, n)   (init_obs = 30)
    sigma2_{t+1} = lam * sigma2_t + (1 - lam) * r_t^2,               lam = 0.94

so the forecast after ``n`` returns is the closed form
``sigma2_{n+1} = lam^n sigma2_1 + (1-lam) sum_{j=1..n} lam^(n-j) r_j^2`` (one dot product per
window, which is how rolling forecasts are vectorized). The covariance version replaces
``r_t^2`` by ``r_t r_t'``; for a constant-weight portfolio ``w' Sigma w`` equals the EWMA variance
of the portfolio returns ``w' r_t`` exactly.

VaR/ES are normal with zero mean: ``VaR = -z_alpha sigma sqrt(h)``,
``ES = sigma sqrt(h) phi(z_alpha)/alpha`` (square-root-of-time).

Reference: J.P. Morgan/Reuters (1996). *RiskMetrics — Technical Document*, 4th ed., §5.2.
"""

from __future__ import annotations

import numpy as np

from quantlab._validate import check_range

__all__ = ["ewma_covariance", "ewma_forecast", "ewma_variance"]

LAMBDA = 0.94
INIT_OBS = 30


def check_lambda(lam: float, name: str = "lam") -> float:
    """A decay factor in (0, 1]."""
    return check_range(lam, name, 0, 1, open_low=True, hint="e.g. 0.94", coerce=True)


def ewma_variance(returns: np.ndarray, lam: float = LAMBDA, init_obs: int = INIT_OBS) -> np.ndarray:
    """EWMA variance path ``sigma2_1 .. sigma2_{n+1}`` (the last element is the forecast).

    Parameters
    ----------
    returns : array, shape (n,)
        Returns, oldest first.
    lam : float
        Decay factor.
    init_obs : int
        Observations averaged (as squares) for ``sigma2_1``.
    """
    r = np.asarray(returns, dtype="float64")
    n = len(r)
    out = np.empty(n + 1)
    out[0] = np.mean(r[: max(1, min(init_obs, n))] ** 2)
    for t in range(n):
        out[t + 1] = lam * out[t] + (1 - lam) * r[t] ** 2
    return out


def _weights(n: int, lam: float) -> tuple[np.ndarray, float]:
    w = (1 - lam) * lam ** np.arange(n - 1, -1, -1, dtype="float64")
    return w, lam**n


def ewma_forecast(x: np.ndarray, lam: float = LAMBDA, init_obs: int = INIT_OBS) -> np.ndarray | float:
    """One-step-ahead EWMA variance after each row of ``x`` (shape ``(n,)`` or ``(m, n)``)."""
    x = np.asarray(x, dtype="float64")
    one = x.ndim == 1
    x2 = np.atleast_2d(x) ** 2
    n = x2.shape[1]
    w, head = _weights(n, lam)
    init = x2[:, : max(1, min(init_obs, n))].mean(axis=1)
    out = head * init + x2 @ w
    return float(out[0]) if one else out


def ewma_covariance(returns: np.ndarray, lam: float = LAMBDA, init_obs: int = INIT_OBS) -> np.ndarray:
    """One-step-ahead EWMA covariance matrix after the rows of ``returns`` (shape ``(n, k)``),
    or a stack of them for input of shape ``(m, n, k)``."""
    r = np.asarray(returns, dtype="float64")
    n = r.shape[-2]
    w, head = _weights(n, lam)
    m = max(1, min(init_obs, n))
    init = np.einsum("...ti,...tj->...ij", r[..., :m, :], r[..., :m, :]) / m
    return head * init + np.einsum("t,...ti,...tj->...ij", w, r, r)
