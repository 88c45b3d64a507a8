"""Helpers shared by the promote gates: resolving the strategy, checking the bars, reading the
output arrays as 2-D numpy blocks and finding the bars where something happens."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from quantlab.errors import DataError, ParameterError
from quantlab.strategies.base import Signals, Strategy, TargetWeights

Output = Signals | TargetWeights

#: Arrays that carry a value on every bar (a position size), not events: they do not mark bars
#: worth checking (every bar would), but they are still compared on every checked bar.
CONTINUOUS = frozenset({"size"})


def as_strategy(strategy: Any, where: str) -> Strategy:
    """A Strategy instance from an instance, a class (default parameters) or a registry name."""
    if isinstance(strategy, Strategy):
        return strategy
    if isinstance(strategy, str):
        from quantlab.strategies import get_strategy

        strategy = get_strategy(strategy)
    if isinstance(strategy, type) and issubclass(strategy, Strategy):
        return strategy()
    raise ParameterError(f"{where}: strategy must be a Strategy, a Strategy subclass or a name, "
                         f"got {type(strategy).__name__}")


def check_bars(bars: Any, where: str, minimum: int, why: str) -> pd.DataFrame:
    """``bars`` as a non-empty DataFrame with at least ``minimum`` rows, else a one-line error."""
    if not isinstance(bars, pd.DataFrame):
        raise ParameterError(f"{where}: bars must be a DataFrame of OHLCV bars, "
                             f"got {type(bars).__name__}")
    if "close" not in bars.columns.get_level_values(0):
        raise DataError(f"{where}: bars has no 'close' column")
    if len(bars) < minimum:
        raise DataError(f"{where}: bars has {len(bars)} rows, needs at least {minimum} ({why})")
    return bars


def block(arr: pd.Series | pd.DataFrame) -> np.ndarray:
    """The values of one output array as a 2-D array (rows = bars, columns = symbols)."""
    values = arr.to_numpy()
    values = values.reshape(len(arr), -1)
    if values.dtype != np.bool_:
        values = values.astype("float64")
    return values


def columns(arr: pd.Series | pd.DataFrame, bars: pd.DataFrame) -> list[Any]:
    """Column labels of one output array: the symbols, or the bars' symbol (``bars.attrs``,
    None when unknown) for a Series."""
    if isinstance(arr, pd.DataFrame):
        return list(arr.columns)
    return [bars.attrs.get("symbol")]


def same(a: np.ndarray, b: np.ndarray, tol: float = 0.0) -> np.ndarray:
    """Element-wise agreement: booleans exactly, floats with NaN == NaN (within ``tol``)."""
    if a.dtype == np.bool_ and b.dtype == np.bool_:
        return a == b
    a, b = a.astype("float64"), b.astype("float64")
    if tol:
        return np.isclose(a, b, rtol=tol, atol=tol, equal_nan=True)
    return (a == b) | (np.isnan(a) & np.isnan(b))


def change_bars(out: Output) -> np.ndarray:
    """Positions ``t >= 1`` where an event array differs from bar ``t - 1`` (NaN == NaN).

    Entries/exits turning on or off, a limit/stop/exit size appearing or changing, a target
    weight row appearing or changing; the continuous ``size`` array is left out.
    """
    changed: np.ndarray | None = None
    for name, arr in out.arrays().items():
        if name in CONTINUOUS:
            continue
        values = block(arr)
        diff = ~same(values[1:], values[:-1]).all(axis=1)
        changed = diff if changed is None else changed | diff
    if changed is None:
        return np.array([], dtype=np.int64)
    return np.flatnonzero(changed) + 1


def active_bars(arr: pd.Series | pd.DataFrame) -> np.ndarray:
    """Positions where an event array says something: a True signal or a non-NaN price/weight."""
    values = block(arr)
    on = values if values.dtype == np.bool_ else ~np.isnan(values)
    return np.flatnonzero(on.any(axis=1))

