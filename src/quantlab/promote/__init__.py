"""Checks a strategy passes before it is promoted from research: overfitting statistics, ...

:mod:`quantlab.promote.overfit` — deflated Sharpe ratio (Bailey and López de Prado 2014) and
probability of backtest overfitting by CSCV (Bailey, Borwein, López de Prado and Zhu 2017).
"""

from quantlab.promote.overfit import (
    DeflatedSharpeResult,
    PBOResult,
    deflated_sharpe,
    expected_max_sharpe,
    pbo,
    probabilistic_sharpe,
)

__all__ = [
    "DeflatedSharpeResult",
    "PBOResult",
    "deflated_sharpe",
    "expected_max_sharpe",
    "pbo",
    "probabilistic_sharpe",
]
