"""The parquet cache: ``data_dir/<exchange>/<timeframe>/<BASE_QUOTE>.parquet``, written atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from quantlab.data.frame import FIELDS, normalize_ohlcv
from quantlab.data.io import _read_parquet, read_ohlcv_file
from quantlab.data.quality import DataQualityWarning, check_quality, validate
from quantlab.data.symbols import normalize_symbol, symbol_from_stem, symbol_to_stem
from quantlab.data.timeframes import CALENDAR_TIMEFRAME, infer_timeframe, parse_timeframe
from quantlab.errors import DataError, ParameterError, UnknownSymbolError

__all__ = [
    "cache_path",
    "cached_symbols",
    "import_file",
    "merge_ohlcv",
    "read_cache",
    "require_cache_file",
    "write_ohlcv",
]


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or any(c in value for c in "/\\:") or value in (".", ".."):
        raise ParameterError(f"invalid {what} {value!r}")
    return value.strip()


def cache_path(
    exchange: str, symbol: str, timeframe: str, data_dir: str | os.PathLike[str] = "data"
) -> Path:
    """Cache file of one symbol: ``data_dir/<exchange>/<timeframe>/<BASE_QUOTE>.parquet``.

    Parameters
    ----------
    exchange : str
        Exchange id (``binance``) or ``local`` for imported files.
    symbol : str
        Unified symbol, ``BTC/USDT``.
    timeframe : str
        ccxt timeframe, ``1h``.
    data_dir : str or PathLike
        Cache root.

    Returns
    -------
    pathlib.Path
        The file path (which may not exist yet).
    """
    parse_timeframe(timeframe)
    ex = _check_name(exchange, "exchange").lower()
    return Path(data_dir) / ex / timeframe / f"{symbol_to_stem(symbol)}.parquet"


def cached_symbols(exchange: str, timeframe: str, data_dir: str | os.PathLike[str] = "data") -> list[str]:
    """Symbols cached for one exchange and timeframe, sorted."""
    folder = Path(data_dir) / exchange.lower() / timeframe
    if not folder.is_dir():
        return []
    return sorted(symbol_from_stem(p.stem) for p in folder.glob("*.parquet"))


def require_cache_file(
    exchange: str, symbol: str, timeframe: str, data_dir: str | os.PathLike[str] = "data"
) -> Path:
    """Existing cache file of a symbol.

    Raises
    ------
    UnknownSymbolError
        Nothing cached for it; the message lists what is cached for that exchange/timeframe.
    """
    path = cache_path(exchange, symbol, timeframe, data_dir)
    if not path.is_file():
        have = cached_symbols(exchange, timeframe, data_dir)
        listing = ", ".join(have) if have else "nothing cached"
        raise UnknownSymbolError(
            f"unknown symbol {normalize_symbol(symbol)} in {path.parent} (available: {listing}); "
            f"fetch it with: quantlab data fetch --exchange {exchange} --symbols {normalize_symbol(symbol)} "
            f"--timeframe {timeframe} --since YYYY-MM-DD"
        )
    return path


def write_ohlcv(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write an OHLCV frame to parquet atomically (temp file in the same folder + rename).

    Raises
    ------
    DataError
        If the file cannot be written (nothing is left half-written).
    """
    target = Path(path)
    frame = normalize_ohlcv(df)
    tmp: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        frame.to_parquet(tmp, engine="pyarrow", index=True)
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise DataError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return target


