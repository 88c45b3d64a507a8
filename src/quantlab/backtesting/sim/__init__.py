"""quantlab's event-ordered simulator: one numba kernel for backtests, sweeps, paper and replay.

:mod:`.kernel` holds the compiled code and documents the fill rules: :func:`~.kernel.step`
advances one account (cash + assets) by one bar from a saved state; :func:`~.kernel.simulate`
is the whole history as a loop over it. This module adds small Python conveniences:
:func:`make_params` (the parameter vector), :func:`signal_array` (the per-bar signal block),
:func:`run` (a run on price arrays) and :class:`SimState` (a saved state stepped bar by bar).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from quantlab.backtesting.sim.cache import configure_numba_cache

configure_numba_cache()  # before the compiled kernel is imported

from quantlab.backtesting.sim import kernel  # noqa: E402
from quantlab.backtesting.sim.kernel import (  # noqa: E402
    MAX_REC_PER_ASSET,
    N_ACCT,
    N_ASSET,
    N_PARAM,
    N_REC,
    N_SIG,
    REASON_LIMIT,
    REASON_LIQUIDATION,
    REASON_MIN_AMOUNT,
    REASON_MIN_NOTIONAL,
    REASON_NO_FUNDS,
    REASON_REBALANCE,
    REASON_SIGNAL,
    REASON_STOP_ENTRY,
    REASON_STOP_LOSS,
    REASON_TAKE_PROFIT,
    REASON_TRAILING,
    init_account,
    init_assets,
    simulate,
    step,
)
from quantlab.backtesting.sim.state import SimState  # noqa: E402

__all__ = [
    "MAX_REC_PER_ASSET", "N_ACCT", "N_ASSET", "N_PARAM", "N_REC", "N_SIG", "REASONS",
    "REASON_LIMIT", "REASON_LIQUIDATION", "REASON_MIN_AMOUNT", "REASON_MIN_NOTIONAL",
    "REASON_NO_FUNDS", "REASON_REBALANCE", "REASON_SIGNAL", "REASON_STOP_ENTRY",
    "REASON_STOP_LOSS", "REASON_TAKE_PROFIT", "REASON_TRAILING", "SimResult", "SimState",
    "configure_numba_cache", "init_account", "init_assets", "make_params", "run",
    "signal_array", "simulate", "step",
]

#: Reason codes of the order records, by name.
REASONS: dict[int, str] = {
    REASON_SIGNAL: "signal",
    REASON_STOP_LOSS: "stop_loss",
    REASON_TAKE_PROFIT: "take_profit",
    REASON_TRAILING: "trailing_stop",
    REASON_LIQUIDATION: "liquidation",
    REASON_REBALANCE: "rebalance",
    REASON_LIMIT: "limit_entry",
    REASON_STOP_ENTRY: "stop_entry",
    REASON_MIN_AMOUNT: "below min_amount",
    REASON_MIN_NOTIONAL: "below min_notional",
    REASON_NO_FUNDS: "no buying power",
}


class SimResult(NamedTuple):
    """Output of :func:`run`: per-bar equity, cash and position, and the order records."""

    equity: np.ndarray    # per bar, after the close
    cash: np.ndarray
    position: np.ndarray  # signed units (bars,) for one asset, (bars, n) for several
    records: np.ndarray   # (orders, N_REC): see kernel.REC_*


def _off(x: float | None) -> float:
    return np.nan if x is None else float(x)


def make_params(*, fee: float = 0.0, slippage: float = 0.0, stop_loss: float | None = None,
                take_profit: float | None = None, trailing_stop: float | None = None,
                fill_at_close: bool = False, long_short: bool = False,
                accumulate: bool = False, leverage: float = 1.0,
                maintenance_margin: float | None = None, amount_step: float = 0.0,
                min_amount: float = 0.0, min_notional: float = 0.0, order_ttl: int = 0,
                target_mode: bool = False) -> np.ndarray:
    """The kernel's parameter vector (float64[N_PARAM]); fees, slippage and stops are fractions."""
    p = np.zeros(N_PARAM)
    p[kernel.P_FEE] = fee
    p[kernel.P_SLIPPAGE] = slippage
    p[kernel.P_STOP_LOSS] = _off(stop_loss)
    p[kernel.P_TAKE_PROFIT] = _off(take_profit)
    p[kernel.P_TRAILING] = _off(trailing_stop)
    p[kernel.P_FILL_AT_CLOSE] = float(fill_at_close)
    p[kernel.P_LONG_SHORT] = float(long_short)
    p[kernel.P_ACCUMULATE] = float(accumulate)
    p[kernel.P_LEVERAGE] = leverage
    p[kernel.P_MAINT_MARGIN] = _off(maintenance_margin)
    p[kernel.P_AMOUNT_STEP] = amount_step
    p[kernel.P_MIN_AMOUNT] = min_amount
    p[kernel.P_MIN_NOTIONAL] = min_notional
    p[kernel.P_ORDER_TTL] = float(order_ttl)
    p[kernel.P_TARGET_MODE] = float(target_mode)
    return p


