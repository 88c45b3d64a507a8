"""Hand-computed fixtures for the simulator's order features: limit/stop entries, adds, partial
exits, leverage and liquidation, exchange rules, combined stops, risk sizing, and bar-by-bar
runs of a multi-asset account from saved (pickled) states.

Every expected number is worked out in the comments; no fee and no slippage unless stated,
initial cash 10,000.
"""

from __future__ import annotations

import pickle
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

import quantlab as ql
from quantlab.backtesting.sim import (
    MAX_REC_PER_ASSET,
    N_REC,
    REASON_LIMIT,
    REASON_LIQUIDATION,
    REASON_MIN_AMOUNT,
    REASON_MIN_NOTIONAL,
    REASON_NO_FUNDS,
    REASON_SIGNAL,
    REASON_STOP_ENTRY,
    REASON_STOP_LOSS,
    REASON_TRAILING,
    init_account,
    init_assets,
    make_params,
    run,
    signal_array,
    simulate,
    step,
)
from quantlab.backtesting.sim.kernel import (
    A_CASH,
    A_EQUITY,
    REC_BAR,
    REC_PRICE,
    REC_REASON,
    REC_SIDE,
    REC_SIZE,
    REC_STATUS,
    X_POS,
)
from quantlab.errors import ParameterError
from quantlab.strategies.base import Signals, Strategy

NAN = np.nan
IDX = pd.date_range("2024-01-01", periods=8, freq="D", tz="UTC", name="time")


def rel(x: object) -> object:
    return pytest.approx(x, rel=1e-12)


def ohlc(rows: list[list[float]]) -> tuple[np.ndarray, ...]:
    a = np.array(rows, dtype=float)
    return a[:, 0], a[:, 1], a[:, 2], a[:, 3]


def at(n: int, bars: list[int]) -> np.ndarray:
    return np.isin(np.arange(n), bars)


def levels(n: int, where: dict[int, float]) -> np.ndarray:
    a = np.full(n, NAN)
    for i, v in where.items():
        a[i] = v
    return a


def fills(r) -> list[tuple]:
    """Filled records as (bar, side, units, price, reason)."""
    rec = r.records[r.records[:, REC_STATUS] == 0]
    return [(int(b), int(s), u, p, int(w)) for b, s, u, p, w in
            rec[:, [REC_BAR, REC_SIDE, REC_SIZE, REC_PRICE, REC_REASON]]]


def frame(rows: list[list[float]]) -> pd.DataFrame:
    a = np.array(rows, dtype=float)
    return pd.DataFrame({"open": a[:, 0], "high": a[:, 1], "low": a[:, 2], "close": a[:, 3],
                         "volume": 1.0}, index=IDX[: len(a)])


class Scripted(Strategy):
    """Replays fixed signals: entry/exit bars plus optional per-bar arrays (exit_size...)."""

    name = ""
    spec: ClassVar[dict] = {}

    def signals(self, b: pd.DataFrame) -> Signals:
        n = len(b)
        s = self.spec
        out = Signals(entries=pd.Series(at(n, s.get("entries", [])), b.index),
                      exits=pd.Series(at(n, s.get("exits", [])), b.index))
        for name in ("exit_size", "limit", "stop", "size"):
            if name in s:
                out.__setattr__(name, pd.Series(levels(n, s[name]), b.index))
        return out


def scripted(**spec) -> Strategy:
    return type("S", (Scripted,), {"spec": spec})()


# ------------------------------------------------------------------------- limit entries

# Entry decided at bar 0 with a buy limit at 98; bar 1 is where it may first fill.
LIMIT_BARS = [[100, 101, 99, 100],
              [100, 102, 97, 99],     # low 97 reaches 98
              [99, 100, 96, 97],
              [97, 98, 96, 97]]


