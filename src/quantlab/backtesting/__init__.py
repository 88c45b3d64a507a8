"""Backtesting on one event-ordered numba simulator: honest fills, fees, sizing, stops, sweeps.

The package is ``quantlab.backtesting``; its entry points are re-exported at the top level as
``quantlab.backtest(strategy, data, **options)``, ``quantlab.sweep(...)`` and
``quantlab.walk_forward(...)``.
"""

from __future__ import annotations

from quantlab.backtesting.engine import backtest
from quantlab.backtesting.metrics import STAT_NAMES
from quantlab.backtesting.options import BacktestOptions
from quantlab.backtesting.result import BacktestResult
from quantlab.backtesting.sweep import SweepResult, sweep
from quantlab.backtesting.walk_forward import WalkForwardResult, walk_forward

__all__ = ["STAT_NAMES", "BacktestOptions", "BacktestResult", "SweepResult", "WalkForwardResult",
           "backtest", "sweep", "walk_forward"]
