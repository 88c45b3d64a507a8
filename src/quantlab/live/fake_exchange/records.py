"""Orders and trades of the fake exchange, and their Binance JSON shapes.

Quantities, prices and balances are :class:`~decimal.Decimal` (exact, like the exchange's own
books) and rendered as Binance does: strings with eight decimals.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["OPEN_STATUSES", "Order", "Trade", "fmt"]

D0 = Decimal(0)
#: Statuses of an order that is still working (may fill, may be canceled).
OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})


def fmt(d: Decimal) -> str:
    """Eight decimals, as Binance prints amounts (``"0.00100000"``)."""
    return f"{d:.8f}"


@dataclass
class Order:
    """One order. ``locked`` is what the order still holds: quote for a buy, base for a sell."""

    order_id: int
    client_id: str
    symbol: str
    side: str            # BUY | SELL
    type: str            # MARKET | LIMIT
    qty: Decimal
    price: Decimal       # limit price; 0 for market orders
    time: int
    status: str = "NEW"
    executed: Decimal = D0
    quote: Decimal = D0  # cumulative quote quantity
    update_time: int = 0
    quote_order_qty: Decimal = D0
    locked: Decimal = D0

    @property
    def is_open(self) -> bool:
        """True while NEW or PARTIALLY_FILLED."""
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal:
        """Quantity still to fill."""
        return self.qty - self.executed

    def result(self) -> dict[str, Any]:
        """The ``newOrderRespType=RESULT`` answer of ``POST /api/v3/order``."""
        return {
            "symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
            "clientOrderId": self.client_id, "transactTime": self.time,
            "price": fmt(self.price), "origQty": fmt(self.qty), "executedQty": fmt(self.executed),
            "origQuoteOrderQty": fmt(self.quote_order_qty),
            "cummulativeQuoteQty": fmt(self.quote), "status": self.status, "timeInForce": "GTC",
            "type": self.type, "side": self.side, "workingTime": self.time,
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    def ack(self) -> dict[str, Any]:
        """The ``newOrderRespType=ACK`` answer."""
        return {"symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
                "clientOrderId": self.client_id, "transactTime": self.time}

    def to_dict(self) -> dict[str, Any]:
        """The ``GET /api/v3/order`` answer (also an entry of ``openOrders``)."""
        return {
            "symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
            "clientOrderId": self.client_id, "price": fmt(self.price), "origQty": fmt(self.qty),
            "executedQty": fmt(self.executed), "cummulativeQuoteQty": fmt(self.quote),
            "status": self.status, "timeInForce": "GTC", "type": self.type, "side": self.side,
            "stopPrice": fmt(D0), "icebergQty": fmt(D0), "time": self.time,
            "updateTime": self.update_time or self.time, "isWorking": True,
            "workingTime": self.time, "origQuoteOrderQty": fmt(self.quote_order_qty),
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    def canceled(self, cancel_client_id: str, now_ms: int) -> dict[str, Any]:
        """The ``DELETE /api/v3/order`` answer (``clientOrderId`` is the cancel request's id)."""
        return {
            "symbol": self.symbol, "origClientOrderId": self.client_id,
            "orderId": self.order_id, "orderListId": -1, "clientOrderId": cancel_client_id,
            "transactTime": now_ms, "price": fmt(self.price), "origQty": fmt(self.qty),
            "executedQty": fmt(self.executed), "origQuoteOrderQty": fmt(self.quote_order_qty),
            "cummulativeQuoteQty": fmt(self.quote), "status": self.status, "timeInForce": "GTC",
            "type": self.type, "side": self.side, "selfTradePreventionMode": "EXPIRE_MAKER",
        }


@dataclass(frozen=True)
class Trade:
    """One execution; ``trade_id`` increases monotonically across the exchange."""

    trade_id: int
    order_id: int
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    maker: bool

    def to_dict(self) -> dict[str, Any]:
        """An entry of ``GET /api/v3/myTrades``."""
        return {
            "symbol": self.symbol, "id": self.trade_id, "orderId": self.order_id,
            "orderListId": -1, "price": fmt(self.price), "qty": fmt(self.qty),
            "quoteQty": fmt(self.price * self.qty), "commission": fmt(self.commission),
            "commissionAsset": self.commission_asset, "time": self.time,
            "isBuyer": self.side == "BUY", "isMaker": self.maker, "isBestMatch": True,
        }

    def fill(self) -> dict[str, Any]:
        """An entry of the ``fills`` of a ``newOrderRespType=FULL`` answer."""
        return {"price": fmt(self.price), "qty": fmt(self.qty), "commission": fmt(self.commission),
                "commissionAsset": self.commission_asset, "tradeId": self.trade_id}
