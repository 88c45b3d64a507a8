"""Orders and fills as the runner, the brokers and the store see them.

Amounts are in base units (``0.01`` BTC), prices in quote currency, times in epoch
milliseconds (UTC). A *client order id* is deterministic — strategy, version, bar, symbol and
leg — so a retry after a timeout or a restart finds the order it placed instead of placing a
second one (:func:`client_order_id`).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ORDER_STATUSES", "Fill", "OrderIntent", "OrderRecord", "client_order_id"]

#: Order lifecycle. ``intent``: written to the store before it is sent; ``open``: the
#: exchange acknowledged it (possibly partly filled); then one of the final states.
ORDER_STATUSES = ("intent", "open", "closed", "canceled", "rejected", "expired")
FINAL_STATUSES = frozenset({"closed", "canceled", "rejected", "expired"})


def client_order_id(strategy: str, version: int, bar_ms: int, symbol: str, leg: str) -> str:
    """Deterministic client order id (Binance allows ``^[.A-Z:/a-z0-9_-]{1,36}$``).

    The same strategy/version/bar/symbol/leg always gives the same id: ``ql`` + 30 hex
    digits of a SHA-256.
    """
    key = f"{strategy}|{int(version)}|{int(bar_ms)}|{symbol}|{leg}".encode()
    return "ql" + hashlib.sha256(key).hexdigest()[:30]


@dataclass(frozen=True)
class OrderIntent:
    """An order the runner wants: decided at the close of bar ``bar_ms``.

    ``reduce_only`` marks orders that only reduce exposure (closing or cutting a position);
    the risk guard never refuses those for exposure limits.
    """

    client_id: str
    symbol: str
    side: str            # "buy" | "sell"
    amount: float        # base units, > 0
    type: str = "market"  # "market" | "limit"
    price: float | None = None  # limit price; for market orders the reference (last close)
    bar_ms: int = 0
    leg: str = "entry"   # "entry" | "exit" | "rebalance" | "flatten" | ...
    reduce_only: bool = False
    reason: str = ""

    @property
    def signed_amount(self) -> float:
        """``+amount`` for buys, ``-amount`` for sells."""
        return self.amount if self.side == "buy" else -self.amount

    def notional(self, price: float | None = None) -> float:
        """``amount x price`` (the limit/reference price unless ``price`` is given)."""
        px = price if price is not None else self.price
        return float("nan") if px is None else abs(self.amount) * float(px)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)


@dataclass
class OrderRecord:
    """An order's stored lifecycle (one row of the store's ``orders`` table)."""

    client_id: str
    symbol: str
    side: str
    amount: float
    type: str = "market"
    price: float | None = None
    status: str = "intent"
    exchange_id: str | None = None
    filled: float = 0.0
    average: float | None = None
    bar_ms: int = 0
    leg: str = "entry"
    reason: str = ""
    created_ms: int = 0
    updated_ms: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_intent(cls, intent: OrderIntent, now_ms: int) -> OrderRecord:
        """The ``intent`` row written before the order is sent."""
        return cls(client_id=intent.client_id, symbol=intent.symbol, side=intent.side,
                   amount=intent.amount, type=intent.type, price=intent.price, status="intent",
                   bar_ms=intent.bar_ms, leg=intent.leg, reason=intent.reason,
                   created_ms=now_ms, updated_ms=now_ms)

    @property
    def is_final(self) -> bool:
        """True once closed, canceled, rejected or expired."""
        return self.status in FINAL_STATUSES

    @property
    def remaining(self) -> float:
        """Amount still to fill."""
        return max(self.amount - self.filled, 0.0)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)


@dataclass(frozen=True)
class Fill:
    """One execution (a trade): ``fill_id`` is unique per exchange (paper: per simulator record)."""

    fill_id: str
    client_id: str | None
    symbol: str
    side: str
    amount: float
    price: float
    fee: float = 0.0          # in quote currency
    ts_ms: int = 0
    reason: str = ""

    @property
    def signed_amount(self) -> float:
        """``+amount`` for buys, ``-amount`` for sells."""
        return self.amount if self.side == "buy" else -self.amount

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)
