"""Symbol spelling: ccxt unified form ``BTC/USDT`` in code, ``BTC_USDT`` on disk."""

from __future__ import annotations

import re
from collections.abc import Sequence

from quantlab.errors import ParameterError

__all__ = ["normalize_symbol", "normalize_symbols", "symbol_from_stem", "symbol_to_stem"]


#: Base and quote currency codes: letters and digits (``1000SHIB``), dots allowed inside.
_CODE = re.compile(r"[A-Z0-9][A-Z0-9.]*")
#: Quote with an optional derivative settle/expiry suffix (``USDT:USDT``, ``USD:BTC-240628``).
_QUOTE = re.compile(r"[A-Z0-9][A-Z0-9.]*(:[A-Z0-9][A-Z0-9.\-]*)?")


def normalize_symbol(symbol: str) -> str:
    """Upper-case unified symbol; ``btc_usdt`` and ``BTC-USDT`` become ``BTC/USDT``.

    Raises
    ------
    ParameterError
        Not a string, no ``/``, ``_`` or ``-`` separator, or a base/quote that is not a
        currency code (letters, digits and inner dots; ``BTC USDT``, ``BTC//USDT`` and
        ``BTC/US$`` are refused).
    """
    if not isinstance(symbol, str) or not symbol.strip():
        raise ParameterError(f"invalid symbol {symbol!r} (expected e.g. BTC/USDT)")
    s = symbol.strip()
    if "/" not in s:
        for sep in ("_", "-"):
            if sep in s:
                s = s.replace(sep, "/", 1)
                break
    if "/" not in s:
        raise ParameterError(f"invalid symbol {symbol!r} (expected BASE/QUOTE, e.g. BTC/USDT)")
    base, _, quote = s.partition("/")
    base, quote = base.upper(), quote.upper()
    if not _CODE.fullmatch(base) or not _QUOTE.fullmatch(quote):
        raise ParameterError(f"invalid symbol {symbol!r} (expected BASE/QUOTE, e.g. BTC/USDT)")
    return f"{base}/{quote}"


def normalize_symbols(symbols: str | Sequence[str]) -> list[str]:
    """List of unified symbols from a string (comma-separated allowed) or a sequence."""
    if isinstance(symbols, str):
        items = [s for s in symbols.split(",") if s.strip()]
    else:
        items = list(symbols)
    if not items:
        raise ParameterError("no symbols given")
    out: list[str] = []
    for s in items:
        n = normalize_symbol(s)
        if n not in out:
            out.append(n)
    return out


def symbol_to_stem(symbol: str) -> str:
    """File stem of a symbol: ``BTC/USDT`` -> ``BTC_USDT`` (``:`` of derivatives -> ``-``)."""
    return normalize_symbol(symbol).replace("/", "_").replace(":", "-")


def symbol_from_stem(stem: str) -> str:
    """Symbol of a file stem: ``BTC_USDT`` -> ``BTC/USDT``."""
    base, _, quote = stem.partition("_")
    return f"{base}/{quote.replace('-', ':')}" if quote else stem
