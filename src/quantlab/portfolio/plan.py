"""Rebalance planning: holdings + target weights -> an exchange-valid, tax-aware order list.

``plan_rebalance`` values the portfolio at ``prices`` (``V = cash + sum(quantity * price)``),
decides which assets trade and how far, then turns that into orders:

1. **Which assets trade.** Without ``bands`` every asset goes to its target. With bands an asset
   trades only when outside its band: absolute ``|w - t| > abs``, relative ``|w - t| > rel * t``
   (with both, the tighter band applies, i.e. it trades when either is breached). It trades back
   to the band edge (``band_mode="edge"``) or to the target (``"target"``).
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

Tracking error is ``||w - t||_2`` over the assets (cash excluded: it carries no risk), or
``sqrt((w - t)' cov (w - t))`` when ``cov`` (a covariance matrix of asset returns) is given.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from quantlab._util import to_jsonable
from quantlab._validate import check_weights
from quantlab.data.symbols import normalize_symbol
from quantlab.errors import ParameterError, UnknownSymbolError
from quantlab.portfolio.costs import CostModel, as_cost_model
from quantlab.portfolio.holdings import read_holdings
from quantlab.portfolio.lots import (
    REALIZED_COLUMNS,
    as_lots,
    check_lot_dates,
    check_method,
    consume_lots,
    harvest_candidates,
)
from quantlab.portfolio.markets import MarketRules, Markets, load_markets, round_order

__all__ = ["ORDER_COLUMNS", "RebalancePlan", "plan_rebalance"]

ORDER_COLUMNS = ["symbol", "side", "quantity", "price", "notional", "fee", "cost", "reason"]
DUST_COLUMNS = ["symbol", "side", "quantity", "notional", "reason"]
WEIGHT_COLUMNS = ["current", "target", "post_trade", "drift", "residual"]
CASH = "cash"


# --------------------------------------------------------------------------------------------
# result


@dataclass
class RebalancePlan:
    """The result of :func:`plan_rebalance`.

    Attributes
    ----------
    orders : DataFrame
        symbol, side ("sell"/"buy"), quantity, price, notional, fee (exchange fee), cost (fee +
        half-spread + impact estimate), reason. Sells first, then buys.
    weights : DataFrame
        Index: symbols and ``"cash"``; columns current, target, post_trade, drift
        (``current - target``), residual (``post_trade - target``).
    tracking_error_before, tracking_error_after : float
        ``||w - t||_2`` over the assets, or ``sqrt(d' cov d)`` with ``cov``.
    cost : float
        Total estimated cost of the orders.
    cash_before, cash_after : float
        Cash (quote currency) before and after the orders, all estimated costs paid.
    realized : DataFrame
        Lots consumed by sells: symbol, acquired, quantity, unit_cost, price, proceeds,
        cost_basis, fee, gain, holding_days, term. Empty without lots.
    dust : DataFrame
        Orders and holdings too small to trade: symbol, side, quantity, notional, reason.
    harvest : DataFrame
        Tax-loss harvesting suggestions on the lots left after the plan's sells (bought
        quantities carry no loss and are not included; no wash-sale check).
    positions_after : Series
        Post-trade quantities by symbol.
    warnings : list of str
        Things the user should know (unknown market rules, ...).
    """

    orders: pd.DataFrame
    weights: pd.DataFrame
    tracking_error_before: float
    tracking_error_after: float
    cost: float
    cash_before: float
    cash_after: float
    value_before: float
    value_after: float
    realized: pd.DataFrame
    dust: pd.DataFrame
    harvest: pd.DataFrame
    positions_after: pd.Series
    warnings: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    naive_notional: float | None = None

    @property
    def traded_notional(self) -> float:
        """Sum of order notionals (buys and sells)."""
        return float(self.orders["notional"].sum()) if len(self.orders) else 0.0

    @property
    def fees(self) -> float:
        """Sum of exchange fees."""
        return float(self.orders["fee"].sum()) if len(self.orders) else 0.0

    def summary(self) -> pd.Series:
        """Key figures as a Series (values in quote currency unless a fraction)."""
        realized = self.realized
        gain = float(realized["gain"].sum()) if len(realized) else 0.0
        short = float(realized.loc[realized["term"] == "short", "gain"].sum()) if len(realized) else 0.0
        long_ = float(realized.loc[realized["term"] == "long", "gain"].sum()) if len(realized) else 0.0
        out = {
            "value_before": self.value_before,
            "value_after": self.value_after,
            "cash_before": self.cash_before,
            "cash_after": self.cash_after,
            "orders": len(self.orders),
            "buys": int((self.orders["side"] == "buy").sum()) if len(self.orders) else 0,
            "sells": int((self.orders["side"] == "sell").sum()) if len(self.orders) else 0,
            "traded_notional": self.traded_notional,
            "turnover": self.traded_notional / self.value_before if self.value_before else 0.0,
            "fees": self.fees,
            "cost": self.cost,
            "tracking_error_before": self.tracking_error_before,
            "tracking_error_after": self.tracking_error_after,
            "realized_gain": gain,
            "short_term_gain": short,
            "long_term_gain": long_,
            "dust": len(self.dust),
            "harvestable_loss": float(self.harvest["unrealized"].sum()) if len(self.harvest) else 0.0,
        }
        if self.naive_notional is not None:
            out["naive_notional"] = self.naive_notional
        return pd.Series(out, name="rebalance", dtype="object")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (for ``--json``)."""
        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            return to_jsonable(df.to_dict(orient="records"))

        weights = self.weights.reset_index().rename(columns={"index": "symbol"})
        return to_jsonable({
            "summary": self.summary().to_dict(),
            "orders": records(self.orders),
            "weights": records(weights),
            "realized": records(self.realized),
            "dust": records(self.dust),
            "harvest": records(self.harvest),
            "positions_after": self.positions_after.to_dict(),
            "warnings": list(self.warnings),
            "params": self.params,
        })

    def _repr_html_(self) -> str:
        s = self.summary()
        parts = ["<div class='quantlab-rebalance'><h4>Rebalance plan</h4>",
                 s.to_frame().to_html(float_format=lambda x: f"{x:,.6g}")]
        if self.warnings:
            parts.append("<ul>" + "".join(f"<li>{w}</li>" for w in self.warnings) + "</ul>")
        parts.append("<h5>Orders</h5>")
        parts.append(self.orders.to_html(index=False) if len(self.orders) else "<p>no orders</p>")
        parts.append("<h5>Weights</h5>" + self.weights.to_html(float_format=lambda x: f"{x:.4f}"))
        if len(self.dust):
            parts.append("<h5>Dust</h5>" + self.dust.to_html(index=False))
        return "".join(parts) + "</div>"

    def __repr__(self) -> str:
        return (f"RebalancePlan(orders={len(self.orders)}, traded={self.traded_notional:,.2f}, "
                f"cost={self.cost:,.2f}, te {self.tracking_error_before:.4f} -> "
                f"{self.tracking_error_after:.4f}, dust={len(self.dust)})")

    def plot(self) -> Any:
        """Grouped bars: current vs target vs post-trade weights (plotly Figure)."""
        import plotly.graph_objects as go

        w = self.weights
        fig = go.Figure()
        for col, name in (("current", "current"), ("target", "target"),
                          ("post_trade", "post-trade")):
            fig.add_trace(go.Bar(x=list(w.index), y=w[col].to_list(), name=name))
        fig.update_layout(barmode="group", title="Rebalance: weights",
                          yaxis_title="weight", yaxis_tickformat=".0%", template="plotly_white")
        return fig


