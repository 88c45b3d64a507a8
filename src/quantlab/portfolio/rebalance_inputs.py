"""Checked inputs of the rebalancing backtest: prices, numbers, dates and the simulated window."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from quantlab._validate import check_range
from quantlab.errors import DataError, ParameterError

__all__ = ["check_nonneg", "check_prices", "first_nan_message", "simulation_window", "timestamp"]


def check_nonneg(value: Any, name: str) -> float:
    return check_range(value, name, 0, coerce=True)


def check_prices(prices: Any) -> pd.DataFrame:
    if isinstance(prices, pd.DataFrame) and isinstance(prices.columns, pd.MultiIndex):
        if "close" in prices.columns.get_level_values(0):
            prices = prices["close"]
        else:
            raise ParameterError("prices has MultiIndex columns without a 'close' field; "
                                 "pass close prices with one column per symbol")
    if not isinstance(prices, pd.DataFrame):
        raise ParameterError("prices must be a DataFrame of close prices (one column per symbol), "
                             f"got {type(prices).__name__}")
    if prices.shape[1] == 0 or len(prices) == 0:
        raise DataError("prices is empty")
    if not isinstance(prices.index, pd.DatetimeIndex):
        raise ParameterError("prices must have a DatetimeIndex (bar times)")
    if prices.columns.has_duplicates:
        dup = prices.columns[prices.columns.duplicated()][0]
        raise DataError(f"prices has the column {dup} twice")
    if prices.index.has_duplicates:
        dup = prices.index[prices.index.duplicated()][0]
        raise DataError(f"prices has the bar {dup} twice")
    if not prices.index.is_monotonic_increasing:
        raise DataError("prices index is not sorted by time; sort it first (prices.sort_index())")
    try:
        out = prices.astype("float64")
    except (TypeError, ValueError):
        raise DataError("prices must be numeric") from None
    values = out.to_numpy()
    bad = np.isfinite(values) & (values <= 0)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(f"prices: {out.columns[c]} has a non-positive price at {out.index[r]}")
    if np.isinf(values).any():
        r, c = np.argwhere(np.isinf(values))[0]
        raise DataError(f"prices: {out.columns[c]} has an infinite price at {out.index[r]}")
    return out


def timestamp(value: Any, name: str, index: pd.DatetimeIndex) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={value!r} is not a date") from None
    if index.tz is not None and ts.tzinfo is None:
        ts = ts.tz_localize(index.tz)
    elif index.tz is None and ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def first_nan_message(prices: pd.DataFrame, row: int, col: int, needed: str) -> str:
    sym = prices.columns[col]
    series = prices.iloc[:, col]
    valid = series.notna().to_numpy()
    first_valid = int(np.argmax(valid)) if valid.any() else None
    if first_valid is not None and row < first_valid:
        return (f"prices: {sym} has no price before {prices.index[first_valid]} (not listed yet) "
                f"but the backtest needs prices from {needed}; pass start= on or after "
                f"{{suggest}} or drop {sym}")
    return (f"prices: {sym} is missing at {prices.index[row]} (a gap in the data); "
            "fill or drop missing prices first")




def simulation_window(px: pd.DataFrame, start: Any, end: Any, warm: int, lookback: int
                      ) -> tuple[pd.DataFrame, int]:
    """Prices from the first bar an estimate needs to ``end``, and the first simulated row.

    ``warm`` is the number of price rows needed before the first simulated bar (``lookback + 1``
    for estimated targets, 0 for fixed weights). Every price in the window must be present: a
    missing one is a :class:`DataError` naming the symbol and, before a listing, the first
    ``start`` that works.
    """
    ts_start = timestamp(start, "start", px.index)
    ts_end = timestamp(end, "end", px.index)
    if ts_start is not None and ts_end is not None and ts_start > ts_end:
        raise ParameterError(f"start={start!r} is after end={end!r}")
    if ts_end is not None:
        px = px.loc[:ts_end]
        if len(px) == 0:
            raise DataError(f"no prices on or before end={end!r}")
    if ts_start is None:
        i0 = warm
    else:
        i0 = int(px.index.searchsorted(ts_start, side="left"))
        if i0 < warm:
            raise DataError(
                f"start={start!r} leaves {i0} bars of prices before it but lookback={lookback} "
                f"needs {warm}; start on or after {px.index[warm] if warm < len(px) else 'the end'}"
                " or shorten lookback"
            )
    if i0 >= len(px):
        if ts_start is not None and i0 >= warm:
            raise DataError(f"start={start!r} is after the last bar ({px.index[-1]})")
        raise DataError(
            f"lookback={lookback} needs {warm + 1} bars (lookback + 1 prices before the first "
            f"rebalance) but prices has {len(px)}; shorten lookback or load more history"
        )
    first_needed = i0 - warm
    used = px.iloc[first_needed:]
    _check_complete(px, used, first_needed, warm)
    return used, warm


def _check_complete(px: pd.DataFrame, used: pd.DataFrame, first_needed: int, warm: int) -> None:
    nan = np.isnan(used.to_numpy())
    if not nan.any():
        return
    r, c = np.argwhere(nan)[0]
    msg = first_nan_message(px, first_needed + int(r), int(c), str(px.index[first_needed]))
    if "{suggest}" in msg:
        full = px.notna().all(axis=1).to_numpy()
        # first bar after which every asset is listed (and stays listed)
        tail_ok = np.flip(np.logical_and.accumulate(np.flip(full)))
        first_full = int(np.argmax(tail_ok)) if tail_ok.any() else len(px)
        suggest_i = first_full + warm
        suggest = str(px.index[suggest_i]) if suggest_i < len(px) else "(no such bar)"
        msg = msg.replace("{suggest}", suggest)
    raise DataError(msg)
