"""What one ``fetch_ohlcv`` run did for one symbol (a result object)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from quantlab._result import Result

__all__ = ["FetchReport"]


@dataclass(repr=False)
class FetchReport(Result):
    """What :func:`fetch_ohlcv` did for one symbol.

    Attributes
    ----------
    exchange, symbol, timeframe : str
        What was fetched.
    path : pathlib.Path
        Cache file (exists when ``total_bars > 0``).
    new_bars : int
        Closed candles added by this run.
    total_bars : int
        Candles in the cache file afterwards.
    start, end : pandas.Timestamp or None
        First and last cached candle (open time, UTC).
    requests : int
        OHLCV requests sent (excluding retries of the same page).
    resumed_from : pandas.Timestamp or None
        Last cached candle before this run (None for a fresh fetch).
    expected_bars, missing_bars : int
        Closed bars the exchange clock says the requested range holds (from the first stored
        bar in it), and how many of them are not stored.
    missing_ranges : list of (Timestamp, Timestamp)
        First and last open time of each run of missing bars.
    rejected : int
        Bad candles refused (see ``quarantine``).
    quarantine : pathlib.Path or None
        CSV file the refused candles were written to.
    """

    exchange: str
    symbol: str
    timeframe: str
    path: Path
    new_bars: int = 0
    total_bars: int = 0
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    requests: int = 0
    resumed_from: pd.Timestamp | None = None
    expected_bars: int = 0
    missing_bars: int = 0
    missing_ranges: list[tuple[pd.Timestamp, pd.Timestamp]] = field(default_factory=list)
    rejected: int = 0
    quarantine: Path | None = None

    def __fspath__(self) -> str:
        return str(self.path)

    def stats(self) -> pd.Series:
        """Headline figures: new_bars, total_bars, start, end, requests, expected_bars,
        missing_bars, rejected, resumed_from."""
        return pd.Series({
            "new_bars": self.new_bars, "total_bars": self.total_bars, "start": self.start,
            "end": self.end, "requests": self.requests, "expected_bars": self.expected_bars,
            "missing_bars": self.missing_bars, "rejected": self.rejected,
            "resumed_from": self.resumed_from,
        }, name=self.symbol, dtype=object)

    def title(self) -> str:
        """``binance BTC/USDT 1h: 2,500 new bars, 2,500 stored``."""
        return (f"{self.exchange} {self.symbol} {self.timeframe}: {self.new_bars:,} new bars, "
                f"{self.total_bars:,} stored")

    def _figure(self, **kwargs: Any) -> Any:
        from quantlab.charts.quality import coverage_figure

        return coverage_figure(self.start, self.end, self.missing_ranges, title=self.title())

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (for ``--json``)."""
        return {
            "type": type(self).__name__,
            "title": self.title(),
            "exchange": self.exchange,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "path": str(self.path),
            "new_bars": self.new_bars,
            "total_bars": self.total_bars,
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "requests": self.requests,
            "resumed_from": None if self.resumed_from is None else self.resumed_from.isoformat(),
            "expected_bars": self.expected_bars,
            "missing_bars": self.missing_bars,
            "missing_ranges": [[a.isoformat(), b.isoformat()] for a, b in self.missing_ranges],
            "rejected": self.rejected,
            "quarantine": None if self.quarantine is None else str(self.quarantine),
        }