# --------------------------------------------------------------------------------------------
# input parsing


def _float(value: Any) -> float:
    """``float(value)``, NaN for non-numbers (booleans included: True is not 1 here)."""
    if isinstance(value, bool | np.bool_):
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _as_map(obj: Any, name: str) -> dict[str, Any]:
    if isinstance(obj, pd.DataFrame):
        if obj.shape[1] == 1:
            obj = obj.iloc[:, 0]
        else:
            raise ParameterError(f"{name} must be a Series or mapping symbol -> number")
    if isinstance(obj, pd.Series):
        items = list(obj.items())
    elif isinstance(obj, Mapping):
        items = list(obj.items())
    else:
        raise ParameterError(f"{name} must be a Series or mapping symbol -> number")
    out: dict[str, Any] = {}
    first: dict[str, Any] = {}
    for key, value in items:
        try:
            sym = normalize_symbol(key) if isinstance(key, str) else None
        except ParameterError:
            sym = None
        if sym is None:
            raise ParameterError(f"{name}: key {key!r} is not a symbol like BTC/USDT")
        if sym in out:
            raise ParameterError(f"{name} lists {sym} twice ({first[sym]!r} and {key!r})")
        first[sym] = key
        out[sym] = value
    return out


def _parse_holdings(holdings: Any, lots: Any) -> tuple[dict[str, float], pd.DataFrame | None]:
    lot_df: pd.DataFrame | None = None
    if isinstance(holdings, pd.DataFrame) and "unit_cost" in holdings.columns:
        lot_df = as_lots(holdings, name="holdings")
        pos = lot_df.groupby("symbol", sort=False)["quantity"].sum().to_dict()
        positions = {k: float(v) for k, v in pos.items()}
    else:
        if isinstance(holdings, pd.DataFrame) and {"symbol", "quantity"} <= set(holdings.columns):
            if holdings["symbol"].duplicated().any():
                dup = holdings["symbol"][holdings["symbol"].duplicated()].iloc[0]
                raise ParameterError(f"holdings lists {dup} twice")
            holdings = holdings.set_index("symbol")["quantity"]
        raw = _as_map(holdings, "holdings")
        positions = {}
        for sym, value in raw.items():
            q = _float(value)
            if not math.isfinite(q):
                raise ParameterError(f"holdings: quantity of {sym} is {value!r}; must be a number")
            if q < 0:
                raise ParameterError(
                    f"holdings: quantity of {sym} is {q:g}; must be >= 0 (long-only)"
                )
            positions[sym] = q
    if lots is not None:
        if lot_df is not None:
            raise ParameterError("lots= given while holdings is already a lots table")
        lot_df = as_lots(lots)
        sums = lot_df.groupby("symbol")["quantity"].sum()
        for sym, total in sums.items():
            held = positions.get(sym, 0.0)
            if not math.isclose(total, held, rel_tol=1e-9, abs_tol=1e-12):
                raise ParameterError(
                    f"lots of {sym} hold {total:g} but holdings say {held:g}; they must match"
                )
        for sym, held in positions.items():
            if held > 0 and sym not in sums.index:
                raise ParameterError(f"lots= has no lots for {sym} (held {held:g})")
    return positions, lot_df


