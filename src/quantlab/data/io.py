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
from quantlab.data.quality import CHECKS, QualityReport, check_quality
from quantlab.data.quality import issue as _issue
from quantlab.data.quality import issues_frame as _issues_frame
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


def _shown(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _parse_time(raw: pd.Series) -> tuple[pd.DatetimeIndex, list[tuple[int, str]]]:
    """Parse a time column given as strings, numbers or datetimes.

    Returns the index (NaT where a value is missing or unparsable) and one ``(position,
    detail)`` per bad value, so that every bad row of a file is reported in one pass.
    """
    if isinstance(raw.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(raw.dtype):
        idx = pd.DatetimeIndex(raw)
        idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
        bad = [(int(i), "missing time") for i in np.flatnonzero(idx.isna())]
        return idx.as_unit(TIME_UNIT), bad
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        nums = raw.to_numpy(dtype="float64", na_value=np.nan)
        text = raw.astype(str).to_numpy(dtype=object)
        empty = np.isnan(nums)
    else:
        stripped = raw.astype("string").str.strip().fillna("")
        text = stripped.to_numpy(dtype=object)
        empty = (stripped == "").to_numpy(dtype=bool)
        nums = pd.to_numeric(stripped.mask(empty, None), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    is_num = ~np.isnan(nums) & ~empty
    filled = ~empty
    numeric = bool(filled.any()) and (is_num[filled].all() or is_num[filled].mean() > 0.5)
    problems = np.zeros(len(raw), dtype=object)
    problems[empty] = "missing time"
    if numeric:
        finite = is_num & np.isfinite(nums)
        unit = _epoch_unit(nums[finite])
        limit = {"s": 9.2e9, "ms": 9.2e12, "us": 9.2e15, "ns": 9.2e18}[unit]
        in_range = finite & (np.abs(np.where(finite, nums, 0.0)) < limit)
        parsed = pd.to_datetime(np.where(in_range, nums, np.nan), unit=unit, utc=True, errors="coerce")
        values = pd.DatetimeIndex(parsed).as_unit(TIME_UNIT)
        for i in np.flatnonzero(filled & ~finite):
            problems[i] = f"cannot parse time {_shown(text[i])!r}"
        for i in np.flatnonzero(finite & ~in_range):
            problems[i] = f"time {_shown(text[i])} is out of range"
        result = values
    else:
        strings = pd.Series(text, dtype=object).where(filled, None)
        try:
            values = pd.to_datetime(strings, utc=True, format="ISO8601", errors="coerce")
        except (ValueError, TypeError, OverflowError):
            values = pd.Series(pd.NaT, index=strings.index, dtype="datetime64[ns, UTC]")
        left = np.flatnonzero(filled & values.isna().to_numpy())
        if len(left):
            try:
                retry = pd.to_datetime(strings.iloc[left], utc=True, format="mixed", errors="coerce")
                values = values.astype("datetime64[ns, UTC]")
                values.iloc[left] = retry.astype("datetime64[ns, UTC]").to_numpy()
            except (ValueError, TypeError, OverflowError):
                pass
        result = pd.DatetimeIndex(values).as_unit(TIME_UNIT)
        for i in np.flatnonzero(filled & result.isna()):
            problems[i] = f"cannot parse time {_shown(text[i])!r}"
    return result, [(int(i), str(problems[i])) for i in np.flatnonzero(problems != 0)]


def _parse_number(raw: pd.Series, field: str) -> tuple[np.ndarray, np.ndarray, list[tuple[int, str]]]:
    """Parse one numeric column: values (NaN where empty or non-numeric), the non-numeric
    mask and one ``(position, detail)`` per non-numeric cell."""
    if pd.api.types.is_bool_dtype(raw.dtype):
        mask = np.ones(len(raw), dtype=bool)
        return np.full(len(raw), np.nan), mask, [(i, f"non-numeric {field} {v!r}") for i, v in enumerate(raw)]
    if pd.api.types.is_numeric_dtype(raw.dtype):
        return raw.to_numpy(dtype="float64", na_value=np.nan), np.zeros(len(raw), dtype=bool), []
    text = raw.astype("string").str.strip()
    nums = pd.to_numeric(text, errors="coerce")
    mask = nums.isna().to_numpy() & text.notna().to_numpy() & (text != "").fillna(False).to_numpy()
    bad = [(int(i), f"non-numeric {field} {_shown(text.iloc[i])!r}") for i in np.flatnonzero(mask)]
    return nums.to_numpy(dtype="float64", na_value=np.nan), mask, bad


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


def read_ohlcv_file(
    path: str | os.PathLike[str], *, validate: bool = True, timeframe: str | None = None
) -> pd.DataFrame:
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
        Out-of-order rows are sorted silently. Unparsable times and non-numeric cells are
        refused either way.
    timeframe : str, optional
        Bar length the file should have, for the gap check (default: inferred from the median
        spacing, which a file with many defects can mislead).

    Returns
    -------
    pandas.DataFrame
        Canonical OHLCV frame (UTC ``time`` index, float64 ``open high low close volume``,
        sorted).

    Raises
    ------
    DataError
        ``"FILE: missing column close"``, empty or binary files, unreadable parquet,
        malformed CSV.
    DataQualityError
        Every bad value of the file in one pass (unparsable or missing times ``bad_time``,
        non-numeric cells ``non_numeric``, and with ``validate`` the hard quality errors of
        :func:`~quantlab.data.check_quality`). One error keeps the precise form
        ``"FILE row N (TIME): low 101.5 > high 100"`` / ``"FILE row N: non-numeric close
        'abc'"``; several are grouped by kind on one line (``"FILE: 3 hard errors —
        duplicate_time ×2 (rows 5, 9), ..."``). Row numbers are file line numbers for CSV
        (header = line 1), 1-based records for parquet; ``exc.report`` is the full
        :class:`~quantlab.data.QualityReport` (see ``report.listing()``).
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
    index, time_bad = _parse_time(raw[mapping["time"]])
    parse_issues = [_issue("bad_time", None, i, detail) for i, detail in time_bad]
    data = {}
    non_numeric = np.zeros((len(raw), len(FIELDS)), dtype=bool)
    for j, f in enumerate(FIELDS):
        data[f], non_numeric[:, j], bad = _parse_number(raw[mapping[f]], f)
        parse_issues += [_issue("non_numeric", None, i, detail) for i, detail in bad]
    df = pd.DataFrame(data, index=pd.DatetimeIndex(index, name="time"))
    kept = np.flatnonzero(~df.index.isna())
    df = df.iloc[kept]
    if validate:
        report = check_quality(df, source=name, row_numbers=lines[kept], timeframe=timeframe)
        issues = report.issues
        issues = issues[issues["check"] != "non_monotonic"]  # rows are sorted below
        issues = issues.assign(row=kept[issues["row"].to_numpy()])  # positions in the file
        # a NaN that only comes from a non-numeric cell is already reported as non_numeric
        nf = issues.index[issues["check"] == "non_finite"]
        if len(nf) and non_numeric.any():
            rows = issues.loc[nf, "row"].to_numpy()
            vals = df.to_numpy()[np.searchsorted(kept, rows)]
            explained = (np.isfinite(vals) | non_numeric[rows]).all(axis=1)
            issues = issues.drop(index=nf[explained])
    elif parse_issues:
        report = QualityReport(issues=_issues_frame([]).drop(columns="missing"), source=name, bars=len(df))
        issues = report.issues
    else:
        return normalize_ohlcv(df)
    if parse_issues:
        extra = _issues_frame(parse_issues).drop(columns="missing")
        issues = pd.concat([extra, issues], ignore_index=True) if len(issues) else extra
        rank = {c: i for i, c in enumerate(CHECKS)}
        issues = issues.assign(_r=issues["check"].map(rank)).sort_values(["row", "_r"], kind="stable")
        issues = issues.drop(columns="_r").reset_index(drop=True)
    report.issues = issues.reset_index(drop=True)
    report.row_numbers = lines
    report.raise_for_errors()
    return normalize_ohlcv(df)
