"""Tax lots by hand: three BTC lots, sell 1.5 BTC at 45 000 on 2025-06-01.

Lots (unit_cost, acquired):  A 30 000 2023-01-01 (882 days, long)
                             B 50 000 2024-01-01 (517 days, long)
                             C 40 000 2025-01-01 (151 days, short)
"""

from __future__ import annotations

import pandas as pd
import pytest

from quantlab.errors import ParameterError
from quantlab.portfolio.lots import as_lots, consume_lots, harvest_candidates, order_lots
from quantlab.portfolio.plan import plan_rebalance

AS_OF = "2025-06-01"


@pytest.fixture
def lots() -> pd.DataFrame:
    return as_lots(pd.DataFrame({
        "symbol": ["BTC/USDT"] * 3,
        "quantity": [1.0, 1.0, 1.0],
        "unit_cost": [30_000.0, 50_000.0, 40_000.0],
        "acquired": ["2023-01-01", "2024-01-01", "2025-01-01"],
    }))


def _sell(lots, method, fee=0.0):
    return consume_lots(lots, "BTC/USDT", 1.5, 45_000.0, method=method, fee=fee, as_of=AS_OF)


def test_hifo_consumes_highest_cost_first(lots):
    realized, remaining = _sell(lots, "hifo")
    assert realized["unit_cost"].tolist() == [50_000.0, 40_000.0]
    assert realized["quantity"].tolist() == [1.0, 0.5]
    assert realized["gain"].tolist() == pytest.approx([-5_000.0, 2_500.0])
    assert realized["holding_days"].tolist() == [517, 151]
    assert realized["term"].tolist() == ["long", "short"]
    assert remaining["quantity"].tolist() == [1.0, 0.5]
    assert remaining["unit_cost"].tolist() == [30_000.0, 40_000.0]


def test_fifo(lots):
    realized, _ = _sell(lots, "fifo")
    assert realized["unit_cost"].tolist() == [30_000.0, 50_000.0]
    assert realized["quantity"].tolist() == [1.0, 0.5]
    assert realized["gain"].tolist() == pytest.approx([15_000.0, -2_500.0])
    assert realized["holding_days"].tolist() == [882, 517]


def test_lifo(lots):
    realized, _ = _sell(lots, "lifo")
    assert realized["unit_cost"].tolist() == [40_000.0, 50_000.0]
    assert realized["gain"].tolist() == pytest.approx([5_000.0, -2_500.0])


def test_min_tax_losses_then_long_then_short(lots):
    # B is a loss (-5 000/unit) -> first; then long-term gains: A (+15 000/unit, long) before
    # the short-term gain C (+5 000/unit) even though C's gain per unit is smaller
    realized, _ = _sell(lots, "min_tax")
    assert realized["unit_cost"].tolist() == [50_000.0, 30_000.0]
    assert realized["quantity"].tolist() == [1.0, 0.5]
    assert realized["gain"].tolist() == pytest.approx([-5_000.0, 7_500.0])
    assert realized["term"].tolist() == ["long", "long"]


def test_min_tax_largest_loss_first_within_losses():
    lots = as_lots(pd.DataFrame({
        "symbol": ["ETH/USDT"] * 3, "quantity": [1.0, 1.0, 1.0],
        "unit_cost": [2_500.0, 3_000.0, 1_000.0],
        "acquired": ["2025-01-01", "2025-02-01", "2025-03-01"],
    }))
    ordered = order_lots(lots, "min_tax", price=2_000.0, as_of=AS_OF)
    assert ordered["unit_cost"].tolist() == [3_000.0, 2_500.0, 1_000.0]


def test_long_term_threshold_is_a_parameter(lots):
    realized, _ = consume_lots(lots, "BTC/USDT", 1.5, 45_000.0, method="hifo", as_of=AS_OF,
                               long_term_days=600)
    assert realized["term"].tolist() == ["short", "short"]


def test_fee_reduces_proceeds_pro_rata(lots):
    realized, _ = _sell(lots, "hifo", fee=67.5)
    assert realized["fee"].tolist() == pytest.approx([45.0, 22.5])
    assert realized["proceeds"].tolist() == pytest.approx([44_955.0, 22_477.5])
    assert realized["gain"].tolist() == pytest.approx([-5_045.0, 2_477.5])


def test_cannot_sell_more_than_lots_hold(lots):
    with pytest.raises(ParameterError, match="only 3"):
        consume_lots(lots, "BTC/USDT", 4.0, 45_000.0, as_of=AS_OF)


def test_unknown_method(lots):
    with pytest.raises(ParameterError, match="lot_method"):
        _sell(lots, "average")


def test_bad_lots_rows():
    df = pd.DataFrame({"symbol": ["BTC/USDT"], "quantity": [-1.0], "unit_cost": [1.0],
                       "acquired": ["2024-01-01"]})
    with pytest.raises(ParameterError, match=r"row 0 .*quantity"):
        as_lots(df)
    with pytest.raises(ParameterError, match="missing column"):
        as_lots(df.drop(columns="acquired"))


def test_harvest_candidates(lots):
    out = harvest_candidates(lots, {"BTC/USDT": 36_000.0}, threshold=-0.05, as_of=AS_OF)
    # B: 36/50 - 1 = -28 %, C: 36/40 - 1 = -10 %; A is a gain
    assert out["unit_cost"].tolist() == [50_000.0, 40_000.0]
    assert out["unrealized"].tolist() == pytest.approx([-14_000.0, -4_000.0])
    assert harvest_candidates(lots, {"BTC/USDT": 36_000.0}, threshold=-0.2,
                              as_of=AS_OF)["unit_cost"].tolist() == [50_000.0]
    with pytest.raises(ParameterError, match="harvest_threshold"):
        harvest_candidates(lots, {"BTC/USDT": 1.0}, threshold=0.1)


def test_plan_realizes_hifo_lots(lots):
    # V = 3 BTC * 45 000; target 50 % BTC -> sell exactly 1.5 BTC (no fees)
    plan = plan_rebalance(lots, {"BTC/USDT": 45_000.0}, {"BTC/USDT": 0.5}, lot_method="hifo",
                          costs={"fee_bps": 0}, as_of=AS_OF)
    assert plan.orders["quantity"].tolist() == pytest.approx([1.5])
    assert plan.realized["unit_cost"].tolist() == [50_000.0, 40_000.0]
    assert plan.realized["gain"].sum() == pytest.approx(-2_500.0)
    assert plan.stats()["long_term_gain"] == pytest.approx(-5_000.0)
    assert plan.stats()["short_term_gain"] == pytest.approx(2_500.0)
    assert plan.cash_after == pytest.approx(67_500.0)


def test_plan_lots_must_match_holdings(lots):
    with pytest.raises(ParameterError, match="hold 3 but holdings say 2"):
        plan_rebalance({"BTC/USDT": 2.0}, {"BTC/USDT": 45_000.0}, {"BTC/USDT": 0.5}, lots=lots)
