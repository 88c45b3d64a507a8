"""The parquet cache: ``data_dir/<exchange>/<timeframe>/<BASE_QUOTE>.parquet/``.

Each cached symbol is a folder of parquet partitions (``2024-01.parquet`` per month below
1-hour bars, ``2024.parquet`` per year otherwise), read back as one frame. Appending candles
rewrites only the partitions they fall in; every partition is replaced atomically (temp file,
fsync, rename), and writers hold an exclusive per-symbol lock (:mod:`quantlab.data.lock`).
A single-file cache written by an earlier version is read as is and converted on its next
write. ``pandas.read_parquet(cache_path(...))`` reads either layout.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from quantlab.data.frame import FIELDS, TIME_UNIT, normalize_ohlcv
from quantlab.data.io import _read_parquet, read_ohlcv_file
from quantlab.data.lock import cache_lock, extend_lock
from quantlab.data.quality import DataQualityWarning, check_quality, validate
from quantlab.data.symbols import normalize_symbol, symbol_from_stem, symbol_to_stem
from quantlab.data.timeframes import CALENDAR_TIMEFRAME, infer_timeframe, parse_timeframe
from quantlab.errors import DataError, ParameterError, UnknownSymbolError

__all__ = [
    "append_ohlcv",
    "cache_path",
    "cache_times",
    "cached_symbols",
    "import_file",
    "merge_ohlcv",
    "partition_files",
    "partition_freq",
    "read_cache",
    "read_cache_raw",
    "require_cache_file",
    "tidy_dataset",
    "write_dataset",
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
    return sorted(
        symbol_from_stem(p.stem)
        for p in folder.glob("*.parquet")
        if not p.name.startswith((".", "_")) and (p.is_file() or partition_files(p))
    )


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
    if not (path.is_file() or partition_files(path)):
        have = cached_symbols(exchange, timeframe, data_dir)
        listing = ", ".join(have) if have else "nothing cached"
        raise UnknownSymbolError(
            f"unknown symbol {normalize_symbol(symbol)} in {path.parent} (available: {listing}); "
            f"fetch it with: quantlab data fetch --exchange {exchange} --symbols {normalize_symbol(symbol)} "
            f"--timeframe {timeframe} --since YYYY-MM-DD"
        )
    return path


def _tmp_name(target: Path) -> Path:
    return target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


def _write_atomic(df: pd.DataFrame, target: Path) -> None:
    """Write ``df`` (canonical OHLCV) to ``target`` via a temp file + fsync + rename.

    The temp file is created with mode 0o666 so the user's umask decides the permissions
    (``mkstemp`` would force 0600).
    """
    tmp: Path | None = _tmp_name(target)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as fh:
            df.to_parquet(fh, engine="pyarrow", index=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        tmp = None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def write_ohlcv(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write an OHLCV frame to one parquet file atomically (temp file in the same folder + rename).

    For the cache use :func:`write_dataset` / :func:`append_ohlcv` (partitioned, locked); this
    writes a single self-contained file, e.g. for export. File permissions follow the umask.

    Raises
    ------
    DataError
        If the file cannot be written (nothing is left half-written).
    """
    target = Path(path)
    frame = normalize_ohlcv(df)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(frame, target)
    except OSError as exc:
        raise DataError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target


# --------------------------------------------------------------------------- partitions
def partition_freq(timeframe: str | pd.Timedelta | None) -> str:
    """Partition length of a cache: ``"month"`` below 1-hour bars, else ``"year"``.

    One year of 1-minute bars is 12 files of ~44,000 rows; appending a day rewrites one of them.
    """
    if timeframe is None:
        return "year"
    tf = parse_timeframe(timeframe) if isinstance(timeframe, str) else pd.Timedelta(timeframe)
    return "month" if tf < pd.Timedelta(hours=1) else "year"


