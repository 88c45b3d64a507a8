"""Streaming (one-pass, O(1) memory) versions of the headline statistics of :mod:`..metrics`.

A parameter sweep run by the simulator kernel scores each run while it simulates it, bar by bar,
so no ``(bars x runs)`` equity matrix is ever stored. Each run owns one *accumulator*, a float64
array of length :data:`N_ACC` whose slots are the ``A_*`` constants below. The kernel calls

* :func:`acc_init` once before the first bar,
* :func:`acc_bar` once per bar, after the close, with the end-of-bar equity and whether a
  position is held at that close,
* :func:`acc_fee`, :func:`acc_trade_opened` and :func:`acc_trade_closed` as orders fill,
* :func:`acc_finish` once at the end, which writes the 13 statistics of
  :data:`quantlab.backtesting.metrics.STAT_NAMES` (in that order, indices ``O_*``) into an
  output row.

Every function is ``@njit(cache=True)`` and takes only arrays and scalars, so it can be called
from a ``prange`` loop of another cached kernel.

Notes
-----
The results mirror :func:`metrics.equity_stats <quantlab.backtesting.metrics.equity_stats>`
and :func:`metrics.trade_stats <quantlab.backtesting.metrics.trade_stats>` term by term,
including their NaN/inf conventions:

* per-bar simple returns, the first against ``init_cash``; a non-finite return (previous
  equity 0, NaN/inf equity) counts as 0 (:func:`~..metrics.returns_from_equity`);
* running peak with ``np.maximum.accumulate`` semantics: it starts at the first bar's equity
  (not at ``init_cash``) and a NaN equity makes it NaN from then on; drawdown
  ``1 - eq / peak`` with non-finite values replaced by 0 (:func:`~..metrics.drawdown`);
* max drawdown duration: the longest run of consecutive bars with ``eq < peak``, an open run
  at the end included (:func:`~..metrics.max_drawdown_duration`), times ``bar_days``;
* the mean return (Sharpe, Sortino) is the sequential sum divided by the bar count -- the
  summation order numpy uses when it reduces a ``(bars, runs)`` matrix over its bars, so it
  agrees bit for bit with the vectorized path of a sweep (1-D input is summed pairwise by
  numpy; the two then differ by rounding only). The ``ddof=1`` variance comes from Welford's
  update (a stable one-pass form; numpy uses two passes, so the two agree to rounding, not
  bit for bit); the downside second moment is the sequential mean of ``min(r, 0)**2``;
* ``cagr = growth ** (1 / years) - 1`` with ``years = n_bars / ppy`` for ``growth > 0``, else
  -1; ``sharpe``/``sortino`` NaN unless their denominator is > 0 (with one bar the ``ddof=1``
  std is NaN, so are ``volatility`` and ``sharpe``); ``calmar`` NaN unless the max drawdown
  is > 0;
* trades count every opened position; win rate and profit factor use closed trades only,
  gross wins/losses summed in closing order (as ``np.bincount`` sums a trade table).

Divisions are guarded explicitly (numba's default error model raises on a float division by
zero where numpy returns inf/NaN). With no bar at all (``metrics.equity_stats`` raises there)
the equity statistics and the exposure are NaN. ``ppy`` must be > 0.

One limit is inherent to a single pass: when all returns are equal up to rounding (a curve
growing by the same factor every bar) the std is rounding noise (~1e-17), and numpy's
two-pass std and Welford's are *different* noise -- volatility still agrees within 1e-12,
but Sharpe (mean / noise, ~1e16) only in magnitude, and an exactly zero variance on one side
may be a tiny positive one on the other (NaN vs ~1e16 Sharpe).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "A_CLOSED", "A_EXPOSED", "A_FEES", "A_GROSS_LOSS", "A_GROSS_WIN", "A_LAST_EQ", "A_M2",
    "A_MAX_DD", "A_MAX_RUN", "A_MEAN", "A_N", "A_PEAK", "A_RUN", "A_SUM_DOWN2", "A_SUM_R",
    "A_TRADES", "A_WINS", "N_ACC", "N_STATS", "O_CAGR", "O_CALMAR", "O_EXPOSURE", "O_FEES_PAID",
    "O_MAX_DRAWDOWN", "O_MAX_DRAWDOWN_DURATION", "O_PROFIT_FACTOR", "O_SHARPE", "O_SORTINO",
    "O_TOTAL_RETURN", "O_TRADES", "O_VOLATILITY", "O_WIN_RATE", "acc_bar", "acc_fee",
    "acc_finish", "acc_init", "acc_trade_closed", "acc_trade_opened",
]

# --- accumulator layout (float64 array of N_ACC) ---
A_N = 0            # bars seen
A_LAST_EQ = 1      # last equity (init_cash before the first bar: the first return's base)
A_PEAK = 2         # running peak of equity (NaN once a NaN equity was seen)
A_MAX_DD = 3       # largest drawdown so far (-inf before the first bar)
A_RUN = 4          # length of the current underwater run (bars with eq < peak)
A_MAX_RUN = 5      # longest underwater run so far
A_MEAN = 6         # Welford running mean of returns (feeds A_M2)
A_M2 = 7           # Welford sum of squared deviations from the mean
A_SUM_R = 8        # sequential sum of returns (the reported mean is A_SUM_R / A_N)
A_SUM_DOWN2 = 9    # sequential sum of min(r, 0)**2
A_EXPOSED = 10     # bars with a position at the close
A_FEES = 11        # fees paid
A_TRADES = 12      # positions opened
A_CLOSED = 13      # positions closed
A_WINS = 14        # closed with pnl > 0
A_GROSS_WIN = 15   # sum of pnl > 0 of closed trades
A_GROSS_LOSS = 16  # sum of -pnl for pnl < 0 of closed trades
N_ACC = 17

# --- output row: indices in the order of metrics.STAT_NAMES ---
O_TOTAL_RETURN = 0
O_CAGR = 1
O_VOLATILITY = 2
O_SHARPE = 3
O_SORTINO = 4
O_CALMAR = 5
O_MAX_DRAWDOWN = 6
O_MAX_DRAWDOWN_DURATION = 7
O_WIN_RATE = 8
O_PROFIT_FACTOR = 9
O_EXPOSURE = 10
O_TRADES = 11
O_FEES_PAID = 12
N_STATS = 13


@njit(cache=True, _nrt=False)
def acc_init(acc, init_cash):  # pragma: no cover - compiled
    """Reset accumulator ``acc`` (float64[N_ACC], in place) for a run starting with
    ``init_cash``."""
    acc[:] = 0.0
    acc[A_LAST_EQ] = init_cash
    acc[A_PEAK] = np.nan
    acc[A_MAX_DD] = -np.inf


@njit(cache=True, _nrt=False)
def acc_bar(acc, equity, exposed):  # pragma: no cover - compiled
    """Add one bar: ``equity`` after the close and ``exposed`` (a position is held at the close).

    Updates the return moments (first bar against ``init_cash``, non-finite returns as 0), the
    running peak, drawdown and underwater run, the exposure count and the last equity.
    """
    n_prev = acc[A_N]
    n = n_prev + 1.0
    acc[A_N] = n
    # simple return; eq / 0 and anything involving NaN/inf count as 0 (returns_from_equity)
    prev = acc[A_LAST_EQ]
    r = 0.0
    if prev != 0.0 and equity != prev:  # equal (a flat bar): exactly 0, without the division
        r = equity / prev - 1.0
        if not np.isfinite(r):
            r = 0.0
    acc[A_LAST_EQ] = equity
    # Welford (mean for the update only; M2 gives the ddof=1 variance)
    mean = acc[A_MEAN]
    delta = r - mean
    mean = mean + delta / n
    acc[A_MEAN] = mean
    acc[A_M2] = acc[A_M2] + delta * (r - mean)
    acc[A_SUM_R] = acc[A_SUM_R] + r
    if r < 0.0:
        acc[A_SUM_DOWN2] = acc[A_SUM_DOWN2] + r * r
    # running peak as np.maximum.accumulate: starts at the first equity, NaN propagates
    peak = acc[A_PEAK]
    if n_prev == 0.0 or np.isnan(equity):
        peak = equity
    elif equity > peak:  # False while peak is NaN: it stays NaN
        peak = equity
    acc[A_PEAK] = peak
    # drawdown 1 - eq / peak, non-finite (peak 0, NaN, inf) as 0 (metrics.drawdown)
    dd = 0.0
    if peak != 0.0 and equity != peak:  # at the peak: exactly 0
        dd = 1.0 - equity / peak
        if not np.isfinite(dd):
            dd = 0.0
    if dd > acc[A_MAX_DD]:
        acc[A_MAX_DD] = dd
    # underwater run: consecutive bars with eq < peak (False with NaN on either side)
    if equity < peak:
        run = acc[A_RUN] + 1.0
        acc[A_RUN] = run
        if run > acc[A_MAX_RUN]:
            acc[A_MAX_RUN] = run
    else:
        acc[A_RUN] = 0.0
    if exposed:
        acc[A_EXPOSED] = acc[A_EXPOSED] + 1.0


@njit(cache=True, _nrt=False)
def acc_fee(acc, fee):  # pragma: no cover - compiled
    """Add a paid fee (quote currency) to ``fees_paid``."""
    acc[A_FEES] = acc[A_FEES] + fee


@njit(cache=True, _nrt=False)
def acc_trade_opened(acc):  # pragma: no cover - compiled
    """Count an opened position (in ``trades`` even if it is still open at the end)."""
    acc[A_TRADES] = acc[A_TRADES] + 1.0


@njit(cache=True, _nrt=False)
def acc_trade_closed(acc, pnl):  # pragma: no cover - compiled
    """Record a closed position with net ``pnl`` (for win rate and profit factor).

    As :func:`~quantlab.backtesting.metrics.trade_stats`: a win is ``pnl > 0``, a loss
    ``pnl < 0``; a zero (or NaN) pnl counts as closed but adds to neither gross sum.
    """
    acc[A_CLOSED] = acc[A_CLOSED] + 1.0
    if pnl > 0.0:
        acc[A_WINS] = acc[A_WINS] + 1.0
        acc[A_GROSS_WIN] = acc[A_GROSS_WIN] + pnl
    elif pnl < 0.0:
        acc[A_GROSS_LOSS] = acc[A_GROSS_LOSS] - pnl


@njit(cache=True, _nrt=False)
def acc_finish(acc, out, init_cash, ppy, bar_days):  # pragma: no cover - compiled
    """Write the 13 statistics of ``metrics.STAT_NAMES`` into ``out[0:N_STATS]`` (``O_*``).

    ``ppy`` is bars per year (> 0), ``bar_days`` the length of a bar in days (the drawdown
    duration is reported in days). Conventions exactly as
    :func:`~quantlab.backtesting.metrics.equity_stats` and
    :func:`~quantlab.backtesting.metrics.trade_stats`; with no bar the equity statistics and
    the exposure are NaN.
    """
    n = acc[A_N]
    sq = np.sqrt(ppy)
    if n > 0.0:
        last = acc[A_LAST_EQ]
        # total return and growth: eq[-1] / init_cash (inf/NaN as numpy gives them)
        if init_cash != 0.0:
            growth = last / init_cash
        elif np.isnan(last) or last == 0.0:
            growth = np.nan
        else:  # x / +-0.0 with x != 0: an infinity signed like x * init_cash
            growth = np.copysign(np.inf, last) * np.copysign(1.0, init_cash)
        out[O_TOTAL_RETURN] = growth - 1.0
        years = n / ppy
        g = -1.0
        if growth > 0.0:
            g = growth ** (1.0 / years) - 1.0
        out[O_CAGR] = g
        mean = acc[A_SUM_R] / n
        sd = np.nan
        if n > 1.0:
            sd = np.sqrt(acc[A_M2] / (n - 1.0))
        out[O_VOLATILITY] = sd * sq
        out[O_SHARPE] = mean / sd * sq if sd > 0.0 else np.nan
        down = np.sqrt(acc[A_SUM_DOWN2] / n)
        out[O_SORTINO] = mean / down * sq if down > 0.0 else np.nan
        mdd = acc[A_MAX_DD]
        out[O_CALMAR] = g / mdd if mdd > 0.0 else np.nan
        out[O_MAX_DRAWDOWN] = mdd
        out[O_MAX_DRAWDOWN_DURATION] = acc[A_MAX_RUN] * bar_days
        out[O_EXPOSURE] = acc[A_EXPOSED] / n
    else:
        for k in range(O_TOTAL_RETURN, O_MAX_DRAWDOWN_DURATION + 1):
            out[k] = np.nan
        out[O_EXPOSURE] = np.nan
    closed = acc[A_CLOSED]
    out[O_WIN_RATE] = acc[A_WINS] / closed if closed > 0.0 else np.nan
    gw = acc[A_GROSS_WIN]
    gl = acc[A_GROSS_LOSS]
    if gl > 0.0:
        out[O_PROFIT_FACTOR] = gw / gl
    elif gw > 0.0:
        out[O_PROFIT_FACTOR] = np.inf
    else:
        out[O_PROFIT_FACTOR] = np.nan
    out[O_TRADES] = acc[A_TRADES]
    out[O_FEES_PAID] = acc[A_FEES]
