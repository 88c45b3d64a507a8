"""Report output: self-contained HTML pages of plotly figures and tables."""

from quantlab.reports.html import write_report

__all__ = ["write_report"]
