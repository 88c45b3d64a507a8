"""Event-ordered simulator core (quantlab.backtesting.sim): hand-computed fixtures, a plain-Python
reference loop (property test), vectorbt as an oracle where the rules coincide, and step-by-step
runs from saved states equal to the whole-history run."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantlab.backtesting.sim import (
    MAX_REC_PER_ASSET,
    N_REC,
    REASON_SIGNAL,
    REASON_STOP_LOSS,
    REASON_TAKE_PROFIT,
    REASON_TRAILING,
    init_account,
    init_assets,
    make_params,
    run,
    signal_array,
    step,
)
from quantlab.backtesting.sim.kernel import A_CASH, A_EQUITY, REC_SIZE, X_POS
from tests.backtesting.sim_reference import reference

FEE = 0.001  # 10 bps
REASONS = {"signal": REASON_SIGNAL, "stop_loss": REASON_STOP_LOSS,
           "take_profit": REASON_TAKE_PROFIT, "trailing": REASON_TRAILING}


def flags(n, at):
    a = np.zeros(n, dtype=bool)
    a[list(at)] = True
    return a


def orders(r):
    """Records as (bar, side, units, price, fee, reason) tuples."""
    return [(int(b), int(s), u, p, f, int(why)) for b, _, s, u, p, f, why, *_ in r.records]


def approx(x):
    return pytest.approx(x, rel=1e-12, abs=1e-9)


def lit(x):
    """A hand-written literal with (at least) 9 decimals."""
    return pytest.approx(x, rel=0, abs=1e-8)


# ---------------------------------------------------------------------------- hand fixtures

OP = np.array([100.0, 102.0, 104.0, 103.0, 105.0])
HI = OP + 2.0
LW = OP - 2.0
CL = OP + 1.0


def test_next_open_fill_with_fees():
    r = run(OP, HI, LW, CL, flags(5, [0]), flags(5, [2]), fee=FEE)
    units = 10_000 / (102 * 1.001)                       # buy at bar 1's open 102
    assert units == lit(97.941274412)
    (b0, s0, u0, p0, f0, w0), (b1, s1, u1, p1, f1, w1) = orders(r)
    assert (b0, s0, u0, p0, f0, w0) == (1, 1, approx(units), 102.0, lit(9.990009990), 0)
    assert (b1, s1, u1, p1, w1) == (3, -1, approx(units), 103.0, 0)   # sell at bar 3's open
    assert f1 == approx(units * 103 * 0.001)
    # bar 0 flat; bars 1-2 marked at the close (103, 105); flat from bar 3
    assert r.equity[0] == 10_000
    assert r.equity[1] == approx(units * 103)             # 10087.95126442 (cash ~ 0)
    assert r.equity[2] == approx(units * 105)
    assert r.equity[3] == approx(10_000 * 103 * 0.999 / (102 * 1.001))  # 10077.86331316
    assert r.equity[3] == lit(10077.863313163)
    assert r.equity[4] == r.equity[3]


def test_close_fill():
    r = run(OP, HI, LW, CL, flags(5, [0]), flags(5, [2]), fee=FEE, fill_at_close=True)
    units = 10_000 / (101 * 1.001)                        # buy at bar 0's close 101
    assert [(b, s, p) for b, s, _, p, _, _ in orders(r)] == [(0, 1, 101.0), (2, -1, 105.0)]
    assert r.records[0, REC_SIZE] == approx(units) and r.position[1] == approx(units)
    assert r.equity[0] == approx(10_000 / 1.001)          # marked at 101 right after the fee
    assert r.equity[-1] == approx(10_000 * 105 * 0.999 / (101 * 1.001))  # 10375.26829606
    assert r.equity[-1] == lit(10375.268296060)


def test_slippage_against_the_trader():
    r = run(OP, HI, LW, CL, flags(5, [0]), flags(5, [2]), slippage=0.005)  # 50 bps, no fee
    (_, _, u0, p0, _, _), (_, _, _, p1, _, _) = orders(r)
    assert p0 == approx(102 * 1.005)                      # buy 102.51
    assert p1 == approx(103 * 0.995)                      # sell 102.485
    assert u0 == approx(10_000 / 102.51)
    assert r.equity[-1] == approx(10_000 * 102.485 / 102.51)  # 9997.56121354
    assert r.equity[-1] == lit(9997.561213540)


# prices for the stop fixtures: entry signal at bar 0 fills at bar 1's open 100
def stop_bars(rows):
    a = np.array(rows, dtype=float)
    return a[:, 0], a[:, 1], a[:, 2], a[:, 3]


def test_stop_loss_inside_the_entry_bar():
    o, h, lo, c = stop_bars([[100, 101, 99, 100], [100, 101, 94, 96], [96, 97, 95, 96]])
    r = run(o, h, lo, c, flags(3, [0]), stop_loss=0.05)
    assert [(b, s, p, why) for b, s, _, p, _, why in orders(r)] == [
        (1, 1, 100.0, REASON_SIGNAL), (1, -1, 95.0, REASON_STOP_LOSS)]
    assert r.equity.tolist() == [10_000, approx(9_500), approx(9_500)]
    assert r.position[1] == 0


def test_gap_through_the_stop_fills_at_the_open():
    o, h, lo, c = stop_bars([[100, 101, 99, 100], [100, 101, 98, 99], [90, 92, 89, 91]])
    r = run(o, h, lo, c, flags(3, [0]), stop_loss=0.05, fee=FEE)
    units = 10_000 / (100 * 1.001)
    b, s, u, p, f, why = orders(r)[1]
    assert (b, s, p, why) == (2, -1, 90.0, REASON_STOP_LOSS)
    assert u == approx(units) and f == approx(units * 90 * 0.001)   # at the open 90, not at 95
    assert r.equity[-1] == approx(units * 90 * 0.999)          # 8982.01798202
    assert r.equity[-1] == lit(8982.017982018)


def test_stop_loss_and_take_profit_in_one_bar_counts_the_stop():
    o, h, lo, c = stop_bars([[100, 101, 99, 100], [100, 112, 94, 105], [105, 106, 104, 105]])
    r = run(o, h, lo, c, flags(3, [0]), stop_loss=0.05, take_profit=0.10)
    assert [(b, p, why) for b, _, _, p, _, why in orders(r)][1] == (1, 95.0, REASON_STOP_LOSS)
    # take-profit alone in the same bar exits at 110
    r = run(o, h, lo, c, flags(3, [0]), take_profit=0.10)
    assert [(b, p, why) for b, _, _, p, _, why in orders(r)][1] == (1, approx(110.0), REASON_TAKE_PROFIT)
    assert r.equity[-1] == approx(11_000)


def test_trailing_stop_uses_the_entry_bars_high():
    # entry bar: fill at 100, high 110 -> trailing level 104.5 from bar 2 on (95 inside bar 1)
    o, h, lo, c = stop_bars([[100, 101, 99, 100], [100, 110, 99, 108],
                             [108, 109, 104, 105], [105, 106, 100, 101]])
    r = run(o, h, lo, c, flags(4, [0]), trailing_stop=0.05)
    assert [(b, p, why) for b, _, _, p, _, why in orders(r)] == [
        (1, 100.0, REASON_SIGNAL), (2, approx(104.5), REASON_TRAILING)]
    assert r.equity.tolist() == [10_000, approx(10_800), approx(10_450), approx(10_450)]


@pytest.mark.parametrize(("low1", "low2", "expected"), [
    (96.5, 104.0, (1, 97.0, REASON_STOP_LOSS)),      # SL 97 above trailing 95 in the entry bar
    (98.0, 104.0, (2, 104.5, REASON_TRAILING)),      # then trailing 110*0.95 overtakes SL 97
])
def test_stop_loss_and_trailing_together(low1, low2, expected):
    o, h, lo, c = stop_bars([[100, 101, 99, 100], [100, 110, low1, 108],
                             [108, 109, low2, 105], [105, 106, 100, 101]])
    r = run(o, h, lo, c, flags(4, [0]), stop_loss=0.03, trailing_stop=0.05)
    b, _, _, p, _, why = orders(r)[1]
    assert (b, p, why) == (expected[0], approx(expected[1]), expected[2])
    assert r.equity[-1] == approx(100 * expected[1])


def test_long_short_reversal_sizes_from_equity_after_the_close():
    o = np.array([100.0, 100.0, 105.0, 110.0, 104.0, 100.0])
    c = np.array([100.0, 104.0, 108.0, 106.0, 102.0, 101.0])
    h, lo = np.maximum(o, c) + 1, np.minimum(o, c) - 1
    r = run(o, h, lo, c, flags(6, [0]), None, flags(6, [2]), flags(6, [4]),
            size=0.5, fee=FEE, long_short=True)
    u1 = 0.5 * 10_000 / (100 * 1.001)                 # bar 1: buy, spends 5000 incl. fee
    cash = 10_000 - u1 * 100 * 1.001
    assert cash == approx(5_000)
    cash += u1 * 110 * 0.999                          # bar 3: sell the long at 110 ...
    assert cash == lit(10489.010989011)
    u2 = 0.5 * cash / (110 * 1.001)                   # ... and short half the equity after it
    cash += u2 * 110 * 0.999
    eq3 = cash - u2 * 106
    cash -= u2 * 100 * 1.001                          # bar 5: cover at 100
    got = orders(r)
    assert [(b, s, p) for b, s, _, p, _, _ in got] == [
        (1, 1, 100.0), (3, -1, 110.0), (3, -1, 110.0), (5, 1, 100.0)]
    assert [u for _, _, u, _, _, _ in got] == [approx(u1), approx(u1), approx(u2), approx(u2)]
    assert r.position[3] == approx(-u2)
    assert r.equity[3] == approx(eq3)
    assert r.equity[-1] == approx(cash)
    assert r.equity[-1] == lit(10955.305683328)
    # long-only ignores the short signals: bought at 100, held, marked at 101
    r = run(o, h, lo, c, flags(6, [0]), None, flags(6, [2]), flags(6, [4]), size=0.5, fee=FEE)
    assert len(r.records) == 1 and r.equity[-1] == approx(5_000 + u1 * 101)


def test_nan_prelisting_bars():
    nan = np.nan
    o = np.array([nan, nan, 100.0, 102.0, 104.0])
    c = np.array([nan, nan, 101.0, 103.0, 105.0])
    h, lo = c + 1, o - 1
    # entries on the unlisted bars 0-1 do nothing; the one at bar 2 fills at bar 3's open
    r = run(o, h, lo, c, flags(5, [0, 1, 2]), fee=FEE)
    assert [(b, p) for b, _, _, p, _, _ in orders(r)] == [(3, 102.0)]
    assert r.equity.tolist()[:3] == [10_000, 10_000, 10_000]
    assert r.equity[-1] == approx(10_000 * 105 / (102 * 1.001))
    # an order pending into a bar without a price is dropped; equity carries over that bar
    o2, c2 = o.copy(), c.copy()
    o2[3] = c2[3] = np.nan
    r = run(o2, c2 + 1, o2 - 1, c2, flags(5, [2]), fee=FEE)
    assert len(r.records) == 0 and r.equity.tolist() == [10_000] * 5


# ----------------------------------------------------------- reference loop, property test

def random_market(rng, n, n_nan):
    ret = rng.normal(0, 0.03, n)
    close = 100 * np.exp(np.cumsum(ret))
    gap = rng.normal(0, 0.01, n) * (rng.random(n) < 0.3) * 3
    open_ = np.r_[100.0, close[:-1]] * np.exp(gap)
    hi = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.02, n)))
    lo = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.02, n)))
    for a in (open_, hi, lo, close):
        a[:n_nan] = np.nan
    return open_, hi, lo, close


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 80), n_nan=st.integers(0, 5),
       p_sig=st.floats(0.05, 0.5),
       fee=st.sampled_from([0.0, 0.001, 0.0025]), slip=st.sampled_from([0.0, 0.0005, 0.002]),
       sl=st.sampled_from([None, 0.02, 0.05]), tp=st.sampled_from([None, 0.03, 0.1]),
       ts=st.sampled_from([None, 0.02, 0.04]), fill_at_close=st.booleans(),
       long_short=st.booleans(), sizing=st.sampled_from(["all_in", "fixed", "random"]))
def test_kernel_equals_reference(seed, n, n_nan, p_sig, fee, slip, sl, tp, ts, fill_at_close,
                                 long_short, sizing):
    rng = np.random.default_rng(seed)
    o, h, lo, c = random_market(rng, n, min(n_nan, n - 1))
    sig = [rng.random(n) < p_sig for _ in range(4)]
    size = {"all_in": np.ones(n), "fixed": np.full(n, 0.4),
            "random": rng.choice([np.nan, 0.0, 0.3, 0.8, 1.0, 1.5], n)}[sizing]
    r = run(o, h, lo, c, *sig, size=size, fee=fee, slippage=slip, stop_loss=sl,
            take_profit=tp, trailing_stop=ts, fill_at_close=fill_at_close,
            long_short=long_short)
    eq, ref_orders = reference(o, h, lo, c, *sig, size, 10_000.0, fee, slip, sl, tp, ts,
                               fill_at_close, long_short)
    np.testing.assert_allclose(r.equity, eq, rtol=1e-9, atol=1e-9)
    got = orders(r)
    assert len(got) == len(ref_orders)
    for g, e in zip(got, ref_orders, strict=True):
        assert g[:2] == e[:2] and g[5] == REASONS[e[5]]
        np.testing.assert_allclose(g[2:5], e[2:5], rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------------ step vs simulate

@pytest.mark.parametrize("seed", range(5))
def test_bar_by_bar_from_saved_states_equals_whole_history(seed):
    rng = np.random.default_rng(seed)
    n = 120
    o, h, lo, c = random_market(rng, n, 3)
    sig = [rng.random(n) < 0.2 for _ in range(4)]
    size = rng.choice([0.5, 1.0], n)
    params = dict(fee=0.001, slippage=0.0005, stop_loss=0.04, take_profit=0.08,
                  trailing_stop=0.03, fill_at_close=bool(seed % 2), long_short=True)
    whole = run(o, h, lo, c, *sig, size=size, **params)
    assert len(whole.records) > 5
    prm = make_params(**params)
    block = signal_array(n, 1, entries=sig[0], exits=sig[1], short_entries=sig[2],
                         short_exits=sig[3], size=size)
    a, x = init_account(10_000.0), init_assets(1)
    buf = np.empty((MAX_REC_PER_ASSET, N_REC))
    recs, eq, pos = [], [], []
    for i in range(n):
        a, x = a.copy(), x.copy()  # resume every bar from a saved copy of the state
        m = step(a, x, block[i], o[i:i + 1], h[i:i + 1], lo[i:i + 1], c[i:i + 1], i, prm, buf)
        recs.extend(buf[:m].copy())
        eq.append(a[A_EQUITY])
        pos.append(x[0, X_POS])
    assert np.array_equal(np.array(eq), whole.equity)
    assert np.array_equal(np.array(pos), whole.position)
    assert np.array_equal(np.array(recs).reshape(-1, N_REC), whole.records, equal_nan=True)
    assert a[A_CASH] == whole.cash[-1]


# ------------------------------------------------------------------------ vectorbt oracle

@pytest.mark.parametrize(("size", "seed"), [(np.inf, 0), (np.inf, 1), (0.6, 2), (0.6, 3)])
def test_vectorbt_oracle_long_only_next_open(size, seed):
    vbt = pytest.importorskip("vectorbt")
    rng = np.random.default_rng(seed)
    n = 200
    o, h, lo, c = random_market(rng, n, 0)
    entries, exits = rng.random(n) < 0.1, rng.random(n) < 0.1
    fee, slip = 0.001, 0.0005
    r = run(o, h, lo, c, entries, exits, size=1.0 if np.isinf(size) else size,
            fee=fee, slippage=slip)
    # vectorbt: signals shifted to their fill bar, filled at that bar's open
    shift = lambda a: np.r_[False, a[:-1]]  # noqa: E731
    pf = vbt.Portfolio.from_signals(
        close=c, entries=shift(entries), exits=shift(exits), price=o, fees=fee,
        slippage=slip, init_cash=10_000.0, size=size,
        size_type="amount" if np.isinf(size) else "percent")
    np.testing.assert_allclose(r.equity, pf.value().to_numpy(), rtol=1e-9)
    rec = pf.orders.records
    assert len(rec) == len(r.records) > 4
    got = np.array(orders(r))
    np.testing.assert_array_equal(rec["idx"], got[:, 0])
    np.testing.assert_array_equal(np.where(rec["side"] == 0, 1.0, -1.0), got[:, 1])
    np.testing.assert_allclose(rec["size"], got[:, 2], rtol=1e-9)
    np.testing.assert_allclose(rec["price"], got[:, 3], rtol=1e-12)
    np.testing.assert_allclose(rec["fees"], got[:, 4], rtol=1e-9)


def test_sim_state_resumed_from_bytes_every_bar_equals_the_backtest():
    """The paper broker's path: a SimState persisted and restored after every bar."""
    from quantlab.backtesting.sim import SimState

    rng = np.random.default_rng(11)
    n, k = 150, 3
    mk = [random_market(rng, n, 2 + j) for j in range(k)]
    o, h, lo, c = (np.column_stack([m[f] for m in mk]) for f in range(4))
    ent, ext, se, sx = (rng.random((n, k)) < 0.15 for _ in range(4))
    size = rng.choice([0.2, 0.3], (n, k))
    params = dict(fee=0.001, slippage=0.0005, stop_loss=0.05, trailing_stop=0.04,
                  take_profit=0.1, long_short=True)
    whole = run(o, h, lo, c, ent, ext, se, sx, size=size, **params)
    assert len(whole.records) > 20
    blob = SimState.new(k, 10_000.0, make_params(**params)).to_bytes()
    recs, eq = [], []
    for i in range(n):
        state = SimState.from_bytes(blob)
        recs.append(state.step(o[i], h[i], lo[i], c[i], entries=ent[i], exits=ext[i],
                               short_entries=se[i], short_exits=sx[i], size=size[i]))
        eq.append(state.equity)
        blob = state.to_bytes()
    assert np.array_equal(np.array(eq), whole.equity)
    assert np.array_equal(np.concatenate(recs), whole.records, equal_nan=True)
    assert np.array_equal(state.positions, whole.position[-1])


def test_sim_state_refuses_bad_input():
    from quantlab.backtesting.sim import SimState
    from quantlab.errors import DataError

    state = SimState.new(2, 1_000.0, make_params())
    with pytest.raises(DataError, match="open needs 2 value"):
        state.step([1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0])
    with pytest.raises(DataError, match="unknown signal 'entry'"):
        state.step([1.0] * 2, [1.0] * 2, [1.0] * 2, [1.0] * 2, entry=[True, False])
    with pytest.raises(DataError, match="not a saved simulator state"):
        SimState.from_bytes(b"garbage")
