"""Streaming sweep kernels: many single-asset runs through :func:`~.kernel.step`, metrics online.

Each parameter combination is one account simulated bar by bar with the very same
:func:`~.kernel.step` as :func:`quantlab.backtest` (so fills are identical), while the
statistics of :data:`quantlab.backtesting.metrics.STAT_NAMES` are accumulated online
(:mod:`.online`): no equity curve is stored. Combinations run in parallel (``prange``).

- :func:`sweep_signals` takes precomputed signal columns (a chunk of combinations, bool
  matrices ``bars x chunk``): the generic path for any single-asset signal strategy.
- :func:`sweep_panel` is the same over several symbols (sleeves or one shared cash pool).
- :func:`sweep_sma_cross` is the fused form of ``sma_cross``: it receives each distinct
  window's moving average once (``windows x bars``) and forms every combination's crossover
  signals inside the loop, so memory is O(bars x windows + combinations).

Short-signal modes (``short_mode``): 0 none, 1 explicit columns, 2 mirror (``long_short``
without short signals: exits go short, entries cover).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from quantlab.backtesting.sim import kernel as K
from quantlab.backtesting.sim.online import (
    N_ACC,
    acc_bar,
    acc_fee,
    acc_finish,
    acc_init,
    acc_trade_closed,
    acc_trade_opened,
)

__all__ = ["sweep_panel", "sweep_signals", "sweep_sma_cross"]


@njit(cache=True)
def _one_asset_run(init_cash):  # pragma: no cover - compiled
    """Fresh state and scratch arrays of one single-asset combination."""
    sig = np.zeros((1, K.N_SIG))
    sig[0, K.SIG_EXIT_SIZE] = np.nan
    sig[0, K.SIG_LIMIT] = np.nan
    sig[0, K.SIG_STOP] = np.nan
    sig[0, K.SIG_WEIGHT] = np.nan
    acc = np.empty(N_ACC)
    acc_init(acc, init_cash)
    return (K.init_account(init_cash), K.init_assets(1), sig,
            np.empty((K.MAX_REC_PER_ASSET, K.N_REC)), np.empty((4, 1)), acc)


@njit(cache=True, _nrt=False)
def _account_bar(a, x, sig, px, o, h, lo, c, i, prm, buf, acc):  # pragma: no cover - compiled
    """One bar of one combination: :func:`K.step`, then its fills and equity into ``acc``.

    ``px`` is a float64[4, 1] scratch for this bar's prices (copied, not sliced: views of the
    shared price arrays would touch their reference count from every thread).
    """
    px[0, 0] = o[i]
    px[1, 0] = h[i]
    px[2, 0] = lo[i]
    px[3, 0] = c[i]
    m = K.step(a, x, sig, px[0], px[1], px[2], px[3], i, prm, buf)
    _feed(buf, m, acc)
    acc_bar(acc, a[K.A_EQUITY], x[0, K.X_POS] != 0.0)


@njit(cache=True, _nrt=False, inline="always")
def _quiet_bar(a, x, o, h, lo, c, i, acc):  # pragma: no cover - compiled
    """A bar where nothing can happen (no order pending, no signal, no stop to watch):
    :func:`K.step` would only record the close and mark the position, as done here. Inlined
    into the loops: a call with the kernel's many array arguments costs more than the bar.
    Bars that are not quiet go through :func:`K.step` itself."""
    ci = c[i]
    if o[i] == o[i] and h[i] == h[i] and lo[i] == lo[i] and ci == ci:
        x[0, K.X_LAST] = ci
        x[0, K.X_FRESH] = 0.0
    pos = x[0, K.X_POS]
    a[K.A_EQUITY] = a[K.A_CASH] + pos * x[0, K.X_LAST] if pos != 0.0 else a[K.A_CASH]
    acc_bar(acc, a[K.A_EQUITY], pos != 0.0)


@njit(cache=True, _nrt=False)
def _guarded(prm):  # pragma: no cover - compiled
    """Whether open positions are watched inside bars (stops or a margin model), or target
    weights are traded (then every bar goes through the kernel)."""
    return (prm[K.P_STOP_LOSS] > 0.0 or prm[K.P_TAKE_PROFIT] > 0.0 or prm[K.P_TRAILING] > 0.0
            or prm[K.P_MAINT_MARGIN] == prm[K.P_MAINT_MARGIN] or prm[K.P_TARGET_MODE] > 0.0
            or prm[K.P_FILL_AT_CLOSE] > 0.0)


@njit(cache=True, _nrt=False)
def _feed(buf, m, acc):  # pragma: no cover - compiled
    """Fees and trades of the ``m`` order records in ``buf`` into the accumulator."""
    for r in range(m):
        if buf[r, K.REC_STATUS] != K.STATUS_FILLED:
            continue
        acc_fee(acc, buf[r, K.REC_FEE])
        if buf[r, K.REC_OPENED] > 0.0:
            acc_trade_opened(acc)
        pnl = buf[r, K.REC_PNL]
        if pnl == pnl:
            acc_trade_closed(acc, pnl)


@njit(cache=True, parallel=True)
def sweep_signals(o, h, lo, c, entries, exits, short_entries, short_exits, short_mode, size,
                  init_cash, prm, ppy, bar_days, out):  # pragma: no cover - compiled
    """Simulate each column of ``entries``/``exits`` (bool[bars, m]) and write its statistics.

    ``size`` is float64[bars, 1] (shared) or float64[bars, m]; ``out`` float64[m, N_STATS].
    """
    bars, m = entries.shape
    per_col_size = size.shape[1] > 1
    guarded = _guarded(prm)
    for col in prange(m):
        a, x, sig, buf, px, acc = _one_asset_run(init_cash)
        sc = np.int64(col) if per_col_size else np.int64(0)
        for i in range(bars):
            e = entries[i, col]
            xx = exits[i, col]
            s_e = False
            s_x = False
            sig[0, K.SIG_ENTRY] = 1.0 if e else 0.0
            sig[0, K.SIG_EXIT] = 1.0 if xx else 0.0
            if short_mode == 1:
                s_e = short_entries[i, col]
                s_x = short_exits[i, col]
                sig[0, K.SIG_SHORT_ENTRY] = 1.0 if s_e else 0.0
                sig[0, K.SIG_SHORT_EXIT] = 1.0 if s_x else 0.0
            elif short_mode == 2:
                sig[0, K.SIG_SHORT_ENTRY] = 1.0 if xx else 0.0
                sig[0, K.SIG_SHORT_EXIT] = 1.0 if e else 0.0
            if not (e or xx or s_e or s_x) and x[0, K.X_PEND] == K.ACT_NONE and (
                    x[0, K.X_POS] == 0.0 or not guarded):
                _quiet_bar(a, x, o, h, lo, c, i, acc)
                continue
            sig[0, K.SIG_SIZE] = size[i, sc]
            _account_bar(a, x, sig, px, o, h, lo, c, i, prm, buf, acc)
        acc_finish(acc, out[col], init_cash, ppy, bar_days)


@njit(cache=True, parallel=True)
def sweep_sma_cross(o, h, lo, c, ma, start, fast_idx, slow_idx, short_mode, size, init_cash,
                    prm, ppy, bar_days, out):  # pragma: no cover - compiled
    """Fused SMA-cross sweep: ``ma`` is float64[windows, all bars]; combination ``k`` crosses
    ``ma[fast_idx[k]]`` over ``ma[slow_idx[k]]`` (entry when fast > slow after fast <= slow
    on the previous bar, exit the reverse; NaN compares false), exactly as
    ``SmaCross.signals``. The traded bars are ``ma[:, start:start + len(c)]`` (earlier bars
    are warm-up). ``size`` is float64[bars, 1]."""
    bars = c.shape[0]
    m = fast_idx.shape[0]
    guarded = _guarded(prm)
    for col in prange(m):
        f = ma[fast_idx[col]]
        s = ma[slow_idx[col]]
        a, x, sig, buf, px, acc = _one_asset_run(init_cash)
        fp = f[start - 1] if start > 0 else np.nan
        sp = s[start - 1] if start > 0 else np.nan
        for i in range(bars):
            fi = f[start + i]
            si = s[start + i]
            e = fi > si and fp <= sp
            xx = fi < si and fp >= sp
            fp = fi
            sp = si
            if not (e or xx) and x[0, K.X_PEND] == K.ACT_NONE and (
                    x[0, K.X_POS] == 0.0 or not guarded):
                _quiet_bar(a, x, o, h, lo, c, i, acc)
                continue
            sig[0, K.SIG_ENTRY] = 1.0 if e else 0.0
            sig[0, K.SIG_EXIT] = 1.0 if xx else 0.0
            if short_mode == 2:
                sig[0, K.SIG_SHORT_ENTRY] = 1.0 if xx else 0.0
                sig[0, K.SIG_SHORT_EXIT] = 1.0 if e else 0.0
            sig[0, K.SIG_SIZE] = size[i, 0]
            _account_bar(a, x, sig, px, o, h, lo, c, i, prm, buf, acc)
        acc_finish(acc, out[col], init_cash, ppy, bar_days)


@njit(cache=True, parallel=True)
def sweep_panel(o, h, lo, c, entries, exits, short_entries, short_exits, short_mode, size,
                shared, init_cash, prm, ppy, bar_days, out):  # pragma: no cover - compiled
    """Multi-symbol sweep: run ``k`` trades columns ``k*n .. k*n+n-1`` of the signal matrices
    on the ``n`` symbols of ``o, h, lo, c`` (float64[bars, n]).

    ``shared``: one account holds every symbol (one cash pool); otherwise one sleeve account
    per symbol with ``init_cash / n`` each. Statistics are those of the summed equity.
    ``size`` is float64[bars, 1], [bars, n] (per symbol) or [bars, m*n] (per run and symbol).
    """
    bars, n = c.shape
    m = entries.shape[1] // n
    n_acc = 1 if shared else n
    per = n if shared else 1
    size_cols = size.shape[1]
    for run in prange(m):
        base = np.int64(run) * n
        accts = np.empty((n_acc, K.N_ACCT))
        assets = np.empty((n_acc, per, K.N_ASSET))
        for g in range(n_acc):
            accts[g] = K.init_account(init_cash / n_acc)
            assets[g] = K.init_assets(per)
        sig = np.zeros((per, K.N_SIG))
        for j in range(per):
            sig[j, K.SIG_EXIT_SIZE] = np.nan
            sig[j, K.SIG_LIMIT] = np.nan
            sig[j, K.SIG_STOP] = np.nan
            sig[j, K.SIG_WEIGHT] = np.nan
        px = np.empty((4, per))
        buf = np.empty((per * K.MAX_REC_PER_ASSET, K.N_REC))
        acc = np.empty(N_ACC)
        acc_init(acc, init_cash)
        for i in range(bars):
            equity = 0.0
            exposed = False
            for g in range(n_acc):
                for j in range(per):
                    s = g * per + j  # symbol
                    col = base + s
                    e = entries[i, col]
                    xx = exits[i, col]
                    sig[j, K.SIG_ENTRY] = 1.0 if e else 0.0
                    sig[j, K.SIG_EXIT] = 1.0 if xx else 0.0
                    if short_mode == 1:
                        sig[j, K.SIG_SHORT_ENTRY] = 1.0 if short_entries[i, col] else 0.0
                        sig[j, K.SIG_SHORT_EXIT] = 1.0 if short_exits[i, col] else 0.0
                    elif short_mode == 2:
                        sig[j, K.SIG_SHORT_ENTRY] = 1.0 if xx else 0.0
                        sig[j, K.SIG_SHORT_EXIT] = 1.0 if e else 0.0
                    if size_cols == 1:
                        sig[j, K.SIG_SIZE] = size[i, 0]
                    elif size_cols == n:
                        sig[j, K.SIG_SIZE] = size[i, s]
                    else:
                        sig[j, K.SIG_SIZE] = size[i, col]
                    px[0, j] = o[i, s]
                    px[1, j] = h[i, s]
                    px[2, j] = lo[i, s]
                    px[3, j] = c[i, s]
                k = K.step(accts[g], assets[g], sig, px[0], px[1], px[2], px[3], i, prm, buf)
                _feed(buf, k, acc)
                equity += accts[g, K.A_EQUITY]
                for j in range(per):
                    if assets[g, j, K.X_POS] != 0.0:
                        exposed = True
            acc_bar(acc, equity, exposed)
        acc_finish(acc, out[run], init_cash, ppy, bar_days)
