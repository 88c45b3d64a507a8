"""Strategy output -> simulator input -> per-bar equity and order records.

The one bridge between the strategy API (:class:`Signals`, :class:`TargetWeights`, pandas)
and the numba simulator (:mod:`quantlab.backtesting.sim`, numpy blocks). Sizing modes become
the per-bar ``size`` of the signal block; ``allocation="sleeves"`` runs one account per asset
(capital split equally), ``"shared"`` and target weights one account for all assets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from quantlab.backtesting.options import BacktestOptions
from quantlab.backtesting.prepared import PreparedData
from quantlab.backtesting.sim import kernel, make_params, simulate
from quantlab.errors import ParameterError, StrategyError
from quantlab.strategies.base import Signals, TargetWeights
from quantlab.strategies.indicators import realized_vol

__all__ = ["SimRun", "kernel_params", "signal_block", "simulate_output", "weight_block"]


@dataclass(frozen=True)
class SimRun:
    """Raw outcome of one simulation: per-bar arrays and the order records (``kernel.REC_*``)."""

    equity: np.ndarray     # (bars,)
    cash: np.ndarray       # (bars,)
    positions: np.ndarray  # (bars, n) signed units
    records: np.ndarray    # (orders, N_REC), REC_COL = asset index, sorted by bar


def kernel_params(opts: BacktestOptions, *, long_short: bool, target_mode: bool = False) -> np.ndarray:
    """The simulator's parameter vector for ``opts``."""
    return make_params(
        fee=opts.fees, slippage=opts.slippage, stop_loss=opts.stop_loss,
        take_profit=opts.take_profit, trailing_stop=opts.trailing_stop,
        fill_at_close=opts.fill == "close", long_short=long_short, accumulate=opts.accumulate,
        leverage=opts.leverage, maintenance_margin=opts.maintenance_margin,
        amount_step=opts.amount_step, min_amount=opts.min_amount,
        min_notional=opts.min_notional, order_ttl=opts.order_ttl, target_mode=target_mode)


def _values(a: pd.Series | pd.DataFrame, shape: tuple[int, int], dtype: Any = np.float64) -> np.ndarray:
    arr = np.asarray(a.to_numpy(), dtype=dtype)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape != shape:
        raise StrategyError(f"signal array of shape {arr.shape} does not match the prices {shape}")
    return arr


def entry_size(sig: Signals, pdata: PreparedData, opts: BacktestOptions) -> Any:
    """Entry size per bar as a fraction of equity (scalar or array) under ``opts.sizing``."""
    if sig.size is not None:
        if opts.sizing != "all_in":
            raise ParameterError(
                f"the strategy sizes its own entries (Signals.size, e.g. a +vol_target overlay); "
                f"sizing={opts.sizing!r} would be ignored: leave sizing='all_in'")
        size = sig.size.astype(float)
        top = float(np.nanmax(size.to_numpy())) if size.notna().to_numpy().any() else 0.0
        if top > opts.leverage + 1e-12:
            raise StrategyError(
                f"strategy sizes reach {top:.3g} of equity, above leverage={opts.leverage:g} "
                "(raise the backtest option leverage, or lower the strategy's max_leverage)")
        return size.clip(lower=0.0).fillna(0.0)
    if opts.sizing == "all_in":
        return 1.0
    if opts.sizing == "fixed_fraction":
        return opts.fraction
    if opts.sizing == "risk_per_trade":
        return min(opts.leverage, opts.risk / float(opts.stop_distance))  # type: ignore[arg-type, operator]
    vol = realized_vol(pdata.close, opts.vol_lookback, pdata.ppy)
    frac = (opts.target_vol / vol).clip(upper=opts.leverage)
    return frac.where(np.isfinite(frac), 0.0).fillna(0.0)


def signal_block(sig: Signals, pdata: PreparedData, opts: BacktestOptions) -> tuple[np.ndarray, bool]:
    """The simulator's signal block float64[bars, n, N_SIG] and whether shorts are traded."""
    close = pdata.close
    shape = (len(close), 1 if isinstance(close, pd.Series) else close.shape[1])
    has_shorts = sig.short_entries is not None or sig.short_exits is not None
    if has_shorts and opts.direction != "long_short":
        raise ParameterError("the strategy emits short signals; pass direction='long_short' to trade them")
    block = np.zeros((*shape, kernel.N_SIG))
    entries = _values(sig.entries, shape, np.bool_)
    exits = _values(sig.exits, shape, np.bool_)
    block[:, :, kernel.SIG_ENTRY] = entries
    block[:, :, kernel.SIG_EXIT] = exits
    if has_shorts:
        for name, field in (("short_entries", kernel.SIG_SHORT_ENTRY), ("short_exits", kernel.SIG_SHORT_EXIT)):
            arr = getattr(sig, name)
            if arr is not None:
                block[:, :, field] = _values(arr, shape, np.bool_)
    elif opts.direction == "long_short":  # exits go short, entries cover
        block[:, :, kernel.SIG_SHORT_ENTRY] = exits
        block[:, :, kernel.SIG_SHORT_EXIT] = entries
    size = entry_size(sig, pdata, opts)
    block[:, :, kernel.SIG_SIZE] = (_values(size, shape) if isinstance(size, pd.Series | pd.DataFrame)
                                    else float(size))
    for name, field in (("exit_size", kernel.SIG_EXIT_SIZE), ("limit", kernel.SIG_LIMIT),
                        ("stop", kernel.SIG_STOP)):
        arr = getattr(sig, name)
        block[:, :, field] = np.nan if arr is None else _values(arr, shape)
    block[:, :, kernel.SIG_WEIGHT] = np.nan
    return block, has_shorts or opts.direction == "long_short"


