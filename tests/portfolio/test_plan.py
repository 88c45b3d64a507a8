"""plan_rebalance by hand: bands, exchange rounding, dust, cash, cost-aware mode, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from quantlab.errors import ParameterError, QuantlabError, UnknownSymbolError
from quantlab.portfolio.costs import CostModel
from quantlab.portfolio.plan import RebalancePlan, plan_rebalance

# V = 100: BTC 0.5 * 100 = 50, ETH 30 * 1 = 30, SOL 20 * 1 = 20 -> w = 0.5, 0.3, 0.2
HOLD = {"BTC/USDT": 0.5, "ETH/USDT": 30.0, "SOL/USDT": 20.0}
PX = {"BTC/USDT": 100.0, "ETH/USDT": 1.0, "SOL/USDT": 1.0}
TGT = {"BTC/USDT": 0.4, "ETH/USDT": 0.35, "SOL/USDT": 0.25}
FREE = {"fee_bps": 0}
AS_OF = "2026-02-21"


def orders_by_symbol(plan: RebalancePlan) -> dict[str, float]:
    """Signed order quantities (+ buy, - sell) by symbol."""
    return {r.symbol: r.quantity * (1 if r.side == "buy" else -1)
            for r in plan.orders.itertuples()}


def test_plain_rebalance_reaches_target_without_costs():
    plan = plan_rebalance(HOLD, PX, TGT, costs=FREE)
    assert orders_by_symbol(plan) == pytest.approx({
        "BTC/USDT": -0.1, "ETH/USDT": 5.0, "SOL/USDT": 5.0})
    assert plan.orders["side"].tolist() == ["sell", "buy", "buy"]  # sells first
    assert plan.tracking_error_after == pytest.approx(0.0, abs=1e-12)
    assert plan.tracking_error_before == pytest.approx(np.sqrt(0.1**2 + 0.05**2 + 0.05**2))
    assert plan.cash_after == pytest.approx(0.0, abs=1e-9)


def test_absolute_band_edge():
    # |dev| = 0.10, 0.05, 0.05; only BTC is outside a 0.06 band -> back to 0.46 (sell 4 USDT)
    plan = plan_rebalance(HOLD, PX, TGT, costs=FREE, bands=0.06)
    assert orders_by_symbol(plan) == pytest.approx({"BTC/USDT": -0.04})
    assert plan.weights.loc["BTC/USDT", "post_trade"] == pytest.approx(0.46)
    assert plan.cash_after == pytest.approx(4.0)
    assert plan.orders["reason"].iloc[0] == "outside band: to band edge"


def test_absolute_band_to_target():
    plan = plan_rebalance(HOLD, PX, TGT, costs=FREE, bands={"abs": 0.06}, band_mode="target")
    assert orders_by_symbol(plan) == pytest.approx({"BTC/USDT": -0.1})
    assert plan.cash_after == pytest.approx(10.0)


def test_relative_band_edge():
    # rel 0.15 -> widths 0.06, 0.0525, 0.0375: BTC (0.10) and SOL (0.05) outside, ETH inside
    # BTC -> 0.46 (sell 0.04 BTC = 4 USDT); SOL -> 0.25 - 0.0375 = 0.2125 (buy 1.25 SOL)
    plan = plan_rebalance(HOLD, PX, TGT, costs=FREE, bands={"rel": 0.15})
    assert orders_by_symbol(plan) == pytest.approx(
        {"BTC/USDT": -0.04, "SOL/USDT": 1.25})
    assert plan.cash_after == pytest.approx(2.75)


def test_no_trade_inside_bands():
    plan = plan_rebalance(HOLD, PX, TGT, costs=FREE, bands={"abs": 0.2})
    assert plan.orders.empty
    assert plan.tracking_error_after == pytest.approx(plan.tracking_error_before)


@pytest.mark.parametrize("band_mode", ["edge", "target"])
def test_unlisted_asset_outside_band_is_sold_completely(band_mode):
    # value 50 BTC + 40 ETH + 10 XRP = 100 USDT; XRP is not in the targets (target 0) and sits
    # at 10 % > the 5 % band. A zero target is not a band: all 10 XRP are sold (before the fix
    # the edge mode sold only 5, down to the band edge at 5 %).
    # ETH: 40 % vs 50 %, outside the band -> edge 45 % (buy 5 ETH) or target 50 % (buy 10 ETH)
    hold = {"BTC/USDT": 0.5, "ETH/USDT": 40.0, "XRP/USDT": 10.0}
    px = {"BTC/USDT": 100.0, "ETH/USDT": 1.0, "XRP/USDT": 1.0}
    plan = plan_rebalance(hold, px, {"BTC/USDT": 0.5, "ETH/USDT": 0.5}, costs=FREE, bands=0.05,
                          band_mode=band_mode)
    eth = 5.0 if band_mode == "edge" else 10.0
    assert orders_by_symbol(plan) == pytest.approx({"XRP/USDT": -10.0, "ETH/USDT": eth})
    assert plan.positions_after["XRP/USDT"] == 0.0
    assert plan.cash_after == pytest.approx(10.0 - eth)
    assert plan.orders.set_index("symbol").loc["XRP/USDT", "reason"] == "not in targets: sell"


@pytest.mark.parametrize("band_mode", ["edge", "target"])
def test_zero_target_inside_band_is_sold_completely(band_mode):
    # 50 BTC + 47 ETH + 3 XRP = 100 USDT; XRP has target 0 and a 3 % weight, inside the 5 %
    # band, yet it is sold (3 XRP); ETH (47 % vs 50 %) stays inside its band and does not trade
    hold = {"BTC/USDT": 0.5, "ETH/USDT": 47.0, "XRP/USDT": 3.0}
    px = {"BTC/USDT": 100.0, "ETH/USDT": 1.0, "XRP/USDT": 1.0}
    plan = plan_rebalance(hold, px, {"BTC/USDT": 0.5, "ETH/USDT": 0.5, "XRP/USDT": 0.0},
                          costs=FREE, bands=0.05, band_mode=band_mode)
    assert orders_by_symbol(plan) == pytest.approx({"XRP/USDT": -3.0})
    assert plan.cash_after == pytest.approx(3.0)
    assert plan.orders["reason"].tolist() == ["target 0: sell"]


def test_targets_may_be_an_optimize_result(returns):
    from quantlab.portfolio import optimize

    res = optimize(returns[["BTC/USDT", "ETH/USDT"]], "equal")
    plan = plan_rebalance({"BTC/USDT": 0.5, "ETH/USDT": 30.0}, {"BTC/USDT": 100.0,
                                                              "ETH/USDT": 1.0}, res, costs=FREE)
    assert plan.weights.loc["BTC/USDT", "target"] == pytest.approx(0.5)
    assert plan.weights.loc["BTC/USDT", "post_trade"] == pytest.approx(0.5)


def test_fees_are_paid_and_buys_scaled_to_keep_cash_non_negative():
    # all cash, targets sum to 1: buys + 10 bps fees must be scaled down to fit the cash
    plan = plan_rebalance({}, PX, {"BTC/USDT": 0.5, "ETH/USDT": 0.5}, cash=1000.0)
    assert plan.cash_after >= 0
    assert plan.cash_after == pytest.approx(0.0, abs=1e-6)
    assert plan.orders["fee"].sum() == pytest.approx(plan.orders["notional"].sum() * 0.001)
    assert all("scaled down" in r for r in plan.orders["reason"])


def test_binance_rounding_and_dust():
    hold = {"BTC/USDT": 0.123456, "XRP/USDT": 3.0}
    px = {"BTC/USDT": 68_347.36, "XRP/USDT": 1.4428}
    plan = plan_rebalance(hold, px, {"BTC/USDT": 0.5}, markets="binance", costs=FREE)
    btc = plan.orders.set_index("symbol").loc["BTC/USDT"]
    assert btc["side"] == "sell"
    steps = btc["quantity"] / 0.00001
    assert steps == pytest.approx(round(steps), abs=1e-6)  # multiple of the BTC step
    # XRP: 3 XRP = 4.33 USDT < min notional 5 -> cannot be sold, reported as dust
    assert "XRP/USDT" not in plan.orders["symbol"].tolist()
    dust = plan.dust.set_index("symbol").loc["XRP/USDT"]
    assert dust["reason"] == "position below min notional 5"
    assert dust["notional"] == pytest.approx(4.3284)
    assert plan.positions_after["XRP/USDT"] == 3.0


def test_small_buy_below_min_notional_is_dust():
    # ETH underweight by 4 USDT -> buy order below min notional 5 -> dust, not an order
    hold = {"ETH/USDT": 0.048}
    px = {"ETH/USDT": 2000.0}  # 96 USDT of ETH + 4 cash
    plan = plan_rebalance(hold, px, {"ETH/USDT": 1.0}, cash=4.0, markets="binance", costs=FREE)
    assert plan.orders.empty
    assert plan.dust["reason"].tolist() == ["buy below min notional 5"]


def test_held_dust_is_reported_even_without_a_trade():
    plan = plan_rebalance({"XRP/USDT": 3.0, "BTC/USDT": 0.01}, {"XRP/USDT": 1.4428,
                          "BTC/USDT": 68_000.0}, {"XRP/USDT": 0.00635, "BTC/USDT": 0.99365},
                          markets="binance", bands=0.05)
    assert plan.orders.empty
    assert plan.dust.set_index("symbol").loc["XRP/USDT", "side"] == "hold"


def test_unknown_market_rules_warn():
    plan = plan_rebalance({"SOL/USDT": 1.0}, {"SOL/USDT": 86.27}, {"SOL/USDT": 0.5},
                          markets="binance")
    assert any("SOL/USDT" in w for w in plan.warnings)
    assert len(plan.orders) == 1


def test_cost_aware_trades_less_than_naive():
    costs = {"fee_bps": 10, "spread_bps": 5}
    naive = plan_rebalance(HOLD, PX, TGT, costs=costs)
    aware = plan_rebalance(HOLD, PX, TGT, costs=costs, cost_aware=True, aversion=0.1)
    assert aware.traded_notional < naive.traded_notional
    assert aware.naive_notional == pytest.approx(naive.traded_notional)
    # linear costs: soft threshold of 0.0015 / 0.1 = 1.5 % of weight short of target
    assert aware.weights.loc["BTC/USDT", "post_trade"] == pytest.approx(0.415, abs=2e-3)
    assert aware.tracking_error_after > naive.tracking_error_after
    # tiny drift (below the no-trade threshold) -> no trade at all
    small = plan_rebalance(HOLD, PX, {"BTC/USDT": 0.495, "ETH/USDT": 0.3, "SOL/USDT": 0.2},
                           costs=costs, cost_aware=True)
    assert small.orders.empty


def test_cost_aware_with_sqrt_impact_and_cov():
    costs = CostModel(fee_bps=10, spread_bps=2, impact="sqrt", impact_coef_bps=50,
                      adv={"BTC/USDT": 1e3, "ETH/USDT": 1e3, "SOL/USDT": 1e3})
    cov = pd.DataFrame(np.diag([4e-4, 9e-4, 1.6e-3]), index=list(PX), columns=list(PX))
    naive = plan_rebalance(HOLD, PX, TGT, costs=costs, cov=cov)
    aware = plan_rebalance(HOLD, PX, TGT, costs=costs, cov=cov, cost_aware=True, aversion=1.0)
    assert aware.traded_notional <= naive.traded_notional
    assert naive.tracking_error_before == pytest.approx(
        np.sqrt(0.1**2 * 4e-4 + 0.05**2 * 9e-4 + 0.05**2 * 1.6e-3))
    assert aware.cost <= naive.cost


def test_impact_needs_adv():
    with pytest.raises(ParameterError, match="adv for BTC/USDT"):
        plan_rebalance(HOLD, PX, TGT, costs={"impact": "sqrt"})


def test_result_api():
    plan = plan_rebalance(HOLD, PX, TGT, markets="binance", as_of=AS_OF)
    s = plan.stats()
    assert {"cost", "cash_after", "tracking_error_after", "turnover"} <= set(s.index)
    assert s["orders"] == len(plan.orders) and s["cost"] == plan.cost
    table = plan.summary()
    assert list(table.index) == [*plan.positions_after.index, "cash"]
    assert list(table.columns) == ["current", "target", "post_trade", "drift", "residual",
                                   "side", "quantity", "notional", "cost"]
    first = plan.orders.iloc[0]
    assert table.loc[first["symbol"], "side"] == first["side"]
    assert table.loc[first["symbol"], "quantity"] == first["quantity"]
    assert table.loc["cash", "side"] is None and np.isnan(table.loc["cash", "quantity"])
    shown = plan.summary(formatted=True)
    assert shown.shape == table.shape and shown.loc["cash", "current"].endswith("%")
    d = plan.to_dict()
    json.dumps(d)
    assert d["orders"][0]["symbol"] == plan.orders["symbol"].iloc[0]
    assert d["stats"]["orders"] == len(plan.orders)
    assert "<table" in plan._repr_html_()
    assert repr(plan).startswith(f"Rebalance plan as of {AS_OF[:10]}: {len(plan.orders)} orders")
    assert list(plan.sections())[:2] == ["orders", "weights"]
    fig = plan.plot()
    assert [t.name for t in fig.data] == ["current", "target", "post-trade"]
    assert list(fig.data[0].x) == list(plan.weights.index)
    np.testing.assert_allclose(fig.data[2].y, plan.weights["post_trade"].to_numpy())
    assert list(plan.weights.columns) == ["current", "target", "post_trade", "drift", "residual"]
    assert plan.weights.loc["cash", "target"] == pytest.approx(0.0)
    assert list(plan.orders.columns)[:6] == ["symbol", "side", "quantity", "price", "notional",
                                             "fee"]


def test_symbols_are_normalised():
    plan = plan_rebalance({"btc_usdt": 0.5}, {"BTC-USDT": 100.0}, {"BTC/USDT": 0.25})
    assert plan.orders["symbol"].tolist() == ["BTC/USDT"]


@pytest.mark.parametrize(("kwargs", "exc", "match"), [
    ({"targets": {"BTC/USDT": 0.5, "DOT/USDT": 0.2}}, UnknownSymbolError,
     r"no price for DOT/USDT \(in targets\)"),
    ({"holdings": {"BTC/USDT": -1.0}}, ParameterError, "quantity of BTC/USDT is -1"),
    ({"targets": {"BTC/USDT": 0.7, "ETH/USDT": 0.5}}, ParameterError, "targets sum to 1.2"),
    ({"targets": {"BTC/USDT": -0.1}}, ParameterError, "weight of BTC/USDT"),
    ({"prices": {"BTC/USDT": float("nan"), "ETH/USDT": 1.0, "SOL/USDT": 1.0}}, ParameterError,
     "BTC/USDT price is nan"),
    ({"cash": -5}, ParameterError, "cash"),
    ({"bands": {"abs": -0.1}}, ParameterError, "bands abs"),
    ({"band_mode": "middle"}, ParameterError, "band_mode"),
    ({"lot_method": "avg"}, ParameterError, "lot_method"),
    ({"targets": {"BTC/EUR": 0.5}, "prices": {"BTC/EUR": 1.0}}, ParameterError, "not quoted in USDT"),
    ({"costs": {"fee": 10}}, ParameterError, "unknown keys"),
])
def test_bad_input_one_line_errors(kwargs, exc, match):
    args = {"holdings": HOLD, "prices": PX, "targets": TGT} | kwargs
    with pytest.raises(exc, match=match) as info:
        plan_rebalance(args.pop("holdings"), args.pop("prices"), args.pop("targets"), **args)
    assert isinstance(info.value, QuantlabError)
    assert "\n" not in str(info.value)
