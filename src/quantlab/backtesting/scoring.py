"""Scoring a list of parameter combinations on the simulator: the compute core of a sweep.

:func:`score_runs` takes strategy instances (one per combination) and returns their statistics
(:data:`~quantlab.backtesting.metrics.STAT_NAMES`) as one matrix. Four paths, all filling through
:func:`quantlab.backtesting.sim.kernel.step`, so a row equals ``ql.backtest`` with those
parameters (tested to 1e-9):

- **fused** (``sma_cross`` on one asset): each distinct moving average computed once, signals
  formed per combination inside the compiled loop, metrics accumulated online — memory
  O(bars x windows + combinations), both cores (:mod:`quantlab.backtesting.sim.sweeps`);
- **streamed** (any other single-asset signal strategy): signals of ``chunk_size``
  combinations at a time (``batch_signals`` when the strategy has it, else ``signals()`` per
  combination) simulated in parallel with online metrics;
- **panel** (signal strategies on several symbols): the same, each combination trading every
  symbol in sleeves or one shared cash pool;
- **per run** (target weights, limit/stop entries or partial exits, or combinations whose
  signals differ in kind, e.g. with and without shorts): one simulation per combination,
  scored by :mod:`quantlab.backtesting.metrics`.

:mod:`quantlab.backtesting.sweep` calls it in-process; :mod:`quantlab.backtesting.distributed`
calls it on Dask workers, one partition of the combinations each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from quantlab.backtesting import metrics
from quantlab.backtesting.options import BacktestOptions
from quantlab.backtesting.prepared import PreparedData
from quantlab.backtesting.simulation import SimRun, entry_size, kernel_params, simulate_output
from quantlab.errors import ParameterError
from quantlab.strategies.base import Signals, Strategy, TargetWeights, strategy_errors

__all__ = ["run_stats", "score_runs"]


def run_stats(run: SimRun, init_cash: float, ppy: float, bar_days: float) -> dict[str, float]:
    """The :data:`~quantlab.backtesting.metrics.STAT_NAMES` figures of one simulation."""
    from quantlab.backtesting.sim import kernel as K

    out = {k: float(v[0]) for k, v in metrics.equity_stats(run.equity, init_cash, ppy, bar_days).items()}
    rec = run.records[run.records[:, K.REC_STATUS] == K.STATUS_FILLED]
    pnl = rec[:, K.REC_PNL]
    closed = np.isfinite(pnl)
    n_closed = int(closed.sum())
    ts = metrics.trade_stats(pnl[closed], np.ones(n_closed, bool), np.zeros(n_closed, np.int64), 1)
    out.update(win_rate=float(ts["win_rate"][0]), profit_factor=float(ts["profit_factor"][0]),
               trades=float((rec[:, K.REC_OPENED] > 0).sum()), fees_paid=float(rec[:, K.REC_FEE].sum()),
               exposure=float((run.positions != 0).any(axis=1).mean()))
    return out


def _is_sma_cross(cls: type[Strategy]) -> bool:
    from quantlab.strategies.sma_cross import SmaCross

    return (issubclass(cls, SmaCross) and cls.signals is SmaCross.signals
            and cls.batch_signals.__func__ is SmaCross.batch_signals.__func__)  # type: ignore[attr-defined]


def _prices_1d(pdata: PreparedData) -> tuple[np.ndarray, ...]:
    return tuple(np.ascontiguousarray(getattr(pdata, f).to_numpy(dtype=np.float64))
                 for f in ("open", "high", "low", "close"))


def _size_matrix(size: Any, bars: int) -> np.ndarray:
    if isinstance(size, pd.Series | pd.DataFrame):
        arr = np.asarray(size.to_numpy(), dtype=np.float64)
        return np.ascontiguousarray(arr[:, None] if arr.ndim == 1 else arr)
    return np.full((bars, 1), float(size))


def _score_fused(runs: list[Strategy], full: PreparedData, pdata: PreparedData, rows: slice,
                 opts: BacktestOptions, chunk_size: int, on_progress: Callable[[int], Any]) -> np.ndarray:
    from quantlab.backtesting.sim.sweeps import sweep_sma_cross
    from quantlab.strategies.indicators import sma

    windows = sorted({int(r.fast) for r in runs} | {int(r.slow) for r in runs})
    pos = {w: i for i, w in enumerate(windows)}
    ma = np.empty((len(windows), len(full.close)))
    for w in windows:
        ma[pos[w]] = sma(full.close, w).to_numpy()
    start = rows.start or 0
    prices = _prices_1d(pdata)
    close = pdata.close
    size = _size_matrix(entry_size(Signals(close, close), pdata, opts), len(close))
    prm = kernel_params(opts, long_short=opts.direction == "long_short")
    short_mode = 2 if opts.direction == "long_short" else 0
    out = np.empty((len(runs), len(metrics.STAT_NAMES)))
    for lo in range(0, len(runs), chunk_size):
        chunk = runs[lo:lo + chunk_size]
        fi = np.array([pos[int(r.fast)] for r in chunk], dtype=np.int64)
        si = np.array([pos[int(r.slow)] for r in chunk], dtype=np.int64)
        sweep_sma_cross(*prices, ma, start, fi, si, short_mode, size, float(opts.init_cash), prm,
                        float(pdata.ppy), float(pdata.bar_days), out[lo:lo + len(chunk)])
        on_progress(len(chunk))
    return out


def _bool_matrix(frame: pd.Series | pd.DataFrame) -> np.ndarray:
    arr = frame.to_numpy(dtype=np.bool_)
    return np.ascontiguousarray(arr[:, None] if arr.ndim == 1 else arr)


def _short_arrays(sig: Signals, entries: np.ndarray,
                  opts: BacktestOptions) -> tuple[np.ndarray, np.ndarray, int]:
    """Short entry/exit matrices and the kernels' ``short_mode`` (0 none, 1 explicit, 2 mirror)."""
    if sig.short_entries is None and sig.short_exits is None:
        none = np.zeros((entries.shape[0], 0), dtype=np.bool_)
        return none, none, 2 if opts.direction == "long_short" else 0
    if opts.direction != "long_short":
        raise ParameterError("the strategy emits short signals; pass direction='long_short' to trade them")
    empty = np.zeros_like(entries)
    se = _bool_matrix(sig.short_entries) if sig.short_entries is not None else empty
    sx = _bool_matrix(sig.short_exits) if sig.short_exits is not None else empty
    return se, sx, 1


