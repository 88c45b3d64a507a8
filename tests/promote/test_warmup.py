"""Warm-up gate: exact needed history of finite windows, long memory of EWM/Wilder smoothing."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from quantlab.errors import DataError, ParameterError
from quantlab.promote import WarmupResult, warmup_check
from quantlab.strategies import DonchianBreakout, Param, RsiReversion, Signals, SmaCross, Strategy
from quantlab.strategies.indicators import crossed_above, crossed_below


class EwmTrend(Strategy):
    """Close crossing its EMA, sized by EMA / close; ``warmup()`` is a parameter."""

    span = Param(20, low=2)
    declared = Param(20, low=0)

    def warmup(self) -> int:
        return self.declared

    def signals(self, bars):
        close = bars["close"]
        ema = close.ewm(span=self.span, adjust=False).mean()
        return Signals(entries=crossed_above(close, ema), exits=crossed_below(close, ema),
                       size=0.5 * ema / close)


@pytest.fixture(scope="module")
def ewm_short(btc: pd.DataFrame) -> WarmupResult:
    return warmup_check(EwmTrend(declared=20), btc)


def test_sma_cross_needs_exactly_slow_bars(btc: pd.DataFrame) -> None:
    # entries[t] = fast[t] > slow[t] and fast[t-1] <= slow[t-1]; slow[t-1] is the mean of bars
    # t-50 .. t-1, so a crossover on the window's first bar t0 needs the 50 bars t0-50 .. t0-1
    # before it (a live runner acting on the last bar feeds 51 bars). With 49 the slow SMA at
    # t0-1 is NaN and the crossover is missed.
    res = warmup_check(SmaCross(fast=10, slow=50), btc)
    assert (res.declared, res.needed, res.passed) == (50, 50, True)
    d = res.details
    # the windows starting at the last entry and at the last exit need all 50 bars
    assert set(d.loc[d["needed"] == 50, "array"]) == {"entries", "exits"}
    assert d["ok_at_declared"].all() and d["first_mismatch"].isna().all()
    assert res.stats()["extra"] == 0


def test_finite_windows_need_their_window(btc: pd.DataFrame) -> None:
    res = warmup_check(SmaCross(fast=5, slow=20), btc)
    assert (res.declared, res.needed, res.passed) == (20, 20, True)
    res = warmup_check(DonchianBreakout(entry=20, exit=10), btc)
    assert (res.declared, res.needed, res.passed) == (20, 20, True)


class ShortRsi(RsiReversion):
    """rsi_reversion declaring only its nominal window + 1 (what it declared before)."""

    def warmup(self) -> int:
        return int(self.window) + 1


def test_rsi_reversion_needs_more_than_its_window(btc: pd.DataFrame) -> None:
    # Wilder's RSI seeded on too little history is off by several RSI points, enough to move a
    # crossing of 30/70: on the bundled BTC sample the three evaluated windows need up to 102
    # bars of history, against a nominal warm-up of window + 1 = 15.
    res = warmup_check(ShortRsi(window=14), btc)
    assert res.declared == 15 and not res.passed
    assert res.needed > 14 + 1
    assert res.needed == 102
    bad = res.details[~res.details["ok_at_declared"]]
    assert len(bad) >= 1
    row = bad.iloc[0]
    assert row["full_value"] != row["window_value"]
    assert row["first_mismatch"] >= row["first_bar"]
    # the built-in declares 15 + ceil(ln(1e-9) / ln(13/14)) = 15 + 280 bars and passes
    built_in = warmup_check(RsiReversion(window=14), btc)
    assert (built_in.declared, built_in.needed, built_in.passed) == (295, 102, True)


def test_short_ewm_warmup_fails(ewm_short: WarmupResult) -> None:
    # size = 0.5 * ema / close; the EMA restarted h bars back is off by (19/21)**h times its
    # initial error, which falls under 1e-9 after ~170-200 bars
    res = ewm_short
    assert res.declared == 20 and not res.passed
    assert 150 <= res.needed <= 210
    size = res.details[res.details["array"] == "size"]
    assert size["needed"].max() == res.needed
    assert not size["ok_at_declared"].all()
    assert "FAILED" in res.title()


def test_long_enough_ewm_warmup_passes(btc: pd.DataFrame, ewm_short: WarmupResult) -> None:
    res = warmup_check(EwmTrend(declared=300), btc, ends=1)
    assert res.passed and res.declared == 300
    assert res.needed <= 300
    assert res.details["ok_at_declared"].all()


def test_max_extra_bounds_the_search(btc: pd.DataFrame) -> None:
    res = warmup_check(EwmTrend(declared=20), btc, max_extra=30, ends=1)
    assert res.needed is None and not res.passed
    assert "no agreement within declared + max_extra = 50" in res.title()
    assert res.stats()["needed"] is None
    json.dumps(res.to_dict())


def test_windows_and_last_k(btc: pd.DataFrame) -> None:
    res = warmup_check(SmaCross(fast=5, slow=20), btc, last_k=3, ends=4)
    d = res.details
    assert d["end"].nunique() == 4
    assert d["end"].iloc[0] == btc.index[-1]
    assert (d["bars_evaluated"] == 3).all()
    assert res.stats()["windows"] == 4


def test_errors(btc: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="bars has 55 rows, needs at least 56"):
        warmup_check(SmaCross(fast=10, slow=50), btc.iloc[:55])
    with pytest.raises(ParameterError, match="last_k"):
        warmup_check("sma_cross", btc, last_k=0)
    with pytest.raises(ParameterError, match="tol"):
        warmup_check("sma_cross", btc, tol=-1.0)
    with pytest.raises(ParameterError, match="strategy must be"):
        warmup_check(42, btc)


def test_result_protocol(ewm_short: WarmupResult) -> None:
    res = ewm_short
    stats = res.stats()
    assert stats["declared"] == 20 and stats["needed"] == res.needed
    assert stats["extra"] == res.needed - 20 and stats["passed"] is False
    assert stats["failing"] >= 1
    assert res.summary().shape == res.details.shape
    data = json.loads(json.dumps(res.to_dict()))
    assert data["type"] == "WarmupResult" and data["needed"] == res.needed
    fig = res.plot()
    assert np.nanmax(np.asarray(fig.data[0].y, dtype=float)) == res.needed
    assert repr(res).startswith(f"Warm-up check of EwmTrend: needed {res.needed} > declared 20")
