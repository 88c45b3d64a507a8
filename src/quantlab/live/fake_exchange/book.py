"""The fake exchange's matching engine and accounts.

One account with free and locked balance per asset. Market orders fill at once at the open of
the pricing-timeframe candle that contains the exchange clock (moved against the trader by
``slippage_bps``). A limit order that is marketable when it arrives fills at once at that price
(taker); otherwise it rests, locking its cost (buy: ``qty x price x (1 + fee)`` in quote; sell:
``qty`` in base), and fills in full at its limit price on the first candle closing after it was
placed whose low (buy) or high (sell) reaches it (:meth:`Book.sync`, called as the clock moves).
Fees are ``fee_rate`` of the traded notional, charged in the quote asset.

Checks happen in Binance's order: parameters (-1102/-1100/-1116/-1117/-1115), duplicate open
client id (-2010 ``Duplicate order sent.``), filters (-1013 ``Filter failure: ...``), balance
(-2010 ``Account has insufficient balance for requested action.``). Every method expects the
caller to hold :attr:`Book.lock`.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

from quantlab.live.fake_exchange import params as P
from quantlab.live.fake_exchange.candles import INTERVAL_MS, CandleSource
from quantlab.live.fake_exchange.errors import (
    ApiError,
    duplicate_order,
    insufficient_balance,
    mandatory,
)
from quantlab.live.fake_exchange.markets import SymbolSpec
from quantlab.live.fake_exchange.records import Order, Trade, fmt

__all__ = ["Book"]

D0 = Decimal(0)
Q8 = Decimal("0.00000001")
_RESP_TYPES = ("ACK", "RESULT", "FULL")


def _floor(x: Decimal, step: Decimal) -> Decimal:
    return (x / step).to_integral_value(ROUND_DOWN) * step


def _filter_failure(name: str) -> ApiError:
    return ApiError(-1013, f"Filter failure: {name}")


class Book:
    """Orders, trades and balances of the one account the fake exchange serves.

    Parameters
    ----------
    source : CandleSource
        Prices (its ``timeframe`` is the pricing timeframe).
    balances : mapping of str to float
        Initial free balances per asset.
    fee_rate : float
        Fee as a fraction of traded notional (0.001 = 0.1 %), in the quote asset.
    slippage_bps : float
        Market fills move this many basis points against the trader.
    now_ms : int
        Exchange time at start (limit orders are matched from here on).
    """

    def __init__(self, source: CandleSource, balances: Mapping[str, float], fee_rate: float,
                 slippage_bps: float, now_ms: int) -> None:
        self.lock = threading.RLock()
        self.source = source
        self.fee = Decimal(str(fee_rate))
        self.slip = Decimal(str(slippage_bps)) / Decimal(10_000)
        assets = {a for s in source.specs.values() for a in (s.base, s.quote)} | set(balances)
        self._bal = {a: [Decimal(str(balances.get(a, 0))), D0] for a in sorted(assets)}
        self._orders: dict[int, Order] = {}
        self._trades: list[Trade] = []
        self._order_ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self._synced = int(now_ms)
        self._updated = int(now_ms)

    # ------------------------------------------------------------------ market
    def spec(self, symbol: str) -> SymbolSpec:
        """The symbol's rules (-1121 ``Invalid symbol.`` when not listed)."""
        spec = self.source.specs.get(symbol)
        if spec is None:
            raise ApiError(-1121, "Invalid symbol.")
        return spec

    def price(self, symbol: str, now_ms: int) -> Decimal:
        """Open of the pricing candle containing ``now_ms`` (-1013 ``Market is closed.``)."""
        step = INTERVAL_MS[self.source.timeframe]
        candle = self.source.candle(symbol, now_ms // step * step, self.source.timeframe)
        if candle is None:
            raise ApiError(-1013, "Market is closed.")
        return Decimal(repr(candle[0]))

    def _market_price(self, spec: SymbolSpec, side: str, now_ms: int) -> Decimal:
        px = self.price(spec.symbol, now_ms)
        if not self.slip:
            return px
        if side == "BUY":
            return (px * (1 + self.slip) / spec.d("tick")).to_integral_value(ROUND_UP) * spec.d("tick")
        return _floor(px * (1 - self.slip), spec.d("tick"))

    # ------------------------------------------------------------------ orders
    def place(self, params: Mapping[str, str], now_ms: int, fraction: float | None = None
              ) -> dict[str, Any]:
        """Handle ``POST /api/v3/order``; returns the answer for ``newOrderRespType``.

        ``fraction`` (fault injection) fills only that part now: a market order then expires,
        a limit order stays partially filled and rests.
        """
        spec = self.spec(P.required(params, "symbol"))
        side = P.required(params, "side")
        if side not in ("BUY", "SELL"):
            raise ApiError(-1117, "Invalid side.")
        kind = P.required(params, "type")
        if kind not in ("MARKET", "LIMIT"):
            raise ApiError(-1116, "Invalid orderType.")
        resp_type = params.get("newOrderRespType") or "FULL"
        if resp_type not in _RESP_TYPES:
            raise ApiError(-1100, "Illegal characters found in parameter 'newOrderRespType'.")
        cid = P.client_id(params, "newClientOrderId")
        if cid is not None and any(o.client_id == cid and o.is_open for o in self._orders.values()):
            raise duplicate_order()
        qty, qoq = P.decimal(params, "quantity"), P.decimal(params, "quoteOrderQty")
        if kind == "LIMIT":
            tif = P.required(params, "timeInForce")
            if tif != "GTC":
                raise ApiError(-1115, "Invalid timeInForce.")
            if qty is None:
                raise mandatory("quantity")
            price = P.decimal(params, "price")
            if price is None:
                raise mandatory("price")
        elif qty is None and qoq is None:
            raise ApiError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!")
        px = self._market_price(spec, side, now_ms)
        if kind == "MARKET":
            price = D0
            if qty is None:
                qty = _floor(qoq / px, spec.d("step"))
        self._check_filters(spec, kind, qty, price, px)
        buy = side == "BUY"
        fill_px = (min(price, px) if buy else max(price, px)) if kind == "LIMIT" else px
        if buy:
            need = qty * (price if kind == "LIMIT" else px) * (1 + self.fee)
            if need > self._bal[spec.quote][0]:
                raise insufficient_balance()
        elif qty > self._bal[spec.base][0]:
            raise insufficient_balance()
        order = Order(next(self._order_ids), cid or "", spec.symbol, side, kind, qty, price,
                      now_ms, update_time=now_ms, quote_order_qty=qoq or D0)
        if not order.client_id:
            order.client_id = f"fake-{order.order_id}"
        self._orders[order.order_id] = order
        trades = self._execute(order, spec, px, fill_px, fraction, now_ms)
        if resp_type == "ACK":
            return order.ack()
        out = order.result()
        if resp_type == "FULL":
            out["fills"] = [t.fill() for t in trades]
        return out

    def _check_filters(self, spec: SymbolSpec, kind: str, qty: Decimal, price: Decimal,
                       px: Decimal) -> None:
        if kind == "LIMIT":
            tick = spec.d("tick")
            if price < tick or price > Decimal("1000000") or (price - tick) % tick:
                raise _filter_failure("PRICE_FILTER")
        step = spec.d("step")
        if qty < step or qty > spec.d("max_qty") or (qty - step) % step:
            raise _filter_failure("LOT_SIZE")
        if kind == "MARKET" and qty > spec.d("market_max_qty"):
            raise _filter_failure("MARKET_LOT_SIZE")
        if qty * (price if kind == "LIMIT" else px) < spec.d("min_notional"):
            raise _filter_failure("NOTIONAL")

    def _execute(self, order: Order, spec: SymbolSpec, px: Decimal, fill_px: Decimal,
                 fraction: float | None, now_ms: int) -> list[Trade]:
        step = spec.d("step")
        part = order.qty if fraction is None else _floor(order.qty * Decimal(str(fraction)), step)
        if order.type == "MARKET":
            trades = [self._fill(order, spec, part, fill_px, now_ms, maker=False)] if part else []
            order.status = "FILLED" if fraction is None else "EXPIRED"
            return trades
        buy = order.side == "BUY"
        order.locked = order.qty * order.price * (1 + self.fee) if buy else order.qty
        bucket = self._bal[spec.quote if buy else spec.base]
        bucket[0] -= order.locked
        bucket[1] += order.locked
        marketable = order.price >= px if buy else order.price <= px
        if fraction is None and not marketable:
            return []
        return [self._fill(order, spec, part, fill_px, now_ms, maker=not marketable)] if part else []

    def _fill(self, order: Order, spec: SymbolSpec, qty: Decimal, price: Decimal, now_ms: int,
              maker: bool) -> Trade:
        cost = qty * price
        fee = (cost * self.fee).quantize(Q8)
        quote, base = self._bal[spec.quote], self._bal[spec.base]
        if order.side == "BUY":
            if order.type == "LIMIT":
                last = qty == order.remaining
                release = order.locked if last else qty * order.price * (1 + self.fee)
                order.locked -= release
                quote[1] -= release
                quote[0] += release
            quote[0] -= cost + fee
            base[0] += qty
        else:
            if order.type == "LIMIT":
                order.locked -= qty
                base[1] -= qty
            else:
                base[0] -= qty
            quote[0] += cost - fee
        order.executed += qty
        order.quote += cost
        order.update_time = now_ms
        order.status = "FILLED" if order.executed == order.qty else "PARTIALLY_FILLED"
        trade = Trade(next(self._trade_ids), order.order_id, order.symbol, order.side, price, qty,
                      fee, spec.quote, now_ms, maker)
        self._trades.append(trade)
        self._updated = now_ms
        return trade

    def _release(self, order: Order) -> None:
        spec = self.source.specs[order.symbol]
        bucket = self._bal[spec.quote if order.side == "BUY" else spec.base]
        bucket[0] += order.locked
        bucket[1] -= order.locked
        order.locked = D0

    def _find(self, params: Mapping[str, str], error: ApiError) -> Order:
        symbol = self.spec(P.required(params, "symbol")).symbol
        oid = P.integer(params, "orderId")
        cid = P.client_id(params, "origClientOrderId")
        if oid is None and cid is None:
            raise ApiError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        if oid is not None:
            order = self._orders.get(oid)
        else:
            order = next((o for o in reversed(self._orders.values()) if o.client_id == cid), None)
        if order is None or order.symbol != symbol or (cid is not None and order.client_id != cid):
            raise error
        return order

    def get(self, params: Mapping[str, str]) -> dict[str, Any]:
        """Handle ``GET /api/v3/order`` (-2013 ``Order does not exist.``)."""
        return self._find(params, ApiError(-2013, "Order does not exist.")).to_dict()

    def cancel(self, params: Mapping[str, str], now_ms: int) -> dict[str, Any]:
        """Handle ``DELETE /api/v3/order`` (-2011 ``Unknown order sent.`` unless open)."""
        unknown = ApiError(-2011, "Unknown order sent.")
        order = self._find(params, unknown)
        if not order.is_open:
            raise unknown
        return self._cancel(order, P.client_id(params, "newClientOrderId"), now_ms)

    def _cancel(self, order: Order, cancel_id: str | None, now_ms: int) -> dict[str, Any]:
        self._release(order)
        order.status = "CANCELED"
        order.update_time = now_ms
        self._updated = now_ms
        return order.canceled(cancel_id or f"cancel-{order.order_id}", now_ms)

    def cancel_all(self, params: Mapping[str, str], now_ms: int) -> list[dict[str, Any]]:
        """Handle ``DELETE /api/v3/openOrders`` (one symbol; -2011 when none is open)."""
        symbol = self.spec(P.required(params, "symbol")).symbol
        working = [o for o in self._orders.values() if o.is_open and o.symbol == symbol]
        if not working:
            raise ApiError(-2011, "Unknown order sent.")
        return [self._cancel(o, None, now_ms) for o in working]

    def open_orders(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """Handle ``GET /api/v3/openOrders`` (all symbols unless ``symbol`` is given)."""
        symbol = self.spec(params["symbol"]).symbol if params.get("symbol") else None
        return [o.to_dict() for o in self._orders.values()
                if o.is_open and (symbol is None or o.symbol == symbol)]

    def my_trades(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """Handle ``GET /api/v3/myTrades`` (symbol, orderId, fromId, startTime, endTime, limit)."""
        symbol = self.spec(P.required(params, "symbol")).symbol
        limit = P.integer(params, "limit") or 500
        if not 1 <= limit <= 1000:
            raise ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
        oid, from_id = P.integer(params, "orderId"), P.integer(params, "fromId")
        start, end = P.integer(params, "startTime"), P.integer(params, "endTime")
        rows = [t for t in self._trades if t.symbol == symbol
                and (oid is None or t.order_id == oid)
                and (from_id is None or t.trade_id >= from_id)
                and (start is None or t.time >= start)
                and (end is None or t.time <= end)]
        rows = rows[:limit] if from_id is not None or start is not None else rows[-limit:]
        return [t.to_dict() for t in rows]

    def account(self, now_ms: int) -> dict[str, Any]:
        """Handle ``GET /api/v3/account``."""
        fee_bps = int(self.fee * 10_000)
        rate = fmt(self.fee)
        return {
            "makerCommission": fee_bps, "takerCommission": fee_bps, "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {"maker": rate, "taker": rate, "buyer": fmt(D0), "seller": fmt(D0)},
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False, "updateTime": self._updated,
            "accountType": "SPOT",
            "balances": [{"asset": a, "free": fmt(f), "locked": fmt(lk)}
                         for a, (f, lk) in self._bal.items()],
            "permissions": ["SPOT"], "uid": 1,
        }

    # ------------------------------------------------------------------ time
    def sync(self, now_ms: int) -> None:
        """Fill resting limit orders on every pricing candle that closed since the last sync."""
        if now_ms <= self._synced:
            return
        tf = self.source.timeframe
        step = INTERVAL_MS[tf]
        hits = []
        for order in self._orders.values():
            if not (order.is_open and order.type == "LIMIT"):
                continue
            buy = order.side == "BUY"
            for t in range(self._synced // step * step, now_ms // step * step - step + 1, step):
                candle = self.source.candle(order.symbol, t, tf)
                if candle is None:
                    continue
                level = Decimal(repr(candle[2] if buy else candle[1]))
                if (level <= order.price) if buy else (level >= order.price):
                    hits.append((max(t, order.time), order.order_id))
                    break
        for t, oid in sorted(hits):
            order = self._orders[oid]
            spec = self.source.specs[order.symbol]
            self._fill(order, spec, order.remaining, order.price, t, maker=True)
        self._synced = now_ms

    # ------------------------------------------------------------------ snapshots
    def orders(self) -> list[dict[str, Any]]:
        """Every order (``GET /api/v3/order`` shape), oldest first."""
        return [o.to_dict() for o in self._orders.values()]

    def trades(self) -> list[dict[str, Any]]:
        """Every trade (``myTrades`` shape), oldest first."""
        return [t.to_dict() for t in self._trades]

    def balances(self) -> dict[str, tuple[float, float]]:
        """``{asset: (free, locked)}``."""
        return {a: (float(f), float(lk)) for a, (f, lk) in self._bal.items()}