def read_cache(
    path: str | os.PathLike[str],
    *,
    timeframe: str | None = None,
    symbol: str | None = None,
    check: bool = True,
    warn: bool = True,
) -> pd.DataFrame:
    """Read a cache file written by quantlab, validating it.

    Raises
    ------
    DataError
        Missing or unreadable file.
    DataQualityError
        Hard quality error (message names file, row and timestamp).

    Warns
    -----
    DataQualityWarning
        One summary when there are gaps or stale prices (``warn=True``).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    raw, rows = _read_parquet(p, str(p))
    if "time" not in raw.columns or any(c not in raw.columns for c in FIELDS):
        return read_ohlcv_file(p)  # foreign layout: go through the forgiving reader
    idx = pd.DatetimeIndex(raw["time"], name="time")
    df = raw.set_index(idx)[FIELDS]
    if check:
        if warn:
            validate(df, timeframe=timeframe, symbol=symbol, source=str(p), row_numbers=rows, stacklevel=4)
        else:
            report = check_quality(df, timeframe=timeframe, symbol=symbol, source=str(p))
            report.row_numbers = rows
            report.raise_for_errors()
    return normalize_ohlcv(df)


def merge_ohlcv(old: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    """Union of two OHLCV frames; on equal timestamps the row of ``new`` wins."""
    if old is None or old.empty:
        out = normalize_ohlcv(new)
        return out[~out.index.duplicated(keep="last")]
    both = pd.concat([normalize_ohlcv(old), normalize_ohlcv(new)])
    both = both[~both.index.duplicated(keep="last")]
    return both.sort_index(kind="stable")


def _check_spacing(df: pd.DataFrame, timeframe: str, name: str) -> None:
    if len(df) < 3:
        return
    expected = parse_timeframe(timeframe)
    actual = infer_timeframe(df.index)
    if expected >= CALENDAR_TIMEFRAME:
        ok = abs(actual - expected) <= pd.Timedelta(days=3 * (expected / pd.Timedelta(days=30)))
    else:
        ok = actual == expected
    if not ok:
        raise ParameterError(
            f"{name}: bars are {actual} apart (median) but --timeframe is {timeframe} ({expected})"
        )
    offsets = (df.index.asi8 - df.index.asi8[0]) % max(int(expected / pd.Timedelta(1, unit=df.index.unit)), 1)
    if expected < CALENDAR_TIMEFRAME and np.any(offsets != 0):
        i = int(np.flatnonzero(offsets != 0)[0])
        raise ParameterError(f"{name}: bar at {df.index[i]} is off the {timeframe} grid")


def import_file(
    path: str | os.PathLike[str],
    symbol: str,
    timeframe: str,
    *,
    exchange: str = "local",
    data_dir: str | os.PathLike[str] = "data",
) -> Path:
    """Import an OHLCV file (CSV or parquet) into the cache.

    The file is read with :func:`read_ohlcv_file` and validated; hard quality errors refuse
    the import and nothing is written. New rows are merged with an existing cache file
    (rows of the imported file win on equal timestamps); the result is written atomically.

    Parameters
    ----------
    path : str or PathLike
        File to import.
    symbol : str
        Unified symbol it holds, ``BTC/USDT``.
    timeframe : str
        Bar length of the file (checked against its median spacing).
    exchange : str
        Cache folder name (default ``local``).
    data_dir : str or PathLike
        Cache root.

    Returns
    -------
    pathlib.Path
        The cache file written.

    Raises
    ------
    DataError, DataQualityError
        Unreadable or malformed file (nothing written). Every defect of the file is named in
        one line, grouped by kind; ``exc.report`` holds the full report.
    ParameterError
        Bad symbol/timeframe or spacing that does not match ``timeframe``.

    Warns
    -----
    DataQualityWarning
        Gaps or stale prices in the merged data (one summary).
    """
    sym = normalize_symbol(symbol)
    target = cache_path(exchange, sym, timeframe, data_dir)
    from quantlab.errors import DataQualityError

    try:
        df = read_ohlcv_file(path)
    except DataQualityError as exc:  # every defect of the file, one line; nothing written
        report = getattr(exc, "report", None)
        if report is None:
            raise
        error = DataQualityError(report.error_message(note="nothing imported"))
        error.report = report
        raise error from None
    _check_spacing(df, timeframe, str(path))
    old = None
    if target.exists():
        old = read_cache(target, timeframe=timeframe, symbol=sym, warn=False)
    merged = merge_ohlcv(old, df)
    report = check_quality(merged, timeframe=timeframe, symbol=sym, source=str(target))
    report.raise_for_errors(note="nothing imported")
    summary = report.warning_summary()
    if summary:
        warnings.warn(summary, DataQualityWarning, stacklevel=2)
    return write_ohlcv(merged, target)