def _parse_targets(targets: Any) -> dict[str, float]:
    raw = _as_map(targets, "targets")
    out: dict[str, float] = {}
    for sym, value in raw.items():
        w = _float(value)
        if not math.isfinite(w):
            raise ParameterError(f"targets: weight of {sym} is {value!r}; must be a number")
        if w < 0:
            raise ParameterError(f"targets: weight of {sym} is {w:g}; long-only weights must be >= 0")
        out[sym] = w
    total = sum(out.values())
    if total > 1 + 1e-9:
        raise ParameterError(f"targets sum to {total:.6g}; they must sum to <= 1 (the rest is cash)")
    return out


def _parse_bands(bands: Any, t: np.ndarray) -> np.ndarray | None:
    if bands is None:
        return None
    abs_b: float | None = None
    rel_b: float | None = None
    if isinstance(bands, Mapping):
        unknown = set(bands) - {"abs", "rel"}
        if unknown or not bands:
            raise ParameterError(f"bands={dict(bands)!r} must be a float or a dict with 'abs'/'rel'")
        abs_b = bands.get("abs")
        rel_b = bands.get("rel")
    else:
        abs_b = bands
    width = np.full(t.shape, np.inf)
    for name, value in (("abs", abs_b), ("rel", rel_b)):
        if value is None:
            continue
        v = _float(value)
        if not math.isfinite(v) or v < 0:
            raise ParameterError(f"bands {name}={value!r} must be a number >= 0")
        width = np.minimum(width, v if name == "abs" else v * t)
    return width


