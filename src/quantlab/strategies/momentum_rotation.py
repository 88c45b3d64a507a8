"""Cross-sectional momentum rotation: hold the top-k assets by trailing return."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from quantlab.strategies.base import Param, Strategy, TargetWeights
from quantlab.strategies.registry import register

__all__ = ["MomentumRotation"]


@register
class MomentumRotation(Strategy):
    """Momentum rotation: periodically hold the top_k assets by trailing return, equal weight.

    On rebalance bars ``t`` -- bars at or after position ``lookback`` whose bar number since
    the Unix epoch (open time // bar length) is a multiple of ``rebalance`` -- each asset
    with a full history (``lookback + 1`` valid closes ending at ``t``) is scored by its
    trailing return ``close[t] / close[t - lookback] - 1``. The ``top_k`` assets with a score
    above ``min_momentum`` get weight ``1 / top_k`` each; everything else gets 0, and slots
    that no asset qualifies for stay in cash (rows sum to at most 1). Ties are broken by
    column order. Rows between rebalances, and before ``warmup() == lookback``, are NaN
    ("no change"). A single-asset frame gives a one-column DataFrame named after
    ``bars.attrs["symbol"]`` (or ``"close"``).

    The schedule is anchored to the calendar, not to the first bar of ``bars``: a live runner
    calling ``signals`` on a rolling window rebalances on the same dates as the backtest
    (daily bars with ``rebalance=7`` rebalance every Thursday, as 1970-01-01 was one).
    """

    name = "momentum_rotation"
    kind = "weights"
    multi_asset = True
    warmup_doc: ClassVar[str] = "lookback"

    lookback = Param(90, low=1, high=2000, doc="trailing-return window (bars)", grid=(30, 180, 15))
    top_k = Param(3, low=1, high=1000, doc="number of assets held", grid=(1, 5, 1))
    rebalance = Param(7, low=1, high=1000, doc="bars between rebalances", grid=(1, 30, 1))
    min_momentum = Param(
        0.0, low=-1.0, high=100.0, doc="minimum trailing return to be held", grid=(0.0, 0.2, 0.05)
    )

    def warmup(self) -> int:
        return int(self.lookback)

    def signals(self, bars: pd.DataFrame) -> TargetWeights:
        close = bars["close"]
        if isinstance(close, pd.Series):
            close = close.to_frame(name=bars.attrs.get("symbol", close.name or "close"))
        n = self.lookback
        full = close.notna().astype("int64").rolling(n + 1, min_periods=n + 1).sum() == n + 1
        momentum = (close / close.shift(n) - 1.0).where(full)
        eligible = momentum > self.min_momentum
        rank = momentum.where(eligible).rank(axis=1, method="first", ascending=False)
        held = (rank <= self.top_k) & eligible
        weights = held.astype("float64") / float(self.top_k)
        pos = np.arange(len(close))
        stamps = close.index.asi8
        step = int(np.median(np.diff(stamps))) if len(stamps) > 1 else 1
        on = (pos >= n) & ((stamps // max(step, 1)) % self.rebalance == 0)
        weights.loc[~on, :] = np.nan
        return TargetWeights(weights)
