"""Lookahead gate: planted leaks are caught at the right bar, every built-in passes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from quantlab.errors import DataError, ParameterError, StrategyError, UnknownStrategyError
from quantlab.promote import LookaheadResult, lookahead_check
from quantlab.strategies import (
    DonchianBreakout,
    MomentumRotation,
    Param,
    RsiReversion,
    Signals,
    SmaCross,
    Strategy,
    TargetWeights,
    with_vol_target,
)

SMALL = {"n_changes": 10, "n_random": 10}


def _signals(entries: pd.Series) -> Signals:
    return Signals(entries=entries, exits=pd.Series(False, index=entries.index))


class PeekNext(Strategy):
    """Buys when tomorrow's close is higher (reads bar t+1)."""

    def signals(self, bars):
        close = bars["close"]
        return _signals(close.shift(-1) > close)


class Centered(Strategy):
    """Close above a centred moving average (the window reaches w//2 bars ahead)."""

    window = Param(21, low=3)

    def warmup(self) -> int:
        return self.window

    def signals(self, bars):
        close = bars["close"]
        return _signals(close > close.rolling(self.window, center=True).mean())


class FullMean(Strategy):
    """Close above its whole-sample mean (normalised by a figure of the future)."""

    def signals(self, bars):
        close = bars["close"]
        return _signals(close / close.mean() > 1.0)


class PeekWeights(Strategy):
    """Equal weight in each asset whose next close is higher (a weights leak, per symbol)."""

    kind = "weights"
    multi_asset = True

    def signals(self, bars):
        close = bars["close"]
        return TargetWeights((close.shift(-1) > close).astype("float64") / close.shape[1])


class FailsOnShortData(Strategy):
    def signals(self, bars):
        if len(bars) < 500:
            raise ValueError("need 500 bars")
        return _signals(bars["close"] > 0)


# -- planted leaks ---------------------------------------------------------------------------
def test_shift_minus_one_fails_at_the_first_checked_rise(btc: pd.DataFrame) -> None:
    res = lookahead_check(PeekNext(), btc, **SMALL)
    assert isinstance(res, LookaheadResult) and not res.passed
    full = PeekNext().run(btc).entries
    # truncated at t the next close is unknown: entries[t] is False; so a violation is exactly
    # a checked bar where the full run says True
    expected = [t for t in res.checked_times if full[t]]
    assert list(res.offending["time"]) == expected
    assert res.first == {"time": expected[0], "array": "entries", "column": None,
                         "full_value": True, "truncated_value": False}
    assert (res.offending["time"].diff().dropna() >= pd.Timedelta(0)).all()  # sorted by time


def test_centered_window_first_violation_is_the_first_signal(btc: pd.DataFrame) -> None:
    res = lookahead_check(Centered(), btc, **SMALL)
    assert not res.passed
    full = Centered().run(btc).entries
    # the first change bar (always checked) is the first True, unknowable on a prefix
    assert res.first["time"] == full.idxmax()
    assert res.first["array"] == "entries"
    assert res.first["full_value"] is True and res.first["truncated_value"] is False
    assert "FAILED" in res.title() and str(full.idxmax().date()) in res.title()


def test_full_sample_mean_fails_where_the_prefix_mean_disagrees(btc: pd.DataFrame) -> None:
    res = lookahead_check(FullMean(), btc, **SMALL)
    assert not res.passed
    close = btc["close"]
    full = close / close.mean() > 1.0
    causal = close / close.expanding().mean() > 1.0  # what a prefix run sees at its last bar
    wrong = [t for t in res.checked_times if full[t] != causal[t]]
    assert wrong and list(res.offending["time"]) == wrong
    assert res.first["time"] == wrong[0]


def test_exhaustive_on_a_short_history_finds_the_true_first_bar(btc: pd.DataFrame) -> None:
    bars = btc.iloc[:120]
    res = lookahead_check(FullMean(), bars, n_changes=0, n_random=10_000)
    assert res.checked == len(bars) - 1  # every bar but the last
    close = bars["close"]
    wrong = (close / close.mean() > 1.0) != (close / close.expanding().mean() > 1.0)
    assert res.first["time"] == wrong[:-1].idxmax()
    assert len(res.offending) == int(wrong[:-1].sum())


def test_weights_leak_names_the_symbol(panel: pd.DataFrame) -> None:
    res = lookahead_check(PeekWeights(), panel, **SMALL)
    assert not res.passed
    w = PeekWeights().run(panel).weights
    first = res.first
    assert first["array"] == "weights" and first["column"] in panel["close"].columns
    assert first["full_value"] == w.loc[first["time"], first["column"]] > 0
    assert first["truncated_value"] == 0.0