def test_limit_entry_fills_at_the_level_without_slippage():
    o, h, lo, c = ohlc(LIMIT_BARS)
    r = run(o, h, lo, c, at(4, [0]), limit=levels(4, {0: 98.0}), fee=0.001, slippage=0.01)
    # bar 1 opens 100 > 98, the low 97 reaches 98 -> buy at 98 exactly (a maker: no slippage)
    units = 10_000 / (98 * 1.001)                       # 101.937..., fee 10 bps
    [(b, s, u, p, why)] = fills(r)
    assert (b, s, p, why) == (1, 1, 98.0, REASON_LIMIT)
    assert u == rel(units)
    assert r.equity[1] == rel(units * 99)               # cash ~ 0, marked at the close 99
    assert r.equity[3] == rel(units * 97)


def test_limit_entry_fills_at_an_open_below_the_level():
    o, h, lo, c = ohlc([[100, 101, 99, 100], [96, 99, 95, 97], [97, 98, 96, 97]])
    r = run(o, h, lo, c, at(3, [0]), limit=levels(3, {0: 98.0}))
    assert fills(r) == [(1, 1, rel(10_000 / 96), 96.0, REASON_LIMIT)]   # the better open 96


def test_limit_entry_rests_until_the_low_reaches_it():
    # bar 1 low 98.5 and bar 2 low 98.2 stay above 98; bar 3 low 97.5 fills at 98.
    o, h, lo, c = ohlc([[100, 101, 99, 100], [100, 101, 98.5, 99], [99, 100, 98.2, 99],
                        [99, 100, 97.5, 98], [98, 99, 97, 98]])
    r = run(o, h, lo, c, at(5, [0]), limit=levels(5, {0: 98.0}))
    assert fills(r) == [(3, 1, rel(10_000 / 98), 98.0, REASON_LIMIT)]
    assert r.equity[:3].tolist() == [10_000] * 3
    assert r.equity[4] == rel(10_000 / 98 * 98)


def test_limit_entry_not_filled_never_trades():
    o, h, lo, c = ohlc([[100, 101, 99, 100], [100, 101, 98.5, 99], [99, 100, 98.2, 99]])
    r = run(o, h, lo, c, at(3, [0]), limit=levels(3, {0: 98.0}))
    assert len(r.records) == 0 and r.equity.tolist() == [10_000] * 3


def test_exit_signal_cancels_a_resting_limit_entry():
    o, h, lo, c = ohlc([[100, 101, 99, 100], [100, 101, 98.5, 99], [99, 100, 97, 98],
                        [98, 99, 96, 97]])
    # the limit rests through bar 1; the exit signal at bar 1's close cancels it, so bar 2's
    # low 97 (through 98) fills nothing
    r = run(o, h, lo, c, at(4, [0]), at(4, [1]), limit=levels(4, {0: 98.0}))
    assert len(r.records) == 0
    # without the exit it fills in bar 2 at 98
    r = run(o, h, lo, c, at(4, [0]), limit=levels(4, {0: 98.0}))
    assert fills(r) == [(2, 1, rel(10_000 / 98), 98.0, REASON_LIMIT)]


@pytest.mark.parametrize(("ttl", "expected"), [
    (1, []),                                               # waited bar 1, expired after it
    (2, [(2, 1, rel(10_000 / 98), 98.0, REASON_LIMIT)]),   # still alive in bar 2
    (0, [(2, 1, rel(10_000 / 98), 98.0, REASON_LIMIT)]),   # 0: until cancelled
])
def test_limit_entry_expires_after_order_ttl(ttl, expected):
    o, h, lo, c = ohlc([[100, 101, 99, 100], [100, 101, 98.5, 99], [99, 100, 97, 98],
                        [98, 99, 96, 97]])
    r = run(o, h, lo, c, at(4, [0]), limit=levels(4, {0: 98.0}), order_ttl=ttl)
    assert fills(r) == expected