def _score_streamed(sig: Signals, pdata: PreparedData, opts: BacktestOptions) -> np.ndarray:
    """Columns of ``sig`` (one per combination, rows = traded bars) through the streaming kernel."""
    from quantlab.backtesting.sim.sweeps import sweep_signals

    entries, exits = _bool_matrix(sig.entries), _bool_matrix(sig.exits)
    bars, m = entries.shape
    se, sx, short_mode = _short_arrays(sig, entries, opts)
    size = _size_matrix(entry_size(sig, pdata, opts), bars)
    prm = kernel_params(opts, long_short=opts.direction == "long_short")
    out = np.empty((m, len(metrics.STAT_NAMES)))
    sweep_signals(*_prices_1d(pdata), entries, exits, se, sx, short_mode, size,
                  float(opts.init_cash), prm, float(pdata.ppy), float(pdata.bar_days), out)
    return out


def _score_panel(outs: list[Signals], pdata: PreparedData, opts: BacktestOptions) -> np.ndarray:
    """Multi-symbol signal runs (sleeves or shared cash) through the streaming panel kernel."""
    from quantlab.backtesting.sim.sweeps import sweep_panel

    sig = _stacked(outs)
    entries, exits = _bool_matrix(sig.entries), _bool_matrix(sig.exits)
    bars = entries.shape[0]
    se, sx, short_mode = _short_arrays(sig, entries, opts)
    size = _size_matrix(entry_size(sig if sig.size is not None else outs[0], pdata, opts), bars)
    prices = tuple(np.ascontiguousarray(getattr(pdata, f).to_numpy(dtype=np.float64))
                   for f in ("open", "high", "low", "close"))
    prm = kernel_params(opts, long_short=opts.direction == "long_short")
    out = np.empty((len(outs), len(metrics.STAT_NAMES)))
    sweep_panel(*prices, entries, exits, se, sx, short_mode, size, opts.allocation == "shared",
                float(opts.init_cash), prm, float(pdata.ppy), float(pdata.bar_days), out)
    return out


def _needs_full_sim(out: Signals | TargetWeights) -> bool:
    return isinstance(out, TargetWeights) or any(
        getattr(out, n) is not None for n in ("exit_size", "limit", "stop"))


def _stackable(outs: list[Signals | TargetWeights]) -> bool:
    """Whether the runs' signals can share one streamed kernel call: the same arrays in each
    (a run without short signals trades differently from one with them), no order types that
    only the full simulator knows."""
    if any(_needs_full_sim(o) for o in outs):
        return False
    names = set(outs[0].arrays())
    return all(set(o.arrays()) == names for o in outs[1:])


def _stacked(outs: list[Signals]) -> Signals:
    names = outs[0].arrays()
    return Signals(**{n: pd.concat([o.arrays()[n] for o in outs], axis=1, ignore_index=True)
                      for n in names})


def score_runs(runs: list[Strategy], full: PreparedData, pdata: PreparedData, rows: slice,
               opts: BacktestOptions, chunk_size: int,
               on_progress: Callable[[int], Any] | None = None) -> np.ndarray:
    """Statistics of every run: float64[len(runs), len(STAT_NAMES)] (columns in that order).

    ``full`` holds every bar (indicator warm-up), ``pdata`` the traded bars ``rows`` of it.
    """
    progress = on_progress or (lambda k: None)
    cls = type(runs[0])
    label = cls.label()
    if not pdata.is_panel and _is_sma_cross(cls):
        return _score_fused(runs, full, pdata, rows, opts, chunk_size, progress)
    out = np.empty((len(runs), len(metrics.STAT_NAMES)))
    for lo in range(0, len(runs), chunk_size):
        chunk = runs[lo:lo + chunk_size]
        batch = None
        if not pdata.is_panel:
            with strategy_errors(label, "batch_signals()"):
                batch = cls.batch_signals(full.bars, chunk)
        if batch is not None:
            out[lo:lo + len(chunk)] = _score_streamed(batch[rows], pdata, opts)
            progress(len(chunk))
            continue
        outs = [s.run(full.bars)[rows] for s in chunk]
        stackable = _stackable(outs)
        if pdata.is_panel and stackable:
            out[lo:lo + len(chunk)] = _score_panel(outs, pdata, opts)  # type: ignore[arg-type]
        elif pdata.is_panel or not stackable:
            for i, o in enumerate(outs):
                stats = run_stats(simulate_output(o, pdata, opts), opts.init_cash, pdata.ppy,
                                  pdata.bar_days)
                out[lo + i] = [stats[k] for k in metrics.STAT_NAMES]
        else:
            out[lo:lo + len(chunk)] = _score_streamed(_stacked(outs), pdata, opts)  # type: ignore[arg-type]
        progress(len(chunk))
    return out
