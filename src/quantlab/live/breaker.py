"""Three-level circuit breaker: warn → reduce-only → flatten and halt.

Levels (:class:`BreakerLevel`): ``OK`` (trade), ``WARN`` (trade, alert), ``REDUCE_ONLY`` (only
orders that shrink exposure) and ``HALTED`` (only the flattening orders; the runner closes
every position and stops deciding).

Each trigger of :class:`~quantlab.live.config.BreakerTriggers` — drawdown, daily loss, VaR,
realized volatility, consecutive rejects, data staleness — has ``(warn, reduce, halt)``
thresholds (``None`` = off); a metric at or above a threshold implies that level.
:meth:`Breaker.evaluate` takes the worst level implied by any trigger and

- escalates at once (straight to ``HALTED`` if a halt threshold is reached);
- de-escalates ``WARN``/``REDUCE_ONLY`` to the implied level only with ``auto_recover``;
- never leaves ``HALTED`` by itself: a halt latches until an operator calls
  :meth:`Breaker.resume` (the runner persists the level, so a halt survives restarts).

:meth:`Breaker.halt` is the manual kill switch (API, SIGUSR1, halt file). Each change is
returned as a :class:`BreakerChange` with a reason naming the trigger and its value, e.g.
``drawdown 16.2% >= reduce 15.0%``, for the runner to store and audit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from quantlab._validate import check_range
from quantlab.errors import ParameterError
from quantlab.live.config import BreakerTriggers
from quantlab.live.types import OrderIntent

__all__ = ["SOURCES", "Breaker", "BreakerChange", "BreakerInputs", "BreakerLevel",
           "realized_vol"]

#: Who changed the level.
SOURCES = ("auto", "operator", "signal", "halt_file", "api", "reconcile")


class BreakerLevel(IntEnum):
    """Circuit-breaker level (higher is more restrictive)."""

    OK = 0
    WARN = 1
    REDUCE_ONLY = 2
    HALTED = 3


@dataclass(frozen=True)
class BreakerInputs:
    """The metrics one evaluation looks at.

    Attributes
    ----------
    drawdown : float
        Fraction below peak equity.
    daily_loss : float
        Loss since the UTC day start, as a fraction of that day's starting equity.
    var : float
        One-bar EWMA VaR of the positions, fraction of equity.
    realized_vol : float
        Annualized volatility of the equity curve (NaN: not enough history, ignored).
    consecutive_rejects : int
        Orders refused in a row.
    staleness_bars : float
        Bars the data is behind the last closed bar.
    """

    drawdown: float = 0.0
    daily_loss: float = 0.0
    var: float = 0.0
    realized_vol: float = math.nan
    consecutive_rejects: int = 0
    staleness_bars: float = 0.0


@dataclass(frozen=True)
class BreakerChange:
    """One change of level: ``old`` → ``new``, why, and who (one of :data:`SOURCES`)."""

    old: BreakerLevel
    new: BreakerLevel
    reason: str
    source: str


#: Trigger name -> how its value is shown in a reason.
_PERCENT = {"drawdown", "daily_loss", "var", "realized_vol"}
_TRIGGERS = ("drawdown", "daily_loss", "var", "realized_vol", "consecutive_rejects",
             "staleness_bars")
_STEP = ("warn", "reduce", "halt")


def _show(name: str, x: float) -> str:
    return f"{x:.1%}" if name in _PERCENT else f"{x:g}"


class Breaker:
    """The circuit breaker of one runner (module docstring).

    Parameters
    ----------
    triggers : BreakerTriggers
        Thresholds and ``auto_recover``.
    level : int
        Starting level (the one the store saved; ``HALTED`` stays halted).
    reason : str
        Why the breaker is at ``level``.

    Attributes
    ----------
    level : BreakerLevel
        Current level.
    reason : str
        Why it is there.
    """

    def __init__(self, triggers: BreakerTriggers, level: int = 0, reason: str = "") -> None:
        if not isinstance(triggers, BreakerTriggers):
            raise ParameterError(
                f"triggers must be a BreakerTriggers, not {type(triggers).__name__}")
        try:
            self.level = BreakerLevel(int(level))
        except (TypeError, ValueError):
            raise ParameterError(f"breaker level={level!r} must be one of 0 (ok), 1 (warn), "
                                 f"2 (reduce_only), 3 (halted)") from None
        self.triggers = triggers
        self.reason = str(reason)

    @property
    def halted(self) -> bool:
        """True while the breaker is ``HALTED``."""
        return self.level == BreakerLevel.HALTED

    def implied(self, x: BreakerInputs) -> tuple[BreakerLevel, str]:
        """The level the metrics imply on their own, and the reason of the worst trigger.

        Ties go to the first trigger in the order drawdown, daily_loss, var, realized_vol,
        consecutive_rejects, staleness_bars. The reason is empty at ``OK``.
        """
        worst, why = BreakerLevel.OK, ""
        for name in _TRIGGERS:
            value = float(getattr(x, name))
            if not math.isfinite(value):
                continue
            thresholds = getattr(self.triggers, name)
            for step in (2, 1, 0):
                limit = thresholds[step]
                if limit is not None and value >= limit:
                    if step + 1 > worst:
                        worst = BreakerLevel(step + 1)
                        why = (f"{name} {_show(name, value)} >= {_STEP[step]} "
                               f"{_show(name, limit)}")
                    break
        return worst, why

    def evaluate(self, x: BreakerInputs) -> BreakerChange | None:
        """Move to the level the metrics imply (escalate at once; recover only with
        ``auto_recover``; ``HALTED`` latches).

        Returns
        -------
        BreakerChange or None
            The change made (source ``"auto"``), or None when the level stays.
        """
        if self.halted:
            return None
        target, why = self.implied(x)
        if target == self.level:
            return None
        if target < self.level and not self.triggers.auto_recover:
            return None
        if target < self.level and not why:
            why = "recovered: no trigger reached"
        elif target < self.level:
            why = f"recovered to {target.name.lower()}: {why}"
        return self._set(target, why, "auto")

    def halt(self, reason: str, source: str = "operator") -> BreakerChange | None:
        """Halt now (kill switch): flatten and stop until :meth:`resume`.

        Returns None when already halted (the first reason is kept).
        """
        _check_source(source)
        if self.halted:
            return None
        return self._set(BreakerLevel.HALTED, str(reason) or "halted", source)

    def resume(self, source: str = "operator") -> BreakerChange | None:
        """Back to ``OK`` from any level (the next :meth:`evaluate` may raise it again).

        Returns None when already ``OK``.
        """
        _check_source(source)
        if self.level == BreakerLevel.OK:
            return None
        return self._set(BreakerLevel.OK, f"resumed by {source}", source)

    def allows(self, intent: OrderIntent) -> bool:
        """Whether an intent may be sent at the current level.

        ``OK``/``WARN``: every intent; ``REDUCE_ONLY``: only ``reduce_only`` intents;
        ``HALTED``: only intents with ``leg == "flatten"``.
        """
        if self.level <= BreakerLevel.WARN:
            return True
        if self.level == BreakerLevel.REDUCE_ONLY:
            return bool(intent.reduce_only)
        return intent.leg == "flatten"

    def _set(self, new: BreakerLevel, reason: str, source: str) -> BreakerChange:
        change = BreakerChange(old=self.level, new=new, reason=reason, source=source)
        self.level, self.reason = new, reason
        return change


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise ParameterError(f"source={source!r} must be one of: {', '.join(SOURCES)}")


def realized_vol(equity: Sequence[float] | np.ndarray, lookback: int,
                 periods_per_year: float) -> float:
    """Annualized volatility of an equity curve.

    Parameters
    ----------
    equity : sequence of float
        Equity values, oldest first.
    lookback : int
        Equity points used (the last ``lookback``; ``lookback - 1`` returns), >= 3.
    periods_per_year : float
        Bars per year (365 for daily crypto bars).

    Returns
    -------
    float
        ``std(simple returns, ddof=1) x sqrt(periods_per_year)``; NaN when fewer than
        ``lookback`` points are available or a value is not positive and finite.
    """
    lookback = check_range(lookback, "lookback", 3, integer=True)
    ppy = check_range(periods_per_year, "periods_per_year", 0, open_low=True)
    values = np.asarray(equity, dtype="float64")
    if values.ndim != 1:
        raise ParameterError(f"equity must be one-dimensional, got shape {values.shape}")
    if len(values) < lookback:
        return math.nan
    window = values[-lookback:]
    if not (np.all(np.isfinite(window)) and np.all(window > 0)):
        return math.nan
    returns = window[1:] / window[:-1] - 1.0
    return float(np.std(returns, ddof=1) * math.sqrt(ppy))
