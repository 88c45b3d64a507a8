"""Event-ordered single-asset simulator (numba, cached on disk).

One bar is processed by :func:`step` in this order:

1. **Pending order at the open.** With ``fill_at_close=False`` an order decided at bar t-1's close
   fills at bar t's open. If bar t has no price (any of OHLC is NaN) the order is dropped.
2. **Stops on the bar's high/low**, including the bar whose open just filled the entry (the fill
   happened before the rest of the bar). A bar opening through a level fills at the open,
   otherwise at the level; slippage applies. If the stop-loss (or trailing) level and the
   take-profit level are both touched in one bar, the stop counts (we cannot know which came
   first; assume the worse). Stop-loss and trailing stop may be set together: for a long the
   *higher* of the two levels is the effective stop (the one a falling price reaches first);
   for a short the lower one. Levels: stop-loss/take-profit relative to the entry fill price
   (slippage included); trailing relative to the extreme market price since entry.
3. **Signal at the close** creates the order for the next open (or fills at this close with
   ``fill_at_close=True``).

Trailing-stop extreme: for a long, the highest *high* since entry. The entry bar's high counts
because a next-open fill happens at the open, before the bar's high. Within one bar the level is
checked against the bar's low using the extreme known *before* this bar's high (the previous
bars' highs and this bar's open); the bar's own high raises the level from the next bar on (the
order of high and low inside a bar is unknown). A close fill starts the extreme at the close and
the entry bar's high does not count (it came before the fill). Shorts mirror this with lows.

Signals (at the close, on the position left after the stops):
``le = entry & ~exit``, ``lx = exit & ~entry``, ``se = short_entry & ~short_exit``,
``sx = short_exit & ~short_entry``; ``le & se`` cancel each other. Long-only (``direction=0``)
ignores ``se``/``sx``. Flat: ``le`` opens long, ``se`` opens short. Long: ``se`` reverses to
short, otherwise ``lx`` closes. Short: ``le`` reverses to long, otherwise ``sx`` closes. Entries
while already in the same direction are ignored (no accumulation).

Money: fees are a fraction of traded notional; slippage moves the fill price against the trader
(buys at ``p*(1+slippage)``, sells at ``p*(1-slippage)``). Opening either way trades
``units = size * equity / (price * (1 + fee))``, i.e. notional plus fee is ``size`` of equity;
equity at that moment is the cash (the position is flat, a reversal closes first). ``size`` is
clipped to at most 1 (no leverage); NaN/<=0 sizes (or non-positive equity) open nothing (a
reversal then only closes). A buy spends ``units*price*(1+fee)``; a sell receives
``units*price*(1-fee)`` (a short sale credits the proceeds to cash). Equity is
``cash + position * last valid close``; no margin or liquidation model. Bars without a price
carry equity; an open position at the end stays open (marked at the last close).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "ACT_CLOSE", "ACT_LONG", "ACT_NONE", "ACT_SHORT", "MAX_ORDERS_PER_BAR", "N_REC_FIELDS",
    "N_STATE", "REASON_SIGNAL", "REASON_STOP_LOSS", "REASON_TAKE_PROFIT", "REASON_TRAILING",
    "REC_BAR", "REC_FEE", "REC_PRICE", "REC_REASON", "REC_SIDE", "REC_SIZE", "S_CASH",
    "S_ENTRY", "S_EQUITY", "S_EXTREME", "S_LAST_CLOSE", "S_PEND_ACTION", "S_PEND_SIZE", "S_POS",
    "init_state", "simulate", "step",
]

# --- state layout (float64 array of N_STATE) ---
S_CASH = 0
S_POS = 1           # signed units
S_ENTRY = 2         # entry fill price (slippage included), NaN when flat
S_EXTREME = 3       # highest high (long) / lowest low (short) since entry, NaN when flat
S_PEND_ACTION = 4   # ACT_* order waiting for the next open
S_PEND_SIZE = 5     # its size (fraction of equity)
S_LAST_CLOSE = 6    # last valid close (marks the position), NaN before the first priced bar
S_EQUITY = 7
N_STATE = 8

ACT_NONE = 0
ACT_CLOSE = 1
ACT_LONG = 2
ACT_SHORT = 3

# --- order records: float64 rows (bar, side, size, price, fee, reason) ---
REC_BAR = 0
REC_SIDE = 1        # +1 buy, -1 sell
REC_SIZE = 2        # units traded (> 0)
REC_PRICE = 3       # fill price, slippage included
REC_FEE = 4         # fee paid in quote currency
REC_REASON = 5
N_REC_FIELDS = 6
MAX_ORDERS_PER_BAR = 3  # reversal (2) + stop (1)

REASON_SIGNAL = 0
REASON_STOP_LOSS = 1
REASON_TAKE_PROFIT = 2
REASON_TRAILING = 3


@njit(cache=True)
def init_state(init_cash: float) -> np.ndarray:  # pragma: no cover - compiled
    """A fresh state: ``init_cash`` in cash, flat, nothing pending."""
    s = np.empty(N_STATE, dtype=np.float64)
    s[S_CASH] = init_cash
    s[S_POS] = 0.0
    s[S_ENTRY] = np.nan
    s[S_EXTREME] = np.nan
    s[S_PEND_ACTION] = ACT_NONE
    s[S_PEND_SIZE] = np.nan
    s[S_LAST_CLOSE] = np.nan
    s[S_EQUITY] = init_cash
    return s


@njit(cache=True)
def _record(out, k, bar, side, units, price, fee_amt, reason):  # pragma: no cover - compiled
    out[k, REC_BAR] = bar
    out[k, REC_SIDE] = side
    out[k, REC_SIZE] = units
    out[k, REC_PRICE] = price
    out[k, REC_FEE] = fee_amt
    out[k, REC_REASON] = reason
    return k + 1


@njit(cache=True)
def _close(s, out, k, bar, raw, fee, slippage, reason):  # pragma: no cover - compiled
    pos = s[S_POS]
    if pos > 0.0:
        price = raw * (1.0 - slippage)
        units = pos
        fee_amt = units * price * fee
        s[S_CASH] = s[S_CASH] + units * price - fee_amt
        k = _record(out, k, bar, -1.0, units, price, fee_amt, reason)
    elif pos < 0.0:
        price = raw * (1.0 + slippage)
        units = -pos
        fee_amt = units * price * fee
        s[S_CASH] = s[S_CASH] - units * price - fee_amt
        k = _record(out, k, bar, 1.0, units, price, fee_amt, reason)
    s[S_POS] = 0.0
    s[S_ENTRY] = np.nan
    s[S_EXTREME] = np.nan
    return k


@njit(cache=True)
def _open(s, out, k, bar, sign, size, raw, fee, slippage):  # pragma: no cover - compiled
    if not (size > 0.0):  # NaN or <= 0
        return k
    if size > 1.0:
        size = 1.0
    equity = s[S_CASH]  # flat here
    if not (equity > 0.0):
        return k
    price = raw * (1.0 + sign * slippage)
    units = size * equity / (price * (1.0 + fee))
    if not (units > 0.0):
        return k
    fee_amt = units * price * fee
    if sign > 0.0:
        s[S_CASH] = s[S_CASH] - units * price - fee_amt
    else:
        s[S_CASH] = s[S_CASH] + units * price - fee_amt
    s[S_POS] = sign * units
    s[S_ENTRY] = price
    s[S_EXTREME] = raw
    return _record(out, k, bar, sign, units, price, fee_amt, REASON_SIGNAL)


@njit(cache=True)
def _execute(s, out, k, bar, action, size, raw, fee, slippage):  # pragma: no cover - compiled
    pos = s[S_POS]
    if action == ACT_CLOSE:
        if pos != 0.0:
            k = _close(s, out, k, bar, raw, fee, slippage, REASON_SIGNAL)
    elif action == ACT_LONG:
        if pos < 0.0:
            k = _close(s, out, k, bar, raw, fee, slippage, REASON_SIGNAL)
        if s[S_POS] == 0.0:
            k = _open(s, out, k, bar, 1.0, size, raw, fee, slippage)
    elif action == ACT_SHORT:
        if pos > 0.0:
            k = _close(s, out, k, bar, raw, fee, slippage, REASON_SIGNAL)
        if s[S_POS] == 0.0:
            k = _open(s, out, k, bar, -1.0, size, raw, fee, slippage)
    return k


@njit(cache=True)
def _stops(s, out, k, bar, o, h, lo, fee, slippage, stop_loss, take_profit,
           trailing_stop):  # pragma: no cover - compiled
    pos = s[S_POS]
    if pos == 0.0:
        return k
    entry = s[S_ENTRY]
    use_sl = stop_loss > 0.0
    use_tp = take_profit > 0.0
    use_ts = trailing_stop > 0.0
    if pos > 0.0:
        ext = max(s[S_EXTREME], o)
        stop = -np.inf
        reason = REASON_STOP_LOSS
        if use_sl:
            stop = entry * (1.0 - stop_loss)
        if use_ts:
            t = ext * (1.0 - trailing_stop)
            if t > stop:
                stop = t
                reason = REASON_TRAILING
        tp = entry * (1.0 + take_profit) if use_tp else np.inf
        if o <= stop:
            return _close(s, out, k, bar, o, fee, slippage, reason)
        if o >= tp:
            return _close(s, out, k, bar, o, fee, slippage, REASON_TAKE_PROFIT)
        if lo <= stop:
            return _close(s, out, k, bar, stop, fee, slippage, reason)
        if h >= tp:
            return _close(s, out, k, bar, tp, fee, slippage, REASON_TAKE_PROFIT)
        s[S_EXTREME] = max(ext, h)
    else:
        ext = min(s[S_EXTREME], o)
        stop = np.inf
        reason = REASON_STOP_LOSS
        if use_sl:
            stop = entry * (1.0 + stop_loss)
        if use_ts:
            t = ext * (1.0 + trailing_stop)
            if t < stop:
                stop = t
                reason = REASON_TRAILING
        tp = entry * (1.0 - take_profit) if use_tp else -np.inf
        if o >= stop:
            return _close(s, out, k, bar, o, fee, slippage, reason)
        if o <= tp:
            return _close(s, out, k, bar, o, fee, slippage, REASON_TAKE_PROFIT)
        if h >= stop:
            return _close(s, out, k, bar, stop, fee, slippage, reason)
        if lo <= tp:
            return _close(s, out, k, bar, tp, fee, slippage, REASON_TAKE_PROFIT)
        s[S_EXTREME] = min(ext, lo)
    return k


@njit(cache=True)
def _decide(pos, entry, exit_, short_entry, short_exit, direction):  # pragma: no cover
    le = entry and not exit_
    lx = exit_ and not entry
    se = short_entry and not short_exit and direction == 1
    sx = short_exit and not short_entry and direction == 1
    if le and se:
        le = False
        se = False
    if pos == 0.0:
        if le:
            return ACT_LONG
        if se:
            return ACT_SHORT
    elif pos > 0.0:
        if se:
            return ACT_SHORT
        if lx:
            return ACT_CLOSE
    else:
        if le:
            return ACT_LONG
        if sx:
            return ACT_CLOSE
    return ACT_NONE


@njit(cache=True)
def step(s, out, bar, o, h, lo, c, entry, exit_, short_entry, short_exit, size,
         fee, slippage, stop_loss, take_profit, trailing_stop, fill_at_close,
         direction):  # pragma: no cover - compiled
    """Advance state ``s`` (float64[N_STATE], modified in place) by one bar.

    Writes this bar's orders into ``out`` (float64[MAX_ORDERS_PER_BAR, N_REC_FIELDS]) and returns
    how many. ``fee``/``slippage``/stops are fractions (NaN or <= 0 disables a stop);
    ``direction`` 0 = long-only, 1 = long/short.
    """
    k = 0
    priced = not (np.isnan(o) or np.isnan(h) or np.isnan(lo) or np.isnan(c))
    if not priced:
        s[S_PEND_ACTION] = ACT_NONE  # an order cannot fill on a bar without a price
        s[S_PEND_SIZE] = np.nan
        return k
    # (1) the order decided at the previous close fills at this open
    action = int(s[S_PEND_ACTION])
    if action != ACT_NONE:
        k = _execute(s, out, k, bar, action, s[S_PEND_SIZE], o, fee, slippage)
        s[S_PEND_ACTION] = ACT_NONE
        s[S_PEND_SIZE] = np.nan
    # (2) stops on this bar's range (including the entry bar of an open fill)
    k = _stops(s, out, k, bar, o, h, lo, fee, slippage, stop_loss, take_profit, trailing_stop)
    # (3) the close's signal
    action = _decide(s[S_POS], entry, exit_, short_entry, short_exit, direction)
    if action != ACT_NONE:
        if fill_at_close:
            k = _execute(s, out, k, bar, action, size, c, fee, slippage)
        else:
            s[S_PEND_ACTION] = action
            s[S_PEND_SIZE] = size
    s[S_LAST_CLOSE] = c
    s[S_EQUITY] = s[S_CASH] + s[S_POS] * c
    return k


@njit(cache=True)
def simulate(open_, high, low, close, entries, exits, short_entries, short_exits, size,
             init_cash, fee, slippage, stop_loss, take_profit, trailing_stop, fill_at_close,
             direction):  # pragma: no cover - compiled
    """Whole history as a loop over :func:`step`.

    Returns ``(equity, cash, position, records)``: per-bar end-of-bar values and the order
    records (float64[n_orders, N_REC_FIELDS], see ``REC_*`` / ``REASON_*``).
    """
    n = close.shape[0]
    s = init_state(init_cash)
    equity = np.empty(n)
    cash = np.empty(n)
    position = np.empty(n)
    records = np.empty((n * MAX_ORDERS_PER_BAR, N_REC_FIELDS))
    buf = np.empty((MAX_ORDERS_PER_BAR, N_REC_FIELDS))
    k = 0
    for i in range(n):
        m = step(s, buf, i, open_[i], high[i], low[i], close[i], entries[i], exits[i],
                 short_entries[i], short_exits[i], size[i], fee, slippage, stop_loss,
                 take_profit, trailing_stop, fill_at_close, direction)
        for j in range(m):
            records[k] = buf[j]
            k += 1
        equity[i] = s[S_EQUITY]
        cash[i] = s[S_CASH]
        position[i] = s[S_POS]
    return equity, cash, position, records[:k].copy()