def weight_block(tw: TargetWeights, pdata: PreparedData, opts: BacktestOptions) -> np.ndarray:
    """Signal block of a target-weight strategy (weights checked against ``opts``)."""
    if opts.stop_loss is not None or opts.take_profit is not None or opts.trailing_stop is not None:
        raise ParameterError("stops apply to signal strategies, not target-weight strategies")
    close = pdata.close if pdata.is_panel else pdata.close.to_frame()
    weights = tw.weights.astype(float)
    if weights.shape[1] != close.shape[1]:
        raise StrategyError(f"strategy weights have {weights.shape[1]} columns for "
                            f"{close.shape[1]} symbols")
    w = weights.to_numpy()
    if opts.direction == "long_only" and (w < 0).any():
        raise StrategyError("strategy produced negative weights; use direction='long_short'")
    gross = np.nansum(np.abs(w), axis=1)
    if (gross > opts.leverage + 1e-9).any():
        at = int(np.argmax(gross))
        raise StrategyError(
            f"strategy weights sum to {gross[at]:.4f} at {weights.index[at]}; "
            f"above leverage={opts.leverage:g}")
    block = np.zeros((*w.shape, kernel.N_SIG))
    block[:, :, kernel.SIG_SIZE] = np.nan
    block[:, :, kernel.SIG_EXIT_SIZE] = np.nan
    block[:, :, kernel.SIG_LIMIT] = np.nan
    block[:, :, kernel.SIG_STOP] = np.nan
    block[:, :, kernel.SIG_WEIGHT] = w
    return block


def _prices(pdata: PreparedData) -> tuple[np.ndarray, ...]:
    out = []
    for f in ("open", "high", "low", "close"):
        a = np.asarray(getattr(pdata, f).to_numpy(), dtype=np.float64)
        out.append(np.ascontiguousarray(a[:, None] if a.ndim == 1 else a))
    return tuple(out)


def _run_accounts(prices: tuple[np.ndarray, ...], block: np.ndarray, prm: np.ndarray,
                  init_cash: float, sleeves: bool) -> SimRun:
    o, h, lo, c = prices
    n = c.shape[1]
    if not sleeves or n == 1:
        eq, cash, pos, rec = simulate(o, h, lo, c, np.ascontiguousarray(block), float(init_cash), prm)
        return SimRun(eq, cash, pos, rec)
    parts = []
    for j in range(n):
        cols = slice(j, j + 1)
        parts.append(simulate(*(np.ascontiguousarray(a[:, cols]) for a in (o, h, lo, c)),
                              np.ascontiguousarray(block[:, cols]), float(init_cash) / n, prm))
    records = []
    for j, part in enumerate(parts):
        rec = part[3].copy()
        rec[:, kernel.REC_COL] = j
        records.append(rec)
    rec = np.concatenate(records) if records else np.empty((0, kernel.N_REC))
    order = np.argsort(rec[:, kernel.REC_BAR], kind="stable")
    return SimRun(sum(p[0] for p in parts), sum(p[1] for p in parts),
                  np.column_stack([p[2][:, 0] for p in parts]), rec[order])


def simulate_output(out: Signals | TargetWeights, pdata: PreparedData, opts: BacktestOptions) -> SimRun:
    """Simulate a strategy's output on ``pdata`` under ``opts``.

    Signal strategies on a panel trade one sleeve per asset (``allocation="sleeves"``, capital
    split equally) or one shared cash pool (``"shared"``); target weights always share one pool.
    """
    prices = _prices(pdata)
    if isinstance(out, TargetWeights):
        block = weight_block(out, pdata, opts)
        prm = kernel_params(opts, long_short=opts.direction == "long_short", target_mode=True)
        return _run_accounts(prices, block, prm, opts.init_cash, sleeves=False)
    block, long_short = signal_block(out, pdata, opts)
    prm = kernel_params(opts, long_short=long_short)
    return _run_accounts(prices, block, prm, opts.init_cash,
                         sleeves=pdata.is_panel and opts.allocation == "sleeves")
