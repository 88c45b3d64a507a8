"""Shared parsing of CLI argument values."""

from __future__ import annotations

from quantlab.errors import ParameterError

__all__ = ["parse_symbols"]


def parse_symbols(text: str | None, *, required: bool = True) -> list[str]:
    """``"btc/usdt, ETH/USDT"`` -> ``["BTC/USDT", "ETH/USDT"]``; empty or repeated symbols are errors."""
    syms = [s.strip().upper() for s in (text or "").split(",") if s.strip()]
    if required and not syms:
        raise ParameterError("--symbols is empty")
    if len(set(syms)) != len(syms):
        raise ParameterError("--symbols lists a symbol twice")
    return syms
