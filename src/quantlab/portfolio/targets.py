"""Target weights from a specification: fixed weights, an optimiser name, a callable or an
:class:`~quantlab.portfolio.allocation.OptimizeResult`.

Used by :func:`quantlab.portfolio.backtest_rebalancing` (re-estimated on a rolling window) and
by :func:`target_weights` (one estimate on the latest window, e.g. for a rebalance plan).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from quantlab._validate import check_weights
from quantlab.errors import ParameterError, QuantlabError
from quantlab.portfolio.allocation import OptimizeResult

__all__ = ["TargetSpec", "target_spec", "target_weights"]


@dataclass(frozen=True)
class TargetSpec:
    """A resolved target: ``kind`` is ``"fixed"``, ``"method"`` or ``"callable"``."""

    kind: str
    payload: Any
    label: str

    @property
    def needs_window(self) -> bool:
        """Whether the target is estimated from returns (not fixed weights)."""
        return self.kind != "fixed"

    def estimate(self, window: pd.DataFrame, when: Any, *, cov: Any = "sample",
                 **optimize_kw: Any) -> np.ndarray:
        """Weights (in ``window``'s column order, summing to 1) estimated on ``window``.

        Errors name the target and ``when`` (the bar the estimate is for).
        """
        symbols = list(window.columns)
        if self.kind == "fixed":
            return self.payload
        if self.kind == "method":
            out = self._optimize(window, when, cov, optimize_kw)
        else:
            try:
                out = self.payload(window.copy())
            except QuantlabError:
                raise
            except Exception as exc:
                raise ParameterError(f"target callable {self.label} failed at {when}: "
                                     f"{type(exc).__name__}: {exc}") from exc
            if isinstance(out, OptimizeResult):
                out = out.weights
        return check_weights(out, symbols, name=f"target weights at {when}", sum_to_one=True)

    def _optimize(self, window: pd.DataFrame, when: Any, cov: Any, kw: dict) -> pd.Series:
        from quantlab.portfolio.optimize import optimize

        try:
            return optimize(window, method=self.payload, cov=cov, **kw).weights
        except QuantlabError as exc:  # keep the class, name the rebalance date
            try:
                again = type(exc)(f"target={self.payload!r} at {when}: {exc}")
            except TypeError:
                again = ParameterError(f"target={self.payload!r} at {when}: {exc}")
            raise again from None
        except (ValueError, TypeError, KeyError, np.linalg.LinAlgError) as exc:
            raise ParameterError(f"target={self.payload!r} failed at {when}: {exc}") from exc


def target_spec(target: Any, columns: pd.Index) -> TargetSpec:
    """Resolve ``target`` (method name, fixed weights, OptimizeResult or callable)."""
    if isinstance(target, OptimizeResult):
        target = target.weights
    if isinstance(target, str):
        from quantlab.portfolio.optimize_inputs import check_method

        return TargetSpec("method", check_method(target), target)
    if callable(target) and not isinstance(target, Mapping | pd.Series):
        return TargetSpec("callable", target, getattr(target, "__name__", type(target).__name__))
    if isinstance(target, Mapping | pd.Series | list | tuple | np.ndarray):
        w = check_weights(target, columns, name="target weights", sum_to_one=True)
        return TargetSpec("fixed", w, "fixed")
    raise ParameterError(
        f"target={target!r} must be an optimizer method name (e.g. 'erc'), fixed weights "
        "(a mapping symbol -> weight or an OptimizeResult) or a callable(returns_window) -> "
        "weights"
    )


def target_weights(target: Any, returns: pd.DataFrame, *, lookback: int | None = None,
                   cov: Any = "sample", **optimize_kw: Any) -> pd.Series:
    """Target weights (Series by asset) estimated on the last ``lookback`` rows of ``returns``.

    Parameters
    ----------
    target : str, mapping, sequence, OptimizeResult or callable
        An optimiser method (``"erc"``, ...), fixed weights (in ``returns``' column order for a
        sequence), an :class:`OptimizeResult`, or ``callable(returns_window) -> weights``.
    returns : DataFrame
        Simple returns, one column per asset.
    lookback : int, optional
        Rows of returns to estimate on (default all); fewer available rows are an error.
    cov : str or matrix
        Covariance estimator passed to :func:`optimize`.
    """
    spec = target_spec(target, returns.columns)
    window = returns
    if spec.needs_window and lookback is not None:
        window = returns.iloc[-lookback:]
        if len(window) < lookback:
            raise ParameterError(f"lookback={lookback} needs {lookback} returns; only "
                                 f"{len(window)} available")
    when = window.index[-1] if len(window) else None
    w = spec.estimate(window, when, cov=cov, **optimize_kw)
    return pd.Series(w, index=returns.columns, name=spec.label)
