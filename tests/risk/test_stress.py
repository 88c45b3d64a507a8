"""risk.stress: historical replay and hypothetical shocks applied to today's portfolio."""

from __future__ import annotations

import json

import numpy as np
import pytest

from quantlab.errors import DataError, ParameterError, UnknownSymbolError
from quantlab.risk.scenarios import HistoricalScenario, HypotheticalScenario, load_scenarios
from quantlab.risk.stress import stress_test

# --------------------------------------------------------------------------- historical replay


def test_btc_covid_replay_equals_csv_close_ratio(btc):
    # BTC_USDT.csv: close 2020-03-11 = 7934.52, close 2020-03-12 = 4800 -> 4800/7934.52 - 1
    # = -0.395048... (the COVID crash day).
    expected = btc.loc["2020-03-12", "close"].item() / btc.loc["2020-03-11", "close"].item() - 1
    assert expected == pytest.approx(4800 / 7934.52 - 1)
    assert expected == pytest.approx(-0.395048, abs=1e-6)
    res = stress_test({"BTC/USDT": 1.0}, scenarios="covid_crash")
    row = res.table.loc["covid_crash"]
    assert row["portfolio_return"] == pytest.approx(expected, rel=1e-12)
    assert row["BTC/USDT"] == pytest.approx(expected, rel=1e-12)
    assert row["kind"] == "historical" and row["window"] == "2020-03-12..2020-03-12"


def test_two_asset_portfolio_is_weighted_sum(btc, panel):
    # LUNA window 2022-05-05..2022-05-12: BTC 39690 -> 29029.75 (-26.86 %),
    # ETH 2940.64 -> 1960.22 (-33.34 %) (closes of 2022-05-04 and 2022-05-12 in the CSVs).
    close = panel["close"]
    r_btc = close.loc["2022-05-12", "BTC/USDT"].item() / close.loc["2022-05-04", "BTC/USDT"].item() - 1
    r_eth = close.loc["2022-05-12", "ETH/USDT"].item() / close.loc["2022-05-04", "ETH/USDT"].item() - 1
    assert r_btc == pytest.approx(29029.75 / 39690 - 1)
    w = {"BTC/USDT": 0.6, "ETH/USDT": 0.4}
    res = stress_test(w, scenarios=["luna_ust", "covid_crash"], value=1_000_000)
    row = res.table.loc["luna_ust"]
    assert row["BTC/USDT"] == pytest.approx(r_btc, rel=1e-12)
    assert row["ETH/USDT"] == pytest.approx(r_eth, rel=1e-12)
    port = 0.6 * r_btc + 0.4 * r_eth
    assert row["portfolio_return"] == pytest.approx(port, rel=1e-12)
    assert row["pnl"] == pytest.approx(port * 1_000_000, rel=1e-12)
    assert row["worst_asset"] == "BTC/USDT"  # 0.6 x -26.9 % < 0.4 x -33.3 %
    assert res.contributions.loc["luna_ust"].sum() == pytest.approx(port)
    # user-given prices (the panel) and returns give the same answer as the bundled default
    by_prices = stress_test(w, close[["BTC/USDT", "ETH/USDT"]], scenarios="luna_ust")
    assert by_prices.table.loc["luna_ust", "portfolio_return"] == pytest.approx(port, rel=1e-12)
    rets = close[["BTC/USDT", "ETH/USDT"]].pct_change()
    by_rets = stress_test(w, rets, scenarios="luna_ust", from_returns=True)
    assert by_rets.table.loc["luna_ust", "portfolio_return"] == pytest.approx(port, rel=1e-12)
    by_panel = stress_test(w, panel, scenarios="luna_ust")
    assert by_panel.table.loc["luna_ust", "portfolio_return"] == pytest.approx(port, rel=1e-12)


def test_asset_without_data_in_window_is_reported_not_dropped():
    w = {"BTC/USDT": 0.5, "SOL/USDT": 0.5}
    with pytest.raises(DataError, match=r"SOL/USDT has no data over scenario covid_crash"):
        stress_test(w, scenarios="covid_crash")
    res = stress_test(w, scenarios=["covid_crash", "ftx"], missing="proxy:BTC/USDT")
    row = res.table.loc["covid_crash"]
    assert row["SOL/USDT"] == row["BTC/USDT"]
    assert "proxy BTC/USDT for SOL/USDT" in row["note"]
    assert res.table.loc["ftx", "note"] == ""  # SOL is listed in Nov 2022: no proxy
    with pytest.raises(ParameterError, match="missing="):
        stress_test(w, scenarios="ftx", missing="drop")


