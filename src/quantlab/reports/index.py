"""HTML index pages of the nightly reports: one per date, and one listing every date."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from quantlab._result import format_value
from quantlab.reports.html import _STYLE
from quantlab.reports.metrics import read_metrics

__all__ = ["dated_folders", "read_trend", "render_date_index", "render_root_index"]

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EXTRA = """
.ok{color:#1a7f37;font-weight:600} .failed{color:#cf222e;font-weight:600}
.stale{color:#9a6700;font-weight:600} td.l,th.l{text-align:left} .err{color:#cf222e;font-size:.85em;text-align:left}
svg.spark{vertical-align:middle}
"""


def dated_folders(out: Path) -> list[str]:
    """Names of the ``YYYY-MM-DD`` folders under ``out``, oldest first."""
    if not out.is_dir():
        return []
    return sorted(p.name for p in out.iterdir() if p.is_dir() and DATE_RE.match(p.name))


def night_status(out: Path, date: str) -> dict[str, Any]:
    """Status of one dated night from its ``nightly.json``: ``status`` (ok / failed / ? when
    unreadable or empty), ``reports``, ``failed``, ``data`` (data status) and ``elapsed``."""
    try:
        summary = json.loads((out / date / "nightly.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        summary = {}
    runs = summary.get("runs", []) if isinstance(summary, dict) else []
    failed = sum(r.get("status") != "ok" for r in runs)
    return {"status": ("failed" if failed else "ok") if runs else "?", "reports": len(runs),
            "failed": failed, "data": summary.get("data", {}).get("status", "") if runs else "",
            "elapsed": float(summary.get("elapsed", 0.0)) if runs else 0.0}


def _head(title: str) -> str:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}{_EXTRA}</style></head><body><h1>{html.escape(title)}</h1>")


def _fmt(value: Any) -> str:
    return html.escape(format_value(value))


def headline_of(run: dict[str, Any]) -> dict[str, Any]:
    """The metrics shown for a report: its configured headline names, else all (at most 8)."""
    metrics = run.get("metrics") or {}
    names = run.get("headline")
    if names is None:
        names = [k for k, v in metrics.items() if not isinstance(v, dict | list)][:8]
    return {k: metrics.get(k) for k in names}


def read_trend(out: Path, date: str, runs: list[dict[str, Any]], nights: int
               ) -> dict[tuple[str, str], list[tuple[str, Any]]]:
    """Numeric headline figures of the previous ``nights`` dated folders before ``date`` plus
    tonight's, read from their ``<report>/metrics.json``: ``{(report, metric): [(date, v)]}``."""
    previous = [d for d in dated_folders(out) if d < date][-nights:] if nights > 0 else []
    trend: dict[tuple[str, str], list[tuple[str, Any]]] = {}
    for run in runs:
        for metric, tonight in headline_of(run).items():
            series = []
            for d in previous:
                v = read_metrics(out / d / run["name"] / "metrics.json").get(metric)
                if isinstance(v, int | float) and not isinstance(v, bool):
                    series.append((d, v))
            if isinstance(tonight, int | float) and not isinstance(tonight, bool):
                series.append((date, tonight))
            if series:
                trend[(run["name"], metric)] = series
    return trend


def _sparkline(values: list[float], width: int = 160, height: int = 28) -> str:
    if len(values) < 2:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    step = width / (len(values) - 1)
    pts = " ".join(f"{i * step:.1f},{height - 2 - (v - lo) / span * (height - 4):.1f}"
                   for i, v in enumerate(values))
    last_x, last_y = pts.split()[-1].split(",")
    return (f"<svg class='spark' width='{width}' height='{height}'><polyline fill='none' "
            f"stroke='#1f77b4' stroke-width='1.5' points='{pts}'/><circle cx='{last_x}' "
            f"cy='{last_y}' r='2.5' fill='#d62728'/></svg>")


def render_date_index(summary: dict[str, Any],
                      trend: dict[tuple[str, str], list[tuple[str, Any]]]) -> str:
    """The page of one night: every report with status, run time, headline metrics, link; the
    data status; and the trend strip of key figures over the previous nights."""
    date = summary["date"]
    parts = [_head(f"{summary.get('title', 'quantlab nightly')} — {date}")]
    data = summary.get("data", {})
    status = data.get("status", "")
    cls = "stale" if status == "stale" else "ok" if status == "fresh" else ""
    line = f"data: <span class='{cls}'>{html.escape(status)}</span>"
    if data.get("detail"):
        line += f" — {html.escape(str(data['detail']))}"
    parts.append(f"<p class='meta'>{line}<br>finished {html.escape(summary.get('finished', ''))}, "
                 f"{summary.get('elapsed', 0):.1f} s with {summary.get('workers', 1)} worker(s) — "
                 f"<a href='../index.html'>all dates</a></p>")
    parts.append("<h2>Reports</h2><table><tr><th class='l'>report</th><th>status</th>"
                 "<th>run time</th><th class='l'>headline figures</th></tr>")
    for run in summary.get("runs", []):
        st = run.get("status", "failed")
        link = (f"<a href='{html.escape(run['name'])}/{html.escape(run['name'])}.html'>"
                f"{html.escape(run.get('report_title') or run['name'])}</a>"
                if run.get("html") else html.escape(run.get("report_title") or run["name"]))
        figs = ", ".join(f"{html.escape(k)} = <b>{_fmt(v)}</b>" for k, v in headline_of(run).items())
        err = f"<div class='err'>{html.escape(run['error'])}</div>" if run.get("error") else ""
        parts.append(f"<tr><td class='l'>{link}{err}</td><td class='{st}'>{st}</td>"
                     f"<td>{run.get('elapsed', 0):.1f} s</td><td class='l'>{figs or '—'}</td></tr>")
    parts.append("</table>")
    parts.append("<h2>Trend</h2>")
    if trend:
        parts.append("<table><tr><th class='l'>report</th><th class='l'>figure</th><th>nights</th>"
                     "<th class='l'>trend</th><th>first</th><th>tonight</th></tr>")
        for (report, metric), series in trend.items():
            vals = [float(v) for _, v in series]
            tip = html.escape("; ".join(f"{d}: {format_value(v)}" for d, v in series))
            tonight = series[-1][1] if series[-1][0] == date else None
            parts.append(f"<tr title='{tip}'><td class='l'>{html.escape(report)}</td>"
                         f"<td class='l'>{html.escape(metric)}</td><td>{len(series)}</td>"
                         f"<td class='l'>{_sparkline(vals)}</td><td>{_fmt(series[0][1])}</td>"
                         f"<td>{_fmt(tonight)}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p class='meta'>no figures recorded yet</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render_root_index(out: Path, title: str = "quantlab nightly") -> str:
    """The page listing every dated folder under ``out`` (newest first) with its status."""
    parts = [_head(title), "<table><tr><th class='l'>date</th><th>status</th><th>reports</th>"
             "<th>failed</th><th class='l'>data</th><th>run time</th></tr>"]
    for date in reversed(dated_folders(out)):
        night = night_status(out, date)
        status, failed, data = night["status"], night["failed"], night["data"]
        parts.append(f"<tr><td class='l'><a href='{date}/index.html'>{date}</a></td>"
                     f"<td class='{status}'>{status}</td><td>{night['reports']}</td><td>{failed}</td>"
                     f"<td class='l {'stale' if data == 'stale' else ''}'>{html.escape(data)}</td>"
                     f"<td>{night['elapsed']:.1f} s</td></tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts)
