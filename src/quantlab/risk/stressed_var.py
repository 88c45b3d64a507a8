"""Stressed parametric VaR: volatilities times ``k`` and/or all pairwise correlations set to ``rho``.

The portfolio VaR/ES are normal (parametric) figures on the sample covariance with stressed
volatilities and correlations, reported beside the unstressed base case.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from quantlab._validate import as_returns, check_horizon, check_level, check_range, check_weights
from quantlab.errors import DataError, ParameterError
from quantlab.risk._inputs import check_value
from quantlab.risk.stress_results import StressedVaRResult

__all__ = ["StressedVaRResult", "stressed_var"]


def _nearest_correlation(c: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((c + c.T) / 2.0)
    fixed = vecs @ np.diag(np.clip(vals, 1e-10, None)) @ vecs.T
    d = np.sqrt(np.diag(fixed))
    out = fixed / np.outer(d, d)
    np.fill_diagonal(out, 1.0)
    return out


def _stressed_corr(base: np.ndarray, correlation: Any, cols: Sequence[Any]
                   ) -> tuple[np.ndarray, float | None, list[str]]:
    n = base.shape[0]
    if correlation is None:
        return base, None, []
    if isinstance(correlation, int | float | np.number) and not isinstance(correlation, bool):
        rho = check_range(correlation, "correlation", -1, 1)
        lower = -1.0 / (n - 1) if n > 1 else -1.0
        if rho < lower - 1e-12:
            raise ParameterError(
                f"correlation={rho:g} is not a valid common correlation for {n} assets "
                f"(the matrix is positive semi-definite only for rho >= {lower:.4g})")
        c = np.full((n, n), rho)
        np.fill_diagonal(c, 1.0)
        return c, rho, []
    if isinstance(correlation, pd.DataFrame):
        try:
            correlation = correlation.loc[list(cols), list(cols)]
        except KeyError:
            raise ParameterError("correlation matrix must be labelled by the return columns") from None
    c = np.asarray(correlation, dtype="float64")
    if c.shape != (n, n) or not np.isfinite(c).all():
        raise ParameterError(f"correlation must be a number or a finite {n}x{n} matrix")
    if not np.allclose(c, c.T, atol=1e-10) or not np.allclose(np.diag(c), 1.0) \
            or np.abs(c).max() > 1.0 + 1e-12:
        raise ParameterError("correlation matrix must be symmetric with unit diagonal and "
                             "entries in [-1, 1]")
    if np.linalg.eigvalsh(c).min() < -1e-10:
        return _nearest_correlation(c), None, [
            "correlation matrix was not positive semi-definite; negative eigenvalues were "
            "clipped and the diagonal rescaled to 1"]
    return c, None, []


def stressed_var(
    returns: pd.DataFrame,
    weights: Any,
    level: float = 0.99,
    vol_multiplier: float = 1.0,
    correlation: float | np.ndarray | pd.DataFrame | None = None,
    *,
    horizon: int = 1,
    mean: bool = False,
    value: float | None = None,
) -> StressedVaRResult:
    """Parametric (normal) portfolio VaR/ES with stressed volatilities and correlations.

    With sample covariance ``Sigma = D C D`` (``D`` = diag of volatilities, ``C`` = correlation),
    the stressed covariance is ``(k D) C* (k D)`` where ``C*`` is ``C`` (``correlation=None``),
    the equicorrelation matrix with every off-diagonal ``rho`` (a number), or a given matrix.
    ``VaR = -h w'mu + z_level sqrt(h w' Sigma w)`` and
    ``ES = -h w'mu + sqrt(h w' Sigma w) phi(z) / (1 - level)``.

    With ``rho = 1`` the portfolio volatility is ``|sum_i w_i sigma_i|``: for a long-only
    portfolio the (zero-mean) VaR is the sum of stand-alone VaRs ``sum_i w_i sigma_i z``; with
    shorts perfect correlation makes hedges perfect, so compare with ``undiversified_var``
    (``sum_i |w_i| sigma_i z``), reported beside it.

    Parameters
    ----------
    returns : DataFrame
        Simple returns, one column per asset, no NaN.
    weights : Mapping, Series or sequence
        Portfolio weights (fractions of value).
    level : float
        Confidence level, e.g. 0.99.
    vol_multiplier : float
        ``k > 0``; every asset's volatility is multiplied by ``k``.
    correlation : float, matrix or None
        Stressed correlation. A number ``rho`` must keep the matrix positive semi-definite
        (``rho >= -1/(n-1)``); a non-PSD matrix is repaired by eigenvalue clipping (noted).
    horizon : int
        Bars; sigma scales with ``sqrt(horizon)`` and the mean with ``horizon``.
    mean : bool
        Include the sample mean (default False: zero-mean, the RiskMetrics convention and the
        more conservative choice for assets with positive drift).
    value : float, optional
        Portfolio value; adds ``var_pnl``/``es_pnl`` columns in quote currency.

    Returns
    -------
    StressedVaRResult
    """
    rets = as_returns(returns, min_obs=2, allow_frame=True)
    if isinstance(rets, pd.Series):
        rets = rets.to_frame(name=rets.name if rets.name is not None else "asset")
    level = check_level(level)
    horizon = check_horizon(horizon)
    value = check_value(value)
    k = check_range(vol_multiplier, "vol_multiplier", 0, open_low=True, coerce=True)
    cols = list(rets.columns)
    w = check_weights(weights, cols)
    x = rets.to_numpy()
    mu = x.mean(axis=0) if mean else np.zeros(len(cols))
    cov = np.atleast_2d(np.cov(x, rowvar=False, ddof=1))
    sig = np.sqrt(np.diag(cov))
    if (sig <= 0).any():
        flat = cols[int(np.argmin(sig))]
        raise DataError(f"returns of {flat} are constant; its volatility is zero")
    base_c = cov / np.outer(sig, sig)
    np.fill_diagonal(base_c, 1.0)
    stress_c, rho, notes = _stressed_corr(base_c, correlation, cols)
    z = float(stats.norm.ppf(level))
    es_factor = float(stats.norm.pdf(z) / (1.0 - level))
    h = float(horizon)

    def measures(s: np.ndarray, c: np.ndarray) -> dict[str, float]:
        sp = float(np.sqrt(max(w @ (np.outer(s, s) * c) @ w, 0.0)) * np.sqrt(h))
        m = -h * float(w @ mu)
        alone = -h * w * mu + z * np.abs(w) * s * np.sqrt(h)
        out = {"volatility": sp, "var": m + z * sp, "es": m + es_factor * sp,
               "undiversified_var": float(alone.sum())}
        if value is not None:
            out["var_pnl"] = out["var"] * value
            out["es_pnl"] = out["es"] * value
        return out

    table = pd.DataFrame([measures(sig, base_c), measures(k * sig, stress_c)],
                         index=pd.Index(["base", "stressed"], name="case"))
    sq = np.sqrt(h)
    assets = pd.DataFrame({
        "weight": w,
        "volatility": sig * sq,
        "stressed_volatility": k * sig * sq,
        "standalone_var": -h * w * mu + z * np.abs(w) * sig * sq,
        "stressed_standalone_var": -h * w * mu + z * np.abs(w) * k * sig * sq,
    }, index=pd.Index(cols, name="asset"))
    return StressedVaRResult(table=table, assets=assets,
                             correlation=pd.DataFrame(stress_c, index=cols, columns=cols),
                             level=level, vol_multiplier=k, rho=rho, horizon=horizon, mean=mean,
                             value=value, notes=notes)
