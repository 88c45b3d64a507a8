"""Risk figures: VaR histogram, VaR backtest band, component VaR, stress P&L, correlation, underwater.

Functions here only reshape what the risk layer computed; they never estimate anything.
VaR/ES are positive loss fractions, so they are drawn at ``-var`` / ``-es`` on return axes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

__all__ = [
    "component_var_figure",
    "correlation_figure",
    "stress_figure",
    "underwater_figure",
    "var_backtest_figure",
    "var_histogram_figure",
]

_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf"]
_ZONE_COLOURS = {"green": "#2ca02c", "yellow": "#e6b800", "red": "#d62728"}


def _pick(frame: pd.DataFrame, *names: str) -> str:
    for name in names:
        if name in frame.columns:
            return name
    for name in names:
        for col in frame.columns:
            if name in str(col):
                return str(col)
    raise KeyError(f"none of the columns {names} in {list(frame.columns)}")


def var_histogram_figure(returns: pd.Series, lines: pd.DataFrame, *, level: float | None = None,
                         horizon: int = 1, bins: int = 120) -> go.Figure:
    """Histogram of returns with each method's VaR (solid) and ES (dotted) as vertical lines.

    Parameters
    ----------
    returns : Series
        The (portfolio) returns the VaR was estimated from.
    lines : DataFrame
        Indexed by method name, columns ``var`` and ``es`` (positive loss fractions; drawn at
        ``-var`` and ``-es``).
    level : float, optional
        VaR confidence level (for the title).
    horizon : int
        Horizon in bars (for the title).
    bins : int
        Number of histogram bins.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    r = pd.Series(returns).astype(float)
    fig = go.Figure(go.Histogram(x=r, nbinsx=bins, name="returns", marker_color="#9ecae1",
                                 opacity=0.8, hovertemplate="%{x:.2%}: %{y}<extra></extra>"))
    for i, (method, row) in enumerate(lines.iterrows()):
        colour = _PALETTE[i % len(_PALETTE)]
        var, es = float(row["var"]), float(row["es"])
        fig.add_vline(x=-var, line={"color": colour, "width": 2})
        fig.add_vline(x=-es, line={"color": colour, "width": 2, "dash": "dot"})
        # legend entries for the lines (vlines have none)
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line={"color": colour},
                                 name=f"{method}: VaR {var:.2%} / ES {es:.2%}"))
    title = "Return distribution"
    if level is not None:
        title += f" with {level:.1%} VaR (solid) and ES (dotted), {horizon}-bar horizon"
    fig.update_layout(title=title, template="plotly_white", xaxis_tickformat=".0%",
                      xaxis_title="return", yaxis_title="count", bargap=0.02, height=500)
    return fig