def test_stops_wait_a_bar_after_an_intrabar_limit_fill():
    # Limit 98 fills inside bar 1, whose low is 90: the 5 % stop (93.1) is not checked in
    # bar 1 (what came after the fill is unknown); bar 2 (open 95, low 92) exits at 93.1.
    o, h, lo, c = ohlc([[100, 101, 99, 100], [100, 101, 90, 96], [95, 96, 92, 94],
                        [94, 95, 93, 94]])
    r = run(o, h, lo, c, at(4, [0]), limit=levels(4, {0: 98.0}), stop_loss=0.05)
    units = 10_000 / 98
    assert fills(r) == [(1, 1, rel(units), 98.0, REASON_LIMIT),
                        (2, -1, rel(units), rel(98 * 0.95), REASON_STOP_LOSS)]
    assert r.equity[1] == rel(units * 96)
    assert r.equity[-1] == rel(10_000 * 0.95)         # 9,500


# -------------------------------------------------------------------------- stop entries

def test_stop_entry_triggers_at_the_level_with_slippage():
    # buy stop 105: bar 1 (open 100, high 106) reaches it -> 105 x 1.01 = 106.05
    o, h, lo, c = ohlc([[100, 101, 99, 100], [100, 106, 99, 104], [104, 105, 103, 104]])
    r = run(o, h, lo, c, at(3, [0]), stop=levels(3, {0: 105.0}), slippage=0.01)
    [(b, s, u, p, why)] = fills(r)
    assert (b, s, why) == (1, 1, REASON_STOP_ENTRY)
    assert p == rel(106.05) and u == rel(10_000 / 106.05)
    assert r.equity[-1] == rel(10_000 / 106.05 * 104)


def test_stop_entry_fills_at_a_gapping_open():
    # bar 1 opens 107 above the stop 105 -> 107 x 1.01 = 108.07
    o, h, lo, c = ohlc([[100, 101, 99, 100], [107, 108, 106, 107], [107, 108, 106, 107]])
    r = run(o, h, lo, c, at(3, [0]), stop=levels(3, {0: 105.0}), slippage=0.01)
    assert fills(r) == [(1, 1, rel(10_000 / 108.07), rel(108.07), REASON_STOP_ENTRY)]
    # not reached (high 104) -> nothing
    o, h, lo, c = ohlc([[100, 101, 99, 100], [100, 104, 99, 101], [101, 104, 100, 102]])
    assert len(run(o, h, lo, c, at(3, [0]), stop=levels(3, {0: 105.0})).records) == 0


# --------------------------------------------------------- short limit / stop entries

def short_run(rows, **kw):
    o, h, lo, c = ohlc(rows)
    n = len(o)
    return run(o, h, lo, c, np.zeros(n, bool), None, at(n, [0]), None, long_short=True, **kw)


def test_short_limit_entry_mirrors_the_long():
    # sell limit 102: bar 1 (open 100, high 103) -> sell at 102, no slippage
    r = short_run([[100, 101, 99, 100], [100, 103, 99, 101], [101, 102, 99, 100]],
                  limit=levels(3, {0: 102.0}), slippage=0.01)
    units = 10_000 / 102                                  # 98.039...
    assert fills(r) == [(1, -1, rel(units), 102.0, REASON_LIMIT)]
    assert r.cash[1] == rel(20_000)                       # 10,000 + 98.039 x 102
    assert r.equity[2] == rel(20_000 - units * 100)       # 10,196.08
    # opening above the level (104) sells at that better open
    r = short_run([[100, 101, 99, 100], [104, 105, 103, 104], [104, 105, 103, 104]],
                  limit=levels(3, {0: 102.0}))
    assert fills(r) == [(1, -1, rel(10_000 / 104), 104.0, REASON_LIMIT)]
    # never reaching it: nothing
    r = short_run([[100, 101, 99, 100], [100, 101.5, 99, 101], [101, 101.9, 99, 100]],
                  limit=levels(3, {0: 102.0}))
    assert len(r.records) == 0


