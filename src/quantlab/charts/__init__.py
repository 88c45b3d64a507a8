"""Plotly figures (no computation beyond reshaping)."""

from quantlab.charts.backtest import backtest_figure
from quantlab.charts.sweep import heatmap_figure

__all__ = ["backtest_figure", "heatmap_figure", "init_notebook"]


def init_notebook(renderer: str = "notebook") -> None:
    """Set plotly's renderer so figures survive papermill/nbconvert into offline HTML.

    The default ``plotly_mimetype`` renders blank after nbconvert; ``"notebook"`` embeds
    plotly.js once in the notebook, so exported HTML reports work without a network.

    Parameters
    ----------
    renderer : str
        Plotly renderer name (default ``"notebook"``).
    """
    import plotly.io as pio

    pio.renderers.default = renderer
