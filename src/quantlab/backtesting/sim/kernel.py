"""Event-ordered simulator (numba, compiled once and cached on disk).

One *account* (a cash balance and ``n`` assets) is advanced one bar at a time by :func:`step`;
:func:`simulate` is the whole history as a loop over :func:`step`, so a run from saved states
(the live runner's paper broker and replay) and a backtest fill identically by construction.

Events inside a bar, in time order
----------------------------------
1. **The open.** Market orders decided at the previous close fill at this bar's open (with
   ``fill_at_close`` they filled at that close instead). Orders that reduce exposure (sells of
   longs, short entries, reversals to short, target-weight cuts) fill before orders that add
   exposure, so a rebalance frees cash before it spends it. A market order whose asset has no
   price on this bar (any of OHLC NaN) is dropped.
2. **Inside the bar**, against the bar's high/low, asset by asset:

   - pending *limit* entry orders (buy limit: fills when the low reaches the level, at the open
     when it opened below it; no slippage: a resting limit order is a maker) and *stop* entry
     orders (buy stop: fills when the high reaches the level, at the open when it gapped above;
     slippage applies). Short entries mirror this. They stay pending until filled, replaced by
     a newer entry order, cancelled by an exit signal, or expired after ``order_ttl`` bars;
   - protective exits of positions held since the open: stop-loss, trailing stop,
     take-profit and (with a margin model) liquidation. A bar that *opens* through a level
     fills at the open; otherwise at the level, slippage applied. When a falling bar reaches
     both the stop-loss and the take-profit the stop-loss counts (the order of high and low
     inside a bar is unknown: assume the worse). Stop-loss and trailing stop may be combined;
     the level nearer the price is effective. An entry filled *at the open* is checked in the
     same bar (the fill came first); an entry filled *inside* the bar (limit/stop entry) is
     checked from the next bar on (what came after the fill is unknown).
3. **The close.** The strategy's signals create the orders for the next open (or fill now
   with ``fill_at_close``).

Levels: stop-loss and take-profit are relative to the average entry fill price (slippage
included); the trailing stop to the extreme price since entry: for a long the highest high.
With an open fill the entry bar's high counts, but within a bar the level is checked against
the low using the extreme known *before* this bar's high (previous highs and this bar's open);
the bar's own high raises the level from the next bar on. An entry at the close or inside the
bar starts the extreme at the fill price. Shorts mirror this with lows.

Signals at the close (per asset, on the position left after the bar's events):
``le = entry & ~exit``, ``lx = exit & ~entry``, ``se = short_entry & ~short_exit``,
``sx = short_exit & ~short_entry``; ``le & se`` cancel. Long-only ignores ``se``/``sx``.
Flat: ``le`` opens long, ``se`` opens short. Long: ``se`` reverses to short, else ``lx``
closes (``exit_size`` of the position; all by default), else ``le`` adds when accumulating.
Short mirrors. Entries in the held direction are ignored unless ``accumulate``. An exit
signal cancels a pending limit/stop entry.

Target weights: the cuts of a rebalance fill first (a change of side closes there), then the
additions in asset order; when buying power runs out, the last additions are capped.

Money: fees are a fraction of traded notional; slippage moves market fills against the trader.
An entry trades ``units = size * equity / (price * (1 + fee))`` (notional plus fee is ``size``
of the account's equity, marked at the fill time's prices); ``size`` is capped at
``leverage``; NaN or <= 0 opens nothing. Exposure-increasing orders are capped so that the
gross exposure plus the fee stays within ``leverage`` x equity (without leverage: a long can
spend only the cash it has); a capped order fills partially. Target weights trade to
``weight * equity / price`` units. Equity is ``cash + sum(units * last close)``.

Margin: with ``maintenance_margin`` set (not NaN), a position is liquidated when the account
equity falls to ``maintenance_margin`` x gross exposure; the liquidation price is solved from
the bar's adverse extreme with the other assets at their last marks. Without it positions are
never liquidated (equity can go negative, e.g. a short through a rally).

Exchange rules (0 disables): order units are rounded down to ``amount_step``; an order under
``min_amount`` units or ``min_notional`` quote value is *rejected*: it is recorded with
``REC_STATUS = STATUS_REJECTED`` and the reason, and the position does not change. Closing a
whole position is never rejected.

Records: float64 rows of ``N_REC`` fields (``REC_*``), one per filled or rejected order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# ------------------------------------------------------------------ parameters (float64[N_PARAM])
P_FEE = 0
P_SLIPPAGE = 1
P_STOP_LOSS = 2       # fraction; NaN/<=0 disables
P_TAKE_PROFIT = 3
P_TRAILING = 4
P_FILL_AT_CLOSE = 5   # 0/1
P_LONG_SHORT = 6      # 0 long-only, 1 long/short
P_ACCUMULATE = 7      # 0/1
P_LEVERAGE = 8        # max gross exposure / equity (>= 1 in practice; 1 = no borrowing)
P_MAINT_MARGIN = 9    # NaN = no liquidation
P_AMOUNT_STEP = 10
P_MIN_AMOUNT = 11
P_MIN_NOTIONAL = 12
P_ORDER_TTL = 13      # bars a limit/stop entry stays pending; 0 = until cancelled
P_TARGET_MODE = 14    # 1: signals carry target weights (SIG_WEIGHT)
N_PARAM = 15

# --------------------------------------------------------------- account state (float64[N_ACCT])
A_CASH = 0
A_EQUITY = 1
N_ACCT = 2

# --------------------------------------------------------------- asset state (float64[n, N_ASSET])
X_POS = 0            # signed units
X_ENTRY = 1          # average entry fill price, NaN when flat
X_EXTREME = 2        # highest high (long) / lowest low (short) since entry
X_PEND = 3           # ACT_* pending
X_PEND_SIZE = 4      # size (entries: fraction of equity; closes: fraction of position; target: weight)
X_PEND_KIND = 5      # KIND_*
X_PEND_LEVEL = 6     # limit/stop level
X_PEND_AGE = 7       # bars the order has waited
X_LAST = 8           # last valid close, NaN before the first priced bar
X_FLOW = 9           # cash flow of the open position so far (its P&L once flat)
X_FRESH = 10         # 1 when the position was entered inside this bar (stops wait)
N_ASSET = 11

ACT_NONE = 0
ACT_CLOSE = 1
ACT_LONG = 2
ACT_SHORT = 3
ACT_TARGET = 4

KIND_MARKET = 0
KIND_LIMIT = 1
KIND_STOP = 2

# -------------------------------------------------------------------- signals (float64[n, N_SIG])
SIG_ENTRY = 0
SIG_EXIT = 1
SIG_SHORT_ENTRY = 2
SIG_SHORT_EXIT = 3
SIG_SIZE = 4         # entry size, fraction of equity
SIG_EXIT_SIZE = 5    # fraction of the position an exit closes (NaN = all)
SIG_LIMIT = 6        # limit level of the entry (NaN = market)
SIG_STOP = 7         # stop level of the entry (NaN = market)
SIG_WEIGHT = 8       # target weight (target mode; NaN = no rebalance)
N_SIG = 9

# ------------------------------------------------------------------------ records (float64[*, N_REC])
REC_BAR = 0
REC_COL = 1
REC_SIDE = 2         # +1 buy, -1 sell
REC_SIZE = 3         # units (> 0)
REC_PRICE = 4        # fill price, slippage included
REC_FEE = 5
REC_REASON = 6
REC_STATUS = 7       # STATUS_*
REC_OPENED = 8       # 1 when the order opened a position from flat
REC_PNL = 9          # P&L of the position this order closed (NaN otherwise)
N_REC = 10
MAX_REC_PER_ASSET = 8

STATUS_FILLED = 0
STATUS_REJECTED = 1

REASON_SIGNAL = 0
REASON_STOP_LOSS = 1
REASON_TAKE_PROFIT = 2
REASON_TRAILING = 3
REASON_LIQUIDATION = 4
REASON_REBALANCE = 5
REASON_LIMIT = 6
REASON_STOP_ENTRY = 7
REASON_MIN_AMOUNT = 8      # rejections
REASON_MIN_NOTIONAL = 9
REASON_NO_FUNDS = 10

_EPS = 1e-9


@njit(cache=True)
def default_params() -> np.ndarray:  # pragma: no cover - compiled
    """Parameters of a fee-less, long-only, unlevered run without stops or exchange rules."""
    p = np.zeros(N_PARAM)
    p[P_STOP_LOSS] = np.nan
    p[P_TAKE_PROFIT] = np.nan
    p[P_TRAILING] = np.nan
    p[P_LEVERAGE] = 1.0
    p[P_MAINT_MARGIN] = np.nan
    return p


@njit(cache=True)
def init_account(init_cash: float) -> np.ndarray:  # pragma: no cover - compiled
    """A fresh account: ``init_cash`` in cash."""
    a = np.empty(N_ACCT)
    a[A_CASH] = init_cash
    a[A_EQUITY] = init_cash
    return a


@njit(cache=True)
def init_assets(n: int) -> np.ndarray:  # pragma: no cover - compiled
    """Fresh state of ``n`` assets: flat, nothing pending, never priced."""
    x = np.zeros((n, N_ASSET))
    for j in range(n):
        x[j, X_ENTRY] = np.nan
        x[j, X_EXTREME] = np.nan
        x[j, X_PEND_SIZE] = np.nan
        x[j, X_PEND_LEVEL] = np.nan
        x[j, X_LAST] = np.nan
    return x


@njit(cache=True, _nrt=False)
def _record(out, k, bar, col, side, units, price, fee_amt, reason, status, opened,
            pnl):  # pragma: no cover - compiled
    out[k, REC_BAR] = bar
    out[k, REC_COL] = col
    out[k, REC_SIDE] = side
    out[k, REC_SIZE] = units
    out[k, REC_PRICE] = price
    out[k, REC_FEE] = fee_amt
    out[k, REC_REASON] = reason
    out[k, REC_STATUS] = status
    out[k, REC_OPENED] = opened
    out[k, REC_PNL] = pnl
    return k + 1


@njit(cache=True, _nrt=False)
def _mark(x, px, j):  # pragma: no cover - compiled
    """Price of asset ``j`` now: ``px[j]`` when it has one, else its last close."""
    p = px[j]
    return p if p == p else x[j, X_LAST]


@njit(cache=True, _nrt=False)
def _equity(a, x, px):  # pragma: no cover - compiled
    e = a[A_CASH]
    for j in range(x.shape[0]):
        if x[j, X_POS] != 0.0:
            e += x[j, X_POS] * _mark(x, px, j)
    return e


@njit(cache=True, _nrt=False)
def _gross(x, px):  # pragma: no cover - compiled
    g = 0.0
    for j in range(x.shape[0]):
        if x[j, X_POS] != 0.0:
            g += abs(x[j, X_POS]) * _mark(x, px, j)
    return g


@njit(cache=True, _nrt=False)
def _priced(o, h, lo, c, j):  # pragma: no cover - compiled
    return not (o[j] != o[j] or h[j] != h[j] or lo[j] != lo[j] or c[j] != c[j])


@njit(cache=True, _nrt=False)
def _fill(a, x, out, k, bar, j, side, units, price, fee, reason):  # pragma: no cover - compiled
    """Trade ``units`` (> 0) of asset ``j`` at ``price``; keeps entry price, extreme and P&L."""
    fee_amt = units * price * fee
    pos = x[j, X_POS]
    flow = -side * units * price - fee_amt
    a[A_CASH] += flow
    new = pos + side * units
    opened = 0.0
    pnl = np.nan
    if pos == 0.0:
        opened = 1.0
        x[j, X_ENTRY] = price
        x[j, X_FLOW] = flow
    elif pos * side > 0.0:  # adding
        x[j, X_ENTRY] = (abs(pos) * x[j, X_ENTRY] + units * price) / (abs(pos) + units)
        x[j, X_FLOW] += flow
    else:                   # reducing (never through zero: closes are separate orders)
        x[j, X_FLOW] += flow
        if abs(new) <= 1e-12 * abs(pos):
            new = 0.0
    x[j, X_POS] = new
    if new == 0.0:
        pnl = x[j, X_FLOW]
        x[j, X_ENTRY] = np.nan
        x[j, X_EXTREME] = np.nan
        x[j, X_FLOW] = 0.0
    return _record(out, k, bar, j, side, units, price, fee_amt, reason, STATUS_FILLED, opened, pnl)


@njit(cache=True, _nrt=False)
def _close(a, x, out, k, bar, j, raw, frac, fee, slip, reason, prm):  # pragma: no cover - compiled
    """Close ``frac`` of asset ``j``'s position at market price ``raw`` (slippage applied)."""
    pos = x[j, X_POS]
    if pos == 0.0:
        return k
    side = -1.0 if pos > 0.0 else 1.0
    price = raw * (1.0 - slip) if pos > 0.0 else raw * (1.0 + slip)
    units = abs(pos)
    if frac == frac and frac < 1.0:
        if not (frac > 0.0):
            return k
        units = units * frac
        step_ = prm[P_AMOUNT_STEP]
        if step_ > 0.0:
            units = np.floor(units / step_ + _EPS) * step_
        rej = _rejection(units, price, prm)
        if rej >= 0:
            return _record(out, k, bar, j, side, units, price, 0.0, rej, STATUS_REJECTED, 0.0, np.nan)
        if units >= abs(pos):
            units = abs(pos)
    return _fill(a, x, out, k, bar, j, side, units, price, fee, reason)


