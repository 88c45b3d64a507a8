"""From wanted post-trade weights to orders: sells (rounded down, lots consumed), buys funded from
cash (scaled down together when cash is short), and dust for whatever is too small to trade."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from quantlab.portfolio.costs import CostModel
from quantlab.portfolio.lots import consume_lots
from quantlab.portfolio.markets import MarketRules, round_order

__all__ = ["Execution", "PlanContext", "execute"]


@dataclass
class PlanContext:
    """Everything fixed before trading: symbols, prices, positions, weights, rules, costs."""

    universe: list[str]
    prices: np.ndarray
    qty: np.ndarray
    cash: float
    value: float
    w: np.ndarray
    t: np.ndarray
    rules: list[MarketRules | None]
    model: CostModel
    lots: pd.DataFrame | None
    lot_method: str
    as_of: pd.Timestamp
    long_term_days: int

    @property
    def tol(self) -> float:
        return 1e-12 * max(self.value, 1.0)


@dataclass
class Execution:
    """Running state of one plan: quantities, cash, orders, dust, lots and realized gains."""

    qty: np.ndarray
    cash: float
    lots: pd.DataFrame | None
    sold: np.ndarray
    bought: np.ndarray
    orders: list[dict[str, Any]] = field(default_factory=list)
    dust: list[dict[str, Any]] = field(default_factory=list)
    realized: list[pd.DataFrame] = field(default_factory=list)

    def order(self, ctx: PlanContext, i: int, side: str, quantity: float, price: float,
              reason: str) -> float:
        """Record an order; returns its estimated cost."""
        notional = quantity * price
        cost = ctx.model.cost(ctx.universe[i], notional)
        self.orders.append({"symbol": ctx.universe[i], "side": side, "quantity": quantity,
                            "price": price, "notional": notional,
                            "fee": ctx.model.fee(notional), "cost": cost, "reason": reason})
        return cost


def _sell(ctx: PlanContext, ex: Execution, i: int, delta: float, w_target: float,
          reason: str, cap: float | None) -> None:
    """Sell asset ``i`` down by ``-delta`` notional (all of it when its target weight is 0)."""
    sym, p = ctx.universe[i], ctx.prices[i]
    want = min(-delta / p, ex.qty[i])
    full_exit = w_target <= 0 or want >= ex.qty[i] * (1 - 1e-9)
    if full_exit:
        want = ex.qty[i]
    if cap is not None:
        want = min(want, cap)
    if want <= 0:
        return
    r = round_order(ctx.rules[i], want, p, symbol=sym)
    if not r.ok:
        what = "position" if full_exit and want == ex.qty[i] else "sell"
        ex.dust.append({"symbol": sym, "side": "sell", "quantity": want, "notional": want * p,
                        "reason": f"{what} {r.reason}"})
        return
    cost = ex.order(ctx, i, "sell", r.quantity, r.price,
                    reason + (f"; {r.reason}" if r.reason else ""))
    ex.cash += r.quantity * r.price - cost
    ex.qty[i] = max(ex.qty[i] - r.quantity, 0.0)
    ex.sold[i] = r.quantity
    if ex.lots is not None:
        rz, ex.lots = consume_lots(ex.lots, sym, r.quantity, r.price, method=ctx.lot_method,
                                   fee=cost, as_of=ctx.as_of, long_term_days=ctx.long_term_days)
        ex.realized.append(rz)
    if full_exit and ex.qty[i] > 0:
        ex.dust.append({"symbol": sym, "side": "sell", "quantity": ex.qty[i],
                        "notional": ex.qty[i] * p,
                        "reason": "remainder below the amount step after selling the position"})


def _buy_scale(ctx: PlanContext, want_n: np.ndarray, idx: list[int], cash: float) -> float:
    """Common factor (<= 1) on all buys so that notionals plus estimated costs fit in cash."""

    def need(scale: float) -> float:
        return sum(want_n[i] * scale + ctx.model.cost(ctx.universe[i], want_n[i] * scale)
                   for i in idx)

    budget = max(cash, 0.0) * (1 - 1e-12)
    if not idx or need(1.0) <= max(cash, 0.0):
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if need(mid) <= budget:
            lo = mid
        else:
            hi = mid
    return lo


def _buy(ctx: PlanContext, ex: Execution, i: int, notional_wanted: float, reason: str,
         note: str) -> None:
    sym, p = ctx.universe[i], ctx.prices[i]
    want = notional_wanted / p
    r = round_order(ctx.rules[i], want, p, symbol=sym)
    if not r.ok:
        ex.dust.append({"symbol": sym, "side": "buy", "quantity": want, "notional": want * p,
                        "reason": f"buy {r.reason}{note}"})
        return
    notional = r.quantity * r.price
    spend = notional + ctx.model.cost(sym, notional)
    if spend > ex.cash + ctx.tol:  # cannot happen by construction; never silently dropped
        ex.dust.append({"symbol": sym, "side": "buy", "quantity": r.quantity,
                        "notional": notional, "reason": "buy not affordable with cash"})
        return
    ex.order(ctx, i, "buy", r.quantity, r.price,
             reason + note + (f"; {r.reason}" if r.reason else ""))
    ex.cash = max(ex.cash - spend, 0.0)  # absorbs float rounding of at most `tol`
    ex.qty[i] += r.quantity
    ex.bought[i] = r.quantity


def _untradeable_holdings(ctx: PlanContext, ex: Execution) -> None:
    """Holdings left untouched that could not be sold anyway (below the exchange minimums)."""
    in_dust = {d["symbol"] for d in ex.dust}
    for i, sym in enumerate(ctx.universe):
        if ctx.rules[i] is None or ex.qty[i] <= 0 or ex.sold[i] > 0 or ex.bought[i] > 0:
            continue
        if sym in in_dust:
            continue
        r = round_order(ctx.rules[i], ex.qty[i], ctx.prices[i], symbol=sym)
        if not r.ok:
            ex.dust.append({"symbol": sym, "side": "hold", "quantity": ex.qty[i],
                            "notional": ex.qty[i] * ctx.prices[i],
                            "reason": f"holding {r.reason}: too small to sell"})


def execute(ctx: PlanContext, w_star: np.ndarray, reasons: list[str],
            cap_sell: np.ndarray | None = None, cap_buy: np.ndarray | None = None) -> Execution:
    """Orders taking the portfolio from ``ctx.w`` toward ``w_star`` (sells first, then buys).

    ``cap_sell``/``cap_buy`` limit each asset's quantity (the cost-aware plan never trades more
    than the naive one).
    """
    n = len(ctx.universe)
    ex = Execution(qty=ctx.qty.copy(), cash=float(ctx.cash), lots=ctx.lots, sold=np.zeros(n),
                   bought=np.zeros(n))
    delta = (w_star - ctx.w) * ctx.value  # wanted notional change (+ buy)
    for i in range(n):
        if delta[i] < -ctx.tol and ex.qty[i] > 0:
            _sell(ctx, ex, i, delta[i], w_star[i], reasons[i],
                  None if cap_sell is None else cap_sell[i])
    want_n = np.where(delta > ctx.tol, delta, 0.0)
    if cap_buy is not None:
        want_n = np.minimum(want_n, cap_buy * ctx.prices)
    idx = [i for i in range(n) if want_n[i] > 0]
    scale = _buy_scale(ctx, want_n, idx, ex.cash)
    note = " (scaled down: not enough cash)" if scale < 1 - 1e-9 else ""
    for i in idx:
        _buy(ctx, ex, i, want_n[i] * scale, reasons[i], note)
    _untradeable_holdings(ctx, ex)
    return ex
