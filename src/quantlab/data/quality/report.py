"""The result of a quality check: findings by kind and severity, messages, listings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from quantlab._result import Result
from quantlab.errors import DataQualityError

__all__ = ["CHECKS", "DataQualityWarning", "QualityReport", "issue", "issues_frame"]

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


@dataclass(repr=False)
class QualityReport(Result):
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
    close: pd.Series | None = field(default=None, repr=False, compare=False)

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

    def stats(self) -> pd.Series:
        """Headline figures: bars, start, end, ok, errors, warnings, infos, missing_bars."""
        return pd.Series({
            "bars": int(self.bars), "start": self.start, "end": self.end, "ok": bool(self.ok),
            "errors": len(self.errors), "warnings": len(self.warnings), "infos": len(self.infos),
            "missing_bars": int(self.missing_bars),
        }, name=self.symbol or self.where, dtype=object)

    def title(self) -> str:
        """``Quality report — BTC/USDT: OK, 2244 bars 2020-01-01 to 2026-02-21``."""
        status = "OK" if self.ok else "FAILED"
        return (f"Quality report — {self.symbol or self.where}: {status}, {self.bars:,} bars "
                f"{_ts(self.start)} to {_ts(self.end)}")

    def _figure(self, **kwargs: Any) -> Any:
        from quantlab.charts.quality import quality_figure

        return quality_figure(self.issues, self.close, title=self.title())

    def _summary_table(self) -> pd.DataFrame:
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
            "type": type(self).__name__,
            "title": self.title(),
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
            "counts": {c: int(n) for c, n in self._summary_table()["count"].items()},
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

    def _repr_html_(self) -> str:
        table = self.issues[_COLUMNS].head(50).to_html(index=False, escape=True)
        return super()._repr_html_() + "<p>Findings (first 50)</p>" + table


def issue(check: str, time: Any, row: int, detail: str, **extra: Any) -> dict[str, Any]:
    return {"check": check, "severity": CHECKS[check], "time": time, "row": int(row), "detail": detail, **extra}


def issues_frame(issues: list[dict[str, Any]]) -> pd.DataFrame:
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