def _partition_keys(index: pd.DatetimeIndex, freq: str) -> np.ndarray:
    years = index.year.to_numpy()
    if freq == "month":
        return years * 100 + index.month.to_numpy()
    return years


def _partition_file(dataset: Path, key: int, freq: str) -> Path:
    name = f"{key // 100:04d}-{key % 100:02d}" if freq == "month" else f"{key:04d}"
    return dataset / f"{name}.parquet"


def partition_files(dataset: str | os.PathLike[str]) -> list[Path]:
    """Partition files of a dataset folder in time order (hidden/temp files excluded)."""
    p = Path(dataset)
    if not p.is_dir():
        return []
    return sorted(f for f in p.iterdir() if f.suffix == ".parquet" and not f.name.startswith((".", "_")))


def _read_table(path: Path, columns: list[str] | None = None) -> pa.Table:
    try:
        return pq.read_table(path, columns=columns)
    except Exception as exc:  # pyarrow raises many types for corrupt files
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: not a readable parquet file ({msg[:120]})") from None


def _read_dataset(dataset: Path) -> pd.DataFrame:
    """All partitions of a dataset folder as one raw frame (``time`` column, file order)."""
    files = partition_files(dataset)
    if not files:
        raise DataError(f"{dataset}: no data rows (empty cache folder)")
    tables = [_read_table(f) for f in files]
    try:
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    except pa.ArrowInvalid as exc:
        raise DataError(f"{dataset}: partitions do not share one layout ({exc})") from None
    df = table.to_pandas()
    if isinstance(df.index, pd.DatetimeIndex):
        df = df.reset_index(names="time" if df.index.name is None else df.index.name)
    return df.reset_index(drop=True)


def cache_times(path: str | os.PathLike[str]) -> pd.DatetimeIndex:
    """Bar open times stored in a cache dataset (folder or single file), sorted, UTC.

    Reads only the time column, so planning a fetch on years of minute bars is cheap.
    """
    p = Path(path)
    if p.is_dir():
        files = partition_files(p)
    elif p.is_file():
        files = [p]
    else:
        files = []
    parts = []
    for f in files:
        col = _read_table(f, columns=["time"]).column("time").to_numpy()
        parts.append(pd.DatetimeIndex(col))
    if not parts:
        return pd.DatetimeIndex([], tz="UTC", name="time").as_unit(TIME_UNIT)
    idx = parts[0].append(parts[1:]) if len(parts) > 1 else parts[0]
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    return idx.as_unit(TIME_UNIT).sort_values().rename("time")


def _legacy(dataset: Path) -> Path:
    return dataset.parent / f".{dataset.name}.legacy"


def _migrating(dataset: Path) -> Path:
    return dataset.parent / f".{dataset.name}.migrating"


def tidy_dataset(dataset: str | os.PathLike[str]) -> list[Path]:
    """Finish or undo an interrupted write of a dataset and delete stale temp files.

    Call only while holding :func:`~quantlab.data.lock.cache_lock` of the dataset (every temp
    file is then stale: its writer is gone).

    Returns
    -------
    list of pathlib.Path
        The stale files removed.
    """
    p = Path(dataset)
    removed: list[Path] = []
    legacy, migrating = _legacy(p), _migrating(p)
    if not p.exists() and legacy.exists():
        if migrating.is_dir():  # killed between the two renames of a migration: finish it
            os.rename(migrating, p)
        else:
            os.replace(legacy, p)
    if legacy.exists() and p.is_dir():
        legacy.unlink()
        removed.append(legacy)
    if migrating.exists():
        shutil.rmtree(migrating, ignore_errors=True)
        removed.append(migrating)
    candidates = list(p.parent.glob(f".{p.name}.*.tmp")) if p.parent.is_dir() else []
    if p.is_dir():
        candidates += list(p.glob(".*.tmp"))
    for f in candidates:
        with contextlib.suppress(OSError):
            f.unlink()
            removed.append(f)
    return removed