def _cov_scale(cov: Any, universe: list[str]) -> np.ndarray | None:
    if cov is None:
        return None
    if not isinstance(cov, pd.DataFrame):
        raise ParameterError("cov must be a DataFrame (covariance of asset returns)")
    cov = cov.copy()
    cov.index = [normalize_symbol(str(s)) for s in cov.index]
    cov.columns = [normalize_symbol(str(s)) for s in cov.columns]
    missing = [s for s in universe if s not in cov.index or s not in cov.columns]
    if missing:
        raise ParameterError(f"cov has no row/column for {', '.join(missing)}")
    m = cov.loc[universe, universe].to_numpy(dtype="float64")
    if not np.isfinite(m).all():
        raise ParameterError("cov contains NaN/inf")
    if np.any(np.diag(m) < 0) or not np.allclose(m, m.T, atol=1e-12):
        raise ParameterError("cov must be symmetric with non-negative variances")
    return m


# --------------------------------------------------------------------------------------------
# core


@dataclass
class _Context:
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


def _execute(ctx: _Context, w_star: np.ndarray, reasons: list[str],
             cap_sell: np.ndarray | None = None, cap_buy: np.ndarray | None = None) -> dict[str, Any]:
    n = len(ctx.universe)
    qty = ctx.qty.copy()
    cash = float(ctx.cash)
    orders: list[dict[str, Any]] = []
    dust: list[dict[str, Any]] = []
    realized: list[pd.DataFrame] = []
    lots = ctx.lots
    tol = 1e-12 * max(ctx.value, 1.0)
    delta = (w_star - ctx.w) * ctx.value  # wanted notional change (+ buy)
    sold = np.zeros(n)
    bought = np.zeros(n)

    # ---- sells
    for i in range(n):
        if delta[i] >= -tol or qty[i] <= 0:
            continue
        sym, p, rules = ctx.universe[i], ctx.prices[i], ctx.rules[i]
        want = min(-delta[i] / p, qty[i])
        full_exit = w_star[i] <= 0 or want >= qty[i] * (1 - 1e-9)
        if full_exit:
            want = qty[i]
        if cap_sell is not None:
            want = min(want, cap_sell[i])
        if want <= 0:
            continue
        r = round_order(rules, want, p, symbol=sym)
        if not r.ok:
            what = "position" if full_exit and want == qty[i] else "sell"
            dust.append({"symbol": sym, "side": "sell", "quantity": want,
                         "notional": want * p, "reason": f"{what} {r.reason}"})
            continue
        notional = r.quantity * r.price
        cost = ctx.model.cost(sym, notional)
        cash += notional - cost
        qty[i] = max(qty[i] - r.quantity, 0.0)
        sold[i] = r.quantity
        reason = reasons[i] + (f"; {r.reason}" if r.reason else "")
        orders.append({"symbol": sym, "side": "sell", "quantity": r.quantity, "price": r.price,
                       "notional": notional, "fee": ctx.model.fee(notional), "cost": cost,
                       "reason": reason})
        if lots is not None:
            rz, lots = consume_lots(lots, sym, r.quantity, r.price, method=ctx.lot_method,
                                    fee=cost, as_of=ctx.as_of, long_term_days=ctx.long_term_days)
            realized.append(rz)
        if full_exit and qty[i] > 0:
            dust.append({"symbol": sym, "side": "sell", "quantity": qty[i],
                         "notional": qty[i] * p,
                         "reason": "remainder below the amount step after selling the position"})

    # ---- buys, funded from cash; scaled by a common factor when cash is short
    want_n = np.where(delta > tol, delta, 0.0)
    if cap_buy is not None:
        want_n = np.minimum(want_n, cap_buy * ctx.prices)
    idx = [i for i in range(n) if want_n[i] > 0]

    def need(scale: float) -> float:
        return sum(want_n[i] * scale + ctx.model.cost(ctx.universe[i], want_n[i] * scale)
                   for i in idx)

    budget = max(cash, 0.0) * (1 - 1e-12)
    scale = 1.0
    if idx and need(1.0) > max(cash, 0.0):
        lo, hi = 0.0, 1.0
        for _ in range(80):
            mid = (lo + hi) / 2
            if need(mid) <= budget:
                lo = mid
            else:
                hi = mid
        scale = lo
    scaled = scale < 1 - 1e-9
    note = " (scaled down: not enough cash)" if scaled else ""
    for i in idx:
        sym, p, rules = ctx.universe[i], ctx.prices[i], ctx.rules[i]
        want = want_n[i] * scale / p
        r = round_order(rules, want, p, symbol=sym)
        if not r.ok:
            dust.append({"symbol": sym, "side": "buy", "quantity": want, "notional": want * p,
                         "reason": f"buy {r.reason}{note}"})
            continue
        notional = r.quantity * r.price
        cost = ctx.model.cost(sym, notional)
        spend = notional + cost
        if spend > cash + tol:  # cannot happen by construction; never silently dropped
            dust.append({"symbol": sym, "side": "buy", "quantity": r.quantity,
                         "notional": notional, "reason": "buy not affordable with cash"})
            continue
        cash = max(cash - spend, 0.0)  # absorbs float rounding of at most `tol`
        qty[i] += r.quantity
        bought[i] = r.quantity
        reason = reasons[i] + note
        reason += f"; {r.reason}" if r.reason else ""
        orders.append({"symbol": sym, "side": "buy", "quantity": r.quantity, "price": r.price,
                       "notional": notional, "fee": ctx.model.fee(notional), "cost": cost,
                       "reason": reason})

    # ---- holdings that were not traded but could not be sold anyway
    for i in range(n):
        if ctx.rules[i] is None or qty[i] <= 0 or sold[i] > 0 or bought[i] > 0:
            continue
        if any(d["symbol"] == ctx.universe[i] for d in dust):
            continue
        r = round_order(ctx.rules[i], qty[i], ctx.prices[i], symbol=ctx.universe[i])
        if not r.ok:
            dust.append({"symbol": ctx.universe[i], "side": "hold", "quantity": qty[i],
                         "notional": qty[i] * ctx.prices[i],
                         "reason": f"holding {r.reason}: too small to sell"})
    return {"orders": orders, "dust": dust, "qty": qty, "cash": cash, "sold": sold,
            "bought": bought, "lots": lots, "realized": realized}