def var_backtest_figure(
    returns: pd.Series,
    var: pd.Series,
    *,
    es: pd.Series | None = None,
    level: float | None = None,
    zone: str | None = None,
    title: str | None = None,
) -> go.Figure:
    """Realized returns against the VaR forecast band, breaches marked.

    Parameters
    ----------
    returns : Series
        Realized returns on the forecast dates.
    var : Series
        One-step-ahead VaR forecasts (positive loss fractions), same index.
    es : Series, optional
        ES forecasts, drawn as a dotted line.
    level : float, optional
        VaR confidence level (for the title).
    zone : {"green", "yellow", "red"}, optional
        Basel traffic-light zone, shown as a coloured badge in the title.
    title : str, optional
        Override the title.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    r = pd.Series(returns).astype(float)
    v = pd.Series(var).astype(float).reindex(r.index)
    breach = r < -v
    fig = go.Figure()
    fig.add_trace(go.Bar(x=r.index, y=r, name="return", marker_color="#9ecae1",
                         hovertemplate="%{x}<br>%{y:.2%}<extra></extra>"))
    fig.add_trace(go.Scatter(x=v.index, y=-v, name="−VaR forecast", line={"color": "#d62728", "width": 1.5}))
    if es is not None:
        e = pd.Series(es).astype(float).reindex(r.index)
        fig.add_trace(go.Scatter(x=e.index, y=-e, name="−ES forecast",
                                 line={"color": "#ff7f0e", "width": 1, "dash": "dot"}))
    fig.add_trace(go.Scatter(x=r.index[breach], y=r[breach], mode="markers", name=f"breaches ({int(breach.sum())})",
                             marker={"color": "#d62728", "symbol": "x", "size": 8}))
    if title is None:
        title = "VaR backtest"
        if level is not None:
            title += f": {level:.1%} one-step VaR"
        title += f", {int(breach.sum())} breaches in {len(r):,} days"
        if level is not None:
            title += f" (expected {len(r) * (1 - level):.1f})"
    if zone:
        colour = _ZONE_COLOURS.get(zone, "#333")
        title += f" — <span style='color:{colour}'>■ {zone} zone</span>"
    fig.update_layout(title=title, template="plotly_white", yaxis_tickformat=".0%", height=500,
                      hovermode="x unified", bargap=0, legend={"orientation": "h", "y": -0.15})
    return fig


def component_var_figure(decomposition: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Bars of component VaR per asset (they sum to the portfolio VaR), marginal VaR on hover.

    Parameters
    ----------
    decomposition : DataFrame
        One row per asset with a component-VaR column (``component_var``) and optionally
        ``marginal_var`` and ``incremental_var``.
    title : str, optional
        Figure title.
    """
    comp_col = _pick(decomposition, "component_var", "component")
    comp = decomposition[comp_col].astype(float)
    fig = go.Figure(go.Bar(x=[str(i) for i in comp.index], y=comp, name="component VaR",
                           marker_color=np.where(comp >= 0, "#d62728", "#2ca02c"),
                           hovertemplate="%{x}: %{y:.3%}<extra></extra>"))
    for name, colour in (("incremental_var", "#1f77b4"),):
        if name in decomposition.columns:
            fig.add_trace(go.Scatter(x=[str(i) for i in comp.index], y=decomposition[name].astype(float),
                                     mode="markers", name="incremental VaR",
                                     marker={"color": colour, "symbol": "diamond", "size": 9}))
    total = comp.sum()
    fig.update_layout(title=title or f"Component VaR by asset (sum = portfolio VaR {total:.2%})",
                      template="plotly_white", yaxis_tickformat=".1%", height=450)
    return fig


def stress_figure(table: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Horizontal bars of each scenario's portfolio return (losses red, gains green).

    Parameters
    ----------
    table : DataFrame
        Indexed by scenario (or with a ``scenario`` column) with a portfolio-return column
        (``portfolio_return``).
    title : str, optional
        Figure title.
    """
    t = table.set_index("scenario") if "scenario" in table.columns else table
    col = _pick(t, "portfolio_return", "return", "pnl")
    values = t[col].astype(float).sort_values()
    fig = go.Figure(go.Bar(y=[str(i) for i in values.index], x=values, orientation="h",
                           marker_color=np.where(values < 0, "#d62728", "#2ca02c"),
                           hovertemplate="%{y}: %{x:.2%}<extra></extra>"))
    fig.update_layout(title=title or "Stress scenarios: portfolio return", template="plotly_white",
                      xaxis_tickformat=".0%", height=max(300, 40 * len(values) + 120))
    return fig


def correlation_figure(returns: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Heatmap of the correlation matrix of asset returns (diverging scale centred on 0)."""
    corr = returns.corr()
    labels = [str(c) for c in corr.columns]
    fig = go.Figure(go.Heatmap(z=corr.to_numpy(), x=labels, y=labels, zmin=-1, zmax=1,
                               colorscale="RdBu_r", text=np.round(corr.to_numpy(), 2),
                               texttemplate="%{text}", hovertemplate="%{x} / %{y}: %{z:.3f}<extra></extra>"))
    fig.update_layout(title=title or "Return correlations", template="plotly_white",
                      height=max(380, 140 + 45 * len(labels)), yaxis_autorange="reversed")
    return fig


def underwater_figure(drawdown: pd.Series, *, title: str | None = None) -> go.Figure:
    """Underwater chart: drawdown from the running peak, drawn below zero.

    Parameters
    ----------
    drawdown : Series
        Drawdown as positive fractions (``quantlab.backtesting.metrics`` convention) or as
        non-positive values; both are drawn below zero.
    title : str, optional
        Figure title.
    """
    dd = pd.Series(drawdown).astype(float)
    y = -dd.abs()
    fig = go.Figure(go.Scatter(x=dd.index, y=y, fill="tozeroy", name="drawdown",
                               line={"color": "#d62728", "width": 1},
                               hovertemplate="%{x}<br>%{y:.2%}<extra></extra>"))
    fig.update_layout(title=title or f"Underwater (max drawdown {dd.abs().max():.2%})",
                      template="plotly_white", yaxis_tickformat=".0%", height=400)
    return fig