def drop_if_empty(dataset: str | os.PathLike[str]) -> None:
    """Remove a dataset folder that holds no partition (e.g. a first fetch that failed)."""
    p = Path(dataset)
    if p.is_dir() and not any(p.iterdir()):
        with contextlib.suppress(OSError):
            p.rmdir()


def _write_partitions(df: pd.DataFrame, dataset: Path, freq: str) -> list[Path]:
    """Write the partitions ``df`` touches (each atomically); returns the files written."""
    keys = _partition_keys(df.index, freq)
    cuts = np.flatnonzero(np.diff(keys)) + 1
    written = []
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(df)], strict=True):
        target = _partition_file(dataset, int(keys[lo]), freq)
        _write_atomic(df.iloc[lo:hi], target)
        written.append(target)
    return written


def _migrate_legacy(dataset: Path, freq: str) -> None:
    """Turn a single-file cache (earlier quantlab versions) into a partitioned folder."""
    raw, _ = _read_parquet(dataset, str(dataset))
    old = _frame_from_raw(raw, dataset)
    migrating = _migrating(dataset)
    shutil.rmtree(migrating, ignore_errors=True)
    migrating.mkdir()
    extend_lock(dataset, migrating)  # keep writers out once it is renamed into place
    if len(old):
        old = old[~old.index.duplicated(keep="last")].sort_index(kind="stable")
        _write_partitions(old, migrating, freq)
    os.replace(dataset, _legacy(dataset))
    os.rename(migrating, dataset)
    _legacy(dataset).unlink()


def _frame_from_raw(raw: pd.DataFrame, where: Path) -> pd.DataFrame:
    if "time" not in raw.columns or any(c not in raw.columns for c in FIELDS):
        return read_ohlcv_file(where, validate=False)
    idx = pd.DatetimeIndex(raw["time"], name="time")
    return normalize_ohlcv(raw.set_index(idx)[FIELDS])


def append_ohlcv(
    path: str | os.PathLike[str], new: pd.DataFrame, *, timeframe: str | pd.Timedelta | None
) -> int:
    """Merge candles into a cache dataset, rewriting only the partitions they fall in.

    Rows of ``new`` win on equal timestamps. Each partition is replaced atomically, so a reader
    (or a crash) never sees a half-written file. A single-file cache of an earlier version is
    converted to the partitioned layout first. The caller holds the dataset's lock and has
    validated ``new``.

    Parameters
    ----------
    path : str or PathLike
        Dataset folder (``.../<BASE_QUOTE>.parquet``).
    new : pandas.DataFrame
        OHLCV candles to add (any order; duplicates: the last wins).
    timeframe : str or pandas.Timedelta or None
        Bar length, which sets the partition length (:func:`partition_freq`).

    Returns
    -------
    int
        Candles added that were not stored before.

    Raises
    ------
    DataError
        A partition cannot be read or written (earlier partitions stay as written).
    """
    p = Path(path)
    freq = partition_freq(timeframe)
    frame = normalize_ohlcv(new)
    frame = frame[~frame.index.duplicated(keep="last")]
    if frame.empty:
        return 0
    try:
        if p.is_file():
            _migrate_legacy(p, freq)
        p.mkdir(parents=True, exist_ok=True)
        keys = _partition_keys(frame.index, freq)
        added = 0
        for key in np.unique(keys):
            part = frame[keys == key]
            target = _partition_file(p, int(key), freq)
            if target.exists():
                raw = _read_table(target).to_pandas()
                old = _frame_from_raw(raw.reset_index() if isinstance(raw.index, pd.DatetimeIndex) else raw, target)
                added += int((~part.index.isin(old.index)).sum())
                part = merge_ohlcv(old, part)
            else:
                added += len(part)
            _write_atomic(part, target)
    except OSError as exc:
        raise DataError(f"cannot write {p}: {exc.strerror or exc}") from None
    return added


