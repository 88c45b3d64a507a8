"""Backtest figure: price with trade markers, equity vs buy-and-hold, drawdown."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = ["backtest_figure"]


def backtest_figure(
    prices: pd.DataFrame,
    orders: pd.DataFrame,
    equity: pd.Series,
    benchmark: pd.Series,
    drawdown: pd.Series,
    *,
    title: str = "",
    log: bool = False,
) -> go.Figure:
    """Three stacked panels sharing the time axis.

    Parameters
    ----------
    prices : DataFrame
        Close price per symbol (one column each).
    orders : DataFrame
        Fills with columns ``time``, ``side`` (buy/sell) and ``price``; drawn as markers when
        there is one symbol.
    equity, benchmark : Series
        Strategy and buy-and-hold equity.
    drawdown : Series
        Drawdown from the running peak (positive fraction; drawn underwater).
    title : str
        Figure title.
    log : bool
        Log-scale price and equity axes.

    Returns
    -------
    plotly.graph_objects.Figure
        Row 1: close price of each symbol (single asset: with buy/sell markers at fill prices);
        row 2: strategy equity and buy-and-hold; row 3: drawdown (negative, underwater).
    """
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        row_heights=[0.45, 0.35, 0.2],
                        subplot_titles=("Price and fills", "Equity", "Drawdown"))
    single = prices.shape[1] == 1
    for sym in prices.columns:
        fig.add_trace(go.Scatter(x=prices.index, y=prices[sym], name=str(sym),
                                 line={"width": 1.2}), row=1, col=1)
    if single and len(orders):
        for side, symbol, color in (("buy", "triangle-up", "#2ca02c"), ("sell", "triangle-down", "#d62728")):
            o = orders[orders["side"] == side]
            fig.add_trace(go.Scatter(
                x=o["time"], y=o["price"], mode="markers", name=side,
                marker={"symbol": symbol, "size": 9, "color": color},
                hovertemplate=f"{side} %{{y:.4f}}<br>%{{x}}<extra></extra>",
            ), row=1, col=1)
    fig.add_trace(go.Scatter(x=equity.index, y=equity, name="strategy",
                             line={"color": "#1f77b4"}), row=2, col=1)
    fig.add_trace(go.Scatter(x=benchmark.index, y=benchmark, name="buy & hold",
                             line={"color": "#7f7f7f", "dash": "dot"}), row=2, col=1)
    fig.add_trace(go.Scatter(x=drawdown.index, y=-drawdown, name="drawdown", fill="tozeroy",
                             line={"color": "#d62728", "width": 1}), row=3, col=1)
    fig.update_yaxes(tickformat=".0%", row=3, col=1)
    if log:
        fig.update_yaxes(type="log", row=1, col=1)
        fig.update_yaxes(type="log", row=2, col=1)
    fig.update_layout(title=title, template="plotly_white", height=800, hovermode="x unified",
                      legend={"orientation": "h", "y": -0.05})
    return fig
