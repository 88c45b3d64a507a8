"""RiskGuard: one test per rule, just under and just over each limit (hand-computed numbers).

Book used throughout unless a test says otherwise: equity = peak = day start = 10,000 USDT,
BTC/USDT at 50,000, flat. ``limits(**kw)`` switches every limit off but the ones given.

VaR figures: returns alternating +-1 % give an EWMA variance of exactly 1e-4 (the initial mean
of squares is 1e-4 and every update mixes 1e-4 with 1e-4), so sigma = 1 % and the 99 % one-bar
VaR is z_0.99 x 1 % = 2.3263479 % (z_0.99 = 2.3263478740, scipy.stats.norm.ppf(0.99)).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quantlab.errors import ParameterError
from quantlab.live.config import RiskLimits
from quantlab.live.risk import RiskContext, RiskGuard, RiskVerdict
from quantlab.live.types import OrderIntent
from quantlab.risk import value_at_risk

BTC, ETH = "BTC/USDT", "ETH/USDT"
Z99 = 2.3263478740408408
UNIT_VAR = Z99 * 0.01             # 99 % EWMA VaR of the alternating +-1 % series
ALT = np.tile([0.01, -0.01], 20)  # 40 returns


def limits(**kw: float | int | None) -> RiskLimits:
    off: dict[str, float | int | None] = {
        "max_drawdown": None, "risk_per_trade": None, "max_position_notional": None,
        "max_order_notional": None, "daily_loss_limit": None, "var_limit": None,
        "max_orders_per_minute": None}
    return RiskLimits(**{**off, **kw})


def ctx(equity: float = 10_000.0, peak: float = 10_000.0, day_start: float = 10_000.0,
        positions: dict[str, float] | None = None, prices: dict[str, float] | None = None,
        returns: pd.DataFrame | None = None, stop: float | None = None) -> RiskContext:
    return RiskContext(equity=equity, peak_equity=peak, day_start_equity=day_start,
                       positions=positions or {}, prices=prices or {BTC: 50_000.0},
                       returns=returns, stop_fraction=stop)


def buy(amount: float, symbol: str = BTC, **kw: object) -> OrderIntent:
    return OrderIntent(client_id="qlTEST", symbol=symbol, side="buy", amount=amount, **kw)


def sell(amount: float, symbol: str = BTC, **kw: object) -> OrderIntent:
    return OrderIntent(client_id="qlTEST", symbol=symbol, side="sell", amount=amount, **kw)


def alt_returns(**extra: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({BTC: ALT, **extra})


# -- one rule at a time ------------------------------------------------------------------------


def test_max_drawdown() -> None:
    g = RiskGuard(limits(max_drawdown=0.25))
    assert g.check(buy(0.01), ctx(equity=7_501.0), 0).ok               # 24.99 %
    v = g.check(buy(0.01), ctx(equity=7_499.0), 0)                      # 25.01 %
    assert (v.ok, v.rule) == (False, "max_drawdown")
    assert v.value == pytest.approx(0.2501) and v.limit == 0.25
    assert v.message == ("order qlTEST BUY 0.01 BTC/USDT refused: "
                         "drawdown 25.01% >= max_drawdown 25.00%")
    assert not g.check(buy(0.01), ctx(equity=7_500.0), 0).ok           # at the limit: refused


def test_daily_loss_limit() -> None:
    g = RiskGuard(limits(daily_loss_limit=0.05))
    assert g.check(buy(0.01), ctx(equity=9_501.0, peak=12_000.0), 0).ok   # 4.99 % since day start
    v = g.check(buy(0.01), ctx(equity=9_499.0, peak=12_000.0), 0)         # 5.01 %
    assert (v.ok, v.rule) == (False, "daily_loss_limit")
    assert v.value == pytest.approx(0.0501)
    assert v.message.endswith("refused: loss since day start 5.01% >= daily_loss_limit 5.00%")


def test_max_order_notional() -> None:
    g = RiskGuard(limits(max_order_notional=5_000.0))
    assert g.check(buy(0.0999), ctx(), 0).ok                            # 4,995
    v = g.check(buy(0.1001), ctx(), 0)                                  # 5,005
    assert (v.ok, v.rule, v.limit) == (False, "max_order_notional", 5_000.0)
    assert v.value == pytest.approx(5_005.0)
    assert v.message == ("order qlTEST BUY 0.1001 BTC/USDT refused: "
                         "order notional 5,005.00 > max_order_notional 5,000.00")
    # a limit order is valued at its limit price: 0.1001 x 49,900 = 4,994.99
    assert g.check(buy(0.1001, type="limit", price=49_900.0), ctx(), 0).ok


def test_max_position_notional_counts_the_position_after_the_order() -> None:
    g = RiskGuard(limits(max_position_notional=25_000.0))
    book = ctx(positions={BTC: 0.4})                                    # 20,000 held
    assert g.check(buy(0.0999), book, 0).ok                             # 0.4999 x 50,000 = 24,995
    v = g.check(buy(0.1001), book, 0)                                   # 25,005
    assert (v.ok, v.rule) == (False, "max_position_notional")
    assert v.value == pytest.approx(25_005.0)
    # the example: 0.12 held + 0.5 = 0.62 x 50,000 = 31,000
    v = g.check(buy(0.5), ctx(positions={BTC: 0.12}), 0)
    assert v.message == ("order qlTEST BUY 0.5 BTC/USDT refused: "
                         "position notional 31,000.00 > max_position_notional 25,000.00")
    # a short counts by its absolute size: -0.6 x 50,000 = 30,000
    assert g.check(sell(0.6), ctx(), 0).rule == "max_position_notional"
    assert g.check(sell(0.4999), ctx(), 0).ok


def test_risk_per_trade_with_a_stop() -> None:
    g = RiskGuard(limits(risk_per_trade=0.02))
    # 0.0799 x 50,000 = 3,995; x 5 % stop = 199.75 = 1.9975 % of equity
    assert g.check(buy(0.0799), ctx(stop=0.05), 0).ok
    v = g.check(buy(0.0801), ctx(stop=0.05), 0)                         # 200.25 = 2.0025 %
    assert (v.ok, v.rule) == (False, "risk_per_trade")
    assert v.value == pytest.approx(0.020025)
    assert v.message.endswith("refused: trade risk (stop) of equity 2.00% > risk_per_trade 2.00%")


def test_risk_per_trade_without_a_stop_uses_the_symbol_var() -> None:
    g = RiskGuard(limits(risk_per_trade=0.02))
    r = alt_returns()
    # 0.1719 x 50,000 = 8,595 x 2.3263479 % = 199.95 -> 1.9995 % of equity
    assert g.check(buy(0.1719), ctx(returns=r), 0).ok
    v = g.check(buy(0.1720), ctx(returns=r), 0)                         # 8,600 -> 200.07
    assert (v.ok, v.rule) == (False, "risk_per_trade")
    assert v.value == pytest.approx(8_600 * UNIT_VAR / 10_000, rel=1e-12)
    assert "trade risk (VaR) of equity 2.00% > risk_per_trade 2.00%" in v.message
    # no returns: the risk cannot be measured, so the entry is refused
    v = g.check(buy(0.01), ctx(returns=None), 0)
    assert (v.ok, v.rule) == (False, "risk_per_trade")
    assert v.message.endswith("refused: cannot estimate VaR: no returns")
    assert math.isnan(v.value)


def test_var_limit_on_the_book_after_the_order() -> None:
    g = RiskGuard(limits(var_limit=0.05))
    book = ctx(positions={BTC: 0.2}, returns=alt_returns())
    # after: 0.4298 BTC = 21,490 = 2.149 x equity -> VaR 2.149 x 2.3263479 % = 4.9993 %
    assert g.check(buy(0.2298), book, 0).ok
    v = g.check(buy(0.2300), book, 0)                                   # 2.15 x -> 5.0016 %
    assert (v.ok, v.rule, v.limit) == (False, "var_limit", 0.05)
    assert v.value == pytest.approx(2.15 * UNIT_VAR, rel=1e-12)
    assert v.message == ("order qlTEST BUY 0.23 BTC/USDT refused: "
                         "portfolio VaR after the order 5.00% > var_limit 5.00%")


def test_var_limit_refuses_when_a_held_symbol_has_no_returns() -> None:
    g = RiskGuard(limits(var_limit=0.5))
    book = ctx(positions={ETH: 1.0}, prices={BTC: 50_000.0, ETH: 3_000.0},
               returns=alt_returns())
    v = g.check(buy(0.01), book, 0)
    assert (v.ok, v.rule) == (False, "var_limit")
    assert v.message.endswith("refused: cannot estimate VaR: no returns for ETH/USDT")


def test_max_orders_per_minute_is_a_sliding_60s_window() -> None:
    g = RiskGuard(limits(max_orders_per_minute=3))
    g.record_submitted(0)
    g.record_submitted(10_000)
    assert g.check(buy(0.01), ctx(), 20_000).ok                         # 2 in the window
    g.record_submitted(20_000)
    v = g.check(buy(0.01), ctx(), 30_000)                               # 3 >= 3
    assert (v.ok, v.rule, v.value, v.limit) == (False, "max_orders_per_minute", 3.0, 3.0)
    assert v.message.endswith("refused: orders in the last 60 s 3 >= max_orders_per_minute 3")
    assert not g.check(buy(0.01), ctx(), 59_999).ok                     # t=0 still inside
    assert g.check(buy(0.01), ctx(), 60_000).ok                         # 60 s old: has left
    assert g.recent_orders(60_000) == 2


def test_reduce_only_is_counted_but_never_refused_by_the_rate_limit() -> None:
    g = RiskGuard(limits(max_orders_per_minute=2))
    for t in (0, 1_000):
        g.record_submitted(t)
    exit_ = sell(0.1, reduce_only=True, leg="exit")
    assert g.check(exit_, ctx(positions={BTC: 0.1}), 2_000).ok
    g.record_submitted(2_000)
    assert g.recent_orders(2_000) == 3
    assert g.check(buy(0.01), ctx(), 60_500).rule == "max_orders_per_minute"  # 1,000 and 2,000
    assert g.check(buy(0.01), ctx(), 61_000).ok                                 # only 2,000


@pytest.mark.parametrize(("intent", "prices", "why"), [
    (buy(0.0), None, "amount 0.0 is not a positive number"),
    (buy(-1.0), None, "amount -1.0 is not a positive number"),
    (buy(math.nan), None, "amount nan is not a positive number"),
    (buy(0.1, symbol="XRP/USDT"), None, "unknown symbol XRP/USDT (no price)"),
    (buy(0.1), {BTC: math.nan}, "price of BTC/USDT nan is not positive"),
    (OrderIntent("qlTEST", BTC, "hold", 0.1), None, "side 'hold' is not buy or sell"),
    (buy(0.1, type="limit"), None, "limit order without a price"),
    (buy(0.1, type="limit", price=-5.0), None, "order price -5.0 is not positive"),
    (sell(math.inf, reduce_only=True), None, "amount inf is not a positive number"),
])
def test_bad_order(intent: OrderIntent, prices: dict[str, float] | None, why: str) -> None:
    g = RiskGuard(RiskLimits())
    v = g.check(intent, ctx(prices=prices), 0)
    assert (v.ok, v.rule) == (False, "bad_order")
    assert v.message.endswith(f"refused: {why}")


# -- reduce-only and ordering ------------------------------------------------------------------


def test_reduce_only_passes_in_drawdown_and_over_every_exposure_limit() -> None:
    tight = limits(max_drawdown=0.25, daily_loss_limit=0.05, max_order_notional=1.0,
                   max_position_notional=1.0, risk_per_trade=0.0001, var_limit=0.0001,
                   max_orders_per_minute=1)
    g = RiskGuard(tight)
    g.record_submitted(0)
    book = ctx(equity=5_000.0, day_start=8_000.0, positions={BTC: 0.5}, returns=None)
    assert g.check(buy(0.01), book, 0).rule == "max_drawdown"           # an entry is refused
    flatten = sell(0.5, reduce_only=True, leg="flatten")
    assert g.check(flatten, book, 0) == RiskVerdict(ok=True)


def test_first_broken_rule_is_reported() -> None:
    g = RiskGuard(limits(max_drawdown=0.25, max_order_notional=1_000.0))
    assert g.check(buy(1.0), ctx(equity=7_000.0), 0).rule == "max_drawdown"
    assert g.check(buy(1.0), ctx(), 0).rule == "max_order_notional"


def test_default_limits_let_a_small_entry_through() -> None:
    g = RiskGuard(RiskLimits())
    v = g.check(buy(0.01), ctx(returns=alt_returns()), 0)               # 500 USDT, 5 % of equity
    assert v == RiskVerdict(ok=True)
    assert (v.rule, v.message) == ("", "")


def test_guard_needs_risk_limits() -> None:
    with pytest.raises(ParameterError, match="limits must be a RiskLimits, not dict"):
        RiskGuard({"max_drawdown": 0.2})  # type: ignore[arg-type]


# -- VaR ---------------------------------------------------------------------------------------


def test_one_asset_var_is_the_ewma_var_times_the_exposure() -> None:
    g = RiskGuard(RiskLimits())
    r = alt_returns()
    # hand check: 0.3 BTC x 50,000 / 10,000 = 1.5 x equity -> 1.5 x 2.3263479 %
    var = g.portfolio_var({BTC: 0.3}, {BTC: 50_000.0}, r, 10_000.0)
    assert var == pytest.approx(1.5 * UNIT_VAR, rel=1e-12)
    assert g.portfolio_var({BTC: -0.3}, {BTC: 50_000.0}, r, 10_000.0) == pytest.approx(var)
    # against quantlab.risk on a random series
    rng = np.random.default_rng(7)
    rand = pd.DataFrame({BTC: rng.normal(0.0, 0.03, 250)})
    ref = value_at_risk(rand[BTC], level=0.99, method="ewma").var
    assert g.portfolio_var({BTC: 0.3}, {BTC: 50_000.0}, rand, 10_000.0) == \
        pytest.approx(1.5 * ref, rel=1e-12)
    # lambda and confidence come from the limits
    g97 = RiskGuard(RiskLimits(ewma_lambda=0.97, var_confidence=0.95))
    ref = value_at_risk(rand[BTC], level=0.95, method="ewma", lam=0.97).var
    assert g97.portfolio_var({BTC: 0.3}, {BTC: 50_000.0}, rand, 10_000.0) == \
        pytest.approx(1.5 * ref, rel=1e-12)


def test_two_asset_var_uses_the_ewma_covariance() -> None:
    g = RiskGuard(RiskLimits())
    prices = {BTC: 50_000.0, ETH: 2_500.0}
    book = {BTC: 0.2, ETH: 2.0}                # exposures 1.0 and 0.5 x equity
    # ETH moves twice BTC's returns: Sigma = [[1e-4, 2e-4], [2e-4, 4e-4]]
    # w' Sigma w = 1e-4 + 2 x 0.5 x 2e-4 + 0.25 x 4e-4 = 4e-4 -> sigma 2 % -> VaR 2 x 2.326 %
    same = alt_returns(**{ETH: 2 * ALT})
    assert g.portfolio_var(book, prices, same, 10_000.0) == pytest.approx(2 * UNIT_VAR)
    # opposite moves hedge exactly: w' Sigma w = 1e-4 - 2e-4 + 1e-4 = 0
    opposite = alt_returns(**{ETH: -2 * ALT})
    assert g.portfolio_var(book, prices, opposite, 10_000.0) == pytest.approx(0.0, abs=1e-12)
    # random: equals the EWMA VaR of the portfolio returns (weights 1/1.5 and 0.5/1.5) x 1.5
    rng = np.random.default_rng(11)
    a = rng.normal(0.0, 0.02, 300)
    rand = pd.DataFrame({BTC: a, ETH: 0.6 * a + rng.normal(0.0, 0.03, 300)})
    ref = value_at_risk(rand, level=0.99, method="ewma", weights=[2 / 3, 1 / 3]).var
    assert g.portfolio_var(book, prices, rand, 10_000.0) == pytest.approx(1.5 * ref, rel=1e-10)
    # and it is not the sum of the single-asset VaRs (diversification)
    alone = (g.portfolio_var({BTC: 0.2}, prices, rand, 10_000.0)
             + g.portfolio_var({ETH: 2.0}, prices, rand, 10_000.0))
    assert g.portfolio_var(book, prices, rand, 10_000.0) < alone


def test_portfolio_var_edge_cases() -> None:
    g = RiskGuard(RiskLimits())
    assert g.portfolio_var({BTC: 0.0}, {BTC: 50_000.0}, None, 10_000.0) == 0.0
    r = alt_returns()
    r.iloc[0, 0] = np.nan                     # a leading NaN row is dropped, not an error
    var = g.portfolio_var({BTC: 0.2}, {BTC: 50_000.0}, r, 10_000.0)
    assert var == pytest.approx(UNIT_VAR, rel=1e-12)   # 39 returns of +-1 %: sigma still 1 %
    with pytest.raises(ParameterError, match=r"^cannot estimate VaR: equity 0\.0 is not positive$"):
        g.portfolio_var({BTC: 0.2}, {BTC: 50_000.0}, r, 0.0)
    with pytest.raises(ParameterError, match="1 complete row"):
        g.portfolio_var({BTC: 0.2}, {BTC: 50_000.0}, r.iloc[:2], 10_000.0)
