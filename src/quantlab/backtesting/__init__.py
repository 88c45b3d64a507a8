"""Vectorized backtesting on vectorbt: honest fills, fees, slippage, sizing, stops, sweeps.

The package is ``quantlab.backtesting``; its entry points are re-exported at the top level as
``quantlab.backtest(strategy, data, **options)`` and ``quantlab.sweep(...)``.
"""

from __future__ import annotations

from quantlab.backtesting.engine import backtest
from quantlab.backtesting.metrics import STAT_NAMES
from quantlab.backtesting.options import BacktestOptions
from quantlab.backtesting.result import BacktestResult
from quantlab.backtesting.sweep import SweepResult, sweep

__all__ = ["STAT_NAMES", "BacktestOptions", "BacktestResult", "SweepResult", "backtest", "sweep"]
