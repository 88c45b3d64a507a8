"""VaR decomposition: Euler components, marginal by finite differences, incremental VaR."""

from __future__ import annotations

import json

import numpy as np
import pytest

from quantlab.errors import ParameterError
from quantlab.risk.decomposition import var_decomposition
from quantlab.risk.var import value_at_risk

W = {"BTC/USDT": 0.4, "ETH/USDT": 0.3, "SOL/USDT": 0.2, "BNB/USDT": 0.1}
COLUMNS = ["weight", "marginal_var", "component_var", "pct_contribution", "incremental_var",
           "marginal_es", "component_es"]


@pytest.fixture(scope="module")
def assets(panel):
    return panel["close"].pct_change(fill_method=None).dropna()


@pytest.mark.parametrize("method", ["parametric", "ewma", "historical"])
def test_components_sum_to_var_and_es(assets, method):
    d = var_decomposition(assets, W, level=0.99, method=method)
    assert list(d.table.columns) == COLUMNS
    assert list(d.table.index) == list(assets.columns)
    assert d.table["component_var"].sum() == pytest.approx(d.var, rel=1e-12)
    assert d.table["component_es"].sum() == pytest.approx(d.es, rel=1e-12)
    assert d.table["pct_contribution"].sum() == pytest.approx(1.0, rel=1e-12)
    ref = value_at_risk(assets, weights=W, method=method)
    assert d.var == pytest.approx(ref.var, rel=1e-12)
    assert d.es == pytest.approx(ref.es, rel=1e-12)
    json.dumps(d.to_dict())
    assert "component_var" in d._repr_html_()


@pytest.mark.parametrize("horizon", [1, 10])
def test_parametric_marginal_is_gradient(assets, horizon):
    d = var_decomposition(assets, W, method="parametric", horizon=horizon)
    w = d.table["weight"].to_numpy()
    mu = assets.mean().to_numpy()
    cov = assets.cov().to_numpy()

    def var(weights):
        from scipy import stats
        s = np.sqrt(weights @ cov @ weights)
        return -(weights @ mu) * horizon - stats.norm.ppf(0.01) * s * np.sqrt(horizon)

    eps = 1e-6
    for i in range(len(w)):
        up, dn = w.copy(), w.copy()
        up[i] += eps
        dn[i] -= eps
        fd = (var(up) - var(dn)) / (2 * eps)
        assert d.table["marginal_var"].iloc[i] == pytest.approx(fd, rel=1e-6)


def test_incremental_var_removes_position(assets):
    d = var_decomposition(assets, W, method="historical")
    w = np.array(list(W.values()))
    r = assets.to_numpy()
    without = w.copy()
    without[1] = 0.0
    from quantlab.risk.historical import historical_var_es

    expected = d.var - historical_var_es(r @ without, 0.99)[0]
    assert d.table["incremental_var"].iloc[1] == pytest.approx(expected, rel=1e-12)


def test_historical_component_es_exact_tail_mean(assets):
    d = var_decomposition(assets, W, method="historical", level=0.95)
    port = assets.to_numpy() @ np.array(list(W.values()))
    k = int(np.ceil(len(port) * 0.05 - 1e-9))
    tail = np.argsort(port)[:k]
    expected = -np.array(list(W.values())) * assets.to_numpy()[tail].mean(axis=0)
    np.testing.assert_allclose(d.table["component_es"], expected, rtol=1e-10)
    assert (d.table["component_var"] > 0).all()  # long-only crypto: every asset adds risk


def test_plot_and_errors(assets):
    import plotly.graph_objects as go

    d = var_decomposition(assets, W)
    assert isinstance(d.plot(), go.Figure)
    with pytest.raises(ParameterError, match=r"^method='fhs' is not one of: parametric, ewma, historical$"):
        var_decomposition(assets, W, method="fhs")
    with pytest.raises(ParameterError, match=r"^weights sum to 0.5; they must sum to 1$"):
        var_decomposition(assets, [0.2, 0.1, 0.1, 0.1])
    with pytest.raises(ParameterError, match=r"^horizon=5 is not supported for method='historical'"):
        var_decomposition(assets, W, method="historical", horizon=5)
