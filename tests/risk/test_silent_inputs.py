"""No silent wrong answers in the risk layer: prices as returns, symbol keys, booleans."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from quantlab._validate import PRICE_RUN, as_returns
from quantlab.data import load_sample, sample_symbols
from quantlab.errors import DataError, ParameterError
from quantlab.portfolio import covariance, optimize, portfolio_cvar
from quantlab.risk import (
    drawdown_analysis,
    es_backtest,
    returns_from_prices,
    rolling_var,
    stressed_var,
    value_at_risk,
    var_backtest_from_forecasts,
    var_decomposition,
    worst_case_ellipsoid,
)
from quantlab.risk.returns import portfolio_returns
from quantlab.risk.stress import HypotheticalScenario, load_scenarios, stress_test

PAIR = ["BTC/USDT", "ETH/USDT"]


@pytest.fixture(scope="module")
def closes() -> pd.DataFrame:
    return load_sample(PAIR)["close"].dropna()


@pytest.fixture(scope="module")
def rets(closes: pd.DataFrame) -> pd.DataFrame:
    return returns_from_prices(closes)


# ------------------------------------------------------------------ prices passed as returns

HINT = "use risk.returns_from_prices(...)"


def test_value_at_risk_of_prices_is_refused(closes: pd.DataFrame) -> None:
    with pytest.raises(DataError) as err:
        value_at_risk(closes["BTC/USDT"])
    msg = str(err.value)
    assert msg.startswith("returns looks like prices, not returns (median ")
    assert HINT in msg


def test_price_changes_are_refused(closes: pd.DataFrame) -> None:
    diffs = closes["BTC/USDT"].diff().dropna()
    with pytest.raises(DataError) as err:
        value_at_risk(diffs)
    row = int(np.argmax((diffs < -1).to_numpy()))
    assert (f"returns looks like prices (or price changes), not returns: row {row} "
            f"({diffs.index[row]}) is {diffs.iloc[row]:.6g}, below -100 %") in str(err.value)


def test_low_priced_coin_prices_are_refused() -> None:
    doge = load_sample("DOGE/USDT")["close"]
    assert doge.median() < 1        # the median rule alone would not catch it
    with pytest.raises(DataError, match=r"all \d+ values are positive"):
        value_at_risk(doge)


def test_frame_names_the_column(closes: pd.DataFrame, rets: pd.DataFrame) -> None:
    mixed = rets.copy()
    mixed["ETH/USDT"] = closes["ETH/USDT"].reindex(mixed.index)
    with pytest.raises(DataError, match=r"^returns column ETH/USDT looks like prices"):
        value_at_risk(mixed, weights=[0.5, 0.5])


@pytest.mark.parametrize("freq", [None, "W", "ME"])
def test_genuine_sample_returns_pass(freq: str | None) -> None:
    """Daily, weekly and monthly returns of every bundled pair (DOGE's +300 % days included)."""
    close = load_sample(sample_symbols())["close"]
    if freq is not None:
        close = close.resample(freq).last()
    for sym in close.columns:
        r = returns_from_prices(close[sym].dropna())
        assert as_returns(r).equals(r.astype("float64")), sym


def test_short_all_positive_returns_are_still_returns() -> None:
    r = pd.Series([0.01, 0.02, 0.5, 0.03] * 7)          # 28 < PRICE_RUN rises, median < 1
    assert len(r) < PRICE_RUN
    assert value_at_risk(r, method="historical").var < 0   # a gain at every level


PRICE_CALLS: dict[str, Callable[[pd.DataFrame, pd.Series], Any]] = {
    "value_at_risk": lambda p, s: value_at_risk(p, weights=[0.5, 0.5]),
    "var_decomposition": lambda p, s: var_decomposition(p, [0.5, 0.5]),
    "rolling_var": lambda p, s: rolling_var(s, window=100),
    "stressed_var": lambda p, s: stressed_var(p, [0.5, 0.5]),
    "worst_case_ellipsoid": lambda p, s: worst_case_ellipsoid([0.5, 0.5], p),
    "drawdown_analysis": lambda p, s: drawdown_analysis(s, from_returns=True),
    "var_backtest_from_forecasts": lambda p, s: var_backtest_from_forecasts(s, s * 0 + 0.05, 0.99),
    "es_backtest": lambda p, s: es_backtest(s, s * 0 + 0.05, s * 0 + 0.07, 0.975),
    "portfolio_returns": lambda p, s: portfolio_returns(p, [0.5, 0.5]),
    "stress_test": lambda p, s: stress_test([0.5, 0.5], p, "btc_minus_30", from_returns=True),
    "optimize": lambda p, s: optimize(p, "erc"),
    "covariance": lambda p, s: covariance(p),
    "portfolio_cvar": lambda p, s: portfolio_cvar(p, [0.5, 0.5]),
}


@pytest.mark.parametrize("name", sorted(PRICE_CALLS))
def test_every_function_taking_returns_refuses_prices(name: str, closes: pd.DataFrame) -> None:
    with pytest.raises(DataError) as err:
        PRICE_CALLS[name](closes, closes["BTC/USDT"])
    assert "looks like prices" in str(err.value) and HINT in str(err.value)


def test_string_in_returns_names_row(rets: pd.DataFrame) -> None:
    bad = rets["BTC/USDT"].astype(object)
    bad.iloc[7] = "oops"
    with pytest.raises(DataError, match=r"^returns is not numeric: row 7 \(.*\) holds 'oops'$"):
        value_at_risk(bad)


# ------------------------------------------------------------------ symbol keys of weights

SPELLINGS = [
    {"btc/usdt": 0.7, "eth/usdt": 0.3},
    {"BTC_USDT": 0.7, "ETH_USDT": 0.3},
    {"btc-usdt": 0.7, "Eth-Usdt": 0.3},
    pd.Series({"btc_usdt": 0.7, "ETH/USDT": 0.3}),
]


@pytest.mark.parametrize("weights", SPELLINGS)
def test_weight_keys_are_normalized(rets: pd.DataFrame, weights: Any) -> None:
    canonical = {"BTC/USDT": 0.7, "ETH/USDT": 0.3}
    for method in ("historical", "parametric"):
        a = value_at_risk(rets, method=method, weights=weights)
        b = value_at_risk(rets, method=method, weights=canonical)
        assert (a.var, a.es) == (b.var, b.es)
    assert var_decomposition(rets, weights).var == var_decomposition(rets, canonical).var
    assert stressed_var(rets, weights, correlation=1.0).var == \
        stressed_var(rets, canonical, correlation=1.0).var


@pytest.mark.parametrize(("weights", "text"), [
    ({"BTC/USDT": 0.7, "ETH USDT": 0.3},
     "weights: key 'ETH USDT' is not a symbol like BTC/USDT nor an asset of the data "
     "(BTC/USDT, ETH/USDT)"),
    ({"BTC/USDT": 0.7, "SOL/USDT": 0.3},
     "weights: 'SOL/USDT' is not an asset of the data (BTC/USDT, ETH/USDT)"),
    ({"BTC/USDT": 0.5, "btc_usdt": 0.2, "ETH/USDT": 0.3},
     "weights: 'btc_usdt' and 'BTC/USDT' both name BTC/USDT"),
    ({"BTC/USDT": True, "ETH/USDT": 0.3}, "weights['BTC/USDT']=True must be a number, not bool"),
])
def test_bad_weight_keys_are_refused(rets: pd.DataFrame, weights: dict, text: str) -> None:
    with pytest.raises(ParameterError) as err:
        value_at_risk(rets, weights=weights)
    assert str(err.value) == text


@pytest.mark.parametrize(("kwargs", "text"), [
    ({"level": True}, "level=True must be a number in (0, 1), not bool"),
    ({"horizon": True}, "horizon=True must be a positive whole number of bars"),
])
def test_booleans_are_not_numbers(rets: pd.DataFrame, kwargs: dict, text: str) -> None:
    with pytest.raises(ParameterError) as err:
        value_at_risk(rets["BTC/USDT"], **kwargs)
    assert str(err.value) == text


# ------------------------------------------------------------------ stress scenario keys

def _library(tmp_path: Path, key: str, name: str = "lib.toml") -> Path:
    f = tmp_path / name
    f.write_text(f'[hypothetical.btc_crash]\nshocks = {{ "{key}" = -0.4, "ETH/USDT" = -0.1 }}\n'
                 'default = 0.0\n', encoding="utf-8")
    return f


@pytest.mark.parametrize("key", ["btc/usdt", "BTC_USDT", "btc-usdt", "btc_usdt"])
def test_scenario_keys_normalized_give_identical_losses(tmp_path: Path, closes: pd.DataFrame,
                                                         key: str) -> None:
    w = {"BTC/USDT": 0.6, "ETH/USDT": 0.4}
    canonical = stress_test(w, scenarios="btc_crash", library=_library(tmp_path, "BTC/USDT", "c.toml"))
    odd = stress_test(w, scenarios="btc_crash", library=_library(tmp_path, key))
    assert odd.table.loc["btc_crash", "portfolio_return"] == \
        canonical.table.loc["btc_crash", "portfolio_return"] == 0.6 * -0.4 + 0.4 * -0.1
    user = stress_test(w, closes, scenarios="btc_crash", library=_library(tmp_path, key))
    assert user.table.loc["btc_crash", "portfolio_return"] == 0.6 * -0.4 + 0.4 * -0.1


def test_scenario_file_garbage_key_names_file_and_key(tmp_path: Path) -> None:
    f = _library(tmp_path, "BTC USDT")
    with pytest.raises(DataError) as err:
        load_scenarios(f)
    assert str(err.value) == (f"{f}: hypothetical.btc_crash.shocks.'BTC USDT' is not a symbol "
                              "(expected BASE/QUOTE, e.g. BTC/USDT)")


def test_scenario_file_duplicate_keys_refused(tmp_path: Path) -> None:
    f = _library(tmp_path, "eth_usdt")
    with pytest.raises(DataError) as err:
        load_scenarios(f)
    assert str(err.value) == (f"{f}: hypothetical.btc_crash.shocks.'ETH/USDT' names ETH/USDT "
                              "again (already given as 'eth_usdt')")


def test_scenario_key_naming_no_known_asset_is_refused(tmp_path: Path,
                                                       closes: pd.DataFrame) -> None:
    f = _library(tmp_path, "BTC/USTD")       # a typo: would be a zero shock on BTC
    w = {"BTC/USDT": 0.6, "ETH/USDT": 0.4}
    with pytest.raises(ParameterError) as err:
        stress_test(w, scenarios="btc_crash", library=f)
    assert str(err.value) == (f"scenario btc_crash ({f}): shock key 'BTC/USTD' names no asset of "
                              "the portfolio or of the bundled sample (portfolio: BTC/USDT, "
                              "ETH/USDT)")
    with pytest.raises(ParameterError, match="names no asset of the portfolio or of "
                                             "prices_or_returns"):
        stress_test(w, closes, scenarios="btc_crash", library=f)


def test_scenario_shock_for_unheld_known_asset_is_ignored(closes: pd.DataFrame) -> None:
    sc = HypotheticalScenario(name="sol", shocks={"sol_usdt": -0.5, "btc_usdt": -0.1})
    assert sc.shocks == {"SOL/USDT": -0.5, "BTC/USDT": -0.1}
    res = stress_test({"BTC/USDT": 1.0}, scenarios=sc)
    assert res.table.loc["sol", "portfolio_return"] == -0.1
    # the packaged library's ETH shock stays valid on user data without ETH
    res = stress_test({"BTC/USDT": 1.0}, closes[["BTC/USDT"]], scenarios="alts_minus_50")
    assert res.table.loc["alts_minus_50", "portfolio_return"] == -0.2


def test_scenario_constructor_duplicate_keys() -> None:
    with pytest.raises(ParameterError, match="scenario x: shocks 'BTC/USDT' and 'btc_usdt' both "
                                             "name BTC/USDT"):
        HypotheticalScenario(name="x", shocks={"BTC/USDT": -0.1, "btc_usdt": -0.2})


def test_stress_weight_keys_normalized(closes: pd.DataFrame) -> None:
    canonical = stress_test({"BTC/USDT": 0.6, "ETH/USDT": 0.4}, scenarios="covid_crash")
    odd = stress_test({"btc_usdt": 0.6, "eth-usdt": 0.4}, scenarios="covid_crash")
    user = stress_test({"btc_usdt": 0.6, "eth-usdt": 0.4}, closes, scenarios="covid_crash")
    r = canonical.table.loc["covid_crash", "portfolio_return"]
    assert odd.table.loc["covid_crash", "portfolio_return"] == r
    assert user.table.loc["covid_crash", "portfolio_return"] == r
    with pytest.raises(ParameterError, match="weights: 'BTC/USDT' and 'btc_usdt' both name"):
        stress_test({"BTC/USDT": 0.5, "btc_usdt": 0.5}, scenarios="covid_crash")
    with pytest.raises(ParameterError, match="weights: key 'bitcoin' is not a symbol"):
        stress_test({"bitcoin": 1.0}, scenarios="covid_crash")


@pytest.mark.parametrize(("call", "text"), [
    (lambda r: stress_test({"BTC/USDT": 1.0}, scenarios="btc_minus_30", value=True), "value=True"),
    (lambda r: stressed_var(r, [0.5, 0.5], vol_multiplier=True), "vol_multiplier=True"),
    (lambda r: worst_case_ellipsoid([0.5, 0.5], r, probability=True), "probability=True"),
    (lambda r: optimize(r, "max_sharpe", risk_free=True), "risk_free=True"),
])
def test_booleans_refused_across_risk_options(rets: pd.DataFrame, call: Any, text: str) -> None:
    with pytest.raises(ParameterError, match=f"^{text}"):
        call(rets)
