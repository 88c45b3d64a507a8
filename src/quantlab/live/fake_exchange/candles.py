"""Where the fake exchange's prices come from: synthetic candles or the bundled daily sample.

A candle source lists its symbols (:class:`~.markets.SymbolSpec`), the intervals it serves
and its *pricing timeframe*: market orders fill at the open of the pricing-timeframe candle
that contains the exchange clock, and resting limit orders are matched against the high/low
of each such candle the clock moves past.

* :class:`SyntheticCandles` — deterministic candles of three symbols, a pure function of the
  open time (:func:`synthetic_candle`, the same series as the data-layer test fake), any
  Binance interval, any pricing timeframe;
* :class:`SampleCandles` — the bundled Binance daily sample (:func:`quantlab.data.load_sample`),
  served as ``1d`` only (other intervals: ``-1120 Invalid interval.``).

:func:`klines` renders a source as ``GET /api/v3/klines`` rows; the still-open candle (the one
containing the clock) is served partial, as a real exchange does. Its ``bad`` mapping publishes
chosen candles corrupted (:data:`BAD_KINDS`, applied by :func:`corrupt`), as a faulty exchange
sometimes does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from quantlab.errors import ParameterError
from quantlab.live.fake_exchange.errors import ApiError
from quantlab.live.fake_exchange.markets import SAMPLE_SPECS, SYNTHETIC_SPECS, SymbolSpec

__all__ = [
    "BAD_KINDS",
    "INTERVAL_MS",
    "T0",
    "CandleSource",
    "SampleCandles",
    "SyntheticCandles",
    "check_bad",
    "corrupt",
    "klines",
    "synthetic_candle",
]

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
#: Binance kline intervals and their length ("1M" is served as calendar months).
INTERVAL_MS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": HOUR_MS, "2h": 2 * HOUR_MS, "4h": 4 * HOUR_MS, "6h": 6 * HOUR_MS, "8h": 8 * HOUR_MS,
    "12h": 12 * HOUR_MS, "1d": DAY_MS, "3d": 3 * DAY_MS, "1w": 7 * DAY_MS, "1M": 30 * DAY_MS,
}
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z: the synthetic symbols' listing time
_SYNTHETIC_BASE = {"BTCUSDT": 40_000.0, "ETHUSDT": 2_000.0, "SOLUSDT": 100.0}

Candle = tuple[float, float, float, float, float]  # open, high, low, close, volume


class CandleSource(Protocol):
    """What the fake exchange needs of a price source."""

    specs: dict[str, SymbolSpec]
    intervals: tuple[str, ...]
    timeframe: str
    default_now_ms: int

    def listed_ms(self, symbol: str) -> int:
        """Open time of the symbol's first candle."""
        ...

    def opens(self, symbol: str, interval: str, first_ms: int, last_ms: int) -> list[int]:
        """Open times of the candles with ``first_ms <= open <= last_ms``."""
        ...

    def candle(self, symbol: str, open_ms: int, interval: str) -> Candle | None:
        """The candle opening at ``open_ms`` (None where there is none)."""
        ...


def synthetic_candle(symbol: str, open_ms: int, interval_ms: int) -> list[float]:
    """Deterministic candle ``[open_ms, o, h, l, c, v]`` of a synthetic symbol.

    Parameters
    ----------
    symbol : str
        ``"BTCUSDT"``, ``"ETHUSDT"`` or ``"SOLUSDT"`` (Binance ids).
    open_ms : int
        Open time (epoch ms), a multiple of ``interval_ms``.
    interval_ms : int
        Candle length in ms (each interval is its own series).

    Returns
    -------
    list of float
        Prices rounded to cents; close of one candle = open of the next.
    """
    base = _SYNTHETIC_BASE[symbol]
    i = open_ms // interval_ms

    def price(k: int) -> float:
        return round(base * (1.0 + 0.05 * math.sin(k / 37.0) + 0.0001 * (k % 101)), 2)

    o, c = price(i), price(i + 1)
    h = round(max(o, c) * 1.004, 2)
    low = round(min(o, c) * 0.996, 2)
    v = round(1.0 + (i % 13) * 0.25, 8)
    return [float(open_ms), o, h, low, c, v]


def _check_timeframe(timeframe: str, allowed: Sequence[str]) -> str:
    if timeframe not in allowed or timeframe == "1M":
        raise ParameterError(
            f"timeframe {timeframe!r} cannot price the fake exchange "
            f"(use one of {', '.join(t for t in allowed if t != '1M')})"
        )
    return timeframe


