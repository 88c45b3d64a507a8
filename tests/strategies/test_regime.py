"""The built-in ``regime`` strategy: causality, warm-up, determinism, regime recovery, schedule.

Most tests use ``train=120, every=20`` on the bundled BTC daily bars (a fit of 120 returns takes
about 0.1 s) so the file runs in seconds; the gates are the real ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import quantlab as ql
from quantlab.errors import ParameterError, UsageError
from quantlab.promote.config import GateConfig
from quantlab.promote.gates import run_gates
from quantlab.promote.lookahead import lookahead_check
from quantlab.promote.warmup import warmup_check
from quantlab.strategies import MarkovRegime, get_strategy, strategy_info
from quantlab.strategies.regime_model import (
    bar_duration_ms,
    calm_probability,
    fit_regimes,
    retrain_mask,
)

DAY_MS = 86_400_000
SMALL = {"train": 120, "every": 20}


def ohlcv(close: np.ndarray, index: pd.DatetimeIndex) -> pd.DataFrame:
    """Valid OHLCV bars around a close path (open = previous close)."""
    close = np.asarray(close, dtype=float)
    open_ = np.concatenate([[close[0]], close[:-1]])
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) * 1.001,
                         "low": np.minimum(open_, close) * 0.999, "close": close,
                         "volume": np.full(len(close), 10.0)}, index=index)


def two_regimes(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Prices whose daily returns switch between a calm (1 %) and a volatile (4 %) regime,
    a Markov chain staying in its state with probability 0.98; returns (bars, calm flag)."""
    rng = np.random.default_rng(seed)
    calm = np.empty(n, dtype=bool)
    calm[0] = True
    for i in range(1, n):
        calm[i] = calm[i - 1] if rng.random() < 0.98 else not calm[i - 1]
    ret = np.where(calm, 0.01, 0.04) * rng.standard_normal(n)
    close = 100.0 * np.cumprod(1.0 + ret)
    index = pd.date_range("2019-01-01", periods=n, freq="D", tz="UTC", name="time")
    return ohlcv(close, index), calm


@pytest.fixture(scope="module")
def btc_small(btc: pd.DataFrame) -> pd.DataFrame:
    return btc.iloc[:600]


def test_registered_with_documented_warmup() -> None:
    assert get_strategy("regime") is MarkovRegime
    info = strategy_info(MarkovRegime)
    assert info["warmup"] == "train + every (395 bars at defaults)"
    assert MarkovRegime(train=200, every=7).warmup() == 207
    assert [p["name"] for p in info["parameters"]] == ["train", "every", "threshold"]


@pytest.mark.parametrize(("params", "message"), [
    ({"threshold": 0.0}, "threshold (0) must be strictly between 0 and 1"),
    ({"threshold": 1.0}, "threshold (1) must be strictly between 0 and 1"),
    ({"threshold": 1.5}, "parameter regime.threshold=1.5 is above its maximum 1"),
    ({"train": 20}, "parameter regime.train=20 is below its minimum 50"),
    ({"every": 0}, "parameter regime.every=0 is below its minimum 1"),
    ({"train": 100.5}, "parameter regime.train=100.5 is not a valid int"),
    ({"window": 5}, "regime has no parameter 'window'"),
])
def test_parameter_validation(params: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message.replace("(", r"\(").replace(")", r"\)")) \
            as err:
        MarkovRegime(**params)
    assert isinstance(err.value, UsageError)


def test_schedule_is_anchored_to_epoch_not_to_the_frame(btc: pd.DataFrame) -> None:
    strat = MarkovRegime(every=30)
    full = strat.retrain_times(btc)
    days = full.as_unit("ms").asi8 // DAY_MS
    assert (days % 30 == 0).all()
    assert set(np.diff(days)) == {30}
    # first retraining bar of the bundled history: 2020-01-09 is day 18270 = 609 * 30
    assert full[0] == pd.Timestamp("2020-01-09", tz="UTC") and days[0] == 18270
    for offset in (1, 7, 29, 31, 500):
        part = strat.retrain_times(btc.iloc[offset:])
        assert part.equals(full[full >= btc.index[offset]])


def test_schedule_on_hourly_bars_and_gaps() -> None:
    index = pd.date_range("2024-03-01 05:00", periods=100, freq="h", tz="UTC")
    times = np.asarray(index.as_unit("ms").asi8)
    assert bar_duration_ms(times) == 3_600_000
    hits = index[retrain_mask(times, 24)]
    assert list(hits) == [pd.Timestamp(f"2024-03-0{d} 00:00", tz="UTC") for d in (2, 3, 4, 5)]
    # a missing retraining bar: the first bar of its block retrains instead
    gappy = times[(index != pd.Timestamp("2024-03-03 00:00", tz="UTC"))
                  & (index != pd.Timestamp("2024-03-03 01:00", tz="UTC"))]
    got = pd.DatetimeIndex(pd.to_datetime(gappy[retrain_mask(gappy, 24, 3_600_000)], unit="ms",
                                          utc=True))
    assert list(got.hour) == [0, 2, 0, 0] and list(got.day) == [2, 3, 4, 5]
    assert bar_duration_ms(times[:1]) is None and not retrain_mask(times[:1], 24).any()


