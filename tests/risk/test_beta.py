"""risk.beta: OLS betas on a market asset, and beta-scaled hypothetical shocks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantlab.errors import DataError, UnknownSymbolError
from quantlab.risk.beta import estimate_betas
from quantlab.risk.scenarios import HypotheticalScenario
from quantlab.risk.stress import stress_test


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
