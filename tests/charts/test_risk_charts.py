"""Risk figures draw exactly what they are given (no hidden computation)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantlab.charts.risk import (
    component_var_figure,
    correlation_figure,
    stress_figure,
    underwater_figure,
    var_backtest_figure,
    var_histogram_figure,
)

IDX = pd.date_range("2024-01-01", periods=5, freq="D", tz="UTC")


def test_var_histogram_lines_at_minus_var_and_es() -> None:
    r = pd.Series([-0.05, 0.01, 0.02, -0.01, 0.0], index=IDX)
    lines = pd.DataFrame({"var": [0.04], "es": [0.05]}, index=["historical"])
    fig = var_histogram_figure(r, lines, level=0.99, horizon=1)
    xs = sorted(shape.x0 for shape in fig.layout.shapes)
    assert xs == pytest.approx([-0.05, -0.04])
    assert [t.type for t in fig.data] == ["histogram", "scatter"]
    assert list(fig.data[0].x) == list(r)
    assert fig.data[1].name == "historical: VaR 4.00% / ES 5.00%"
    assert "99.0% VaR" in fig.layout.title.text


def test_var_backtest_marks_breaches_and_zone() -> None:
    r = pd.Series([-0.05, 0.01, -0.03, -0.01, 0.0], index=IDX)
    v = pd.Series(0.02, index=IDX)
    fig = var_backtest_figure(r, v, level=0.99, zone="yellow")
    breaches = fig.data[-1]
    assert list(breaches.y) == [-0.05, -0.03]
    assert "2 breaches in 5 days" in fig.layout.title.text and "yellow" in fig.layout.title.text
    np.testing.assert_allclose(fig.data[1].y, -0.02)


def test_component_stress_correlation_underwater() -> None:
    d = pd.DataFrame({"component_var": [0.03, 0.01], "incremental_var": [0.025, 0.005]},
                     index=["BTC/USDT", "ETH/USDT"])
    fig = component_var_figure(d)
    assert list(fig.data[0].y) == [0.03, 0.01] and "4.00%" in fig.layout.title.text
    t = pd.DataFrame({"scenario": ["a", "b"], "portfolio_return": [-0.3, 0.1]})
    fig = stress_figure(t)
    assert list(fig.data[0].x) == [-0.3, 0.1] and list(fig.data[0].y) == ["a", "b"]
    rets = pd.DataFrame({"x": [0.01, 0.02, -0.01], "y": [0.02, 0.04, -0.02]})
    fig = correlation_figure(rets)
    np.testing.assert_allclose(fig.data[0].z, 1.0)
    fig = underwater_figure(pd.Series([0.0, 0.1, 0.05], index=IDX[:3]))
    assert list(fig.data[0].y) == [0.0, -0.1, -0.05]