def test_decision_uses_the_latest_fit_at_or_before_it(btc_small: pd.DataFrame) -> None:
    """Changing the bars after a retraining bar ``r`` changes nothing up to ``r``; the value at
    ``r`` itself uses the model fitted through ``r``'s close, so changing ``r`` changes it."""
    strat = MarkovRegime(**SMALL)
    base = strat.calm_probability(btc_small)
    r = btc_small.index.get_loc(strat.retrain_times(btc_small)[-4])
    moved = btc_small.copy()
    moved.iloc[r + 1:, moved.columns.get_loc("close")] *= np.linspace(1.0, 1.5, len(moved) - r - 1)
    after = strat.calm_probability(moved)
    np.testing.assert_array_equal(after.to_numpy()[: r + 1], base.to_numpy()[: r + 1])
    assert not np.array_equal(after.to_numpy()[r + 1:], base.to_numpy()[r + 1:])
    bumped = btc_small.copy()
    bumped.iloc[r, bumped.columns.get_loc("close")] *= 1.05
    np.testing.assert_array_equal(strat.calm_probability(bumped).to_numpy()[:r],
                                  base.to_numpy()[:r])
    assert strat.calm_probability(bumped).iloc[r] != base.iloc[r]
    # nothing before the first retraining bar with `train` returns behind it
    first = int(np.flatnonzero(base.notna().to_numpy())[0])
    assert btc_small.index[first] in strat.retrain_times(btc_small)
    assert 121 <= first <= 121 + 19


def test_prefix_runs_equal_the_full_history(btc_small: pd.DataFrame) -> None:
    strat = MarkovRegime(**SMALL)
    full = strat.run(btc_small)
    prob = strat.calm_probability(btc_small)
    n = len(btc_small)
    for t in (0, 1, 120, 139, 140, 141, 160, 161, 300, 447, n - 2):
        part = strat.run(btc_small.iloc[: t + 1])
        pd.testing.assert_series_equal(part.entries, full.entries.iloc[: t + 1])
        pd.testing.assert_series_equal(part.exits, full.exits.iloc[: t + 1])
        np.testing.assert_array_equal(strat.calm_probability(btc_small.iloc[: t + 1]).to_numpy(),
                                      prob.to_numpy()[: t + 1])


def test_lookahead_gate_passes(btc_small: pd.DataFrame) -> None:
    res = lookahead_check(MarkovRegime(**SMALL), btc_small, n_changes=30, n_random=30)
    assert res.passed, res.title()
    assert res.checked >= 50 and res.change_bars == 30


def test_warmup_gate_measures_train_plus_schedule(btc_small: pd.DataFrame) -> None:
    strat = MarkovRegime(**SMALL)
    res = warmup_check(strat, btc_small)
    assert res.passed, res.title()
    assert res.declared == 140
    # the model needs its `train` returns, plus up to `every` bars since the retraining bar
    assert 120 < res.needed <= 140


def test_windows_agree_with_full_history_after_warmup(btc_small: pd.DataFrame) -> None:
    """What the live runner sees: any window of >= warmup bars before t gives the backtest's
    probability at t, wherever the window starts relative to the retraining grid."""
    strat = MarkovRegime(**SMALL)
    full = strat.calm_probability(btc_small).to_numpy()
    warm = strat.warmup()
    for start in (3, 17, 20, 41, 333):
        part = strat.calm_probability(btc_small.iloc[start:]).to_numpy()
        np.testing.assert_array_equal(part[warm:], full[start + warm:])


def test_two_runs_identical_after_clearing_the_cache(btc_small: pd.DataFrame) -> None:
    strat = MarkovRegime(**SMALL, threshold=0.6)
    bars = btc_small.iloc[:400]
    MarkovRegime.clear_cache()
    first = strat.calm_probability(bars)
    fits = MarkovRegime._fits.misses
    MarkovRegime.clear_cache()
    second = strat.calm_probability(bars)
    assert first.to_numpy().tobytes() == second.to_numpy().tobytes()
    assert MarkovRegime._fits.misses == fits == len(strat.retrain_times(bars.iloc[120:]))
    sig_a, sig_b = strat.run(btc_small), strat.run(btc_small)
    assert sig_a.entries.equals(sig_b.entries) and sig_a.exits.equals(sig_b.exits)
    assert int(sig_a.entries.sum()) > 5


def test_rolling_windows_refit_once_per_retraining_bar(btc_small: pd.DataFrame) -> None:
    """A live runner calls run() every bar on a window: fits are reused until a new
    retraining bar closes."""
    strat = MarkovRegime(**SMALL)
    MarkovRegime.clear_cache()
    win = 2 * strat.warmup()
    ends = range(400, 440)
    for end in ends:
        strat.run(btc_small.iloc[end - win: end + 1])
    first_window = btc_small.iloc[400 - win: 401]
    fitted = set(strat.retrain_times(first_window.iloc[120:]))
    new = set(strat.retrain_times(btc_small.iloc[401:440]))
    assert len(new) == 2
    assert MarkovRegime._fits.misses == len(fitted | new)
    assert MarkovRegime._fits.hits > 0