def write_dataset(
    df: pd.DataFrame, path: str | os.PathLike[str], *, timeframe: str | pd.Timedelta | None
) -> Path:
    """Replace a cache dataset with ``df`` (partitioned; the caller holds the lock).

    Partitions ``df`` does not cover are removed after the new ones are in place.
    """
    p = Path(path)
    freq = partition_freq(timeframe)
    frame = normalize_ohlcv(df)
    frame = frame[~frame.index.duplicated(keep="last")]
    try:
        if p.is_file():
            _migrate_legacy(p, freq)
        p.mkdir(parents=True, exist_ok=True)
        keep = set(_write_partitions(frame, p, freq)) if len(frame) else set()
        for f in partition_files(p):
            if f not in keep:
                f.unlink()
    except OSError as exc:
        raise DataError(f"cannot write {p}: {exc.strerror or exc}") from None
    return p


def read_cache_raw(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """A cached dataset as stored — rows in file order, duplicates kept — and record numbers.

    For checks that must see what is on disk (an unsorted or duplicated cache); partitions are
    read in time order of their names. Record numbers count from 1 across the partitions.

    Raises
    ------
    DataError
        Missing or unreadable dataset.
    """
    p = Path(path)
    if p.is_dir():
        raw = _read_dataset(p)
    elif p.is_file():
        raw, _ = _read_parquet(p, str(p))
    else:
        raise DataError(f"{p}: no such file")
    if "time" not in raw.columns or any(c not in raw.columns for c in FIELDS):
        df = read_ohlcv_file(p, validate=False)  # foreign layout: the forgiving reader sorts
        return df, np.arange(len(df)) + 1
    idx = pd.DatetimeIndex(raw["time"], name="time")
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    return raw.set_index(idx)[FIELDS].astype("float64"), np.arange(len(raw)) + 1


def read_cache(
    path: str | os.PathLike[str],
    *,
    timeframe: str | None = None,
    symbol: str | None = None,
    check: bool = True,
    warn: bool = True,
) -> pd.DataFrame:
    """Read a cached dataset (partitioned folder, or a single file), validating it.

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
    df, rows = read_cache_raw(p)
    if check:
        # a cache holds closed candles only (fetch checks the exchange clock; import warned when
        # the file was taken in), so the low-volume "partial last candle" guess is not repeated
        # on every load of an intraday cache whose last hour happened to be quiet
        opts = {"partial_volume_ratio": 0.0}
        if warn:
            validate(df, timeframe=timeframe, symbol=symbol, source=str(p), row_numbers=rows,
                     stacklevel=4, **opts)
        else:
            report = check_quality(df, timeframe=timeframe, symbol=symbol, source=str(p), **opts)
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
    lock_timeout: float | None = None,
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
    lock_timeout : float or None
        Seconds to wait while another fetch/import writes the same symbol (None: no limit).

    Returns
    -------
    pathlib.Path
        The cache dataset written (a folder of partitions; only those the file touches are
        rewritten).

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
        df = read_ohlcv_file(path, timeframe=timeframe)
    except DataQualityError as exc:  # every defect of the file, one line; nothing written
        report = getattr(exc, "report", None)
        if report is None:
            raise
        error = DataQualityError(report.error_message(note="nothing imported"))
        error.report = report
        raise error from None
    _check_spacing(df, timeframe, str(path))
    with cache_lock(target, timeout=lock_timeout):
        try:
            tidy_dataset(target)
            old = None
            if target.is_file() or partition_files(target):
                old = read_cache(target, timeframe=timeframe, symbol=sym, check=False)
            merged = merge_ohlcv(old, df)
            report = check_quality(merged, timeframe=timeframe, symbol=sym, source=str(target))
            report.raise_for_errors(note="nothing imported")
            summary = report.warning_summary()
            if summary:
                warnings.warn(summary, DataQualityWarning, stacklevel=2)
            append_ohlcv(target, df, timeframe=timeframe)
        finally:
            drop_if_empty(target)
    return target
