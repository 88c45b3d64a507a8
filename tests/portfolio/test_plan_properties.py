"""Hypothesis: plan invariants on random holdings, prices, targets and costs.

post-trade cash >= 0; no negative holdings; sells never exceed holdings; every order is a
multiple of the amount step and meets min amount / min notional (real Binance fixture values);
the cost-aware plan never trades more notional than the naive plan.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantlab.portfolio.markets import load_markets
from quantlab.portfolio.plan import plan_rebalance

MARKETS = load_markets("binance")
# pairs with known rules, and a typical price for each
BASE_PRICE = {"BTC/USDT": 68_000.0, "ETH/USDT": 2_000.0, "BNB/USDT": 600.0, "XRP/USDT": 1.4,
              "DOGE/USDT": 0.1, "ADA/USDT": 0.28}
SYMBOLS = list(BASE_PRICE)


@st.composite
def portfolios(draw):
    n = draw(st.integers(1, len(SYMBOLS)))
    syms = draw(st.permutations(SYMBOLS))[:n]
    prices = {s: BASE_PRICE[s] * draw(st.floats(0.2, 5.0)) for s in syms}
    # holdings between 0 and ~20 000 USDT each (some tiny -> dust)
    holdings = {}
    for s in syms:
        value = draw(st.one_of(st.just(0.0), st.floats(0.5, 20_000.0)))
        holdings[s] = value / prices[s]
    raw = [draw(st.floats(0.0, 1.0)) for _ in syms]
    total = draw(st.floats(0.0, 1.0))
    scale = total / sum(raw) if sum(raw) > 1e-6 else 0.0
    targets = {s: r * scale * (1 - 1e-9) for s, r in zip(syms, raw, strict=True)}
    cash = draw(st.one_of(st.just(0.0), st.floats(0.0, 50_000.0)))
    if cash + sum(holdings[s] * prices[s] for s in syms) <= 1.0:
        cash += 100.0
    costs = {"fee_bps": draw(st.floats(0.0, 50.0)), "spread_bps": draw(st.floats(0.0, 20.0))}
    bands = draw(st.one_of(st.none(), st.floats(0.0, 0.1).map(lambda b: {"abs": b}),
                           st.floats(0.0, 0.5).map(lambda b: {"rel": b})))
    return holdings, prices, targets, cash, costs, bands


def check_invariants(plan, holdings):
    assert plan.cash_after >= 0
    assert (plan.positions_after >= 0).all()
    for o in plan.orders.itertuples():
        rules = MARKETS[o.symbol]
        steps = o.quantity / rules.amount_step
        assert abs(steps - round(steps)) < 1e-6, (o.symbol, o.quantity)
        assert o.quantity >= rules.min_amount * (1 - 1e-12)
        assert o.quantity * o.price >= rules.min_notional * (1 - 1e-12)
        assert math.isclose(o.notional, o.quantity * o.price, rel_tol=1e-12)
        if o.side == "sell":
            assert o.quantity <= holdings[o.symbol] * (1 + 1e-12)


SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(portfolios(), st.sampled_from(["edge", "target"]))
def test_plan_invariants(case, band_mode):
    holdings, prices, targets, cash, costs, bands = case
    plan = plan_rebalance(holdings, prices, targets, cash=cash, markets=MARKETS, costs=costs,
                          bands=bands, band_mode=band_mode)
    check_invariants(plan, holdings)


@SETTINGS
@given(portfolios(), st.floats(0.01, 10.0))
def test_cost_aware_never_trades_more_than_naive(case, aversion):
    holdings, prices, targets, cash, costs, _ = case
    naive = plan_rebalance(holdings, prices, targets, cash=cash, markets=MARKETS, costs=costs)
    aware = plan_rebalance(holdings, prices, targets, cash=cash, markets=MARKETS, costs=costs,
                           cost_aware=True, aversion=aversion)
    check_invariants(aware, holdings)
    assert aware.traded_notional <= naive.traded_notional * (1 + 1e-12) + 1e-9


@SETTINGS
@given(portfolios())
def test_exits_are_traded_or_reported_as_dust(case):
    holdings, prices, targets, cash, costs, _ = case
    targets = {s: w for s, w in list(targets.items())[1:]}  # first symbol: target 0
    plan = plan_rebalance(holdings, prices, targets, cash=cash, markets=MARKETS, costs=costs)
    for sym, q in holdings.items():
        if q > 0 and sym not in targets:
            sold = sym in set(plan.orders.loc[plan.orders["side"] == "sell", "symbol"])
            assert sold or sym in set(plan.dust["symbol"])


@SETTINGS
@given(portfolios(), st.sampled_from(["sqrt", "linear"]))
def test_invariants_fractional_with_impact(case, impact):
    holdings, prices, targets, cash, costs, bands = case
    costs = costs | {"impact": impact, "impact_coef_bps": 80.0,
                     "adv": {s: 1e5 for s in prices}}
    for aware in (False, True):
        plan = plan_rebalance(holdings, prices, targets, cash=cash, costs=costs, bands=bands,
                              cost_aware=aware)
        assert plan.cash_after >= 0
        assert (plan.positions_after >= 0).all()
