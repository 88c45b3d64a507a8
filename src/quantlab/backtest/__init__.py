"""Vectorized backtesting on vectorbt: honest fills, fees, slippage, sizing, stops, sweeps.

``quantlab.backtest`` is both this package and the function that runs a backtest:
``quantlab.backtest(strategy, data, **options)`` calls :func:`backtest`.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from quantlab.backtest.engine import backtest
from quantlab.backtest.metrics import STAT_NAMES
from quantlab.backtest.options import BacktestOptions
from quantlab.backtest.result import BacktestResult
from quantlab.backtest.sweep import SweepResult, sweep

__all__ = ["STAT_NAMES", "BacktestOptions", "BacktestResult", "SweepResult", "backtest", "sweep"]


class _CallableModule(types.ModuleType):
    """Lets ``quantlab.backtest(...)`` work although ``quantlab.backtest`` is a package."""

    def __call__(self, *args: Any, **kwargs: Any) -> BacktestResult:
        return backtest(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
