"""Validation of risk inputs: return series, weights, confidence levels, horizons.

Every public function in :mod:`quantlab.risk` checks its inputs here, so the messages are the
same everywhere and name the parameter at fault.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from quantlab.errors import DataError, ParameterError

__all__ = [
    "as_returns",
    "check_horizon",
    "check_level",
    "check_weights",
    "portfolio_returns",
    "returns_from_prices",
]


def check_level(level: float, name: str = "level") -> float:
    """A confidence level strictly between 0 and 1 (0.99 = 99 %)."""
    try:
        value = float(level)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={level!r} must be a number in (0, 1)") from None
    if not np.isfinite(value) or not 0.0 < value < 1.0:
        raise ParameterError(f"{name}={level!r} must be in (0, 1), e.g. 0.99")
    return value


def check_horizon(horizon: int) -> int:
    """A horizon in bars: a positive integer."""
    if isinstance(horizon, bool) or not float(horizon).is_integer() or int(horizon) < 1:
        raise ParameterError(f"horizon={horizon!r} must be a positive whole number of bars")
    return int(horizon)


def as_returns(
    returns: Any, *, min_obs: int = 2, name: str = "returns", allow_frame: bool = True
) -> pd.Series | pd.DataFrame:
    """Check a return Series/DataFrame: numeric, finite, enough observations.

    Parameters
    ----------
    returns : Series, DataFrame or array-like
        Simple returns, one row per bar.
    min_obs : int
        Minimum number of rows required.
    name : str
        Name used in error messages.
    allow_frame : bool
        Whether several columns (assets) are accepted.

    Returns
    -------
    Series or DataFrame
        float64; array input gets a RangeIndex.

    Raises
    ------
    DataError
        NaN/inf values (the first offending row is named) or too few observations.
    ParameterError
        A DataFrame where only one series is accepted.
    """
    if isinstance(returns, pd.DataFrame):
        if not allow_frame:
            raise ParameterError(f"{name} must be one series, got {returns.shape[1]} columns")
        out: pd.Series | pd.DataFrame = returns.astype("float64")
    elif isinstance(returns, pd.Series):
        out = returns.astype("float64")
    else:
        arr = np.asarray(returns, dtype="float64")
        if arr.ndim == 1:
            out = pd.Series(arr, name=name)
        elif arr.ndim == 2 and allow_frame:
            out = pd.DataFrame(arr)
        else:
            raise ParameterError(f"{name} must be 1-D (or 2-D assets), got shape {arr.shape}")
    values = out.to_numpy()
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        label = out.index[row]
        raise DataError(
            f"{name} has NaN/inf at row {row} ({label}); drop or fill missing returns first"
        )
    if len(out) < min_obs:
        raise DataError(f"{name} has {len(out)} observations; at least {min_obs} are needed")
    return out


def check_weights(
    weights: Any, assets: Sequence[Any], *, name: str = "weights", sum_to_one: bool = False
) -> np.ndarray:
    """Weights aligned to ``assets``: a mapping/Series by asset name, or a sequence in order.

    Parameters
    ----------
    weights : Mapping, Series or sequence
        Portfolio weights (fractions of equity; negative = short).
    assets : sequence
        Asset names (the columns of the returns).
    sum_to_one : bool
        Require the weights to sum to 1 (within 1e-6).

    Returns
    -------
    ndarray
        Weights in the order of ``assets``.
    """
    assets = list(assets)
    if isinstance(weights, Mapping | pd.Series):
        w = pd.Series(dict(weights) if isinstance(weights, Mapping) else weights, dtype="float64")
        missing = [a for a in assets if a not in w.index]
        extra = [k for k in w.index if k not in assets]
        if missing or extra:
            what = f"missing {', '.join(map(str, missing))}" if missing else \
                f"unknown {', '.join(map(str, extra))}"
            raise ParameterError(f"{name} do not match the assets ({what})")
        arr = w.reindex(assets).to_numpy()
    else:
        try:
            arr = np.asarray(weights, dtype="float64").ravel()
        except (TypeError, ValueError):
            raise ParameterError(f"{name} must be numbers") from None
        if arr.size != len(assets):
            raise ParameterError(f"{name} has {arr.size} values for {len(assets)} assets")
    if not np.isfinite(arr).all():
        raise ParameterError(f"{name} contain NaN/inf")
    if sum_to_one and abs(arr.sum() - 1.0) > 1e-6:
        raise ParameterError(f"{name} sum to {arr.sum():.6g}; they must sum to 1")
    return arr


def portfolio_returns(returns: pd.DataFrame, weights: Any) -> pd.Series:
    """Returns of a constant-weight (daily rebalanced) portfolio: ``returns @ weights``."""
    w = check_weights(weights, returns.columns)
    return pd.Series(returns.to_numpy() @ w, index=returns.index, name="portfolio")


def returns_from_prices(prices: pd.Series | pd.DataFrame, *, log: bool = False,
                        dropna: bool = True) -> pd.Series | pd.DataFrame:
    """Simple (or log) returns of prices; with ``dropna`` rows with any missing value are dropped."""
    if log:
        out = np.log(prices).diff()
    else:
        out = prices.pct_change(fill_method=None)
    out = out.iloc[1:]
    return out.dropna(how="any") if dropna else out
