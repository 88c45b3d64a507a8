"""Walk-forward analysis (backtesting/walk_forward.py): fold plan, IS choice, OOS equality, stitching."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

import quantlab as ql
from quantlab.backtesting import WalkForwardResult, walk_forward
from quantlab.backtesting.walk_forward import plan_folds
from quantlab.errors import ParameterError

GRID = {"fast": [5, 10, 20], "slow": [30, 50, 100]}
OPTS = {"fees_bps": 10, "slippage_bps": 5}


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return ql.load_sample("BTC/USDT")


@pytest.fixture(scope="module")
def wf(bars: pd.DataFrame) -> WalkForwardResult:
    return walk_forward("sma_cross", bars, GRID, train=365, test=180, **OPTS)


@pytest.fixture(scope="module")
def wf_anchored(bars: pd.DataFrame) -> WalkForwardResult:
    return walk_forward("sma_cross", bars, GRID, train="365D", test="270D", anchored=True,
                        metric="total_return", **OPTS)


# ---------------------------------------------------------------------------- fold plan
def test_rolling_folds_are_contiguous_and_never_overlap(bars: pd.DataFrame) -> None:
    folds = plan_folds(bars.index, 365, 180)
    n = len(bars)
    assert len(folds) == (n - 365) // 180
    assert folds[0].train_lo == 0 and folds[0].test_lo == 365
    for f in folds:
        assert f.train_bars == 365 and f.test_bars == 180
        assert f.train_hi == f.test_lo - 1                      # train ends just before test
        assert f.train_end < f.test_start
    for a, b in itertools.pairwise(folds):
        assert b.test_lo == a.test_hi + 1                       # contiguous test windows
        assert b.train_lo == a.train_lo + 180                   # rolling by step = test
    assert folds[-1].test_hi <= n - 1 < folds[-1].test_hi + 180  # only complete windows


def test_anchored_folds_train_from_the_first_bar(bars: pd.DataFrame) -> None:
    folds = plan_folds(bars.index, 365, 180, anchored=True)
    assert [f.train_lo for f in folds] == [0] * len(folds)
    assert [f.train_bars for f in folds] == [365 + 180 * k for k in range(len(folds))]
    rolling = plan_folds(bars.index, 365, 180)
    assert [(f.test_lo, f.test_hi) for f in folds] == [(f.test_lo, f.test_hi) for f in rolling]


def test_step_longer_than_test_leaves_gaps_without_overlap(bars: pd.DataFrame) -> None:
    folds = plan_folds(bars.index, 300, 100, step=150)
    for a, b in itertools.pairwise(folds):
        assert b.test_lo - a.test_lo == 150 and b.test_lo > a.test_hi


def test_durations_and_bars_give_the_same_folds_on_daily_data(bars: pd.DataFrame) -> None:
    idx = bars.index
    assert len(idx) == (idx[-1] - idx[0]).days + 1             # gap-free daily sample
    by_bars = plan_folds(idx, 365, 90, step=120)
    by_time = plan_folds(idx, "365D", "90D", step=pd.Timedelta(days=120))
    assert by_bars == by_time
    assert plan_folds(idx, "365", "90") == plan_folds(idx, 365, 90)   # digit strings are bars
    mixed = plan_folds(idx, "365D", 90, anchored=True)
    assert mixed == plan_folds(idx, 365, 90, anchored=True)


# ---------------------------------------------------------------------------- in-sample choice
def test_in_sample_choice_equals_sweep_best(bars: pd.DataFrame, wf: WalkForwardResult) -> None:
    for fold in (wf.folds[0], wf.folds[3], wf.folds[-1]):
        w = fold.window
        sw = ql.sweep("sma_cross", bars, start=w.train_start, end=w.train_end, progress=False,
                      **GRID, **OPTS)
        best = sw.best("sharpe")
        assert fold.params == {"fast": int(best["fast"]), "slow": int(best["slow"])}
        assert fold.is_metric == pytest.approx(float(best["sharpe"]), rel=1e-12)


def test_lower_is_better_metric_is_minimized(bars: pd.DataFrame) -> None:
    res = walk_forward("sma_cross", bars, GRID, train=730, test=365, metric="max_drawdown", **OPTS)
    for fold in res.folds:
        table = fold.in_sample.table
        assert fold.is_metric == table["max_drawdown"].min()
        assert table.loc[(fold.params["fast"], fold.params["slow"]), "max_drawdown"] == fold.is_metric
    assert res.to_dict()["lower_is_better"] is True


def test_anchored_in_sample_uses_all_history(bars: pd.DataFrame,
                                              wf_anchored: WalkForwardResult) -> None:
    assert {f.window.train_start for f in wf_anchored.folds} == {bars.index[0]}
    last = wf_anchored.folds[-1]
    sw = ql.sweep("sma_cross", bars, end=last.window.train_end, progress=False, **GRID, **OPTS)
    best = sw.best("total_return")
    assert last.params == {"fast": int(best["fast"]), "slow": int(best["slow"])}
    assert last.is_metric == pytest.approx(float(best["total_return"]), rel=1e-12)


# ---------------------------------------------------------------------------- out-of-sample
@pytest.mark.parametrize("name", ["wf", "wf_anchored"])
def test_oos_stats_equal_a_plain_backtest(bars: pd.DataFrame, name: str,
                                          request: pytest.FixtureRequest) -> None:
    res: WalkForwardResult = request.getfixturevalue(name)
    for fold in res.folds:
        w = fold.window
        plain = ql.backtest("sma_cross", bars, params=fold.params, start=w.test_start,
                            end=w.test_end, **OPTS).stats()
        got = fold.oos.stats()
        for key in ("total_return", "sharpe", "max_drawdown"):
            assert got[key] == pytest.approx(plain[key], rel=1e-9, nan_ok=True), (w.fold, key)
        assert got["trades"] == plain["trades"]
        assert fold.oos.equity.index[0] == w.test_start and fold.oos.equity.index[-1] == w.test_end


def test_stitched_equity_is_the_product_of_fold_returns(wf: WalkForwardResult) -> None:
    cash = wf.options.init_cash
    fold_ret = [float(f.oos.stats()["total_return"]) for f in wf.folds]
    assert wf.equity.iloc[-1] == pytest.approx(cash * np.prod([1 + r for r in fold_ret]), rel=1e-12)
    assert wf.stats()["oos_total_return"] == pytest.approx(np.prod([1 + r for r in fold_ret]) - 1,
                                                            rel=1e-12)
    # index: the test windows, in order, without repeats
    expected = pd.DatetimeIndex(np.concatenate([f.oos.equity.index for f in wf.folds]))
    assert wf.equity.index.equals(expected) and wf.equity.index.is_unique
    # each fold's segment is its own curve scaled by the growth before it
    growth = 1.0
    for f in wf.folds:
        seg = wf.equity.loc[f.window.test_start:f.window.test_end]
        np.testing.assert_allclose(seg.to_numpy(), f.oos.equity.to_numpy() * growth, rtol=1e-12)
        growth *= float(f.oos.equity.iloc[-1]) / cash
    # stitched per-bar returns are the folds' returns
    np.testing.assert_allclose(wf.returns.to_numpy(),
                               np.concatenate([f.oos.returns.to_numpy() for f in wf.folds]),
                               rtol=1e-12, atol=1e-15)
    assert wf.stats()["oos_trades"] == sum(len(f.oos.trades) for f in wf.folds)


def test_each_fold_starts_flat_even_when_the_strategy_was_long(bars: pd.DataFrame,
                                                               wf: WalkForwardResult) -> None:
    carried = 0
    for prev, fold in itertools.pairwise(wf.folds):
        assert float(fold.oos.positions.iloc[0].abs().sum()) == 0.0
        assert fold.oos.equity.iloc[0] == wf.options.init_cash
        # the same parameters traded without a boundary would hold a position here
        through = ql.backtest("sma_cross", bars, params=fold.params,
                              end=fold.window.test_start, **OPTS)
        if float(through.positions.iloc[-1].abs().sum()) > 0:
            carried += 1
        if float(prev.oos.positions.iloc[-1].abs().sum()) > 0:
            carried += 1
    assert carried > 0       # the sample really exercises the flat start


def test_instance_supplies_parameters_outside_the_grid(bars: pd.DataFrame) -> None:
    strat = ql.get_strategy("sma_cross")(slow=60)
    res = walk_forward(strat, bars, {"fast": [5, 20]}, train=500, test=500)
    assert all(set(f.params) == {"fast"} for f in res.folds)
    assert all(f.oos.strategy.slow == 60 for f in res.folds)
    assert res.stats()["param_dispersion"] == pytest.approx(
        np.std([f.params["fast"] for f in res.folds]) / 15)


def test_stability_and_efficiency_definitions(wf: WalkForwardResult) -> None:
    s = wf.stats()
    chosen = wf.chosen
    modal = chosen.value_counts().iloc[0]
    assert s["param_stability"] == pytest.approx(modal / len(chosen))
    disp = np.mean([chosen["fast"].std(ddof=0) / 15, chosen["slow"].std(ddof=0) / 70])
    assert s["param_dispersion"] == pytest.approx(disp)
    is_m = np.array([f.is_metric for f in wf.folds])
    oos_m = np.array([f.oos_metric for f in wf.folds])
    assert s["is_metric_mean"] == pytest.approx(is_m.mean())
    assert s["oos_metric_mean"] == pytest.approx(oos_m.mean())
    assert s["efficiency_ratio"] == pytest.approx(oos_m.mean() / is_m.mean())
    assert s["folds"] == len(wf.folds) == 10


def test_a_single_choice_is_perfectly_stable(bars: pd.DataFrame) -> None:
    res = walk_forward("sma_cross", bars, {"fast": 10, "slow": [50]}, train=365, test=365)
    s = res.stats()
    assert s["param_stability"] == 1.0 and s["param_dispersion"] == 0.0


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize(("kwargs", "match"), [
    ({"train": 0}, r"^train=0 must be"),
    ({"test": -5}, r"^test=-5 must be"),
    ({"train": True}, r"^train=True must be a whole number"),
    ({"step": False}, r"^step=False must be a whole number"),
    ({"train": "bogus"}, r"^train='bogus' is not a bar count or a duration"),
    ({"test": "-30D"}, r"^test=.* must be a positive duration"),
    ({"train": 2.5}, r"^train=2.5 must be a whole number"),
    ({"step": 90}, r"^step=90 is shorter than test=180"),
    ({"train": 3000}, r"^train=3000 leaves no bars to test"),
    ({"train": 2000, "test": 400}, r"^too little data for one fold"),
    ({"grid": {"fats": [5]}}, r"^grid: sma_cross has no parameter 'fats'"),
    ({"grid": {}}, r"^grid must be a non-empty dict"),
    ({"grid": [5, 10]}, r"^grid must be a non-empty dict"),
    ({"metric": "profit"}, r"^metric='profit' must be one of"),
    ({"anchored": "yes"}, r"^anchored='yes' must be True or False"),
    ({"fees": 10}, r"^unknown backtest option 'fees'"),
    ({"fast": 10}, r"^fast is a parameter of sma_cross"),
    ({"fees_bps": -1}, r"^fees_bps=-1"),
    ({"grid": {"fast": [50], "slow": [20]}}, r"no valid parameter combination"),
])
def test_bad_inputs_raise_one_line_parameter_errors(bars: pd.DataFrame, kwargs: dict,
                                                     match: str) -> None:
    args = {"grid": GRID, "train": 365, "test": 180, **kwargs}
    grid = args.pop("grid")
    with pytest.raises(ParameterError, match=match) as info:
        walk_forward("sma_cross", bars, grid, **args)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------------------- protocol
def test_stats_summary_dict_and_plot(wf: WalkForwardResult) -> None:
    s = wf.stats()
    assert isinstance(s["oos_sharpe"], float) and isinstance(s["oos_trades"], int)
    assert isinstance(s["oos_start"], pd.Timestamp) and s["oos_start"] == wf.folds[0].window.test_start
    assert 0 <= s["oos_max_drawdown"] < 1 and 0 <= s["positive_folds"] <= 1
    table = wf.summary()
    assert list(table.columns) == ["train_start", "train_end", "test_start", "test_end", "fast",
                                   "slow", "is_metric", "oos_metric", "oos_total_return",
                                   "oos_max_drawdown", "oos_trades"]
    assert len(table) == len(wf.folds)
    assert table["oos_total_return"].tolist() == [f.oos.stats()["total_return"] for f in wf.folds]
    shown = wf.summary(formatted=True)
    assert shown.loc[0, "oos_total_return"].endswith("%")
    assert not shown.loc[0, "is_metric"].endswith("%")          # sharpe is not a fraction
    assert shown.loc[0, "test_start"] == str(wf.folds[0].window.test_start.date())
    d = json.loads(json.dumps(wf.to_dict()))
    assert d["type"] == "WalkForwardResult" and d["metric"] == "sharpe"
    assert len(d["folds"]) == len(wf.folds) and d["folds"][0]["params"] == wf.folds[0].params
    assert d["stats"]["oos_total_return"] == pytest.approx(s["oos_total_return"])
    fig = wf.plot()
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"OOS equity", "buy & hold", "fold boundaries", "in-sample sharpe",
                            "out-of-sample sharpe"}
    np.testing.assert_allclose(np.asarray(by_name["OOS equity"].y, float), wf.equity.to_numpy())
    np.testing.assert_allclose(np.asarray(by_name["in-sample sharpe"].y, float), table["is_metric"])
    np.testing.assert_allclose(np.asarray(by_name["out-of-sample sharpe"].y, float),
                               table["oos_metric"])
    xs = [x for x in by_name["fold boundaries"].x if x is not None]
    assert sorted(set(pd.to_datetime(xs))) == wf.boundaries
    assert repr(wf).startswith(wf.title()) and "<table" in wf._repr_html_()


def test_percent_metric_is_formatted_as_percent(wf_anchored: WalkForwardResult) -> None:
    shown = wf_anchored.summary(formatted=True)
    assert shown["is_metric"].str.endswith("%").all()
    assert "anchored" in wf_anchored.title()


def test_top_level_exports() -> None:
    assert ql.walk_forward is walk_forward
    assert ql.WalkForwardResult is WalkForwardResult
