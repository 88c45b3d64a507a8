"""risk.var_results: VaRResult, VaRComparison, RollingVaRResult, VaRDecomposition specifics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import quantlab as ql
from quantlab.errors import ParameterError
from quantlab.risk import (
    METHODS,
    RollingVaRResult,
    VaRComparison,
    VaRResult,
    parametric_var,
    portfolio_returns,
    returns_from_prices,
    rolling_var,
    value_at_risk,
    var_backtest_from_forecasts,
    var_decomposition,
)

W = {"BTC/USDT": 0.6, "ETH/USDT": 0.4}


@pytest.fixture(scope="module")
def rets() -> pd.DataFrame:
    return returns_from_prices(ql.load_sample(list(W))["close"])


def test_one_method_one_type_and_a_list_gives_a_comparison(rets):
    one = value_at_risk(rets, method="historical", weights=W)
    assert type(one) is VaRResult
    some = value_at_risk(rets, method=["historical", "ewma"], weights=W)
    assert type(some) is VaRComparison and list(some) == ["historical", "ewma"]
    assert some["historical"] == one                       # same figures as the single call
    with pytest.raises(ParameterError, match="not one of"):
        value_at_risk(rets, method=["historical", "magic"], weights=W)
    with pytest.raises(ParameterError, match="names no method"):
        value_at_risk(rets, method=[], weights=W)


def test_comparison_is_a_read_only_mapping(rets):
    comp = value_at_risk(rets, method="all", weights=W, seed=1, n_paths=2000)
    assert len(comp) == len(METHODS) and "fhs" in comp and comp.get("nope") is None
    assert dict(comp.items())["ewma"].method == "ewma"
    assert not isinstance(comp, dict)
    with pytest.raises(TypeError):
        comp["x"] = comp["ewma"]  # type: ignore[index]
    s = comp.stats()
    assert s["var_historical"] == comp["historical"].var and s["n_obs"] == len(rets)
    d = comp.to_dict()
    assert d["weights"] == W and set(d["methods"]) == set(METHODS)
    assert comp.title().startswith("99.00% VaR/ES, 1-bar horizon, 8 methods; BTC/USDT 0.6")


def test_histogram_figures_draw_the_results(rets):
    comp = value_at_risk(rets, method=["parametric", "historical"], weights=W)
    fig = comp.plot()
    assert [t.type for t in fig.data] == ["histogram", "scatter", "scatter"]
    assert len(fig.data[0].x) == len(rets)
    assert fig.data[1].name.startswith("parametric: VaR")
    xs = sorted(s.x0 for s in fig.layout.shapes)
    expected = sorted(-v for r in comp.values() for v in (r.var, r.es))
    assert xs == pytest.approx(expected)
    one = comp["historical"].plot()
    assert [t.type for t in one.data] == ["histogram", "scatter"]
    assert sorted(s.x0 for s in one.layout.shapes) == pytest.approx(
        [-comp["historical"].es, -comp["historical"].var])
    with pytest.raises(ParameterError, match="no return series"):
        parametric_var(0.0, 0.02).plot()


def test_var_result_stats_and_summary(rets):
    res = value_at_risk(rets, method="student_t", weights=W, level=0.975)
    s = res.stats()
    assert s["var"] == res.var and s["level"] == 0.975 and s["df"] == res.params["df"]
    assert "dist" not in s.index  # strings stay out of stats
    table = res.summary(formatted=True)
    assert table.loc["var", "student_t"] == f"{res.var:.2%}"
    assert table.loc["scaling", "student_t"] == "none"
    assert res.to_dict()["params"]["df_fitted"] is True
    assert list(res.weights.index) == list(W)


def test_rolling_result_backtest_matches_the_portfolio_returns(rets):
    fc = rolling_var(rets, method="ewma", window=250, weights=W)
    assert isinstance(fc, RollingVaRResult)
    assert list(fc.forecasts.columns) == ["var", "es", "realized"]
    assert fc.forecasts.attrs["method"] == "ewma" and fc.var is not None
    realized = portfolio_returns(rets, W).reindex(fc.forecasts.index)
    np.testing.assert_allclose(fc.realized, realized)
    bt = fc.backtest(test_level=0.9)
    ref = var_backtest_from_forecasts(realized, fc.forecasts["var"], level=0.99, test_level=0.9)
    assert bt.tests == ref.tests and bt.n_failures == fc.stats()["breaches"]
    fig = fc.plot()
    assert [t.name for t in fig.data] == ["return", "−VaR forecast", "−ES forecast",
                                          f"breaches ({bt.n_failures})"]
    np.testing.assert_allclose(fig.data[1].y, -fc.forecasts["var"].to_numpy())


def test_rolling_multiday_backtest_leaves_out_unobserved_days(rets):
    fc = rolling_var(rets, method="parametric", window=250, weights=W, horizon=5)
    assert fc.forecasts["realized"].isna().sum() == 4
    assert fc.backtest().n_obs == len(fc.forecasts) - 4


def test_decomposition_figure_and_stats(rets):
    dec = var_decomposition(rets, W)
    fig = dec.plot()
    assert [t.type for t in fig.data] == ["bar", "scatter"]
    assert list(fig.data[0].x) == list(W)
    np.testing.assert_allclose(fig.data[0].y, dec.table["component_var"])
    assert dec.stats()["largest_pct_contribution"] == dec.table["pct_contribution"].max()
    assert dec.to_dict()["assets"][0]["asset"] == "BTC/USDT"