# -- built-ins pass --------------------------------------------------------------------------
@pytest.mark.parametrize(("strategy", "data"), [
    (SmaCross(fast=10, slow=50), "btc"),
    (DonchianBreakout(entry=20, exit=10, shorts=True), "btc"),
    (RsiReversion(window=14), "btc"),
    (MomentumRotation(lookback=30, top_k=2, rebalance=5), "panel"),
    ("sma_cross+vol_target", "btc"),
    (with_vol_target(SmaCross)(fast=5, slow=20), "panel"),
], ids=["sma_cross", "donchian", "rsi_reversion", "momentum_rotation", "sma_vol_target",
        "sma_vol_target_panel"])
def test_builtins_pass(strategy, data: str, request: pytest.FixtureRequest) -> None:
    bars = request.getfixturevalue(data)
    res = lookahead_check(strategy, bars, **SMALL)
    assert res.passed, res.offending.head()
    assert res.first is None and res.offending.empty
    assert list(res.offending.columns) == ["time", "array", "column", "full_value",
                                           "truncated_value"]
    assert res.checked == 20 and res.change_bars == 10
    assert res.stats()["violations"] == 0
    assert json.loads(json.dumps(res.to_dict()))["first"] is None


# -- sampling --------------------------------------------------------------------------------
def test_sampling_is_seeded_and_respects_warmup_and_start(btc: pd.DataFrame) -> None:
    strat = SmaCross(fast=10, slow=50)
    a = lookahead_check(strat, btc, n_changes=0, n_random=15, seed=3)
    b = lookahead_check(strat, btc, n_changes=0, n_random=15, seed=3)
    c = lookahead_check(strat, btc, n_changes=0, n_random=15, seed=4)
    assert a.checked_times.equals(b.checked_times) and not a.checked_times.equals(c.checked_times)
    assert a.checked_times.min() >= btc.index[strat.warmup()]
    assert a.checked_times.max() < btc.index[-1]
    d = lookahead_check(strat, btc, n_changes=5, n_random=5, start="2024-01-01")
    assert d.checked == 10 and d.checked_times.min() >= pd.Timestamp("2024-01-01", tz="UTC")


def test_change_bars_include_the_first_change(btc: pd.DataFrame) -> None:
    strat = SmaCross(fast=10, slow=50)
    res = lookahead_check(strat, btc, n_changes=3, n_random=0)
    sig = strat.run(btc)
    changed = (sig.entries != sig.entries.shift()) | (sig.exits != sig.exits.shift())
    first_change = changed.iloc[1:].idxmax()
    assert res.checked == 3 and res.checked_times[0] == first_change


# -- errors ----------------------------------------------------------------------------------
def test_errors_are_one_line(btc: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"bars has 40 rows, needs at least 52"):
        lookahead_check(SmaCross(fast=10, slow=50), btc.iloc[:40])
    with pytest.raises(ParameterError, match="both 0"):
        lookahead_check("sma_cross", btc, n_changes=0, n_random=0)
    with pytest.raises(ParameterError, match="n_random"):
        lookahead_check("sma_cross", btc, n_random=-1)
    with pytest.raises(ParameterError, match="bars must be a DataFrame"):
        lookahead_check("sma_cross", btc["close"])
    with pytest.raises(ParameterError, match="start"):
        lookahead_check("sma_cross", btc, start="2099-01-01")
    with pytest.raises(UnknownStrategyError):
        lookahead_check("no_such_strategy", btc)
    with pytest.raises(StrategyError) as info:
        lookahead_check(FailsOnShortData(), btc.iloc[:520], n_changes=0, n_random=20)
    msg = str(info.value)
    assert "\n" not in msg and "need 500 bars" in msg and "lookahead_check, on the first" in msg


def test_result_protocol(btc: pd.DataFrame) -> None:
    res = lookahead_check(PeekNext(), btc.iloc[:300], **SMALL)
    stats = res.stats()
    assert stats["passed"] is False and stats["violations"] == len(res.offending) > 0
    assert stats["first_time"] == res.first["time"]
    table = res.summary()
    assert list(table.index) == ["entries", "exits"]
    assert table.loc["exits", "violations"] == 0
    data = json.loads(json.dumps(res.to_dict()))
    assert data["type"] == "LookaheadResult" and len(data["offending"]) == len(res.offending)
    fig = res.plot()
    assert np.asarray(fig.data[0].y).sum() == len(res.offending)
    assert repr(res).startswith("Lookahead check of PeekNext: FAILED")
