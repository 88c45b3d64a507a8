"""Monte Carlo VaR/ES: multivariate normal or Student-t asset returns, portfolio P&L.

Model: one-bar asset returns ``R = mu + A z`` (normal) or ``R = mu + sqrt((df-2)/W) A z`` with
``W ~ chi2(df)`` (multivariate t with covariance ``Sigma``), where ``A A' = Sigma`` (Cholesky;
symmetric square root when ``Sigma`` is only semi-definite). ``mu`` is the sample mean (or zero)
and ``Sigma`` the sample covariance (ddof=1) or the RiskMetrics EWMA covariance. For ``dist="t"``
``df`` is given or fitted by :func:`quantlab.risk.parametric.fit_t_df` on the portfolio returns
(a linear combination of a multivariate t is t with the same df).

Horizon ``h``: ``h`` independent daily steps per path, compounded per asset
(``prod(1 + R_s) - 1``), then the portfolio P&L is ``w . R`` (buy-and-hold over the horizon;
"aggregation" scaling). VaR/ES are read off the simulated P&L with the historical convention of
:mod:`quantlab.risk.historical` (inverted-CDF quantile, mean of the ``k`` worst paths).

Random numbers: ``Z`` (shape ``(n_paths, h, k)``) is drawn first from ``numpy.random.default_rng
(seed)``, then (for t) the gamma variates. Rolling forecasts reuse the same ``Z`` every day
(common random numbers), so a rolling forecast equals :func:`value_at_risk` on its window with the
same seed.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cov_sqrt", "draw_normals", "draw_t_scale", "simulate_portfolio"]

N_PATHS = 100_000


def cov_sqrt(cov: np.ndarray) -> np.ndarray:
    """``A`` with ``A A' = cov`` (batched): Cholesky, else the symmetric PSD square root."""
    cov = np.asarray(cov, dtype="float64")
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh((cov + np.swapaxes(cov, -1, -2)) / 2)
        return vecs * np.sqrt(np.clip(vals, 0.0, None))[..., None, :]


def draw_normals(rng: np.random.Generator, n_paths: int, horizon: int, k: int) -> np.ndarray:
    """Standard normals of shape ``(n_paths, horizon, k)``."""
    return rng.standard_normal((n_paths, horizon, k))


def draw_t_scale(rng: np.random.Generator, n_paths: int, horizon: int, df: float) -> np.ndarray:
    """Per-path, per-step factor ``sqrt((df-2)/W)``, ``W ~ chi2(df)``: turns N(0, Sigma) into a
    multivariate t with covariance Sigma."""
    w = 2.0 * rng.standard_gamma(df / 2.0, size=(n_paths, horizon))
    return np.sqrt((df - 2.0) / w)


def simulate_portfolio(mean: np.ndarray, root: np.ndarray, weights: np.ndarray, z: np.ndarray,
                       scale: np.ndarray | None = None) -> np.ndarray:
    """Simulated portfolio returns over the horizon, one per path.

    Parameters
    ----------
    mean : array (k,)
        One-bar mean asset returns.
    root : array (k, k)
        Square root of the covariance (``root @ root.T = Sigma``).
    weights : array (k,)
        Portfolio weights.
    z : array (n_paths, h, k)
        Standard normals.
    scale : array (n_paths, h), optional
        Student-t mixing factor from :func:`draw_t_scale`.
    """
    h = z.shape[1]
    if h == 1:
        pnl = z[:, 0, :] @ (root.T @ weights)
        if scale is not None:
            pnl = pnl * scale[:, 0]
        return pnl + float(weights @ mean)
    shocks = z @ root.T
    if scale is not None:
        shocks *= scale[..., None]
    shocks += mean
    growth = np.prod(1.0 + shocks, axis=1)
    return (growth - 1.0) @ weights
