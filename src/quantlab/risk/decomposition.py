"""VaR decomposition by asset: marginal, component, percent and incremental VaR (and component ES).

For a position vector ``w`` (weights summing to 1, VaR as a fraction of portfolio value):

- **marginal VaR** ``dVaR/dw_i``;
- **component VaR** ``w_i * dVaR/dw_i``; VaR is positively homogeneous of degree 1 in ``w``,
  so by Euler's theorem the components sum to VaR;
- **percent contribution** ``component_i / VaR``;
- **incremental VaR** ``VaR(w) - VaR(w with w_i = 0)``: the position is removed and the other
  weights are left unchanged (not renormalized), so both figures are fractions of the original
  portfolio value (Jorion 2007, §7.2);
- **component ES**, the Euler allocation of ES (sums to ES).

Estimators by ``method``:

- ``"parametric"`` (normal, sample mean and covariance, sqrt-time): closed form,
  ``dVaR/dw = -mu h + z sqrt(h) (Sigma w)/sigma_p`` with ``z = -Phi^-1(alpha)``; exact.
- ``"ewma"``: the same with the RiskMetrics EWMA covariance (``lam=0.94``) and zero mean.
- ``"historical"`` (one-bar horizon): ``dVaR/dw_i = -E[r_i | r_p = -VaR]`` (Gourieroux, Laurent &
  Scaillet 2000) estimated by Gaussian-kernel weights on the portfolio return around the VaR
  scenario (bandwidth ``1.06 * std(r_p) * n^(-1/5)``, Silverman), components then rescaled so
  they sum to the historical VaR (the kernel estimate of ``-E[r_p | r_p = -VaR]`` differs from
  the order statistic). Component ES is exact: ``-w_i`` times the mean of asset ``i``'s returns on
  the ``k`` tail days of the historical ES.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from quantlab._validate import (
    as_returns,
    check_horizon,
    check_level,
    check_range,
    check_weights,
)
from quantlab.errors import ParameterError
from quantlab.risk import ewma as _ewma
from quantlab.risk.historical import historical_var_es, tail_count
from quantlab.risk.parametric import normal_var_es
from quantlab.risk.var_results import VaRDecomposition

__all__ = ["DECOMPOSITION_METHODS", "VaRDecomposition", "var_decomposition"]

DECOMPOSITION_METHODS = ("parametric", "ewma", "historical")


def var_decomposition(
    returns: pd.DataFrame,
    weights: Mapping[Any, float] | Sequence[float],
    level: float = 0.99,
    method: str = "parametric",
    *,
    horizon: int = 1,
    lam: float = _ewma.LAMBDA,
    bandwidth: float | None = None,
) -> VaRDecomposition:
    """Decompose portfolio VaR into per-asset contributions.

    Parameters
    ----------
    returns : DataFrame
        Asset simple returns, one column per asset.
    weights : mapping or sequence
        Weights by column or in column order; must sum to 1.
    level : float
        Confidence level in (0, 1).
    method : {"parametric", "ewma", "historical"}
        Estimator (see the module docstring).
    horizon : int
        Horizon in bars (sqrt-time; ``historical`` supports 1 only).
    lam : float
        EWMA decay for ``method="ewma"``.
    bandwidth : float, optional
        Kernel bandwidth (in return units) for ``method="historical"``.

    Returns
    -------
    VaRDecomposition
    """
    level = check_level(level)
    horizon = check_horizon(horizon)
    if method not in DECOMPOSITION_METHODS:
        raise ParameterError(
            f"method={method!r} is not one of: {', '.join(DECOMPOSITION_METHODS)}")
    data = as_returns(returns, min_obs=2)
    if isinstance(data, pd.Series):
        data = data.to_frame(data.name if data.name is not None else "asset")
    w = check_weights(weights, data.columns, sum_to_one=True)
    r = data.to_numpy()
    alpha = 1.0 - level
    params: dict[str, Any] = {}
    if method in ("parametric", "ewma"):
        if method == "parametric":
            mu = r.mean(axis=0)
            cov = np.cov(r, rowvar=False, ddof=1).reshape(r.shape[1], r.shape[1])
        else:
            lam = _ewma.check_lambda(lam)
            mu = np.zeros(r.shape[1])
            cov = _ewma.ewma_covariance(r, lam)
            params["lambda"] = lam
        z = -stats.norm.ppf(alpha)
        sw = cov @ w
        sigma = float(np.sqrt(w @ sw))
        grad_sigma = sw / sigma if sigma > 0 else np.zeros_like(sw)
        marginal = -mu * horizon + z * np.sqrt(horizon) * grad_sigma
        marginal_es = -mu * horizon + stats.norm.pdf(z) / alpha * np.sqrt(horizon) * grad_sigma
        component = w * marginal
        component_es = w * marginal_es
        var, es = normal_var_es(float(w @ mu), sigma, level, horizon)
        params.update(mean=float(w @ mu), sigma=sigma)

        def var_of(weights_: np.ndarray) -> float:
            s = float(np.sqrt(max(weights_ @ cov @ weights_, 0.0)))
            return float(normal_var_es(float(weights_ @ mu), s, level, horizon)[0])
    else:
        if horizon != 1:
            raise ParameterError(f"horizon={horizon} is not supported for method='historical' (use 1)")
        port = r @ w
        var, es = historical_var_es(port, level)
        k = tail_count(len(port), level)
        tail = np.argpartition(port, k - 1)[:k]
        component_es = -w * r[tail].mean(axis=0)
        component_es *= es / component_es.sum() if component_es.sum() != 0 else 1.0
        b = check_range(bandwidth, "bandwidth", 0, open_low=True, allow_none=True, coerce=True)
        if b is None:
            b = 1.06 * float(port.std(ddof=1)) * len(port) ** (-0.2)
            if not np.isfinite(b) or b <= 0:
                raise ParameterError(f"the default bandwidth is {b!r} (portfolio returns without "
                                     "spread); pass a positive bandwidth=")
        kern = np.exp(-0.5 * ((port + var) / b) ** 2)
        cond = -(kern @ r) / kern.sum()          # -E[r_i | r_p = -VaR]
        raw = w * cond
        scale = var / raw.sum() if raw.sum() != 0 else 0.0
        component = raw * scale
        marginal = cond * scale
        marginal_es = np.divide(component_es, w, out=np.full_like(w, np.nan), where=w != 0)
        params.update(bandwidth=b, n_tail=k, kernel_var=float(raw.sum()))

        def var_of(weights_: np.ndarray) -> float:
            return float(historical_var_es(r @ weights_, level)[0])
    incremental = np.empty(len(w))
    for i in range(len(w)):
        without = w.copy()
        without[i] = 0.0
        incremental[i] = var - var_of(without)
    table = pd.DataFrame({
        "weight": w, "marginal_var": marginal, "component_var": component,
        "pct_contribution": component / var if var != 0 else np.nan,
        "incremental_var": incremental, "marginal_es": marginal_es,
        "component_es": component_es,
    }, index=pd.Index(data.columns, name="asset"))
    return VaRDecomposition(table=table, var=float(var), es=float(es), method=method,
                            level=level, horizon=horizon, params=params)
