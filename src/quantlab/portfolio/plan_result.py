"""The result of :func:`quantlab.portfolio.plan_rebalance`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from quantlab._result import Result

__all__ = ["DUST_COLUMNS", "ORDER_COLUMNS", "WEIGHT_COLUMNS", "RebalancePlan"]

ORDER_COLUMNS = ["symbol", "side", "quantity", "price", "notional", "fee", "cost", "reason"]
DUST_COLUMNS = ["symbol", "side", "quantity", "notional", "reason"]
WEIGHT_COLUMNS = ["current", "target", "post_trade", "drift", "residual"]


@dataclass(repr=False)
class RebalancePlan(Result):
    """The result of :func:`plan_rebalance`.

    ``stats()`` holds the key figures (values in quote currency, fractions unscaled),
    ``summary()`` the per-symbol table (weights before/after, drift, and the order placed),
    ``sections()`` the detail tables by title, ``plot()`` current vs target vs post-trade weights.

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

    _percent: ClassVar[frozenset[str]] = frozenset({
        *WEIGHT_COLUMNS, "turnover", "tracking_error_before", "tracking_error_after"})
    _money: ClassVar[frozenset[str]] = frozenset({
        "value_before", "value_after", "cash_before", "cash_after", "traded_notional", "fees",
        "cost", "realized_gain", "short_term_gain", "long_term_gain", "harvestable_loss",
        "naive_notional", "notional"})

    @property
    def traded_notional(self) -> float:
        """Sum of order notionals (buys and sells)."""
        return float(self.orders["notional"].sum()) if len(self.orders) else 0.0

    @property
    def fees(self) -> float:
        """Sum of exchange fees."""
        return float(self.orders["fee"].sum()) if len(self.orders) else 0.0

    def title(self) -> str:
        when = str(self.params.get("as_of", ""))[:10]
        quote = self.params.get("quote", "")
        n_sell = int((self.orders["side"] == "sell").sum()) if len(self.orders) else 0
        return (f"Rebalance plan{' as of ' + when if when else ''}: {len(self.orders)} orders "
                f"({n_sell} sells, {len(self.orders) - n_sell} buys), traded "
                f"{self.traded_notional:,.2f} {quote}, cost {self.cost:,.2f}")

    def stats(self) -> pd.Series:
        """Key figures: values, cash, order counts, traded notional, turnover, fees, cost,
        tracking error before/after, realized gains (short/long term), dust count, harvestable
        loss (and the naive plan's notional in cost-aware mode)."""
        realized = self.realized
        has_gains = len(realized) > 0

        def gains(term: str | None = None) -> float:
            if not has_gains:
                return 0.0
            rows = realized if term is None else realized.loc[realized["term"] == term]
            return float(rows["gain"].sum())

        sides = self.orders["side"] if len(self.orders) else pd.Series(dtype=object)
        out = {
            "value_before": self.value_before,
            "value_after": self.value_after,
            "cash_before": self.cash_before,
            "cash_after": self.cash_after,
            "orders": len(self.orders),
            "buys": int((sides == "buy").sum()),
            "sells": int((sides == "sell").sum()),
            "traded_notional": self.traded_notional,
            "turnover": self.traded_notional / self.value_before if self.value_before else 0.0,
            "fees": self.fees,
            "cost": self.cost,
            "tracking_error_before": self.tracking_error_before,
            "tracking_error_after": self.tracking_error_after,
            "realized_gain": gains(),
            "short_term_gain": gains("short"),
            "long_term_gain": gains("long"),
            "dust": len(self.dust),
            "harvestable_loss": float(self.harvest["unrealized"].sum()) if len(self.harvest) else 0.0,
        }
        if self.naive_notional is not None:
            out["naive_notional"] = self.naive_notional
        return pd.Series(out, name="rebalance", dtype="object")

    def _summary_table(self) -> pd.DataFrame:
        """Per symbol (and cash): weights and the order placed (side, quantity, notional, cost)."""
        table = self.weights.copy()
        orders = self.orders.set_index("symbol") if len(self.orders) else None
        for col in ("side", "quantity", "notional", "cost"):
            if orders is None:
                table[col] = None if col == "side" else np.nan
            else:
                table[col] = orders[col].reindex(table.index)
        table["side"] = table["side"].astype(object).where(table["side"].notna(), None)
        return table

    def sections(self) -> dict[str, pd.DataFrame]:
        """The detail tables by display title, empty ones left out: orders, weights, tax lots
        sold, dust, tax-loss harvesting candidates."""
        out: dict[str, pd.DataFrame] = {}
        if len(self.orders):
            out["orders"] = self.orders
        out["weights"] = self.weights
        for title, table in (("tax lots sold", self.realized),
                             ("too small to trade (dust)", self.dust),
                             ("tax-loss harvesting candidates", self.harvest)):
            if table is not None and len(table):
                out[title] = table
        return out

    def _extra_dict(self) -> dict[str, Any]:
        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            return df.to_dict(orient="records")

        weights = self.weights.reset_index().rename(columns={"index": "symbol"})
        return {
            "orders": records(self.orders),
            "weights": records(weights),
            "realized": records(self.realized),
            "dust": records(self.dust),
            "harvest": records(self.harvest),
            "positions_after": self.positions_after.to_dict(),
            "warnings": list(self.warnings),
            "params": self.params,
        }

    def _figure(self, **kwargs: Any) -> Any:
        from quantlab.charts.portfolio import rebalance_weights_figure

        if kwargs:
            raise TypeError(f"plot() got unexpected arguments: {', '.join(kwargs)}")
        return rebalance_weights_figure(self.weights)
