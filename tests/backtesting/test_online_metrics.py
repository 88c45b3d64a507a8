"""Streaming accumulators (backtesting/sim/online.py) against the vectorized metrics.py:
hand-computed fixtures, hypothesis properties on awkward equity curves and trade tables, and a
numba ``prange`` driver scoring a (bars x runs) matrix as the sweep kernel will."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit, prange

from quantlab.backtesting import metrics
from quantlab.backtesting.sim import online
from quantlab.backtesting.sim.online import (
    N_ACC,
    N_STATS,
    acc_bar,
    acc_fee,
    acc_finish,
    acc_init,
    acc_trade_closed,
    acc_trade_opened,
)

RTOL, ATOL = 1e-9, 1e-12


def stream(equity, init_cash, ppy, bar_days, exposed=None, trades=(), fees=(), events=None):
    """Feed one run through the accumulator from Python; returns the N_STATS output row.

    ``trades`` is a list of (pnl, closed); ``events`` optionally gives, per trade and per fee,
    the bar after which it is reported (results must not depend on it).
    """
    n = len(equity)
    exposed = np.zeros(n, bool) if exposed is None else exposed
    acc = np.full(N_ACC, 12345.0)  # garbage: acc_init must reset every slot
    acc_init(acc, init_cash)
    at: dict[int, list] = {}
    for j, item in enumerate([("t", t) for t in trades] + [("f", f) for f in fees]):
        at.setdefault(0 if events is None else events[j], []).append(item)
    for i in range(n):
        acc_bar(acc, equity[i], exposed[i])
        for kind, x in at.get(i, []):
            if kind == "f":
                acc_fee(acc, x)
            else:
                acc_trade_opened(acc)
                if x[1]:
                    acc_trade_closed(acc, x[0])
    out = np.full(N_STATS, -999.0)
    acc_finish(acc, out, init_cash, ppy, bar_days)
    return out


def vectorized(equity, init_cash, ppy, bar_days, exposed=None, trades=(), fees=()):
    """The same 13 numbers from metrics.py (as result.py / sweep.py assemble them)."""
    n = len(equity)
    exposed = np.zeros(n, bool) if exposed is None else np.asarray(exposed, bool)
    with warnings.catch_warnings():  # one bar: numpy warns "Degrees of freedom <= 0"
        warnings.simplefilter("ignore", RuntimeWarning)
        es = metrics.equity_stats(np.asarray(equity, float), init_cash, ppy, bar_days)
    pnl = np.array([t[0] for t in trades], float)
    closed = np.array([t[1] for t in trades], bool)
    ts = metrics.trade_stats(pnl, closed, np.zeros(len(trades), np.int64), 1)
    row = {**{k: float(np.atleast_1d(v)[0]) for k, v in es.items()},
           **{k: float(v[0]) for k, v in ts.items()},
           "exposure": float(exposed.mean()), "fees_paid": float(np.sum(fees))}
    return np.array([row[name] for name in metrics.STAT_NAMES])


def assert_same(got, want):
    for k, name in enumerate(metrics.STAT_NAMES):
        g, w = got[k], want[k]
        assert np.isnan(g) == np.isnan(w), (name, g, w)
        assert np.isinf(g) == np.isinf(w), (name, g, w)
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL, err_msg=name)


# --- layout ---------------------------------------------------------------------------------

def test_output_indices_follow_stat_names() -> None:
    assert N_STATS == len(metrics.STAT_NAMES) == 13
    for k, name in enumerate(metrics.STAT_NAMES):
        assert getattr(online, "O_" + name.upper()) == k
    slots = [getattr(online, a) for a in online.__all__ if a.startswith("A_")]
    assert sorted(slots) == list(range(N_ACC))


# --- hand-computed fixtures -----------------------------------------------------------------

def test_by_hand_four_bars() -> None:
    eq = np.array([100.0, 110.0, 99.0, 120.0])
    exposed = np.array([False, True, True, False])
    # returns: 100/100-1 = 0, 110/100-1 = 0.1, 99/110-1 = -0.1, 120/99-1 = 7/33
    r = np.array([0.0, 0.1, -0.1, 7 / 33])
    mean = (7 / 33) / 4                                   # the +-0.1 cancel
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / 3)   # ddof=1
    down = math.sqrt(0.01 / 4)                            # only -0.1 is below 0
    # peak 100, 110, 110, 120 -> drawdown 0, 0, 1 - 99/110 = 0.1, 0: max 0.1, one bar under
    # growth 1.2 over 4 bars of 365 a year: cagr = 1.2 ** (365/4) - 1; calmar = cagr / 0.1
    cagr = 1.2 ** (365 / 4) - 1
    # trades: +10 and -5 closed, one still open (counts in trades only): win rate 1/2, pf 2
    out = stream(eq, 100.0, 365.0, 1.0, exposed, trades=[(10.0, True), (-5.0, True),
                                                         (3.0, False)], fees=[0.25, 0.5])
    want = [0.2, cagr, sd * math.sqrt(365), mean / sd * math.sqrt(365),
            mean / down * math.sqrt(365), cagr / 0.1, 0.1, 1.0, 0.5, 2.0, 0.5, 3.0, 0.75]
    np.testing.assert_allclose(out, want, rtol=1e-12)
    assert_same(out, vectorized(eq, 100.0, 365.0, 1.0, exposed, [(10.0, True), (-5.0, True),
                                                                  (3.0, False)], [0.25, 0.5]))


def test_by_hand_duration_open_at_end_and_hourly_days() -> None:
    # peak 3 3 3 3 3 4 4: under water at bars 1-4 (4 bars), then bar 6 (open run of 1)
    eq = np.array([3.0, 2, 1, 2, 2.5, 4, 3])
    out = stream(eq, 3.0, 8760.0, 1 / 24)
    assert out[online.O_MAX_DRAWDOWN_DURATION] == pytest.approx(4 / 24)  # 4 hourly bars
    assert out[online.O_MAX_DRAWDOWN] == pytest.approx(2 / 3)             # 3 -> 1
    # open run longer than any closed one: 5 4 3 2 -> 3 bars under water, still open
    assert stream(np.array([5.0, 4, 3, 2]), 5.0, 365.0, 1.0)[online.O_MAX_DRAWDOWN_DURATION] == 3


def test_by_hand_edge_conventions() -> None:
    # one bar: ddof=1 std is NaN -> volatility and sharpe NaN; sortino defined (r = -0.5 < 0):
    # mean -0.5 / sqrt(0.25) = -1 -> -sqrt(365); calmar: drawdown of a single bar is 0 -> NaN
    out = stream(np.array([50.0]), 100.0, 365.0, 1.0)
    assert np.isnan(out[online.O_VOLATILITY]) and np.isnan(out[online.O_SHARPE])
    assert out[online.O_SORTINO] == pytest.approx(-math.sqrt(365))
    assert np.isnan(out[online.O_CALMAR]) and out[online.O_MAX_DRAWDOWN] == 0.0
    assert out[online.O_CAGR] == pytest.approx(0.5 ** 365 - 1)
    # flat curve: every return 0 -> sharpe and sortino NaN, no trades: win rate/pf NaN
    out = stream(np.full(5, 100.0), 100.0, 365.0, 1.0)
    assert out[online.O_VOLATILITY] == 0.0
    assert np.isnan(out[[online.O_SHARPE, online.O_SORTINO, online.O_WIN_RATE,
                         online.O_PROFIT_FACTOR]]).all()
    # equity hits 0 then recovers: 0/100 - 1 = -1, then x/0 is non-finite -> return 0;
    # final growth 0 -> cagr -1; drawdown 1 - 0/100 = 1
    out = stream(np.array([100.0, 0.0, 50.0]), 100.0, 365.0, 1.0)
    assert out[online.O_CAGR] == -1.0 and out[online.O_MAX_DRAWDOWN] == 1.0
    assert out[online.O_TOTAL_RETURN] == -0.5
    # wins only -> profit factor inf; zero-pnl closes count in the win rate denominator only
    out = stream(np.array([1.0, 2.0]), 1.0, 365.0, 1.0, trades=[(2.0, True), (0.0, True)])
    assert out[online.O_PROFIT_FACTOR] == np.inf and out[online.O_WIN_RATE] == 0.5
    # only zero pnl -> no wins, no losses: pf NaN, win rate 0
    out = stream(np.array([1.0]), 1.0, 365.0, 1.0, trades=[(0.0, True), (5.0, False)])
    assert np.isnan(out[online.O_PROFIT_FACTOR]) and out[online.O_WIN_RATE] == 0.0
    assert out[online.O_TRADES] == 2.0
    # init_cash 0 (or -0.0): eq[-1] / init_cash is a signed infinity, as numpy divides
    for init in (0.0, -0.0):
        eq = np.array([5.0])
        out = stream(eq, init, 365.0, 1.0)
        assert out[online.O_TOTAL_RETURN] == np.copysign(np.inf, init)
        assert_same(out, vectorized(eq, init, 365.0, 1.0))


def test_noise_level_std_is_noise_on_both_sides() -> None:
    """Documented limit: a curve growing by the same factor every bar has returns that differ
    only by rounding, so the ddof=1 std is rounding noise (~1e-17). numpy's two-pass std and
    the one-pass Welford std are then different noise: volatility agrees within ``atol`` but
    the Sharpe ratio (mean / noise, ~1e16) only in magnitude."""
    eq = 100.0 * 1.1 ** np.arange(1, 20)
    got, want = stream(eq, 100.0, 365.0, 1.0), vectorized(eq, 100.0, 365.0, 1.0)
    np.testing.assert_allclose(got[online.O_VOLATILITY], want[online.O_VOLATILITY], atol=ATOL)
    assert 0.0 < got[online.O_VOLATILITY] < 1e-13 and 0.0 < want[online.O_VOLATILITY] < 1e-13
    assert got[online.O_SHARPE] > 1e14 and want[online.O_SHARPE] > 1e14
    i = [k for k in range(N_STATS) if k != online.O_SHARPE]
    np.testing.assert_allclose(got[i], want[i], rtol=RTOL, atol=ATOL)  # everything else exact


def test_no_bars_gives_nan_equity_stats() -> None:
    acc = np.empty(N_ACC)
    acc_init(acc, 100.0)
    acc_trade_opened(acc)
    acc_trade_closed(acc, 1.0)
    acc_fee(acc, 0.1)
    out = np.empty(N_STATS)
    acc_finish(acc, out, 100.0, 365.0, 1.0)
    assert np.isnan(out[:8]).all() and np.isnan(out[online.O_EXPOSURE])
    assert out[online.O_WIN_RATE] == 1.0 and out[online.O_TRADES] == 1.0
    assert out[online.O_FEES_PAID] == 0.1


def test_nan_equity_poisons_the_peak_like_numpy() -> None:
    # np.maximum.accumulate propagates NaN: after bar 1 the peak is NaN, so later bars are never
    # "under water" and their drawdown (non-finite) is 0
    eq = np.array([100.0, np.nan, 50.0, 40.0])
    out = stream(eq, 100.0, 365.0, 1.0)
    assert out[online.O_MAX_DRAWDOWN] == 0.0 and out[online.O_MAX_DRAWDOWN_DURATION] == 0.0
    assert_same(out, vectorized(eq, 100.0, 365.0, 1.0))


# --- properties -----------------------------------------------------------------------------

_value = st.one_of(
    st.floats(-1e3, 1e4, allow_nan=False),
    st.floats(1e-3, 1e12, allow_nan=False),   # large jumps
    st.sampled_from([0.0, 100.0, 99.0, 101.0, -5.0]),
)
# (value, repeat): repeats make flat stretches
_curve = st.lists(st.tuples(_value, st.integers(1, 12)), min_size=1, max_size=60).map(
    lambda vs: np.array([v for v, k in vs for _ in range(k)][:300], float))


@st.composite
def runs(draw, special=False):
    eq = draw(_curve)
    if special:  # sprinkle NaN / +-inf into the curve
        for _ in range(draw(st.integers(1, 3))):
            eq[draw(st.integers(0, len(eq) - 1))] = draw(st.sampled_from([np.nan, np.inf,
                                                                          -np.inf]))
    n = len(eq)
    init_cash = draw(st.one_of(st.floats(1.0, 1e6), st.sampled_from([100.0, 0.0, -50.0])))
    exposed = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), bool)
    pnl = st.one_of(st.floats(-1e4, 1e4), st.just(0.0))
    trades = draw(st.lists(st.tuples(pnl, st.booleans()), max_size=30))
    fees = draw(st.lists(st.floats(0.0, 50.0), max_size=30))
    events = draw(st.lists(st.integers(0, n - 1), min_size=len(trades) + len(fees),
                           max_size=len(trades) + len(fees)))
    ppy = draw(st.sampled_from([365.0, 8760.0, 52.0, 252.0, 105120.0]))
    return eq, init_cash, exposed, trades, fees, events, ppy


@settings(max_examples=200, deadline=None)
@given(runs())
def test_streaming_equals_vectorized(case) -> None:
    eq, init_cash, exposed, trades, fees, events, ppy = case
    bar_days = 365.0 / ppy
    got = stream(eq, init_cash, ppy, bar_days, exposed, trades, fees, events)
    assert_same(got, vectorized(eq, init_cash, ppy, bar_days, exposed, trades, fees))


@settings(max_examples=200, deadline=None)
@given(runs(special=True))
def test_streaming_equals_vectorized_with_nan_inf_equity(case) -> None:
    eq, init_cash, exposed, trades, fees, events, ppy = case
    got = stream(eq, init_cash, ppy, 1.0, exposed, trades, fees, events)
    assert_same(got, vectorized(eq, init_cash, ppy, 1.0, exposed, trades, fees))


# --- inside a prange kernel, as the sweep will call it ---------------------------------------

@njit(parallel=True)
def _score_matrix(equity, exposed, init_cash, ppy, bar_days):  # pragma: no cover - compiled
    n, runs_ = equity.shape
    out = np.empty((runs_, N_STATS))
    for j in prange(runs_):
        acc = np.empty(N_ACC)
        acc_init(acc, init_cash)
        for i in range(n):
            acc_bar(acc, equity[i, j], exposed[i, j])
            if i % 7 == 0:
                acc_trade_opened(acc)
                acc_trade_closed(acc, equity[i, j] - init_cash)
                acc_fee(acc, 0.001 * abs(equity[i, j]))
        acc_finish(acc, out[j], init_cash, ppy, bar_days)
    return out


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's one-bar ddof=1 std
@settings(max_examples=30, deadline=None)
@given(st.integers(1, 250), st.integers(2, 16), st.integers(0, 2**32 - 1))
def test_prange_matrix_equals_vectorized_matrix(n, runs_, seed) -> None:
    rng = np.random.default_rng(seed)
    equity = 1000.0 * np.cumprod(rng.lognormal(0.0, 0.05, (n, runs_)), axis=0)
    equity[rng.random((n, runs_)) < 0.05] = 900.0  # some repeated levels
    exposed = rng.random((n, runs_)) < 0.6
    got = _score_matrix(equity, exposed, 1000.0, 365.0, 1.0)
    es = metrics.equity_stats(equity, 1000.0, 365.0, 1.0)
    rows = np.arange(0, n, 7)
    pnl = (equity[rows] - 1000.0).T.ravel()
    ts = metrics.trade_stats(pnl, np.ones(pnl.size, bool), np.repeat(np.arange(runs_), rows.size),
                             runs_)
    fees = np.bincount(np.repeat(np.arange(runs_), rows.size),
                       weights=(0.001 * np.abs(equity[rows])).T.ravel(), minlength=runs_)
    want = {**es, **ts, "exposure": exposed.mean(axis=0), "fees_paid": fees}
    for j in range(runs_):
        assert_same(got[j], np.array([float(np.atleast_1d(want[k])[j])
                                      for k in metrics.STAT_NAMES]))
    # a (bars x runs) matrix is summed row by row by numpy, in the accumulator's order: the
    # mean-based ratios then agree to the last bit, not just to 1e-9
    if n > 1:
        np.testing.assert_array_equal(got[:, online.O_SORTINO], es["sortino"])
        np.testing.assert_array_equal(got[:, online.O_MAX_DRAWDOWN], es["max_drawdown"])
        np.testing.assert_array_equal(got[:, online.O_TOTAL_RETURN], es["total_return"])
