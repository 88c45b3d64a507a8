"""Plotly figures (no computation beyond reshaping)."""

from quantlab.charts.backtest import backtest_figure
from quantlab.charts.sweep import heatmap_figure

__all__ = ["backtest_figure", "heatmap_figure"]