def test_short_stop_entry_mirrors_the_long():
    # sell stop 95: bar 1 (low 94) -> 95 x (1 - 0.01) = 94.05
    r = short_run([[100, 101, 99, 100], [100, 101, 94, 96], [96, 97, 95, 96]],
                  stop=levels(3, {0: 95.0}), slippage=0.01)
    assert fills(r) == [(1, -1, rel(10_000 / 94.05), rel(94.05), REASON_STOP_ENTRY)]
    # gap below: bar 1 opens 93 -> 93 x 0.99 = 92.07
    r = short_run([[100, 101, 99, 100], [93, 94, 92, 93], [93, 94, 92, 93]],
                  stop=levels(3, {0: 95.0}), slippage=0.01)
    assert fills(r) == [(1, -1, rel(10_000 / 92.07), rel(92.07), REASON_STOP_ENTRY)]


# -------------------------------------------------------------------- adds (accumulate)

RISING = frame([[100, 106, 99, 105], [110, 116, 109, 115], [120, 126, 119, 125],
                [130, 136, 129, 135], [140, 146, 139, 145], [150, 156, 149, 155]])


def test_accumulate_adds_and_averages_the_entry():
    res = ql.backtest(scripted(entries=[0, 2]), RISING, fees_bps=0, sizing="fixed_fraction",
                      fraction=0.4, accumulate=True)
    # bar 1 (open 110): 0.4 x 10,000 / 110 = 36.363636 units, cash 6,000
    u1 = 4_000 / 110
    # bar 3 (open 130): equity 6,000 + 36.3636 x 130 = 10,727.2727; 0.4 of it / 130
    eq3 = 6_000 + u1 * 130
    u2 = 0.4 * eq3 / 130                                  # 33.006993 units
    assert res.orders["size"].tolist() == [rel(u1), rel(u2)]
    assert res.orders["price"].tolist() == [110.0, 130.0]
    assert res.cash.iloc[-1] == rel(6_000 - u2 * 130)
    t = res.trades
    assert len(t) == 1 and t["status"].iloc[0] == "open"
    assert t["size"].iloc[0] == rel(u1 + u2)               # all units entered
    assert t["entry_price"].iloc[0] == rel((u1 * 110 + u2 * 130) / (u1 + u2))  # 119.5238...
    assert t["pnl"].iloc[0] == rel((u1 + u2) * 155 - 4_000 - u2 * 130)
    assert res.equity.iloc[-1] == rel(6_000 - u2 * 130 + (u1 + u2) * 155)
    # without accumulate the second entry is ignored
    res = ql.backtest(scripted(entries=[0, 2]), RISING, fees_bps=0, sizing="fixed_fraction",
                      fraction=0.4)
    assert len(res.orders) == 1


def test_accumulate_when_fully_invested_is_rejected_for_buying_power():
    res = ql.backtest(scripted(entries=[0, 2]), RISING, fees_bps=0, accumulate=True)
    # all in at 110 (90.909 units, cash 0); the add at bar 3 has no buying power
    assert len(res.orders) == 1
    rej = res.rejected
    assert len(rej) == 1
    assert rej["reason"].iloc[0] == "no buying power"
    assert rej["time"].iloc[0] == IDX[3] and rej["side"].iloc[0] == "buy"
    assert int(res.records[1, REC_REASON]) == REASON_NO_FUNDS and res.records[1, REC_STATUS] == 1
    assert res.positions.iloc[-1, 0] == rel(10_000 / 110)
    assert res.equity.iloc[-1] == rel(10_000 / 110 * 155)


# -------------------------------------------------------------------------- partial exits