def _months(first_ms: int, last_ms: int) -> list[int]:
    start = pd.Timestamp(first_ms, unit="ms", tz="UTC")
    month = start.normalize().replace(day=1)
    if month < start:
        month += pd.DateOffset(months=1)
    out = []
    while (t := int(month.value // 1_000_000)) <= last_ms:
        out.append(t)
        month += pd.DateOffset(months=1)
    return out


def close_ms(open_ms: int, interval: str) -> int:
    """When the candle opening at ``open_ms`` closes (calendar months for ``"1M"``)."""
    if interval == "1M":
        nxt = pd.Timestamp(open_ms, unit="ms", tz="UTC") + pd.DateOffset(months=1)
        return int(nxt.value // 1_000_000)
    return open_ms + INTERVAL_MS[interval]


class SyntheticCandles:
    """Deterministic synthetic candles of BTCUSDT, ETHUSDT and SOLUSDT (any interval).

    Parameters
    ----------
    timeframe : str
        Pricing timeframe (``"1h"`` by default): fills happen at the open of its candles.
    listed_ms : mapping of str to int, optional
        First candle per symbol (default 2024-01-01 for all).
    """

    intervals = tuple(INTERVAL_MS)

    def __init__(self, timeframe: str = "1h", listed_ms: Mapping[str, int] | None = None) -> None:
        self.timeframe = _check_timeframe(timeframe, self.intervals)
        self.specs = dict(SYNTHETIC_SPECS)
        self._listed = dict.fromkeys(self.specs, T0) | dict(listed_ms or {})
        self.default_now_ms = T0 + 2_500 * HOUR_MS + 30 * 60_000

    def listed_ms(self, symbol: str) -> int:
        """First candle's open time of ``symbol``."""
        return self._listed[symbol]

    def opens(self, symbol: str, interval: str, first_ms: int, last_ms: int) -> list[int]:
        """Open times in ``[first_ms, last_ms]`` (not before the listing)."""
        first = max(first_ms, self._listed[symbol])
        if interval == "1M":
            return _months(first, last_ms)
        step = INTERVAL_MS[interval]
        return list(range(-(-first // step) * step, last_ms + 1, step))

    def candle(self, symbol: str, open_ms: int, interval: str) -> Candle | None:
        """The candle opening at ``open_ms`` (None before the listing)."""
        if open_ms < self._listed[symbol]:
            return None
        _, o, h, low, c, v = synthetic_candle(symbol, open_ms, INTERVAL_MS[interval])
        return o, h, low, c, v


class SampleCandles:
    """The bundled Binance daily sample as the exchange's market (``1d`` only).

    Parameters
    ----------
    symbols : sequence of str, optional
        Sample pairs to list (ccxt form, ``"BTC/USDT"``); all eight by default.
    """

    intervals = ("1d",)
    timeframe = "1d"

    def __init__(self, symbols: Sequence[str] | None = None) -> None:
        from quantlab.data.sample import load_sample, sample_symbols

        chosen = list(symbols) if symbols is not None else sample_symbols()
        self._times: dict[str, np.ndarray] = {}
        self._values: dict[str, np.ndarray] = {}
        self.specs = {}
        for sym in chosen:
            frame = load_sample(sym)
            key = frame.attrs["symbol"].replace("/", "")
            self.specs[key] = SAMPLE_SPECS[key]
            self._times[key] = pd.DatetimeIndex(frame.index).as_unit("ms").asi8.astype(np.int64)
            self._values[key] = frame[["open", "high", "low", "close", "volume"]].to_numpy(float)
        self.default_now_ms = int(pd.Timestamp("2025-01-01", tz="UTC").value // 1_000_000)

    def listed_ms(self, symbol: str) -> int:
        """First sample day of ``symbol``."""
        return int(self._times[symbol][0])

    def last_ms(self, symbol: str) -> int:
        """Last sample day of ``symbol``."""
        return int(self._times[symbol][-1])

    def opens(self, symbol: str, interval: str, first_ms: int, last_ms: int) -> list[int]:
        """Sample days in ``[first_ms, last_ms]``."""
        t = self._times[symbol]
        lo, hi = np.searchsorted(t, first_ms, "left"), np.searchsorted(t, last_ms, "right")
        return [int(x) for x in t[lo:hi]]

    def candle(self, symbol: str, open_ms: int, interval: str) -> Candle | None:
        """The sample day opening at ``open_ms`` (None outside the sample)."""
        t = self._times[symbol]
        i = int(np.searchsorted(t, open_ms))
        if i == len(t) or t[i] != open_ms:
            return None
        o, h, low, c, v = (float(x) for x in self._values[symbol][i])
        return o, h, low, c, v


def _num(x: float) -> str:
    return "NaN" if x != x else f"{x:.8f}"


def _partial(candle: Candle, fraction: float) -> Candle:
    """The still-open candle a fraction of the way through: the close moves from the open
    toward the final close, high/low cover what was traded so far."""
    o, _, _, c, v = candle
    last = round(o + fraction * (c - o), 8)
    return o, max(o, last), min(o, last), last, v * fraction


#: Corruptions :func:`corrupt` applies (the data-layer test fake's names).
BAD_KINDS = ("high_lt_low", "negative_close", "nan_close", "negative_volume", "zero_open")


def check_bad(bad: Mapping[int, str]) -> dict[int, str]:
    """``bad`` as ``{open_ms: kind}``, checked (:class:`ParameterError` naming a bad entry)."""
    out: dict[int, str] = {}
    for key, kind in dict(bad).items():
        if isinstance(key, bool) or not isinstance(key, int | np.integer):
            raise ParameterError(f"bad: key {key!r} must be a candle open time in ms")
        if kind not in BAD_KINDS:
            raise ParameterError(f"bad: unknown corruption {kind!r} "
                                 f"(use one of {', '.join(BAD_KINDS)})")
        out[int(key)] = kind
    return out


def corrupt(candle: Candle, kind: str) -> Candle:
    """``candle`` (open, high, low, close, volume) corrupted as ``kind`` says
    (:data:`BAD_KINDS`)."""
    o, h, low, c, v = candle
    if kind == "high_lt_low":
        return o, low * 0.99, h, c, v
    if kind == "negative_close":
        return o, h, low, -c, v
    if kind == "nan_close":
        return o, h, low, math.nan, v
    if kind == "negative_volume":
        return o, h, low, c, -v
    if kind == "zero_open":
        return 0.0, h, low, c, v
    raise ParameterError(f"unknown corruption {kind!r} (use one of {', '.join(BAD_KINDS)})")


def klines(source: CandleSource, query: Mapping[str, str], now_ms: int,
           bad: Mapping[int, str] | None = None) -> list[list[Any]]:
    """``GET /api/v3/klines`` rows of ``source`` at exchange time ``now_ms``; the candles
    opening at a time in ``bad`` are served corrupted (:func:`corrupt`).

    Raises
    ------
    ApiError
        -1121 unknown symbol, -1120 interval not served, -1130 bad ``limit``, -1102 missing
        parameter.
    """
    symbol = query.get("symbol", "")
    if not symbol:
        raise ApiError(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
    if symbol not in source.specs:
        raise ApiError(-1121, "Invalid symbol.")
    interval = query.get("interval", "")
    if interval not in source.intervals:
        raise ApiError(-1120, "Invalid interval.")
    try:
        limit = int(query.get("limit", 500))
        start = int(query["startTime"]) if "startTime" in query else None
        end = min(int(query.get("endTime", now_ms)), now_ms)
    except ValueError:
        raise ApiError(-1100, "Illegal characters found in a parameter.") from None
    if not 1 <= limit <= 1000:
        raise ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
    if start is not None:
        opens = source.opens(symbol, interval, start, end)[:limit]
    else:
        span = 32 * DAY_MS if interval == "1M" else INTERVAL_MS[interval]
        opens = source.opens(symbol, interval, end - limit * span, end)[-limit:]
    rows = []
    for t in opens:
        candle = source.candle(symbol, t, interval)
        if candle is None:
            continue
        t_close = close_ms(t, interval)
        if t_close > now_ms:
            candle = _partial(candle, (now_ms - t) / (t_close - t))
        if bad and t in bad:
            candle = corrupt(candle, bad[t])
        o, h, low, c, v = candle
        rows.append([t, _num(o), _num(h), _num(low), _num(c), _num(v), t_close - 1,
                     _num(v * c), 100, _num(v / 2), _num(v * c / 2), "0"])
    return rows
