"""Reading OHLCV files (CSV or parquet) written by other tools, with forgiving column names."""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from quantlab.data.frame import FIELDS, TIME_UNIT, normalize_ohlcv
from quantlab.data.quality import check_quality
from quantlab.errors import DataError

__all__ = ["read_ohlcv_file"]

# normalized header (lower case, alphanumerics only) -> field; earlier entries win.
_ALIASES: dict[str, list[str]] = {
    "time": [
        "opentime", "timestamp", "unix", "unixtime", "unixtimestamp", "timestampms", "ts",
        "datetime", "datetimeutc", "date", "dateutc", "time", "timeutc", "t", "candlebegintime",
        "starttime", "period", "day",
    ],
    "open": ["open", "o", "openprice", "opening", "openingprice", "first"],
    "high": ["high", "h", "highprice", "highest", "max"],
    "low": ["low", "l", "lowprice", "lowest", "min"],
    "close": ["close", "c", "closeprice", "closing", "closingprice", "last", "lastprice", "price"],
    "volume": ["volume", "vol", "v", "basevolume", "basevol", "volumebase", "baseassetvolume", "amount"],
}
_NOT_BASE_VOLUME = ("quote", "taker", "usd", "notional", "turnover")


def _norm(name: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def _map_columns(columns: list[str], name: str) -> dict[str, str]:
    normed = {c: _norm(c) for c in columns}
    mapping: dict[str, str] = {}
    for field, aliases in _ALIASES.items():
        for alias in aliases:
            hit = next((c for c in columns if normed[c] == alias and c not in mapping.values()), None)
            if hit is not None:
                mapping[field] = hit
                break
    if "volume" not in mapping:  # e.g. "Volume BTC" (CryptoDataDownload): base volume first
        for c in columns:
            n = normed[c]
            if n.startswith("vol") and not any(k in n for k in _NOT_BASE_VOLUME) and c not in mapping.values():
                mapping["volume"] = c
                break
    if "volume" not in mapping:
        for c in columns:
            if normed[c].startswith("vol") and c not in mapping.values():
                mapping["volume"] = c
                break
    for field in ["time", *FIELDS]:
        if field not in mapping:
            shown = ", ".join(" ".join(str(c).split())[:30] for c in columns[:12]) or "none"
            raise DataError(f"{name}: missing column {field} (columns: {shown})")
    return mapping


def _looks_numeric(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _epoch_unit(values: np.ndarray) -> str:
    big = np.nanmax(np.abs(values)) if len(values) else 0
    if big < 1e11:
        return "s"
    if big < 1e14:
        return "ms"
    if big < 1e17:
        return "us"
    return "ns"


def _parse_time(raw: pd.Series, lines: np.ndarray, name: str) -> pd.DatetimeIndex:
    """Parse a time column given as strings, numbers or datetimes."""
    if isinstance(raw.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(raw.dtype):
        idx = pd.DatetimeIndex(raw)
        idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
        bad = np.flatnonzero(idx.isna())
        if len(bad):
            raise DataError(f"{name} row {lines[bad[0]]}: missing time")
        return idx.as_unit(TIME_UNIT)
    if pd.api.types.is_numeric_dtype(raw.dtype):
        nums = raw.to_numpy(dtype="float64")
        text = raw.astype(str)
    else:
        text = raw.astype("string").str.strip().fillna("")
        nums = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64")
    empty = np.flatnonzero((text == "").to_numpy() | (pd.isna(nums) & raw.isna().to_numpy()))
    if len(empty):
        raise DataError(f"{name} row {lines[empty[0]]}: missing time")
    is_num = ~np.isnan(nums)
    if is_num.all():
        unit = _epoch_unit(nums)
        try:
            idx = pd.to_datetime(nums, unit=unit, utc=True)
        except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
            i = int(np.nanargmax(np.abs(nums)))
            raise DataError(f"{name} row {lines[i]}: time {text.iloc[i]} is out of range") from None
        bad = np.flatnonzero(~np.isfinite(nums))
        if len(bad):
            raise DataError(f"{name} row {lines[bad[0]]}: cannot parse time {text.iloc[bad[0]]!r}")
        return pd.DatetimeIndex(idx).as_unit(TIME_UNIT)
    if is_num.mean() > 0.5:
        i = int(np.flatnonzero(~is_num)[0])
        raise DataError(f"{name} row {lines[i]}: cannot parse time {text.iloc[i]!r}")
    strings = text.astype(object)
    idx = None
    for fmt in ("ISO8601", "mixed"):
        try:
            idx = pd.to_datetime(strings, utc=True, format=fmt, errors="coerce")
        except (ValueError, TypeError, OverflowError):
            continue
        if not idx.isna().any():
            break
    if idx is None:
        raise DataError(f"{name} row {lines[0]}: cannot parse time {text.iloc[0]!r}")
    bad = np.flatnonzero(pd.isna(idx))
    if len(bad):
        raise DataError(f"{name} row {lines[bad[0]]}: cannot parse time {text.iloc[bad[0]]!r}")
    return pd.DatetimeIndex(idx).as_unit(TIME_UNIT)


def _parse_number(raw: pd.Series, field: str, lines: np.ndarray, name: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(raw.dtype):
        raise DataError(f"{name} row {lines[0]}: non-numeric {field} {raw.iloc[0]!r}")
    if pd.api.types.is_numeric_dtype(raw.dtype):
        return raw.to_numpy(dtype="float64", na_value=np.nan)
    text = raw.astype("string").str.strip()
    nums = pd.to_numeric(text, errors="coerce")
    bad = np.flatnonzero(nums.isna().to_numpy() & text.notna().to_numpy() & (text != "").fillna(False).to_numpy())
    if len(bad):
        value = str(text.iloc[bad[0]])
        value = value if len(value) <= 40 else value[:37] + "..."
        raise DataError(f"{name} row {lines[bad[0]]}: non-numeric {field} {value!r}")
    return nums.to_numpy(dtype="float64", na_value=np.nan)


def _read_csv(path: Path, name: str) -> tuple[pd.DataFrame, np.ndarray]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{name}: cannot read file ({exc.strerror or exc})") from None
    if data[:2] == b"\x1f\x8b":
        import gzip

        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise DataError(f"{name}: corrupt gzip file ({exc})") from None
    if not data.strip():
        raise DataError(f"{name}: empty file")
    if b"\x00" in data[:65536]:
        raise DataError(f"{name}: not a CSV text file (binary content)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise DataError(f"{name}: not a CSV text file (undecodable bytes)") from None
    stripped = text.lstrip("\r\n")
    skipped = len(text) - len(stripped)
    lead_lines = text[:skipped].count("\n")
    first = stripped.splitlines()[0]
    delim = ","
    if "," not in first:
        try:
            delim = csv.Sniffer().sniff(first, delimiters=",;\t|").delimiter
        except csv.Error:
            delim = ","
    cells = next(csv.reader([first], delimiter=delim))
    headerless = bool(cells) and all(_looks_numeric(c) or not c.strip() for c in cells)
    try:
        df = pd.read_csv(
            io.StringIO(stripped),
            sep=delim,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            header=None if headerless else 0,
            skipinitialspace=True,
            on_bad_lines="error",
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"{name}: empty file") from None
    except (pd.errors.ParserError, ValueError, csv.Error) as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        m = re.search(r"line (\d+)", msg)
        if m:
            line = int(m.group(1)) + lead_lines
            raise DataError(f"{name} row {line}: malformed CSV ({msg.replace(m.group(0), 'line ' + str(line))})") from None
        raise DataError(f"{name}: malformed CSV ({msg})") from None
    if headerless:
        if df.shape[1] < 6:
            raise DataError(f"{name}: missing column volume (no header and only {df.shape[1]} columns)")
        df = df.iloc[:, :6]
        df.columns = ["time", *FIELDS]
    lines = np.arange(len(df)) + (1 if headerless else 2) + lead_lines
    blank = (df.fillna("").astype(str).apply(lambda s: s.str.strip()) == "").all(axis=1).to_numpy()
    if blank.any():
        df = df.loc[~blank]
        lines = lines[~blank]
    if df.empty:
        raise DataError(f"{name}: no data rows")
    return df, lines


def _read_parquet(path: Path, name: str) -> tuple[pd.DataFrame, np.ndarray]:
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for corrupt files
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{name}: not a readable parquet file ({msg[:120]})") from None
    if isinstance(df.index, pd.DatetimeIndex):
        df = df.reset_index(names="__time__" if df.index.name is None else df.index.name)
    elif df.index.name is not None:
        df = df.reset_index()
    if df.empty:
        raise DataError(f"{name}: no data rows")
    df.columns = [str(c) for c in df.columns]
    return df.reset_index(drop=True), np.arange(len(df)) + 1


def read_ohlcv_file(path: str | os.PathLike[str], *, validate: bool = True) -> pd.DataFrame:
    """Read an OHLCV file written by another tool (CSV, gzipped CSV or parquet).

    Column names are matched forgivingly (``date``/``time``/``timestamp``/``datetime``/
    ``open_time``/``Date``, ``Open``/``o``/``OPEN``, ``Close``/``c``/``close_price``,
    ``Vol``/``volume``/``Volume BTC`` ...); headerless Binance kline dumps are accepted. Times
    may be epoch seconds/ms/us/ns or date strings; tz-aware times are converted to UTC and naive
    ones taken as UTC.

    Parameters
    ----------
    path : str or PathLike
        File to read; ``.parquet``/``.pq`` (or parquet magic bytes) is read as parquet,
        anything else as delimited text.
    validate : bool
        Refuse data with hard quality errors (NaN, duplicates, OHLC inconsistency, ...).
        Out-of-order rows are sorted silently.

    Returns
    -------
    pandas.DataFrame
        Canonical OHLCV frame (UTC ``time`` index, float64 ``open high low close volume``,
        sorted).

    Raises
    ------
    DataError
        ``"FILE: missing column close"``, ``"FILE row N: non-numeric close 'abc'"``, empty or
        binary files, unreadable parquet.
    DataQualityError
        ``"FILE row N (TIME): low 101.5 > high 100"`` and other hard quality errors (row
        numbers are file line numbers for CSV, 1-based records for parquet).
    """
    p = Path(path)
    name = str(path)
    if not p.exists():
        raise DataError(f"{name}: no such file")
    if p.is_dir():
        raise DataError(f"{name}: is a directory, not a file")
    try:
        with p.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise DataError(f"{name}: cannot read file ({exc.strerror or exc})") from None
    if p.suffix.lower() in (".parquet", ".pq") or magic == b"PAR1":
        raw, lines = _read_parquet(p, name)
    else:
        raw, lines = _read_csv(p, name)
    mapping = _map_columns(list(raw.columns), name)
    index = _parse_time(raw[mapping["time"]], lines, name)
    data = {f: _parse_number(raw[mapping[f]], f, lines, name) for f in FIELDS}
    df = pd.DataFrame(data, index=pd.DatetimeIndex(index, name="time"))
    if validate:
        report = check_quality(df, source=name)
        report.row_numbers = lines
        report.issues = report.issues[report.issues["check"] != "non_monotonic"]
        report.raise_for_errors()
    return normalize_ohlcv(df)
