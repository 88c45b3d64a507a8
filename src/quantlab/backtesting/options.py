"""Backtest options: one validated, immutable record of how a backtest fills and sizes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np

from quantlab._validate import check_choice, check_number, check_range
from quantlab.errors import ParameterError

__all__ = ["BacktestOptions"]

Fill = Literal["next_open", "close"]
Direction = Literal["long_only", "long_short"]
Sizing = Literal["all_in", "fixed_fraction", "risk_per_trade", "vol_target"]
Allocation = Literal["sleeves", "shared"]

_CHOICES: dict[str, tuple[str, ...]] = {
    "fill": ("next_open", "close"),
    "direction": ("long_only", "long_short"),
    "sizing": ("all_in", "fixed_fraction", "risk_per_trade", "vol_target"),
    "allocation": ("sleeves", "shared"),
}

#: Options that only mean something with one sizing mode, and their defaults there.
_SIZING_OPTIONS: dict[str, str] = {
    "fraction": "fixed_fraction",
    "risk": "risk_per_trade",
    "target_vol": "vol_target",
    "vol_lookback": "vol_target",
}
_SIZING_DEFAULTS: dict[str, float | int] = {
    "fraction": 1.0, "risk": 0.01, "target_vol": 0.5, "vol_lookback": 30,
}


@dataclass(frozen=True)
class BacktestOptions:
    """How a backtest fills, charges and sizes orders.

    Parameters
    ----------
    init_cash : float
        Starting capital in quote currency (default 10,000).
    fees_bps : float
        Fee in basis points of traded notional (default 10 = 0.1 %).
    slippage_bps : float
        Slippage in basis points; moves every fill price against the trader.
    fill : {"next_open", "close"}
        ``next_open`` (default): a signal on bar t's close fills at bar t+1's open.
        ``close``: fills at bar t's close (optimistic; for comparison only).
    direction : {"long_only", "long_short"}
        With ``long_short`` a strategy without explicit short signals goes short on exits.
    sizing : {"all_in", "fixed_fraction", "risk_per_trade", "vol_target"}
        Every entry commits a fraction of the account's *equity* (notional plus fee), capped
        by ``leverage``. ``all_in``: all of it (1). ``fixed_fraction``: ``fraction``.
        ``risk_per_trade``: risk / stop distance, so hitting the stop loses about ``risk`` of
        equity. ``vol_target``: target_vol / realized volatility; 0 (no entry) while the
        volatility is unknown, i.e. during the first ``vol_lookback`` bars.
    fraction, risk : float, optional
        Parameters of ``fixed_fraction`` (default 1.0) and ``risk_per_trade`` (default 0.01)
        sizing. Giving one with another sizing is an error (it would be ignored); they are
        ``None`` when their sizing is not used.
    target_vol, vol_lookback : float, int, optional
        Annualized volatility target (default 0.5) and its lookback in bars (default 30) for
        ``vol_target`` sizing; likewise refused with another sizing.
    stop_loss, take_profit : float, optional
        Stop distances as fractions of the fill price (0.05 = 5 %).
    trailing_stop : float, optional
        Trailing stop distance from the highest high (long) / lowest low (short) since entry
        (fraction); may be combined with ``stop_loss`` (the nearer level counts).
    allocation : {"sleeves", "shared"}
        Multi-asset signal strategies: ``sleeves`` splits capital equally into one independent
        sleeve per asset; ``shared`` uses one cash pool (entries sized from its equity).
        Target-weight strategies always share one cash pool.
    accumulate : bool
        Entry signals while a position is open add to it (another ``size`` of equity, within
        ``leverage``); default False (ignored).
    leverage : float
        Largest gross exposure as a multiple of equity (default 1: no borrowing). Entry sizes
        and target weights may reach it.
    maintenance_margin : float, optional
        Margin model: a position is liquidated when equity falls to this fraction of the
        gross exposure (e.g. 0.005). ``None`` (default): no liquidation.
    order_ttl : int
        Bars a limit/stop entry order (``Signals.limit``/``Signals.stop``) stays pending; 0
        (default): until filled, replaced or cancelled by an exit signal.
    amount_step, min_amount, min_notional : float
        Exchange rules (0 = none): order units are rounded down to ``amount_step``; orders below
        ``min_amount`` units or ``min_notional`` quote value are rejected and reported in
        ``BacktestResult.rejected``.
    """

    init_cash: float = 10_000.0
    fees_bps: float = 10.0
    slippage_bps: float = 0.0
    fill: Fill = "next_open"
    direction: Direction = "long_only"
    sizing: Sizing = "all_in"
    fraction: float | None = None
    risk: float | None = None
    target_vol: float | None = None
    vol_lookback: int | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    allocation: Allocation = "sleeves"
    accumulate: bool = False
    leverage: float = 1.0
    maintenance_margin: float | None = None
    order_ttl: int = 0
    amount_step: float = 0.0
    min_amount: float = 0.0
    min_notional: float = 0.0

    def __post_init__(self) -> None:
        for name, choices in _CHOICES.items():
            check_choice(getattr(self, name), name, choices)
        for name, sizing in _SIZING_OPTIONS.items():
            value = getattr(self, name)
            if value is not None and self.sizing != sizing:
                raise ParameterError(
                    f"{name}={value!r} only applies with sizing={sizing!r} "
                    f"(sizing={self.sizing!r}); drop it or set sizing={sizing!r}")
            if value is None and self.sizing == sizing:
                object.__setattr__(self, name, _SIZING_DEFAULTS[name])
        for f in fields(self):
            if f.name in _CHOICES or f.name in ("vol_lookback", "accumulate", "order_ttl"):
                continue
            check_number(getattr(self, f.name), f.name, allow_none=True)
        check_range(self.init_cash, "init_cash", 0.0, open_low=True)
        check_range(self.fees_bps, "fees_bps", 0.0, 10_000.0)
        check_range(self.slippage_bps, "slippage_bps", 0.0, 10_000.0)
        check_range(self.leverage, "leverage", 0.0, 100.0, open_low=True)
        if self.sizing == "fixed_fraction":
            check_range(self.fraction, "fraction", 0.0, max(1.0, self.leverage), open_low=True,
                        hint="at most 1, or up to leverage when leverage > 1")
        if self.sizing == "risk_per_trade":
            check_range(self.risk, "risk", 0.0, 1.0, open_low=True)
        if self.sizing == "vol_target":
            check_range(self.target_vol, "target_vol", 0.0, open_low=True)
            lookback = check_range(self.vol_lookback, "vol_lookback", 2, integer=True)
            object.__setattr__(self, "vol_lookback", lookback)
        for name in ("stop_loss", "trailing_stop"):
            check_range(getattr(self, name), name, 0.0, 1.0, open_low=True, open_high=True, allow_none=True)
        check_range(self.take_profit, "take_profit", 0.0, open_low=True, allow_none=True)
        if not isinstance(self.accumulate, bool | np.bool_):
            raise ParameterError(f"accumulate must be True or False, got {self.accumulate!r}")
        check_range(self.maintenance_margin, "maintenance_margin", 0.0, 1.0, open_high=True,
                    allow_none=True)
        object.__setattr__(self, "order_ttl", check_range(self.order_ttl, "order_ttl", 0, integer=True))
        for name in ("amount_step", "min_amount", "min_notional"):
            check_range(getattr(self, name), name, 0.0)
        if self.sizing == "risk_per_trade" and self.stop_loss is None and self.trailing_stop is None:
            raise ParameterError("sizing='risk_per_trade' needs a stop_loss (or trailing_stop) distance")

    @property
    def fees(self) -> float:
        """Fee as a fraction of notional."""
        return self.fees_bps / 1e4

    @property
    def slippage(self) -> float:
        """Slippage as a fraction of price."""
        return self.slippage_bps / 1e4

    @property
    def stop_distance(self) -> float | None:
        """The stop distance used for risk-per-trade sizing (the nearer of stop-loss and trailing)."""
        given = [d for d in (self.stop_loss, self.trailing_stop) if d is not None]
        return min(given) if given else None

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> BacktestOptions:
        """Build from keyword arguments, rejecting unknown names with a clear error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ParameterError(
                f"unknown backtest option {unknown[0]!r} (options: {', '.join(sorted(known))})"
            )
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary of the options."""
        return asdict(self)