@njit(cache=True, _nrt=False)
def _rejection(units, price, prm):  # pragma: no cover - compiled
    if prm[P_MIN_AMOUNT] > 0.0 and units < prm[P_MIN_AMOUNT] * (1.0 - _EPS):
        return REASON_MIN_AMOUNT
    if prm[P_MIN_NOTIONAL] > 0.0 and units * price < prm[P_MIN_NOTIONAL] * (1.0 - _EPS):
        return REASON_MIN_NOTIONAL
    if not (units > 0.0):
        return REASON_MIN_AMOUNT
    return -1


@njit(cache=True, _nrt=False)
def _buy_power_units(a, x, j, price, marks, fee, prm):  # pragma: no cover - compiled
    """Most units of asset ``j`` an exposure-increasing order may trade at ``price``: gross
    exposure plus the order's fee stay within leverage x equity, every holding (``j``'s too)
    valued at its mark, as in the equity."""
    equity = _equity(a, x, marks)
    room = prm[P_LEVERAGE] * equity - _gross(x, marks)
    if not (room > 0.0):
        return 0.0
    return room / (price * (1.0 + fee))


@njit(cache=True, _nrt=False)
def _within_power(a, x, j, units, price, marks, prm):  # pragma: no cover - compiled
    """``units`` of an exposure-adding order capped by the buying power and rounded down to the
    amount step; returns ``(units, cap)``."""
    cap = _buy_power_units(a, x, j, price, marks, prm[P_FEE], prm)
    if units > cap * (1.0 + 1e-12):
        units = cap
    step_ = prm[P_AMOUNT_STEP]
    if step_ > 0.0:
        units = np.floor(units / step_ + _EPS) * step_
    return units, cap


