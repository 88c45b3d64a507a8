"""Download OHLCV candles with ccxt into the parquet cache (resumable, rate limited)."""

from __future__ import annotations

import csv
import difflib
import json
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import ccxt
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from quantlab._validate import check_choice, check_range
from quantlab.data.candles import Rejected, check_page
from quantlab.data.fetch_report import FetchReport
from quantlab.data.frame import FIELDS, TIME_UNIT, to_utc
from quantlab.data.lock import cache_lock
from quantlab.data.quality import DataQualityWarning
from quantlab.data.store import append_ohlcv, cache_path, cache_times, drop_if_empty, tidy_dataset
from quantlab.data.symbols import normalize_symbols
from quantlab.data.timeframes import timeframe_ms
from quantlab.errors import (
    DataQualityError,
    ExchangeError,
    ParameterError,
    UnknownSymbolError,
)

__all__ = ["FetchReport", "fetch_ohlcv", "make_exchange"]

T = TypeVar("T")
_MAX_BACKOFF = 60.0


def _one_line(exc: BaseException | str, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


_ERRNO = re.compile(r"\[Errno (-?\d+)\] ([^'\")\]]+)")
_CAUSES = (
    ("Remote end closed connection without response", "the server closed the connection without answering"),
    ("Connection reset by peer", "connection reset by peer"),
    ("Connection aborted", "connection aborted"),
    ("Connection broken", "connection broken mid-response"),
    ("IncompleteRead", "connection broken mid-response"),
)


def network_cause(exc: BaseException, timeout_ms: float | None = None) -> str:
    """The cause of a ccxt network error in words (ccxt's own message often names only the URL).

    Walks the exception chain (ccxt raises ``from`` the requests/urllib3 error) for an errno
    text (``Connection refused``, ``Name or service not known``), a timeout or a dropped
    connection; falls back to ccxt's message.
    """
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    text = " | ".join(str(e) for e in chain)
    if isinstance(exc, ccxt.RequestTimeout) or "timed out" in text.lower():
        secs = f" within {timeout_ms / 1000:g} s" if timeout_ms else ""
        return f"timed out: no answer{secs}"
    m = _ERRNO.search(text)
    if m:
        return m.group(2).strip().rstrip(".").lower() or f"errno {m.group(1)}"
    for needle, words in _CAUSES:
        if needle in text:
            return words
    return _one_line(exc)


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
    timeout_ms: float | None = None,
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
                cause = network_cause(exc, timeout_ms)
                detail = _one_line(exc)
                extra = "" if cause == detail else f" ({detail})"
                msg = f"{what} failed after {attempt + 1} attempt{'s' if attempt else ''}: {cause}{extra}"
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
        return check_range(limit, "limit", 1, integer=True)
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


def _ts(ms: int | float, daily: bool = False) -> str:
    t = pd.Timestamp(int(ms), unit="ms", tz="UTC")
    return t.strftime("%Y-%m-%d") if daily and t == t.normalize() else t.strftime("%Y-%m-%d %H:%M")


def _body_head(ex: ccxt.Exchange, limit: int = 80) -> str:
    body = ex.last_http_response
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    text = " ".join(str(body or "").split())
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def _looks_like_json(ex: ccxt.Exchange) -> bool:
    body = ex.last_http_response
    if body is None:
        return True  # nothing recorded (custom transport): judge the parsed rows only
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    return text.lstrip()[:1] in ("[", "{")


def _content_type(ex: ccxt.Exchange) -> str:
    headers = ex.last_response_headers or {}
    try:
        value = headers.get("Content-Type") or headers.get("content-type") or ""
    except AttributeError:
        value = ""
    return str(value).split(";")[0].strip() or "no content type"


def _fetch_page(ex: ccxt.Exchange, sym: str, timeframe: str, since: int, limit: int | None,
                *, what: str, **kw: Any) -> list[Any]:
    """One ``fetch_ohlcv`` call whose answer must be candles (JSON), else an ExchangeError."""
    ex.last_http_response = None
    try:
        page = _call(ex.fetch_ohlcv, sym, timeframe, since, limit, what=what, **kw)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        # ccxt's parser choked on the body: say what came back instead of a traceback
        raise ExchangeError(
            f"{what}: the response is not candles ({_content_type(ex)}): {_body_head(ex)} "
            f"[{type(exc).__name__}]"
        ) from None
    if not _looks_like_json(ex) or not isinstance(page, list) or (not page and _no_list(_body_json(ex))):
        raise ExchangeError(
            f"{what}: the response is not candles ({_content_type(ex)}): {_body_head(ex)}"
        )
    return page


def _body_json(ex: ccxt.Exchange) -> Any:
    body = ex.last_http_response
    if not isinstance(body, str | bytes):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _no_list(obj: Any, depth: int = 3) -> bool:
    """True for a JSON object with no list anywhere (an error or notice, not an empty page)."""
    if not isinstance(obj, dict):
        return False

    def has_list(x: Any, d: int) -> bool:
        if isinstance(x, list):
            return True
        return isinstance(x, dict) and d > 0 and any(has_list(v, d - 1) for v in x.values())

    return not has_list(obj, depth)


def _calendar_end_ms(opens_ms: np.ndarray, timeframe: str) -> np.ndarray:
    """End (= next open) of calendar candles: ``1M`` candles end on the 1st of the next month."""
    n, unit = int(timeframe[:-1] or 1), timeframe[-1]
    offset = pd.DateOffset(months=n) if unit == "M" else pd.DateOffset(years=n)
    opens = pd.DatetimeIndex(pd.to_datetime(opens_ms.astype("int64"), unit="ms", utc=True))
    return ((opens + offset).as_unit("ms").asi8).astype("float64")


@dataclass
class _Run:
    """Open times ``first..last`` (inclusive, ms) to fetch; ``stop_at`` ends it early."""

    first: int
    last: int
    stop_at: int | None = None  # an already cached bar: reaching it joins the run to the cache


def _plan(
    have: np.ndarray, since_ms: int | None, last_ms: int, tf_ms: int, calendar: bool
) -> list[_Run]:
    """Runs of bars missing between ``since`` and the last closed bar, in time order.

    ``have`` holds the cached open times (ms, sorted). Gaps inside the cache are planned only
    within the requested range (``since`` given) so a plain update asks only for new bars;
    rerunning a fetch with the same ``since`` completes an interrupted backfill.
    """
    if not len(have):
        return [] if since_ms is None or since_ms > last_ms else [_Run(since_ms, last_ms)]
    runs: list[_Run] = []
    first, newest = int(have[0]), int(have[-1])
    if since_ms is not None and since_ms < first:
        runs.append(_Run(since_ms, min(first - 1, last_ms), stop_at=first))
    if since_ms is not None and not calendar and len(have) > 1:
        diffs = np.diff(have)
        for k in np.flatnonzero(diffs > tf_ms):
            lo, hi = int(have[k]) + tf_ms, int(have[k + 1]) - tf_ms
            if hi >= since_ms and lo <= last_ms:
                runs.append(_Run(max(lo, since_ms), min(hi, last_ms), stop_at=int(have[k + 1])))
    if newest + tf_ms <= last_ms:  # the bar after the newest has closed
        runs.append(_Run(newest + (1 if calendar else tf_ms), last_ms))
    return runs


def _quarantine(path: Path, exchange: str, sym: str, timeframe: str, rejected: list[Rejected]) -> Path:
    """Append refused candles to ``<BASE_QUOTE>.rejected.csv`` beside the dataset."""
    target = path.parent / f"{path.name.removesuffix('.parquet')}.rejected.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    new = not target.exists()
    now = pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")
    with target.open("a", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        if new:
            writer.writerow(["recorded_at", "exchange", "symbol", "timeframe", "time", "reason", "candle"])
        for r in rejected:
            writer.writerow([now, exchange, sym, timeframe, "" if r.time is None else r.time.isoformat(),
                             r.reason, json.dumps(r.raw, default=str)])
    return target


def _missing_ranges(times_ms: np.ndarray, lo: int, hi: int, tf_ms: int) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Bars expected in ``[lo, hi]`` on the grid of the stored bars, and the missing ranges.

    Returns ``(expected, missing, [(first_missing_ms, last_missing_ms, count), ...])``; the
    range starts at the first stored bar at or after ``lo`` (before it, the exchange may not
    have listed the symbol yet).
    """
    inside = times_ms[(times_ms >= lo) & (times_ms <= hi)]
    if not len(inside):
        return 0, 0, []
    first = int(inside[0])
    last_expected = first + (hi - first) // tf_ms * tf_ms
    expected = (last_expected - first) // tf_ms + 1
    ranges = []
    diffs = np.diff(inside)
    for k in np.flatnonzero(diffs > tf_ms):
        n = int(diffs[k] // tf_ms) - 1
        if n > 0:
            ranges.append((int(inside[k]) + tf_ms, int(inside[k + 1]) - tf_ms, n))
    if int(inside[-1]) < last_expected:
        ranges.append((int(inside[-1]) + tf_ms, last_expected, int((last_expected - inside[-1]) // tf_ms)))
    return int(expected), sum(r[2] for r in ranges), ranges


def _describe_ranges(ranges: list[tuple[int, int, int]], daily: bool, shown: int = 3) -> str:
    parts = [
        _ts(a, daily) if n == 1 else f"{_ts(a, daily)} to {_ts(b, daily)} ({n} bars)"
        for a, b, n in ranges[:shown]
    ]
    more = f" and {len(ranges) - shown} more range{'s' if len(ranges) - shown > 1 else ''}" if len(ranges) > shown else ""
    return ", ".join(parts) + more


def _print_wait(message: str) -> None:
    print(f"quantlab: {message}", file=sys.stderr, flush=True)


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
    on_bad: str = "error",
    lock_timeout: float | None = None,
) -> dict[str, FetchReport]:
    """Download closed OHLCV candles into the cache ``data_dir/<exchange>/<timeframe>/<BASE_QUOTE>.parquet``.

    What the cache can rely on:

    * **Validated pages.** Every page is checked before it touches the cache: a response that
      is not candles (an HTML error page, an object) is an :class:`~quantlab.errors.ExchangeError`
      quoting its first bytes; candles that cannot be true (high < low, a price <= 0, negative
      volume, NaN, an open time off the timeframe grid, one time sent twice with different
      values) are written to ``<BASE_QUOTE>.rejected.csv`` beside the cache with their reason,
      and the fetch stops with a :class:`~quantlab.errors.DataQualityError` naming symbol, time
      and reason — nothing of that page is stored — unless ``on_bad="skip"``, which stores the
      good candles and warns.
    * **Closed candles only.** A candle is stored once ``open + timeframe <=`` the exchange's
      clock (``fetch_time``); the still-open candle never is.
    * **Complete ranges.** Missing bars between ``since`` and the last closed bar are fetched:
      after the newest cached bar (an update), before the first one (a backfill, when ``since``
      is earlier) and inside the cache (holes of an interrupted run). Afterwards the stored bars
      are counted against the exchange clock; a shortfall is a
      :class:`~quantlab.data.DataQualityWarning` naming the missing ranges (recorded in the
      report).
    * **Nothing lost.** Each symbol is fetched under an exclusive lock of its dataset, so two
      fetches (or a fetch and an import) of one symbol queue; every page is merged into the
      month/year partitions it touches, each replaced atomically, so a killed fetch leaves a
      loadable cache and the same command completes it. Stale temp files of a killed run are
      removed by the next one. New files follow the umask.

    Pages go through ccxt's ``fetch_ohlcv`` with its rate limiter on; network errors, rate
    limits and DDoS protection are retried with exponential backoff, and a final failure names
    its cause (connection refused, timed out, ...).

    Parameters
    ----------
    exchange : str or ccxt.Exchange
        ccxt exchange id (``"binance"``) or an already-configured exchange object.
    symbols : str or sequence of str
        Unified symbols (a comma-separated string is accepted).
    timeframe : str
        ccxt timeframe, e.g. ``"1h"``.
    since : str or pandas.Timestamp or None
        First candle wanted (inclusive; naive = UTC). May be None when updating a cached symbol
        (then only bars after the newest cached one are fetched).
    until : str or pandas.Timestamp, optional
        Last candle open time wanted (inclusive).
    data_dir : str or PathLike
        Cache root.
    progress : bool
        Show a tqdm progress bar on stderr (a wait for another process's lock is always said
        there in one line).
    limit : int, optional
        Candles per request (default: the exchange's maximum as ccxt knows it).
    max_retries : int
        Retries of one request on transient errors before giving up.
    retry_delay : float
        First backoff delay in seconds (doubles per retry, capped at 60 s).
    on_bad : {"error", "skip"}
        What a bad candle from the exchange does: stop the fetch (default) or skip it.
    lock_timeout : float, optional
        Seconds to wait while another process writes the same symbol (None: wait as long as
        it takes; 0: refuse at once with :class:`~quantlab.data.lock.LockTimeout`).

    Returns
    -------
    dict of str to FetchReport
        One report per symbol (``report.path`` is the dataset; reports are path-like).

    Raises
    ------
    ParameterError
        Unknown exchange id, unsupported timeframe, bad dates or options.
    UnknownSymbolError
        A symbol the exchange does not list (checked before anything is fetched).
    ExchangeError
        The exchange kept failing or answered with something that is not candles; the message
        says how much was saved and that re-running resumes.
    DataQualityError
        The exchange sent bad candles (``on_bad="error"``).
    LockTimeout
        Another process kept the symbol locked longer than ``lock_timeout``.

    Warns
    -----
    DataQualityWarning
        Bars missing after the fetch (exchange gaps, a lagging exchange), skipped bad candles.
    """
    syms = normalize_symbols(symbols)
    ex = make_exchange(exchange, syms)
    tf_ms = timeframe_ms(timeframe)
    max_retries = check_range(max_retries, "max_retries", 0, integer=True)
    retry_delay = check_range(retry_delay, "retry_delay", 0.0)
    check_choice(on_bad, "on_bad", ("error", "skip"))
    check_range(lock_timeout, "lock_timeout", 0.0, allow_none=True)
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
    kw: dict[str, Any] = {"max_retries": max_retries, "retry_delay": retry_delay, "timeout_ms": ex.timeout}
    _call(ex.load_markets, what=f"{ex.id} load_markets", **kw)
    _check_symbols(ex, syms)
    page_limit = _page_limit(ex, limit)
    calendar = tf_ms >= 28 * 86_400_000
    # next request starts one bar after the last candle (1 ms after for calendar timeframes)
    advance = tf_ms if not calendar else 1

    reports: dict[str, FetchReport] = {}
    for sym in syms:
        path = cache_path(ex.id, sym, timeframe, data_dir)
        with cache_lock(path, timeout=lock_timeout, on_wait=_print_wait):
            try:
                reports[sym] = _fetch_symbol(
                    ex, sym, timeframe, path, since_ms, until_ms, tf_ms, calendar, advance,
                    page_limit, on_bad, progress, kw,
                )
            finally:
                drop_if_empty(path)
    return reports


def _fetch_symbol(
    ex: ccxt.Exchange, sym: str, timeframe: str, path: Path, since_ms: int | None,
    until_ms: int | None, tf_ms: int, calendar: bool, advance: int, page_limit: int | None,
    on_bad: str, progress: bool, kw: dict[str, Any],
) -> FetchReport:
    """Fetch one symbol while holding its lock (see :func:`fetch_ohlcv`)."""
    tidy_dataset(path)
    report = FetchReport(ex.id, sym, timeframe, path)
    have = cache_times(path).asi8 // 1_000  # us -> ms
    if len(have):
        report.resumed_from = pd.Timestamp(int(have[-1]), unit="ms", tz="UTC")
    elif since_ms is None:
        raise ParameterError(f"since is required: nothing cached for {sym} in {path.parent}")
    now_ms = _server_time(ex, **kw)
    last_ms = now_ms - tf_ms if until_ms is None else min(until_ms, now_ms - tf_ms)
    runs = _plan(have, since_ms, last_ms, tf_ms, calendar)
    anchor = int(have[-1]) if len(have) else None
    total = sum(max((r.last - r.first) // tf_ms + 1, 0) for r in runs)
    bar = tqdm(total=total, unit="bar", desc=f"{ex.id} {sym} {timeframe}", file=sys.stderr,
               disable=not progress, leave=False, dynamic_ncols=True)
    skipped: list[Rejected] = []
    try:
        for run in runs:
            cursor = run.first
            while cursor <= run.last:
                what = f"{ex.id} fetch_ohlcv {sym} {timeframe} since {pd.Timestamp(cursor, unit='ms', tz='UTC').isoformat()}"
                page = _fetch_page(ex, sym, timeframe, cursor, page_limit, what=what, **kw)
                report.requests += 1
                if not page:
                    break
                checked = check_page(page, timeframe_ms=tf_ms, anchor_ms=anchor)
                if checked.not_candles == len(page):
                    raise ExchangeError(
                        f"{what}: the response is not candles ({_content_type(ex)}): {_body_head(ex)}"
                    )
                bad = [r for r in checked.rejected
                       if r.time is None or cursor <= r.time.value // 1_000_000 <= run.last]
                if bad:
                    qfile = _quarantine(path, ex.id, sym, timeframe, bad)
                    report.rejected += len(bad)
                    report.quarantine = qfile
                    if on_bad == "error":
                        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
                        raise DataQualityError(
                            f"{ex.id} sent a bad {sym} {timeframe} candle at {bad[0].describe()}{more}; "
                            f"refused, nothing of that page stored (quarantined in {qfile}); "
                            "--skip-bad (on_bad='skip') stores the good candles around it"
                        )
                    skipped.extend(bad)
                rows = checked.rows
                ts = rows[:, 0]
                keep = (ts >= cursor) & (ts <= run.last)
                if calendar and len(ts):  # months differ in length: closed when the next one began
                    keep &= _calendar_end_ms(ts, timeframe) <= now_ms
                if run.stop_at is not None:
                    keep &= ts < run.stop_at
                new = rows[keep]
                if len(new):
                    if anchor is None:
                        anchor = int(new[0, 0])
                    report.new_bars += append_ohlcv(path, _rows_to_frame(new), timeframe=timeframe)
                    bar.update(len(new))
                times_seen = [*ts.tolist(), *(r.time.value // 1_000_000 for r in bad if r.time is not None)]
                newest = max(times_seen) if times_seen else None
                if newest is None or newest < cursor:
                    break  # the exchange ignored ``since`` or has nothing more: stop
                if newest > run.last or (run.stop_at is not None and newest >= run.stop_at):
                    break  # reached the end of the run (or the cache it joins)
                cursor = int(newest) + advance
    except (ExchangeError, DataQualityError) as exc:
        stored = cache_times(path)
        saved = len(stored)
        upto = "" if not saved else f" up to {stored[-1].isoformat()}"
        hint = "" if isinstance(exc, DataQualityError) else "; run again to resume"
        raise type(exc)(f"{exc}; {saved} {sym} bars{upto} saved in {path}{hint}") from None
    finally:
        bar.close()

    stored_ms = cache_times(path).asi8 // 1_000
    if len(stored_ms):
        report.total_bars = len(stored_ms)
        report.start = pd.Timestamp(int(stored_ms[0]), unit="ms", tz="UTC")
        report.end = pd.Timestamp(int(stored_ms[-1]), unit="ms", tz="UTC")
    if skipped:
        warnings.warn(
            f"{ex.id} {sym} {timeframe}: skipped {len(skipped)} bad candle{'s' if len(skipped) > 1 else ''} "
            f"(first: {skipped[0].describe()}); quarantined in {report.quarantine}",
            DataQualityWarning, stacklevel=3,
        )
    if not calendar and len(stored_ms):
        lo = since_ms if since_ms is not None else (int(have[-1]) if len(have) else int(stored_ms[0]))
        expected, missing, ranges = _missing_ranges(stored_ms, lo, last_ms, tf_ms)
        report.expected_bars, report.missing_bars = expected, missing
        report.missing_ranges = [
            (pd.Timestamp(a, unit="ms", tz="UTC"), pd.Timestamp(b, unit="ms", tz="UTC")) for a, b, _ in ranges
        ]
        if missing:
            warnings.warn(
                f"{ex.id} {sym} {timeframe}: {missing} of {expected} bars that had closed by the exchange "
                f"clock ({_ts(now_ms)}) are missing: {_describe_ranges(ranges, tf_ms >= 86_400_000)}",
                DataQualityWarning, stacklevel=3,
            )
    return report
