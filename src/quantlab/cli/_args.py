"""Shared parsing of CLI argument values."""

from __future__ import annotations

import argparse

from quantlab.data.symbols import normalize_symbol
from quantlab.errors import ParameterError

__all__ = ["parse_symbols", "positive_int"]


def parse_symbols(text: str | None, *, required: bool = True, flag: str = "--symbols"
                  ) -> list[str]:
    """``"btc/usdt, ETH_USDT"`` -> ``["BTC/USDT", "ETH/USDT"]``.

    Empty lists (when ``required``), items that are not symbols and symbols given twice (in any
    spelling) are errors naming ``flag``.
    """
    raw = [s.strip() for s in (text or "").split(",") if s.strip()]
    if required and not raw:
        raise ParameterError(f"{flag} is empty")
    syms: list[str] = []
    for item in raw:
        try:
            sym = normalize_symbol(item)
        except ParameterError:
            raise ParameterError(f"{flag}: {item!r} is not a symbol like BTC/USDT") from None
        if sym in syms:
            raise ParameterError(f"{flag} lists {sym} twice")
        syms.append(sym)
    return syms


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (``--workers``, ``--keep``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value