@njit(cache=True, _nrt=False)
def _open(a, x, out, k, bar, j, sign, size, raw, marks, reason, slipped,
          prm):  # pragma: no cover - compiled
    """Enter (or add to) ``sign`` side of asset ``j``: ``size`` of equity at market ``raw``."""
    fee = prm[P_FEE]
    if not (size > 0.0):
        return k
    if size > prm[P_LEVERAGE]:
        size = prm[P_LEVERAGE]
    equity = _equity(a, x, marks)
    if not (equity > 0.0):
        return k
    price = raw * (1.0 + sign * prm[P_SLIPPAGE]) if slipped else raw
    units, cap = _within_power(a, x, j, size * equity / (price * (1.0 + fee)), price, marks, prm)
    side = 1.0 if sign > 0.0 else -1.0
    rej = _rejection(units, price, prm)
    if rej >= 0:
        if cap <= 0.0 and rej == REASON_MIN_AMOUNT:
            rej = REASON_NO_FUNDS
        return _record(out, k, bar, j, side, units, price, 0.0, rej, STATUS_REJECTED, 0.0, np.nan)
    was_flat = x[j, X_POS] == 0.0
    k = _fill(a, x, out, k, bar, j, side, units, price, fee, reason)
    if was_flat:
        x[j, X_EXTREME] = raw
    else:
        x[j, X_EXTREME] = max(x[j, X_EXTREME], raw) if sign > 0.0 else min(x[j, X_EXTREME], raw)
    return k


