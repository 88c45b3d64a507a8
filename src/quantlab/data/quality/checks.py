"""The individual quality checks: each takes arrays of one OHLCV frame and returns findings.

Every function is vectorized over the bars and loops only over what it finds. Findings are
dicts made by :func:`~quantlab.data.quality.report.issue` (check, severity, time, 0-based row,
detail). :func:`~quantlab.data.quality.check_quality` runs them in order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from quantlab.data.frame import FIELDS, to_utc
from quantlab.data.quality.report import _fmt, _ts, issue
from quantlab.data.timeframes import CALENDAR_TIMEFRAME

__all__ = [
    "gaps",
    "index_defects",
    "partial_candle",
    "returns_defects",
    "stale_prices",
    "value_defects",
    "zero_volume",
]

_PRICES = ["open", "high", "low", "close"]
Issues = list[dict[str, Any]]


def runs(flag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start positions and lengths of the runs of True in a boolean array (vectorized)."""
    edges = np.diff(np.concatenate([[0], flag.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return starts, ends - starts


def index_defects(times: pd.DatetimeIndex, label: Callable[[int], int]) -> tuple[Issues, np.ndarray, bool]:
    """Duplicate and out-of-order timestamps.

    Returns
    -------
    (issues, duplicated, monotonic)
        ``duplicated`` flags every repeat of an earlier timestamp.
    """
    tvals = times.asi8
    n = len(tvals)
    found: Issues = []
    steps = np.diff(tvals)
    monotonic = bool((steps >= 0).all())
    if monotonic:
        dup = np.zeros(n, dtype=bool)
        dup[1:] = steps == 0
    else:
        dup = np.asarray(times.duplicated(keep="first"))
    if dup.any():
        uniq, first_idx = np.unique(tvals, return_index=True)
        at = np.flatnonzero(dup)
        first_pos = first_idx[np.searchsorted(uniq, tvals[at])]
        for i, f in zip(at, first_pos, strict=True):
            found.append(issue("duplicate_time", times[i], i,
                               f"duplicate timestamp {_ts(times[i])} (first at row {label(f)})"))
    if not monotonic:
        for i in np.flatnonzero(steps < 0) + 1:
            found.append(issue("non_monotonic", times[i], i,
                               f"time {_ts(times[i])} is before the previous row's {_ts(times[i - 1])}"))
    return found, dup, monotonic


def value_defects(times: pd.DatetimeIndex, values: np.ndarray, wick_factor: float) -> Issues:
    """NaN/inf, non-positive prices, negative volume, OHLC inconsistency and wick spikes."""
    found: Issues = []
    finite = np.isfinite(values)
    for i in np.flatnonzero(~finite.all(axis=1)):
        bad = [f"{c} is {'NaN' if np.isnan(values[i, j]) else values[i, j]}"
               for j, c in enumerate(FIELDS) if not finite[i, j]]
        found.append(issue("non_finite", times[i], i, ", ".join(bad)))
    prices = values[:, :4]
    o, h, lo, c = prices[:, 0], prices[:, 1], prices[:, 2], prices[:, 3]
    vol = values[:, 4]
    with np.errstate(invalid="ignore", divide="ignore"):
        nonpos = finite[:, :4] & (prices <= 0)
        for i in np.flatnonzero(nonpos.any(axis=1)):
            bad = [f"{name} {_fmt(prices[i, j])} <= 0" for j, name in enumerate(_PRICES) if nonpos[i, j]]
            found.append(issue("non_positive_price", times[i], i, ", ".join(bad)))
        for i in np.flatnonzero(finite[:, 4] & (vol < 0)):
            found.append(issue("negative_volume", times[i], i, f"volume {_fmt(vol[i])} < 0"))
        rules = [
            (lo > h, "low", 2, ">", "high", 1),
            (o > h, "open", 0, ">", "high", 1),
            (o < lo, "open", 0, "<", "low", 2),
            (c > h, "close", 3, ">", "high", 1),
            (c < lo, "close", 3, "<", "low", 2),
        ]
        all_finite = finite[:, :4].all(axis=1)
        masks = np.column_stack([r[0] for r in rules]) & all_finite[:, None]
        for i in np.flatnonzero(masks.any(axis=1)):
            bad = [
                f"{a} {_fmt(prices[i, ai])} {op} {b} {_fmt(prices[i, bi])}"
                for k, (_, a, ai, op, b, bi) in enumerate(rules)
                if masks[i, k]
            ]
            found.append(issue("ohlc_inconsistent", times[i], i, "; ".join(bad)))
        # wick spikes: a high (low) far beyond the body of its own bar
        body_hi = np.maximum(o, c)
        body_lo = np.minimum(o, c)
        usable = all_finite & (lo > 0) & ~masks.any(axis=1)
        up = usable & (h >= wick_factor * body_hi)
        down = usable & (body_lo >= wick_factor * lo)
        for i in np.flatnonzero(up | down):
            if up[i]:
                detail = f"high {_fmt(h[i])} is {h[i] / body_hi[i]:.1f}× max(open, close) {_fmt(body_hi[i])} (wick spike)"
            else:
                detail = f"low {_fmt(lo[i])} is 1/{body_lo[i] / lo[i]:.1f} of min(open, close) {_fmt(body_lo[i])} (wick spike)"
            found.append(issue("spike_revert", times[i], i, detail))
    return found


def gaps(st: pd.DatetimeIndex, pos: np.ndarray, tf: pd.Timedelta | None) -> Issues:
    """Missing bars between consecutive timestamps of the sorted view (calendar-aware)."""
    found: Issues = []
    if tf is None or tf <= pd.Timedelta(0) or len(st) < 2:
        return found
    diffs = np.diff(st.asi8)
    step = tf / pd.Timedelta(1, unit=st.unit)
    if tf >= CALENDAR_TIMEFRAME:  # months/years: allow calendar irregularity
        months = tf / pd.Timedelta(days=30)
        limit = pd.Timedelta(days=31 * months + 1) / pd.Timedelta(1, unit=st.unit)
        gap_at = np.flatnonzero(diffs > limit)
    else:
        gap_at = np.flatnonzero(diffs > step)
    for k in gap_at:
        missing_bars = max(round(float(diffs[k]) / step) - 1, 1)
        first_missing = st[k] + tf
        last_missing = st[k + 1] - tf
        detail = (
            f"{missing_bars} missing bar{'s' if missing_bars > 1 else ''} "
            f"from {_ts(first_missing)} to {_ts(last_missing)}"
            if missing_bars > 1
            else f"1 missing bar at {_ts(first_missing)}"
        )
        found.append(issue("gap", first_missing, pos[k + 1], detail, missing=missing_bars))
    return found


def stale_prices(st: pd.DatetimeIndex, pos: np.ndarray, close: np.ndarray, stale_bars: int) -> Issues:
    """Runs of at least ``stale_bars`` equal closes."""
    found: Issues = []
    if len(close) < stale_bars:
        return found
    same = np.isfinite(close[1:]) & (close[1:] == close[:-1])
    # a run of k equal closes is k-1 consecutive "same" flags
    starts, lengths = runs(same)
    long = lengths >= stale_bars - 1
    for s, length in zip(starts[long], lengths[long], strict=True):
        bars = int(length) + 1
        found.append(issue("stale_price", st[s], pos[s],
                           f"close {_fmt(close[s])} unchanged for {bars} bars (to {_ts(st[s + bars - 1])})"))
    return found


def zero_volume(st: pd.DatetimeIndex, pos: np.ndarray, volume: np.ndarray, min_bars: int) -> Issues:
    """Runs of at least ``min_bars`` bars with volume 0 (one finding per run)."""
    found: Issues = []
    starts, lengths = runs(volume == 0)
    long = lengths >= min_bars
    for s, length in zip(starts[long], lengths[long], strict=True):
        length = int(length)
        detail = f"volume 0 for {length} bars (to {_ts(st[s + length - 1])})" if length > 1 else "volume 0 for 1 bar"
        found.append(issue("zero_volume", st[s], pos[s], detail))
    return found


def returns_defects(
    st: pd.DatetimeIndex, pos: np.ndarray, close: np.ndarray, *,
    outlier_threshold: float, spike_threshold: float, spike_revert_tolerance: float,
) -> Issues:
    """One-bar spikes that revert (warning) and other extreme returns (info), by robust z-score.

    The z-score uses the median and MAD of simple close-to-close returns. A candidate whose
    next close retraces at least ``1 - spike_revert_tolerance`` of the jump (in log terms) is a
    ``spike_revert``; the rest above ``outlier_threshold`` are ``outlier_return``.
    """
    found: Issues = []
    good = np.isfinite(close) & (close > 0)
    if good.sum() < 10:
        return found
    cpos = np.flatnonzero(good)
    cc = close[cpos]
    r = cc[1:] / cc[:-1] - 1.0
    med = np.median(r)
    mad = np.median(np.abs(r - med))
    if not mad > 0:
        return found
    z = 0.6745 * (r - med) / mad
    spikes = np.zeros(0, dtype=np.int64)
    # spike-and-revert: return k (into bar k+1) is extreme and bar k+2 retraces it
    cand = np.flatnonzero(np.abs(z[:-1]) > spike_threshold)
    if len(cand):
        jump = np.abs(np.log(cc[cand + 1] / cc[cand]))
        back = np.abs(np.log(cc[cand + 2] / cc[cand]))
        spikes = cand[back <= spike_revert_tolerance * jump]
        for k in spikes:
            at = cpos[k + 1]
            found.append(issue(
                "spike_revert", st[at], pos[at],
                f"close {_fmt(cc[k + 1])} is {cc[k + 1] / cc[k]:.3g}× the previous close "
                f"{_fmt(cc[k])} (robust z {z[k]:+.1f}) and the next close {_fmt(cc[k + 2])} "
                "reverts it (bad tick?)",
            ))
    outlier = np.abs(z) > outlier_threshold
    outlier[spikes] = False  # the spike and its reversal are reported as spike_revert
    outlier[spikes + 1] = False
    for k in np.flatnonzero(outlier):
        at = cpos[k + 1]
        found.append(issue("outlier_return", st[at], pos[at], f"return {r[k]:+.2%} (robust z {z[k]:+.1f})"))
    return found


def partial_candle(
    st: pd.DatetimeIndex, pos: np.ndarray, volume: np.ndarray, tf: pd.Timedelta | None, *,
    as_of: pd.Timestamp | str | None, volume_ratio: float, lookback: int,
) -> Issues:
    """A last bar still open at ``as_of``; without ``as_of``, a last bar of suspiciously low volume."""
    found: Issues = []
    if not len(st):
        return found
    last = len(st) - 1
    if as_of is not None:
        when = to_utc(as_of, "as_of")
        if tf is not None and st[last] + tf > when:
            found.append(issue(
                "partial_candle", st[last], pos[last],
                f"last bar {_ts(st[last])} had not closed at {_ts(when)} (closes {_ts(st[last] + tf)})",
            ))
    elif last >= min(lookback, 5):
        prev = volume[max(0, last - lookback):last]
        prev = prev[np.isfinite(prev)]
        ref = float(np.median(prev)) if len(prev) else np.nan
        v = volume[last]
        if ref > 0 and np.isfinite(v) and 0 < v < volume_ratio * ref:
            found.append(issue(
                "partial_candle", st[last], pos[last],
                f"last bar volume {_fmt(v)} is {v / ref:.0%} of the median {_fmt(ref)} of the previous "
                f"{len(prev)} bars: looks like a candle captured before it closed",
            ))
    return found
