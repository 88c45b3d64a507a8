"""No silent wrong answers in the portfolio layer: symbol keys and lots dated after as_of."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from quantlab.errors import DataError, ParameterError
from quantlab.portfolio import optimize, plan_rebalance, read_holdings
from quantlab.portfolio.lots import as_lots, consume_lots, harvest_candidates

PRICES = {"BTC/USDT": 50_000.0, "ETH/USDT": 2_500.0}
HOLD = {"BTC/USDT": 0.1, "ETH/USDT": 2.0}


def test_plan_keys_are_normalized() -> None:
    canonical = plan_rebalance(HOLD, PRICES, {"BTC/USDT": 0.3, "ETH/USDT": 0.7})
    odd = plan_rebalance({"btc_usdt": 0.1, "Eth-Usdt": 2.0}, {"btc/usdt": 50_000.0,
                         "ETH_USDT": 2_500.0}, {"BTC-USDT": 0.3, "eth_usdt": 0.7})
    pd.testing.assert_frame_equal(odd.orders, canonical.orders)
    pd.testing.assert_frame_equal(odd.weights, canonical.weights)


@pytest.mark.parametrize(("kwargs", "text"), [
    ({"targets": {"BTC/USDT": 0.3, "ETH USDT": 0.7}},
     "targets: key 'ETH USDT' is not a symbol like BTC/USDT"),
    ({"targets": {"BTC/USDT": 0.3, "btc_usdt": 0.2}},
     "targets lists BTC/USDT twice ('BTC/USDT' and 'btc_usdt')"),
    ({"holdings": {"BTC/USDT": 0.1, "eth/usdt": 1.0, "ETH/USDT": 1.0}},
     "holdings lists ETH/USDT twice ('eth/usdt' and 'ETH/USDT')"),
])
def test_plan_bad_keys_refused(kwargs: dict, text: str) -> None:
    args = {"holdings": HOLD, "prices": PRICES, "targets": {"BTC/USDT": 0.5, "ETH/USDT": 0.5}}
    with pytest.raises(ParameterError) as err:
        plan_rebalance(**{**args, **kwargs})
    assert str(err.value) == text


def test_optimizer_keys_are_normalized(returns: pd.DataFrame) -> None:
    rets = returns[["BTC/USDT", "ETH/USDT", "SOL/USDT"]].iloc[-200:]
    canonical = optimize(rets, "erc", risk_budgets={"BTC/USDT": 0.5, "ETH/USDT": 0.3,
                                                    "SOL/USDT": 0.2},
                         bounds={"SOL/USDT": (0.0, 0.15)},
                         groups={"majors": (["BTC/USDT", "ETH/USDT"], 0.0, 0.9)},
                         current_weights={"BTC/USDT": 0.4, "ETH/USDT": 0.4, "SOL/USDT": 0.2},
                         max_turnover=1.5)
    odd = optimize(rets, "erc", risk_budgets={"btc_usdt": 0.5, "eth-usdt": 0.3, "sol/usdt": 0.2},
                   bounds={"SOL_USDT": (0.0, 0.15)},
                   groups={"majors": (["btc_usdt", "ETH-USDT"], 0.0, 0.9)},
                   current_weights={"btc/usdt": 0.4, "ETH_USDT": 0.4, "sol-usdt": 0.2},
                   max_turnover=1.5)
    pd.testing.assert_series_equal(odd.weights, canonical.weights)
    assert canonical.weights["SOL/USDT"] <= 0.15 + 1e-9


@pytest.mark.parametrize(("kwargs", "text"), [
    ({"risk_budgets": {"BTC/USDT": 0.5, "btc_usdt": 0.5}},
     "risk_budgets: 'btc_usdt' and 'BTC/USDT' both name BTC/USDT"),
    ({"risk_budgets": {"BTC/USDT": 0.5, "DOGE/USDT": 0.5}},
     "risk_budgets: 'DOGE/USDT' is not an asset of the data (BTC/USDT, ETH/USDT)"),
    ({"bounds": {"BTC/USDT": (0, 0.5), "btc_usdt": (0, 0.6)}},
     "bounds: 'BTC/USDT' and 'btc_usdt' both name BTC/USDT"),
    ({"groups": {"g": (["BTC/USDT", "btc-usdt"], 0, 1)}},
     "groups['g'] names BTC/USDT twice ('BTC/USDT' and 'btc-usdt')"),
])
def test_optimizer_bad_keys_refused(returns: pd.DataFrame, kwargs: dict, text: str) -> None:
    with pytest.raises(ParameterError) as err:
        optimize(returns[["BTC/USDT", "ETH/USDT"]], "erc", **kwargs)
    assert str(err.value) == text


# ------------------------------------------------------------------ lots after the plan date

LOTS = pd.DataFrame({"symbol": ["BTC/USDT", "BTC/USDT"], "quantity": [0.1, 0.2],
                     "unit_cost": [30_000.0, 60_000.0],
                     "acquired": ["2024-01-01", "2025-03-01T12:00:00Z"]})


def test_plan_refuses_lot_after_as_of() -> None:
    with pytest.raises(ParameterError) as err:
        plan_rebalance(LOTS, PRICES, {"BTC/USDT": 0.5}, as_of="2025-02-01")
    assert str(err.value) == (
        "holdings row 1: lot of BTC/USDT acquired 2025-03-01T12:00:00+00:00 is after the plan "
        "date as_of 2025-02-01 (its holding period would be negative); fix the date or plan as of "
        "a later day")
    plan = plan_rebalance(LOTS, PRICES, {"BTC/USDT": 0.5}, as_of="2025-03-02")
    assert (plan.realized["holding_days"] >= 0).all()


def test_plan_from_file_names_the_line(tmp_path: Path) -> None:
    f = tmp_path / "lots.csv"
    f.write_text("# my lots\nsymbol,quantity,unit_cost,acquired\nBTC/USDT,0.1,30000,2024-01-01\n"
                 "\nBTC/USDT,0.2,60000,2025-03-01\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        plan_rebalance(str(f), PRICES, {"BTC/USDT": 0.5}, as_of="2025-02-01")
    assert str(err.value).startswith(f"{f} line 5: lot of BTC/USDT acquired 2025-03-01 is after "
                                     "the plan date as_of 2025-02-01")
    assert read_holdings(f).attrs["lines"] == [3, 5]


def test_lot_functions_refuse_future_lots() -> None:
    lots = as_lots(LOTS)
    with pytest.raises(ParameterError, match="lots row 1: lot of BTC/USDT acquired 2025-03-01"):
        consume_lots(lots, "BTC/USDT", 0.05, 50_000.0, as_of="2025-02-01")
    with pytest.raises(ParameterError, match="after the plan date as_of 2025-02-01"):
        harvest_candidates(lots, PRICES, as_of="2025-02-01")
