"""Validation of candle pages as an exchange sends them, before anything touches the cache.

A page is what ccxt's ``fetch_ohlcv`` returns: a list of ``[open_ms, open, high, low, close,
volume]`` rows. Rows that are not candles, or candles that cannot be true (high below low, a
non-positive price, negative volume, NaN, a time off the timeframe's grid, a repeated time),
are rejected with a reason; the rest are returned sorted as a float64 array.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["PageCheck", "Rejected", "check_page"]

_NAMES = ("open", "high", "low", "close", "volume")
_MIN_MS = 1_199_145_600_000  # 2008-01-01: no crypto exchange has candles before that


@dataclass(frozen=True)
class Rejected:
    """One candle refused, with why (``time`` is None when it had no usable timestamp)."""

    time: pd.Timestamp | None
    reason: str
    raw: Any

    def describe(self) -> str:
        """``2024-01-01 05:00 (high 99 < low 100)``."""
        when = "no time" if self.time is None else self.time.strftime("%Y-%m-%d %H:%M")
        return f"{when} ({self.reason})"


@dataclass
class PageCheck:
    """Result of :func:`check_page`: good rows (n × 6 float64, sorted) and rejected candles."""

    rows: np.ndarray
    rejected: list[Rejected] = field(default_factory=list)
    not_candles: int = 0  # rows that were not candle-shaped at all


def _num(x: Any) -> float:
    if isinstance(x, bool) or x is None:
        return math.nan
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _fmt(x: float) -> str:
    return f"{x:.10g}"


def _values_problem(o: float, h: float, lo: float, c: float, v: float) -> str | None:
    values = (o, h, lo, c, v)
    bad = [f"{n} is missing or not a number" for n, x in zip(_NAMES, values, strict=True) if not math.isfinite(x)]
    if bad:
        return ", ".join(bad)
    bad = [f"{n} {_fmt(x)} <= 0" for n, x in zip(_NAMES[:4], values[:4], strict=True) if x <= 0]
    if v < 0:
        bad.append(f"volume {_fmt(v)} < 0")
    if h < lo:
        bad.append(f"high {_fmt(h)} < low {_fmt(lo)}")
    else:
        for name, x in (("open", o), ("close", c)):
            if x > h:
                bad.append(f"{name} {_fmt(x)} > high {_fmt(h)}")
            elif x < lo:
                bad.append(f"{name} {_fmt(x)} < low {_fmt(lo)}")
    return "; ".join(bad) or None


def check_page(
    page: Sequence[Any] | Any,
    *,
    timeframe_ms: int,
    anchor_ms: int | None = None,
) -> PageCheck:
    """Split a page of candles into valid rows and rejected candles.

    Parameters
    ----------
    page : sequence
        Rows as ccxt returns them (``[ms, o, h, l, c, v, ...]``).
    timeframe_ms : int
        Bar length in ms; below 28 days every open time must lie on the grid
        ``anchor_ms + k * timeframe_ms``.
    anchor_ms : int, optional
        A known bar open time (e.g. the last cached bar); default: the first valid row.

    Returns
    -------
    PageCheck
        ``rows``: valid candles sorted by time, duplicates removed when identical (a repeated
        time with different values is rejected: which one is true cannot be known).
    """
    out = PageCheck(rows=np.empty((0, 6)))
    if not isinstance(page, list | tuple):
        out.not_candles = 1
        return out
    good: dict[int, tuple[float, ...]] = {}
    conflicted: set[int] = set()
    grid = timeframe_ms < 28 * 86_400_000
    for raw in page:
        if not isinstance(raw, list | tuple) or len(raw) < 6:
            out.not_candles += 1
            out.rejected.append(Rejected(None, f"not a candle: {str(raw)[:60]!r}", raw))
            continue
        t = _num(raw[0])
        if not math.isfinite(t) or t != int(t) or not _MIN_MS <= t < 4_102_444_800_000:
            out.not_candles += 1
            out.rejected.append(Rejected(None, f"bad open time {str(raw[0])[:30]!r}", raw))
            continue
        ms = int(t)
        when = pd.Timestamp(ms, unit="ms", tz="UTC")
        vals = tuple(_num(x) for x in raw[1:6])
        problem = _values_problem(*vals)
        if problem is None and grid:
            if anchor_ms is None:
                anchor_ms = ms
            if (ms - anchor_ms) % timeframe_ms:
                problem = f"open time off the {timeframe_ms // 60_000}-minute grid"
        if problem is not None:
            out.rejected.append(Rejected(when, problem, raw))
            continue
        if ms in good and good[ms] != vals:
            conflicted.add(ms)
        good.setdefault(ms, vals)
    for ms in sorted(conflicted):
        del good[ms]
        out.rejected.append(Rejected(pd.Timestamp(ms, unit="ms", tz="UTC"),
                                     "sent twice with different values", None))
    if good:
        keys = sorted(good)
        out.rows = np.array([[k, *good[k]] for k in keys], dtype="float64")
    out.rejected.sort(key=lambda r: (r.time is not None, r.time or pd.Timestamp(0, tz="UTC")))
    return out
