"""Report output: self-contained HTML pages, notebook reports and the nightly report set.

* :func:`record` — a notebook's headline figures into ``metrics.json`` (in memory when run
  interactively);
* :func:`run_notebook` — one notebook through papermill + nbconvert (``quantlab report run``);
* :func:`run_nightly` — the configured set of reports into ``reports/<date>/`` with an index
  (``quantlab report nightly``);
* :func:`nightly_history` — every night's status and figures as one table;
* :func:`morning_summary` — the morning view of one portfolio and its strategies (nightly.ipynb);
* :func:`write_report` — an HTML page of figures and tables.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from quantlab.reports.html import write_report
from quantlab.reports.metrics import record, recorded

__all__ = ["MorningSummary", "NightlyRun", "ReportRun", "morning_summary", "nightly_history", "record",
           "recorded", "run_nightly", "run_notebook", "write_report"]

_LAZY = {"ReportRun": "quantlab.reports.runner", "run_notebook": "quantlab.reports.runner",
         "nightly_history": "quantlab.reports.history",
         "NightlyRun": "quantlab.reports.nightly", "run_nightly": "quantlab.reports.nightly",
         "MorningSummary": "quantlab.reports.summary", "morning_summary": "quantlab.reports.summary"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'quantlab.reports' has no attribute {name!r}")
