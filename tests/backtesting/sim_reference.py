"""Plain-Python reference of the event-ordered simulator's rules (no numba, no shared code).

Written as one straightforward loop so that the numba kernel in
``quantlab.backtesting.sim.kernel`` can be checked against it. Rules (see the kernel's
docstring): pending order at the open -> stops on high/low (entry bar of an open fill included,
gap fills at the open, stop beats take-profit, trailing level from the extreme before this bar's
high) -> signal at the close. Sizes are fractions of equity (notional + fee = size x equity).
"""

from __future__ import annotations

import math


def reference(o, h, l, c, entries, exits, short_entries, short_exits, size, init_cash,  # noqa: E741
              fee, slippage, stop_loss=None, take_profit=None, trailing_stop=None,
              fill_at_close=False, long_short=False):
    """Return (equity list, orders list of (bar, side, units, price, fee, reason))."""
    sl = stop_loss if stop_loss is not None and stop_loss > 0 else None
    tp = take_profit if take_profit is not None and take_profit > 0 else None
    ts = trailing_stop if trailing_stop is not None and trailing_stop > 0 else None
    cash = float(init_cash)
    units = 0.0          # signed
    entry_price = None
    extreme = None       # highest high (long) / lowest low (short)
    pending = None       # (target, size) with target in {"flat", "long", "short"}
    last_close = None
    equity = []
    orders = []

    def sell(bar, qty, raw, reason):
        nonlocal cash
        px = raw * (1 - slippage)
        f = qty * px * fee
        cash += qty * px - f
        orders.append((bar, -1, qty, px, f, reason))

    def buy(bar, qty, raw, reason):
        nonlocal cash
        px = raw * (1 + slippage)
        f = qty * px * fee
        cash -= qty * px + f
        orders.append((bar, 1, qty, px, f, reason))

    def flatten(bar, raw, reason):
        nonlocal units, entry_price, extreme
        if units > 0:
            sell(bar, units, raw, reason)
        elif units < 0:
            buy(bar, -units, raw, reason)
        units, entry_price, extreme = 0.0, None, None

    def go(bar, target, frac, raw):
        nonlocal units, entry_price, extreme, cash
        if target == "flat":
            flatten(bar, raw, "signal")
            return
        want = 1 if target == "long" else -1
        if units * want < 0:
            flatten(bar, raw, "signal")
        if units != 0:
            return
        if frac is None or math.isnan(frac) or frac <= 0 or cash <= 0:
            return
        frac = min(frac, 1.0)
        px = raw * (1 + slippage) if want == 1 else raw * (1 - slippage)
        qty = frac * cash / (px * (1 + fee))
        f = qty * px * fee
        if want == 1:
            cash -= qty * px + f
        else:
            cash += qty * px - f
        orders.append((bar, want, qty, px, f, "signal"))
        units = want * qty
        entry_price = px
        extreme = raw

    for i in range(len(c)):
        bar = (o[i], h[i], l[i], c[i])
        if any(math.isnan(x) for x in bar):
            pending = None
            equity.append(equity[-1] if equity else float(init_cash))
            continue
        # 1. pending order fills at the open
        if pending is not None:
            go(i, pending[0], pending[1], o[i])
            pending = None
        # 2. stops
        if units > 0:
            peak = max(extreme, o[i])
            levels = []  # (level, reason)
            if sl is not None:
                levels.append((entry_price * (1 - sl), "stop_loss"))
            if ts is not None:
                levels.append((peak * (1 - ts), "trailing"))
            stop = None
            for lv, why in levels:  # the higher level is reached first; tie -> stop_loss
                if stop is None or lv > stop[0]:
                    stop = (lv, why)
            target = entry_price * (1 + tp) if tp is not None else None
            if stop is not None and o[i] <= stop[0]:
                flatten(i, o[i], stop[1])
            elif target is not None and o[i] >= target:
                flatten(i, o[i], "take_profit")
            elif stop is not None and l[i] <= stop[0]:
                flatten(i, stop[0], stop[1])
            elif target is not None and h[i] >= target:
                flatten(i, target, "take_profit")
            else:
                extreme = max(peak, h[i])
        elif units < 0:
            trough = min(extreme, o[i])
            levels = []
            if sl is not None:
                levels.append((entry_price * (1 + sl), "stop_loss"))
            if ts is not None:
                levels.append((trough * (1 + ts), "trailing"))
            stop = None
            for lv, why in levels:  # the lower level is reached first; tie -> stop_loss
                if stop is None or lv < stop[0]:
                    stop = (lv, why)
            target = entry_price * (1 - tp) if tp is not None else None
            if stop is not None and o[i] >= stop[0]:
                flatten(i, o[i], stop[1])
            elif target is not None and o[i] <= target:
                flatten(i, o[i], "take_profit")
            elif stop is not None and h[i] >= stop[0]:
                flatten(i, stop[0], stop[1])
            elif target is not None and l[i] <= target:
                flatten(i, target, "take_profit")
            else:
                extreme = min(trough, l[i])
        # 3. signal at the close
        e, x = bool(entries[i]), bool(exits[i])
        se = long_short and bool(short_entries[i]) and not bool(short_exits[i])
        sx = long_short and bool(short_exits[i]) and not bool(short_entries[i])
        le, lx = e and not x, x and not e
        if le and se:
            le = se = False
        target = None
        if units == 0:
            target = "long" if le else ("short" if se else None)
        elif units > 0:
            target = "short" if se else ("flat" if lx else None)
        else:
            target = "long" if le else ("flat" if sx else None)
        if target is not None:
            if fill_at_close:
                go(i, target, size[i], c[i])
            else:
                pending = (target, size[i])
        last_close = c[i]
        equity.append(cash + units * last_close)
    return equity, orders
