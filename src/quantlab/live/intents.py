"""From target positions to orders: the legs that move each symbol from what is held to the target.

A symbol whose target keeps the side of the position gets one leg — ``entry`` when it grows
(or opens from flat), ``reduce`` when it shrinks. A symbol whose target crosses zero (a flip, or
a close) gets a reduce-only ``exit`` leg that closes the position and, for a flip, an ``entry``
leg for the new side, so the risk guard and the breaker can refuse the entry and still let the
exit through. Every leg carries its deterministic client order id
(:func:`~quantlab.live.types.client_order_id`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from quantlab.live.types import OrderIntent, client_order_id

__all__ = ["flatten_intents", "plan_intents"]

#: Differences smaller than this fraction of the larger of target and holding are noise.
REL_TOL = 1e-9


def _leg(strategy: str, version: int, bar_ms: int, symbol: str, leg: str, side: str,
         amount: float, price: float, reduce_only: bool, reason: str) -> OrderIntent:
    return OrderIntent(client_id=client_order_id(strategy, version, bar_ms, symbol, leg),
                       symbol=symbol, side=side, amount=float(amount), type="market",
                       price=float(price), bar_ms=int(bar_ms), leg=leg,
                       reduce_only=reduce_only, reason=reason)


def plan_intents(target: Sequence[float] | np.ndarray, held: Sequence[float] | np.ndarray,
                 symbols: Sequence[str], prices: Sequence[float] | np.ndarray, *,
                 strategy: str, version: int, bar_ms: int, reason: str = "signal",
                 band: float = 0.0) -> list[OrderIntent]:
    """Orders that take ``held`` to ``target`` (signed units per symbol), exits first.

    Parameters
    ----------
    target, held : array-like
        Signed units per symbol: what the strategy wants after the next open, what is held now.
    symbols : sequence of str
        Symbol per position.
    prices : array-like
        Reference price per symbol (the last close) for notional checks.
    strategy, version, bar_ms : str, int, int
        Identify the decision (they make the client order ids).
    reason : str
        Why (``signal``, ``rebalance``...), kept on each intent.
    band : float
        Adjustments of a held position (same side, not a close or a flip) smaller than this
        fraction of the position are skipped: live, the account tracks the model's target and
        fills never land exactly on it, so without a band every bar would send a dust order.

    Returns
    -------
    list of OrderIntent
        All reduce-only legs first, then the legs that add exposure.
    """
    exits: list[OrderIntent] = []
    entries: list[OrderIntent] = []
    for sym, t, h, px in zip(symbols, np.asarray(target, float), np.asarray(held, float),
                             np.asarray(prices, float), strict=True):
        if not np.isfinite(t) or abs(t - h) <= REL_TOL * max(abs(t), abs(h)):
            continue
        args = (strategy, version, bar_ms, sym)
        if h != 0.0 and (t == 0.0 or np.sign(t) != np.sign(h)):
            exits.append(_leg(*args, "exit", "sell" if h > 0 else "buy", abs(h), px, True, reason))
            if t != 0.0:
                entries.append(_leg(*args, "entry", "buy" if t > 0 else "sell", abs(t), px, False,
                                    reason))
        elif h != 0.0 and abs(t - h) <= band * max(abs(t), abs(h)):
            continue
        elif abs(t) < abs(h):
            exits.append(_leg(*args, "reduce", "sell" if h > 0 else "buy", abs(h - t), px, True,
                              reason))
        else:
            entries.append(_leg(*args, "entry", "buy" if t > h else "sell", abs(t - h), px,
                                False, reason))
    return exits + entries


def flatten_intents(held: Sequence[float] | np.ndarray, symbols: Sequence[str],
                    prices: Sequence[float] | np.ndarray, *, strategy: str, version: int,
                    bar_ms: int, reason: str = "flatten") -> list[OrderIntent]:
    """Reduce-only ``flatten`` legs closing every position (breaker halt, operator flatten)."""
    out = []
    for sym, h, px in zip(symbols, np.asarray(held, float), np.asarray(prices, float), strict=True):
        if h != 0.0:
            out.append(_leg(strategy, version, bar_ms, sym, "flatten", "sell" if h > 0 else "buy",
                            abs(h), px, True, reason))
    return out
