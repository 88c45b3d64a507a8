"""Strategies: the :class:`Strategy` contract, the registry and the built-in strategies.

>>> from quantlab.strategies import get_strategy
>>> get_strategy("sma_cross")(fast=5, slow=20)
SmaCross(fast=5, slow=20)
"""

from __future__ import annotations

from quantlab.strategies import indicators
from quantlab.strategies.base import Param, Signals, Strategy, TargetWeights
from quantlab.strategies.donchian import DonchianBreakout
from quantlab.strategies.loader import load_from_file, load_from_module
from quantlab.strategies.momentum_rotation import MomentumRotation
from quantlab.strategies.regime import MarkovRegime
from quantlab.strategies.registry import (
    get_strategy,
    list_strategies,
    register,
    strategy_classes,
    strategy_info,
)
from quantlab.strategies.rsi_reversion import RsiReversion
from quantlab.strategies.sma_cross import SmaCross
from quantlab.strategies.vol_target import VolTarget, vol_target_size, with_vol_target

__all__ = [
    "DonchianBreakout",
    "MarkovRegime",
    "MomentumRotation",
    "Param",
    "RsiReversion",
    "Signals",
    "SmaCross",
    "Strategy",
    "TargetWeights",
    "VolTarget",
    "get_strategy",
    "indicators",
    "list_strategies",
    "load_from_file",
    "load_from_module",
    "register",
    "strategy_classes",
    "strategy_info",
    "vol_target_size",
    "with_vol_target",
]
