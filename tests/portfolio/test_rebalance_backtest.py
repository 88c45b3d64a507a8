"""Rebalancing backtest: hand-computed trades and fees, policies, no lookahead, invariants, errors.

Reference values in the hand-built tests are computed step by step in the test itself from the
documented conventions (fill at the rebalance bar's close, fee = rate x traded notional, trades
sized so that new values + fees = pre-trade equity).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantlab.errors import DataError, ParameterError, QuantlabError
from quantlab.portfolio.policies import Calendar, CostAware, Policy, Threshold, period_starts
from quantlab.portfolio.rebalance_backtest import RebalanceBacktestResult, backtest_rebalancing

HALF = {"A": 0.5, "B": 0.5}


def _two_assets(a: np.ndarray, start: str = "2024-01-01") -> pd.DataFrame:
    idx = pd.date_range(start, periods=len(a), freq="D", tz="UTC", name="time")
    return pd.DataFrame({"A": np.asarray(a, float), "B": 100.0}, index=idx)


def _closes(panel: pd.DataFrame, start: str = "2020-12-01") -> pd.DataFrame:
    return panel["close"].loc[start:]


# -- hand-built 2-asset path, fixed 50/50, monthly -------------------------------------------------
def _jan_mar_path() -> pd.DataFrame:
    idx = pd.date_range("2024-01-01", "2024-03-31", freq="D", tz="UTC", name="time")
    a = pd.Series(100.0, index=idx)
    a[idx >= pd.Timestamp("2024-01-16", tz="UTC")] = 120.0
    a[idx >= pd.Timestamp("2024-02-20", tz="UTC")] = 90.0
    return pd.DataFrame({"A": a, "B": 100.0})


def test_monthly_fixed_weights_by_hand():
    prices = _jan_mar_path()
    res = backtest_rebalancing(prices, "monthly", target=HALF, fees_bps=10.0, init_cash=10_000.0)
    c = 0.001
    # initial allocation on 2024-01-01 at 100/100: all 10,000 goes into units + fees
    e0 = 10_000.0 / (1 + c)
    ua = ub = e0 / 2 / 100.0
    # 2024-02-01: A at 120, sell A / buy B back to 50/50; 2 assets at 50/50 -> traded = xA - xB
    xa, xb = ua * 120.0, ub * 100.0
    fee1 = c * (xa - xb)
    e1 = xa + xb - fee1
    qa1, qb1 = (e1 / 2 - xa) / 120.0, (e1 / 2 - xb) / 100.0
    ua, ub = ua + qa1, ub + qb1
    # 2024-03-01: A at 90, buy A / sell B
    xa, xb = ua * 90.0, ub * 100.0
    fee2 = c * (xb - xa)
    e2 = xa + xb - fee2
    qa2, qb2 = (e2 / 2 - xa) / 90.0, (e2 / 2 - xb) / 100.0

    assert list(res.rebalances) == [pd.Timestamp("2024-02-01", tz="UTC"),
                                    pd.Timestamp("2024-03-01", tz="UTC")]
    t = res.trades
    assert list(t["kind"]) == ["initial"] * 2 + ["rebalance"] * 4
    feb = t[t["date"] == pd.Timestamp("2024-02-01", tz="UTC")].set_index("symbol")
    mar = t[t["date"] == pd.Timestamp("2024-03-01", tz="UTC")].set_index("symbol")
    assert feb.loc["A", "quantity"] == pytest.approx(qa1, rel=1e-12)
    assert feb.loc["B", "quantity"] == pytest.approx(qb1, rel=1e-12)
    assert feb["fee"].sum() == pytest.approx(fee1, rel=1e-12)
    assert mar.loc["A", "quantity"] == pytest.approx(qa2, rel=1e-12)
    assert mar.loc["B", "quantity"] == pytest.approx(qb2, rel=1e-12)
    assert mar["fee"].sum() == pytest.approx(fee2, rel=1e-12)
    # literal sanity check of the first rebalance: 999.00 of drift notional -> 0.999 fee
    assert fee1 == pytest.approx(0.999000999, rel=1e-8)
    assert qa1 == pytest.approx(-4.1666667, rel=1e-6)
    # equity at the rebalance closes and the final equity
    assert res.equity["2024-02-01"] == pytest.approx(e1, rel=1e-12)
    assert res.equity["2024-03-01"] == pytest.approx(e2, rel=1e-12)
    assert res.equity.iloc[-1] == pytest.approx(e2, rel=1e-12)  # prices flat after Mar 1
    # weights are exactly 50/50 after each rebalance and drift in between
    assert res.weights.loc["2024-02-01"].to_numpy() == pytest.approx([0.5, 0.5], abs=1e-12)
    assert res.weights.loc["2024-01-20", "A"] == pytest.approx(120 / 220, rel=1e-12)
    s = res.stats()
    assert s["rebalances"] == 2
    assert s["fees_paid"] == pytest.approx(c * e0 + fee1 + fee2, rel=1e-12)
    # two-way turnover on Feb 1: |sell A| + |buy B| = u (120 - 100) of equity u 220
    assert res.turnover.iloc[0] == pytest.approx(20 / 220, rel=1e-12)
    assert s["turnover"] == pytest.approx(res.turnover.sum())


def test_spread_costs_half_per_side():
    prices = _jan_mar_path()
    a = backtest_rebalancing(prices, "monthly", target=HALF, fees_bps=10.0, spread_bps=20.0)
    b = backtest_rebalancing(prices, "monthly", target=HALF, fees_bps=20.0, spread_bps=0.0)
    pd.testing.assert_series_equal(a.equity, b.equity)
    notional = a.trades["notional"].abs()
    assert a.trades["fee"].to_numpy() == pytest.approx(0.002 * notional.to_numpy(), rel=1e-12)


def test_weekly_rebalances_on_mondays():
    prices = _two_assets(100.0 * 1.01 ** np.arange(40), start="2024-01-03")  # a Wednesday
    res = backtest_rebalancing(prices, "weekly", target=HALF)
    assert len(res.rebalances) == 5
    assert all(d.day_of_week == 0 for d in res.rebalances)
    assert res.rebalances[0] == pd.Timestamp("2024-01-08", tz="UTC")


# -- threshold ------------------------------------------------------------------------------------
def test_threshold_trades_once_the_band_is_crossed():
    a = np.linspace(100.0, 130.0, 61)
    prices = _two_assets(a)
    res = backtest_rebalancing(prices, Threshold(band=0.05), target=HALF, fees_bps=10.0)
    # without trading, A's weight is pA / (pA + 100) (equal units); first bar above 55 %:
    w_a = a / (a + 100.0)
    first_out = int(np.argmax(w_a > 0.55))
    assert 0 < first_out < len(a) - 1
    # decided on that bar's close, filled at the next bar's close
    assert list(res.rebalances) == [prices.index[first_out + 1]]
    assert res.weights["A"].iloc[: first_out + 1].max() > 0.55
    # after trading back to 50/50 at ~pA, A would need to rise another 22 % to leave the band
    assert res.weights["A"].iloc[first_out + 1:].max() < 0.55
    # a band that is never reached: no rebalance at all
    none = backtest_rebalancing(prices, Threshold(band=0.2), target=HALF)
    assert len(none.rebalances) == 0 and none.stats()["turnover"] == 0.0


def test_threshold_relative_band():
    a = np.linspace(100.0, 130.0, 61)
    prices = _two_assets(a)
    res = backtest_rebalancing(prices, Threshold(band=0.1, relative=True), target=HALF)
    w_a = a / (a + 100.0)
    first_out = int(np.argmax(np.abs(w_a - 0.5) / 0.5 > 0.1))  # same as 5 points absolute
    assert list(res.rebalances) == [prices.index[first_out + 1]]


def test_calendar_with_band_skips_small_drift():
    prices = _jan_mar_path()
    # Feb 1: A's weight 120/220 = 54.5 % (4.5 points off); Mar 1: 50 % -> 45 %, 5 points off
    wide = backtest_rebalancing(prices, "monthly", target=HALF, bands=0.06)
    assert len(wide.rebalances) == 0
    narrow = backtest_rebalancing(prices, Calendar("monthly", band=0.04), target=HALF)
    assert list(narrow.rebalances) == [pd.Timestamp("2024-02-01", tz="UTC"),
                                       pd.Timestamp("2024-03-01", tz="UTC")]


def test_cost_aware_trades_to_band_edge():
    a = np.linspace(100.0, 130.0, 61)
    prices = _two_assets(a)
    res = backtest_rebalancing(prices, CostAware(band=0.05), target=HALF, fees_bps=0.0)
    thr = backtest_rebalancing(prices, Threshold(band=0.05), target=HALF, fees_bps=0.0)
    # with trades computed from the previous close's drift, each trade lands on the edge
    # measured at that close; the weights stay within a bar's move of the band
    assert res.weights["A"].max() < 0.56
    assert res.stats()["turnover"] < thr.stats()["turnover"]
    assert len(res.rebalances) >= len(thr.rebalances)
    # halfway-to-target variant
    half = backtest_rebalancing(prices, CostAware(band=0.05, to=0.5), target=HALF, fees_bps=0.0)
    assert half.turnover.iloc[0] == pytest.approx(thr.turnover.iloc[0] / 2, rel=0.05)


def test_cost_aware_flag_equals_policy():
    prices = _two_assets(np.linspace(100.0, 160.0, 91))
    a = backtest_rebalancing(prices, "threshold", bands=0.03, cost_aware=True, target=HALF)
    b = backtest_rebalancing(prices, CostAware(band=0.03), target=HALF)
    pd.testing.assert_series_equal(a.equity, b.equity)


def test_cost_aware_turnover_not_above_threshold_or_calendar_on_panel(panel):
    closes = _closes(panel)
    eq = {s: 0.25 for s in closes.columns}
    kw = {"target": eq, "fees_bps": 10.0}
    ca = backtest_rebalancing(closes, CostAware(band=0.05), **kw).stats()
    th = backtest_rebalancing(closes, Threshold(band=0.05), **kw).stats()
    mo = backtest_rebalancing(closes, "monthly", **kw).stats()
    assert ca["turnover"] <= th["turnover"]
    assert ca["turnover"] <= mo["turnover"]
    assert ca["fees_paid"] <= th["fees_paid"]
    # and the price of it: more drift from target than the threshold policy
    assert ca["weight_drift_rms"] >= th["weight_drift_rms"]


# -- no lookahead ---------------------------------------------------------------------------------
def _inverse_vol(window: pd.DataFrame) -> pd.Series:
    iv = 1.0 / window.std()
    return iv / iv.sum()


def test_targets_use_only_past_returns(panel):
    closes = _closes(panel, "2021-01-01").iloc[:400]
    seen: list[pd.DataFrame] = []

    def spy(window: pd.DataFrame) -> pd.Series:
        seen.append(window)
        return _inverse_vol(window)

    res = backtest_rebalancing(closes, "monthly", target=spy, lookback=60)
    assert len(seen) == len(res.targets)
    for when, window in zip(res.targets.index, seen, strict=True):
        assert len(window) == 60
        assert window.index[-1] < when
        # the window ends at the bar just before the decision bar
        assert closes.index.get_loc(window.index[-1]) == closes.index.get_loc(when) - 1


@pytest.mark.parametrize("target", [_inverse_vol, "equal", "inverse_vol", "erc"])
def test_perturbing_prices_from_t_on_leaves_target_at_t_unchanged(panel, target):
    if isinstance(target, str):
        pytest.importorskip("quantlab.portfolio.optimize")
    closes = _closes(panel, "2021-01-01").iloc[:300]
    base = backtest_rebalancing(closes, "monthly", target=target, lookback=60)
    t = base.rebalances[3]
    rng = np.random.default_rng(7)
    bumped = closes.copy()
    after = bumped.index >= t
    # a different future: an extra random walk of 3 % daily moves from t on (and a jump at t)
    walk = np.exp(np.cumsum(rng.normal(0.0, 0.03, size=(after.sum(), 4)), axis=0))
    bumped.loc[after] = bumped.loc[after] * walk * 1.2
    other = backtest_rebalancing(bumped, "monthly", target=target, lookback=60)
    pd.testing.assert_series_equal(base.targets.loc[t], other.targets.loc[t])
    pd.testing.assert_frame_equal(base.targets.loc[:t], other.targets.loc[:t])
    # everything before t is identical too
    before = base.equity.index < t
    pd.testing.assert_series_equal(base.equity[before], other.equity[before])
    # the threshold decision at t uses the weights at t-1: same rebalance dates up to t
    a = backtest_rebalancing(closes, Threshold(0.03), target=_inverse_vol, lookback=60)
    b = backtest_rebalancing(bumped, Threshold(0.03), target=_inverse_vol, lookback=60)
    assert list(a.rebalances[a.rebalances <= t]) == list(b.rebalances[b.rebalances <= t])


# -- invariants -----------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", ["monthly", "weekly", Threshold(0.03), CostAware(0.03),
                                    Calendar("monthly", band=0.02)])
def test_accounting_invariants(panel, policy):
    closes = _closes(panel, "2021-01-01").iloc[:500]
    res = backtest_rebalancing(closes, policy, target=_inverse_vol, lookback=60, fees_bps=12.0,
                               spread_bps=6.0, init_cash=50_000.0)
    rate = (12.0 + 3.0) / 1e4
    t = res.trades
    # fee = rate x |notional|, notional = quantity x price, price = that bar's close
    assert t["fee"].to_numpy() == pytest.approx(rate * t["notional"].abs().to_numpy(), rel=1e-12)
    assert t["notional"].to_numpy() == pytest.approx((t["quantity"] * t["price"]).to_numpy())
    fills = closes.stack().reindex(pd.MultiIndex.from_arrays([t["date"], t["symbol"]]))
    assert t["price"].to_numpy() == pytest.approx(fills.to_numpy(), rel=1e-15)
    # equity = cash + holdings x price at every bar; cash stays ~0 (fully invested)
    marked = res.cash + (res.holdings * res.prices).sum(axis=1)
    assert res.equity.to_numpy() == pytest.approx(marked.to_numpy(), rel=1e-12)
    assert res.cash.abs().max() < 1e-6 * res.equity.min()
    assert res.weights.sum(axis=1).to_numpy() == pytest.approx(1.0, abs=1e-9)
    # the only money leaving the portfolio is fees: equity change = holdings P&L - fees
    pnl = (res.holdings.shift(1) * res.prices.diff()).sum(axis=1)
    fees = t.groupby("date")["fee"].sum().reindex(res.equity.index, fill_value=0.0)
    change = res.equity.diff()
    change.iloc[0] = res.equity.iloc[0] - 50_000.0
    assert change.to_numpy() == pytest.approx((pnl - fees).to_numpy(), abs=1e-6)
    s = res.stats()
    assert s["fees_paid"] == pytest.approx(t["fee"].sum())
    reb = t[t["kind"] == "rebalance"]
    assert s["rebalances"] == reb["date"].nunique() == len(res.rebalances)
    pre = res.equity.reindex(res.rebalances) + fees.reindex(res.rebalances)
    gross = reb.groupby("date")["notional"].apply(lambda x: x.abs().sum())
    assert res.turnover.to_numpy() == pytest.approx((gross / pre).to_numpy(), rel=1e-9)
    assert s["turnover_annual"] == pytest.approx(s["turnover"] / (len(res.equity) / 365.0))


def test_zero_fees_full_rebalance_weights_equal_targets(panel):
    closes = _closes(panel, "2021-01-01").iloc[:300]
    res = backtest_rebalancing(closes, "monthly", target=_inverse_vol, lookback=30, fees_bps=0.0)
    post = res.weights.loc[res.rebalances]
    tgt = res.targets.loc[res.rebalances]
    np.testing.assert_allclose(post.to_numpy(), tgt.to_numpy(), atol=1e-12)
    assert res.stats()["fees_paid"] == 0.0


def test_tracking_error_zero_when_never_drifting():
    prices = _two_assets(np.full(60, 100.0))
    res = backtest_rebalancing(prices, "monthly", target=HALF, fees_bps=0.0)
    s = res.stats()
    assert s["tracking_error"] == pytest.approx(0.0, abs=1e-12)
    assert s["weight_drift_rms"] == pytest.approx(0.0, abs=1e-12)
    assert s["rebalances"] == 0  # nothing to trade on Feb 1: no rebalance recorded


def test_daily_rebalance_tracks_target_portfolio_exactly_without_costs(panel):
    closes = _closes(panel, "2021-01-01").iloc[:200]
    eq = {s: 0.25 for s in closes.columns}
    res = backtest_rebalancing(closes, "daily", target=eq, fees_bps=0.0)
    assert res.stats()["tracking_error"] == pytest.approx(0.0, abs=1e-10)
    r_target = closes.pct_change().iloc[1:].mean(axis=1)
    np.testing.assert_allclose(res.equity.pct_change().iloc[1:], r_target, atol=1e-12)


# -- bundled panel: monthly ERC -------------------------------------------------------------------
def test_monthly_erc_on_bundled_panel(panel):
    pytest.importorskip("quantlab.portfolio.optimize")
    closes = panel["close"]
    res = backtest_rebalancing(closes, "monthly", target="erc", lookback=90, start="2021-01-01")
    assert isinstance(res, RebalanceBacktestResult)
    s = res.stats()
    months = len(pd.period_range(res.equity.index[0].tz_localize(None),
                                 res.equity.index[-1].tz_localize(None), freq="M"))
    assert months - 2 <= s["rebalances"] <= months
    assert res.weights.sum(axis=1).to_numpy() == pytest.approx(1.0, abs=1e-9)
    assert res.targets.sum(axis=1).to_numpy() == pytest.approx(1.0, abs=1e-6)
    assert (res.targets > 0).all().all()
    assert all(d.day == 1 for d in res.rebalances)
    assert 0 < s["fees_paid"] < 0.05 * s["init_cash"] * (1 + s["total_return"])
    assert 0 < s["turnover_annual"] < 10
    assert 0 < s["volatility"] < 2 and 0 < s["max_drawdown"] < 1
    assert np.isfinite([s["cagr"], s["sharpe"], s["tracking_error"]]).all()
    d = res.to_dict()
    assert d["stats"]["rebalances"] == s["rebalances"]
    assert len(d["rebalance_dates"]) == s["rebalances"]
    import json

    json.dumps(d)
    assert "<table" in res._repr_html_()
    assert "ERC" in repr(res).upper()
    assert res.summary().shape == (len(s), 1)


def test_panel_input_and_fixed_weights_start_at_first_bar(panel):
    res = backtest_rebalancing(panel.loc["2021-01-01":"2021-06-30"], "monthly",
                               target=[0.4, 0.3, 0.2, 0.1])
    assert res.equity.index[0] == pd.Timestamp("2021-01-01", tz="UTC")
    assert res.targets.iloc[0].to_numpy() == pytest.approx([0.4, 0.3, 0.2, 0.1])
    assert len(res.rebalances) == 5


def test_end_and_start_bounds(panel):
    closes = _closes(panel, "2021-01-01")
    res = backtest_rebalancing(closes, "monthly", target=_inverse_vol, lookback=30,
                               start="2021-03-15", end="2021-09-30")
    assert res.equity.index[0] == pd.Timestamp("2021-03-15", tz="UTC")
    assert res.equity.index[-1] == pd.Timestamp("2021-09-30", tz="UTC")
    assert len(res.rebalances) == 6  # Apr .. Sep


# -- errors ---------------------------------------------------------------------------------------
def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and msg
    return msg


def test_unknown_policy():
    with pytest.raises(ParameterError) as exc:
        backtest_rebalancing(_jan_mar_path(), "quarterly", target=HALF)
    assert "quarterly" in _one_line(exc) and "monthly" in str(exc.value)


def test_lookback_too_long(panel):
    closes = _closes(panel, "2021-01-01").iloc[:50]
    with pytest.raises(DataError) as exc:
        backtest_rebalancing(closes, "monthly", target=_inverse_vol, lookback=90)
    assert "lookback=90" in _one_line(exc)
    with pytest.raises(DataError) as exc:
        backtest_rebalancing(closes, "monthly", target=_inverse_vol, lookback=20,
                             start="2021-01-10")
    assert "lookback=20" in _one_line(exc)


def test_nan_before_listing_names_symbol_and_valid_start(panel):
    closes = panel["close"]
    with pytest.raises(DataError) as exc:
        backtest_rebalancing(closes, "monthly", target=_inverse_vol, lookback=90)
    msg = _one_line(exc)
    assert "SOL/USDT" in msg and "start=" in msg
    # the suggested start works
    first_sol = closes["SOL/USDT"].first_valid_index()
    ok_start = closes.index[closes.index.get_loc(first_sol) + 91]
    assert str(ok_start) in msg
    res = backtest_rebalancing(closes.loc[:"2021-06-30"], "monthly", target=_inverse_vol,
                               lookback=90, start=ok_start)
    assert res.equity.index[0] == ok_start
    # one bar earlier reaches before the listing
    with pytest.raises(DataError):
        backtest_rebalancing(closes, "monthly", target=_inverse_vol, lookback=90,
                             start=closes.index[closes.index.get_loc(ok_start) - 1])


def test_nan_gap_is_an_error():
    prices = _jan_mar_path()
    prices.iloc[40, 1] = np.nan
    with pytest.raises(DataError) as exc:
        backtest_rebalancing(prices, "monthly", target=HALF)
    assert "B" in _one_line(exc) and "2024-02-10" in str(exc.value)


@pytest.mark.parametrize(("kw", "word"), [
    ({"fees_bps": -1.0}, "fees_bps"),
    ({"spread_bps": -5}, "spread_bps"),
    ({"init_cash": 0.0}, "init_cash"),
    ({"lookback": 1}, "lookback"),
    ({"lookback": 2.5}, "lookback"),
    ({"target": {"A": 0.7, "B": 0.7}}, "sum"),
    ({"target": {"A": 1.0}}, "missing B"),
    ({"target": 42}, "target"),
    ({"bands": -0.1}, "bands"),
    ({"cost_aware": True}, "cost_aware"),
    ({"start": "2024-03-01", "end": "2024-02-01"}, "start"),
    ({"start": "not a date"}, "start"),
])
def test_bad_parameters(kw, word):
    kw = {"target": HALF, **kw}
    with pytest.raises(QuantlabError) as exc:
        backtest_rebalancing(_jan_mar_path(), "monthly", **kw)
    assert word in _one_line(exc)


def test_bad_prices():
    with pytest.raises(QuantlabError, match="DataFrame"):
        backtest_rebalancing(pd.Series([1.0, 2.0]), target=HALF)
    p = _jan_mar_path()
    p.iloc[5, 0] = -1.0
    with pytest.raises(DataError, match="non-positive"):
        backtest_rebalancing(p, target=HALF)
    with pytest.raises(ParameterError, match="DatetimeIndex"):
        backtest_rebalancing(_jan_mar_path().reset_index(drop=True), target=HALF)


def test_failing_callable_target_is_reported(panel):
    def broken(window):
        raise ZeroDivisionError("boom")

    with pytest.raises(ParameterError) as exc:
        backtest_rebalancing(_closes(panel), target=broken, lookback=20)
    assert "broken" in _one_line(exc) and "boom" in str(exc.value)
    with pytest.raises(ParameterError, match="sum"):
        backtest_rebalancing(_closes(panel), target=lambda w: [1.0, 1.0, 0.0, 0.0], lookback=20)


# -- policies -------------------------------------------------------------------------------------
def test_period_starts():
    idx = pd.date_range("2024-01-30", periods=5, freq="D", tz="UTC")
    assert period_starts(idx, "monthly").tolist() == [True, False, True, False, False]
    hourly = pd.date_range("2024-01-31 22:00", periods=4, freq="h", tz="UTC")
    assert period_starts(hourly, "daily").tolist() == [True, False, True, False]


def test_policy_decide():
    p = Policy(check="daily", band=0.05, to="edge")
    assert p.decide(np.array([0.52, 0.48]), np.array([0.5, 0.5])) == 0.0
    k = p.decide(np.array([0.6, 0.4]), np.array([0.5, 0.5]))
    assert k == pytest.approx(0.5)  # 10 points off -> move halfway to sit on the 5-point edge
    assert Policy(check="daily").decide(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 1.0
    with pytest.raises(ParameterError):
        Policy(to="edge")
    with pytest.raises(ParameterError):
        CostAware(band=0.05, to=1.5)
    with pytest.raises(ParameterError):
        Threshold(band=0)
    with pytest.raises(ParameterError):
        Calendar("yearly")
    assert "band=0.02" in repr(Calendar("monthly", band=0.02))


def test_result_display_and_json():
    import json

    res = backtest_rebalancing(_jan_mar_path(), "monthly", target=HALF, spread_bps=4.0)
    s = res.stats()
    assert s["policy"] == "Calendar(check=monthly)" and s["target"] == "fixed"
    summ = res.summary(formatted=True)
    assert summ.loc["turnover", "value"].endswith("%")
    assert summ.loc["rebalances", "value"] == "2"
    assert res.summary().loc["rebalances", "value"] == 2
    d = res.to_dict()
    json.dumps(d)
    assert d["stats"]["rebalances"] == 2 and d["type"] == "RebalanceBacktestResult"
    assert d["rebalance_dates"] == ["2024-02-01T00:00:00+00:00", "2024-03-01T00:00:00+00:00"]
    assert d["options"]["spread_bps"] == 4.0 and d["options"]["lookback"] is None
    assert d["final_weights"] == pytest.approx({"A": 0.5, "B": 0.5})
    html = res._repr_html_()
    assert html.startswith("<p><b>Rebalancing backtest: fixed target") and "<table" in html
    assert repr(res).startswith("Rebalancing backtest: fixed target, Calendar(check=monthly) "
                                "on A, B")
    tr = res.tracking()
    assert list(tr.columns) == ["portfolio", "target", "difference"]
    assert len(tr) == len(res.equity) - 1
