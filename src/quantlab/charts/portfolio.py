"""Portfolio figures: weights drifting between rebalances, rebalance dates, target, equity.

Functions here only reshape what :mod:`quantlab.portfolio` computed; they never estimate anything.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = ["allocation_figure", "rebalance_weights_figure", "weights_drift_figure"]

_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf"]


def weights_drift_figure(
    weights: pd.DataFrame,
    rebalances: pd.DatetimeIndex,
    equity: pd.Series | None = None,
    target: pd.DataFrame | None = None,
) -> go.Figure:
    """Stacked area of portfolio weights over time with rebalance dates marked, plus equity.

    Parameters
    ----------
    weights : DataFrame
        Weights at each bar (columns = assets), e.g. ``RebalanceBacktestResult.weights``.
    rebalances : DatetimeIndex
        Dates on which the portfolio traded; drawn as thin vertical lines.
    equity : Series, optional
        Portfolio value; adds a second panel below the weights.
    target : DataFrame, optional
        Target weights on the dates they were set (held until the next row); drawn as dashed
        step lines at the cumulative target boundaries, so drift shows as the gap between
        each band's edge and its dashed line.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    w = pd.DataFrame(weights).astype(float)
    rows = 2 if equity is not None else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        row_heights=[0.65, 0.35] if rows == 2 else [1.0])
    for i, col in enumerate(w.columns):
        colour = _PALETTE[i % len(_PALETTE)]
        fig.add_trace(go.Scatter(x=w.index, y=w[col], name=str(col), mode="lines",
                                 stackgroup="weights", line={"width": 0.5, "color": colour},
                                 hovertemplate=f"{col}: %{{y:.1%}}<extra></extra>"),
                      row=1, col=1)
    if target is not None and len(target):
        t = pd.DataFrame(target).astype(float).reindex(columns=w.columns)
        t = t.reindex(t.index.union(w.index[-1:])).ffill()  # extend the last target to the end
        cum = t.cumsum(axis=1)
        for i, col in enumerate(cum.columns[:-1]):  # the last boundary is always 1
            fig.add_trace(go.Scatter(x=cum.index, y=cum[col], mode="lines", line_shape="hv",
                                     line={"color": "black", "width": 1, "dash": "dash"},
                                     name="target", legendgroup="target", showlegend=i == 0,
                                     hovertemplate="target boundary: %{y:.1%}<extra></extra>"),
                          row=1, col=1)
    reb = pd.DatetimeIndex(rebalances)
    if len(reb):
        top = float(np.nanmax(w.sum(axis=1).to_numpy())) if len(w) else 1.0
        xs: list = []
        ys: list = []
        for d in reb:
            xs += [d, d, None]
            ys += [0.0, top, None]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"rebalance ({len(reb)})",
                                 line={"color": "rgba(0,0,0,0.45)", "width": 1},
                                 hoverinfo="skip"), row=1, col=1)
    if equity is not None:
        eq = pd.Series(equity).astype(float)
        fig.add_trace(go.Scatter(x=eq.index, y=eq, name="equity", mode="lines",
                                 line={"color": "#333333", "width": 1.5},
                                 hovertemplate="%{x|%Y-%m-%d}: %{y:,.2f}<extra></extra>"),
                      row=2, col=1)
        fig.update_yaxes(title_text="equity", row=2, col=1)
    fig.update_yaxes(title_text="weight", tickformat=".0%", row=1, col=1)
    fig.update_layout(title=f"Portfolio weights drift ({len(reb)} rebalances)",
                      template="plotly_white", height=650 if rows == 2 else 450,
                      hovermode="x unified", legend={"traceorder": "normal"})
    return fig


def allocation_figure(weights: pd.Series, risk_contributions: pd.Series | None = None,
                      title: str = "Portfolio weights") -> go.Figure:
    """Grouped bars of weights (and risk contributions, as fractions of variance) by asset.

    Parameters
    ----------
    weights : Series
        Weights by asset, e.g. ``OptimizeResult.weights``.
    risk_contributions : Series, optional
        Fractions of portfolio variance by asset (a second bar per asset).
    title : str
        Figure title.
    """
    names = [str(a) for a in weights.index]
    traces = [go.Bar(name="weight", x=names, y=weights.to_numpy())]
    if risk_contributions is not None:
        traces.append(go.Bar(name="risk contribution", x=names,
                             y=risk_contributions.reindex(weights.index).to_numpy()))
    fig = go.Figure(traces)
    fig.update_layout(barmode="group", title=title, yaxis_tickformat=".0%",
                      template="plotly_white")
    return fig


def rebalance_weights_figure(weights: pd.DataFrame, title: str = "Rebalance: weights") -> go.Figure:
    """Grouped bars of current, target and post-trade weights by symbol (cash included).

    Parameters
    ----------
    weights : DataFrame
        Columns ``current``, ``target``, ``post_trade`` indexed by symbol, e.g.
        ``RebalancePlan.weights``.
    """
    fig = go.Figure()
    for col, name in (("current", "current"), ("target", "target"),
                      ("post_trade", "post-trade")):
        fig.add_trace(go.Bar(x=list(weights.index), y=weights[col].to_list(), name=name))
    fig.update_layout(barmode="group", title=title, yaxis_title="weight",
                      yaxis_tickformat=".0%", template="plotly_white")
    return fig
