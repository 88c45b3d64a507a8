"""Volatility-targeting overlay for any strategy.

``with_vol_target(SmaCross)`` is a subclass of ``SmaCross`` named ``"sma_cross+vol_target"``
with three extra parameters. Its signals are the inner strategy's, plus a position size:

``size[t] = clip(target_vol / realized_vol[t], 0, max_leverage)``

where ``realized_vol`` is the annualized (365-day year, bars per year inferred from the index
spacing) sample standard deviation of the last ``vol_lookback`` simple close-to-close returns.
When no volatility estimate exists (warm-up, missing prices) or it is zero (a frozen price
feed), the size is **0**: no exposure without a risk estimate. Sizes are always finite.

For weight strategies the target weights are scaled asset by asset with the same factor and
each row is then scaled down, if needed, so that gross exposure ``sum(|w|)`` is at most
``max_leverage``. NaN rows ("no rebalance") stay NaN.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from quantlab.errors import StrategyError
from quantlab.strategies.base import Param, Signals, Strategy, TargetWeights
from quantlab.strategies.indicators import periods_per_year, realized_vol

__all__ = ["VolTarget", "VolTargetMixin", "vol_target_size", "with_vol_target"]

SUFFIX = "+vol_target"
_CLASSES: dict[type[Strategy], type[Strategy]] = {}


def vol_target_size(
    close: pd.Series | pd.DataFrame,
    target_vol: float,
    vol_lookback: int,
    max_leverage: float,
) -> pd.Series | pd.DataFrame:
    """Causal volatility-targeting size ``clip(target_vol / realized_vol, 0, max_leverage)``.

    Parameters
    ----------
    close : Series or DataFrame
        Closing prices (DatetimeIndex).
    target_vol : float
        Annualized volatility target (0.5 = 50 %).
    vol_lookback : int
        Returns in the realized-volatility window.
    max_leverage : float
        Upper bound of the size.

    Returns
    -------
    Series or DataFrame
        Finite sizes in ``[0, max_leverage]``; 0 where volatility is unknown or zero.
    """
    vol = realized_vol(close, vol_lookback, periods_per_year(close.index))
    vol = vol.where(vol > 0.0)
    size = (target_vol / vol).clip(lower=0.0, upper=max_leverage)
    return size.fillna(0.0)


class VolTargetMixin:
    """Marker base of classes made by :func:`with_vol_target` (see the module docstring)."""

    inner: type[Strategy]

    def warmup(self) -> int:
        return int(max(super().warmup(), self.vol_lookback))  # type: ignore[misc]

    def signals(self, bars: pd.DataFrame) -> Signals | TargetWeights:
        out = super().signals(bars)  # type: ignore[misc]
        close = bars["close"]
        factor = vol_target_size(close, self.target_vol, self.vol_lookback, self.max_leverage)  # type: ignore[attr-defined]
        if isinstance(out, TargetWeights):
            w = out.weights
            if isinstance(factor, pd.Series):  # single-asset frame, one weight column
                factor = pd.DataFrame({c: factor for c in w.columns}, index=w.index)
            scaled = w * factor.reindex(columns=w.columns).fillna(0.0)
            gross = scaled.abs().sum(axis=1, min_count=1)
            cap = (self.max_leverage / gross.where(gross > self.max_leverage)).fillna(1.0)  # type: ignore[attr-defined]
            return TargetWeights(scaled.mul(cap, axis=0))
        if isinstance(out, Signals):
            size = factor if out.size is None else (out.size * factor).fillna(0.0)
            return Signals(
                entries=out.entries,
                exits=out.exits,
                short_entries=out.short_entries,
                short_exits=out.short_exits,
                size=size,
            )
        return out

    @classmethod
    def batch_signals(cls, bars: pd.DataFrame, runs: list[Strategy]) -> Signals | None:
        """No batched fast path: the inner class's would drop the sizing; sweeps call signals()."""
        return None

    def __reduce__(self) -> tuple[Any, ...]:
        # dynamically created classes are not importable: pickle as (inner class, values)
        return (_rebuild, (self.inner, self._values))  # type: ignore[attr-defined]


def _rebuild(inner: type[Strategy], values: dict[str, Any]) -> Strategy:
    return with_vol_target(inner)(**values)


def with_vol_target(strategy_cls: type[Strategy]) -> type[Strategy]:
    """Volatility-targeting variant of a strategy class.

    Parameters
    ----------
    strategy_cls : type[Strategy]
        Any strategy (signals or weights).

    Returns
    -------
    type[Strategy]
        A subclass named ``"<name>+vol_target"`` whose parameters are the inner ones plus
        ``target_vol`` (annualized, default 0.5), ``vol_lookback`` (bars, default 30) and
        ``max_leverage`` (default 1.0). The same class object is returned on every call.

    Raises
    ------
    StrategyError
        If ``strategy_cls`` is not a Strategy subclass, already vol-targeted, or has a
        parameter called like one of the overlay's.
    """
    if not (isinstance(strategy_cls, type) and issubclass(strategy_cls, Strategy)):
        raise StrategyError(f"with_vol_target() needs a Strategy subclass, got {strategy_cls!r}")
    cached = _CLASSES.get(strategy_cls)
    if cached is not None:
        return cached
    if issubclass(strategy_cls, VolTargetMixin):
        raise StrategyError(f"{strategy_cls.label()} is already volatility-targeted")
    extra = {"target_vol", "vol_lookback", "max_leverage"} & set(strategy_cls.params)
    if extra:
        raise StrategyError(
            f"{strategy_cls.label()} already has parameter {sorted(extra)[0]!r}; "
            "cannot add volatility targeting"
        )
    label = strategy_cls.label()
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__qualname__": f"{strategy_cls.__qualname__}VolTarget",
        "__doc__": f"{strategy_cls.describe().rstrip('.')}, sized to a volatility target.\n\n"
        + (__doc__ or ""),
        "name": label + SUFFIX,
        "inner": strategy_cls,
        "warmup_doc": f"max({getattr(strategy_cls, 'warmup_doc', '') or label + ' warm-up'}, "
        "vol_lookback)",
        "target_vol": Param(
            0.5, low=0.01, high=10.0, doc="annualized volatility target", grid=(0.2, 1.0, 0.1)
        ),
        "vol_lookback": Param(
            30, low=2, high=2000, doc="realized-volatility window (returns)", grid=(10, 90, 10)
        ),
        "max_leverage": Param(
            1.0, low=0.0, high=10.0, doc="maximum size / gross exposure", grid=(0.5, 2.0, 0.5)
        ),
    }
    cls = type(f"{strategy_cls.__name__}VolTarget", (VolTargetMixin, strategy_cls), namespace)
    _CLASSES[strategy_cls] = cls
    return cls  # type: ignore[return-value]


def VolTarget(
    inner: Strategy,
    target_vol: float = 0.5,
    vol_lookback: int = 30,
    max_leverage: float = 1.0,
) -> Strategy:
    """Volatility-targeted copy of a strategy *instance*.

    Examples
    --------
    >>> from quantlab.strategies import SmaCross, VolTarget
    >>> VolTarget(SmaCross(fast=5, slow=20), target_vol=0.3).values["target_vol"]
    0.3
    """
    if not isinstance(inner, Strategy):
        raise StrategyError(f"VolTarget() needs a Strategy instance, got {inner!r}")
    cls = with_vol_target(type(inner))
    return cls(
        **inner.values,
        target_vol=target_vol,
        vol_lookback=vol_lookback,
        max_leverage=max_leverage,
    )
