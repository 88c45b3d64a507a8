"""Download OHLCV candles with ccxt into the parquet cache (resumable, rate limited)."""

from __future__ import annotations

import difflib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import ccxt
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from quantlab.data.frame import FIELDS, TIME_UNIT, to_utc
from quantlab.data.store import cache_path, merge_ohlcv, read_cache, write_ohlcv
from quantlab.data.symbols import normalize_symbols
from quantlab.data.timeframes import timeframe_ms
from quantlab.errors import ExchangeError, ParameterError, UnknownSymbolError

__all__ = ["FetchReport", "fetch_ohlcv", "make_exchange"]

T = TypeVar("T")
_MAX_BACKOFF = 60.0


@dataclass
class FetchReport:
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

    def __fspath__(self) -> str:
        return str(self.path)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (for ``--json``)."""
        return {
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
        }


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def make_exchange(exchange: str | ccxt.Exchange, symbols: Sequence[str] = ()) -> ccxt.Exchange:
    """A ccxt exchange with rate limiting on, from an id or an existing object.

    Raises
    ------
    ParameterError
        ``exchange`` is not a ccxt exchange id (or object).
    """
    if isinstance(exchange, ccxt.Exchange):
        exchange.enableRateLimit = True
        return exchange
    if not isinstance(exchange, str) or exchange.strip().lower() not in ccxt.exchanges:
        close = difflib.get_close_matches(str(exchange).strip().lower(), ccxt.exchanges, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "e.g. binance, kraken, okx, bybit, coinbase"
        raise ParameterError(f"unknown exchange {exchange!r} (not a ccxt exchange id; {hint})")
    name = exchange.strip().lower()
    ex = getattr(ccxt, name)({"enableRateLimit": True})
    if name == "binance" and all(":" not in s for s in symbols):
        ex.options["fetchMarkets"] = {"types": ["spot"]}  # spot only: one request, no futures hosts
    return ex


def _call(
    fn: Callable[..., T],
    *args: Any,
    what: str,
    max_retries: int,
    retry_delay: float,
) -> T:
    """Call ``fn`` retrying transient ccxt errors with exponential backoff."""
    attempt = 0
    while True:
        try:
            return fn(*args)
        except ccxt.BadSymbol as exc:
            raise UnknownSymbolError(f"{what}: {_one_line(exc)}") from None
        except ccxt.NetworkError as exc:  # incl. RateLimitExceeded, DDoSProtection, timeouts, 5xx
            if attempt >= max_retries:
                msg = f"{what} failed after {attempt + 1} attempt{'s' if attempt else ''}: {_one_line(exc)}"
                raise ExchangeError(msg) from None
            delay = min(retry_delay * (2**attempt), _MAX_BACKOFF)
            if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
                delay = max(delay, retry_delay * 2)
            time.sleep(delay)
            attempt += 1
        except ccxt.BaseError as exc:
            msg = f"{what}: {_one_line(exc)}"
            raise ExchangeError(msg) from None


def _page_limit(ex: ccxt.Exchange, limit: int | None) -> int | None:
    if limit is not None:
        if int(limit) <= 0:
            raise ParameterError(f"limit must be positive, not {limit}")
        return int(limit)
    try:
        value = ex.features["spot"]["fetchOHLCV"]["limit"]
        return int(value) if value else None
    except (KeyError, TypeError, ValueError):
        return None


def _server_time(ex: ccxt.Exchange, **kw: Any) -> int:
    if ex.has.get("fetchTime"):
        value = _call(ex.fetch_time, what=f"{ex.id} fetch_time", **kw)
        if value:
            return int(value)
    return int(ex.milliseconds())


def _check_symbols(ex: ccxt.Exchange, symbols: list[str]) -> None:
    markets = ex.markets or {}
    for sym in symbols:
        if sym not in markets:
            similar = difflib.get_close_matches(sym, list(markets), n=5, cutoff=0.5)
            shown = ", ".join(similar) if similar else ", ".join(sorted(markets)[:5])
            raise UnknownSymbolError(
                f"unknown symbol {sym} on {ex.id} (available: {shown}, ... {len(markets)} markets)"
            )


def _rows_to_frame(rows: np.ndarray) -> pd.DataFrame:
    idx = pd.DatetimeIndex(pd.to_datetime(rows[:, 0].astype("int64"), unit="ms", utc=True), name="time")
    return pd.DataFrame(rows[:, 1:6], index=idx.as_unit(TIME_UNIT), columns=FIELDS, dtype="float64")


def fetch_ohlcv(
    exchange: str | ccxt.Exchange,
    symbols: str | Sequence[str],
    timeframe: str,
    since: str | pd.Timestamp | None,
    *,
    until: str | pd.Timestamp | None = None,
    data_dir: str | os.PathLike[str] = "data",
    progress: bool = True,
    limit: int | None = None,
    max_retries: int = 5,
    retry_delay: float = 1.0,
) -> dict[str, FetchReport]:
    """Download closed OHLCV candles into ``data_dir/<exchange>/<timeframe>/<BASE_QUOTE>.parquet``.

    Pages through ccxt's ``fetch_ohlcv`` with ccxt's rate limiter on, retrying network errors,
    rate-limit and DDoS-protection responses with exponential backoff. The cache file is
    rewritten atomically after every page, so an interrupted fetch keeps everything already
    received; running the same call again resumes after the last cached candle (and sends no
    candle request at all when nothing new can have closed). The still-open last candle
    (open time + timeframe > the exchange's clock) is never stored.

    Parameters
    ----------
    exchange : str or ccxt.Exchange
        ccxt exchange id (``"binance"``) or an already-configured exchange object.
    symbols : str or sequence of str
        Unified symbols (a comma-separated string is accepted).
    timeframe : str
        ccxt timeframe, e.g. ``"1h"``.
    since : str or pandas.Timestamp or None
        First candle wanted (inclusive; naive = UTC). May be None when resuming a cached symbol.
    until : str or pandas.Timestamp, optional
        Last candle open time wanted (inclusive).
    data_dir : str or PathLike
        Cache root.
    progress : bool
        Show a tqdm progress bar on stderr.
    limit : int, optional
        Candles per request (default: the exchange's maximum as ccxt knows it).
    max_retries : int
        Retries of one request on transient errors before giving up.
    retry_delay : float
        First backoff delay in seconds (doubles per retry, capped at 60 s).

    Returns
    -------
    dict of str to FetchReport
        One report per symbol (``report.path`` is the cache file; reports are path-like).

    Raises
    ------
    ParameterError
        Unknown exchange id, unsupported timeframe, bad dates.
    UnknownSymbolError
        A symbol the exchange does not list (checked before anything is fetched).
    ExchangeError
        The exchange kept failing; the message says how much was saved and that re-running
        resumes.
    """
    syms = normalize_symbols(symbols)
    ex = make_exchange(exchange, syms)
    tf_ms = timeframe_ms(timeframe)
    if max_retries < 0:
        raise ParameterError(f"max_retries must be >= 0, not {max_retries}")
    since_ms = int(to_utc(since, "since").value // 1_000_000) if since is not None else None
    until_ms = int(to_utc(until, "until").value // 1_000_000) if until is not None else None
    if since_ms is not None and until_ms is not None and since_ms > until_ms:
        raise ParameterError(f"since {since} is after until {until}")
    if not ex.has.get("fetchOHLCV"):
        raise ParameterError(f"{ex.id} does not provide OHLCV candles")
    if ex.timeframes and timeframe not in ex.timeframes:
        raise ParameterError(
            f"{ex.id} does not offer timeframe {timeframe!r} (available: {', '.join(ex.timeframes)})"
        )
    kw = {"max_retries": max_retries, "retry_delay": retry_delay}
    _call(ex.load_markets, what=f"{ex.id} load_markets", **kw)
    _check_symbols(ex, syms)
    page_limit = _page_limit(ex, limit)
    # next request starts one bar after the last candle (1 ms after for calendar timeframes)
    advance = tf_ms if tf_ms < 28 * 86_400_000 else 1

    reports: dict[str, FetchReport] = {}
    for sym in syms:
        path = cache_path(ex.id, sym, timeframe, data_dir)
        data = read_cache(path, timeframe=timeframe, symbol=sym, warn=False) if path.exists() else None
        report = FetchReport(ex.id, sym, timeframe, path)
        cursor = since_ms
        last_ms: int | None = None
        if data is not None and len(data):
            last_ms = int(data.index[-1].value // 1_000_000)
            report.resumed_from = data.index[-1]
            cursor = last_ms + advance if cursor is None else max(cursor, last_ms + advance)
        if cursor is None:
            raise ParameterError(f"since is required: nothing cached for {sym} in {path.parent}")
        now_ms = _server_time(ex, **kw)
        horizon = now_ms if until_ms is None else min(now_ms, until_ms + tf_ms)
        total = max((horizon - cursor) // tf_ms, 0)
        bar = tqdm(total=total, unit="bar", desc=f"{ex.id} {sym} {timeframe}", file=sys.stderr,
                   disable=not progress, leave=False, dynamic_ncols=True)

        try:
            while True:
                if until_ms is not None and cursor > until_ms:
                    break
                # the next candle opens at last + tf (or at ``cursor`` on a fresh fetch): stop when
                # it cannot have closed yet, without asking the exchange
                next_open = cursor if last_ms is None else max(cursor, last_ms + tf_ms)
                if next_open + tf_ms > now_ms:
                    break
                page = _call(
                    ex.fetch_ohlcv, sym, timeframe, cursor, page_limit,
                    what=f"{ex.id} fetch_ohlcv {sym} {timeframe} since "
                    f"{pd.Timestamp(cursor, unit='ms', tz='UTC').isoformat()}",
                    **kw,
                )
                report.requests += 1
                if not page:
                    break
                rows = np.array([r[:6] for r in page], dtype="float64")
                ts = rows[:, 0]
                keep = (ts >= cursor) & (ts + tf_ms <= now_ms) & np.isfinite(ts)
                if until_ms is not None:
                    keep &= ts <= until_ms
                rows = rows[keep]
                if not len(rows):
                    break
                data = merge_ohlcv(data, _rows_to_frame(rows))
                write_ohlcv(data, path)
                report.new_bars += len(rows)
                bar.update(len(rows))
                last_ms = int(rows[-1, 0])
                cursor = last_ms + advance
                if (ts > rows[-1, 0]).any():  # page reached the open candle or passed until
                    break
        except ExchangeError as exc:
            saved = 0 if data is None else len(data)
            upto = "" if not saved else f" up to {data.index[-1].isoformat()}"
            raise ExchangeError(
                f"{exc}; {saved} {sym} bars{upto} saved in {path}; run again to resume"
            ) from None
        finally:
            bar.close()
        if data is not None and len(data):
            report.total_bars = len(data)
            report.start, report.end = data.index[0], data.index[-1]
        reports[sym] = report
    return reports
