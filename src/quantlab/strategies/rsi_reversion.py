"""RSI mean reversion: buy oversold, sell overbought."""

from __future__ import annotations

import math
from typing import ClassVar

import pandas as pd

from quantlab.errors import ParameterError
from quantlab.strategies.base import Param, Signals, Strategy
from quantlab.strategies.indicators import crossed_above, crossed_below, rsi
from quantlab.strategies.registry import register

__all__ = ["RsiReversion"]


@register
class RsiReversion(Strategy):
    """Wilder-RSI mean reversion: enter when RSI turns oversold, exit when it turns overbought.

    Rule (the classic oversold/overbought reading of Wilder's RSI, long only):

    - entry on bar ``t`` when ``rsi[t-1] >= lower`` and ``rsi[t] < lower`` (RSI *becomes*
      oversold); with ``confirm=True`` the entry waits for the recovery instead:
      ``rsi[t-1] <= lower`` and ``rsi[t] > lower`` (RSI crosses back above ``lower``);
    - exit on bar ``t`` when ``rsi[t-1] <= upper`` and ``rsi[t] > upper`` (RSI becomes
      overbought).

    Signals are crossing events, so a stopped-out position is not re-entered while RSI stays
    oversold. RSI is Wilder's (seeded with a simple mean, then ``alpha = 1/window``); its
    first value is at bar ``window`` and a crossing needs the bar before. Wilder smoothing has
    long memory: computed from a shorter history, RSI converges to the full-history value as
    ``(1 - 1/window)**n``, so ``warmup()`` declares the ``window + 1`` bars plus the
    ``n = ceil(ln(1e-9) / ln(1 - 1/window))`` bars after which the seed's weight is below
    1e-9 (295 bars for window 14). The promote gate measures what the signals really need
    (102 bars on the bundled BTC sample) and checks it against this.
    """

    name = "rsi_reversion"
    warmup_doc: ClassVar[str] = "window + 1 + ceil(ln(1e-9) / ln(1 - 1/window))"

    window = Param(14, low=2, high=500, doc="Wilder RSI period (bars)", grid=(5, 30, 1))
    lower = Param(30.0, low=0.0, high=100.0, doc="oversold level", grid=(10.0, 40.0, 5.0))
    upper = Param(70.0, low=0.0, high=100.0, doc="overbought level", grid=(60.0, 90.0, 5.0))
    confirm = Param(False, doc="enter when RSI crosses back above lower instead of below it")

    def validate(self) -> None:
        if self.lower >= self.upper:
            raise ParameterError(
                f"{self.label()}: lower ({self.lower:g}) must be smaller than upper "
                f"({self.upper:g})"
            )

    def warmup(self) -> int:
        w = int(self.window)
        return w + 1 + math.ceil(math.log(1e-9) / math.log(1.0 - 1.0 / w))

    def signals(self, bars: pd.DataFrame) -> Signals:
        r = rsi(bars["close"], self.window)
        entries = crossed_above(r, self.lower) if self.confirm else crossed_below(r, self.lower)
        return Signals(entries=entries, exits=crossed_above(r, self.upper))
