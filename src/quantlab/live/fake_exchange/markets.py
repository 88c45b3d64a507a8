"""Listed symbols and their trading rules, in the shape of Binance's ``exchangeInfo``.

A :class:`SymbolSpec` holds what the matching engine checks (PRICE_FILTER, LOT_SIZE,
MARKET_LOT_SIZE, NOTIONAL); :func:`exchange_info` renders the specs as Binance's
``GET /api/v3/exchangeInfo`` answer, which ccxt turns into its markets (precision, limits).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = [
    "SAMPLE_SPECS",
    "SYNTHETIC_SPECS",
    "SymbolSpec",
    "exchange_info",
    "margin_pairs",
    "symbol_info",
]


@dataclass(frozen=True)
class SymbolSpec:
    """One spot symbol: ``BTCUSDT`` = ``BTC`` quoted in ``USDT``, with its filters (strings
    exactly as Binance sends them)."""

    symbol: str
    base: str
    quote: str
    tick: str
    step: str
    max_qty: str = "9000.00000000"
    market_max_qty: str = "100.00000000"
    min_notional: str = "5.00000000"

    @property
    def unified(self) -> str:
        """The ccxt symbol, e.g. ``BTC/USDT``."""
        return f"{self.base}/{self.quote}"

    def d(self, name: str) -> Decimal:
        """A filter value as a Decimal (``spec.d("tick")``)."""
        return Decimal(getattr(self, name))


def _spec(symbol: str, quote: str, tick: str, step: str, max_qty: str, market_max: str) -> SymbolSpec:
    return SymbolSpec(symbol, symbol[: -len(quote)], quote, tick, step, max_qty, market_max)


#: The synthetic market (the same three symbols and filters as the data-layer test fake).
SYNTHETIC_SPECS: dict[str, SymbolSpec] = {
    "BTCUSDT": _spec("BTCUSDT", "USDT", "0.01000000", "0.00001000", "9000.00000000", "100.00000000"),
    "ETHUSDT": _spec("ETHUSDT", "USDT", "0.01000000", "0.00010000", "9000.00000000", "100.00000000"),
    "SOLUSDT": _spec("SOLUSDT", "USDT", "0.01000000", "0.00100000", "9000.00000000", "100.00000000"),
}

#: The bundled sample's pairs; ticks fine enough for every price in the sample.
SAMPLE_SPECS: dict[str, SymbolSpec] = {
    s.symbol: s
    for s in (
        _spec("ADAUSDT", "USDT", "0.00001000", "0.10000000", "90000000.00000000", "9000000.00000000"),
        _spec("AVAXUSDT", "USDT", "0.00010000", "0.01000000", "9000000.00000000", "900000.00000000"),
        _spec("BNBUSDT", "USDT", "0.00010000", "0.00100000", "900000.00000000", "90000.00000000"),
        _spec("BTCUSDT", "USDT", "0.01000000", "0.00001000", "9000.00000000", "100.00000000"),
        _spec("DOGEUSDT", "USDT", "0.00000010", "1.00000000", "9000000000.00000000", "90000000.00000000"),
        _spec("ETHUSDT", "USDT", "0.01000000", "0.00010000", "90000.00000000", "9000.00000000"),
        _spec("SOLUSDT", "USDT", "0.00010000", "0.00100000", "9000000.00000000", "900000.00000000"),
        _spec("XRPUSDT", "USDT", "0.00001000", "0.10000000", "90000000.00000000", "9000000.00000000"),
    )
}


def _filters(spec: SymbolSpec) -> list[dict[str, Any]]:
    return [
        {"filterType": "PRICE_FILTER", "minPrice": spec.tick, "maxPrice": "1000000.00000000",
         "tickSize": spec.tick},
        {"filterType": "LOT_SIZE", "minQty": spec.step, "maxQty": spec.max_qty, "stepSize": spec.step},
        {"filterType": "ICEBERG_PARTS", "limit": 10},
        {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": spec.market_max_qty,
         "stepSize": "0.00000000"},
        {"filterType": "NOTIONAL", "minNotional": spec.min_notional, "applyMinToMarket": True,
         "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
        {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
    ]


def symbol_info(spec: SymbolSpec) -> dict[str, Any]:
    """One entry of ``exchangeInfo["symbols"]``."""
    return {
        "symbol": spec.symbol, "status": "TRADING", "baseAsset": spec.base, "baseAssetPrecision": 8,
        "quoteAsset": spec.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": True, "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": True,
        "filters": _filters(spec), "permissions": [], "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def exchange_info(specs: dict[str, SymbolSpec], now_ms: int) -> dict[str, Any]:
    """The ``GET /api/v3/exchangeInfo`` answer for ``specs``."""
    return {
        "timezone": "UTC", "serverTime": now_ms,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        ],
        "exchangeFilters": [],
        "symbols": [symbol_info(s) for s in specs.values()],
    }


def margin_pairs(specs: dict[str, SymbolSpec], isolated: bool) -> list[dict[str, Any]]:
    """The ``GET /sapi/v1/margin/allPairs`` (or ``isolated/allPairs``) answer: every symbol."""
    out = []
    for i, s in enumerate(specs.values(), start=1):
        row: dict[str, Any] = {"symbol": s.symbol, "base": s.base, "quote": s.quote,
                               "isMarginTrade": True, "isBuyAllowed": True, "isSellAllowed": True}
        out.append(row if isolated else {"id": i, **row, "delistTime": None})
    return out
