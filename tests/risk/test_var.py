"""value_at_risk: API, result objects, invariants, properties, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantlab.errors import DataError, ParameterError, QuantlabError
from quantlab.risk.var import METHODS, VaRComparison, VaRResult, value_at_risk

FAST = {"monte_carlo": {"n_paths": 4000}, "fhs": {"n_paths": 4000}}


@pytest.fixture(scope="module")
def assets(panel):
    return panel["close"].pct_change(fill_method=None).dropna().iloc[-500:]


@pytest.fixture(scope="module")
def btc_returns(btc):
    return btc["close"].pct_change().dropna()


def test_methods_tuple():
    assert METHODS == ("parametric", "student_t", "cornish_fisher", "historical",
                       "age_weighted", "ewma", "monte_carlo", "fhs")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("horizon", [1, 5])
def test_es_at_least_var_and_result_fields(assets, method, horizon):
    w = {"BTC/USDT": 0.4, "ETH/USDT": 0.3, "SOL/USDT": 0.2, "BNB/USDT": 0.1}
    res = value_at_risk(assets, level=0.99, method=method, horizon=horizon, weights=w, seed=1,
                        **FAST.get(method, {}))
    assert isinstance(res, VaRResult)
    assert res.es >= res.var > 0
    assert res.method == method and res.level == 0.99 and res.horizon == horizon
    assert res.n_obs == len(assets)
    assert res.start == assets.index[0] and res.end == assets.index[-1]
    assert res.scaling == "none" if horizon == 1 else res.scaling in ("sqrt_time", "aggregation")
    np.testing.assert_allclose(res.returns.to_numpy(), assets.to_numpy() @ [0.4, 0.3, 0.2, 0.1])
    json.dumps(res.to_dict())
    assert res.stats()["var"] == res.var and res.stats()["es"] == res.es
    assert res.summary().loc["method", method] == method
    assert "VaR" in res._repr_html_()


def test_all_methods_container(btc_returns):
    out = value_at_risk(btc_returns, method="all", seed=3, n_paths=3000)
    assert isinstance(out, VaRComparison) and list(out) == list(METHODS)
    table = out.summary()
    assert list(table.columns) == ["var", "es", "scaling"] and list(table.index) == list(METHODS)
    assert (table["es"] >= table["var"]).all()
    assert out["monte_carlo"].params["n_paths"] == 3000
    json.dumps(out.to_dict())
    assert "historical" in out._repr_html_()


def test_plot_returns_figure(btc_returns):
    import plotly.graph_objects as go

    fig = value_at_risk(btc_returns).plot()
    assert isinstance(fig, go.Figure)


def test_array_and_single_column_inputs(btc_returns):
    a = value_at_risk(btc_returns.to_numpy(), method="parametric")
    b = value_at_risk(btc_returns.to_frame(), method="parametric")
    c = value_at_risk(btc_returns, method="parametric")
    assert a.var == b.var == c.var
    assert a.start is None and c.start == btc_returns.index[0]


def test_weights_by_sequence_equal_mapping(assets):
    seq = value_at_risk(assets, weights=[0.1, 0.2, 0.3, 0.4], method="parametric")
    mapping = value_at_risk(assets, method="parametric", weights={
        "BNB/USDT": 0.4, "SOL/USDT": 0.3, "ETH/USDT": 0.2, "BTC/USDT": 0.1})
    assert seq.var == mapping.var


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_raise_one_line_errors(assets, btc_returns):
    cases = [
        (dict(returns=btc_returns, level=1.2), ParameterError,
         r"^level=1.2 must be in \(0, 1\), e.g. 0.99$"),
        (dict(returns=btc_returns, level=0), ParameterError, r"^level=0 must be in \(0, 1\)"),
        (dict(returns=btc_returns, method="garch"), ParameterError,
         r"^method='garch' is not one of: parametric, student_t, cornish_fisher, historical, "
         r"age_weighted, ewma, monte_carlo, fhs, all$"),
        (dict(returns=btc_returns, horizon=0), ParameterError,
         r"^horizon=0 must be a positive whole number of bars$"),
        (dict(returns=assets), ParameterError,
         r"^weights are required for returns with 4 columns \(assets\)$"),
        (dict(returns=assets, weights=[0.5, 0.5]), ParameterError,
         r"^weights has 2 values for 4 assets$"),
        (dict(returns=assets, weights=[0.5, 0.5, 0.5, 0.5]), ParameterError,
         r"^weights sum to 2; they must sum to 1$"),
        (dict(returns=assets, weights={"BTC/USDT": 1.0}), ParameterError,
         r"^weights do not match the assets \(missing ETH/USDT, SOL/USDT, BNB/USDT\)$"),
        (dict(returns=btc_returns, method="historical", lam=0.9), ParameterError,
         r"^unknown option 'lam' for method='historical' \(options: none\)$"),
        (dict(returns=btc_returns, method="age_weighted", lam=1.5), ParameterError,
         r"^lam=1.5 must be in \(0, 1\], e.g. 0.94$"),
        (dict(returns=btc_returns, method="monte_carlo", dist="cauchy"), ParameterError,
         r"^dist='cauchy' must be 'normal' or 't'$"),
        (dict(returns=btc_returns, method="monte_carlo", n_paths=0), ParameterError,
         r"^n_paths=0 must be a whole number >= 1$"),
        (dict(returns=btc_returns, method="fhs", filter="kalman"), ParameterError,
         r"^filter='kalman' must be one of: garch, ewma$"),
        (dict(returns=btc_returns, method="monte_carlo", seed="x"), ParameterError,
         r"^seed='x' must be an int, a numpy Generator or None$"),
        (dict(returns=btc_returns.iloc[:5], method="student_t"), DataError,
         r"^returns has 5 observations; at least 10 are needed$"),
        (dict(returns=btc_returns.iloc[:3], method="historical", horizon=5), DataError,
         r"^returns has 3 observations; at least 5 are needed$"),
    ]
    for kwargs, cls, pattern in cases:
        with pytest.raises(cls, match=pattern) as info:
            value_at_risk(**kwargs)
        assert isinstance(info.value, QuantlabError) and "\n" not in str(info.value)


def test_nan_returns_name_the_row(btc_returns):
    bad = btc_returns.copy()
    bad.iloc[3] = np.nan
    with pytest.raises(DataError, match=r"^returns has NaN/inf at row 3 \(2020-01-05"):
        value_at_risk(bad)


# ----------------------------------------------------------------------------- properties

samples = st.lists(st.floats(-0.5, 0.5, allow_nan=False, allow_subnormal=False),
                   min_size=20, max_size=120).filter(lambda v: np.std(v) > 1e-4)


@settings(max_examples=40, deadline=None)
@given(x=samples, lo=st.floats(0.5, 0.98), gap=st.floats(0.001, 0.019))
def test_var_monotone_in_level(x, lo, gap):
    hi = lo + gap
    for method in ("historical", "parametric", "age_weighted", "ewma", "student_t"):
        a = value_at_risk(x, level=lo, method=method)
        b = value_at_risk(x, level=hi, method=method)
        assert b.var >= a.var - 1e-12, method
        assert b.es >= a.es - 1e-12, method


@settings(max_examples=40, deadline=None)
@given(x=samples, c=st.floats(0.01, 2.0), level=st.floats(0.8, 0.995))  # c*x stays >= -100 %
def test_positive_homogeneity(x, c, level):
    x = np.asarray(x)
    for method in ("historical", "parametric", "cornish_fisher", "age_weighted"):
        a = value_at_risk(x, level=level, method=method)
        b = value_at_risk(c * x, level=level, method=method)
        assert b.var == pytest.approx(c * a.var, rel=1e-9, abs=1e-12), method
        assert b.es == pytest.approx(c * a.es, rel=1e-9, abs=1e-12), method


@settings(max_examples=40, deadline=None)
@given(x=samples, c=st.floats(-0.1, 0.1), level=st.floats(0.8, 0.995))
def test_translation(x, c, level):
    x = np.asarray(x)
    for method in ("historical", "parametric", "cornish_fisher", "student_t"):
        a = value_at_risk(x, level=level, method=method)
        b = value_at_risk(x + c, level=level, method=method)
        assert b.var == pytest.approx(a.var - c, abs=1e-9), method
        assert b.es == pytest.approx(a.es - c, abs=1e-9), method


@settings(max_examples=25, deadline=None)
@given(x=samples.filter(lambda v: len(v) >= 30), level=st.floats(0.8, 0.995), seed=st.integers(0, 2**32 - 1))
def test_es_ge_var_every_method(x, level, seed):
    out = value_at_risk(pd.Series(x), level=level, method="all", seed=seed, n_paths=500)
    for res in out.values():
        assert res.es >= res.var - 1e-12, res.method