def test_calm_regime_recovered_on_synthetic_switching_returns() -> None:
    bars, calm = two_regimes(1600, seed=7)
    ret = bars["close"].pct_change().to_numpy()[1:] * 100.0
    fit = fit_regimes(ret[:800])
    assert fit is not None
    calm_var, wild_var = fit.sigma2[fit.calm], fit.sigma2[1 - fit.calm]
    assert calm_var == pytest.approx(1.0, rel=0.25)     # 1 % daily -> 1 %^2
    assert wild_var == pytest.approx(16.0, rel=0.25)    # 4 % daily -> 16 %^2
    strat = MarkovRegime(train=500, every=50)
    prob = strat.calm_probability(bars)
    have = prob.notna().to_numpy()
    assert have.sum() > 1000
    accuracy = float(((prob.to_numpy() > 0.5) == calm)[have].mean())
    assert accuracy > 0.9
    sig = strat.run(bars)
    held = (sig.entries.cumsum() > sig.exits.cumsum())  # long between an entry and its exit
    assert float((held.to_numpy() == calm)[have].mean()) > 0.85


def test_filtered_probability_ignores_the_future() -> None:
    bars, _ = two_regimes(400, seed=3)
    ret = bars["close"].pct_change().to_numpy()[1:] * 100.0
    fit = fit_regimes(ret[:300])
    assert fit is not None
    whole = calm_probability(fit, ret)
    np.testing.assert_array_equal(calm_probability(fit, ret[:250]), whole[:250])
    assert ((whole >= 0) & (whole <= 1)).all()


def test_failed_fit_falls_back_to_flat() -> None:
    """Constant prices cannot be fitted: no model, no probability, no position, until a
    retraining bar whose training window has real returns."""
    bars, _ = two_regimes(700, seed=11)
    close = bars["close"].to_numpy().copy()
    close[:260] = 100.0
    flat = ohlcv(close, bars.index)
    assert fit_regimes(np.zeros(100)) is None
    assert fit_regimes(np.r_[np.ones(50), np.nan, np.ones(50)]) is None
    strat = MarkovRegime(train=100, every=25)
    prob = strat.calm_probability(flat)
    times = strat.retrain_times(flat)
    pos = [flat.index.get_loc(t) for t in times]
    # retraining bars whose 100 returns lie in the constant stretch (through bar 259): no model
    dead = [p for p in pos if 100 <= p <= 259]
    assert dead and prob.iloc[dead[0]: dead[-1] + 25].isna().all()
    sig = strat.run(flat)
    assert not sig.entries.iloc[: dead[-1] + 25].any()
    alive = [p for p in pos if p - 100 >= 259]
    assert prob.iloc[alive[0]:].notna().all()


def test_panel_columns_equal_single_asset_runs(panel: pd.DataFrame) -> None:
    strat = MarkovRegime(**SMALL)
    bars = panel.iloc[:560].loc[:, (slice(None), ["BTC/USDT", "SOL/USDT"])]
    sig = strat.run(bars)
    assert list(sig.entries.columns) == list(bars["close"].columns)
    for sym in ("BTC/USDT", "SOL/USDT"):
        one = bars.xs(sym, axis=1, level="symbol")
        alone = strat.run(one)
        np.testing.assert_array_equal(sig.entries[sym].to_numpy(), alone.entries.to_numpy())
        np.testing.assert_array_equal(sig.exits[sym].to_numpy(), alone.exits.to_numpy())
    # SOL is listed late: nothing before it has `train` returns of history
    sol_first = int(np.flatnonzero(bars[("close", "SOL/USDT")].notna().to_numpy())[0])
    assert not sig.entries["SOL/USDT"].iloc[: sol_first + 121].any()


def test_real_promote_gates_pass_lookahead_warmup_and_reproducibility(btc: pd.DataFrame) -> None:
    cfg = GateConfig(wf_train="180D", wf_test="120D", lookahead_changes=10,
                     lookahead_random=10, pbo_splits=4)
    report, extra = run_gates(MarkovRegime(**SMALL), btc.iloc[:900], config=cfg,
                              symbols=["BTC/USDT"])
    verdicts = report.stats()
    assert verdicts["lookahead"] == "pass" and verdicts["warmup"] == "pass"
    assert verdicts["reproducibility"] == "pass"
    assert extra["lookahead"].checked >= 10
    assert report.warmup_bars is not None and 120 < report.warmup_bars <= 140
    res = ql.backtest("regime", btc.iloc[:900], params=SMALL)
    assert int(res.stats()["trades"]) == int(extra["backtest"].stats()["trades"]) > 5
