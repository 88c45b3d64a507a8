"""Donchian channel breakout (turtle-style)."""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd

from quantlab.strategies.base import Param, Signals, Strategy
from quantlab.strategies.indicators import rolling_max, rolling_min
from quantlab.strategies.registry import register

__all__ = ["DonchianBreakout"]


@register
class DonchianBreakout(Strategy):
    """Donchian channel breakout: long above the prior entry-bar high, out below the exit-bar low.

    - long entry on bar ``t`` when ``close[t] > max(high[t-entry .. t-1])`` (the channel of
      the previous ``entry`` bars, *excluding* bar ``t``);
    - long exit when ``close[t] < min(low[t-exit .. t-1])``.

    With ``shorts=True`` the mirror image is emitted as well: short entry when
    ``close[t] < min(low[t-entry .. t-1])``, short exit when ``close[t] > max(high[t-exit ..
    t-1])``. These are *states* checked on every bar (a close beyond the channel), as in the
    original turtle rules. The class attribute ``DonchianBreakout.shorts`` is True ("can emit
    shorts"); on an instance ``strategy.shorts`` is the parameter value.

    The first channel needs ``max(entry, exit)`` earlier bars: ``warmup() == max(entry, exit)``.
    """

    name = "donchian_breakout"
    warmup_doc: ClassVar[str] = "max(entry, exit)"

    entry = Param(20, low=1, high=1000, doc="breakout channel length (bars)", grid=(10, 100, 5))
    exit = Param(10, low=1, high=1000, doc="exit channel length (bars)", grid=(5, 50, 5))
    shorts = Param(False, doc="also trade the symmetric short breakout")

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        # instance attribute shadows the ClassVar flag: does *this* instance emit shorts?
        self.shorts = bool(self._values["shorts"])

    def warmup(self) -> int:
        return int(max(self.entry, self.exit))

    def signals(self, bars: pd.DataFrame) -> Signals:
        close, high, low = bars["close"], bars["high"], bars["low"]
        upper_entry = rolling_max(high, self.entry).shift(1)
        lower_exit = rolling_min(low, self.exit).shift(1)
        out = Signals(entries=close > upper_entry, exits=close < lower_exit)
        if self._values["shorts"]:
            lower_entry = rolling_min(low, self.entry).shift(1)
            upper_exit = rolling_max(high, self.exit).shift(1)
            out.short_entries = close < lower_entry
            out.short_exits = close > upper_exit
        return out


# The parameter named ``shorts`` replaced the class attribute while the class was created;
# restore the capability flag at class level.
DonchianBreakout.shorts = True