@njit(cache=True, _nrt=False)
def _target(a, x, out, k, bar, j, weight, raw, marks, equity, cutting,
            prm):  # pragma: no cover - compiled
    """Trade asset ``j`` toward ``weight`` of ``equity`` (the equity before this rebalance).

    The cutting pass (``cutting``) reduces or closes positions (a change of side closes here and
    opens in the adding pass); the adding pass buys/sells the rest, within the buying power.
    """
    fee = prm[P_FEE]
    slip = prm[P_SLIPPAGE]
    pos = x[j, X_POS]
    want = weight * equity / raw if equity > 0.0 else 0.0
    if cutting:
        if pos != 0.0 and want * pos <= 0.0:  # to flat, or to the other side: close first
            k = _close(a, x, out, k, bar, j, raw, 1.0, fee, slip, REASON_REBALANCE, prm)
            if want == 0.0:
                _clear_pending(x, j)
            return k  # the other side opens in the adding pass
        if abs(want) < abs(pos):
            k = _close(a, x, out, k, bar, j, raw, 1.0 - abs(want) / abs(pos), fee, slip,
                       REASON_REBALANCE, prm)
            _clear_pending(x, j)  # done: a cut never buys back its rounding remainder
        elif abs(want) == abs(pos):
            _clear_pending(x, j)
        return k
    _clear_pending(x, j)
    if want == 0.0 or abs(want) <= abs(pos) or want * pos < 0.0:
        return k
    side = 1.0 if want > 0.0 else -1.0
    price = raw * (1.0 + side * slip)
    units, cap = _within_power(a, x, j, abs(want) - abs(pos), price, marks, prm)
    rej = _rejection(units, price, prm)
    if rej >= 0:
        if cap <= 0.0 and rej == REASON_MIN_AMOUNT:
            rej = REASON_NO_FUNDS
        return _record(out, k, bar, j, side, units, price, 0.0, rej, STATUS_REJECTED, 0.0, np.nan)
    was_flat = pos == 0.0
    k = _fill(a, x, out, k, bar, j, side, units, price, fee, REASON_REBALANCE)
    if was_flat:
        x[j, X_EXTREME] = raw
    return k


