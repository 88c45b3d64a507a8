"""Rebalancing policies: when to look at the portfolio, when to re-estimate the target, how far to trade.

A policy answers three questions for :func:`quantlab.portfolio.rebalance_backtest.backtest_rebalancing`:

1. **On which bars is the portfolio checked?** (``check``: ``"bar"`` = every bar, ``"daily"``,
   ``"weekly"`` or ``"monthly"`` = the first bar of each day / Monday-based week / calendar
   month, in UTC).
2. **On which bars is the target re-estimated?** (``reestimate``; the target is always estimated
   from returns up to the previous close, see the backtest module).
3. **Given the current weights ``w`` (at the previous close) and the target ``t``, trade or not,
   and how far?** :meth:`Policy.decide` returns a fraction ``k`` in [0, 1]: the new weights are
   ``w + k (t - w)`` (``k = 1`` trades all the way back to target, ``k = 0`` does nothing).
   Moving along the straight line to the target keeps the portfolio fully invested.

Drift of asset *i* is ``|w_i - t_i|`` (absolute bands) or ``|w_i - t_i| / |t_i|`` (relative
bands, e.g. ``band=0.2`` lets a 25 % target float between 20 % and 30 %; a zero target falls
back to the absolute drift).

Policies
--------
:class:`Calendar`
    Rebalance to target on the first bar of each month/week; with ``band`` only when some asset
    has drifted outside its band on that date.
:class:`Threshold`
    Check every bar; when any asset is outside its band, trade everything back to target.
:class:`CostAware`
    A no-trade region with proportional costs: check every bar, and when any asset is outside
    its band trade only *to the edge of the band* (the smallest move along the line to target
    that brings every asset back inside), or a fixed fraction of the way (``to=0.5`` = halfway).
    Trading to the boundary rather than to the centre is the optimal policy under proportional
    transaction costs (Leland 1999; Donohue & Yip 2003): the last bit of drift costs fees and
    buys almost no reduction in tracking error. Turnover is never higher than that of
    :class:`Threshold` with the same band on the same path, at the cost of more tracking error.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from quantlab._validate import check_choice, check_range
from quantlab.errors import ParameterError

__all__ = ["FREQUENCIES", "Calendar", "CostAware", "Policy", "Threshold", "resolve_policy"]

#: Check / re-estimation frequencies.
FREQUENCIES = ("bar", "daily", "weekly", "monthly")


def _check_freq(value: Any, name: str) -> str:
    return check_choice(value.lower() if isinstance(value, str) else value, name, FREQUENCIES)


def _check_band(band: Any, name: str = "band", *, allow_none: bool = True) -> float | None:
    if band is None:
        if allow_none:
            return None
        raise ParameterError(f"{name} is required (a drift tolerance such as 0.05)")
    return check_range(band, name, 0, open_low=True, hint="e.g. 0.05", coerce=True)


def period_starts(index: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """Boolean mask of the bars that open a new period (the first bar is always True).

    Parameters
    ----------
    index : DatetimeIndex
        Bar times (sorted).
    freq : {"bar", "daily", "weekly", "monthly"}
        ``bar`` marks every bar; ``daily`` the first bar of each calendar day (every bar for
        daily data).

    Returns
    -------
    ndarray of bool
    """
    freq = _check_freq(freq, "freq")
    idx = pd.DatetimeIndex(index)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    if freq == "bar":
        return np.ones(len(idx), dtype=bool)
    if freq == "monthly":
        key = idx.year.to_numpy() * 12 + idx.month.to_numpy()
    elif freq == "weekly":
        # Monday-based weeks: days since the epoch's Monday, integer-divided by 7
        days = (idx.normalize() - pd.Timestamp("1970-01-05")).days.to_numpy()
        key = np.floor_divide(days, 7)
    else:
        key = (idx.normalize() - pd.Timestamp("1970-01-01")).days.to_numpy()
    out = np.ones(len(idx), dtype=bool)
    if len(idx) > 1:
        out[1:] = key[1:] != key[:-1]
    return out


@dataclass(frozen=True)
class Policy:
    """A rebalancing policy (see the module docstring).

    Parameters
    ----------
    check : {"bar", "daily", "weekly", "monthly"}
        Bars on which the portfolio is looked at.
    reestimate : {"bar", "daily", "weekly", "monthly"} or None
        Bars on which the target is re-estimated; None = on every checked bar.
    band : float or None
        Drift tolerance; None = trade on every checked bar.
    relative : bool
        Bands relative to the target weight instead of absolute weight points.
    to : "target", "edge" or float
        How far to trade once triggered: all the way (``"target"``), to the band edge
        (``"edge"``, needs ``band``) or a fixed fraction in (0, 1].
    """

    check: str = "monthly"
    reestimate: str | None = None
    band: float | None = None
    relative: bool = False
    to: str | float = "target"

    def __post_init__(self) -> None:
        object.__setattr__(self, "check", _check_freq(self.check, "check"))
        if self.reestimate is not None:
            object.__setattr__(self, "reestimate", _check_freq(self.reestimate, "reestimate"))
        object.__setattr__(self, "band", _check_band(self.band))
        if not isinstance(self.relative, bool | np.bool_):
            raise ParameterError(f"relative={self.relative!r} must be True or False")
        to = self.to
        if isinstance(to, str):
            if to not in ("target", "edge"):
                raise ParameterError(f"to={to!r} must be 'target', 'edge' or a fraction in (0, 1]")
            if to == "edge" and self.band is None:
                raise ParameterError("to='edge' needs a band (the edge of the no-trade region)")
        else:
            frac = check_range(to, "to", 0, 1, open_low=True, hint="or 'target' or 'edge'",
                               coerce=True)
            object.__setattr__(self, "to", frac)

    # -- schedule --------------------------------------------------------------------------
    def check_mask(self, index: pd.DatetimeIndex) -> np.ndarray:
        """Bars on which the portfolio is checked."""
        return period_starts(index, self.check)

    def estimate_mask(self, index: pd.DatetimeIndex) -> np.ndarray:
        """Bars on which the target is re-estimated."""
        return period_starts(index, self.reestimate or self.check)

    # -- decision --------------------------------------------------------------------------
    def drift(self, weights: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Per-asset drift: absolute, or relative to ``|target|`` (absolute where the target is 0)."""
        dev = np.abs(np.asarray(weights, float) - np.asarray(target, float))
        if self.relative:
            scale = np.abs(np.asarray(target, float))
            dev = np.where(scale > 0, dev / np.where(scale > 0, scale, 1.0), dev)
        return dev

    def decide(self, weights: np.ndarray, target: np.ndarray) -> float:
        """Fraction ``k`` of the way to the target to trade (0 = no trade).

        Parameters
        ----------
        weights : ndarray
            Current weights (known at the decision time).
        target : ndarray
            Target weights.

        Returns
        -------
        float
            ``k`` in [0, 1]; new weights are ``weights + k (target - weights)``.
        """
        if self.band is None:
            return 1.0
        dev = self.drift(weights, target)
        worst = float(dev.max()) if dev.size else 0.0
        if worst <= self.band:
            return 0.0
        if self.to == "target":
            return 1.0
        if self.to == "edge":
            # drift shrinks linearly along the line to target: (1 - k) * worst = band
            return 1.0 - self.band / worst
        return float(self.to)

    def label(self) -> str:
        """Short description used in stats and titles."""
        parts = [f"check={self.check}"]
        if self.reestimate and self.reestimate != self.check:
            parts.append(f"reestimate={self.reestimate}")
        if self.band is not None:
            parts.append(f"band={self.band:g}{' rel' if self.relative else ''}")
        if self.to != "target":
            parts.append(f"to={self.to}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def with_band(self, band: float | None = None, *, cost_aware: bool = False) -> Policy:
        """A copy with ``band`` replaced (when given) and, with ``cost_aware``, ``to='edge'``."""
        out: Policy = self
        if band is not None:
            out = out._copy(band=_check_band(band, "bands"))
        if cost_aware:
            if out.band is None:
                raise ParameterError("cost_aware=True needs bands= (the no-trade region), e.g. 0.05")
            out = out._copy(to="edge")
        return out

    def _copy(self, **changes: Any) -> Policy:
        # dataclasses.replace would call the subclasses' own __init__ signatures
        new = object.__new__(type(self))
        for f in fields(Policy):
            object.__setattr__(new, f.name, changes.get(f.name, getattr(self, f.name)))
        Policy.__post_init__(new)
        return new


class Calendar(Policy):
    """Rebalance on the first bar of each month or week (optionally only outside a band).

    Parameters
    ----------
    freq : {"monthly", "weekly"}
        Calendar period.
    band : float, optional
        With a band, trade on a calendar date only when some asset's drift exceeds it.
    relative : bool
        Relative bands (see :class:`Policy`).
    to : "target", "edge" or float
        How far to trade when triggered.
    """

    def __init__(self, freq: str = "monthly", band: float | None = None, relative: bool = False,
                 to: str | float = "target") -> None:
        freq = _check_freq(freq, "freq")
        super().__init__(check=freq, reestimate=None, band=band, relative=relative, to=to)

    def __repr__(self) -> str:
        return self.label()


class Threshold(Policy):
    """Check drift every bar; when any asset leaves its band, trade everything back to target.

    Parameters
    ----------
    band : float
        Drift tolerance (0.05 = 5 weight points, or 5 % of the target with ``relative``).
    relative : bool
        Relative bands.
    reestimate : {"monthly", "weekly", "daily"}
        How often the (estimated) target is refreshed; drift is measured against the latest one.
    """

    def __init__(self, band: float = 0.05, relative: bool = False,
                 reestimate: str = "monthly") -> None:
        super().__init__(check="bar", reestimate=reestimate,
                         band=_check_band(band, allow_none=False), relative=relative, to="target")

    def __repr__(self) -> str:
        return self.label()


class CostAware(Policy):
    """No-trade region: check every bar, trade only back to the band edge (or part of the way).

    Parameters
    ----------
    band : float
        Half-width of the no-trade region around each target weight.
    relative : bool
        Relative bands.
    to : "edge" or float
        ``"edge"`` (default): the smallest trade along the line to target that puts every asset
        back inside its band; a float ``f``: trade the fraction ``f`` of the way (0.5 = halfway).
    check : {"bar", "daily", "weekly", "monthly"}
        How often drift is checked (default every bar).
    reestimate : {"monthly", "weekly", "daily", "bar"}
        How often the (estimated) target is refreshed.
    """

    def __init__(self, band: float = 0.05, relative: bool = False, to: str | float = "edge",
                 check: str = "bar", reestimate: str = "monthly") -> None:
        super().__init__(check=check, reestimate=reestimate,
                         band=_check_band(band, allow_none=False), relative=relative, to=to)

    def __repr__(self) -> str:
        return self.label()


_NAMED = {
    "monthly": lambda: Calendar("monthly"),
    "weekly": lambda: Calendar("weekly"),
    "daily": lambda: Policy(check="daily"),
    "threshold": lambda: Threshold(),
    "cost_aware": lambda: CostAware(),
}


def resolve_policy(policy: str | Policy, *, bands: float | None = None,
                   cost_aware: bool = False) -> Policy:
    """A :class:`Policy` from a name (``monthly``, ``weekly``, ``daily``, ``threshold``,
    ``cost_aware``) or an instance, with optional ``bands``/``cost_aware`` overrides."""
    if isinstance(policy, Policy):
        out = policy
    elif isinstance(policy, str) and policy.lower() in _NAMED:
        out = _NAMED[policy.lower()]()
    else:
        raise ParameterError(
            f"unknown policy {policy!r}: use {', '.join(repr(k) for k in _NAMED)} "
            "or a Calendar/Threshold/CostAware instance"
        )
    if not isinstance(cost_aware, bool | np.bool_):
        raise ParameterError(f"cost_aware={cost_aware!r} must be True or False")
    return out.with_band(bands, cost_aware=bool(cost_aware))
