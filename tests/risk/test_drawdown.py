"""Drawdown analytics on hand-built curves, the bundled sample and random curves."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantlab.backtesting import metrics
from quantlab.errors import DataError, ParameterError
from quantlab.risk.drawdown import (
    drawdown_analysis,
    drawdown_episodes,
    ulcer_index,
    underwater,
)

# Bars on 1-4 Jan, then 8-11 Jan 2024 (a gap, so bars and days differ).
DATES = pd.DatetimeIndex(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04",
                          "2024-01-08", "2024-01-09", "2024-01-10", "2024-01-11"], tz="UTC")
EQUITY = pd.Series([100.0, 110, 99, 88, 121, 110, 132, 125], index=DATES)
# running peak      100   110  110 110 121  121  132  132
# drawdown            0     0  0.1 0.2   0 1/11    0 7/132


def test_hand_built_curve():
    dd = underwater(EQUITY)
    assert dd.to_numpy() == pytest.approx([0, 0, 0.1, 0.2, 0, 1 / 11, 0, 7 / 132])
    assert dd.to_numpy() == pytest.approx(metrics.drawdown(EQUITY.to_numpy()).ravel())

    res = drawdown_analysis(EQUITY, top=2)
    s = res.stats()
    assert s["max_drawdown"] == pytest.approx(0.2)
    assert s["peak"] == pd.Timestamp("2024-01-02", tz="UTC")
    assert s["trough"] == pd.Timestamp("2024-01-04", tz="UTC")
    assert s["recovery"] == pd.Timestamp("2024-01-08", tz="UTC")
    assert s["decline_bars"] == 2
    assert s["recovery_bars"] == 1 and s["recovery_days"] == 4.0  # 4 Jan -> 8 Jan
    assert s["max_duration_bars"] == 3 and s["max_duration_days"] == 6.0  # 2 Jan -> 8 Jan
    assert s["max_underwater_bars"] == 2 == metrics.max_drawdown_duration(EQUITY.to_numpy())
    # Ulcer = sqrt(mean(dd^2)) = sqrt((0.1^2 + 0.2^2 + (1/11)^2 + (7/132)^2) / 8) = 0.0873761
    ui = math.sqrt((0.01 + 0.04 + (1 / 11) ** 2 + (7 / 132) ** 2) / 8)
    assert ui == pytest.approx(0.0873761, abs=1e-7)
    assert s["ulcer_index"] == pytest.approx(ui) == ulcer_index(EQUITY)
    assert s["episodes"] == 3 and s["current_drawdown"] == pytest.approx(7 / 132)

    ep = res.episodes  # time order
    assert list(ep["depth"]) == pytest.approx([0.2, 1 / 11, 7 / 132])
    assert list(ep["recovered"]) == [True, True, False]
    assert ep.loc[2, "recovery"] is pd.NaT and math.isnan(ep.loc[2, "recovery_bars"])
    assert ep.loc[2, "duration_bars"] == 1 and ep.loc[2, "underwater_bars"] == 1
    assert list(ep["duration_bars"]) == [3, 2, 1]

    top = res.summary()
    assert list(top.index) == [1, 2] and top.index.name == "rank"
    assert list(top["peak"].dt.strftime("%m-%d")) == ["01-02", "01-08"]
    json.dumps(res.to_dict())
    assert "Drawdowns" in res._repr_html_()
    fig = res.plot()
    assert [t.type for t in fig.data] == ["scatter"] and fig.data[0].fill == "tozeroy"
    assert len(fig.data[0].y) == len(res.drawdown)
    np.testing.assert_allclose(fig.data[0].y, -res.drawdown.to_numpy())


def test_from_returns_counts_a_first_bar_loss():
    r = pd.Series([-0.1, 0.2, -0.05], index=pd.date_range("2024-01-02", periods=3, tz="UTC"))
    res = drawdown_analysis(r, from_returns=True)
    assert list(res.equity.round(10)) == [1.0, 0.9, 1.08, 1.026]
    assert res.equity.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    s = res.stats()
    assert s["max_drawdown"] == pytest.approx(0.1)
    assert s["peak"] == pd.Timestamp("2024-01-01", tz="UTC")
    assert s["recovery"] == pd.Timestamp("2024-01-03", tz="UTC")
    ints = drawdown_analysis([-0.1, 0.2], from_returns=True)
    assert list(ints.equity.index) == [-1, 0, 1]


def test_never_underwater():
    res = drawdown_analysis(pd.Series([1.0, 2.0, 3.0]))
    s = res.stats()
    assert s["max_drawdown"] == 0 and s["ulcer_index"] == 0 and s["episodes"] == 0
    assert s["peak"] is None and res.summary().empty


def test_bundled_btc_matches_backtest_metrics(btc):
    close = btc["close"]
    res = drawdown_analysis(close)
    s = res.stats()
    assert s["max_drawdown"] == pytest.approx(metrics.max_drawdown(close.to_numpy()))
    assert s["max_underwater_bars"] == metrics.max_drawdown_duration(close.to_numpy())
    # the 2021-11 peak -> 2022-11 (FTX) trough bear market, recovered in March 2024
    assert s["peak"] == pd.Timestamp("2021-11-08", tz="UTC")
    assert s["trough"] == pd.Timestamp("2022-11-21", tz="UTC")
    assert s["recovery"] == pd.Timestamp("2024-03-04", tz="UTC")
    assert s["max_drawdown"] == pytest.approx(0.766293, abs=1e-6)
    top = drawdown_episodes(close, top=3)
    assert len(top) == 3 and top["depth"].is_monotonic_decreasing


def test_bad_inputs():
    with pytest.raises(DataError, match="positive; row 1"):
        underwater(pd.Series([1.0, -2.0]))
    with pytest.raises(DataError, match="NaN/inf at row 1"):
        underwater(pd.Series([1.0, np.nan, 2.0]))
    with pytest.raises(DataError, match="below -100 %"):
        underwater(pd.Series([0.1, -1.5]), from_returns=True)
    with pytest.raises(ParameterError, match="one series"):
        underwater(pd.DataFrame({"a": [1.0, 2.0], "b": [1.0, 2.0]}))
    with pytest.raises(ParameterError, match="top="):
        drawdown_analysis(EQUITY, top=0)
    with pytest.raises(DataError, match="empty"):
        underwater(pd.Series([], dtype=float))


@settings(max_examples=60, deadline=None)
# returns, not prices: median <= 100 % and not 30+ rises in a row (see quantlab._validate)
@given(st.lists(st.floats(-0.95, 1.0), min_size=1, max_size=80)
       .filter(lambda v: len(v) < 30 or min(v) <= 0))
def test_properties(returns):
    res = drawdown_analysis(pd.Series(returns), from_returns=True)
    dd = res.drawdown
    mdd = res.max_drawdown
    assert (dd >= 0).all() and (dd < 1).all()
    assert 0 <= mdd < 1
    assert res.ulcer_index <= mdd + 1e-12
    assert mdd == pytest.approx(float(metrics.max_drawdown(res.equity.to_numpy())), abs=1e-12)
    ep = res.episodes
    if not ep.empty:
        assert ep["depth"].max() == pytest.approx(mdd, abs=1e-12)
        assert ep["underwater_bars"].max() == metrics.max_drawdown_duration(res.equity.to_numpy())
        assert (ep["decline_bars"] >= 1).all()
        assert (ep["duration_bars"] >= ep["decline_bars"]).all()
        assert (ep.loc[ep["recovered"], "duration_bars"]
                == ep.loc[ep["recovered"], "underwater_bars"] + 1).all()