def test_partial_exit_then_the_rest():
    res = ql.backtest(scripted(entries=[0], exits=[2, 3], exit_size={2: 0.5}), RISING,
                      fees_bps=10)
    u = 10_000 / (110 * 1.001)                            # 90.818272636 units at 110
    # bar 3 (open 130): sell half; bar 4 (open 140): sell the rest (exit_size NaN = all)
    assert res.orders["side"].tolist() == ["buy", "sell", "sell"]
    assert res.orders["size"].tolist() == [rel(u), rel(u / 2), rel(u / 2)]
    assert res.orders["price"].tolist() == [110.0, 130.0, 140.0]
    cash = u / 2 * 130 * 0.999 + u / 2 * 140 * 0.999      # 12,248.77...
    assert res.equity.iloc[-1] == rel(cash)
    assert res.equity.iloc[3] == rel(u / 2 * 130 * 0.999 + u / 2 * 135)
    t = res.trades
    assert len(t) == 1 and t["status"].iloc[0] == "closed"
    assert t["size"].iloc[0] == rel(u)
    assert t["exit_price"].iloc[0] == rel(135.0)          # size-weighted 130/140
    assert t["pnl"].iloc[0] == rel(cash - 10_000)         # 2,248.77, net of the 3 fees
    assert t["exit_time"].iloc[0] == IDX[4]


# ---------------------------------------------------------------- leverage and margin

def test_leverage_two_with_size_two():
    o, h, lo, c = ohlc([[100, 101, 99, 100], [100, 106, 99, 105], [105, 107, 104, 106]])
    r = run(o, h, lo, c, at(3, [0]), size=2.0, leverage=2.0)
    # 2 x 10,000 / 100 = 200 units for 20,000: cash -10,000
    assert fills(r) == [(1, 1, rel(200.0), 100.0, REASON_SIGNAL)]
    assert r.cash[1] == rel(-10_000)
    assert r.equity[1] == rel(-10_000 + 200 * 105)        # 11,000
    assert r.equity[2] == rel(-10_000 + 200 * 106)        # 11,200
    # the same through quantlab.backtest with a strategy size of 2
    res = ql.backtest(scripted(entries=[0], size={0: 2.0}), frame([list(x) for x in
                      zip(o, h, lo, c, strict=True)]), fees_bps=0, leverage=2.0)
    assert res.orders["size"].tolist() == [rel(200.0)]
    assert res.cash.iloc[-1] == rel(-10_000) and res.equity.iloc[-1] == rel(11_200)
    # without leverage the size is capped at 1: 100 units
    r = run(o, h, lo, c, at(3, [0]), size=2.0)
    assert fills(r)[0][2] == rel(100.0)


def test_fixed_fraction_two_with_leverage_two():
    o, h, lo, c = ohlc([[100, 101, 99, 100], [100, 106, 99, 105], [105, 107, 104, 106]])
    data = frame([list(x) for x in zip(o, h, lo, c, strict=True)])
    res = ql.backtest(scripted(entries=[0]), data, fees_bps=0, sizing="fixed_fraction",
                      fraction=2.0, leverage=2.0)
    assert res.orders["size"].tolist() == [rel(200.0)]


