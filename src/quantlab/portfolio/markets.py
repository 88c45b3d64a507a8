"""Exchange trading rules: amount step, minimum amount, minimum notional, price tick.

Rules come from ccxt market dicts (``exchange.markets`` after ``exchange.load_markets()``) or from
the bundled offline fixture ``markets_binance.json`` (``load_markets("binance")``), which holds
real Binance spot filters for the bundled pairs with their source in its ``_meta`` block.

Conventions
-----------
* Order amounts are rounded **down** to the amount step (``LOT_SIZE.stepSize``, or ccxt's
  ``precision.amount``), so an order never exceeds what was asked for (or what is held).
* An order is valid when ``quantity >= min_amount`` and ``quantity * price >= min_notional``
  (Binance ``LOT_SIZE.minQty`` and ``NOTIONAL``/``MIN_NOTIONAL.minNotional``; ccxt
  ``limits.amount.min`` and ``limits.cost.min``). Orders that fail are *dust*: reported with the
  reason, never silently dropped.
* A market whose rules are unknown (``known=False``, e.g. a fixture entry marked "not found") has
  no step and no minimums: amounts are not rounded.

ccxt precision
--------------
ccxt reports ``precision.amount`` either as a step (``TICK_SIZE`` mode, e.g. ``0.00001``; the mode
ccxt uses for Binance) or as a number of decimals (``DECIMAL_PLACES`` mode, e.g. ``5``). The
Binance ``info.filters`` are used first when present; otherwise ``precision_mode`` decides
(``"tick"`` by default, ``"decimals"`` for older dumps). A ccxt exchange object passes its own
``precisionMode``.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

from quantlab._validate import check_range
from quantlab.data.symbols import normalize_symbol
from quantlab.errors import DataError, ParameterError, UnknownSymbolError

__all__ = [
    "MarketRules",
    "Markets",
    "RoundedOrder",
    "fixture_metadata",
    "floor_to_step",
    "load_markets",
    "round_order",
]

FIXTURES = {"binance": "markets_binance.json"}


def _num(value: Any) -> float | None:
    """A positive finite float, or None for missing/zero (Binance uses 0 for "disabled")."""
    if value is None or value == "":
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(out) or out <= 0:
        return None
    return out


def _dec(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def floor_to_step(value: float, step: float | None) -> float:
    """Largest multiple of ``step`` that is <= ``value`` (decimal arithmetic, no float drift)."""
    if step is None or value <= 0:
        return max(float(value), 0.0)
    d = _dec(value)
    s = _dec(step)
    return float((d / s).to_integral_value(rounding=ROUND_DOWN) * s)


def round_to_tick(value: float, tick: float | None) -> float:
    """Nearest multiple of ``tick`` (half up); unchanged when there is no tick."""
    if tick is None:
        return float(value)
    d = _dec(value)
    t = _dec(tick)
    return float((d / t).to_integral_value(rounding=ROUND_HALF_UP) * t)


class RoundedOrder(NamedTuple):
    """Result of :func:`round_order`: the exchange-valid quantity, or why there is none."""

    symbol: str
    quantity: float
    """Quantity rounded down to the amount step (capped at ``max_amount``)."""
    price: float
    """Price rounded to the tick (reference price for notional checks)."""
    notional: float
    ok: bool
    """Whether the rounded order satisfies min amount and min notional."""
    reason: str
    """Empty when ``ok``; otherwise why the order is dust (also set when capped at max)."""


@dataclass(frozen=True)
class MarketRules:
    """Trading rules of one spot market (amounts in base units, notional in quote units)."""

    symbol: str
    amount_step: float | None = None
    min_amount: float | None = None
    max_amount: float | None = None
    price_tick: float | None = None
    min_notional: float | None = None
    known: bool = True
    source: str = ""

    def round_amount(self, quantity: float) -> float:
        """``quantity`` rounded down to the amount step."""
        return floor_to_step(quantity, self.amount_step)

    def round_price(self, price: float) -> float:
        """``price`` rounded to the nearest tick."""
        return round_to_tick(price, self.price_tick)

    def check(self, quantity: float, price: float) -> str:
        """Empty string when (quantity, price) satisfies the rules, else the reason it fails."""
        if quantity <= 0:
            return "zero quantity after rounding to step" if self.amount_step else "zero quantity"
        if self.min_amount is not None and quantity < self.min_amount * (1 - 1e-12):
            return f"below min amount {self.min_amount:g}"
        if self.min_notional is not None and quantity * price < self.min_notional * (1 - 1e-12):
            return f"below min notional {self.min_notional:g}"
        return ""

    def round_order(self, quantity: float, price: float) -> RoundedOrder:
        """Round an order down to the step and check it (see :func:`round_order`)."""
        return round_order(self, quantity, price)

    def is_dust(self, quantity: float, price: float) -> bool:
        """Whether selling all of ``quantity`` at ``price`` would be refused by the exchange."""
        return not self.round_order(quantity, price).ok

    @classmethod
    def from_ccxt(cls, market: Mapping[str, Any], *, precision_mode: str | int | None = None,
                  source: str = "") -> MarketRules:
        """Rules from one ccxt unified market dict (Binance ``info.filters`` used first)."""
        try:
            symbol = normalize_symbol(str(market["symbol"]))
        except (KeyError, TypeError):
            raise DataError("market dict has no 'symbol' key") from None
        precision = market.get("precision") or {}
        limits = market.get("limits") or {}
        amount_lim = limits.get("amount") or {}
        cost_lim = limits.get("cost") or {}
        step = _precision_step(precision.get("amount"), precision_mode)
        tick = _precision_step(precision.get("price"), precision_mode)
        min_amount = _num(amount_lim.get("min"))
        max_amount = _num(amount_lim.get("max"))
        min_notional = _num(cost_lim.get("min"))
        filters = (market.get("info") or {}).get("filters") or []
        for f in filters:
            if not isinstance(f, Mapping):
                continue
            kind = f.get("filterType")
            if kind == "LOT_SIZE":
                step = _num(f.get("stepSize")) or step
                min_amount = _num(f.get("minQty")) or min_amount
                max_amount = _num(f.get("maxQty")) or max_amount
            elif kind == "PRICE_FILTER":
                tick = _num(f.get("tickSize")) or tick
            elif kind in ("NOTIONAL", "MIN_NOTIONAL"):
                min_notional = _num(f.get("minNotional", f.get("notional"))) or min_notional
        known = any(v is not None for v in (step, min_amount, min_notional))
        return cls(symbol=symbol, amount_step=step, min_amount=min_amount, max_amount=max_amount,
                   price_tick=tick, min_notional=min_notional, known=known,
                   source=source or str(market.get("_source") or ""))


def _precision_step(value: Any, mode: str | int | None) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(v) or v < 0:
        return None
    decimals = mode in ("decimals", 2)  # ccxt.DECIMAL_PLACES == 2, TICK_SIZE == 4
    if decimals:
        return 10.0 ** (-int(v))
    return v if v > 0 else None


def round_order(rules: MarketRules | None, quantity: float, price: float,
                symbol: str | None = None) -> RoundedOrder:
    """Round ``quantity`` down to the market's step and check min amount / min notional.

    Parameters
    ----------
    rules : MarketRules or None
        None means no exchange rules (fractional amounts, no minimums).
    quantity : float
        Wanted order size in base units (positive).
    price : float
        Reference price used for the notional check (rounded to the tick).

    Returns
    -------
    RoundedOrder
        ``ok`` False with ``reason`` when the rounded order is dust.
    """
    sym = symbol or (rules.symbol if rules is not None else "")
    check_range(quantity, f"order quantity for {sym}", 0, coerce=True)
    check_range(price, f"price for {sym}", 0, open_low=True, coerce=True)
    if rules is None:
        q = float(quantity)
        return RoundedOrder(sym, q, float(price), q * price, q > 0, "" if q > 0 else "zero quantity")
    q = rules.round_amount(quantity)
    note = ""
    if rules.max_amount is not None and q > rules.max_amount:
        q = rules.round_amount(rules.max_amount)
        note = f"capped at max amount {rules.max_amount:g}"
    p = rules.round_price(price)
    if p <= 0:
        p = float(price)
    reason = rules.check(q, p)
    return RoundedOrder(sym, q, p, q * p, not reason, reason or note)


@dataclass
class Markets(Mapping[str, MarketRules]):
    """Market rules by unified symbol (``BTC/USDT``); a read-only mapping."""

    rules: dict[str, MarketRules] = field(default_factory=dict)
    source: str = ""

    def __getitem__(self, symbol: str) -> MarketRules:
        key = normalize_symbol(symbol)
        try:
            return self.rules[key]
        except KeyError:
            where = f" in {self.source}" if self.source else ""
            raise UnknownSymbolError(f"no market rules for {key}{where}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def __contains__(self, symbol: object) -> bool:
        try:
            return normalize_symbol(str(symbol)) in self.rules
        except ParameterError:
            return False

    def get_rules(self, symbol: str) -> MarketRules | None:
        """Rules of ``symbol`` or None when the market is not listed."""
        return self.rules.get(normalize_symbol(symbol))

    def round_order(self, symbol: str, quantity: float, price: float) -> RoundedOrder:
        """Round an order for ``symbol`` down to its step and check its minimums.

        A symbol without listed rules raises :class:`UnknownSymbolError`.
        """
        return round_order(self[symbol], quantity, price, symbol=normalize_symbol(symbol))

    def is_dust(self, symbol: str, quantity: float, price: float) -> bool:
        """Whether a full sale of ``quantity`` would be refused (below step/min amount/notional)."""
        return not self.round_order(symbol, quantity, price).ok

    def to_frame(self) -> Any:
        """One row per market: step, min_amount, max_amount, tick, min_notional, known, source."""
        import pandas as pd

        rows = [
            {"symbol": r.symbol, "amount_step": r.amount_step, "min_amount": r.min_amount,
             "max_amount": r.max_amount, "price_tick": r.price_tick,
             "min_notional": r.min_notional, "known": r.known, "source": r.source}
            for r in self.rules.values()
        ]
        return pd.DataFrame(rows).set_index("symbol") if rows else pd.DataFrame()

    @classmethod
    def from_ccxt(cls, markets: Mapping[str, Any], *, precision_mode: str | int | None = None,
                  source: str = "") -> Markets:
        """Rules from a ccxt ``exchange.markets`` dict (spot markets; derivatives are skipped)."""
        out: dict[str, MarketRules] = {}
        for key, market in markets.items():
            if str(key).startswith("_"):
                continue
            if isinstance(market, MarketRules):
                out[normalize_symbol(market.symbol)] = market
                continue
            if not isinstance(market, Mapping):
                raise DataError(f"market {key!r} is not a ccxt market dict")
            if market.get("contract") or ":" in str(market.get("symbol", key)):
                continue
            market = dict(market)
            market.setdefault("symbol", key)
            rules = MarketRules.from_ccxt(market, precision_mode=precision_mode)
            out[rules.symbol] = rules
        return cls(out, source=source)


@functools.lru_cache(maxsize=4)
def _read_fixture(name: str) -> tuple[dict[str, Any], str]:
    fname = FIXTURES[name]
    try:
        text = resources.files("quantlab.portfolio").joinpath(fname).read_text(encoding="utf-8")
    except (OSError, ModuleNotFoundError) as exc:
        raise DataError(f"bundled market rules {fname} cannot be read: {exc}") from None
    return json.loads(text), f"bundled {fname}"


def load_markets(source: Any = "binance", *, precision_mode: str | int | None = None) -> Markets:
    """Market rules from the bundled fixture, a JSON file, a ccxt markets dict or exchange.

    Parameters
    ----------
    source : "binance", path, dict, Markets or ccxt Exchange
        ``"binance"``: the bundled offline fixture (see its ``_meta`` for sources).
        A path to a JSON file in the same format (``{"markets": {...}}`` or a plain ccxt markets
        dict). A dict of ccxt unified markets (``exchange.markets``) or of :class:`MarketRules`.
        A ccxt exchange with loaded markets (its ``precisionMode`` is used).
    precision_mode : "tick", "decimals" or None
        How to read ccxt ``precision`` values when ``info.filters`` are absent (default tick).
    """
    if isinstance(source, Markets):
        return source
    if isinstance(source, str) and source.lower() in FIXTURES:
        data, label = _read_fixture(source.lower())
    elif isinstance(source, str | Path) and not isinstance(source, Mapping):
        path = Path(source)
        if not path.is_file():
            raise DataError(f"market rules file {path} not found (or use markets='binance')")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"market rules file {path} is not valid JSON: {exc}") from None
        label = str(path)
    elif isinstance(source, Mapping):
        data, label = dict(source), "markets dict"
    elif hasattr(source, "markets") and isinstance(getattr(source, "markets", None), Mapping):
        mode = precision_mode
        if mode is None:
            mode = getattr(source, "precisionMode", None)
        return Markets.from_ccxt(source.markets, precision_mode=mode,
                                 source=f"ccxt {getattr(source, 'id', 'exchange')}")
    else:
        raise ParameterError(
            f"markets={source!r} must be 'binance', a JSON path, a ccxt markets dict or exchange"
        )
    if not isinstance(data, Mapping):
        raise DataError(f"market rules in {label} must be a JSON object")
    markets = data.get("markets", data)
    if not isinstance(markets, Mapping):
        raise DataError(f"'markets' in {label} must be an object keyed by symbol")
    return Markets.from_ccxt(markets, precision_mode=precision_mode, source=label)


def fixture_metadata(name: str = "binance") -> dict[str, Any]:
    """The ``_meta`` block of a bundled fixture (description and sources of every value)."""
    data, _ = _read_fixture(name)
    return dict(data.get("_meta", {}))

