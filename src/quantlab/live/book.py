"""The runner's running account figures: equity, peak, the UTC day's starting equity, rejects.

What the circuit breaker and the risk guard measure against — drawdown from the peak equity,
loss since the start of the UTC day, consecutive refused orders — kept between bars and saved in
the state file (``meta["book"]``) so a restart continues the same peak and day.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AccountBook"]

DAY_MS = 86_400_000


def _num(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


@dataclass
class AccountBook:
    """Equity bookkeeping between bars.

    Attributes
    ----------
    equity, cash : float
        After the last bar.
    peak : float
        Highest equity seen (reset by an operator's resume).
    day, day_start : int, float
        UTC day number of the last bar and the equity at that day's start (the previous close).
    rejects : int
        Orders refused in a row (risk guard on paper, the exchange live).
    equities : deque of float
        Recent equities (realized volatility).
    """

    equity: float = math.nan
    cash: float = math.nan
    peak: float = math.nan
    day: int = -1
    day_start: float = math.nan
    rejects: int = 0
    equities: deque[float] = field(default_factory=lambda: deque(maxlen=512))

    def update(self, bar_ms: int, equity: float, cash: float) -> None:
        """Record the equity after the bar opened at ``bar_ms``."""
        self.equity, self.cash = float(equity), float(cash)
        self.peak = self.equity if not math.isfinite(self.peak) else max(self.peak, self.equity)
        day = int(bar_ms) // DAY_MS
        if day != self.day:
            self.day_start = self.equities[-1] if self.equities else self.equity
            self.day = day
        self.equities.append(self.equity)

    @property
    def drawdown(self) -> float:
        """Fraction below the peak equity (0 at a new high)."""
        if not (self.peak > 0 and math.isfinite(self.equity)):
            return 0.0
        return max(1.0 - self.equity / self.peak, 0.0)

    @property
    def daily_loss(self) -> float:
        """Fraction lost since the UTC day's start (0 when up)."""
        if not (self.day_start > 0 and math.isfinite(self.equity)):
            return 0.0
        return max(1.0 - self.equity / self.day_start, 0.0)

    def accept_loss(self) -> None:
        """An operator resumed: drawdown and daily loss count from the current equity."""
        if math.isfinite(self.equity):
            self.peak = self.day_start = self.equity

    def to_meta(self) -> dict[str, Any]:
        """What the state file keeps."""
        return {"peak": _num(self.peak), "day": self.day, "day_start": _num(self.day_start),
                "rejects": self.rejects}

    def restore(self, meta: dict[str, Any] | None, last: dict[str, float] | None) -> None:
        """Continue from a state file's ``meta["book"]`` and last equity snapshot."""
        meta = meta or {}
        self.peak = float(meta.get("peak") or math.nan)
        self.day = int(meta.get("day", -1))
        self.day_start = float(meta.get("day_start") or math.nan)
        self.rejects = int(meta.get("rejects", 0))
        if last:
            self.equity, self.cash = float(last["equity"]), float(last["cash"])
            self.equities.append(self.equity)
