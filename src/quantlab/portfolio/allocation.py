"""The result of :func:`quantlab.portfolio.optimize`: weights plus the optimiser's diagnostics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from quantlab._result import Result

__all__ = ["OptimizeResult", "risk_contributions", "weights_of"]

#: stats() rows copied from ``params`` when present, in this order
_PARAM_STATS = ("shrinkage", "ewma_lambda", "linkage", "distance", "cvar", "var",
                "level", "turnover", "expected_returns", "n_obs", "start", "end")


def risk_contributions(weights: Any, cov: Any) -> pd.Series | np.ndarray:
    """Fractions of portfolio variance ``w_i (Σw)_i / w'Σw`` (sum to 1)."""
    w = np.asarray(weights, dtype="float64")
    s = np.asarray(cov, dtype="float64")
    sw = s @ w
    var = float(w @ sw)
    out = w * sw / var if var > 0 else np.full(w.shape, np.nan)
    if isinstance(weights, pd.Series):
        return pd.Series(out, index=weights.index, name="risk_contribution")
    return out


def weights_of(obj: Any) -> Any:
    """``obj.weights`` for an :class:`OptimizeResult`, anything else unchanged.

    Lets every function taking target weights accept an optimiser result as well.
    """
    return obj.weights if isinstance(obj, OptimizeResult) else obj


@dataclass(repr=False)
class OptimizeResult(Result):
    """Weights and diagnostics of one optimisation (returned by :func:`optimize`).

    ``stats()`` holds the headline figures (method, status, covariance estimator, expected
    return, volatility, Sharpe ratio per bar, CVaR, turnover, ...); ``summary()`` the per-asset
    table (weight, risk contribution, volatility, expected return); ``plot()`` the weights and
    risk contributions as grouped bars.

    Attributes
    ----------
    weights : Series
        Weights by asset (sum to 1).
    risk_contributions : Series
        ``w_i (Σw)_i / w'Σw`` (fractions of variance, sum to 1).
    expected_return, volatility, sharpe : float
        Per bar: ``mu'w``, ``sqrt(w'Σw)``, ``(mu'w - risk_free) / volatility``.
    method : str
        One of :data:`METHODS`.
    status : str
        ``"optimal"`` (solved), ``"heuristic"`` (equal/inverse_vol/hrp as is), ``"projected"``
        (heuristic projected onto the constraints) or ``"closest_budgets"`` (ERC/risk budgets
        unattainable under the constraints).
    risk_free : float
        Per-bar risk-free rate used in the Sharpe ratio.
    params : dict
        Covariance estimator (and Ledoit–Wolf shrinkage / EWMA lambda), HRP linkage/distance,
        risk budgets, CVaR/VaR for ``min_cvar``, turnover, observation count and date range.
    covariance : DataFrame
        The covariance matrix used.
    mu : Series
        Per-bar expected return of each asset used.
    """

    weights: pd.Series
    risk_contributions: pd.Series
    expected_return: float
    volatility: float
    sharpe: float
    method: str
    status: str = "optimal"
    risk_free: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    covariance: pd.DataFrame | None = field(default=None, compare=False)
    mu: pd.Series | None = field(default=None, compare=False)

    _percent: ClassVar[frozenset[str]] = frozenset({
        "weight", "risk_contribution", "volatility", "expected_return", "cvar", "var",
        "turnover", "risk_free"})

    @property
    def cov_method(self) -> str:
        """Covariance estimator (``"sample"``, ``"ledoit_wolf"``, ``"ewma"`` or ``"given"``)."""
        return str(self.params.get("cov", "given"))

    def title(self) -> str:
        return (f"{self.method} portfolio ({self.status}), {len(self.weights)} assets, "
                f"cov {self.cov_method}")

    def stats(self) -> pd.Series:
        """Headline figures: method, status, cov, expected_return, volatility, sharpe (per
        bar), risk_free, n_assets and, when they apply, shrinkage / ewma_lambda, HRP linkage and
        distance, cvar / var / level, turnover, n_obs, start, end."""
        out: dict[str, Any] = {"method": self.method, "status": self.status,
                               "cov": self.cov_method,
                               "expected_return": self.expected_return,
                               "volatility": self.volatility, "sharpe": self.sharpe,
                               "risk_free": self.risk_free, "n_assets": len(self.weights)}
        for key in _PARAM_STATS:
            if key in self.params:
                out[key] = self.params[key]
        return pd.Series(out, name=self.method, dtype=object)

    def _summary_table(self) -> pd.DataFrame:
        table = pd.DataFrame({"weight": self.weights,
                              "risk_contribution": self.risk_contributions})
        if self.covariance is not None:
            table["volatility"] = np.sqrt(np.diag(
                self.covariance.reindex(index=self.weights.index,
                                        columns=self.weights.index).to_numpy()))
        if self.mu is not None:
            table["expected_return"] = self.mu.reindex(self.weights.index).to_numpy()
        table.index.name = "asset"
        return table

    def _figure(self, **kwargs: Any) -> Any:
        from quantlab.charts.portfolio import allocation_figure

        title = kwargs.pop("title", f"{self.method} portfolio ({self.status})")
        if kwargs:
            raise TypeError(f"plot() got unexpected arguments: {', '.join(kwargs)}")
        return allocation_figure(self.weights, self.risk_contributions, title=title)

    def _extra_dict(self) -> dict[str, Any]:
        stats = self.stats()
        return {"weights": self.weights, "risk_contributions": self.risk_contributions,
                "params": {k: v for k, v in self.params.items() if k not in stats.index}}
