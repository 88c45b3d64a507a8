"""OHLCV frame and panel helpers shared by every data source."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from quantlab._validate import check_choice
from quantlab.errors import DataError, ParameterError

__all__ = ["FIELDS", "make_panel", "normalize_ohlcv", "slice_range", "to_utc"]

#: Column order of every OHLCV frame.
FIELDS: list[str] = ["open", "high", "low", "close", "volume"]
#: Resolution of every time index produced by quantlab.data.
TIME_UNIT = "us"


def to_utc(value: Any, name: str = "time") -> pd.Timestamp:
    """A timestamp in UTC; naive values are taken as UTC.

    Parameters
    ----------
    value : str, datetime, pandas.Timestamp or int
        Point in time (ints are epoch milliseconds).
    name : str
        Parameter name used in error messages.

    Returns
    -------
    pandas.Timestamp
        Timezone-aware UTC timestamp.

    Raises
    ------
    ParameterError
        If ``value`` cannot be parsed.
    """
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            ts = pd.Timestamp(value, unit="ms")
        else:
            ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        raise ParameterError(f"{name}: cannot parse {value!r} as a date") from None
    if ts is pd.NaT or pd.isna(ts):
        raise ParameterError(f"{name}: cannot parse {value!r} as a date")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def normalize_ohlcv(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` in the canonical layout: UTC index named ``time``, float64 OHLCV columns.

    Rows are sorted by time; the index resolution is microseconds. Duplicates are *not* removed
    here (quality checks report them).
    """
    missing = [c for c in FIELDS if c not in df.columns]
    if missing:
        raise DataError(f"missing column {missing[0]}")
    out = df[FIELDS].astype("float64")
    idx = pd.DatetimeIndex(out.index)
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    out.index = idx.as_unit(TIME_UNIT).rename("time")
    out.columns = pd.Index(FIELDS)
    if not out.index.is_monotonic_increasing:
        out = out.sort_index(kind="stable")
    return out


def slice_range(
    df: pd.DataFrame, start: Any = None, end: Any = None, *, what: str = "data"
) -> pd.DataFrame:
    """Rows with ``start <= time <= end`` (both inclusive, either may be None).

    Raises
    ------
    ParameterError
        If ``start`` is after ``end``.
    DataError
        If nothing is left.
    """
    lo = to_utc(start, "start") if start is not None else None
    hi = to_utc(end, "end") if end is not None else None
    if lo is not None and hi is not None and lo > hi:
        raise ParameterError(f"start {lo.date()} is after end {hi.date()}")
    out = df
    if lo is not None:
        out = out[out.index >= lo]
    if hi is not None:
        out = out[out.index <= hi]
    if out.empty and (lo is not None or hi is not None):
        rng = f"{lo.isoformat() if lo is not None else '...'} to {hi.isoformat() if hi is not None else '...'}"
        have = (
            f"{df.index[0].isoformat()} to {df.index[-1].isoformat()}" if len(df) else "nothing"
        )
        raise DataError(f"no {what} between {rng} (available: {have})")
    return out


def make_panel(
    frames: Mapping[str, pd.DataFrame], symbols: Sequence[str], align: str = "outer"
) -> pd.DataFrame:
    """Combine per-symbol OHLCV frames into a ``(field, symbol)`` column panel.

    Parameters
    ----------
    frames : mapping of str to DataFrame
        OHLCV frame per symbol.
    symbols : sequence of str
        Column order of the symbol level.
    align : {"outer", "inner"}
        Union of timestamps (NaN where a symbol has no bar) or common timestamps only.

    Returns
    -------
    pandas.DataFrame
        Columns ``MultiIndex`` named ``["field", "symbol"]``, fields in OHLCV order.
    """
    check_choice(align, "align", ("outer", "inner"))
    parts = {s: frames[s] for s in symbols}
    out = pd.concat(parts, axis=1, join=align, names=["symbol", "field"]).swaplevel(axis=1)
    cols = pd.MultiIndex.from_product([FIELDS, list(symbols)], names=["field", "symbol"])
    out = out.reindex(columns=cols).sort_index()
    out.index.name = "time"
    if out.empty:
        raise DataError(f"no common timestamps for {', '.join(symbols)} (align='inner')")
    return out
