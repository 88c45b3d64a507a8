"""Result objects of the VaR family: one method, all methods, rolling forecasts, decomposition.

They live apart from the functions that build them (:mod:`~quantlab.risk.var`,
:mod:`~quantlab.risk.parametric`, :mod:`~quantlab.risk.rolling`,
:mod:`~quantlab.risk.decomposition`) so those modules can share them without importing each
other. Every class follows :class:`quantlab._result.Result`: ``stats()`` (raw numbers),
``summary(formatted=False)``, ``to_dict()``, ``plot()`` and reprs built from the summary.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from quantlab._result import Result
from quantlab.errors import ParameterError

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

    from quantlab.risk.backtesting import VaRBacktestResult

__all__ = ["RollingVaRResult", "VaRComparison", "VaRDecomposition", "VaRResult"]

#: Fitted parameters that are fractions of value (shown as percentages).
_PCT_PARAMS = frozenset({"mean", "sigma", "scale", "kernel_var", "bandwidth"})


def _numeric(params: Mapping[str, Any]) -> dict[str, Any]:
    """The numeric/bool entries of a params dict (strings such as ``dist`` are left out)."""
    return {k: v for k, v in params.items()
            if isinstance(v, bool | int | float | np.number | np.bool_)}


def _dates(start: Any, end: Any) -> str:
    if start is None or end is None:
        return ""
    return f"{pd.Timestamp(start).date()} → {pd.Timestamp(end).date()}"


@dataclass(frozen=True, repr=False)
class VaRResult(Result):
    """VaR and ES of one method.

    Attributes
    ----------
    var, es : float
        Positive loss fractions of portfolio value over ``horizon`` bars (``es >= var``).
    method : str
        One of :data:`quantlab.risk.var.METHODS`.
    level : float
        Confidence level (0.99 = 1 % tail).
    horizon : int
        Horizon in bars.
    scaling : {"sqrt_time", "aggregation", "none"}
        How the horizon was handled: square-root-of-time on the one-bar distribution, explicit
        multi-bar aggregation (overlapping compounded returns or simulated paths), or none
        (``horizon == 1``).
    n_obs : int
        Number of one-bar return observations used.
    start, end : Timestamp or None
        Date range of the inputs (None without a DatetimeIndex).
    params : dict
        Fitted parameters (mean, sigma, df, lambda, skew, kurt, GARCH params, n_paths, ...).
        Cornish–Fisher adds ``cf_valid`` (False outside the expansion's domain of validity).
    returns : Series or None
        The one-bar (portfolio) return series the figures came from (for :meth:`plot`).
    weights : Series or None
        Portfolio weights by asset (None for a single return series without weights).
    """

    var: float
    es: float
    method: str
    level: float
    horizon: int = 1
    scaling: str = "none"
    n_obs: int = 0
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    params: dict[str, Any] = field(default_factory=dict)
    returns: pd.Series | None = field(default=None, compare=False)
    weights: pd.Series | None = field(default=None, compare=False)

    _percent = frozenset({"var", "es", "level"}) | _PCT_PARAMS

    def title(self) -> str:
        flag = "" if self.params.get("cf_valid", True) else " [outside Cornish-Fisher domain]"
        return (f"{self.level:.1%} {self.horizon}-bar VaR ({self.method}): VaR {self.var:.2%}, "
                f"ES {self.es:.2%}{flag}")

    def stats(self) -> pd.Series:
        """var, es, level, horizon, n_obs, start, end and the numeric fitted parameters."""
        head = {"var": self.var, "es": self.es, "level": self.level, "horizon": self.horizon,
                "n_obs": self.n_obs, "start": self.start, "end": self.end}
        return pd.Series({**head, **_numeric(self.params)}, dtype=object, name=self.method)

    def _summary_table(self) -> pd.DataFrame:
        rows = {"var": self.var, "es": self.es, "method": self.method, "level": self.level,
                "horizon": self.horizon, "scaling": self.scaling, "n_obs": self.n_obs,
                "start": self.start, "end": self.end, **self.params}
        return pd.Series(rows, dtype=object).to_frame(self.method)

    def _extra_dict(self) -> dict[str, Any]:
        return {"var": self.var, "es": self.es, "method": self.method, "level": self.level,
                "horizon": self.horizon, "scaling": self.scaling, "n_obs": self.n_obs,
                "start": self.start, "end": self.end, "params": dict(self.params)}

    def _figure(self, **kwargs: Any) -> go.Figure:
        """Histogram of the returns with the VaR (solid) and ES (dotted) lines."""
        from quantlab.charts.risk import var_histogram_figure

        if self.returns is None:
            raise ParameterError("this VaRResult has no return series to plot (built from moments)")
        lines = pd.DataFrame({"var": [self.var], "es": [self.es]}, index=[self.method])
        return var_histogram_figure(self.returns, lines, level=self.level, horizon=self.horizon,
                                    **kwargs)


class VaRComparison(Result, Mapping[str, VaRResult]):
    """VaR/ES of several methods on the same returns (``value_at_risk(method="all")``).

    A read-only mapping ``method -> VaRResult`` (``comp["fhs"].var``, ``list(comp)``) with a
    side-by-side table.
    """

    _percent = frozenset({"var", "es", "level"})

    def __init__(self, results: Mapping[str, VaRResult]) -> None:
        if not results:
            raise ParameterError("a VaRComparison needs at least one method")
        self._results = dict(results)

    # mapping access
    def __getitem__(self, method: str) -> VaRResult:
        return self._results[method]

    def __iter__(self) -> Iterator[str]:
        return iter(self._results)

    def __len__(self) -> int:
        return len(self._results)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, VaRComparison):
            return self._results == other._results
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    @property
    def _first(self) -> VaRResult:
        return next(iter(self._results.values()))

    def title(self) -> str:
        f = self._first
        dates = _dates(f.start, f.end)
        span = f"{f.n_obs:,} returns" + (f" {dates}" if dates else "")
        book = ("" if f.weights is None or len(f.weights) < 2 else
                "; " + ", ".join(f"{a} {w:g}" for a, w in f.weights.items()))
        return (f"{f.level:.2%} VaR/ES, {f.horizon}-bar horizon, {len(self)} methods{book}; "
                f"{span}")

    def stats(self) -> pd.Series:
        """level, horizon, n_obs, start, end, then ``var_<method>`` and ``es_<method>``."""
        f = self._first
        out: dict[str, Any] = {"level": f.level, "horizon": f.horizon, "n_obs": f.n_obs,
                               "start": f.start, "end": f.end}
        for m, r in self._results.items():
            out[f"var_{m}"] = r.var
        for m, r in self._results.items():
            out[f"es_{m}"] = r.es
        return pd.Series(out, dtype=object, name="var_comparison")

    def _summary_table(self) -> pd.DataFrame:
        """Indexed by method: var, es, scaling."""
        table = pd.DataFrame({"var": {m: r.var for m, r in self._results.items()},
                              "es": {m: r.es for m, r in self._results.items()},
                              "scaling": {m: r.scaling for m, r in self._results.items()}})
        table.index.name = "method"
        return table

    def _extra_dict(self) -> dict[str, Any]:
        f = self._first
        return {"level": f.level, "horizon": f.horizon, "weights": f.weights, "start": f.start,
                "end": f.end, "n_obs": f.n_obs,
                "methods": {m: r.to_dict() for m, r in self._results.items()}}

    def _figure(self, **kwargs: Any) -> go.Figure:
        """Histogram of the returns with every method's VaR/ES lines."""
        from quantlab.charts.risk import var_histogram_figure

        f = self._first
        if f.returns is None:
            raise ParameterError("this VaRComparison has no return series to plot")
        return var_histogram_figure(f.returns, self._summary_table()[["var", "es"]],
                                    level=f.level, horizon=f.horizon, **kwargs)


@dataclass(frozen=True, repr=False)
class RollingVaRResult(Result):
    """One-step-ahead rolling VaR/ES forecasts (:func:`quantlab.risk.rolling.rolling_var`).

    Attributes
    ----------
    forecasts : DataFrame
        Indexed by forecast date: ``var``, ``es`` (positive loss fractions) and ``realized``
        (the portfolio return over ``t .. t+horizon-1``; NaN where the data end first); for
        Cornish–Fisher also ``cf_valid``. ``attrs`` holds method, level, window, horizon,
        refit_every.
    method, level, window, horizon, refit_every
        The forecast settings.
    """

    forecasts: pd.DataFrame
    method: str
    level: float
    window: int
    horizon: int = 1
    refit_every: int = 1

    _percent = frozenset({"level", "breach_rate", "expected_rate", "mean_var", "mean_es",
                          "max_var", "last_var", "last_es"})

    @property
    def var(self) -> pd.Series:
        """VaR forecasts (positive loss fractions)."""
        return self.forecasts["var"]

    @property
    def es(self) -> pd.Series:
        """ES forecasts (positive loss fractions)."""
        return self.forecasts["es"]

    @property
    def realized(self) -> pd.Series:
        """Realized portfolio return over each forecast's horizon."""
        return self.forecasts["realized"]

    def _observed(self) -> pd.DataFrame:
        return self.forecasts.dropna(subset=["realized"])

    def title(self) -> str:
        fc = self.forecasts
        obs = self._observed()
        breaches = int((obs["realized"] < -obs["var"]).sum())
        return (f"{self.method} {self.level:.2%} {self.horizon}-bar VaR forecasts, window "
                f"{self.window}, {len(fc):,} forecasts {_dates(fc.index[0], fc.index[-1])}: "
                f"{breaches} breaches (expected {len(obs) * (1 - self.level):.1f})")

    def stats(self) -> pd.Series:
        """Forecast count and dates, breaches vs expected, mean/max/last VaR and ES."""
        fc = self.forecasts
        obs = self._observed()
        breaches = int((obs["realized"] < -obs["var"]).sum())
        out: dict[str, Any] = {
            "level": self.level, "window": self.window, "horizon": self.horizon,
            "refit_every": self.refit_every, "n_forecasts": len(fc), "start": fc.index[0],
            "end": fc.index[-1], "n_observed": len(obs), "breaches": breaches,
            "breach_rate": breaches / len(obs) if len(obs) else float("nan"),
            "expected_rate": 1.0 - self.level, "mean_var": float(fc["var"].mean()),
            "mean_es": float(fc["es"].mean()), "max_var": float(fc["var"].max()),
            "last_var": float(fc["var"].iloc[-1]), "last_es": float(fc["es"].iloc[-1]),
        }
        if "cf_valid" in fc.columns:
            out["cf_invalid_days"] = int((~fc["cf_valid"].astype(bool)).sum())
        return pd.Series(out, dtype=object, name="rolling_var")

    def _extra_dict(self) -> dict[str, Any]:
        return {"method": self.method, "level": self.level, "window": self.window,
                "horizon": self.horizon, "refit_every": self.refit_every}

    def backtest(self, test_level: float = 0.95, *, tests: Any = None) -> VaRBacktestResult:
        """The VaR backtest suite on these forecasts and their realized returns.

        Forecasts whose horizon runs past the data (``realized`` NaN) are left out.

        Parameters
        ----------
        test_level : float
            Confidence level of the tests.
        tests : str or iterable of str, optional
            Subset of :data:`quantlab.risk.backtesting.TESTS` (default all).

        Returns
        -------
        VaRBacktestResult
        """
        from quantlab.risk.backtesting import var_backtest_from_forecasts

        obs = self._observed()
        return var_backtest_from_forecasts(obs["realized"], obs["var"], level=self.level,
                                           test_level=test_level, tests=tests)

    def _figure(self, **kwargs: Any) -> go.Figure:
        """Realized returns against the -VaR and -ES forecasts, breaches marked."""
        from quantlab.charts.risk import var_backtest_figure

        obs = self._observed()
        kwargs.setdefault("level", self.level)
        return var_backtest_figure(obs["realized"], obs["var"], es=obs["es"], **kwargs)


@dataclass(frozen=True, repr=False)
class VaRDecomposition(Result):
    """Per-asset VaR decomposition (:func:`quantlab.risk.decomposition.var_decomposition`).

    Attributes
    ----------
    table : DataFrame
        Indexed by asset: ``weight``, ``marginal_var``, ``component_var``, ``pct_contribution``,
        ``incremental_var``, ``marginal_es``, ``component_es``.
    var, es : float
        Portfolio VaR and ES (positive loss fractions); ``table.component_var.sum() == var``.
    method, level, horizon, params
        As in :class:`VaRResult`.
    """

    table: pd.DataFrame
    var: float
    es: float
    method: str
    level: float
    horizon: int = 1
    params: dict[str, Any] = field(default_factory=dict)

    _percent = frozenset({"weight", "marginal_var", "component_var", "pct_contribution",
                          "incremental_var", "marginal_es", "component_es", "var", "es",
                          "level", "largest_pct_contribution"}) | _PCT_PARAMS

    def title(self) -> str:
        return (f"{self.level:.1%} {self.horizon}-bar VaR decomposition ({self.method}): "
                f"VaR {self.var:.2%}, ES {self.es:.2%}")

    def stats(self) -> pd.Series:
        """var, es, level, horizon, n_assets, the largest contribution and fitted parameters."""
        pct = self.table["pct_contribution"]
        out = {"var": self.var, "es": self.es, "level": self.level, "horizon": self.horizon,
               "n_assets": len(self.table),
               "largest_pct_contribution": float(pct.max()) if len(pct) else float("nan"),
               **_numeric(self.params)}
        return pd.Series(out, dtype=object, name=self.method)

    def _summary_table(self) -> pd.DataFrame:
        return self.table.copy()

    def _extra_dict(self) -> dict[str, Any]:
        return {"var": self.var, "es": self.es, "method": self.method, "level": self.level,
                "horizon": self.horizon, "params": dict(self.params),
                "assets": self.table.rename_axis("asset")}

    def _figure(self, **kwargs: Any) -> go.Figure:
        """Bar chart of component VaR with incremental VaR markers."""
        from quantlab.charts.risk import component_var_figure

        return component_var_figure(self.table, **kwargs)
