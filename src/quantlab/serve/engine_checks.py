"""Validation of new bars before the data engine serves them: the quality checks of
:mod:`quantlab.data.quality` on the served tail plus the new candles of one symbol.

:meth:`~quantlab.serve.engine_source.Source.fetch` has already dropped what
:func:`~quantlab.data.candles.check_page` refuses (rows that are not candles, NaN, prices
<= 0, negative volume, high below low, open/close outside the range, times off the grid,
conflicting repeats). :func:`check_new_bars` then runs
:func:`~quantlab.data.quality.check_quality` on the last served bars and the new ones, with the
source's clock as ``as_of``: a new bar with an error finding, or the ``partial_candle`` finding
(a candle that has not closed by that clock), is refused; warnings (gaps, stale prices,
zero-volume runs, reverting spikes) are reported and the bar is served.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quantlab.data.quality import check_quality
from quantlab.serve.engine_source import Rejection

__all__ = ["BarCheck", "check_new_bars"]

_FIELDS = ["open", "high", "low", "close", "volume"]


@dataclass
class BarCheck:
    """Outcome of :func:`check_new_bars`: rows to serve, rows refused, warnings as
    ``(open_ms, check)``."""

    rows: np.ndarray
    rejected: list[Rejection] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)


def check_new_bars(source: str, symbol: str, tail: np.ndarray, new: np.ndarray, *,
                   timeframe: str, now_ms: int) -> BarCheck:
    """Check the ``new`` rows of ``symbol`` after the served ``tail``.

    Parameters
    ----------
    source, symbol : str
        Names for the findings.
    tail, new : numpy.ndarray
        Rows ``[open_ms, o, h, l, c, v]``, time order; ``new`` after ``tail``.
    timeframe : str
        Bar length (the gap and partial-candle checks).
    now_ms : int
        The source's exchange clock.

    Returns
    -------
    BarCheck
    """
    if not len(new):
        return BarCheck(new)
    rows = np.vstack([tail, new]) if len(tail) else new
    index = pd.DatetimeIndex(pd.to_datetime(rows[:, 0].astype(np.int64), unit="ms", utc=True))
    frame = pd.DataFrame(rows[:, 1:6], index=index, columns=_FIELDS)
    report = check_quality(frame, timeframe=timeframe, symbol=symbol, source=source,
                           as_of=pd.Timestamp(int(now_ms), unit="ms", tz="UTC"))
    first = len(tail)
    refused: dict[int, str] = {}
    warnings: list[tuple[int, str]] = []
    for check, severity, row, detail in report.issues[["check", "severity", "row",
                                                       "detail"]].itertuples(index=False):
        if int(row) < first:
            continue
        if severity == "error" or check == "partial_candle":
            refused.setdefault(int(row), f"{check}: {detail}")
        elif severity == "warning":
            warnings.append((int(rows[int(row), 0]), str(check)))
    keep = [i for i in range(first, len(rows)) if i not in refused]
    rejected = [Rejection(source, symbol, int(rows[i, 0]), why) for i, why in
                sorted(refused.items())]
    return BarCheck(rows[keep], rejected, warnings)