def _cost_aware_weights(ctx: _Context, w_star: np.ndarray, aversion: float,
                        scale: np.ndarray) -> np.ndarray:
    out = ctx.w.copy()
    v = ctx.value
    for i, sym in enumerate(ctx.universe):
        d = w_star[i] - ctx.w[i]
        a = abs(d)
        if a <= 0:
            continue
        lam = aversion * scale[i]

        def g(y: float, a: float = a, lam: float = lam, sym: str = sym) -> float:
            # marginal benefit - marginal cost of trading y (weight units)
            return lam * (a - y) - ctx.model.marginal_rate(sym, y * v)

        if g(0.0) <= 0:
            continue
        if g(a) >= 0:
            y = a
        else:
            lo, hi = 0.0, a
            for _ in range(100):
                mid = (lo + hi) / 2
                if g(mid) > 0:
                    lo = mid
                else:
                    hi = mid
            y = lo
        out[i] = ctx.w[i] + math.copysign(y, d)
    return out


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
    targets : Series/Mapping symbol -> weight
        Long-only target weights (>= 0) summing to <= 1; the remainder is the cash target.
        Held symbols missing from ``targets`` have target 0 (sold).
    cash : float
        Cash in ``quote`` currency (>= 0).
    markets : None, "binance", dict, Markets or ccxt exchange
        Exchange rules (see :func:`quantlab.portfolio.markets.load_markets`); None = fractional
        amounts with no minimums.
    costs : None, CostModel or dict
        Cost model (default: 10 bps fee, no spread, no impact).
    bands : None, float or {"abs": a} / {"rel": r} / both
        Drift bands; a float is an absolute band.
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
    positions, lot_df = _parse_holdings(holdings, lots)
    target_map = _parse_targets(targets)
    price_map = _as_map(prices, "prices")
    cash_f = _float(cash)
    if not math.isfinite(cash_f) or cash_f < 0:
        raise ParameterError(f"cash={cash!r} must be a number >= 0")
    if band_mode not in ("edge", "target"):
        raise ParameterError(f"band_mode={band_mode!r} must be 'edge' or 'target'")
    lot_method = check_method(lot_method)
    try:
        if isinstance(long_term_days, bool):
            raise TypeError(long_term_days)
        ltd = int(long_term_days)
    except (TypeError, ValueError):
        raise ParameterError(f"long_term_days={long_term_days!r} must be a whole number") from None
    if ltd < 0 or ltd != _float(long_term_days):
        raise ParameterError(f"long_term_days={long_term_days!r} must be a whole number >= 0")
    aversion_f = _float(aversion)
    if cost_aware and (not math.isfinite(aversion_f) or aversion_f <= 0):
        raise ParameterError(f"aversion={aversion!r} must be a positive number")
    try:
        as_of_ts = pd.Timestamp(as_of) if as_of is not None else pd.Timestamp.now(tz="UTC")
    except (TypeError, ValueError):
        raise ParameterError(f"as_of={as_of!r} is not a date") from None
    as_of_ts = as_of_ts.tz_localize("UTC") if as_of_ts.tzinfo is None else as_of_ts.tz_convert("UTC")
    if lot_df is not None:
        check_lot_dates(lot_df, as_of_ts, name="holdings" if lots is None else "lots")
    model = as_cost_model(costs)

    universe = list(target_map)
    universe += [s for s in positions if s not in target_map and positions[s] > 0]
    if lot_df is not None:
        universe += [s for s in lot_df["symbol"].unique() if s not in universe]
    for sym in universe:
        if sym.split("/", 1)[1] != quote:
            raise ParameterError(f"{sym} is not quoted in {quote} (quote={quote!r})")
        if sym not in price_map:
            where = "targets" if sym in target_map else "holdings"
            raise UnknownSymbolError(f"no price for {sym} (in {where})")
    px = np.array([_float(price_map[s]) for s in universe])
    bad = ~np.isfinite(px) | (px <= 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ParameterError(f"prices: {universe[i]} price is {price_map[universe[i]]!r}; "
                             "must be a positive number")
    t = check_weights({s: target_map.get(s, 0.0) for s in universe}, universe, name="targets")
    qty = np.array([positions.get(s, 0.0) for s in universe])
    value = cash_f + float(qty @ px)
    if value <= 0:
        raise ParameterError("portfolio value is 0 (no cash, no holdings): nothing to rebalance")
    w = qty * px / value

    warnings: list[str] = []
    mk: Markets | None = load_markets(markets) if markets is not None else None
    rules: list[MarketRules | None] = []
    for sym in universe:
        r = mk.get_rules(sym) if mk is not None else None
        if mk is not None and r is None:
            warnings.append(f"no exchange rules for {sym} in {mk.source or 'markets'}: "
                            "amounts not rounded")
        elif r is not None and not r.known:
            warnings.append(f"exchange rules for {sym} are unknown in {mk.source}: "
                            "amounts not rounded, no minimums checked")
            r = None
        rules.append(r)

    cov_m = _cov_scale(cov, universe)
    ctx = _Context(universe=universe, prices=px, qty=qty, cash=cash_f, value=value, w=w, t=t,
                   rules=rules, model=model, lots=lot_df, lot_method=lot_method,
                   as_of=as_of_ts, long_term_days=ltd)

    # which assets trade, and to where
    width = _parse_bands(bands, t)
    reasons = ["rebalance to target"] * len(universe)
    if width is None:
        w_star = t.copy()
    else:
        dev = w - t
        outside = np.abs(dev) > width + 1e-12
        if band_mode == "edge":
            edge = t + np.sign(dev) * np.minimum(width, np.abs(dev))
            w_star = np.where(outside, np.maximum(edge, 0.0), w)
            reasons = ["outside band: to band edge"] * len(universe)
        else:
            w_star = np.where(outside, t, w)
            reasons = ["outside band: to target"] * len(universe)
    for i in range(len(universe)):
        if t[i] == 0 and w_star[i] == 0 and w[i] > 0:
            reasons[i] = "not in targets: sell" if universe[i] not in target_map else "target 0: sell"

    naive_notional = None
    if cost_aware:
        naive = _execute(ctx, t.copy(), ["rebalance to target"] * len(universe))
        naive_notional = float(sum(o["notional"] for o in naive["orders"]))
        if cov_m is not None:
            d = np.diag(cov_m)
            scale = d / d.mean() if d.mean() > 0 else np.ones_like(d)
        else:
            scale = np.ones(len(universe))
        w_star = _cost_aware_weights(ctx, w_star, aversion_f, scale)
        reasons = [r.replace("rebalance to target", "cost-aware: partial rebalance") for r in reasons]
        res = _execute(ctx, w_star, reasons, cap_sell=naive["sold"], cap_buy=naive["bought"])
    else:
        res = _execute(ctx, w_star, reasons)

    qty_after = res["qty"]
    cash_after = float(res["cash"])
    value_after = cash_after + float(qty_after @ px)
    w_after = qty_after * px / value_after if value_after > 0 else np.zeros_like(qty_after)

    def te(d: np.ndarray) -> float:
        if cov_m is not None:
            return float(math.sqrt(max(float(d @ cov_m @ d), 0.0)))
        return float(np.linalg.norm(d))

    cash_t = 1.0 - float(t.sum())
    weights = pd.DataFrame(
        {"current": np.append(w, cash_f / value),
         "target": np.append(t, cash_t),
         "post_trade": np.append(w_after, cash_after / value_after if value_after > 0 else 0.0)},
        index=pd.Index([*universe, CASH], name="symbol"),
    )
    weights["drift"] = weights["current"] - weights["target"]
    weights["residual"] = weights["post_trade"] - weights["target"]

    orders = pd.DataFrame(res["orders"], columns=ORDER_COLUMNS)
    dust = pd.DataFrame(res["dust"], columns=DUST_COLUMNS)
    if res["realized"]:
        realized = pd.concat(res["realized"], ignore_index=True)
    else:
        realized = pd.DataFrame(columns=REALIZED_COLUMNS)
    if res["lots"] is not None:
        harvest = harvest_candidates(res["lots"], dict(zip(universe, px, strict=True)),
                                     threshold=harvest_threshold, as_of=as_of_ts,
                                     long_term_days=ltd)
    else:
        harvest = harvest_candidates(pd.DataFrame(columns=["symbol", "quantity", "unit_cost",
                                                           "acquired"]), {},
                                     threshold=harvest_threshold, as_of=as_of_ts)
    params = {
        "cash": cash_f, "markets": None if mk is None else mk.source, "costs": model.to_dict(),
        "bands": bands if not isinstance(bands, Mapping) else dict(bands),
        "band_mode": band_mode, "cost_aware": bool(cost_aware),
        "aversion": aversion_f if cost_aware else None, "lot_method": lot_method,
        "long_term_days": ltd, "as_of": as_of_ts.isoformat(), "quote": quote,
        "cov": cov is not None, "harvest_threshold": harvest_threshold,
    }
    return RebalancePlan(
        orders=orders, weights=weights,
        tracking_error_before=te(w - t), tracking_error_after=te(w_after - t),
        cost=float(orders["cost"].sum()) if len(orders) else 0.0,
        cash_before=cash_f, cash_after=cash_after, value_before=value, value_after=value_after,
        realized=realized, dust=dust, harvest=harvest,
        positions_after=pd.Series(qty_after, index=pd.Index(universe, name="symbol"),
                                  name="quantity"),
        warnings=warnings, params=params, naive_notional=naive_notional,
    )
