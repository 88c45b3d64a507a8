"""Rebalance planning: holdings + target weights -> an exchange-valid, tax-aware order list.

``plan_rebalance`` values the portfolio at ``prices`` (``V = cash + sum(quantity * price)``),
decides which assets trade and how far, then turns that into orders:

1. **Which assets trade.** Without ``bands`` every asset goes to its target. With bands an asset
   trades only when outside its band: absolute ``|w - t| > abs``, relative ``|w - t| > rel * t``
   (with both, the tighter band applies, i.e. it trades when either is breached). It trades back
   to the band edge (``band_mode="edge"``) or to the target (``"target"``). A zero target is not
   a band: an asset whose target is 0, or that is not in the targets, is sold completely whatever
   its weight (:mod:`quantlab.portfolio.plan_targets`).
2. **Cost-aware mode** (``cost_aware=True``): per asset, the post-trade weight minimises
   ``aversion/2 * s_i * (w_i' - t_i)**2 + cost_i(|w_i' - w_i| * V) / V`` (``s_i = 1``, or with
   ``cov`` the asset's variance divided by the mean variance, so ``aversion`` keeps its scale).
   The solution is a no-trade region: an asset trades only when ``aversion * s_i * |drift|``
   exceeds the marginal cost of its first unit (fee + half-spread), and then only up to where the
   marginal benefit equals the marginal cost (with a linear cost this is soft-thresholding: the
   trade stops ``cost_rate / (aversion * s_i)`` short of the target). Cross-asset covariance terms
   are ignored (a diagonal approximation). Every cost-aware order is capped at the size of the
   same asset's order in the naive plan (plain rebalance to target, same rules), so the
   cost-aware plan never trades more notional than the naive plan.
3. **Orders.** Sells first: quantities rounded *down* to the amount step; orders below the min
   amount / min notional go to ``.dust`` with the reason; selling an asset whose target is 0
   sells the whole position. Sale proceeds net of estimated costs go to cash. Buys next, funded
   from cash: when cash (after sells) cannot pay for all buys plus their estimated costs, all buys
   are scaled down by a common factor, then rounded down and checked. Post-trade cash is >= 0 and
   no holding goes negative (long-only).
4. **Taxes.** With lots (a lots table as ``holdings`` or ``lots=``), sells consume lots by
   ``lot_method`` (see :mod:`quantlab.portfolio.lots`) and ``.realized`` lists each lot consumed;
   ``.harvest`` lists remaining lots with an unrealized return <= ``harvest_threshold`` (no
   wash-sale check).

The pieces: :mod:`~quantlab.portfolio.plan_inputs` (checked inputs),
:mod:`~quantlab.portfolio.plan_targets` (bands, cost-aware weights),
:mod:`~quantlab.portfolio.plan_orders` (orders, cash, lots, dust) and
:mod:`~quantlab.portfolio.plan_result` (:class:`RebalancePlan`).

Tracking error is ``||w - t||_2`` over the assets (cash excluded: it carries no risk), or
``sqrt((w - t)' cov (w - t))`` when ``cov`` (a covariance matrix of asset returns) is given.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from quantlab._validate import check_weights
from quantlab.errors import ParameterError
from quantlab.portfolio.allocation import weights_of
from quantlab.portfolio.costs import as_cost_model
from quantlab.portfolio.holdings import read_holdings
from quantlab.portfolio.lots import (
    REALIZED_COLUMNS,
    check_lot_dates,
    check_method,
    harvest_candidates,
)
from quantlab.portfolio.plan_inputs import (
    as_map,
    check_scalars,
    cov_scale,
    market_rules,
    parse_bands,
    parse_holdings,
    parse_targets,
    universe_prices,
)
from quantlab.portfolio.plan_orders import Execution, PlanContext, execute
from quantlab.portfolio.plan_result import (
    DUST_COLUMNS,
    ORDER_COLUMNS,
    WEIGHT_COLUMNS,
    RebalancePlan,
)
from quantlab.portfolio.plan_targets import band_targets, cost_aware_weights, exit_reasons

__all__ = ["DUST_COLUMNS", "ORDER_COLUMNS", "WEIGHT_COLUMNS", "RebalancePlan", "plan_rebalance"]

CASH = "cash"


def plan_rebalance(
    holdings: Any,
    prices: Any,
    targets: Any,
    *,
    cash: float = 0.0,
    markets: Any = None,
    costs: Any = None,
    bands: Any = None,
    band_mode: str = "edge",
    cost_aware: bool = False,
    aversion: float = 0.1,
    lots: Any = None,
    lot_method: str = "fifo",
    long_term_days: int = 365,
    as_of: Any = None,
    quote: str = "USDT",
    cov: Any = None,
    harvest_threshold: float = -0.10,
) -> RebalancePlan:
    """Plan the orders that take ``holdings`` to ``targets`` (see the module doc for the rules).

    Parameters
    ----------
    holdings : Series/Mapping symbol -> quantity, lots DataFrame, or path
        Current positions in base units, or a lots table (symbol, quantity, unit_cost, acquired),
        e.g. from :func:`quantlab.portfolio.holdings.read_holdings`; a path to a holdings CSV is
        read with it.
    prices : Series/Mapping symbol -> price
        Price in ``quote`` of every held or targeted symbol.
    targets : Series/Mapping symbol -> weight, or OptimizeResult
        Long-only target weights (>= 0) summing to <= 1; the remainder is the cash target. An
        :class:`~quantlab.portfolio.OptimizeResult` stands for its ``.weights``. Held symbols
        missing from ``targets`` have target 0 and are sold completely (bands or not).
    cash : float
        Cash in ``quote`` currency (>= 0).
    markets : None, "binance", dict, Markets or ccxt exchange
        Exchange rules (see :func:`quantlab.portfolio.markets.load_markets`); None = fractional
        amounts with no minimums.
    costs : None, CostModel or dict
        Cost model (default: 10 bps fee, no spread, no impact).
    bands : None, float or {"abs": a} / {"rel": r} / both
        Drift bands; a float is an absolute band. Assets with a zero target are sold whatever
        the band.
    band_mode : {"edge", "target"}
        Where an asset outside its band trades to.
    cost_aware : bool
        Trade off tracking error against costs (module doc); ``aversion`` sets the trade-off
        (higher = closer to target; default 0.1, i.e. a no-trade band of ``cost_rate / 0.1``,
        1.2 % of weight with 12 bps fee + half-spread).
    lots : DataFrame, optional
        Lots when ``holdings`` is a quantity mapping; lot totals must equal the holdings.
    lot_method : {"fifo", "lifo", "hifo", "min_tax"}
    long_term_days : int
        Holding period (days) from which a gain is long-term (default 365).
    as_of : date-like, optional
        Valuation/sale date for holding periods (default: now, UTC).
    quote : str
        Quote currency; every symbol must be ``BASE/quote``.
    cov : DataFrame, optional
        Covariance of asset returns for the tracking error (and cost-aware scaling).
    harvest_threshold : float
        Lots with unrealized return <= this are harvesting suggestions (default -0.10).

    Raises
    ------
    ParameterError, UnknownSymbolError
        One-line messages naming the bad input (negative quantity, targets sum > 1, NaN price,
        a target without a price, ...).
    """
    quote = str(quote).upper()
    if isinstance(holdings, str | os.PathLike):
        holdings = read_holdings(holdings)
    positions, lot_df = parse_holdings(holdings, lots)
    target_map = parse_targets(weights_of(targets))
    price_map = as_map(prices, "prices")
    cash_f, ltd, aversion_f, as_of_ts = check_scalars(cash, band_mode, long_term_days, aversion,
                                                      cost_aware, as_of)
    lot_method = check_method(lot_method)
    if lot_df is not None:
        check_lot_dates(lot_df, as_of_ts, name="holdings" if lots is None else "lots")
    model = as_cost_model(costs)
    universe, px = universe_prices(target_map, positions, lot_df, price_map, quote)
    t = check_weights({s: target_map.get(s, 0.0) for s in universe}, universe, name="targets")
    qty = np.array([positions.get(s, 0.0) for s in universe])
    value = cash_f + float(qty @ px)
    if value <= 0:
        raise ParameterError("portfolio value is 0 (no cash, no holdings): nothing to rebalance")
    w = qty * px / value
    mk, rules, warnings = market_rules(markets, universe)
    cov_m = cov_scale(cov, universe)
    ctx = PlanContext(universe=universe, prices=px, qty=qty, cash=cash_f, value=value, w=w, t=t,
                      rules=rules, model=model, lots=lot_df, lot_method=lot_method,
                      as_of=as_of_ts, long_term_days=ltd)

    w_star, reasons = band_targets(w, t, parse_bands(bands, t), band_mode)
    reasons = exit_reasons(reasons, w, t, w_star, universe, set(target_map))
    naive_notional = None
    if cost_aware:
        res, naive_notional = _cost_aware(ctx, w_star, reasons, aversion_f, cov_m)
    else:
        res = execute(ctx, w_star, reasons)
    params = {
        "cash": cash_f, "markets": None if mk is None else mk.source, "costs": model.to_dict(),
        "bands": bands if not isinstance(bands, Mapping) else dict(bands),
        "band_mode": band_mode, "cost_aware": bool(cost_aware),
        "aversion": aversion_f if cost_aware else None, "lot_method": lot_method,
        "long_term_days": ltd, "as_of": as_of_ts.isoformat(), "quote": quote,
        "cov": cov is not None, "harvest_threshold": harvest_threshold,
    }
    return _plan(ctx, res, cov_m, harvest_threshold, warnings, params, naive_notional)


def _cost_aware(ctx: PlanContext, w_star: np.ndarray, reasons: list[str], aversion: float,
                cov_m: np.ndarray | None) -> tuple[Execution, float]:
    """The cost-aware execution, capped per asset by the naive plan (returned: its notional)."""
    n = len(ctx.universe)
    naive = execute(ctx, ctx.t.copy(), ["rebalance to target"] * n)
    naive_notional = float(sum(o["notional"] for o in naive.orders))
    if cov_m is not None:
        d = np.diag(cov_m)
        scale = d / d.mean() if d.mean() > 0 else np.ones_like(d)
    else:
        scale = np.ones(n)
    w_star = cost_aware_weights(ctx, w_star, aversion, scale)
    reasons = [r.replace("rebalance to target", "cost-aware: partial rebalance") for r in reasons]
    return execute(ctx, w_star, reasons, cap_sell=naive.sold, cap_buy=naive.bought), naive_notional


def _tracking_error(d: np.ndarray, cov_m: np.ndarray | None) -> float:
    if cov_m is not None:
        return float(math.sqrt(max(float(d @ cov_m @ d), 0.0)))
    return float(np.linalg.norm(d))


def _weights_table(ctx: PlanContext, qty_after: np.ndarray, cash_after: float,
                   value_after: float) -> pd.DataFrame:
    w_after = qty_after * ctx.prices / value_after if value_after > 0 else np.zeros_like(qty_after)
    weights = pd.DataFrame(
        {"current": np.append(ctx.w, ctx.cash / ctx.value),
         "target": np.append(ctx.t, 1.0 - float(ctx.t.sum())),
         "post_trade": np.append(w_after, cash_after / value_after if value_after > 0 else 0.0)},
        index=pd.Index([*ctx.universe, CASH], name="symbol"),
    )
    weights["drift"] = weights["current"] - weights["target"]
    weights["residual"] = weights["post_trade"] - weights["target"]
    return weights


def _plan(ctx: PlanContext, res: Execution, cov_m: np.ndarray | None, harvest_threshold: float,
          warnings: list[str], params: dict[str, Any], naive_notional: float | None
          ) -> RebalancePlan:
    """Tables and figures of an execution."""
    cash_after = float(res.cash)
    value_after = cash_after + float(res.qty @ ctx.prices)
    weights = _weights_table(ctx, res.qty, cash_after, value_after)
    w_after = weights["post_trade"].to_numpy()[:-1]
    orders = pd.DataFrame(res.orders, columns=ORDER_COLUMNS)
    realized = (pd.concat(res.realized, ignore_index=True) if res.realized
                else pd.DataFrame(columns=REALIZED_COLUMNS))
    if res.lots is not None:
        harvest = harvest_candidates(res.lots, dict(zip(ctx.universe, ctx.prices, strict=True)),
                                     threshold=harvest_threshold, as_of=ctx.as_of,
                                     long_term_days=ctx.long_term_days)
    else:
        harvest = harvest_candidates(pd.DataFrame(columns=["symbol", "quantity", "unit_cost",
                                                           "acquired"]), {},
                                     threshold=harvest_threshold, as_of=ctx.as_of)
    return RebalancePlan(
        orders=orders, weights=weights,
        tracking_error_before=_tracking_error(ctx.w - ctx.t, cov_m),
        tracking_error_after=_tracking_error(w_after - ctx.t, cov_m),
        cost=float(orders["cost"].sum()) if len(orders) else 0.0,
        cash_before=ctx.cash, cash_after=cash_after, value_before=ctx.value,
        value_after=value_after, realized=realized,
        dust=pd.DataFrame(res.dust, columns=DUST_COLUMNS), harvest=harvest,
        positions_after=pd.Series(res.qty, index=pd.Index(ctx.universe, name="symbol"),
                                  name="quantity"),
        warnings=warnings, params=params, naive_notional=naive_notional,
    )
