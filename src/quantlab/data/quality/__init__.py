"""Quality checks of OHLCV data: hard errors, soft warnings and informational findings.

:func:`check_quality` runs every check of :mod:`quantlab.data.quality.checks` in one pass and
returns a :class:`~quantlab.data.quality.report.QualityReport`; :func:`validate` is what the
loaders call (raise on hard errors, warn once on soft issues).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from quantlab._validate import check_range
from quantlab.data.frame import FIELDS
from quantlab.data.quality import checks
from quantlab.data.quality.report import (
    CHECKS,
    DataQualityWarning,
    QualityReport,
    issue,
    issues_frame,
)
from quantlab.data.timeframes import infer_timeframe, parse_timeframe
from quantlab.errors import ParameterError

__all__ = ["CHECKS", "DataQualityWarning", "QualityReport", "check_quality", "issue", "issues_frame", "validate"]


def check_quality(
    df: pd.DataFrame,
    *,
    timeframe: str | pd.Timedelta | None = None,
    symbol: str | None = None,
    source: str | None = None,
    outlier_threshold: float = 10.0,
    stale_bars: int = 5,
    zero_volume_bars: int = 1,
    spike_threshold: float = 10.0,
    spike_revert_tolerance: float = 0.25,
    wick_factor: float = 10.0,
    as_of: pd.Timestamp | str | None = None,
    partial_volume_ratio: float = 0.25,
    partial_lookback: int = 30,
    row_numbers: np.ndarray | None = None,
) -> QualityReport:
    """Check an OHLCV frame for data problems (every defect in one pass, fully vectorized).

    Parameters
    ----------
    df : pandas.DataFrame
        OHLCV frame with a DatetimeIndex (may be unsorted or contain duplicates; those are
        reported).
    timeframe : str or pandas.Timedelta, optional
        Expected bar length for the gap and partial-candle checks; inferred (median spacing)
        when omitted.
    symbol, source : str, optional
        Names used in messages (``source`` is usually the file).
    outlier_threshold : float
        Robust z-score (median/MAD of simple close-to-close returns) above which a return is
        reported as ``outlier_return`` (severity ``info``: real crashes are outliers too).
    stale_bars : int
        A close repeated for at least this many consecutive bars is reported as stale.
    zero_volume_bars : int
        Runs of at least this many consecutive bars with volume 0 are reported
        (``zero_volume``, one finding per run with its length).
    spike_threshold : float
        Robust z-score of the return into a bar above which the bar is a spike candidate.
    spike_revert_tolerance : float
        A spike candidate is reported as ``spike_revert`` (and not as an outlier) when the next
        close is back within this fraction of the spike's size (in log terms) of the
        pre-spike close, i.e. at least 75 % of the jump is retraced with the default 0.25. A
        crash that recovers only partly (2020-03-12) stays an ``outlier_return``.
    wick_factor : float
        A high at least this many times ``max(open, close)`` (or a low at most
        ``min(open, close) / wick_factor``) is reported as a ``spike_revert`` of the wick.
    as_of : pandas.Timestamp or str, optional
        When the data was fetched/checked: a last bar with ``open + timeframe > as_of`` is
        reported as ``partial_candle``. When omitted, a last bar whose volume is below
        ``partial_volume_ratio`` times the median volume of the previous ``partial_lookback``
        bars is reported as a suspected partial candle.
    partial_volume_ratio : float
        Volume ratio of the suspected-partial-candle heuristic (default 25 %).
    partial_lookback : int
        Bars before the last one whose median volume the heuristic compares against.
    row_numbers : numpy.ndarray, optional
        Row number shown for each position (e.g. CSV line numbers); default position + 1. Also
        stored on the report.

    Returns
    -------
    QualityReport
        Findings, each with its 0-based ``row`` position. Errors: ``duplicate_time``,
        ``non_monotonic``, ``non_finite`` (NaN/inf), ``non_positive_price``,
        ``negative_volume``, ``ohlc_inconsistent`` (``bad_time`` and ``non_numeric`` come from
        :func:`~quantlab.data.read_ohlcv_file`). Warnings: ``gap``, ``stale_price``,
        ``zero_volume``, ``spike_revert``, ``partial_candle``. Info: ``outlier_return``.
    """
    if not isinstance(df, pd.DataFrame) or not isinstance(df.index, pd.DatetimeIndex):
        raise ParameterError("check_quality needs a DataFrame with a DatetimeIndex")
    missing = [c for c in FIELDS if c not in df.columns]
    if missing:
        raise ParameterError(f"{source or symbol or 'data'}: missing column {missing[0]}")
    stale_bars = check_range(stale_bars, "stale_bars", 2, integer=True)
    zero_volume_bars = check_range(zero_volume_bars, "zero_volume_bars", 1, integer=True)
    check_range(spike_revert_tolerance, "spike_revert_tolerance", 0, 1, open_low=True, open_high=True)
    partial_lookback = check_range(partial_lookback, "partial_lookback", 1, integer=True)
    for name, value in (("outlier_threshold", outlier_threshold), ("spike_threshold", spike_threshold),
                        ("wick_factor", wick_factor)):
        check_range(value, name, 0, open_low=True)
    check_range(partial_volume_ratio, "partial_volume_ratio", 0, 1)
    times = df.index
    labels = None if row_numbers is None else np.asarray(row_numbers)

    def label(p: int) -> int:
        if labels is not None and 0 <= p < len(labels):
            return int(labels[p])
        return int(p) + 1

    issues, dup, monotonic = checks.index_defects(times, label)
    values = df[FIELDS].to_numpy(dtype="float64", na_value=np.nan)
    issues += checks.value_defects(times, values, wick_factor)

    # time-series checks run on the sorted, de-duplicated view; ``pos`` maps back to rows
    pos = _sorted_unique_positions(times.asi8, dup, monotonic)
    st = times[pos]
    tf = _bar_length(timeframe, st)
    close, volume = values[pos, 3], values[pos, 4]
    issues += checks.gaps(st, pos, tf)
    issues += checks.stale_prices(st, pos, close, stale_bars)
    issues += checks.zero_volume(st, pos, volume, zero_volume_bars)
    issues += checks.returns_defects(st, pos, close, outlier_threshold=outlier_threshold,
                                     spike_threshold=spike_threshold,
                                     spike_revert_tolerance=spike_revert_tolerance)
    issues += checks.partial_candle(st, pos, volume, tf, as_of=as_of,
                                    volume_ratio=partial_volume_ratio, lookback=partial_lookback)

    frame = issues_frame(issues)
    missing_bars = int(frame["missing"].fillna(0).sum())
    return QualityReport(
        issues=frame.drop(columns="missing"),
        symbol=symbol,
        source=source,
        timeframe=tf,
        bars=len(df),
        start=st[0] if len(st) else None,
        end=st[-1] if len(st) else None,
        row_numbers=labels,
        missing_bars=missing_bars,
        close=pd.Series(close, index=st, name="close"),
    )


def _sorted_unique_positions(tvals: np.ndarray, dup: np.ndarray, monotonic: bool) -> np.ndarray:
    """Row positions of the frame sorted by time with repeats dropped (first kept)."""
    n = len(tvals)
    if monotonic:
        return np.flatnonzero(~dup) if dup.any() else np.arange(n)
    order = np.argsort(tvals, kind="stable")
    sorted_vals = tvals[order]
    keep = np.concatenate([[True], sorted_vals[1:] != sorted_vals[:-1]]) if n else np.zeros(0, bool)
    return order[keep]


def _bar_length(timeframe: str | pd.Timedelta | None, st: pd.DatetimeIndex) -> pd.Timedelta | None:
    if timeframe is not None:
        return parse_timeframe(timeframe) if isinstance(timeframe, str) else pd.Timedelta(timeframe)
    return infer_timeframe(st) if len(st) >= 2 else None


def validate(
    df: pd.DataFrame,
    *,
    timeframe: str | pd.Timedelta | None = None,
    symbol: str | None = None,
    source: str | None = None,
    row_numbers: np.ndarray | None = None,
    stacklevel: int = 3,
    as_of: pd.Timestamp | str | None = None,
    **options: Any,
) -> QualityReport:
    """Check ``df`` as loaders do: raise on hard errors, warn once on soft issues.

    Parameters
    ----------
    df : pandas.DataFrame
        OHLCV frame.
    timeframe, symbol, source, as_of
        As in :func:`check_quality`.
    row_numbers : numpy.ndarray, optional
        Row numbers shown in messages (file line numbers).
    stacklevel : int
        Stack level of the warning.
    **options
        Thresholds passed on to :func:`check_quality` (``stale_bars``, ``partial_volume_ratio``...).

    Returns
    -------
    QualityReport
        The report (no hard errors).

    Raises
    ------
    DataQualityError
        When there are hard errors: one line naming source and every kind of error with its
        rows (a single error: source, row, time and problem).

    Warns
    -----
    DataQualityWarning
        One summary per call when there are warnings (gaps, stale prices, zero-volume runs,
        reverting spikes, a partial last candle).
    """
    report = check_quality(df, timeframe=timeframe, symbol=symbol, source=source, row_numbers=row_numbers,
                           as_of=as_of, **options)
    report.raise_for_errors()
    summary = report.warning_summary()
    if summary:
        warnings.warn(summary, DataQualityWarning, stacklevel=stacklevel)
    return report