@njit(cache=True, _nrt=False)
def _reduces(x, j, action):  # pragma: no cover - compiled
    """Whether a pending market action on asset ``j`` fills in the first (exposure-cutting) pass:
    closes and reversals do; entries from flat and additions wait for the second pass."""
    if action == ACT_CLOSE:
        return True
    sign = 1.0 if action == ACT_LONG else -1.0
    return x[j, X_POS] * sign < 0.0


@njit(cache=True, _nrt=False)
def _execute(a, x, out, k, bar, j, action, size, raw, marks, prm, reason):  # pragma: no cover
    """Carry out a market action on asset ``j`` at price ``raw``."""
    fee = prm[P_FEE]
    slip = prm[P_SLIPPAGE]
    pos = x[j, X_POS]
    if action == ACT_CLOSE:
        return _close(a, x, out, k, bar, j, raw, size, fee, slip, REASON_SIGNAL, prm)
    sign = 1.0 if action == ACT_LONG else -1.0
    if pos * sign < 0.0:  # reversal: close first, then open from the freed equity
        k = _close(a, x, out, k, bar, j, raw, 1.0, fee, slip, REASON_SIGNAL, prm)
    if x[j, X_POS] == 0.0 or prm[P_ACCUMULATE] > 0.0:
        k = _open(a, x, out, k, bar, j, sign, size, raw, marks, reason, True, prm)
    return k


@njit(cache=True, _nrt=False)
def _clear_pending(x, j):  # pragma: no cover - compiled
    x[j, X_PEND] = ACT_NONE
    x[j, X_PEND_SIZE] = np.nan
    x[j, X_PEND_KIND] = KIND_MARKET
    x[j, X_PEND_LEVEL] = np.nan
    x[j, X_PEND_AGE] = 0.0


@njit(cache=True, _nrt=False)
def _market_phase(a, x, out, k, bar, px, o, h, lo, c, prm):  # pragma: no cover - compiled
    """Fill pending market orders at ``px`` (the open, or the close): cuts first, then adds.

    Target-weight orders are sized from the equity before any of this phase's trades.
    """
    n = x.shape[0]
    marks = px
    equity = _equity(a, x, marks)
    for phase in range(2):  # 0: exposure-cutting orders, 1: exposure-adding orders
        for j in range(n):
            act = int(x[j, X_PEND])
            if act == ACT_NONE or x[j, X_PEND_KIND] != KIND_MARKET or not _priced(o, h, lo, c, j):
                continue
            if act == ACT_TARGET:  # _target clears the order once it is done
                k = _target(a, x, out, k, bar, j, x[j, X_PEND_SIZE], px[j], marks, equity,
                            phase == 0, prm)
                continue
            if (phase == 0) != _reduces(x, j, act):
                continue
            k = _execute(a, x, out, k, bar, j, act, x[j, X_PEND_SIZE], px[j], marks, prm,
                         REASON_SIGNAL)
            _clear_pending(x, j)
    return k


