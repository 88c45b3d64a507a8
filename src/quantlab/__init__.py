"""quantlab — Jupyter-first research, backtesting and risk toolkit for crypto markets."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from quantlab.errors import QuantlabError

__version__ = "0.1.0"

# Heavy modules (vectorbt, numba) load on first use so `quantlab --help` stays fast.
_LAZY = {
    "load_sample": "quantlab.data",
    "load": "quantlab.data",
    "check_quality": "quantlab.data",
    "Strategy": "quantlab.strategies",
    "Param": "quantlab.strategies",
    "Signals": "quantlab.strategies",
    "TargetWeights": "quantlab.strategies",
    "get_strategy": "quantlab.strategies",
    "backtest": "quantlab.backtesting",
    "sweep": "quantlab.backtesting",
    "BacktestResult": "quantlab.backtesting",
    "SweepResult": "quantlab.backtesting",
    "walk_forward": "quantlab.backtesting",
    "WalkForwardResult": "quantlab.backtesting",
    "value_at_risk": "quantlab.risk",
    "rolling_var": "quantlab.risk",
    "var_backtest": "quantlab.risk",
    "stress_test": "quantlab.risk",
}

__all__ = ["QuantlabError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'quantlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