def test_levered_long_is_liquidated_at_the_solved_price():
    # 200 units bought at 100 with 10,000 of equity (cash -10,000), maintenance margin 10 %.
    # Liquidation when cash + 200 p = 0.1 x 200 p  ->  p = 10,000 / (200 x 0.9) = 55.5556.
    liq = 10_000 / (200 * 0.9)
    o, h, lo, c = ohlc([[100, 101, 99, 100], [100, 106, 99, 105], [105, 106, 50, 60],
                        [60, 61, 59, 60]])
    r = run(o, h, lo, c, at(4, [0]), size=2.0, leverage=2.0, maintenance_margin=0.1)
    assert fills(r) == [(1, 1, rel(200.0), 100.0, REASON_SIGNAL),
                        (2, -1, rel(200.0), rel(liq), REASON_LIQUIDATION)]
    left = -10_000 + 200 * liq                            # 1,111.11 = 10 % of 11,111.11
    assert left == rel(0.1 * 200 * liq)
    assert r.equity[2] == rel(left) and r.equity[3] == rel(left)
    # a bar that gaps below the liquidation price fills at its open (52): 400 left
    o2, h2, lo2, c2 = ohlc([[100, 101, 99, 100], [100, 106, 99, 105], [52, 53, 50, 51],
                            [51, 52, 50, 51]])
    r = run(o2, h2, lo2, c2, at(4, [0]), size=2.0, leverage=2.0, maintenance_margin=0.1)
    assert fills(r)[1] == (2, -1, rel(200.0), 52.0, REASON_LIQUIDATION)
    assert r.equity[-1] == rel(-10_000 + 200 * 52)
    # without the margin model nothing is liquidated: equity 200 x 51 - 10,000 = 200
    r = run(o2, h2, lo2, c2, at(4, [0]), size=2.0, leverage=2.0)
    assert len(r.records) == 1 and r.equity[-1] == rel(200.0)


def test_short_is_liquidated_on_a_rally():
    # short 10,000 / 100 = 100 units: cash 20,000. Liquidation when 20,000 - 100 p
    # = 0.1 x 100 p  ->  p = 20,000 / 110 = 181.818.
    liq = 20_000 / 110
    r = short_run([[100, 101, 99, 100], [100, 101, 99, 100], [105, 190, 100, 150],
                   [150, 151, 149, 150]], maintenance_margin=0.1)
    assert fills(r) == [(1, -1, rel(100.0), 100.0, REASON_SIGNAL),
                        (2, 1, rel(100.0), rel(liq), REASON_LIQUIDATION)]
    assert r.equity[-1] == rel(20_000 - 100 * liq)          # 1,818.18
    assert r.equity[-1] == rel(0.1 * 100 * liq)


# -------------------------------------------------------------------------- exchange rules

def test_amount_step_rounds_units_down():
    res = ql.backtest(scripted(entries=[0], exits=[2]), RISING, fees_bps=0, amount_step=0.01)
    # 10,000 / 110 = 90.909 -> 90.90 units; cash 10,000 - 9,999 = 1 stays
    assert res.orders["size"].tolist() == [rel(90.90), rel(90.90)]
    assert res.cash.iloc[1] == rel(10_000 - 90.90 * 110)
    assert res.equity.iloc[-1] == rel(10_000 + 90.90 * 20)   # sold at 130


@pytest.mark.parametrize(("rule", "size", "reason", "code"), [
    ({"min_amount": 1.0}, 0.005, "below min_amount", REASON_MIN_AMOUNT),      # 0.4545 units
    ({"min_notional": 60.0}, 0.005, "below min_notional", REASON_MIN_NOTIONAL),  # 50 quote
])
def test_orders_below_the_minimum_are_rejected(rule, size, reason, code):
    res = ql.backtest(scripted(entries=[0], size={0: size}), RISING, fees_bps=0, **rule)
    # 0.005 x 10,000 = 50 of quote at 110 -> 0.454545 units
    assert len(res.orders) == 0
    rej = res.rejected
    assert rej["reason"].tolist() == [reason]
    assert rej["size"].iloc[0] == rel(50 / 110) and rej["price"].iloc[0] == 110.0
    assert rej["notional"].iloc[0] == rel(50.0)
    assert (res.positions.iloc[:, 0] == 0).all() and (res.equity == 10_000).all()
    assert int(res.records[0, REC_REASON]) == code


