"""Sweep heatmaps."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

__all__ = ["heatmap_figure"]

_DIVERGING = {"sharpe", "sortino", "calmar", "total_return", "cagr"}


def heatmap_figure(
    table: pd.DataFrame,
    x: str,
    y: str | None,
    metric: str,
    *,
    agg: str = "max",
    title: str | None = None,
) -> go.Figure:
    """Heatmap of ``metric`` over parameters ``x`` and ``y`` of a sweep table.

    Parameters
    ----------
    table : DataFrame
        Sweep results indexed by parameter values (see :class:`quantlab.backtesting.SweepResult`).
    x, y : str
        Parameter names on the axes; ``y=None`` draws a single row.
    metric : str
        Column of ``table`` to colour by.
    agg : str
        How to combine rows that share (x, y) when more parameters were swept.
    title : str, optional
        Figure title.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    flat = table.reset_index()
    keys = [x] if y is None else [y, x]
    grid = flat.groupby(keys)[metric].agg(agg)
    grid = grid.to_frame().T if y is None else grid.unstack(x)
    z = grid.to_numpy(dtype=float)
    kwargs = {"zmid": 0.0, "colorscale": "RdYlGn"} if metric in _DIVERGING else {"colorscale": "Viridis"}
    if metric in {"max_drawdown", "max_drawdown_duration", "volatility", "fees_paid"}:
        kwargs = {"colorscale": "Viridis_r"}
    fig = go.Figure(go.Heatmap(
        z=z, x=list(grid.columns), y=list(grid.index) if y is not None else [metric],
        colorbar={"title": metric},
        hovertemplate=f"{x}=%{{x}}<br>{y or ''}=%{{y}}<br>{metric}=%{{z:.4f}}<extra></extra>",
        **kwargs,
    ))
    fig.update_layout(title=title or metric, xaxis_title=x, yaxis_title=y or "",
                      template="plotly_white", height=600)
    return fig
