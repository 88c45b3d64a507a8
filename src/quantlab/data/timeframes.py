"""Timeframe strings (ccxt convention) and bar spacing."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from quantlab.errors import ParameterError

__all__ = ["DAYS_PER_YEAR", "infer_timeframe", "parse_timeframe", "periods_per_year", "timeframe_ms"]

_UNITS = {
    "s": pd.Timedelta(seconds=1),
    "m": pd.Timedelta(minutes=1),
    "h": pd.Timedelta(hours=1),
    "d": pd.Timedelta(days=1),
    "w": pd.Timedelta(weeks=1),
    "M": pd.Timedelta(days=30),  # ccxt's own convention for a month
    "y": pd.Timedelta(days=365),
}
_RE = re.compile(r"^\s*(\d+)\s*([smhdwMy])\s*$")

#: Crypto trades every day: annualization uses a 365-day year.
DAYS_PER_YEAR = 365.0

#: Timeframes at least this long are calendar-based (months, years): spacing is irregular.
CALENDAR_TIMEFRAME = pd.Timedelta(days=28)


def parse_timeframe(timeframe: str) -> pd.Timedelta:
    """Length of one bar of a ccxt timeframe string.

    Parameters
    ----------
    timeframe : str
        ccxt timeframe such as ``"1m"``, ``"15m"``, ``"1h"``, ``"4h"``, ``"1d"``, ``"1w"``,
        ``"1M"`` (case matters: ``m`` is minutes, ``M`` months).

    Returns
    -------
    pandas.Timedelta
        Bar length; a month counts as 30 days and a year as 365 days (as in ccxt).

    Raises
    ------
    ParameterError
        If ``timeframe`` is not a valid timeframe string.
    """
    if isinstance(timeframe, pd.Timedelta):
        return timeframe
    match = _RE.match(timeframe) if isinstance(timeframe, str) else None
    if match is None or int(match.group(1)) <= 0:
        raise ParameterError(
            f"invalid timeframe {timeframe!r} (expected e.g. 1m, 5m, 15m, 1h, 4h, 1d, 1w, 1M)"
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


def timeframe_ms(timeframe: str) -> int:
    """Length of one bar of ``timeframe`` in milliseconds."""
    return int(parse_timeframe(timeframe) / pd.Timedelta(milliseconds=1))


def infer_timeframe(index: pd.DatetimeIndex | pd.DataFrame | pd.Series) -> pd.Timedelta:
    """Bar spacing of a time index, as the median difference between consecutive timestamps.

    Parameters
    ----------
    index : pandas.DatetimeIndex, DataFrame or Series
        Timestamps (a frame or series contributes its index).

    Returns
    -------
    pandas.Timedelta
        Median positive spacing.

    Raises
    ------
    ParameterError
        If there are fewer than two distinct timestamps.
    """
    if isinstance(index, pd.DataFrame | pd.Series):
        index = index.index
    if not isinstance(index, pd.DatetimeIndex):
        raise ParameterError("infer_timeframe needs a DatetimeIndex")
    values = np.unique(index.dropna().asi8)
    if len(values) < 2:
        raise ParameterError("cannot infer the timeframe from fewer than two timestamps")
    step = np.median(np.diff(values))
    return pd.Timedelta(int(step), unit=index.unit)


def periods_per_year(index: pd.Index, default: float = DAYS_PER_YEAR) -> float:
    """Bars per 365-day year implied by the median spacing of a DatetimeIndex.

    The one annualization rule of quantlab (metrics, sizing, indicators, risk, rebalancing).

    Parameters
    ----------
    index : DatetimeIndex
        Bar times.
    default : float, default 365.0
        Returned when fewer than two bars are available (daily bars assumed).

    Returns
    -------
    float
        E.g. 365 for daily bars, 8760 for hourly bars.

    Raises
    ------
    DataError
        If ``index`` is not a DatetimeIndex.
    """
    from quantlab.errors import DataError

    if not isinstance(index, pd.DatetimeIndex):
        raise DataError(
            f"bars need a DatetimeIndex to infer bars per year (got {type(index).__name__})"
        )
    if len(np.unique(index.dropna().asi8)) < 2:
        return float(default)
    return pd.Timedelta(days=DAYS_PER_YEAR) / infer_timeframe(index)