def test_closing_a_whole_position_is_never_rejected():
    # buy 1 unit (size 0.01 of 10,000 at 100 = 100 of notional >= 60); the price halves;
    # half of it (25 of notional) is rejected, the whole (50 < 60) still closes.
    o, h, lo, c = ohlc([[100, 101, 99, 100], [100, 101, 99, 100], [50, 51, 49, 50],
                        [50, 51, 49, 50], [50, 51, 49, 50]])
    r = run(o, h, lo, c, at(5, [0]), at(5, [2, 3]), size=0.01, exit_size=levels(5, {2: 0.5}),
            min_notional=60.0)
    assert fills(r) == [(1, 1, rel(1.0), 100.0, REASON_SIGNAL),
                        (4, -1, rel(1.0), 50.0, REASON_SIGNAL)]
    rej = r.records[r.records[:, REC_STATUS] == 1]
    assert rej[:, [REC_BAR, REC_SIZE, REC_REASON]].tolist() == [[3, 0.5, REASON_MIN_NOTIONAL]]
    assert r.position.tolist() == [0, 1, 1, 1, 0]
    assert r.equity[-1] == rel(10_000 - 50.0)


# -------------------------------------------------------- stop-loss + trailing, risk sizing

def test_stop_loss_and_trailing_together_through_backtest():
    # bought at 100 in bar 1 (high 110); SL 3 % = 97 is above the trailing 5 % level from
    # the open (95) in the entry bar, whose low 96.5 reaches 97 -> out at 97.
    data = frame([[100, 101, 99, 100], [100, 110, 96.5, 108], [108, 109, 104, 105],
                  [105, 106, 100, 101]])
    res = ql.backtest(scripted(entries=[0]), data, fees_bps=0, stop_loss=0.03,
                      trailing_stop=0.05)
    assert res.orders["price"].tolist() == [100.0, rel(97.0)]
    assert res.orders["reason"].tolist() == ["signal", "stop_loss"]
    # entry-bar low 98 holds; the trailing level 110 x 0.95 = 104.5 overtakes 97 and bar 2
    # (low 104) exits there
    data = frame([[100, 101, 99, 100], [100, 110, 98, 108], [108, 109, 104, 105],
                  [105, 106, 100, 101]])
    res = ql.backtest(scripted(entries=[0]), data, fees_bps=0, stop_loss=0.03,
                      trailing_stop=0.05)
    assert res.orders["price"].tolist() == [100.0, rel(104.5)]
    assert res.orders["reason"].tolist() == ["signal", "trailing_stop"]
    assert res.equity.iloc[-1] == rel(10_450.0)
    assert int(res.records[1, REC_REASON]) == REASON_TRAILING


def test_risk_per_trade_sizes_from_equity_after_a_loss():
    # risk 2 % with a 10 % stop -> 20 % of equity per entry.
    data = frame([[100, 101, 99, 100], [100, 101, 99, 100], [95, 96, 85, 88],
                  [88, 89, 87, 88], [100, 101, 99, 100], [100, 101, 99, 100]])
    res = ql.backtest(scripted(entries=[0, 3]), data, fees_bps=0, sizing="risk_per_trade",
                      risk=0.02, stop_loss=0.10)
    # trade 1: 0.2 x 10,000 / 100 = 20 units at 100, stopped at 90 in bar 2: -200
    # trade 2 (bar 4, open 100): 0.2 x 9,800 / 100 = 19.6 units
    assert res.orders["size"].tolist() == [rel(20.0), rel(20.0), rel(19.6)]
    assert res.orders["price"].tolist() == [100.0, rel(90.0), 100.0]
    assert res.orders["reason"].tolist() == ["signal", "stop_loss", "signal"]
    assert res.equity.iloc[3] == rel(9_800.0)
    assert res.trades["pnl"].iloc[0] == rel(-200.0)


def test_option_combinations_are_accepted():
    # previously refused: stop_loss with trailing_stop
    res = ql.backtest(scripted(entries=[0]), RISING, stop_loss=0.1, trailing_stop=0.05)
    assert len(res.orders) >= 1
    with pytest.raises(ParameterError, match="accumulate"):
        ql.backtest(scripted(entries=[0]), RISING, accumulate="yes")


# --------------------------------------------- multi-asset account: step from saved states

