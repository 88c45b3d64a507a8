"""Quality checks of OHLCV data: hard errors, soft warnings and informational findings."""

from __future__ import annotations

import html
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from quantlab.data.frame import FIELDS
from quantlab.data.timeframes import CALENDAR_TIMEFRAME, infer_timeframe, parse_timeframe
from quantlab.errors import DataQualityError, ParameterError

__all__ = ["CHECKS", "DataQualityWarning", "QualityReport", "check_quality", "validate"]

#: Every check with its severity, in report order.
CHECKS: dict[str, str] = {
    "duplicate_time": "error",
    "non_monotonic": "error",
    "non_finite": "error",
    "non_positive_price": "error",
    "negative_volume": "error",
    "ohlc_inconsistent": "error",
    "gap": "warning",
    "stale_price": "warning",
    "outlier_return": "info",
}
_COLUMNS = ["check", "severity", "time", "row", "detail"]
_PRICES = ["open", "high", "low", "close"]


class DataQualityWarning(UserWarning):
    """Soft data-quality issue (gaps, stale prices) found while loading data."""


def _fmt(x: float) -> str:
    return f"{x:.10g}"


def _ts(t: Any) -> str:
    if t is None or pd.isna(t):
        return "NaT"
    t = pd.Timestamp(t)
    if t == t.normalize():
        return t.strftime("%Y-%m-%d")
    return t.strftime("%Y-%m-%d %H:%M:%S").removesuffix(":00")