def test_window_outside_data(panel):
    recent = panel["close"].loc["2021-01-01":, ["BTC/USDT"]]
    with pytest.raises(DataError, match=r"covid_crash window 2020-03-12\.\.2020-03-12 is outside"):
        stress_test({"BTC/USDT": 1.0}, recent, scenarios="covid_crash")
    sc = HistoricalScenario(name="future", start="2030-01-01", end="2030-01-02")
    with pytest.raises(DataError, match="outside the data"):
        stress_test({"BTC/USDT": 1.0}, scenarios=[sc])


def test_unknown_scenario_lists_library():
    with pytest.raises(ParameterError, match=r"unknown scenario 'lehman' \(available: covid_crash"):
        stress_test({"BTC/USDT": 1.0}, scenarios="lehman")


def test_bad_inputs():
    with pytest.raises(ParameterError, match="value="):
        stress_test({"BTC/USDT": 1.0}, scenarios="btc_minus_30", value=-5)
    with pytest.raises(UnknownSymbolError, match="FOO/USDT"):
        stress_test({"FOO/USDT": 1.0}, scenarios="covid_crash")
    with pytest.raises(ParameterError, match="mapping or Series by symbol"):
        stress_test([0.5, 0.5], scenarios="btc_minus_30")
    with pytest.raises(ParameterError, match="NaN"):
        stress_test({"BTC/USDT": float("nan")}, scenarios="btc_minus_30")
    with pytest.raises(ParameterError, match="after end"):
        HistoricalScenario(name="x", start="2020-03-12", end="2020-03-01")
    with pytest.raises(ParameterError, match=r"scenario y: shocks\.BTC/USDT"):
        HypotheticalScenario(name="y", shocks={"BTC/USDT": -2.0})
    with pytest.raises(ParameterError, match="needs shocks or market"):
        HypotheticalScenario(name="y")


# --------------------------------------------------------------------------- hypothetical


def test_hypothetical_shocks_by_hand():
    w = {"BTC/USDT": 0.4, "ETH/USDT": 0.3, "XRP/USDT": 0.2}  # 10 % cash
    res = stress_test(w, scenarios=["btc_minus_30", "alts_minus_50", "market_minus_20"],
                      value=50_000)
    t = res.table
    assert t.loc["btc_minus_30", "portfolio_return"] == pytest.approx(0.4 * -0.30)
    # alts_minus_50: BTC -20 %, ETH -35 %, everything else (XRP) the default -50 %
    alts = 0.4 * -0.20 + 0.3 * -0.35 + 0.2 * -0.50
    assert t.loc["alts_minus_50", "portfolio_return"] == pytest.approx(alts)
    assert t.loc["alts_minus_50", "pnl"] == pytest.approx(alts * 50_000)
    assert t.loc["alts_minus_50", "XRP/USDT"] == -0.5
    assert t.loc["market_minus_20", "portfolio_return"] == pytest.approx(0.9 * -0.20)
    assert (t["kind"] == "hypothetical").all() and (t["window"] == "").all()



def test_full_library_on_bundled_data_and_result_api():
    w = {"BTC/USDT": 0.5, "ETH/USDT": 0.3, "BNB/USDT": 0.2}
    res = stress_test(w, value=10_000)
    t = res.summary()
    assert list(t.columns[:7]) == ["kind", "window", "portfolio_return", "pnl", "worst_asset",
                                   "worst_contribution", "note"]
    assert list(t.columns[7:]) == list(w)
    assert len(t) == len(load_scenarios())
    assert (t["portfolio_return"] < 0).all()  # every packaged scenario is a sell-off
    assert res.worst() in t.index
    assert set(res.betas) == {"market_minus_20_beta", "market_minus_40_beta"}
    json.dumps(res.to_dict())
    assert "<table" in res._repr_html_()
    fig = res.plot()
    assert fig.data[0].orientation == "h"


# --------------------------------------------------------------------------- stressed VaR


def test_missing_skip_keeps_the_row_with_the_reason() -> None:
    res = stress_test({"BTC/USDT": 0.5, "SOL/USDT": 0.5}, scenarios=["covid_crash", "ftx"],
                      missing="skip")
    t = res.summary()
    assert np.isnan(t.loc["covid_crash", "portfolio_return"])
    assert "skipped: SOL/USDT not listed" in t.loc["covid_crash", "note"]
    assert np.isfinite(t.loc["ftx", "portfolio_return"])
    assert res.worst() == "ftx"
    assert np.isnan(t.loc["covid_crash", "SOL/USDT"]) and t.loc["covid_crash", "BTC/USDT"] < -0.3

