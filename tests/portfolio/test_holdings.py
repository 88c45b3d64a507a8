"""Holdings CSV: positions or lots; every bad row names the file and line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from quantlab.errors import DataError
from quantlab.portfolio.holdings import read_holdings
from quantlab.portfolio.plan import plan_rebalance

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "holdings.csv"


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "holdings.csv"
    p.write_text(text)
    return p


def test_positions_file(tmp_path):
    s = read_holdings(write(tmp_path, "symbol,quantity\nBTC_USDT,0.5\n\n# note\neth/usdt,2\n"))
    assert isinstance(s, pd.Series)
    assert s.to_dict() == {"BTC/USDT": 0.5, "ETH/USDT": 2.0}


def test_lots_file_any_column_order(tmp_path):
    df = read_holdings(write(tmp_path, "acquired,symbol,unit_cost,quantity\n"
                                       "2024-01-02,BTC/USDT,42000,0.1\n"
                                       "2024-03-01T12:00:00Z,BTC/USDT,60000,0.2\n"))
    assert list(df.columns) == ["symbol", "quantity", "unit_cost", "acquired"]
    assert df["quantity"].tolist() == [0.1, 0.2]
    assert df["acquired"].iloc[1] == pd.Timestamp("2024-03-01 12:00", tz="UTC")
    assert str(df["acquired"].dt.tz) == "UTC"


@pytest.mark.parametrize(("text", "match"), [
    ("sym,qty\nBTC/USDT,1\n", "line 1: header"),
    ("symbol,quantity\nBTC/USDT,abc\n", "line 2: quantity 'abc' is not a number"),
    ("symbol,quantity\nBTC/USDT,1\nBTC/USDT,-2\n", "line 3: quantity -2 must be >= 0"),
    ("symbol,quantity\nBTC/USDT,1\n\nbtc_usdt,2\n", "line 4: BTC/USDT already listed on line 2"),
    ("symbol,quantity\nBTCUSDT,1\n", "line 2: invalid symbol"),
    ("symbol,quantity\nBTC/USDT,1,2\n", "line 2: expected 2 fields"),
    ("symbol,quantity,unit_cost,acquired\nBTC/USDT,1,100,yesterday\n", "line 2: acquired"),
    ("symbol,quantity,unit_cost,acquired\nBTC/USDT,0,100,2024-01-01\n", "line 2: quantity 0"),
    ("symbol,quantity,unit_cost,acquired\nBTC/USDT,1,-5,2024-01-01\n", "line 2: unit_cost -5"),
    ("symbol,quantity,unit_cost,acquired\nBTC/USDT,1,nan,2024-01-01\n", "line 2: unit_cost"),
    ("", "is empty"),
    ("symbol,quantity\n", "no rows"),
])
def test_malformed_rows(tmp_path, text, match):
    path = write(tmp_path, text)
    with pytest.raises(DataError, match=match) as info:
        read_holdings(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_holdings(tmp_path / "nope.csv")


def test_example_file_plans_with_bundled_rules():
    lots = read_holdings(EXAMPLE)
    assert lots["symbol"].nunique() == 8
    prices = {"BTC/USDT": 68347.36, "ETH/USDT": 1989.13, "BNB/USDT": 626.27, "XRP/USDT": 1.4428,
              "DOGE/USDT": 0.09982, "ADA/USDT": 0.2811, "SOL/USDT": 86.27, "AVAX/USDT": 9.24}
    targets = {s: 0.12 for s in prices}
    plan = plan_rebalance(lots, prices, targets, markets="binance", lot_method="hifo",
                          as_of="2026-02-21")
    assert plan.cash_after >= 0
    assert len(plan.realized) > 0
    assert plan.realized["quantity"].sum() == pytest.approx(
        plan.orders.loc[plan.orders["side"] == "sell", "quantity"].sum())


def test_plan_accepts_a_path(tmp_path):
    path = write(tmp_path, "symbol,quantity\nBTC/USDT,1\n")
    plan = plan_rebalance(path, {"BTC/USDT": 100.0}, {"BTC/USDT": 0.5}, costs={"fee_bps": 0})
    assert plan.orders["quantity"].tolist() == [0.5]


def test_today_is_not_a_date(tmp_path):
    with pytest.raises(DataError, match="line 2: acquired 'today'"):
        read_holdings(write(tmp_path, "symbol,quantity,unit_cost,acquired\nBTC/USDT,1,1,today\n"))