@njit(cache=True, _nrt=False)
def _entry_orders(a, x, out, k, bar, j, o, h, lo, marks, prm):  # pragma: no cover - compiled
    """A pending limit/stop entry of asset ``j`` against this bar's range."""
    act = int(x[j, X_PEND])
    kind = x[j, X_PEND_KIND]
    if act == ACT_NONE or kind == KIND_MARKET:
        return k
    level = x[j, X_PEND_LEVEL]
    sign = 1.0 if act == ACT_LONG else -1.0
    fill = np.nan
    if kind == KIND_LIMIT:
        if sign > 0.0:
            fill = o if o <= level else (level if lo <= level else np.nan)
        else:
            fill = o if o >= level else (level if h >= level else np.nan)
    else:
        if sign > 0.0:
            fill = o if o >= level else (level if h >= level else np.nan)
        else:
            fill = o if o <= level else (level if lo <= level else np.nan)
    if fill == fill:
        pos = x[j, X_POS]
        if pos * sign < 0.0:
            slip = prm[P_SLIPPAGE] if kind == KIND_STOP else 0.0
            k = _close(a, x, out, k, bar, j, fill, 1.0, prm[P_FEE], slip, REASON_SIGNAL, prm)
        if x[j, X_POS] == 0.0 or prm[P_ACCUMULATE] > 0.0:
            reason = REASON_LIMIT if kind == KIND_LIMIT else REASON_STOP_ENTRY
            k = _open(a, x, out, k, bar, j, sign, x[j, X_PEND_SIZE], fill, marks, reason,
                      kind == KIND_STOP, prm)
            if x[j, X_POS] != 0.0:
                x[j, X_FRESH] = 1.0
                x[j, X_EXTREME] = fill
        _clear_pending(x, j)
        return k
    x[j, X_PEND_AGE] += 1.0
    ttl = prm[P_ORDER_TTL]
    if ttl > 0.0 and x[j, X_PEND_AGE] >= ttl:
        _clear_pending(x, j)
    return k


@njit(cache=True, _nrt=False)
def _liquidation_price(a, x, j, marks, mm):  # pragma: no cover - compiled
    """Price of asset ``j`` at which equity falls to ``mm`` x gross exposure (NaN: never)."""
    pos = x[j, X_POS]
    rest = a[A_CASH]
    for i in range(x.shape[0]):
        if i != j and x[i, X_POS] != 0.0:
            m = _mark(x, marks, i)
            rest += x[i, X_POS] * m - mm * abs(x[i, X_POS]) * m
    if pos > 0.0:
        if rest >= 0.0:
            return np.nan
        return -rest / (pos * (1.0 - mm))
    return rest / (-pos * (1.0 + mm)) if rest > 0.0 else 0.0


