"""Quality checks of OHLCV data: hard errors, soft warnings and informational findings."""

from __future__ import annotations

import html
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from quantlab.data.frame import FIELDS, to_utc
from quantlab.data.timeframes import CALENDAR_TIMEFRAME, infer_timeframe, parse_timeframe
from quantlab.errors import DataQualityError, ParameterError

__all__ = ["CHECKS", "DataQualityWarning", "QualityReport", "check_quality", "validate"]

#: Every check with its severity, in report order.
CHECKS: dict[str, str] = {
    "bad_time": "error",
    "non_numeric": "error",
    "duplicate_time": "error",
    "non_monotonic": "error",
    "non_finite": "error",
    "non_positive_price": "error",
    "negative_volume": "error",
    "ohlc_inconsistent": "error",
    "gap": "warning",
    "stale_price": "warning",
    "zero_volume": "warning",
    "spike_revert": "warning",
    "partial_candle": "warning",
    "outlier_return": "info",
}
_COLUMNS = ["check", "severity", "time", "row", "detail"]
_PRICES = ["open", "high", "low", "close"]
_SEVERITIES = ("error", "warning", "info")


class DataQualityWarning(UserWarning):
    """Soft data-quality issue (gaps, stale prices) found while loading data."""


def _fmt(x: float) -> str:
    return f"{x:.10g}"


def _ts(t: Any) -> str:
    if t is None or pd.isna(t):
        return "NaT"
    t = pd.Timestamp(t)
    try:
        if t == t.normalize():
            return t.strftime("%Y-%m-%d")
        return t.strftime("%Y-%m-%d %H:%M:%S").removesuffix(":00")
    except (NotImplementedError, ValueError):  # years outside 1..9999
        return t.isoformat()


