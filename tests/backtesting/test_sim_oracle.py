"""vectorbt as a test oracle for the event-ordered simulator (quantlab.backtesting.sim).

Where vectorbt's rules equal ours the fills and the equity must be identical (rtol 1e-9);
where they differ by design a hand-sized fixture shows exactly where and by how much.
vectorbt is imported inside the tests only: it is an oracle, not a dependency of the
backtest path (the last test checks that ``quantlab.backtest`` never imports it).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import quantlab as ql
from quantlab.backtesting.sim import REASON_SIGNAL, REASON_STOP_LOSS, run
from quantlab.backtesting.sim.kernel import REC_BAR, REC_SIDE, REC_SIZE

INIT = 10_000.0


def random_market(rng: np.random.Generator, n: int, n_nan: int) -> tuple[np.ndarray, ...]:
    """Random OHLC path (gaps at some opens), the first ``n_nan`` bars unlisted (NaN)."""
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, n)))
    gap = rng.normal(0, 0.03, n) * (rng.random(n) < 0.3)
    open_ = np.r_[100.0, close[:-1]] * np.exp(gap)
    hi = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.02, n)))
    lo = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.02, n)))
    for a in (open_, hi, lo, close):
        a[:n_nan] = np.nan
    return open_, hi, lo, close


def shifted(a: np.ndarray, fill: float | bool = False) -> np.ndarray:
    """``a`` moved one bar later: a decision at bar t's close is vectorbt's order at bar t+1."""
    out = np.empty_like(a)
    out[0] = fill
    out[1:] = a[:-1]
    return out


def flags(n: int, at: list[int]) -> np.ndarray:
    return np.isin(np.arange(n), at)


def bars(rows: list[list[float]]) -> tuple[np.ndarray, ...]:
    a = np.array(rows, dtype=float)
    return a[:, 0], a[:, 1], a[:, 2], a[:, 3]


def approx(x: object) -> object:
    return pytest.approx(x, rel=1e-12, abs=1e-9)


# ------------------------------------------------------ long-only signals: identical fills

@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 150), n_nan=st.integers(0, 6),
       p_sig=st.floats(0.03, 0.5), fee=st.sampled_from([0.0, 0.001, 0.0025]),
       slip=st.sampled_from([0.0, 0.0005, 0.003]),
       size=st.sampled_from([np.inf, 0.25, 0.6, 0.95]))
def test_long_only_signals_equal_vectorbt(seed, n, n_nan, p_sig, fee, slip, size):
    vbt = pytest.importorskip("vectorbt")
    rng = np.random.default_rng(seed)
    o, h, lo, c = random_market(rng, n, min(n_nan, n - 1))
    entries, exits = rng.random(n) < p_sig, rng.random(n) < p_sig
    ours = run(o, h, lo, c, entries, exits, size=1.0 if np.isinf(size) else size,
               fee=fee, slippage=slip, init_cash=INIT)
    # vectorbt: the decision of bar t is an order at bar t+1's open. Signals on unlisted bars
    # (no close to decide on) are ignored by us, so they are dropped before shifting.
    # All-in is vectorbt's size=inf amount; a fraction < 1 of *equity* (ours) equals
    # vectorbt's percent of *cash* (fee included) because long-only entries happen while flat.
    listed = ~np.isnan(c)
    pf = vbt.Portfolio.from_signals(
        close=c, entries=shifted(entries & listed), exits=shifted(exits & listed), price=o,
        fees=fee, slippage=slip, init_cash=INIT, size=size,
        size_type="amount" if np.isinf(size) else "percent", freq="1D")
    np.testing.assert_allclose(ours.equity, pf.value().to_numpy(), rtol=1e-9)
    rec = pf.orders.records
    assert len(rec) == len(ours.records)
    if len(rec):
        got = ours.records
        np.testing.assert_array_equal(rec["idx"], got[:, REC_BAR])
        np.testing.assert_array_equal(np.where(rec["side"] == 0, 1.0, -1.0), got[:, REC_SIDE])
        np.testing.assert_allclose(rec["size"], got[:, REC_SIZE], rtol=1e-9)
        np.testing.assert_allclose(rec["price"], got[:, 4], rtol=1e-12)
        np.testing.assert_allclose(rec["fees"], got[:, 5], rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------- target weights, shared cash

def _weight_market(seed: int, n: int, k: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    mk = [random_market(rng, n, nn) for nn in [0] * (k - 1) + [int(rng.integers(0, n // 3))]]
    return tuple(np.column_stack([m[i] for m in mk]) for i in range(4))  # type: ignore[return-value]


def _vbt_targets(vbt, o, c, w, fee, slip):
    ws = shifted(w, np.nan)
    ws[np.isnan(o)] = np.nan   # an order into an unpriced bar is dropped (ours: same)
    return vbt.Portfolio.from_orders(
        close=c, size=ws, size_type="targetpercent", price=o, fees=fee, slippage=slip,
        init_cash=INIT, cash_sharing=True, group_by=True, call_seq="auto", freq="1D")


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(5, 120), k=st.integers(2, 4),
       p_rebalance=st.floats(0.1, 1.0), fee=st.sampled_from([0.0, 0.001, 0.003]),
       slip=st.sampled_from([0.0, 0.001]))
def test_target_weights_equity_equals_vectorbt(seed, n, k, p_rebalance, fee, slip):
    """Our rebalance: units = weight x equity-before-the-rebalance / open, cuts (sells) before
    adds, buys capped at the cash. vectorbt's targetpercent with cash sharing and call_seq
    "auto" does the same (value at the open, sells first), so while the cash cap does not
    bind (weights sum to 0.95 here, fees stay below the 5 % cash) the equity is identical.
    When it binds the two differ by design (test_target_weights_capped_buy_order_differs)."""
    vbt = pytest.importorskip("vectorbt")
    o, h, lo, c = _weight_market(seed, n, k)
    rng = np.random.default_rng(seed + 1)
    w = 0.95 * rng.dirichlet(np.ones(k), n)
    w[rng.random(n) > p_rebalance] = np.nan
    w[np.isnan(c) & ~np.isnan(w)] = 0.0      # no weight on an unlisted asset
    ours = run(o, h, lo, c, weight=w, fee=fee, slippage=slip, target_mode=True, init_cash=INIT)
    pf = _vbt_targets(vbt, o, c, w, fee, slip)
    np.testing.assert_allclose(ours.equity, pf.value().to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(ours.cash, pf.cash().to_numpy(), rtol=1e-9, atol=1e-6)


def test_target_weights_capped_buy_order_differs_from_vectorbt():
    """Fully invested with fees, the last buy is capped by the cash. We fill the adds in
    column order (asset 0 gets its full target, asset 1 the rest); vectorbt's call_seq="auto"
    sorts them by order value, smallest first (asset 1 in full, asset 0 capped)."""
    vbt = pytest.importorskip("vectorbt")
    o = np.array([[100.0, 100.0], [100.0, 100.0], [110.0, 100.0]])
    c, h, lo = o.copy(), o + 1, o - 1
    w = np.array([[0.6, 0.4], [np.nan, np.nan], [np.nan, np.nan]])
    fee = 0.01
    ours = run(o, h, lo, c, weight=w, fee=fee, target_mode=True)
    # Ours at bar 1: asset 0 buys 0.6 x 10,000 / 100 = 60 units for 6,060 (fee 1 %); the
    # 3,940 left buy 3,940 / 101 = 39.00990099 units of asset 1 (target 40).
    assert ours.position[1].tolist() == [approx(60.0), approx(3_940 / 101)]
    assert ours.cash[1] == approx(0.0)
    # vectorbt: asset 1 first (4,000 < 6,000): 40 units for 4,040, then 5,960 / 101
    # = 59.00990099 units of asset 0.
    pf = _vbt_targets(vbt, o, c, w, fee, 0.0)
    assert pf.assets().iloc[1].tolist() == [approx(5_960 / 101), approx(40.0)]
    # Both spent all the cash, so bar 1's equity agrees; bar 2 (asset 0 closes at 110):
    # ours 60 x 110 + 39.0099 x 100 = 10,500.990099; vectorbt 59.0099 x 110 + 40 x 100
    # = 10,491.089109; difference 0.990099 x 110 - 0.990099 x 100 = 9.900990099.
    assert ours.equity[1] == approx(pf.value().iloc[1])
    assert ours.equity[2] == approx(6_600 + 3_940 / 101 * 100)
    assert pf.value().iloc[2] == approx(5_960 / 101 * 110 + 4_000)
    assert ours.equity[2] - pf.value().iloc[2] == pytest.approx(9.900990099, abs=1e-8)


CUT = (np.array([100.0, 100.0, 130.0, 130.0]), np.array([0.75, 0.3, np.nan, np.nan]))


def test_target_cut_is_one_order():
    # Weight 0.75 at bar 0 -> bar 1 buys 0.75 x 10,000 / 100 = 75 units (no fee), cash 2,500.
    # Weight 0.3 at bar 1 -> bar 2 (open 130): equity 2,500 + 75 x 130 = 12,250, target
    # 0.3 x 12,250 / 130 = 28.269230769 units: one sell of 46.730769231 units, nothing else.
    o, w = CUT
    r = run(o, o + 1, o - 1, o, weight=w, target_mode=True)
    bar2 = r.records[r.records[:, REC_BAR] == 2]
    assert r.position[2] == approx(0.3 * 12_250 / 130)
    assert bar2[0, REC_SIZE] == approx(75 - 0.3 * 12_250 / 130)
    assert len(bar2) == 1, bar2[:, :6]


def test_target_cut_records_no_rejection_under_min_amount():
    o, w = CUT
    r = run(o, o + 1, o - 1, o, weight=w, target_mode=True, min_amount=0.001)
    assert r.position[2] == approx(0.3 * 12_250 / 130)
    assert (r.records[:, 7] == 0).all(), r.records[:, :8]


def test_target_add_with_slippage_spends_all_cash():
    vbt = pytest.importorskip("vectorbt")
    # Weight 0.5 at bar 0 -> bar 1 (open 100, slippage 1 %): buy 0.5 x 10,000 / 100 = 50 units
    # at 101, cash 10,000 - 5,050 = 4,950. Weight 1 at bar 1 -> bar 2 (open 100): equity
    # 4,950 + 50 x 100 = 9,950, target 99.5 units, i.e. buy 49.5 at 101 = 4,999.5 > cash:
    # capped at the cash, 4,950 / 101 = 49.00990099 units, cash 0 (what vectorbt does).
    o = np.array([100.0, 100.0, 100.0, 100.0])
    c, h, lo = o.copy(), o + 1, o - 1
    w = np.array([0.5, 1.0, np.nan, np.nan])
    r = run(o, h, lo, c, weight=w, target_mode=True, slippage=0.01)
    pf = _vbt_targets(vbt, o[:, None], c[:, None], w[:, None], 0.0, 0.01)
    assert pf.cash().iloc[2] == approx(0.0)
    # (a cap that valued the units held at the slipped price left 50 = 50 x 100 x 0.01 unspent)
    assert r.records[1, REC_SIZE] == approx(4_950 / 101)
    assert r.cash[2] == approx(0.0)


# ------------------------------------------------------ where the rules differ by design

def test_stop_loss_in_the_entry_bar_differs_from_vectorbt():
    vbt = pytest.importorskip("vectorbt")
    # Entry decided at bar 0 fills at bar 1's open 100; stop-loss 5 % -> 95.
    o, h, lo, c = bars([[100, 101, 99, 100],
                        [100, 101, 94, 96],      # the entry bar trades down to 94
                        [96, 97, 95.5, 96],
                        [96, 97, 90, 92]])
    ours = run(o, h, lo, c, flags(4, [0]), stop_loss=0.05)
    # Ours: the open fill came first, then the low 94 reached 95 -> out at 95 in bar 1.
    assert ours.records[:, [REC_BAR, REC_SIDE, 4, 6]].tolist() == [
        [1, 1, 100.0, REASON_SIGNAL], [1, -1, 95.0, REASON_STOP_LOSS]]
    assert ours.equity.tolist() == [INIT, approx(9_500), approx(9_500), approx(9_500)]
    # vectorbt checks stops only from the bar after the entry: bar 2 (low 95.5) holds,
    # bar 3 (low 90) exits at the stop level 95: the 100 units lost 4 x 100 more at bar 1's
    # close (96) and exit one bar later at the same 95.
    pf = vbt.Portfolio.from_signals(
        close=c, entries=shifted(flags(4, [0])), exits=np.zeros(4, bool), price=o, open=o,
        high=h, low=lo, sl_stop=0.05, stop_entry_price="fillprice", init_cash=INIT,
        size=np.inf, freq="1D")
    rec = pf.orders.records
    assert rec["idx"].tolist() == [1, 3] and rec["price"].tolist() == [100.0, approx(95.0)]
    assert pf.value().tolist() == [INIT, approx(9_600), approx(9_600), approx(9_500)]


def test_exit_at_the_open_before_the_stop_differs_from_vectorbt():
    vbt = pytest.importorskip("vectorbt")
    # Entry at bar 0 -> bought at bar 1's open 100 (stop 95); exit signal at bar 1's close.
    # Bar 2 opens at 98 and later trades down to 94 (through the stop level 95).
    o, h, lo, c = bars([[100, 101, 99, 100],
                        [100, 101, 99, 100],
                        [98, 99, 94, 96],
                        [96, 97, 95.5, 96]])
    ours = run(o, h, lo, c, flags(4, [0]), flags(4, [1]), stop_loss=0.05)
    # Ours, in time order: the exit order fills at bar 2's open 98, before the low reaches 95.
    assert ours.records[1, [REC_BAR, 4, 6]].tolist() == [2, 98.0, REASON_SIGNAL]
    assert ours.equity[-1] == approx(100 * 98)              # 9,800
    # vectorbt lets the stop win inside bar 2 and sells at 95: 300 less.
    pf = vbt.Portfolio.from_signals(
        close=c, entries=shifted(flags(4, [0])), exits=shifted(flags(4, [1])), price=o, open=o,
        high=h, low=lo, sl_stop=0.05, stop_entry_price="fillprice", init_cash=INIT,
        size=np.inf, freq="1D")
    rec = pf.orders.records
    assert rec["idx"].tolist() == [1, 2] and rec["price"][1] == approx(95.0)
    assert pf.value().iloc[-1] == approx(100 * 95)         # 9,500
    assert ours.equity[-1] - pf.value().iloc[-1] == approx(300.0)


def test_long_short_percent_reverses_where_vectorbt_only_closes():
    vbt = pytest.importorskip("vectorbt")
    o = np.array([100.0, 100.0, 110.0, 120.0, 130.0])
    c, h, lo = o.copy(), o + 1, o - 1
    entries, short_entries = flags(5, [0]), flags(5, [2])
    ours = run(o, h, lo, c, entries, None, short_entries, None, size=0.5, long_short=True)
    # Bar 1: long 0.5 x 10,000 / 100 = 50 units, cash 5,000.
    # Bar 3 (open 120): sell the 50 -> cash 11,000 = equity; then short 0.5 x 11,000 / 120
    # = 45.833333333 units (cash 16,500). Bar 4 close 130: 16,500 - 45.8333 x 130 = 10,541.67.
    got = ours.records[:, [REC_BAR, REC_SIDE, REC_SIZE, 4]]
    assert got.tolist() == [[1, 1, 50.0, 100.0], [3, -1, 50.0, 120.0],
                            [3, -1, approx(5_500 / 120), 120.0]]
    assert ours.equity.tolist() == [INIT, INIT, approx(10_500), approx(11_000),
                                    approx(16_500 - 5_500 / 120 * 130)]
    assert ours.equity[-1] == pytest.approx(10_541.666666667, abs=1e-8)
    # vectorbt (upon_opposite_entry="close"): the short entry only closes the long -> flat at
    # 11,000 and stays there.
    pf = vbt.Portfolio.from_signals(
        close=c, entries=shifted(entries), exits=np.zeros(5, bool),
        short_entries=shifted(short_entries), short_exits=np.zeros(5, bool), price=o,
        init_cash=INIT, size=0.5, size_type="percent", upon_opposite_entry="close", freq="1D")
    rec = pf.orders.records
    assert rec["idx"].tolist() == [1, 3] and rec["size"].tolist() == [50.0, 50.0]
    assert pf.value().tolist() == [INIT, INIT, approx(10_500), approx(11_000), approx(11_000)]


# --------------------------------------------------------------- BacktestResult.to_vectorbt

def _check_vbt_view(res) -> None:
    pf = res.to_vectorbt()
    value = pf.value()
    np.testing.assert_allclose(np.asarray(value, dtype=float).reshape(-1), res.equity.to_numpy(),
                               rtol=1e-9)
    assert int(np.sum(np.asarray(pf.orders.count()))) == len(res.orders) > 0


def test_to_vectorbt_one_asset(btc: pd.DataFrame) -> None:
    res = ql.backtest("sma_cross", btc, params={"fast": 10, "slow": 50}, fees_bps=10,
                      slippage_bps=5, stop_loss=0.05)
    _check_vbt_view(res)


@pytest.mark.parametrize("allocation", ["sleeves", "shared"])
def test_to_vectorbt_panel_signals(panel: pd.DataFrame, allocation: str) -> None:
    res = ql.backtest("sma_cross", panel, params={"fast": 10, "slow": 50}, fees_bps=10,
                      allocation=allocation, sizing="fixed_fraction", fraction=0.3)
    assert res.orders["symbol"].nunique() == panel["close"].shape[1]
    _check_vbt_view(res)


def test_to_vectorbt_target_weights(panel: pd.DataFrame) -> None:
    res = ql.backtest("momentum_rotation", panel, params={"lookback": 30, "top_k": 2},
                      fees_bps=10)
    _check_vbt_view(res)


def test_backtest_does_not_import_vectorbt() -> None:
    code = textwrap.dedent("""
        import sys
        import quantlab
        res = quantlab.backtest("sma_cross", quantlab.load_sample("BTC/USDT"),
                                params={"fast": 10, "slow": 50}, stop_loss=0.05)
        res.stats(); res.trades; res.orders
        assert len(res.orders) > 0
        print("vectorbt" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout + out.stderr