@njit(cache=True, _nrt=False)
def _protect(a, x, out, k, bar, j, o, h, lo, marks, prm):  # pragma: no cover - compiled
    """Stop-loss, trailing stop, take-profit and liquidation of asset ``j`` on this bar."""
    pos = x[j, X_POS]
    if pos == 0.0:
        return k
    if x[j, X_FRESH] > 0.0:
        x[j, X_FRESH] = 0.0
        return k
    fee = prm[P_FEE]
    slip = prm[P_SLIPPAGE]
    sl = prm[P_STOP_LOSS]
    tp = prm[P_TAKE_PROFIT]
    ts = prm[P_TRAILING]
    mm = prm[P_MAINT_MARGIN]
    entry = x[j, X_ENTRY]
    liq = _liquidation_price(a, x, j, marks, mm) if mm == mm else np.nan
    if pos > 0.0:
        ext = max(x[j, X_EXTREME], o)
        stop = -np.inf
        reason = REASON_STOP_LOSS
        if sl > 0.0:
            stop = entry * (1.0 - sl)
        if ts > 0.0:
            t = ext * (1.0 - ts)
            if t > stop:
                stop = t
                reason = REASON_TRAILING
        if liq == liq and liq > stop:
            stop = liq
            reason = REASON_LIQUIDATION
        target = entry * (1.0 + tp) if tp > 0.0 else np.inf
        if o <= stop:
            return _close(a, x, out, k, bar, j, o, 1.0, fee, slip, reason, prm)
        if o >= target:
            return _close(a, x, out, k, bar, j, o, 1.0, fee, slip, REASON_TAKE_PROFIT, prm)
        if lo <= stop:
            return _close(a, x, out, k, bar, j, stop, 1.0, fee, slip, reason, prm)
        if h >= target:
            return _close(a, x, out, k, bar, j, target, 1.0, fee, slip, REASON_TAKE_PROFIT, prm)
        x[j, X_EXTREME] = max(ext, h)
    else:
        ext = min(x[j, X_EXTREME], o)
        stop = np.inf
        reason = REASON_STOP_LOSS
        if sl > 0.0:
            stop = entry * (1.0 + sl)
        if ts > 0.0:
            t = ext * (1.0 + ts)
            if t < stop:
                stop = t
                reason = REASON_TRAILING
        if liq == liq and liq < stop:
            stop = liq
            reason = REASON_LIQUIDATION
        target = entry * (1.0 - tp) if tp > 0.0 else -np.inf
        if o >= stop:
            return _close(a, x, out, k, bar, j, o, 1.0, fee, slip, reason, prm)
        if o <= target:
            return _close(a, x, out, k, bar, j, o, 1.0, fee, slip, REASON_TAKE_PROFIT, prm)
        if h >= stop:
            return _close(a, x, out, k, bar, j, stop, 1.0, fee, slip, reason, prm)
        if lo <= target:
            return _close(a, x, out, k, bar, j, target, 1.0, fee, slip, REASON_TAKE_PROFIT, prm)
        x[j, X_EXTREME] = min(ext, lo)
    return k


@njit(cache=True, _nrt=False)
def _decide(x, j, sig, prm):  # pragma: no cover - compiled
    """Turn the close's signals of asset ``j`` into a pending order (or keep the pending one)."""
    if prm[P_TARGET_MODE] > 0.0:
        w = sig[j, SIG_WEIGHT]
        if w == w:
            _clear_pending(x, j)
            x[j, X_PEND] = ACT_TARGET
            x[j, X_PEND_SIZE] = w
        return
    entry = sig[j, SIG_ENTRY] > 0.0
    exit_ = sig[j, SIG_EXIT] > 0.0
    short_entry = sig[j, SIG_SHORT_ENTRY] > 0.0
    short_exit = sig[j, SIG_SHORT_EXIT] > 0.0
    ls = prm[P_LONG_SHORT] > 0.0
    le = entry and not exit_
    lx = exit_ and not entry
    se = short_entry and not short_exit and ls
    sx = short_exit and not short_entry and ls
    if le and se:
        le = False
        se = False
    pos = x[j, X_POS]
    acc = prm[P_ACCUMULATE] > 0.0
    action = ACT_NONE
    if pos == 0.0:
        if le:
            action = ACT_LONG
        elif se:
            action = ACT_SHORT
    elif pos > 0.0:
        if se:
            action = ACT_SHORT
        elif lx:
            action = ACT_CLOSE
        elif le and acc:
            action = ACT_LONG
    else:
        if le:
            action = ACT_LONG
        elif sx:
            action = ACT_CLOSE
        elif se and acc:
            action = ACT_SHORT
    if action == ACT_NONE:
        if (lx or sx) and x[j, X_PEND_KIND] != KIND_MARKET:
            _clear_pending(x, j)  # an exit cancels a resting entry order
        return
    _clear_pending(x, j)
    x[j, X_PEND] = action
    if action == ACT_CLOSE:
        x[j, X_PEND_SIZE] = sig[j, SIG_EXIT_SIZE]
        return
    x[j, X_PEND_SIZE] = sig[j, SIG_SIZE]
    lim = sig[j, SIG_LIMIT]
    stp = sig[j, SIG_STOP]
    if lim == lim:
        x[j, X_PEND_KIND] = KIND_LIMIT
        x[j, X_PEND_LEVEL] = lim
    elif stp == stp:
        x[j, X_PEND_KIND] = KIND_STOP
        x[j, X_PEND_LEVEL] = stp


