"""The morning summary: ``morning_summary()`` and ``notebooks/nightly.ipynb`` (metrics.json equal to
the library's own figures for the same inputs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import quantlab as ql
from quantlab.errors import ParameterError
from quantlab.reports.summary import (
    morning_summary,
    parse_strategies,
    parse_weights,
    signal_position,
)
from quantlab.strategies import Signals

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "nightly.ipynb"
W = {"BTC/USDT": 0.6, "ETH/USDT": 0.4}


def _by_hand(close: pd.DataFrame, weights: dict[str, float]) -> tuple[float, float, pd.Series]:
    """pnl_1d, pnl_mtd and current weights of the target bought at the last close before the 1st."""
    close = close[list(weights)]
    last = close.index[-1]
    t0 = close.index[close.index < last.replace(day=1).normalize()][-1]
    units = pd.Series(weights) / close.loc[t0]
    v = (close.loc[t0:] * units).sum(axis=1)
    current = close.iloc[-1] * units / v.iloc[-1]
    return v.iloc[-1] / v.iloc[-2] - 1, v.iloc[-1] - 1.0, current


def test_notebook_metrics_equal_the_library(tmp_path: Path) -> None:
    from quantlab import risk
    from quantlab.reports import run_notebook

    params = {"symbols": "BTC/USDT,ETH/USDT", "weights": "0.6,0.4", "var_limit": 0.08,
              "strategies": "sma_cross:fast=5,slow=20", "oos_days": 60, "reports_dir": "reports"}
    run = run_notebook(NOTEBOOK, params, out=tmp_path / "nightly", cwd=tmp_path)
    assert run.ok, run.error
    metrics = json.loads((tmp_path / "nightly" / "metrics.json").read_text())

    close = ql.load_sample(list(W))["close"]
    pnl_1d, pnl_mtd, current = _by_hand(close, W)
    assert metrics["pnl_1d"] == pytest.approx(pnl_1d, rel=1e-9)
    assert metrics["pnl_mtd"] == pytest.approx(pnl_mtd, rel=1e-9)
    assert metrics["max_drift"] == pytest.approx((current - pd.Series(W)).abs().max(), rel=1e-9)

    rets = risk.returns_from_prices(close)
    wmap = current.to_dict()
    for method in ("historical", "ewma", "parametric"):
        v = risk.value_at_risk(rets, level=0.99, method=method, weights=wmap).stats()
        assert metrics[f"var_{method}"] == pytest.approx(v["var"], rel=1e-9)
        assert metrics[f"es_{method}"] == pytest.approx(v["es"], rel=1e-9)
    hist_var = metrics["var_historical"]
    assert metrics["var_breach"] is bool(max(metrics[f"var_{m}"] for m in
                                             ("historical", "ewma", "parametric")) > 0.08)
    assert hist_var > 0
    bt = risk.rolling_var(rets, method="historical", window=250, level=0.99, weights=wmap).backtest()
    assert metrics["traffic_light"] == bt.traffic_light
    assert metrics["backtest_failures"] == int(bt.stats()["n_failures"])

    btc = ql.load_sample("BTC/USDT")
    res = ql.backtest("sma_cross", btc, params={"fast": 5, "slow": 20},
                      start=btc.index[-1] - pd.Timedelta(days=60), end=btc.index[-1],
                      symbol="BTC/USDT", fees_bps=10.0).stats()
    assert metrics["oos_return_sma_cross_BTC_USDT"] == pytest.approx(res["total_return"], rel=1e-9)
    assert metrics["oos_sharpe_sma_cross_BTC_USDT"] == pytest.approx(res["sharpe"], rel=1e-9)
    assert metrics["signal_sma_cross_BTC_USDT"] in (0, 1)
    assert metrics["stale_symbols"] == 0 and metrics["nights"] == 0


def test_summary_as_of_truncates_and_flags_stale_symbols() -> None:
    bars = ql.load_sample(list(W))
    # ETH ends three days before BTC: stale against an as_of on BTC's last bar
    bars.loc[bars.index > "2025-06-07", pd.IndexSlice[:, "ETH/USDT"]] = np.nan
    ms = morning_summary(bars, W, as_of="2025-06-10")
    assert ms.as_of == pd.Timestamp("2025-06-10", tz="UTC")
    assert ms.freshness.loc["BTC/USDT", "last_bar"] == ms.as_of
    assert not ms.freshness.loc["BTC/USDT", "stale"] and ms.freshness.loc["ETH/USDT", "stale"]
    assert ms.stats()["stale_symbols"] == 1
    assert ms.rebalanced == pd.Timestamp("2025-05-31", tz="UTC")
    assert ms.value.index[0] == ms.rebalanced and ms.value.iloc[0] == 1.0
    assert ms.strategies.empty and not any(k.startswith("signal_") for k in ms.stats().index)


def test_var_breach_follows_the_limit() -> None:
    bars = ql.load_sample(list(W))
    high = morning_summary(bars, W, var_limit=1.0)
    low = morning_summary(bars, W, var_limit=0.001)
    assert not high.stats()["var_breach"] and low.stats()["var_breach"]
    assert high.var["var"].equals(low.var["var"])


def test_holdings_keep_quantities_constant(tmp_path: Path) -> None:
    bars = ql.load_sample(list(W))
    path = tmp_path / "pos.csv"
    path.write_text("symbol,quantity\nBTC/USDT,1\nETH/USDT,10\nSOL/USDT,5\n")
    ms = morning_summary(bars, W, holdings=str(path))
    close = bars["close"].iloc[-1]
    value = close["BTC/USDT"] + 10 * close["ETH/USDT"]
    assert ms.weights.loc["BTC/USDT", "current"] == pytest.approx(close["BTC/USDT"] / value)
    assert ms.mode == "holdings"
    lots = morning_summary(bars, W, holdings=str(NOTEBOOK.parents[1] / "examples" / "holdings.csv"))
    assert lots.weights["current"].sum() == pytest.approx(1.0)


def test_parsers() -> None:
    assert parse_weights(["A", "B"], "0.25, 0.75").to_dict() == {"A": 0.25, "B": 0.75}
    assert parse_weights(["A", "B"], {"B": 1.0}).to_dict() == {"A": 0.0, "B": 1.0}
    with pytest.raises(ParameterError, match="sum to 1"):
        parse_weights(["A", "B"], "0.5,0.6")
    with pytest.raises(ParameterError, match="2 symbols"):
        parse_weights(["A", "B"], [1.0])
    assert parse_strategies("sma_cross:fast=10,slow=50; donchian_breakout:shorts=true;") == [
        ("sma_cross", {"fast": 10, "slow": 50}), ("donchian_breakout", {"shorts": True})]
    assert parse_strategies(None) == []
    with pytest.raises(ParameterError, match="key=value"):
        parse_strategies("sma_cross:fast")


def test_signal_position() -> None:
    idx = pd.date_range("2024-01-01", periods=6, tz="UTC")

    def s(*on: int) -> pd.Series:
        return pd.Series([i in on for i in range(6)], index=idx)

    assert signal_position(Signals(entries=s(1), exits=s(3))) == (0, idx[3])
    assert signal_position(Signals(entries=s(1, 4), exits=s(3))) == (1, idx[4])
    assert signal_position(Signals(entries=s(1, 5), exits=s(5))) == (1, idx[1])   # conflict ignored
    assert signal_position(Signals(entries=s(), exits=s(2))) == (0, None)
    assert signal_position(Signals(entries=s(0), exits=s(), short_entries=s(2),
                                   short_exits=s())) == (-1, idx[2])


def test_multi_asset_strategy_is_refused() -> None:
    with pytest.raises(ParameterError, match="multi-asset"):
        morning_summary(ql.load_sample(list(W)), W, strategies="momentum_rotation")
