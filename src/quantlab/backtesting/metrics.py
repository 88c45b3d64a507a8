"""Performance metrics as pure functions on equity curves and trade tables.

Every function works column-wise on a 2-D array (bars x runs) so a sweep of thousands of
parameter combinations is scored in one vectorized pass; 1-D input is accepted too.
Conventions: simple returns, fractions (0.05 = 5 %), drawdowns positive, annualization by
:func:`quantlab.data.timeframes.periods_per_year` (crypto trades every day: 365 days a year).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from quantlab.data.timeframes import periods_per_year

__all__ = [
    "PERCENT_STATS",
    "STAT_NAMES",
    "EquityCurve",
    "cagr",
    "drawdown",
    "equity_drawdown",
    "equity_returns",
    "equity_stats",
    "max_drawdown",
    "max_drawdown_duration",
    "periods_per_year",
    "sharpe",
    "sortino",
    "trade_stats",
]


#: Statistics that are fractions (shown as percentages).
PERCENT_STATS = frozenset({
    "total_return", "cagr", "volatility", "max_drawdown", "win_rate", "exposure",
    "benchmark_return", "best_trade", "worst_trade", "avg_trade_return",
})

#: The headline statistics, in display order.
STAT_NAMES = (
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "max_drawdown_duration",
    "win_rate",
    "profit_factor",
    "exposure",
    "trades",
    "fees_paid",
)


def equity_returns(equity: pd.Series, init_cash: float) -> pd.Series:
    """Simple per-bar returns of an equity curve (the first bar against ``init_cash``)."""
    r = returns_from_equity(equity.to_numpy(), init_cash)[:, 0]
    return pd.Series(r, index=equity.index, name="returns")


def equity_drawdown(equity: pd.Series) -> pd.Series:
    """Drawdown of an equity curve from its running peak (positive fraction)."""
    return pd.Series(drawdown(equity.to_numpy())[:, 0], index=equity.index, name="drawdown")


class EquityCurve:
    """Mixin of results with an ``equity`` Series and ``options.init_cash``: their returns and
    drawdown, derived (never stored)."""

    equity: pd.Series
    options: Any

    @property
    def returns(self) -> pd.Series:
        """Simple per-bar returns of the equity curve (the first bar against initial cash)."""
        return equity_returns(self.equity, self.options.init_cash)

    @property
    def drawdown(self) -> pd.Series:
        """Drawdown from the running peak (positive fraction)."""
        return equity_drawdown(self.equity)


def _2d(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return a[:, None] if a.ndim == 1 else a


def _squeeze(out: np.ndarray, like: np.ndarray) -> np.ndarray | float:
    return float(out[0]) if np.ndim(like) == 1 else out


def returns_from_equity(equity: np.ndarray, init_cash: float | np.ndarray) -> np.ndarray:
    """Simple per-bar returns; the first bar's return is measured against ``init_cash``."""
    eq = _2d(equity)
    prev = np.vstack([np.broadcast_to(np.asarray(init_cash, float), eq[:1].shape), eq[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        r = eq / prev - 1.0
    r[~np.isfinite(r)] = 0.0
    return r


def drawdown(equity: np.ndarray) -> np.ndarray:
    """Drawdown from the running peak as a positive fraction (0 at new highs)."""
    eq = _2d(equity)
    peak = np.maximum.accumulate(eq, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = 1.0 - eq / peak
    dd[~np.isfinite(dd)] = 0.0
    return dd


def max_drawdown(equity: np.ndarray) -> np.ndarray | float:
    """Largest peak-to-trough loss as a positive fraction."""
    return _squeeze(drawdown(equity).max(axis=0), equity)


def max_drawdown_duration(equity: np.ndarray) -> np.ndarray | float:
    """Longest run of bars spent below a previous peak (underwater), in bars.

    A drawdown still open at the end counts up to the last bar.
    """
    eq = _2d(equity)
    under = eq < np.maximum.accumulate(eq, axis=0)
    # Length of the current underwater run at each bar: cumulative count reset at highs.
    cnt = np.cumsum(under, axis=0)
    reset = np.where(~under, cnt, 0)
    run = cnt - np.maximum.accumulate(reset, axis=0)
    return _squeeze(run.max(axis=0).astype(float), equity)


def cagr(equity: np.ndarray, init_cash: float | np.ndarray, ppy: float) -> np.ndarray | float:
    """Compound annual growth rate from ``init_cash`` to the final equity over the bar count."""
    eq = _2d(equity)
    years = eq.shape[0] / ppy
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = eq[-1] / np.asarray(init_cash, float)
        out = np.where(growth > 0, growth ** (1.0 / years) - 1.0, -1.0)
    return _squeeze(out, equity)


def sharpe(returns: np.ndarray, ppy: float) -> np.ndarray | float:
    """Annualized Sharpe ratio (risk-free rate 0): mean / std (ddof=1) x sqrt(ppy)."""
    r = _2d(returns)
    sd = r.std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(sd > 0, r.mean(axis=0) / sd * np.sqrt(ppy), np.nan)
    return _squeeze(out, returns)


def sortino(returns: np.ndarray, ppy: float) -> np.ndarray | float:
    """Annualized Sortino ratio: mean / downside deviation x sqrt(ppy).

    Downside deviation is ``sqrt(mean(min(r, 0)**2))`` over all bars (target 0).
    """
    r = _2d(returns)
    dd = np.sqrt(np.mean(np.minimum(r, 0.0) ** 2, axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(dd > 0, r.mean(axis=0) / dd * np.sqrt(ppy), np.nan)
    return _squeeze(out, returns)


def equity_stats(
    equity: np.ndarray,
    init_cash: float | np.ndarray,
    ppy: float,
    bar_days: float,
) -> dict[str, np.ndarray]:
    """Equity-curve statistics for each column of ``equity``.

    Parameters
    ----------
    equity : ndarray
        Portfolio value at each bar's close, shape (bars,) or (bars, runs).
    init_cash : float or ndarray
        Starting capital (per run).
    ppy : float
        Bars per year, for annualization.
    bar_days : float
        Length of one bar in days (to express drawdown duration in days).

    Returns
    -------
    dict
        total_return, cagr, volatility, sharpe, sortino, calmar, max_drawdown,
        max_drawdown_duration (days) — each an array with one value per run.
    """
    eq = _2d(equity)
    r = returns_from_equity(eq, init_cash)
    mdd = drawdown(eq).max(axis=0)
    g = cagr(eq, init_cash, ppy)
    g = np.atleast_1d(g)
    with np.errstate(divide="ignore", invalid="ignore"):
        calmar = np.where(mdd > 0, g / mdd, np.nan)
    return {
        "total_return": eq[-1] / np.asarray(init_cash, float) - 1.0,
        "cagr": g,
        "volatility": r.std(axis=0, ddof=1) * np.sqrt(ppy),
        "sharpe": np.atleast_1d(sharpe(r, ppy)),
        "sortino": np.atleast_1d(sortino(r, ppy)),
        "calmar": calmar,
        "max_drawdown": mdd,
        "max_drawdown_duration": np.atleast_1d(max_drawdown_duration(eq)) * bar_days,
    }


def trade_stats(
    pnl: np.ndarray,
    closed: np.ndarray,
    run: np.ndarray,
    n_runs: int,
) -> dict[str, np.ndarray]:
    """Trade statistics per run from a flat trade table.

    Parameters
    ----------
    pnl : ndarray
        Profit and loss of each trade (net of fees).
    closed : ndarray of bool
        Whether each trade is closed; win rate and profit factor use closed trades only.
    run : ndarray of int
        Run (column) each trade belongs to.
    n_runs : int
        Number of runs.

    Returns
    -------
    dict
        trades (opened, incl. still open), win_rate, profit_factor — one value per run.
        win_rate is NaN without closed trades; profit_factor is inf with wins and no losses.
    """
    pnl = np.asarray(pnl, float)
    closed = np.asarray(closed, bool)
    run = np.asarray(run, np.int64)
    trades = np.bincount(run, minlength=n_runs).astype(float)
    n_closed = np.bincount(run[closed], minlength=n_runs)
    wins = np.bincount(run[closed & (pnl > 0)], minlength=n_runs)
    gross_win = np.bincount(run[closed], weights=np.where(pnl[closed] > 0, pnl[closed], 0.0),
                            minlength=n_runs)
    gross_loss = np.bincount(run[closed], weights=np.where(pnl[closed] < 0, -pnl[closed], 0.0),
                             minlength=n_runs)
    with np.errstate(divide="ignore", invalid="ignore"):
        win_rate = np.where(n_closed > 0, wins / n_closed, np.nan)
        pf = np.where(gross_loss > 0, gross_win / gross_loss,
                      np.where(gross_win > 0, np.inf, np.nan))
    return {"trades": trades, "win_rate": win_rate, "profit_factor": pf}