@dataclass
class QualityReport:
    """Result of :func:`check_quality`.

    Attributes
    ----------
    issues : pandas.DataFrame
        One row per finding with columns ``check``, ``severity`` (error/warning/info),
        ``time``, ``row`` (0-based position in the checked frame) and ``detail``.
    symbol, source : str or None
        What was checked (used in messages).
    timeframe : pandas.Timedelta or None
        Bar length used for the gap check.
    bars : int
        Number of rows checked.
    start, end : pandas.Timestamp or None
        First and last timestamp.
    row_numbers : numpy.ndarray or None
        Row number shown in messages for each position (e.g. CSV line numbers); default
        position + 1.
    """

    issues: pd.DataFrame
    symbol: str | None = None
    source: str | None = None
    timeframe: pd.Timedelta | None = None
    bars: int = 0
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    row_numbers: np.ndarray | None = field(default=None, repr=False)
    missing_bars: int = 0

    @property
    def ok(self) -> bool:
        """True when there is no hard error."""
        return not (self.issues["severity"] == "error").any()

    @property
    def errors(self) -> pd.DataFrame:
        """Issues of severity ``error``."""
        return self.issues[self.issues["severity"] == "error"]

    @property
    def warnings(self) -> pd.DataFrame:
        """Issues of severity ``warning``."""
        return self.issues[self.issues["severity"] == "warning"]

    @property
    def infos(self) -> pd.DataFrame:
        """Issues of severity ``info``."""
        return self.issues[self.issues["severity"] == "info"]

    @property
    def where(self) -> str:
        """Name used in messages: the source file, else the symbol, else ``data``."""
        return self.source or self.symbol or "data"

    def summary(self) -> pd.DataFrame:
        """Count of issues per check (every check listed, zero when clean)."""
        counts = self.issues["check"].value_counts()
        return pd.DataFrame(
            {
                "severity": list(CHECKS.values()),
                "count": [int(counts.get(c, 0)) for c in CHECKS],
            },
            index=pd.Index(list(CHECKS), name="check"),
        )

    def row_label(self, row: int) -> int:
        """Row number shown to users for a 0-based position."""
        if self.row_numbers is not None and 0 <= row < len(self.row_numbers):
            return int(self.row_numbers[row])
        return int(row) + 1

    def message(self, issue: pd.Series | dict[str, Any]) -> str:
        """One-line message of one issue: ``WHERE row N (TIME): detail``."""
        row = issue["row"]
        time = issue["time"]
        loc = f"{self.where} row {self.row_label(int(row))}" if row is not None and not pd.isna(row) else self.where
        if time is not None and not pd.isna(time):
            loc += f" ({_ts(time)})"
        return f"{loc}: {issue['detail']}"

    def raise_for_errors(self) -> QualityReport:
        """Raise :class:`~quantlab.errors.DataQualityError` describing the first hard error.

        Returns
        -------
        QualityReport
            ``self`` when there is no hard error.
        """
        errs = self.errors
        if len(errs):
            msg = self.message(errs.iloc[0])
            if len(errs) > 1:
                msg += f" (and {len(errs) - 1} more error{'s' if len(errs) > 2 else ''})"
            raise DataQualityError(msg)
        return self

    def warning_summary(self) -> str | None:
        """One-line summary of the warnings, or None when there are none."""
        w = self.warnings
        if w.empty:
            return None
        parts = []
        gaps = w[w["check"] == "gap"]
        if len(gaps):
            missing = self.missing_bars
            parts.append(
                f"{len(gaps)} gap{'s' if len(gaps) > 1 else ''} ({missing} missing bar{'s' if missing != 1 else ''})"
            )
        stale = w[w["check"] == "stale_price"]
        if len(stale):
            parts.append(f"{len(stale)} stale price run{'s' if len(stale) > 1 else ''}")
        label = f"{self.symbol} ({self.source})" if self.symbol and self.source else self.where
        first = self.message(w.iloc[0]).removeprefix(f"{self.where} ")
        return f"{label}: {', '.join(parts)}; first at {first}"

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (for ``--json``)."""
        return {
            "symbol": self.symbol,
            "source": self.source,
            "timeframe": None if self.timeframe is None else str(self.timeframe),
            "bars": self.bars,
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "infos": len(self.infos),
            "missing_bars": self.missing_bars,
            "counts": {c: int(n) for c, n in self.summary()["count"].items()},
            "issues": [
                {
                    "check": r.check,
                    "severity": r.severity,
                    "time": None if pd.isna(r.time) else pd.Timestamp(r.time).isoformat(),
                    "row": None if pd.isna(r.row) else int(r.row),
                    "detail": r.detail,
                }
                for r in self.issues.itertuples()
            ],
        }

    def __repr__(self) -> str:
        return (
            f"QualityReport({self.where}: {self.bars} bars, {len(self.errors)} errors, "
            f"{len(self.warnings)} warnings, {len(self.infos)} info)"
        )

    def _repr_html_(self) -> str:
        status = "OK" if self.ok else "FAILED"
        head = (
            f"<p><b>Quality report — {html.escape(self.where)}</b>: {status}; {self.bars} bars"
            f" {html.escape(_ts(self.start))} to {html.escape(_ts(self.end))}; "
            f"{len(self.errors)} errors, {len(self.warnings)} warnings, {len(self.infos)} info</p>"
        )
        table = self.issues[_COLUMNS].head(50).to_html(index=False, escape=True)
        return head + self.summary().to_html() + table


def _issue(check: str, time: Any, row: int, detail: str, **extra: Any) -> dict[str, Any]:
    return {"check": check, "severity": CHECKS[check], "time": time, "row": int(row), "detail": detail, **extra}


def check_quality(
    df: pd.DataFrame,
    *,
    timeframe: str | pd.Timedelta | None = None,
    symbol: str | None = None,
    source: str | None = None,
    outlier_threshold: float = 10.0,
    stale_bars: int = 5,
) -> QualityReport:
    """Check an OHLCV frame for data problems.

    Parameters
    ----------
    df : pandas.DataFrame
        OHLCV frame with a DatetimeIndex (may be unsorted or contain duplicates; those are
        reported).
    timeframe : str or pandas.Timedelta, optional
        Expected bar length for the gap check; inferred (median spacing) when omitted.
    symbol, source : str, optional
        Names used in messages (``source`` is usually the file).
    outlier_threshold : float
        Robust z-score (median/MAD of simple close-to-close returns) above which a return is
        reported as an outlier (severity ``info``: real crashes are outliers too).
    stale_bars : int
        A close repeated for at least this many consecutive bars is reported as stale.

    Returns
    -------
    QualityReport
        Findings. Errors: ``duplicate_time``, ``non_monotonic``, ``non_finite`` (NaN/inf),
        ``non_positive_price``, ``negative_volume``, ``ohlc_inconsistent``. Warnings: ``gap``,
        ``stale_price``. Info: ``outlier_return``.
    """
    if not isinstance(df, pd.DataFrame) or not isinstance(df.index, pd.DatetimeIndex):
        raise ParameterError("check_quality needs a DataFrame with a DatetimeIndex")
    missing = [c for c in FIELDS if c not in df.columns]
    if missing:
        raise ParameterError(f"{source or symbol or 'data'}: missing column {missing[0]}")
    if stale_bars < 2:
        raise ParameterError(f"stale_bars must be >= 2, not {stale_bars}")
    n = len(df)
    times = df.index
    issues: list[dict[str, Any]] = []

    # --- index -----------------------------------------------------------------------------
    dup = times.duplicated(keep="first")
    if dup.any():
        first_pos = pd.Series(np.arange(n)).groupby(times.asi8).transform("min").to_numpy()
        for i in np.flatnonzero(dup):
            issues.append(
                _issue("duplicate_time", times[i], i, f"duplicate timestamp {_ts(times[i])} (first at row {first_pos[i]})")
            )
    if n > 1:
        vals = times.asi8
        back = np.flatnonzero(vals[1:] < vals[:-1]) + 1
        for i in back:
            issues.append(
                _issue("non_monotonic", times[i], i, f"time {_ts(times[i])} is before the previous row's {_ts(times[i - 1])}")
            )

    # --- values ----------------------------------------------------------------------------
    values = df[FIELDS].to_numpy(dtype="float64", na_value=np.nan)
    finite = np.isfinite(values)
    for i in np.flatnonzero(~finite.all(axis=1)):
        bad = [f"{c} is {'NaN' if np.isnan(values[i, j]) else values[i, j]}" for j, c in enumerate(FIELDS) if not finite[i, j]]
        issues.append(_issue("non_finite", times[i], i, ", ".join(bad)))
    with np.errstate(invalid="ignore"):
        prices = values[:, :4]
        nonpos = finite[:, :4] & (prices <= 0)
        for i in np.flatnonzero(nonpos.any(axis=1)):
            bad = [f"{c} {_fmt(prices[i, j])} <= 0" for j, c in enumerate(_PRICES) if nonpos[i, j]]
            issues.append(_issue("non_positive_price", times[i], i, ", ".join(bad)))
        vol = values[:, 4]
        for i in np.flatnonzero(finite[:, 4] & (vol < 0)):
            issues.append(_issue("negative_volume", times[i], i, f"volume {_fmt(vol[i])} < 0"))
        o, h, lo, c = prices[:, 0], prices[:, 1], prices[:, 2], prices[:, 3]
        rules = [
            (lo > h, "low", 2, ">", "high", 1),
            (o > h, "open", 0, ">", "high", 1),
            (o < lo, "open", 0, "<", "low", 2),
            (c > h, "close", 3, ">", "high", 1),
            (c < lo, "close", 3, "<", "low", 2),
        ]
        masks = np.column_stack([r[0] for r in rules]) & finite[:, :4].all(axis=1)[:, None]
    for i in np.flatnonzero(masks.any(axis=1)):
        bad = [
            f"{a} {_fmt(prices[i, ai])} {op} {b} {_fmt(prices[i, bi])}"
            for k, (_, a, ai, op, b, bi) in enumerate(rules)
            if masks[i, k]
        ]
        issues.append(_issue("ohlc_inconsistent", times[i], i, "; ".join(bad)))

    # --- time series checks on the sorted, de-duplicated view ------------------------------
    order = np.argsort(times.asi8, kind="stable")
    keep = ~times[order].duplicated(keep="first")
    pos = order[keep]
    st = times[pos]
    tf: pd.Timedelta | None = None
    if timeframe is not None:
        tf = parse_timeframe(timeframe) if isinstance(timeframe, str) else pd.Timedelta(timeframe)
    elif len(st) >= 2:
        tf = infer_timeframe(st)
    if tf is not None and tf > pd.Timedelta(0) and len(st) >= 2:
        diffs = np.diff(st.asi8)
        step = tf / pd.Timedelta(1, unit=st.unit)
        if tf >= CALENDAR_TIMEFRAME:  # months/years: allow calendar irregularity
            months = tf / pd.Timedelta(days=30)
            limit = pd.Timedelta(days=31 * months + 1) / pd.Timedelta(1, unit=st.unit)
            gap_at = np.flatnonzero(diffs > limit)
        else:
            gap_at = np.flatnonzero(diffs > step)
        for k in gap_at:
            missing_bars = max(round(float(diffs[k]) / step) - 1, 1)
            first_missing = st[k] + tf
            last_missing = st[k + 1] - tf
            detail = (
                f"{missing_bars} missing bar{'s' if missing_bars > 1 else ''} "
                f"from {_ts(first_missing)} to {_ts(last_missing)}"
                if missing_bars > 1
                else f"1 missing bar at {_ts(first_missing)}"
            )
            issues.append(_issue("gap", first_missing, pos[k + 1], detail, missing=missing_bars))

    close = values[pos, 3]
    if len(close) >= stale_bars:
        same = np.concatenate([[False], close[1:] == close[:-1]])
        run_id = np.cumsum(~same)
        run_len = np.bincount(run_id)
        starts = np.flatnonzero(~same)
        for s in starts:
            length = run_len[run_id[s]]
            if length >= stale_bars and np.isfinite(close[s]):
                issues.append(
                    _issue(
                        "stale_price", st[s], pos[s],
                        f"close {_fmt(close[s])} unchanged for {length} bars (to {_ts(st[s + length - 1])})",
                    )
                )

    good = np.isfinite(close) & (close > 0)
    if good.sum() >= 10:
        cpos = np.flatnonzero(good)
        c = close[cpos]
        r = c[1:] / c[:-1] - 1.0
        med = np.median(r)
        mad = np.median(np.abs(r - med))
        if mad > 0:
            z = 0.6745 * (r - med) / mad
            for k in np.flatnonzero(np.abs(z) > outlier_threshold):
                at = cpos[k + 1]
                issues.append(
                    _issue(
                        "outlier_return", st[at], pos[at],
                        f"return {r[k]:+.2%} (robust z {z[k]:+.1f})",
                    )
                )

    frame = pd.DataFrame(issues, columns=[*_COLUMNS, "missing"])
    if len(frame):
        rank = {c: i for i, c in enumerate(CHECKS)}
        frame["_r"] = frame["check"].map(rank)
        frame = frame.sort_values(["row", "_r"], kind="stable").drop(columns="_r")
        frame = frame.reset_index(drop=True)
    frame["row"] = frame["row"].astype("int64")
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    missing_bars = int(frame["missing"].fillna(0).sum())
    frame = frame.drop(columns="missing")
    return QualityReport(
        issues=frame,
        symbol=symbol,
        source=source,
        timeframe=tf,
        bars=n,
        start=st[0] if len(st) else None,
        end=st[-1] if len(st) else None,
        missing_bars=missing_bars,
    )


def validate(
    df: pd.DataFrame,
    *,
    timeframe: str | pd.Timedelta | None = None,
    symbol: str | None = None,
    source: str | None = None,
    row_numbers: np.ndarray | None = None,
    stacklevel: int = 3,
) -> QualityReport:
    """Check ``df`` as loaders do: raise on hard errors, warn once on soft issues.

    Raises
    ------
    DataQualityError
        On the first hard error (message names source, row, time and problem).

    Warns
    -----
    DataQualityWarning
        One summary per call when there are gaps or stale prices.
    """
    report = check_quality(df, timeframe=timeframe, symbol=symbol, source=source)
    report.row_numbers = row_numbers
    report.raise_for_errors()
    summary = report.warning_summary()
    if summary:
        warnings.warn(summary, DataQualityWarning, stacklevel=stacklevel)
    return report
