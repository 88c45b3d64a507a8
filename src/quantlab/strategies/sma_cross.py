"""Moving-average crossover: long while the fast SMA is above the slow SMA."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from quantlab.errors import ParameterError
from quantlab.strategies.base import Param, Signals, Strategy
from quantlab.strategies.indicators import crossed_above, crossed_below, sma
from quantlab.strategies.registry import register

__all__ = ["SmaCross"]


@register
class SmaCross(Strategy):
    """Fast/slow simple-moving-average crossover (long only).

    Entries are crossover *events*: bar ``t`` enters when ``fast_sma[t-1] <= slow_sma[t-1]``
    and ``fast_sma[t] > slow_sma[t]``; exits when it crosses back below
    (``fast_sma[t-1] >= slow_sma[t-1]`` and ``fast_sma[t] < slow_sma[t]``). Because they are
    events, a position closed by a stop is not re-entered until the next crossover.

    The slow SMA first exists at bar ``slow - 1`` (0-based) and a crossover needs the previous
    bar as well, so the first possible signal is at bar ``slow``: ``warmup() == slow``.
    """

    name = "sma_cross"
    warmup_doc: ClassVar[str] = "slow"

    fast = Param(10, low=1, high=1000, doc="fast SMA window (bars)", grid=(5, 50, 5))
    slow = Param(50, low=2, high=2000, doc="slow SMA window (bars)", grid=(20, 200, 10))

    def validate(self) -> None:
        if self.fast >= self.slow:
            raise ParameterError(
                f"{self.label()}: fast ({self.fast}) must be smaller than slow ({self.slow})"
            )

    def warmup(self) -> int:
        return int(self.slow)

    def signals(self, bars: pd.DataFrame) -> Signals:
        close = bars["close"]
        fast = sma(close, self.fast)
        slow = sma(close, self.slow)
        return Signals(entries=crossed_above(fast, slow), exits=crossed_below(fast, slow))

    @classmethod
    def batch_signals(cls, bars: pd.DataFrame, runs: list[Strategy]) -> Signals | None:
        """Sweep fast path: each distinct window's SMA computed once, crossovers in numpy.

        Uses the same :func:`sma` as :meth:`signals` and the same comparisons as
        :func:`crossed_above`/:func:`crossed_below`, so column ``i`` equals
        ``runs[i].signals(bars)`` exactly.
        """
        close = bars["close"]
        if not isinstance(close, pd.Series):
            return None
        windows = sorted({r.fast for r in runs} | {r.slow for r in runs})
        ma = {w: sma(close, w).to_numpy() for w in windows}
        f = np.column_stack([ma[r.fast] for r in runs])
        s = np.column_stack([ma[r.slow] for r in runs])
        pad = np.full((1, f.shape[1]), np.nan)
        fp, sp = np.vstack([pad, f[:-1]]), np.vstack([pad, s[:-1]])
        with np.errstate(invalid="ignore"):
            entries = (f > s) & (fp <= sp)
            exits = (f < s) & (fp >= sp)
        cols = pd.RangeIndex(len(runs), name="run")
        return Signals(entries=pd.DataFrame(entries, index=close.index, columns=cols),
                       exits=pd.DataFrame(exits, index=close.index, columns=cols))
