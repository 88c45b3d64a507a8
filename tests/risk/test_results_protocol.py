"""Every public risk result class answers the Result protocol on real (bundled-sample) data."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

import quantlab as ql
from quantlab import risk
from quantlab._result import Result

W = {"BTC/USDT": 0.6, "ETH/USDT": 0.4}


@pytest.fixture(scope="module")
def closes() -> pd.DataFrame:
    return ql.load_sample(list(W))["close"]


@pytest.fixture(scope="module")
def rets(closes) -> pd.DataFrame:
    return risk.returns_from_prices(closes)


def _rolling(rets):
    return risk.rolling_var(rets, method="ewma", window=250, weights=W)


BUILDERS: dict[str, Callable[[pd.DataFrame, pd.DataFrame], Result]] = {
    "VaRResult": lambda c, r: risk.value_at_risk(r, method="historical", weights=W),
    "VaRComparison": lambda c, r: risk.value_at_risk(r, method="all", weights=W, seed=1,
                                                     n_paths=2000),
    "RollingVaRResult": lambda c, r: _rolling(r),
    "VaRDecomposition": lambda c, r: risk.var_decomposition(r, W),
    "VaRBacktestResult": lambda c, r: _rolling(r).backtest(),
    "ESBacktestResult": lambda c, r: risk.es_backtest(
        _rolling(r).realized, _rolling(r).var, _rolling(r).es, 0.99, n_sims=500, seed=1),
    "StressResult": lambda c, r: risk.stress_test(W, c, value=100_000, missing="skip"),
    "StressedVaRResult": lambda c, r: risk.stressed_var(r, W, vol_multiplier=2, correlation=1,
                                                        value=100_000),
    "ReverseStressResult": lambda c, r: risk.reverse_beta(W, 0.2, r, value=100_000),
    "StressReport": lambda c, r: risk.stress_report(W, c, value=100_000),
    "DrawdownResult": lambda c, r: risk.drawdown_analysis(c["BTC/USDT"]),
}


def test_every_public_result_class_is_covered():
    public = {name for name in risk.__all__
              if isinstance(getattr(risk, name), type) and issubclass(getattr(risk, name), Result)}
    assert public == set(BUILDERS)


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def result(request, closes, rets) -> Result:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Cornish-Fisher outside its domain on crypto data
        res = BUILDERS[request.param](closes, rets)
    assert type(res).__name__ == request.param
    return res


def _is_raw(value) -> bool:
    if value is None or isinstance(value, bool | np.bool_ | pd.Timestamp):
        return True
    return isinstance(value, int | float | np.number)


def test_stats_are_raw_numbers(result):
    s = result.stats()
    assert isinstance(s, pd.Series) and len(s)
    bad = {k: v for k, v in s.items() if not _is_raw(v)}
    assert not bad, bad
    assert not any(isinstance(v, str) and "%" in v for v in s)


def test_summary_raw_and_formatted(result):
    raw = result.summary()
    assert isinstance(raw, pd.DataFrame)
    fmt = result.summary(formatted=True)
    assert isinstance(fmt, pd.DataFrame) and fmt.shape == raw.shape
    assert all(isinstance(v, str) for v in fmt.to_numpy().ravel())


def test_to_dict_is_json(result):
    d = result.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert d["type"] == type(result).__name__ and d["title"] == result.title()
    assert "NaN" not in text


def test_plot_is_a_figure_with_traces(result):
    fig = result.plot()
    assert isinstance(fig, go.Figure) and len(fig.data) >= 1


def test_reprs_come_from_the_summary(result):
    text = repr(result)
    assert text.startswith(result.title())
    assert len(text.splitlines()) <= 45
    html = result._repr_html_()
    assert isinstance(html, str) and "<table" in html
