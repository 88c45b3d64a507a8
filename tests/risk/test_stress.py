"""Stress testing: scenario library, historical replay, hypothetical shocks, stressed VaR."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from quantlab.errors import DataError, ParameterError, QuantlabError, UnknownSymbolError
from quantlab.risk.stress import (
    HistoricalScenario,
    HypotheticalScenario,
    estimate_betas,
    load_scenarios,
    stress_test,
    stressed_var,
)

# --------------------------------------------------------------------------- scenario library


def test_packaged_library_loads_and_is_valid(btc):
    lib = load_scenarios()
    for name in ("covid_crash", "covid_week", "may_2021_crash", "luna_ust", "celsius_3ac", "ftx",
                 "carry_unwind_2024", "btc_minus_30", "market_minus_20_beta", "alts_minus_50"):
        assert name in lib
    hist = [s for s in lib.values() if isinstance(s, HistoricalScenario)]
    assert len(hist) >= 6
    first, last = btc.index[0], btc.index[-1]
    for s in hist:
        # the day before start must exist in the data so the window return is defined
        assert first < s.start <= s.end <= last, s.name
        assert s.description
    beta = lib["market_minus_20_beta"]
    assert isinstance(beta, HypotheticalScenario)
    assert beta.beta_scaled and beta.market == -0.20 and beta.market_asset == "BTC/USDT"
    assert lib["alts_minus_50"].default == -0.5


def test_user_file_extends_and_overrides(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text(
        '[historical.covid_crash]\nstart = 2020-03-12\nend = 2020-03-13\n'
        '[hypothetical.eth_minus_10]\nshocks = { "ETH/USDT" = -0.1 }\n'
    )
    lib = load_scenarios(f)
    assert lib["covid_crash"].window == "2020-03-12..2020-03-13"  # bare TOML dates accepted
    assert lib["eth_minus_10"].shocks == {"ETH/USDT": -0.1}
    assert "luna_ust" in lib
    only = load_scenarios(f, include_packaged=False)
    assert list(only) == ["covid_crash", "eth_minus_10"]


@pytest.mark.parametrize(("text", "fragment"), [
    ("[historical.x]\nstart = \"2020-03-12\"\n", "historical.x.end is missing"),
    ("[historical.x]\nstart = \"2020-03-13\"\nend = \"2020-03-12\"\n", "historical.x.start"),
    ("[historical.x]\nstart = \"March\"\nend = \"2020-03-12\"\n", "historical.x.start"),
    ("[historical.x]\nstart = \"2020-03-12\"\nend = \"2020-03-12\"\nwindow = 3\n",
     "historical.x.window is not a known key"),
    ("[hypothetical.y]\nshocks = { \"BTC/USDT\" = \"-30%\" }\n", "hypothetical.y.shocks.BTC/USDT"),
    ("[hypothetical.y]\nshocks = { \"BTC/USDT\" = -1.5 }\n", "below -1"),
    ("[hypothetical.y]\ndescription = \"nothing\"\n", "hypothetical.y needs shocks or market"),
    ("[hypothetical.y]\nmarket = -0.2\ndefault = -0.1\n", "hypothetical.y.default"),
    ("[hypothetical.y]\nshocks = { \"BTC/USDT\" = -0.1 }\nbeta_scaled = true\n",
     "hypothetical.y.beta_scaled needs a market"),
    ("[scenarios.z]\nx = 1\n", "scenarios is not a known section"),
    ("[historical.x\n", "not valid TOML"),
])
def test_malformed_file_names_file_and_key(tmp_path, text, fragment):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(DataError) as err:
        load_scenarios(f)
    msg = str(err.value)
    assert str(f) in msg and fragment in msg
    assert "\n" not in msg


def test_missing_file():
    with pytest.raises(DataError, match=r"nope\.toml"):
        load_scenarios("nope.toml")


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


def _beta_frame(n=400, lookback=100, seed=7):
    """Market returns m; asset A = 0.001 + 2 m on the last `lookback` bars (0.5 m before)."""
    rng = np.random.default_rng(seed)
    m = rng.normal(0, 0.02, n)
    a = 0.001 + 0.5 * m
    a[-lookback:] = 0.001 + 2.0 * m[-lookback:]
    idx = pd.date_range("2023-01-01", periods=n, freq="D", tz="UTC")
    return pd.DataFrame({"MKT/USDT": m, "A/USDT": a}, index=idx)


def test_beta_scaled_shock_with_known_beta():
    rets = _beta_frame()
    betas = estimate_betas(rets, "MKT/USDT", lookback=100)
    assert betas["A/USDT"] == pytest.approx(2.0, rel=1e-10)
    assert betas["MKT/USDT"] == 1.0
    assert estimate_betas(rets, "MKT/USDT", lookback=400)["A/USDT"] != pytest.approx(2.0)
    sc = HypotheticalScenario(name="mkt_minus_20", market=-0.2, beta_scaled=True,
                              market_asset="MKT/USDT", lookback=100)
    w = {"MKT/USDT": 0.5, "A/USDT": 0.5}
    res = stress_test(w, rets, scenarios=[sc], from_returns=True)
    row = res.table.loc["mkt_minus_20"]
    assert row["A/USDT"] == pytest.approx(-0.4, rel=1e-10)
    assert row["MKT/USDT"] == -0.2
    assert row["portfolio_return"] == pytest.approx(0.5 * -0.2 + 0.5 * -0.4, rel=1e-10)
    # beta 2 x -60 % = -120 %: floored at -100 % and said so
    big = HypotheticalScenario(name="crash", market=-0.6, beta_scaled=True,
                               market_asset="MKT/USDT", lookback=100)
    row = stress_test(w, rets, scenarios=[big], from_returns=True).table.loc["crash"]
    assert row["A/USDT"] == -1.0 and "floored" in row["note"]


def test_beta_needs_enough_data():
    rets = _beta_frame(n=20, lookback=20)
    with pytest.raises(DataError, match="only 20 paired returns"):
        estimate_betas(rets, "MKT/USDT")
    with pytest.raises(UnknownSymbolError, match="market asset BTC/USDT"):
        estimate_betas(rets, "BTC/USDT")


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


@pytest.fixture(scope="module")
def three_assets():
    rng = np.random.default_rng(42)
    cov = np.array([[4.0, 1.2, 0.6], [1.2, 9.0, 2.1], [0.6, 2.1, 1.0]]) * 1e-4
    x = rng.multivariate_normal(np.zeros(3), cov, size=500)
    return pd.DataFrame(x, columns=["A", "B", "C"])


def test_base_var_is_parametric_formula(three_assets):
    w = np.array([0.5, 0.3, 0.2])
    res = stressed_var(three_assets, w, level=0.99)
    z = stats.norm.ppf(0.99)
    sp = np.sqrt(w @ three_assets.cov().to_numpy() @ w)
    assert res.table.loc["base", "var"] == pytest.approx(z * sp, rel=1e-12)
    assert res.table.loc["base", "es"] == pytest.approx(sp * stats.norm.pdf(z) / 0.01, rel=1e-12)
    assert res.table.loc["stressed", "var"] == pytest.approx(z * sp, rel=1e-12)  # no stress


def test_rho_one_equals_sum_of_standalone_vars(three_assets):
    w = {"A": 0.5, "B": 0.3, "C": 0.2}
    res = stressed_var(three_assets, w, level=0.99, correlation=1.0)
    sig = three_assets.std(ddof=1)
    z = stats.norm.ppf(0.99)
    standalone = z * (pd.Series(w) * sig)
    assert res.var == pytest.approx(standalone.sum(), rel=1e-12)
    assert res.var == pytest.approx(res.table.loc["stressed", "undiversified_var"], rel=1e-12)
    assert res.assets["standalone_var"].to_numpy() == pytest.approx(standalone.to_numpy())
    assert res.table.loc["base", "var"] < res.var  # diversification is gone
    # with a short, rho = 1 makes the hedge perfect: |sum w sigma| z, below the undiversified sum
    short = stressed_var(three_assets, [0.5, -0.3, 0.2], correlation=1.0)
    assert short.var == pytest.approx(z * abs(0.5 * sig["A"] - 0.3 * sig["B"] + 0.2 * sig["C"]))
    assert short.var < short.table.loc["stressed", "undiversified_var"]


@pytest.mark.parametrize("k", [0.5, 2.0, 3.0])
def test_vol_multiplier_scales_var(three_assets, k):
    res = stressed_var(three_assets, [0.2, 0.5, 0.3], level=0.975, vol_multiplier=k,
                       horizon=10, value=1e6)
    base, stressed = res.table.loc["base"], res.table.loc["stressed"]
    assert stressed["var"] == pytest.approx(k * base["var"], rel=1e-12)
    assert stressed["es"] == pytest.approx(k * base["es"], rel=1e-12)
    assert stressed["var_pnl"] == pytest.approx(stressed["var"] * 1e6)


def test_correlation_must_stay_psd(three_assets):
    with pytest.raises(ParameterError, match=r"rho >= -0\.5"):
        stressed_var(three_assets, [0.3, 0.3, 0.4], correlation=-0.9)
    ok = stressed_var(three_assets, [0.3, 0.3, 0.4], correlation=-0.5)
    assert ok.var >= 0
    bad = np.array([[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1.0]])
    res = stressed_var(three_assets, [0.3, 0.3, 0.4], correlation=bad)
    assert np.linalg.eigvalsh(res.correlation.to_numpy()).min() > -1e-10
    assert "not positive semi-definite" in res.notes[0]
    json.dumps(res.to_dict())
    assert "Stressed VaR" in res._repr_html_()


def test_stressed_var_bad_inputs(three_assets):
    with pytest.raises(ParameterError, match="vol_multiplier"):
        stressed_var(three_assets, [0.3, 0.3, 0.4], vol_multiplier=0)
    with pytest.raises(ParameterError, match=r"correlation=1\.5"):
        stressed_var(three_assets, [0.3, 0.3, 0.4], correlation=1.5)
    with pytest.raises(ParameterError, match="level"):
        stressed_var(three_assets, [0.3, 0.3, 0.4], level=99)
    holes = three_assets.copy()
    holes.iloc[3, 1] = np.nan
    with pytest.raises(QuantlabError, match=r"NaN/inf at row 3"):
        stressed_var(holes, [0.3, 0.3, 0.4])


def test_missing_skip_keeps_the_row_with_the_reason() -> None:
    from quantlab.risk.stress import stress_test as _stress

    res = _stress({"BTC/USDT": 0.5, "SOL/USDT": 0.5}, scenarios=["covid_crash", "ftx"],
                  missing="skip")
    t = res.summary()
    assert np.isnan(t.loc["covid_crash", "portfolio_return"])
    assert "skipped: SOL/USDT not listed" in t.loc["covid_crash", "note"]
    assert np.isfinite(t.loc["ftx", "portfolio_return"])
    assert res.worst() == "ftx"
    assert np.isnan(t.loc["covid_crash", "SOL/USDT"]) and t.loc["covid_crash", "BTC/USDT"] < -0.3
