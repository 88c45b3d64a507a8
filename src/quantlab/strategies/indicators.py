"""Causal indicator helpers on pandas objects.

Every function takes a Series (one asset) or a DataFrame (columns = assets) and returns the
same shape, aligned to the input's index. Every value at bar ``t`` depends only on inputs at
bars ``<= t`` (no centring, no backward fill), so computing on a prefix of the history gives
exactly the prefix of the full-history result. NaN inputs (e.g. before an asset is listed in
a panel) propagate as NaN; windows need ``window`` valid values (``min_periods=window``).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import pandas as pd

from quantlab._validate import check_range
from quantlab.data.timeframes import periods_per_year

__all__ = [
    "crossed_above",
    "crossed_below",
    "ema",
    "periods_per_year",
    "realized_vol",
    "rolling_max",
    "rolling_min",
    "rsi",
    "sma",
    "wilder_smooth",
]

F = TypeVar("F", pd.Series, pd.DataFrame)

#: Seconds in the 365-day crypto year (markets trade every day).


def _check_window(window: int, name: str = "window", minimum: int = 1,
                  hint: str | None = None) -> int:
    return check_range(window, f"parameter {name}", minimum, integer=True, hint=hint)


def sma(x: F, window: int) -> F:
    """Simple moving average over the last ``window`` bars (NaN until ``window`` values).

    Parameters
    ----------
    x : Series or DataFrame
        Input values.
    window : int
        Number of bars averaged, including the current bar.

    Returns
    -------
    Series or DataFrame
        Same shape as ``x``.
    """
    window = _check_window(window)
    return x.rolling(window, min_periods=window).mean()


def ema(x: F, window: int) -> F:
    """Exponential moving average with ``alpha = 2 / (window + 1)`` seeded at the first value.

    Recursive (``adjust=False``), hence causal; NaN for the first ``window - 1`` valid bars.

    Parameters
    ----------
    x : Series or DataFrame
        Input values.
    window : int
        Span of the average.

    Returns
    -------
    Series or DataFrame
        Same shape as ``x``.
    """
    window = _check_window(window)
    return x.ewm(span=window, adjust=False, min_periods=window).mean()


def wilder_smooth(x: F, window: int) -> F:
    """Wilder's smoothing: seed with the simple mean of the first ``window`` values, then
    ``avg_t = (avg_{t-1} * (window - 1) + x_t) / window``.

    This is the smoothing of Wilder's RSI and ATR (J. Welles Wilder, *New Concepts in Technical
    Trading Systems*, 1978). Each column is seeded at its own first complete window, so panels
    whose assets list on different dates are handled. NaN values after the seed are skipped
    (the average carries over them) and the output there is NaN.

    Parameters
    ----------
    x : Series or DataFrame
        Input values (e.g. gains or losses).
    window : int
        Smoothing period ``n`` (``alpha = 1 / n``).

    Returns
    -------
    Series or DataFrame
        Same shape as ``x``; NaN before each column's seed.
    """
    window = _check_window(window)
    seed = x.rolling(window, min_periods=window).mean()
    valid = seed.notna()
    started = valid.cummax()  # True from each column's first complete window onwards
    first = started & ~started.shift(1, fill_value=False).astype(bool)
    y = x.where(started & ~first)
    y = y.mask(first, seed)
    out = y.ewm(alpha=1.0 / window, adjust=False, ignore_na=True).mean()
    return out.where(started & x.notna() | first)


def rsi(close: F, window: int = 14) -> F:
    """Wilder's Relative Strength Index (0-100).

    ``RSI = 100 * AG / (AG + AL)`` with ``AG``/``AL`` the :func:`wilder_smooth` averages of the
    close-to-close gains and losses, which equals the textbook ``100 - 100 / (1 + AG / AL)``
    and is 100 when there are no losses; 50 when price did not move at all over the seed.
    The first value is at bar ``window`` (it needs ``window`` price changes).

    Parameters
    ----------
    close : Series or DataFrame
        Closing prices.
    window : int, default 14
        Wilder period.

    Returns
    -------
    Series or DataFrame
        RSI in [0, 100], NaN during warm-up.
    """
    window = _check_window(window)
    delta = close.diff()
    gain = delta.clip(lower=0.0)
    loss = (-delta).clip(lower=0.0)
    avg_gain = wilder_smooth(gain, window)
    avg_loss = wilder_smooth(loss, window)
    total = avg_gain + avg_loss
    out = 100.0 * avg_gain / total.where(total != 0.0)
    return out.mask((total == 0.0) & avg_gain.notna(), 50.0)


def rolling_max(x: F, window: int) -> F:
    """Highest value of the last ``window`` bars including the current one.

    Use ``rolling_max(high, n).shift(1)`` for "the previous ``n`` bars, excluding today".
    """
    window = _check_window(window)
    return x.rolling(window, min_periods=window).max()


def rolling_min(x: F, window: int) -> F:
    """Lowest value of the last ``window`` bars including the current one."""
    window = _check_window(window)
    return x.rolling(window, min_periods=window).min()


def crossed_above(a: F, b: F | float) -> F:
    """True on the bar where ``a`` moves from ``<= b`` (previous bar) to ``> b`` (this bar).

    An *event*, not a state: it is True on one bar per crossing. NaN on either bar gives
    False. ``b`` may be a Series/DataFrame aligned with ``a`` or a scalar level.
    """
    b_prev = b.shift(1) if isinstance(b, pd.Series | pd.DataFrame) else b
    return (a > b) & (a.shift(1) <= b_prev)


def crossed_below(a: F, b: F | float) -> F:
    """True on the bar where ``a`` moves from ``>= b`` (previous bar) to ``< b`` (this bar)."""
    b_prev = b.shift(1) if isinstance(b, pd.Series | pd.DataFrame) else b
    return (a < b) & (a.shift(1) >= b_prev)


def realized_vol(close: F, window: int, ppy: float | None = None) -> F:
    """Annualized realized volatility: rolling std of simple returns times ``sqrt(ppy)``.

    Parameters
    ----------
    close : Series or DataFrame
        Closing prices.
    window : int
        Number of returns in the window (needs ``window + 1`` prices; first value at bar
        ``window``).
    ppy : float, optional
        Periods per year; inferred with :func:`periods_per_year` from the index if omitted.

    Returns
    -------
    Series or DataFrame
        Annualized volatility (sample std, ``ddof=1``), NaN during warm-up.
    """
    window = _check_window(window, minimum=2, hint="(for a volatility)")
    if ppy is None:
        ppy = periods_per_year(close.index)
    returns = close / close.shift(1) - 1.0
    return returns.rolling(window, min_periods=window).std() * float(np.sqrt(ppy))
