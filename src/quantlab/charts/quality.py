"""Quality-report chart: the close price with every finding marked where it happened."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

__all__ = ["coverage_figure", "quality_figure"]

_COLORS = {"error": "#d62728", "warning": "#ff7f0e", "info": "#1f77b4"}


def quality_figure(issues: pd.DataFrame, close: pd.Series | None = None, *, title: str = "") -> go.Figure:
    """Close price (when given) with one marker trace per severity at the findings' times.

    Parameters
    ----------
    issues : DataFrame
        Findings with columns ``check``, ``severity``, ``time`` and ``detail``.
    close : Series, optional
        Close prices (sorted, unique times); markers sit on the close at their time, or on a
        per-check row when no prices are given.
    title : str
        Figure title.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    fig = go.Figure()
    have_close = close is not None and len(close) > 0
    if have_close:
        fig.add_trace(go.Scatter(x=close.index, y=close.to_numpy(), name="close",
                                 line={"color": "#7f7f7f", "width": 1}))
    found = issues[issues["time"].notna()]
    for severity, color in _COLORS.items():
        part = found[found["severity"] == severity]
        if part.empty:
            continue
        times = pd.DatetimeIndex(part["time"])
        if have_close:
            at = close.index.get_indexer(times, method="nearest")
            y = close.to_numpy()[at]
        else:
            y = part["check"].to_numpy()
        fig.add_trace(go.Scatter(
            x=times, y=y, mode="markers", name=f"{severity} ({len(part)})",
            marker={"color": color, "size": 9, "symbol": "x" if severity == "error" else "circle"},
            text=(part["check"] + ": " + part["detail"]).to_numpy(),
            hovertemplate="%{x}<br>%{text}<extra></extra>",
        ))
    fig.update_layout(title=title, template="plotly_white", height=420, hovermode="closest")
    return fig


def coverage_figure(
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    missing: list[tuple[pd.Timestamp, pd.Timestamp]],
    *,
    title: str = "",
) -> go.Figure:
    """Time line of a cached range: stored span in grey, each missing range in red.

    Parameters
    ----------
    start, end : Timestamp or None
        First and last stored bar.
    missing : list of (Timestamp, Timestamp)
        First and last open time of each run of missing bars.
    title : str
        Figure title.
    """
    fig = go.Figure()
    if start is not None and end is not None:
        fig.add_trace(go.Scatter(x=[start, end], y=["stored", "stored"], mode="lines+markers",
                                 name="stored", line={"color": "#7f7f7f", "width": 14}))
    for k, (a, b) in enumerate(missing):
        fig.add_trace(go.Scatter(x=[a, b], y=["missing", "missing"], mode="lines+markers",
                                 name="missing", showlegend=k == 0,
                                 line={"color": "#d62728", "width": 14}))
    fig.update_layout(title=title, template="plotly_white", height=240,
                      yaxis={"categoryorder": "array", "categoryarray": ["missing", "stored"]})
    return fig
