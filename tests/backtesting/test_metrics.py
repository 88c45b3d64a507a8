"""Performance metrics by hand and as properties (backtesting/metrics.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantlab.backtesting import metrics


def test_metrics_by_hand() -> None:
    eq = np.array([100.0, 110.0, 99.0, 120.0])
    r = metrics.returns_from_equity(eq, 100.0)[:, 0]
    np.testing.assert_allclose(r, [0.0, 0.1, -0.1, 120 / 99 - 1])
    assert metrics.max_drawdown(eq) == pytest.approx(0.1)          # 110 -> 99
    assert metrics.max_drawdown_duration(eq) == 1.0                # one bar under water
    assert metrics.max_drawdown_duration(np.array([3.0, 2, 1, 2, 2.5, 4, 3])) == 4.0
    mean, sd = r.mean(), r.std(ddof=1)
    assert metrics.sharpe(r, 365) == pytest.approx(mean / sd * np.sqrt(365))
    down = np.sqrt(np.mean(np.minimum(r, 0) ** 2))
    assert metrics.sortino(r, 365) == pytest.approx(mean / down * np.sqrt(365))
    # 4 daily bars with 365 bars a year: CAGR = 1.2 ** (365 / 4) - 1
    assert metrics.cagr(eq, 100.0, 365) == pytest.approx(1.2 ** (365 / 4) - 1)
    ts = metrics.trade_stats(np.array([10.0, -5, 3, -1, 7]), np.array([1, 1, 1, 1, 0], bool),
                             np.array([0, 0, 0, 0, 1]), 2)
    assert ts["trades"].tolist() == [4, 1]
    assert ts["win_rate"][0] == 0.5 and np.isnan(ts["win_rate"][1])
    assert ts["profit_factor"][0] == pytest.approx(13 / 6)

@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.5, 2.0), min_size=2, max_size=60))
def test_drawdown_properties(factors: list[float]) -> None:
    eq = 100 * np.cumprod(factors)
    dd = metrics.drawdown(eq)[:, 0]
    assert (dd >= 0).all() and (dd < 1).all()
    peak = np.maximum.accumulate(eq)
    np.testing.assert_allclose(eq, peak * (1 - dd), rtol=1e-12)
    assert metrics.max_drawdown_duration(eq) <= len(eq) - 1