@dataclass
class QualityReport:
    """Result of :func:`check_quality`.

    Attributes
    ----------
    issues : pandas.DataFrame
        One row per finding with columns ``check``, ``severity`` (error/warning/info),
        ``time``, ``row`` (0-based position in the checked frame, or in the file for
        :func:`~quantlab.data.read_ohlcv_file`; :meth:`row_label` gives the number shown to
        users) and ``detail``. Methods :meth:`error_message`/:meth:`raise_for_errors` give one
        line covering every error kind; :meth:`listing` the full grouped listing.
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

    def _row_text(self, issue: pd.Series | dict[str, Any]) -> str:
        row = issue["row"]
        loc = f"row {self.row_label(int(row))}" if row is not None and not pd.isna(row) else ""
        time = issue["time"]
        if time is not None and not pd.isna(time):
            loc = f"{loc} ({_ts(time)})".strip()
        return loc

    def _groups(self, issues: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
        """Issues grouped by check, in :data:`CHECKS` order (rows in report order)."""
        if issues.empty:
            return []
        present = set(issues["check"])
        return [(c, issues[issues["check"] == c]) for c in CHECKS if c in present]

    def error_message(self, *, note: str | None = None, max_rows: int = 5) -> str | None:
        """One-line description of every hard error, or None when there is none.

        Errors of a single row keep the precise form ``WHERE row N (TIME): detail``; errors on
        several rows are grouped by kind with their count and first rows::

            FILE: 3 hard errors — duplicate_time ×2 (rows 5, 9), ohlc_inconsistent ×1
            (row 12: low 101.5 > high 100); nothing imported

        (on one line).

        Parameters
        ----------
        note : str, optional
            Appended after ``"; "``, e.g. ``"nothing imported"``.
        max_rows : int
            Rows listed per kind before an ellipsis.
        """
        errs = self.errors
        if errs.empty:
            return None
        if errs["row"].nunique() == 1:  # one bad row: the precise form, every problem of it
            first = errs.iloc[0]
            msg = self.message({**first.to_dict(), "detail": "; ".join(errs["detail"])})
        else:
            parts = []
            for check, group in self._groups(errs):
                if len(group) == 1:
                    first = group.iloc[0]
                    row = first["row"]
                    loc = f"row {self.row_label(int(row))}: " if row is not None and not pd.isna(row) else ""
                    parts.append(f"{check} ×1 ({loc}{first['detail']})")
                else:
                    rows = [str(self.row_label(int(r))) for r in group["row"].head(max_rows)]
                    more = ", …" if len(group) > max_rows else ""
                    parts.append(f"{check} ×{len(group)} (rows {', '.join(rows)}{more})")
            msg = f"{self.where}: {len(errs)} hard errors — {', '.join(parts)}"
        if note:
            msg += f"; {note}"
        return msg

    def raise_for_errors(self, *, note: str | None = None, max_rows: int = 5) -> QualityReport:
        """Raise :class:`~quantlab.errors.DataQualityError` describing every hard error.

        The message is one line (see :meth:`error_message`); the exception carries this
        report as ``exc.report`` so callers can show :meth:`listing`.

        Parameters
        ----------
        note : str, optional
            Appended to the message, e.g. ``"nothing imported"``.
        max_rows : int
            Rows named per kind of error.

        Returns
        -------
        QualityReport
            ``self`` when there is no hard error.

        Raises
        ------
        DataQualityError
            When there is at least one issue of severity ``error``.
        """
        msg = self.error_message(note=note, max_rows=max_rows)
        if msg is not None:
            exc = DataQualityError(msg)
            exc.report = self
            raise exc
        return self

    def listing(self, *, max_rows: int = 5, severities: tuple[str, ...] = ("error", "warning")) -> str:
        """Multi-line listing of the findings grouped by kind: count and first rows of each.

        Parameters
        ----------
        max_rows : int
            Findings shown per kind (``... N more`` for the rest).
        severities : tuple of str
            Severities listed (default errors and warnings).

        Returns
        -------
        str
            ``WHERE: 2 errors, 1 warning`` followed by one block per kind, e.g.::

                duplicate_time (error) ×2:
                  row 5 (2024-01-04): duplicate timestamp 2024-01-04 (first at row 4)
                  row 9 (2024-01-07): duplicate timestamp 2024-01-07 (first at row 8)
        """
        shown = self.issues[self.issues["severity"].isin(severities)]
        counts = [
            f"{n} {sev}{'s' if n != 1 else ''}"
            for sev in _SEVERITIES
            if sev in severities and (n := int((shown["severity"] == sev).sum()))
        ]
        lines = [f"{self.where}: {', '.join(counts) if counts else 'no issues'}"]
        for check, group in self._groups(shown):
            lines.append(f"  {check} ({CHECKS[check]}) ×{len(group)}:")
            for _, issue in group.head(max_rows).iterrows():
                loc = self._row_text(issue)
                lines.append(f"    {loc + ': ' if loc else ''}{issue['detail']}")
            if len(group) > max_rows:
                lines.append(f"    ... {len(group) - max_rows} more")
        return "\n".join(lines)

    def warning_summary(self) -> str | None:
        """One-line summary of the warnings, or None when there are none."""
        w = self.warnings
        if w.empty:
            return None
        parts = []
        counts = w["check"].value_counts()

        def plural(n: int, word: str) -> str:
            return f"{n} {word}{'s' if n != 1 else ''}"

        if counts.get("gap", 0):
            missing = self.missing_bars
            parts.append(f"{plural(int(counts['gap']), 'gap')} ({plural(missing, 'missing bar')})")
        if counts.get("stale_price", 0):
            parts.append(plural(int(counts["stale_price"]), "stale price run"))
        if counts.get("zero_volume", 0):
            parts.append(plural(int(counts["zero_volume"]), "zero-volume run"))
        if counts.get("spike_revert", 0):
            parts.append(plural(int(counts["spike_revert"]), "reverting spike"))
        if counts.get("partial_candle", 0):
            parts.append("partial last candle")
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
                    "row_number": None if pd.isna(r.row) else self.row_label(int(r.row)),
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


def _issues_frame(issues: list[dict[str, Any]]) -> pd.DataFrame:
    """Issues as a frame sorted by row, then check order (``missing`` column kept if present)."""
    frame = pd.DataFrame(issues, columns=[*_COLUMNS, "missing"])
    if len(frame):
        rank = {c: i for i, c in enumerate(CHECKS)}
        frame["_r"] = frame["check"].map(rank)
        frame = frame.sort_values(["row", "_r"], kind="stable").drop(columns="_r")
        frame = frame.reset_index(drop=True)
    frame["row"] = frame["row"].astype("int64")
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame


def _runs(flag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start positions and lengths of the runs of True in a boolean array (vectorized)."""
    edges = np.diff(np.concatenate([[0], flag.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return starts, ends - starts


def check_quality(
    df: pd.DataFrame,
    *,
    timeframe: str | pd.Timedelta | None = None,
    symbol: str | None = None,
    source: str | None = None,
    outlier_threshold: float = 10.0,
    stale_bars: int = 5,
    zero_volume_bars: int = 1,
    spike_threshold: float = 10.0,
    spike_revert_tolerance: float = 0.25,
    wick_factor: float = 10.0,
    as_of: pd.Timestamp | str | None = None,
    partial_volume_ratio: float = 0.25,
    partial_lookback: int = 30,
    row_numbers: np.ndarray | None = None,
) -> QualityReport:
    """Check an OHLCV frame for data problems (every defect in one pass, fully vectorized).

    Parameters
    ----------
    df : pandas.DataFrame
        OHLCV frame with a DatetimeIndex (may be unsorted or contain duplicates; those are
        reported).
    timeframe : str or pandas.Timedelta, optional
        Expected bar length for the gap and partial-candle checks; inferred (median spacing)
        when omitted.
    symbol, source : str, optional
        Names used in messages (``source`` is usually the file).
    outlier_threshold : float
        Robust z-score (median/MAD of simple close-to-close returns) above which a return is
        reported as ``outlier_return`` (severity ``info``: real crashes are outliers too).
    stale_bars : int
        A close repeated for at least this many consecutive bars is reported as stale.
    zero_volume_bars : int
        Runs of at least this many consecutive bars with volume 0 are reported
        (``zero_volume``, one finding per run with its length).
    spike_threshold : float
        Robust z-score of the return into a bar above which the bar is a spike candidate.
    spike_revert_tolerance : float
        A spike candidate is reported as ``spike_revert`` (and not as an outlier) when the next
        close is back within this fraction of the spike's size (in log terms) of the
        pre-spike close, i.e. at least 75 % of the jump is retraced with the default 0.25. A
        crash that recovers only partly (2020-03-12) stays an ``outlier_return``.
    wick_factor : float
        A high at least this many times ``max(open, close)`` (or a low at most
        ``min(open, close) / wick_factor``) is reported as a ``spike_revert`` of the wick.
    as_of : pandas.Timestamp or str, optional
        When the data was fetched/checked: a last bar with ``open + timeframe > as_of`` is
        reported as ``partial_candle``. When omitted, a last bar whose volume is below
        ``partial_volume_ratio`` times the median volume of the previous ``partial_lookback``
        bars is reported as a suspected partial candle.
    partial_volume_ratio : float
        Volume ratio of the suspected-partial-candle heuristic (default 25 %).
    partial_lookback : int
        Bars before the last one whose median volume the heuristic compares against.
    row_numbers : numpy.ndarray, optional
        Row number shown for each position (e.g. CSV line numbers); default position + 1. Also
        stored on the report.

    Returns
    -------
    QualityReport
        Findings, each with its 0-based ``row`` position. Errors: ``duplicate_time``,
        ``non_monotonic``, ``non_finite`` (NaN/inf), ``non_positive_price``,
        ``negative_volume``, ``ohlc_inconsistent`` (``bad_time`` and ``non_numeric`` come from
        :func:`~quantlab.data.read_ohlcv_file`). Warnings: ``gap``, ``stale_price``,
        ``zero_volume``, ``spike_revert``, ``partial_candle``. Info: ``outlier_return``.
    """
    if not isinstance(df, pd.DataFrame) or not isinstance(df.index, pd.DatetimeIndex):
        raise ParameterError("check_quality needs a DataFrame with a DatetimeIndex")
    missing = [c for c in FIELDS if c not in df.columns]
    if missing:
        raise ParameterError(f"{source or symbol or 'data'}: missing column {missing[0]}")
    if stale_bars < 2:
        raise ParameterError(f"stale_bars must be >= 2, not {stale_bars}")
    if zero_volume_bars < 1:
        raise ParameterError(f"zero_volume_bars must be >= 1, not {zero_volume_bars}")
    if not 0 < spike_revert_tolerance < 1:
        raise ParameterError(f"spike_revert_tolerance must be in (0, 1), not {spike_revert_tolerance}")
    if partial_lookback < 1:
        raise ParameterError(f"partial_lookback must be >= 1, not {partial_lookback}")
    n = len(df)
    times = df.index
    tvals = times.asi8
    issues: list[dict[str, Any]] = []
    labels = None if row_numbers is None else np.asarray(row_numbers)

    def label(pos: int) -> int:
        if labels is not None and 0 <= pos < len(labels):
            return int(labels[pos])
        return int(pos) + 1

    # --- index -----------------------------------------------------------------------------
    steps = np.diff(tvals)
    monotonic = bool((steps >= 0).all())
    if monotonic:
        dup = np.zeros(n, dtype=bool)
        dup[1:] = steps == 0
    else:
        dup = times.duplicated(keep="first")
    if dup.any():
        uniq, first_idx = np.unique(tvals, return_index=True)
        at = np.flatnonzero(dup)
        first_pos = first_idx[np.searchsorted(uniq, tvals[at])]
        for i, f in zip(at, first_pos, strict=True):
            issues.append(
                _issue("duplicate_time", times[i], i, f"duplicate timestamp {_ts(times[i])} (first at row {label(f)})")
            )
    if not monotonic:
        for i in np.flatnonzero(steps < 0) + 1:
            issues.append(
                _issue("non_monotonic", times[i], i, f"time {_ts(times[i])} is before the previous row's {_ts(times[i - 1])}")
            )

    # --- values ----------------------------------------------------------------------------
    values = df[FIELDS].to_numpy(dtype="float64", na_value=np.nan)
    finite = np.isfinite(values)
    for i in np.flatnonzero(~finite.all(axis=1)):
        bad = [f"{c} is {'NaN' if np.isnan(values[i, j]) else values[i, j]}" for j, c in enumerate(FIELDS) if not finite[i, j]]
        issues.append(_issue("non_finite", times[i], i, ", ".join(bad)))
    prices = values[:, :4]
    o, h, lo, c = prices[:, 0], prices[:, 1], prices[:, 2], prices[:, 3]
    vol = values[:, 4]
    with np.errstate(invalid="ignore", divide="ignore"):
        nonpos = finite[:, :4] & (prices <= 0)
        for i in np.flatnonzero(nonpos.any(axis=1)):
            bad = [f"{c} {_fmt(prices[i, j])} <= 0" for j, c in enumerate(_PRICES) if nonpos[i, j]]
            issues.append(_issue("non_positive_price", times[i], i, ", ".join(bad)))
        for i in np.flatnonzero(finite[:, 4] & (vol < 0)):
            issues.append(_issue("negative_volume", times[i], i, f"volume {_fmt(vol[i])} < 0"))
        rules = [
            (lo > h, "low", 2, ">", "high", 1),
            (o > h, "open", 0, ">", "high", 1),
            (o < lo, "open", 0, "<", "low", 2),
            (c > h, "close", 3, ">", "high", 1),
            (c < lo, "close", 3, "<", "low", 2),
        ]
        all_finite = finite[:, :4].all(axis=1)
        masks = np.column_stack([r[0] for r in rules]) & all_finite[:, None]
        for i in np.flatnonzero(masks.any(axis=1)):
            bad = [
                f"{a} {_fmt(prices[i, ai])} {op} {b} {_fmt(prices[i, bi])}"
                for k, (_, a, ai, op, b, bi) in enumerate(rules)
                if masks[i, k]
            ]
            issues.append(_issue("ohlc_inconsistent", times[i], i, "; ".join(bad)))
        # wick spikes: a high (low) far beyond the body of its own bar
        body_hi = np.maximum(o, c)
        body_lo = np.minimum(o, c)
        usable = all_finite & (lo > 0) & ~masks.any(axis=1)
        up = usable & (h >= wick_factor * body_hi)
        down = usable & (body_lo >= wick_factor * lo)
        for i in np.flatnonzero(up | down):
            if up[i]:
                detail = f"high {_fmt(h[i])} is {h[i] / body_hi[i]:.1f}× max(open, close) {_fmt(body_hi[i])} (wick spike)"
            else:
                detail = f"low {_fmt(lo[i])} is 1/{body_lo[i] / lo[i]:.1f} of min(open, close) {_fmt(body_lo[i])} (wick spike)"
            issues.append(_issue("spike_revert", times[i], i, detail))

    # --- time series checks on the sorted, de-duplicated view ------------------------------
    if monotonic:
        pos = np.flatnonzero(~dup) if dup.any() else np.arange(n)
    else:
        order = np.argsort(tvals, kind="stable")
        sorted_vals = tvals[order]
        keep = np.concatenate([[True], sorted_vals[1:] != sorted_vals[:-1]]) if n else np.zeros(0, bool)
        pos = order[keep]
    st = times[pos]
    svals = tvals[pos]
    tf: pd.Timedelta | None = None
    if timeframe is not None:
        tf = parse_timeframe(timeframe) if isinstance(timeframe, str) else pd.Timedelta(timeframe)
    elif len(st) >= 2:
        tf = infer_timeframe(st)
    if tf is not None and tf > pd.Timedelta(0) and len(st) >= 2:
        diffs = np.diff(svals)
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
        same = np.isfinite(close[1:]) & (close[1:] == close[:-1])
        # a run of k equal closes is k-1 consecutive "same" flags
        starts, lengths = _runs(same)
        for s, length in zip(starts[lengths >= stale_bars - 1], lengths[lengths >= stale_bars - 1], strict=True):
            bars = int(length) + 1
            issues.append(
                _issue(
                    "stale_price", st[s], pos[s],
                    f"close {_fmt(close[s])} unchanged for {bars} bars (to {_ts(st[s + bars - 1])})",
                )
            )

    svol = values[pos, 4]
    starts, lengths = _runs(svol == 0)
    for s, length in zip(starts[lengths >= zero_volume_bars], lengths[lengths >= zero_volume_bars], strict=True):
        length = int(length)
        detail = (
            f"volume 0 for {length} bars (to {_ts(st[s + length - 1])})" if length > 1 else "volume 0 for 1 bar"
        )
        issues.append(_issue("zero_volume", st[s], pos[s], detail))

    good = np.isfinite(close) & (close > 0)
    spikes = np.zeros(0, dtype=np.int64)
    if good.sum() >= 10:
        cpos = np.flatnonzero(good)
        cc = close[cpos]
        r = cc[1:] / cc[:-1] - 1.0
        med = np.median(r)
        mad = np.median(np.abs(r - med))
        if mad > 0:
            z = 0.6745 * (r - med) / mad
            # spike-and-revert: return k (into bar k+1) is extreme and bar k+2 retraces it
            cand = np.flatnonzero(np.abs(z[:-1]) > spike_threshold)
            if len(cand):
                jump = np.abs(np.log(cc[cand + 1] / cc[cand]))
                back = np.abs(np.log(cc[cand + 2] / cc[cand]))
                spikes = cand[back <= spike_revert_tolerance * jump]
                for k in spikes:
                    at = cpos[k + 1]
                    issues.append(
                        _issue(
                            "spike_revert", st[at], pos[at],
                            f"close {_fmt(cc[k + 1])} is {cc[k + 1] / cc[k]:.3g}× the previous close "
                            f"{_fmt(cc[k])} (robust z {z[k]:+.1f}) and the next close {_fmt(cc[k + 2])} "
                            "reverts it (bad tick?)",
                        )
                    )
            outlier = np.abs(z) > outlier_threshold
            outlier[spikes] = False  # the spike and its reversal are reported as spike_revert
            outlier[spikes + 1] = False
            for k in np.flatnonzero(outlier):
                at = cpos[k + 1]
                issues.append(
                    _issue(
                        "outlier_return", st[at], pos[at],
                        f"return {r[k]:+.2%} (robust z {z[k]:+.1f})",
                    )
                )

    # --- partial last candle ---------------------------------------------------------------
    if len(st):
        last = len(st) - 1
        if as_of is not None:
            when = to_utc(as_of, "as_of")
            if tf is not None and st[last] + tf > when:
                issues.append(
                    _issue(
                        "partial_candle", st[last], pos[last],
                        f"last bar {_ts(st[last])} had not closed at {_ts(when)} (closes {_ts(st[last] + tf)})",
                    )
                )
        elif last >= min(partial_lookback, 5):
            prev = svol[max(0, last - partial_lookback):last]
            prev = prev[np.isfinite(prev)]
            ref = float(np.median(prev)) if len(prev) else np.nan
            v = svol[last]
            if ref > 0 and np.isfinite(v) and 0 < v < partial_volume_ratio * ref:
                issues.append(
                    _issue(
                        "partial_candle", st[last], pos[last],
                        f"last bar volume {_fmt(v)} is {v / ref:.0%} of the median {_fmt(ref)} of the previous "
                        f"{len(prev)} bars: looks like a candle captured before it closed",
                    )
                )

    frame = _issues_frame(issues)
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
        row_numbers=labels,
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
    as_of: pd.Timestamp | str | None = None,
    **options: Any,
) -> QualityReport:
    """Check ``df`` as loaders do: raise on hard errors, warn once on soft issues.

    Parameters
    ----------
    df : pandas.DataFrame
        OHLCV frame.
    timeframe, symbol, source, as_of
        As in :func:`check_quality`.
    row_numbers : numpy.ndarray, optional
        Row numbers shown in messages (file line numbers).
    stacklevel : int
        Stack level of the warning.
    **options
        Thresholds passed on to :func:`check_quality` (``stale_bars``, ``partial_volume_ratio``...).

    Returns
    -------
    QualityReport
        The report (no hard errors).

    Raises
    ------
    DataQualityError
        When there are hard errors: one line naming source and every kind of error with its
        rows (a single error: source, row, time and problem).

    Warns
    -----
    DataQualityWarning
        One summary per call when there are warnings (gaps, stale prices, zero-volume runs,
        reverting spikes, a partial last candle).
    """
    report = check_quality(df, timeframe=timeframe, symbol=symbol, source=source, row_numbers=row_numbers,
                           as_of=as_of, **options)
    report.raise_for_errors()
    summary = report.warning_summary()
    if summary:
        warnings.warn(summary, DataQualityWarning, stacklevel=stacklevel)
    return report
