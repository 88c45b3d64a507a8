"""Walk-forward figure: stitched out-of-sample equity with fold boundaries; IS vs OOS metric."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = ["walk_forward_figure"]


def walk_forward_figure(
    equity: pd.Series,
    boundaries: Sequence[pd.Timestamp],
    is_metric: Sequence[float] | np.ndarray,
    oos_metric: Sequence[float] | np.ndarray,
    *,
    metric: str = "sharpe",
    benchmark: pd.Series | None = None,
    title: str = "",
    log: bool = False,
) -> go.Figure:
    """Two stacked panels of a walk-forward analysis.

    Parameters
    ----------
    equity : Series
        Stitched out-of-sample equity.
    boundaries : sequence of Timestamp
        First bar of each test window (drawn as vertical dotted lines, trace ``fold boundaries``).
    is_metric, oos_metric : sequence of float
        The optimized metric per fold, in-sample and out-of-sample.
    metric : str
        Name of the metric (axis and trace labels).
    benchmark : Series, optional
        Buy-and-hold over the same windows.
    title : str
        Figure title.
    log : bool
        Log-scale equity axis.

    Returns
    -------
    plotly.graph_objects.Figure
        Row 1: traces ``OOS equity``, ``buy & hold`` (if given) and ``fold boundaries``;
        row 2: bars ``in-sample <metric>`` and ``out-of-sample <metric>``, one pair per fold
        (x = ``fold 0``, ``fold 1``...).
    """
    fig = make_subplots(rows=2, cols=1, vertical_spacing=0.12, row_heights=[0.65, 0.35],
                        subplot_titles=("Stitched out-of-sample equity",
                                        f"{metric}: in-sample vs out-of-sample per fold"))
    fig.add_trace(go.Scatter(x=equity.index, y=equity.to_numpy(), name="OOS equity",
                             line={"width": 1.6, "color": "#1f77b4"}), row=1, col=1)
    lows, highs = [float(equity.min())], [float(equity.max())]
    if benchmark is not None:
        fig.add_trace(go.Scatter(x=benchmark.index, y=benchmark.to_numpy(), name="buy & hold",
                                 line={"width": 1.0, "color": "#7f7f7f"}), row=1, col=1)
        lows.append(float(benchmark.min()))
        highs.append(float(benchmark.max()))
    lo, hi = min(lows), max(highs)
    xs: list[object] = []
    ys: list[float | None] = []
    for b in boundaries:
        xs += [b, b, None]
        ys += [lo, hi, None]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="fold boundaries",
                             line={"width": 1, "dash": "dot", "color": "#999999"},
                             hoverinfo="skip"), row=1, col=1)
    labels = [f"fold {i}" for i in range(len(is_metric))]
    fig.add_trace(go.Bar(x=labels, y=np.asarray(is_metric, float), name=f"in-sample {metric}",
                         marker_color="#ff7f0e"), row=2, col=1)
    fig.add_trace(go.Bar(x=labels, y=np.asarray(oos_metric, float),
                         name=f"out-of-sample {metric}", marker_color="#1f77b4"), row=2, col=1)
    fig.update_layout(title=title, template="plotly_white", height=700, barmode="group",
                      hovermode="x unified")
    fig.update_yaxes(title_text="equity", type="log" if log else "linear", row=1, col=1)
    fig.update_yaxes(title_text=metric, row=2, col=1)
    return fig