@njit(cache=True, _nrt=False)
def step(a, x, sig, o, h, lo, c, bar, prm, out):  # pragma: no cover - compiled
    """Advance one account by one bar; ``a``/``x`` are modified in place.

    Parameters
    ----------
    a : float64[N_ACCT]
        Account state (cash, equity), from :func:`init_account`.
    x : float64[n, N_ASSET]
        Asset states, from :func:`init_assets`.
    sig : float64[n, N_SIG]
        This bar's signals per asset (decided at the close).
    o, h, lo, c : float64[n]
        This bar's prices per asset (NaN: no price on this bar).
    bar : int
        Bar number written into the records.
    prm : float64[N_PARAM]
        Parameters, from :func:`default_params`.
    out : float64[n * MAX_REC_PER_ASSET, N_REC]
        Receives this bar's order records.

    Returns
    -------
    int
        Number of records written to ``out``.
    """
    n = x.shape[0]
    k = 0
    pending = False
    held = False
    for j in range(n):
        if x[j, X_PEND] != ACT_NONE:
            if x[j, X_PEND_KIND] == KIND_MARKET and not _priced(o, h, lo, c, j):
                _clear_pending(x, j)  # a market order cannot fill on a bar without a price
            else:
                pending = True
        if x[j, X_POS] != 0.0:
            held = True
    if pending:
        # (1) the open
        k = _market_phase(a, x, out, k, bar, o, o, h, lo, c, prm)
        # (2a) resting limit/stop entries inside the bar
        for j in range(n):
            if _priced(o, h, lo, c, j):
                k = _entry_orders(a, x, out, k, bar, j, o[j], h[j], lo[j], o, prm)
        held = False
        for j in range(n):
            if x[j, X_POS] != 0.0:
                held = True
    # (2b) protective exits inside the bar
    if held and (prm[P_STOP_LOSS] > 0.0 or prm[P_TAKE_PROFIT] > 0.0 or prm[P_TRAILING] > 0.0
                 or prm[P_MAINT_MARGIN] == prm[P_MAINT_MARGIN]):
        for j in range(n):
            if _priced(o, h, lo, c, j):
                k = _protect(a, x, out, k, bar, j, o[j], h[j], lo[j], o, prm)
    # (3) the close
    target_mode = prm[P_TARGET_MODE] > 0.0
    for j in range(n):
        if not (o[j] != o[j] or h[j] != h[j] or lo[j] != lo[j] or c[j] != c[j]):
            x[j, X_LAST] = c[j]
            x[j, X_FRESH] = 0.0
            if (target_mode or sig[j, SIG_ENTRY] > 0.0 or sig[j, SIG_EXIT] > 0.0
                    or sig[j, SIG_SHORT_ENTRY] > 0.0 or sig[j, SIG_SHORT_EXIT] > 0.0):
                _decide(x, j, sig, prm)
    if prm[P_FILL_AT_CLOSE] > 0.0:
        k = _market_phase(a, x, out, k, bar, c, o, h, lo, c, prm)
    e = a[A_CASH]
    for j in range(n):
        if x[j, X_POS] != 0.0:
            e += x[j, X_POS] * x[j, X_LAST]
    a[A_EQUITY] = e
    return k


@njit(cache=True)
def simulate(o, h, lo, c, sig, init_cash, prm):  # pragma: no cover - compiled
    """Whole history of one account as a loop over :func:`step`.

    ``o, h, lo, c`` are float64[bars, n]; ``sig`` is float64[bars, n, N_SIG].
    Returns ``(equity[bars], cash[bars], position[bars, n], records[k, N_REC])``.
    """
    bars, n = c.shape
    a = init_account(init_cash)
    x = init_assets(n)
    equity = np.empty(bars)
    cash = np.empty(bars)
    position = np.empty((bars, n))
    cap = max(16, bars // 4)
    records = np.empty((cap, N_REC))
    buf = np.empty((n * MAX_REC_PER_ASSET, N_REC))
    k = 0
    for i in range(bars):
        m = step(a, x, sig[i], o[i], h[i], lo[i], c[i], i, prm, buf)
        if k + m > records.shape[0]:
            grown = np.empty((max(2 * records.shape[0], k + m), N_REC))
            grown[:k] = records[:k]
            records = grown
        for r in range(m):
            records[k] = buf[r]
            k += 1
        equity[i] = a[A_EQUITY]
        cash[i] = a[A_CASH]
        for j in range(n):
            position[i, j] = x[j, X_POS]
    return equity, cash, position, records[:k].copy()
