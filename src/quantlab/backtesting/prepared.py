"""Validated price data of a backtest: one OHLCV frame or a ``(field, symbol)`` panel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from quantlab.data.timeframes import periods_per_year
from quantlab.errors import DataError, ParameterError

__all__ = ["PreparedData", "prepare_data", "slice_period"]

FIELDS = ("open", "high", "low", "close")


@dataclass(frozen=True)
class PreparedData:
    """Validated price arrays of a backtest (Series for one asset, DataFrame for a panel)."""

    bars: pd.DataFrame
    open: pd.Series | pd.DataFrame
    high: pd.Series | pd.DataFrame
    low: pd.Series | pd.DataFrame
    close: pd.Series | pd.DataFrame
    symbols: tuple[str, ...]
    ppy: float
    bar_days: float

    @property
    def is_panel(self) -> bool:
        """True when the data holds several symbols."""
        return isinstance(self.close, pd.DataFrame)


def prepare_data(data: pd.DataFrame, symbol: str | None = None, *,
                 allow_unpriced: bool = False) -> PreparedData:
    """Validate OHLCV bars (one frame or a ``(field, symbol)`` panel) for backtesting.

    Parameters
    ----------
    data : DataFrame
        OHLCV bars with a DatetimeIndex.
    symbol : str, optional
        Name of the single asset (used in trade tables), default ``"asset"`` or ``data.attrs``.
    allow_unpriced : bool, default False
        Accept panel symbols without any price (the live runner's window before a listing).

    Returns
    -------
    PreparedData
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be an OHLCV DataFrame, got {type(data).__name__}")
    if not isinstance(data.index, pd.DatetimeIndex):
        raise DataError("data must have a DatetimeIndex of bar open times")
    if len(data) < 2:
        raise DataError(f"data has {len(data)} bar(s); a backtest needs at least 2")
    if not data.index.is_monotonic_increasing or data.index.has_duplicates:
        raise DataError("data index must be sorted and unique")
    panel = isinstance(data.columns, pd.MultiIndex)
    present = set(data.columns.get_level_values(0)) if panel else set(data.columns)
    missing = [f for f in FIELDS if f not in present]
    if missing:
        raise DataError(f"data is missing column(s) {', '.join(missing)}")
    arrays = {f: _numeric(data[f], f) for f in FIELDS}
    close = arrays["close"]
    if panel:
        symbols = tuple(str(s) for s in close.columns)
        if not allow_unpriced and close.isna().all().any():
            empty = [s for s in symbols if close[s].isna().all()]
            raise DataError(f"no prices for {', '.join(empty)} in the selected period")
    else:
        symbols = (symbol or str(data.attrs.get("symbol", "asset")),)
        if close.isna().any():
            raise DataError(f"close has NaN at {close.index[close.isna()][0]}")
        for f in FIELDS:
            arrays[f] = arrays[f].rename(symbols[0])
    ppy = periods_per_year(data.index)
    return PreparedData(data, arrays["open"], arrays["high"], arrays["low"], close,
                        symbols, ppy, 365.0 / ppy)


def _numeric(values: pd.Series | pd.DataFrame, field: str) -> pd.Series | pd.DataFrame:
    """``values`` as float64; a non-numeric cell raises a DataError naming column and time."""
    frame = values.to_frame() if isinstance(values, pd.Series) else values
    for col in frame.columns:
        column = frame[col]
        if column.dtype == bool:
            raise DataError(f"column {field}{'' if isinstance(values, pd.Series) else f' of {col}'} "
                            "holds booleans, not prices")
        try:
            column.astype("float64")
        except (TypeError, ValueError):
            coerced = pd.to_numeric(column, errors="coerce")
            bad = coerced.isna() & column.notna()
            pos = int(np.argmax(bad.to_numpy())) if bad.any() else 0
            where = f"{field}" if isinstance(values, pd.Series) else f"{field} of {col}"
            raise DataError(
                f"column {where} is not numeric: row {pos} ({column.index[pos]}) holds "
                f"{column.iloc[pos]!r}") from None
    return values.astype("float64")


def slice_period(data: pd.DataFrame, start: Any = None, end: Any = None) -> pd.DataFrame:
    """Rows of ``data`` between ``start`` and ``end`` (inclusive), with clear errors."""
    if start is None and end is None:
        return data
    tz = data.index.tz
    try:
        lo = None if start is None else pd.Timestamp(start)
        hi = None if end is None else pd.Timestamp(end)
    except (ValueError, TypeError) as exc:
        raise ParameterError(f"invalid date: {exc}") from None
    if tz is not None:
        lo = lo.tz_localize(tz) if lo is not None and lo.tzinfo is None else lo
        hi = hi.tz_localize(tz) if hi is not None and hi.tzinfo is None else hi
    if lo is not None and hi is not None and lo > hi:
        raise ParameterError(f"start {lo.date()} is after end {hi.date()}")
    out = data.loc[lo:hi]
    if len(out) < 2:
        raise DataError(
            f"fewer than 2 bars between {lo if lo is not None else 'start'} and "
            f"{hi if hi is not None else 'end'} (data covers {data.index[0]} to {data.index[-1]})"
        )
    return out


