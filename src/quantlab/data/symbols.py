"""Symbol spelling: ccxt unified form ``BTC/USDT`` in code, ``BTC_USDT`` on disk."""

from __future__ import annotations

from quantlab._validate import normalize_symbol, normalize_symbols

__all__ = ["normalize_symbol", "normalize_symbols", "symbol_from_stem", "symbol_to_stem"]


def symbol_to_stem(symbol: str) -> str:
    """File stem of a symbol: ``BTC/USDT`` -> ``BTC_USDT`` (``:`` of derivatives -> ``-``)."""
    return normalize_symbol(symbol).replace("/", "_").replace(":", "-")


def symbol_from_stem(stem: str) -> str:
    """Symbol of a file stem: ``BTC_USDT`` -> ``BTC/USDT``."""
    base, _, quote = stem.partition("_")
    return f"{base}/{quote.replace('-', ':')}" if quote else stem
