"""rolling_var: one-step-ahead, causal, equal to value_at_risk on each window."""

from __future__ import annotations

import numpy as np
import pytest

from quantlab.errors import DataError, ParameterError
from quantlab.risk.rolling import rolling_var
from quantlab.risk.var import METHODS, value_at_risk

FAST = {"monte_carlo": {"n_paths": 2000}, "fhs": {"n_paths": 2000}}
WINDOW = 60


@pytest.fixture(scope="module")
def assets(panel):
    return panel["close"].pct_change(fill_method=None).dropna().iloc[-100:]


W = [0.4, 0.3, 0.2, 0.1]


@pytest.mark.parametrize("method", METHODS)
def test_rolling_row_equals_value_at_risk_on_window(assets, method):
    kw = FAST.get(method, {})
    out = rolling_var(assets, method=method, window=WINDOW, weights=W, seed=9, **kw).forecasts
    extra = ["cf_valid"] if method == "cornish_fisher" else []
    assert list(out.columns) == ["var", "es", "realized", *extra]
    assert (out.index == assets.index[WINDOW:]).all()
    assert (out["es"] >= out["var"]).all()
    assert out.attrs["method"] == method and out.attrs["window"] == WINDOW
    np.testing.assert_allclose(out["realized"], assets.iloc[WINDOW:].to_numpy() @ W)
    for i in (0, 17, len(out) - 1):
        ref = value_at_risk(assets.iloc[i:i + WINDOW], method=method, weights=W, seed=9, **kw)
        assert out["var"].iloc[i] == pytest.approx(ref.var, rel=1e-10)
        assert out["es"].iloc[i] == pytest.approx(ref.es, rel=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_forecast_unchanged_when_future_data_altered(assets, method):
    kw = FAST.get(method, {})
    refit = 5 if method in ("fhs", "student_t", "monte_carlo") else 1
    extra = {"dist": "t"} if method == "monte_carlo" else {}
    base = rolling_var(assets, method=method, window=WINDOW, weights=W, seed=2,
                       refit_every=refit, **kw, **extra).forecasts
    t = 20  # forecast position: data row WINDOW + t
    altered = assets.copy()
    altered.iloc[WINDOW + t:] = np.random.default_rng(0).normal(0, 0.2, altered.iloc[WINDOW + t:].shape)
    alt = rolling_var(altered, method=method, window=WINDOW, weights=W, seed=2,
                      refit_every=refit, **kw, **extra).forecasts
    np.testing.assert_array_equal(base[["var", "es"]].iloc[: t + 1], alt[["var", "es"]].iloc[: t + 1])
    assert not np.allclose(base["var"].iloc[t + 1:], alt["var"].iloc[t + 1:])


@pytest.mark.parametrize("method", ["historical", "parametric", "monte_carlo", "fhs"])
def test_multiday_horizon(assets, method):
    kw = FAST.get(method, {})
    out = rolling_var(assets, method=method, window=WINDOW, weights=W, seed=1, horizon=3, **kw).forecasts
    i = 10
    ref = value_at_risk(assets.iloc[i:i + WINDOW], method=method, weights=W, seed=1, horizon=3, **kw)
    assert out["var"].iloc[i] == pytest.approx(ref.var, rel=1e-10)
    assert np.isnan(out["realized"].iloc[-1]) and np.isnan(out["realized"].iloc[-2])
    r = assets.iloc[WINDOW:WINDOW + 3].to_numpy() @ W
    assert out["realized"].iloc[0] == pytest.approx(np.prod(1 + r) - 1)


def test_refit_every_keeps_params_between_refits(assets):
    every = rolling_var(assets, method="student_t", window=WINDOW, weights=W, refit_every=1).forecasts
    fixed = rolling_var(assets, method="student_t", window=WINDOW, weights=W, refit_every=100).forecasts
    assert every["var"].iloc[0] == fixed["var"].iloc[0]
    # with one fit, later days use the first day's df: same as value_at_risk with that df
    from quantlab.risk.parametric import fit_t_df

    df0 = fit_t_df(assets.iloc[:WINDOW].to_numpy() @ W)
    i = 30
    ref = value_at_risk(assets.iloc[i:i + WINDOW], method="student_t", weights=W, df=df0)
    assert fixed["var"].iloc[i] == pytest.approx(ref.var, rel=1e-12)


def test_rolling_errors(assets):
    with pytest.raises(DataError, match=r"^window=250 needs at least 251 returns for one forecast; the data has 100$"):
        rolling_var(assets, weights=W)
    with pytest.raises(ParameterError, match=r"^window=5 is too small for method='student_t' \(at least 10\)$"):
        rolling_var(assets, method="student_t", window=5, weights=W)
    with pytest.raises(ParameterError, match=r"^refit_every=0 must be a whole number >= 1$"):
        rolling_var(assets, window=WINDOW, weights=W, refit_every=0)
    with pytest.raises(ParameterError, match=r"^method='all' is not one of"):
        rolling_var(assets, method="all", window=WINDOW, weights=W)
    with pytest.raises(ParameterError, match=r"^window=2.5 must be a whole number >= 1$"):
        rolling_var(assets, window=2.5, weights=W)
