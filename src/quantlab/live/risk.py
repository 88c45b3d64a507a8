"""Pre-trade risk guard: every order intent is checked against ``RiskLimits`` before it is sent.

Semantics
---------
**Refuse, never resize.** An intent that breaks a limit is refused whole (the runner audits the
verdict and drops the order); the guard never trims an amount to fit.

**Reduce-only intents** (exits, flattening: they only shrink exposure) are never refused by an
exposure or loss rule: only ``bad_order`` applies to them (amount not a positive finite number,
side not buy/sell, unknown symbol, missing or non-positive price). They are not refused by the
rate limit either, but once submitted they count toward it (:meth:`RiskGuard.record_submitted`).

**Entries and increases** are refused, checked in this order, when:

==========================  =================================================================
rule                        refused when
==========================  =================================================================
``bad_order``               as above, or equity not a positive finite number
``max_drawdown``            ``1 - equity / peak_equity >= max_drawdown``
``daily_loss_limit``        ``1 - equity / day_start_equity >= daily_loss_limit``
``max_order_notional``      ``amount x price > max_order_notional``
``max_position_notional``   ``|position after the order| x last close > max_position_notional``
``risk_per_trade``          ``risk / equity > risk_per_trade``, where ``risk = notional x
                            stop_fraction`` when the strategy has a stop, else ``notional x``
                            the symbol's one-bar EWMA VaR at ``var_confidence``
``var_limit``               one-bar EWMA VaR of all positions after the order > ``var_limit``
``max_orders_per_minute``   orders submitted in ``(now - 60 s, now]`` ``>= max_orders_per_minute``
==========================  =================================================================

A limit set to ``None`` is off. ``price`` is the intent's limit/reference price, or the last
close when the intent has none; positions are valued at the last close.

VaR
---
RiskMetrics EWMA (:mod:`quantlab.risk.ewma`, decay ``ewma_lambda``, zero mean, normal): the
covariance ``Sigma`` of the recent simple returns of the symbols held (rows with a missing value
dropped), exposures ``w = units x price / equity`` (signed) and
``VaR = -z_alpha sqrt(w' Sigma w)`` (:func:`quantlab.risk.parametric.normal_var_es`), a positive
loss fraction of equity. For one symbol it is ``|w|`` times the EWMA VaR of that symbol's
returns (``quantlab.risk.value_at_risk(r, method="ewma")``). When the VaR cannot be estimated
(no return column for a symbol held, fewer than two returns) an entry that needs it is refused
under the rule that needed it (``risk_per_trade`` or ``var_limit``): risk that cannot be
measured is not taken.

Every refusal message is one line naming the order, the rule, the value and the limit, e.g.
``order ql… BUY 0.5 BTC/USDT refused: position notional 31,000.00 > max_position_notional
25,000.00``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from quantlab.errors import ParameterError
from quantlab.live.config import RiskLimits
from quantlab.live.types import OrderIntent
from quantlab.risk.ewma import ewma_covariance

__all__ = ["RULES", "RiskContext", "RiskGuard", "RiskVerdict"]

#: Rule names a verdict can carry.
RULES = ("max_drawdown", "daily_loss_limit", "risk_per_trade", "max_order_notional",
         "max_position_notional", "var_limit", "max_orders_per_minute", "bad_order")

#: Sliding window of the rate limit, in ms.
RATE_WINDOW_MS = 60_000


@dataclass(frozen=True)
class RiskContext:
    """The account as the guard sees it when an intent is checked.

    Attributes
    ----------
    equity, peak_equity, day_start_equity : float
        Equity now, its peak so far, and at the start of the UTC day (quote currency).
    positions : Mapping[str, float]
        Signed units per symbol now, including what earlier intents of this bar will do
        (the runner passes the projected book).
    prices : Mapping[str, float]
        Last close per symbol.
    returns : DataFrame or None
        Recent simple returns per symbol (columns = symbols), oldest first, for VaR.
    stop_fraction : float or None
        The strategy's stop-loss distance as a fraction of price, if any.
    """

    equity: float
    peak_equity: float
    day_start_equity: float
    positions: Mapping[str, float]
    prices: Mapping[str, float]
    returns: pd.DataFrame | None
    stop_fraction: float | None = None


@dataclass(frozen=True)
class RiskVerdict:
    """The guard's answer: ``ok``, or the rule broken with its value and limit.

    Attributes
    ----------
    ok : bool
        True when the intent may be sent.
    rule : str
        One of :data:`RULES` (empty when ok).
    message : str
        One line naming the order, the rule, the value and the limit (empty when ok).
    value, limit : float
        The measured figure and the limit it broke (NaN when ok or not measurable).
    """

    ok: bool
    rule: str = ""
    message: str = ""
    value: float = math.nan
    limit: float = math.nan


_OK = RiskVerdict(ok=True)


def _positive(x: object) -> bool:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return math.isfinite(v) and v > 0


def _money(x: float) -> str:
    return f"{x:,.2f}"


def _pct(x: float) -> str:
    return f"{x:.2%}"


class RiskGuard:
    """Check order intents against :class:`~quantlab.live.config.RiskLimits` (module docstring).

    Parameters
    ----------
    limits : RiskLimits
        The limits (``None`` = off).
    """

    def __init__(self, limits: RiskLimits) -> None:
        if not isinstance(limits, RiskLimits):
            raise ParameterError(f"limits must be a RiskLimits, not {type(limits).__name__}")
        self.limits = limits
        self._submitted: list[int] = []

    # -- rate limit -------------------------------------------------------------------------

    def record_submitted(self, now_ms: int) -> None:
        """Count one submitted order (any order, reduce-only too) toward the rate limit."""
        self._submitted.append(int(now_ms))

    def recent_orders(self, now_ms: int) -> int:
        """Orders recorded in ``(now_ms - 60 s, now_ms]`` (older ones are forgotten)."""
        cutoff = int(now_ms) - RATE_WINDOW_MS
        self._submitted = [t for t in self._submitted if t > cutoff]
        return len(self._submitted)

    # -- VaR --------------------------------------------------------------------------------

    def portfolio_var(self, positions: Mapping[str, float], prices: Mapping[str, float],
                      returns: pd.DataFrame | None, equity: float) -> float:
        """One-bar EWMA VaR of ``positions`` as a positive loss fraction of ``equity``.

        Parameters
        ----------
        positions : Mapping[str, float]
            Signed units per symbol (zeros are ignored).
        prices : Mapping[str, float]
            Price per symbol.
        returns : DataFrame or None
            Recent simple returns, one column per symbol held, oldest first.
        equity : float
            Account equity (> 0).

        Returns
        -------
        float
            ``-z_alpha sqrt(w' Sigma w)`` with ``alpha = 1 - var_confidence``, ``Sigma`` the
            RiskMetrics EWMA covariance (decay ``ewma_lambda``) and ``w`` the exposures as
            fractions of equity; 0 for a flat book.

        Raises
        ------
        ParameterError
            Equity not positive, a symbol held without a price or without returns, or fewer
            than two complete rows of returns.
        """
        if not _positive(equity):
            raise ParameterError(f"cannot estimate VaR: equity {equity!r} is not positive")
        held = [s for s, units in positions.items() if float(units) != 0.0]
        if not held:
            return 0.0
        for s in held:
            if not _positive(prices.get(s)):
                raise ParameterError(f"cannot estimate VaR: no price for {s}")
        if returns is None:
            raise ParameterError("cannot estimate VaR: no returns")
        missing = [s for s in held if s not in returns.columns]
        if missing:
            raise ParameterError(f"cannot estimate VaR: no returns for {', '.join(missing)}")
        r = returns[held].astype("float64").dropna()
        if len(r) < 2:
            raise ParameterError(f"cannot estimate VaR: {len(r)} complete row(s) of returns "
                                 f"for {', '.join(held)}, at least 2 needed")
        w = np.array([float(positions[s]) * float(prices[s]) for s in held]) / float(equity)
        cov = ewma_covariance(r.to_numpy(), self.limits.ewma_lambda)
        sigma = math.sqrt(max(float(w @ cov @ w), 0.0))
        # zero-mean normal VaR, as quantlab.risk.parametric.normal_var_es(0, sigma, level)
        # (NormalDist instead of scipy.stats keeps scipy out of the runner's memory)
        return float(-sigma * NormalDist().inv_cdf(1.0 - self.limits.var_confidence))

    # -- the check --------------------------------------------------------------------------

    def check(self, intent: OrderIntent, ctx: RiskContext, now_ms: int) -> RiskVerdict:
        """The verdict on one intent (the first rule it breaks, or ok).

        Parameters
        ----------
        intent : OrderIntent
            The order the runner wants to send.
        ctx : RiskContext
            Account, book, prices and returns at the decision.
        now_ms : int
            Current time (epoch ms) for the rate limit.

        Returns
        -------
        RiskVerdict
        """
        bad = self._bad_order(intent, ctx)
        if bad is not None:
            return bad
        if intent.reduce_only:
            return _OK
        for rule in (self._drawdown, self._daily_loss, self._order_notional,
                     self._position_notional, self._risk_per_trade, self._var,
                     self._rate):
            verdict = rule(intent, ctx, now_ms)
            if verdict is not None:
                return verdict
        return _OK

    def _refuse(self, intent: OrderIntent, rule: str, what: str, value: float, op: str,
                limit: float, fmt: str = "money") -> RiskVerdict:
        show = {"money": _money, "pct": _pct, "count": lambda x: f"{x:.0f}"}[fmt]
        text = f"{what} {show(value)} {op} {rule} {show(limit)}" if math.isfinite(limit) \
            else what
        return RiskVerdict(ok=False, rule=rule, message=f"{_label(intent)} refused: {text}",
                           value=float(value), limit=float(limit))

    def _bad_order(self, intent: OrderIntent, ctx: RiskContext) -> RiskVerdict | None:
        why = ""
        if intent.side not in ("buy", "sell"):
            why = f"side {intent.side!r} is not buy or sell"
        elif not _positive(intent.amount):
            why = f"amount {intent.amount!r} is not a positive number"
        elif intent.symbol not in ctx.prices:
            why = f"unknown symbol {intent.symbol} (no price)"
        elif not _positive(ctx.prices[intent.symbol]):
            why = f"price of {intent.symbol} {ctx.prices[intent.symbol]!r} is not positive"
        elif intent.price is not None and not _positive(intent.price):
            why = f"order price {intent.price!r} is not positive"
        elif intent.type == "limit" and intent.price is None:
            why = "limit order without a price"
        elif not intent.reduce_only and not _positive(ctx.equity):
            why = f"equity {ctx.equity!r} is not positive"
        if not why:
            return None
        return RiskVerdict(ok=False, rule="bad_order", message=f"{_label(intent)} refused: {why}")

    def _drawdown(self, intent: OrderIntent, ctx: RiskContext, now_ms: int
                  ) -> RiskVerdict | None:
        limit = self.limits.max_drawdown
        if limit is None:
            return None
        dd = 1.0 - ctx.equity / ctx.peak_equity if _positive(ctx.peak_equity) else 1.0
        if dd >= limit:
            return self._refuse(intent, "max_drawdown", "drawdown", dd, ">=", limit, "pct")
        return None

    def _daily_loss(self, intent: OrderIntent, ctx: RiskContext, now_ms: int
                    ) -> RiskVerdict | None:
        limit = self.limits.daily_loss_limit
        if limit is None:
            return None
        loss = (1.0 - ctx.equity / ctx.day_start_equity if _positive(ctx.day_start_equity)
                else 1.0)
        if loss >= limit:
            return self._refuse(intent, "daily_loss_limit", "loss since day start", loss, ">=",
                                limit, "pct")
        return None

    def _order_notional(self, intent: OrderIntent, ctx: RiskContext, now_ms: int
                        ) -> RiskVerdict | None:
        limit = self.limits.max_order_notional
        if limit is None:
            return None
        notional = _notional(intent, ctx)
        if notional > limit:
            return self._refuse(intent, "max_order_notional", "order notional", notional, ">",
                                limit)
        return None

    def _position_notional(self, intent: OrderIntent, ctx: RiskContext, now_ms: int
                           ) -> RiskVerdict | None:
        limit = self.limits.max_position_notional
        if limit is None:
            return None
        after = float(ctx.positions.get(intent.symbol, 0.0)) + intent.signed_amount
        notional = abs(after) * float(ctx.prices[intent.symbol])
        if notional > limit:
            return self._refuse(intent, "max_position_notional", "position notional",
                                notional, ">", limit)
        return None

    def _risk_per_trade(self, intent: OrderIntent, ctx: RiskContext, now_ms: int
                        ) -> RiskVerdict | None:
        limit = self.limits.risk_per_trade
        if limit is None:
            return None
        notional = _notional(intent, ctx)
        stop = ctx.stop_fraction
        if stop is not None and _positive(stop):
            risk, basis = notional * float(stop), "stop"
        else:
            try:
                one = {intent.symbol: 1.0}
                unit_var = self.portfolio_var(one, {intent.symbol: 1.0}, ctx.returns, 1.0)
            except ParameterError as exc:
                return self._refuse(intent, "risk_per_trade", str(exc),
                                    math.nan, "", math.nan)
            risk, basis = notional * unit_var, "VaR"
        fraction = risk / float(ctx.equity)
        if fraction > limit:
            return self._refuse(intent, "risk_per_trade", f"trade risk ({basis}) of equity",
                                fraction, ">", limit, "pct")
        return None

    def _var(self, intent: OrderIntent, ctx: RiskContext, now_ms: int) -> RiskVerdict | None:
        limit = self.limits.var_limit
        if limit is None:
            return None
        after = {s: float(u) for s, u in ctx.positions.items()}
        after[intent.symbol] = after.get(intent.symbol, 0.0) + intent.signed_amount
        try:
            var = self.portfolio_var(after, ctx.prices, ctx.returns, ctx.equity)
        except ParameterError as exc:
            return self._refuse(intent, "var_limit", str(exc), math.nan,
                                "", math.nan)
        if var > limit:
            return self._refuse(intent, "var_limit", "portfolio VaR after the order", var, ">",
                                limit, "pct")
        return None

    def _rate(self, intent: OrderIntent, ctx: RiskContext, now_ms: int) -> RiskVerdict | None:
        limit = self.limits.max_orders_per_minute
        if limit is None:
            return None
        count = self.recent_orders(now_ms)
        if count >= limit:
            return self._refuse(intent, "max_orders_per_minute", "orders in the last 60 s",
                                count, ">=", limit, "count")
        return None


def _notional(intent: OrderIntent, ctx: RiskContext) -> float:
    """``amount x`` the intent's price (last close when it has none)."""
    price = intent.price if intent.price is not None else ctx.prices[intent.symbol]
    return abs(float(intent.amount)) * float(price)


def _label(intent: OrderIntent) -> str:
    """``order <client id> BUY 0.5 BTC/USDT``."""
    try:
        amount = f"{float(intent.amount):.10g}"
    except (TypeError, ValueError):
        amount = repr(intent.amount)
    return f"order {intent.client_id} {str(intent.side).upper()} {amount} {intent.symbol}"