def signal_array(bars: int, n: int = 1, **arrays: Any) -> np.ndarray:
    """Signal block float64[bars, n, N_SIG] from named arrays (broadcast to (bars, n)).

    Names: ``entries, exits, short_entries, short_exits`` (bool), ``size`` (fraction of equity,
    default 1), ``exit_size`` (fraction of the position, default all), ``limit``, ``stop``
    (entry order levels, default market) and ``weight`` (target weights).
    """
    names = {"entries": kernel.SIG_ENTRY, "exits": kernel.SIG_EXIT,
             "short_entries": kernel.SIG_SHORT_ENTRY, "short_exits": kernel.SIG_SHORT_EXIT,
             "size": kernel.SIG_SIZE, "exit_size": kernel.SIG_EXIT_SIZE,
             "limit": kernel.SIG_LIMIT, "stop": kernel.SIG_STOP, "weight": kernel.SIG_WEIGHT}
    sig = np.zeros((bars, n, N_SIG))
    sig[:, :, kernel.SIG_SIZE] = 1.0
    for f in ("exit_size", "limit", "stop", "weight"):
        sig[:, :, names[f]] = np.nan
    for name, value in arrays.items():
        if value is None:
            continue
        a = np.asarray(value, dtype=np.float64)
        if a.ndim == 1 and a.shape[0] == bars:
            a = a[:, None]
        sig[:, :, names[name]] = np.broadcast_to(a, (bars, n))
    return sig


def _col(a: Any, n: int) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1:
        arr = np.broadcast_to(arr, (n,))[:, None]
    return np.ascontiguousarray(arr)


def run(open_: Any, high: Any, low: Any, close: Any, entries: Any = None, exits: Any = None,
        short_entries: Any = None, short_exits: Any = None, *, size: Any = 1.0,
        init_cash: float = 10_000.0, exit_size: Any = None, limit: Any = None, stop: Any = None,
        weight: Any = None, **params: Any) -> SimResult:
    """Run :func:`~.kernel.simulate` on price arrays of one asset (1-D) or several (2-D).

    ``params`` are those of :func:`make_params`. One account: several assets share its cash.
    """
    c = np.asarray(close, dtype=np.float64)
    one = c.ndim == 1
    bars = c.shape[0]
    n = 1 if one else c.shape[1]
    o, h, lo, cc = (np.ascontiguousarray(np.broadcast_to(np.asarray(a, dtype=np.float64),
                                                         (bars,) if one else (bars, n)))
                    for a in (open_, high, low, close))
    if one:
        o, h, lo, cc = (a[:, None] for a in (o, h, lo, cc))
    sig = signal_array(bars, n, entries=entries, exits=exits, short_entries=short_entries,
                       short_exits=short_exits, size=size, exit_size=exit_size, limit=limit,
                       stop=stop, weight=weight)
    prm = make_params(**params)
    eq, cash, pos, rec = simulate(np.ascontiguousarray(o), np.ascontiguousarray(h),
                                  np.ascontiguousarray(lo), np.ascontiguousarray(cc), sig,
                                  float(init_cash), prm)
    return SimResult(eq, cash, pos[:, 0] if one else pos, rec)