def _random_prices(rng, n, k):
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, (n, k)), axis=0))
    open_ = np.vstack([np.full((1, k), 100.0), close[:-1]]) * np.exp(
        rng.normal(0, 0.02, (n, k)) * (rng.random((n, k)) < 0.3))
    hi = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.02, (n, k))))
    lo = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.02, (n, k))))
    for a in (open_, hi, lo, close):
        a[: int(rng.integers(1, 15)), 2] = np.nan        # the third asset lists late
    return [np.ascontiguousarray(a) for a in (open_, hi, lo, close)]


@pytest.mark.parametrize("seed", range(4))
def test_multi_asset_steps_from_pickled_states_equal_simulate(seed):
    rng = np.random.default_rng(seed)
    n, k = 150, 3
    o, h, lo, c = _random_prices(rng, n, k)
    lim = np.where(rng.random((n, k)) < 0.3, c * 0.98, NAN)
    stp = np.where(np.isnan(lim) & (rng.random((n, k)) < 0.2), c * 1.02, NAN)
    sig = signal_array(n, k, entries=rng.random((n, k)) < 0.2, exits=rng.random((n, k)) < 0.15,
                       short_entries=rng.random((n, k)) < 0.1,
                       short_exits=rng.random((n, k)) < 0.1,
                       size=rng.choice([0.2, 0.4, 0.7], (n, k)),
                       exit_size=np.where(rng.random((n, k)) < 0.3, 0.5, NAN), limit=lim,
                       stop=stp)
    prm = make_params(fee=0.001, slippage=0.0005, stop_loss=0.05, trailing_stop=0.04,
                      take_profit=0.1, long_short=bool(seed % 2), accumulate=seed >= 2,
                      leverage=1.5, maintenance_margin=0.05, amount_step=0.001,
                      min_notional=5.0, order_ttl=3)
    eq, cash, pos, rec = simulate(o, h, lo, c, sig, 10_000.0, prm)
    assert len(rec) > 20 and np.abs(pos).sum(axis=0).min() > 0   # every asset traded
    state = pickle.dumps((init_account(10_000.0), init_assets(k)))
    buf = np.empty((k * MAX_REC_PER_ASSET, N_REC))
    recs, eqs, cashes, poss = [], [], [], []
    for i in range(n):
        a, x = pickle.loads(state)                 # resume from the saved bytes every bar
        m = step(a, x, sig[i], o[i], h[i], lo[i], c[i], i, prm, buf)
        state = pickle.dumps((a, x))
        recs.extend(buf[:m].copy())
        eqs.append(a[A_EQUITY])
        cashes.append(a[A_CASH])
        poss.append(x[:, X_POS].copy())
    assert np.array_equal(np.array(eqs), eq)
    assert np.array_equal(np.array(cashes), cash)
    assert np.array_equal(np.array(poss), pos)
    assert np.array_equal(np.array(recs).reshape(-1, N_REC), rec, equal_nan=True)


def test_limit_add_below_the_open_cannot_borrow():
    o, h, lo, c = ohlc([[100, 101, 99, 100], [100, 101, 99, 100], [110, 111, 95, 105],
                        [110, 111, 109, 110]])
    r = run(o, h, lo, c, at(4, [0, 1]), size=levels(4, {0: 0.5, 1: 1.0}),
            limit=levels(4, {1: 100.0}), accumulate=True)
    # bar 1: 0.5 x 10,000 / 100 = 50 units at 100, cash 5,000. Bar 2 opens 110, the low 95
    # reaches the limit 100: the add may spend the 5,000 of cash -> 50 more units, cash 0
    # (a buying-power cap mixing the open and the fill price bought 55 units, cash -500).
    assert fills(r)[0] == (1, 1, rel(50.0), 100.0, REASON_SIGNAL)
    assert fills(r)[1][:4] == (2, 1, rel(50.0), 100.0)
    assert r.cash[2] >= -1e-9
