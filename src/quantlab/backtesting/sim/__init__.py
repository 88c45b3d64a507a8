"""Event-ordered single-asset simulator (first step; not wired into ``quantlab.backtest`` yet).

:mod:`.kernel` holds the numba kernel (:func:`~.kernel.step` for one bar,
:func:`~.kernel.simulate` as a loop over it) and documents the rules. :func:`run` is a thin
Python convenience that broadcasts scalars and fills in missing signal arrays.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from quantlab.backtesting.sim.kernel import (
    N_REC_FIELDS,
    N_STATE,
    REASON_SIGNAL,
    REASON_STOP_LOSS,
    REASON_TAKE_PROFIT,
    REASON_TRAILING,
    init_state,
    simulate,
    step,
)

__all__ = [
    "N_REC_FIELDS", "N_STATE", "REASON_SIGNAL", "REASON_STOP_LOSS", "REASON_TAKE_PROFIT",
    "REASON_TRAILING", "SimResult", "init_state", "run", "simulate", "step",
]


class SimResult(NamedTuple):
    equity: np.ndarray    # per bar, after the close
    cash: np.ndarray
    position: np.ndarray  # signed units
    records: np.ndarray   # (n_orders, 6): bar, side, size, price, fee, reason


def _flags(a: Any, n: int) -> np.ndarray:
    if a is None:
        return np.zeros(n, dtype=np.bool_)
    return np.ascontiguousarray(np.broadcast_to(np.asarray(a, dtype=np.bool_), (n,)))


def _off(x: float | None) -> float:
    return np.nan if x is None else float(x)


def run(open_: Any, high: Any, low: Any, close: Any, entries: Any = None, exits: Any = None,
        short_entries: Any = None, short_exits: Any = None, *, size: Any = 1.0,
        init_cash: float = 10_000.0, fee: float = 0.0, slippage: float = 0.0,
        stop_loss: float | None = None, take_profit: float | None = None,
        trailing_stop: float | None = None, fill_at_close: bool = False,
        long_short: bool = False) -> SimResult:
    """Run :func:`~.kernel.simulate` on 1-D arrays. ``fee``/``slippage``/stops are fractions."""
    c = np.ascontiguousarray(close, dtype=np.float64)
    n = c.shape[0]
    o, h, lo = (np.ascontiguousarray(np.broadcast_to(np.asarray(a, dtype=np.float64), (n,)))
                for a in (open_, high, low))
    sz = np.ascontiguousarray(np.broadcast_to(np.asarray(size, dtype=np.float64), (n,)))
    out = simulate(o, h, lo, c, _flags(entries, n), _flags(exits, n), _flags(short_entries, n),
                   _flags(short_exits, n), sz, float(init_cash), float(fee), float(slippage),
                   _off(stop_loss), _off(take_profit), _off(trailing_stop), bool(fill_at_close),
                   1 if long_short else 0)
    return SimResult(*out)
